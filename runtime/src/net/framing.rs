//! Length-prefixed frames on a libp2p stream.
//!
//! libp2p-stream hands out raw byte streams; this module delimits frames on
//! them. A frame on the wire is a 4-byte big-endian length `n` followed by
//! `n` bytes. A length above the configured maximum is a violation: the
//! reader reports it before allocating anything, and the caller closes the
//! stream.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes reserved for a frame body before any of it has arrived.
const FIRST_RESERVATION: usize = 16 * 1024;

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Why reading a frame stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    /// The peer announced a frame larger than we accept; nothing was
    /// allocated for it and the stream must be closed.
    #[error("frame of {announced} bytes announced, more than the maximum of {max} bytes")]
    Oversized {
        /// The length prefix as received.
        announced: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a length prefix or a frame body.
    #[error("stream ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes received of the current part.
        got: usize,
        /// Bytes the current part needed.
        expected: usize,
    },
    /// The underlying stream failed.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame of at most `max_len` bytes into `buf` (cleared first, so
/// one buffer serves a whole stream). Returns `Ok(false)` when the stream
/// ended cleanly between two frames. Memory grows with the bytes received,
/// never with the length announced.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: usize,
    buf: &mut Vec<u8>,
) -> Result<bool, FrameReadError> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    let got = read_up_to(reader, &mut prefix).await?;
    if got == 0 {
        return Ok(false);
    }
    if got < LENGTH_PREFIX_LEN {
        return Err(FrameReadError::Truncated {
            got,
            expected: LENGTH_PREFIX_LEN,
        });
    }
    let announced = u32::from_be_bytes(prefix);
    let len = usize::try_from(announced)
        .ok()
        .filter(|len| *len <= max_len)
        .ok_or(FrameReadError::Oversized {
            announced: u64::from(announced),
            max: max_len,
        })?;
    // Grow with what actually arrives (a peer announcing 1 MiB and sending
    // 10 bytes costs 10 bytes plus the first reservation, not 1 MiB).
    buf.clear();
    buf.reserve(len.min(FIRST_RESERVATION));
    let got = (&mut *reader)
        .take(u64::from(announced))
        .read_to_end(buf)
        .await?;
    if got < len {
        return Err(FrameReadError::Truncated { got, expected: len });
    }
    Ok(true)
}

/// Fills `buf` unless the stream ends first; returns how many bytes arrived.
async fn read_up_to<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        let n = reader.read(rest).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Appends one frame (prefix and body) to `out`, so several frames can go
/// out in one write. Fails for frames whose length does not fit the prefix.
pub fn encode_frame(frame: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    let len = u32::try_from(frame.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "frame longer than 4 GiB cannot be length-prefixed",
        )
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(frame);
    Ok(())
}

/// Writes already encoded frames and flushes.
pub async fn write_frames<W: AsyncWrite + Unpin>(
    writer: &mut W,
    encoded: &[u8],
) -> std::io::Result<()> {
    writer.write_all(encoded).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn encoded(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            encode_frame(f, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn frames_round_trip_in_order_and_the_end_between_frames_is_clean() {
        let wire = encoded(&[b"first", b"", b"third frame"]);
        let mut r = Cursor::new(wire);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while block_on(read_frame(&mut r, 64, &mut buf)).unwrap() {
            got.push(buf.clone());
        }
        assert_eq!(
            got,
            vec![b"first".to_vec(), Vec::new(), b"third frame".to_vec()]
        );
    }

    #[test]
    fn an_oversized_length_prefix_is_refused_before_any_allocation() {
        // 4 GiB - 1 announced, 1 byte of body: the reader must refuse on the
        // prefix alone and leave the buffer untouched.
        let mut wire = u32::MAX.to_be_bytes().to_vec();
        wire.push(7);
        let mut r = Cursor::new(wire);
        let mut buf = Vec::new();
        let err = block_on(read_frame(&mut r, 1 << 20, &mut buf)).unwrap_err();
        assert!(matches!(
            err,
            FrameReadError::Oversized { announced, max } if announced == u64::from(u32::MAX) && max == 1 << 20
        ));
        assert_eq!(
            buf.capacity(),
            0,
            "nothing may be allocated for an oversized frame"
        );
        assert_eq!(r.position(), 4, "nothing past the prefix may be read");
    }

    #[test]
    fn an_announced_length_allocates_only_as_the_bytes_arrive() {
        // 1 MiB announced (allowed), 10 bytes sent, then the stream ends.
        let mut wire = (1u32 << 20).to_be_bytes().to_vec();
        wire.extend_from_slice(&[1u8; 10]);
        let mut buf = Vec::new();
        let err = block_on(read_frame(&mut Cursor::new(wire), 1 << 20, &mut buf)).unwrap_err();
        assert!(
            matches!(err, FrameReadError::Truncated { got: 10, expected } if expected == 1 << 20)
        );
        assert!(
            buf.capacity() <= FIRST_RESERVATION,
            "capacity {} for 10 bytes",
            buf.capacity()
        );
    }

    #[test]
    fn a_frame_of_exactly_the_maximum_is_accepted_and_one_more_byte_is_not() {
        let max = 16;
        let ok = encoded(&[&[1u8; 16]]);
        let mut buf = Vec::new();
        assert!(block_on(read_frame(&mut Cursor::new(ok), max, &mut buf)).unwrap());
        assert_eq!(buf, vec![1u8; 16]);
        let too_big = encoded(&[&[1u8; 17]]);
        assert!(matches!(
            block_on(read_frame(&mut Cursor::new(too_big), max, &mut buf)),
            Err(FrameReadError::Oversized {
                announced: 17,
                max: 16
            })
        ));
    }

    #[test]
    fn a_stream_ending_inside_a_prefix_or_a_body_is_truncation() {
        let mut buf = Vec::new();
        let half_prefix = vec![0u8, 0];
        assert!(matches!(
            block_on(read_frame(&mut Cursor::new(half_prefix), 64, &mut buf)),
            Err(FrameReadError::Truncated {
                got: 2,
                expected: 4
            })
        ));
        let mut short_body = encoded(&[b"hello"]);
        short_body.truncate(6);
        assert!(matches!(
            block_on(read_frame(&mut Cursor::new(short_body), 64, &mut buf)),
            Err(FrameReadError::Truncated {
                got: 2,
                expected: 5
            })
        ));
    }
}
