//! Node frames: what one node sends another, on top of the envelope.
//!
//! A node frame is a 22-byte link header followed by a complete envelope
//! (the 66-byte header of [`Envelope`], then the
//! payload). The transport below (a libp2p stream, the simulator) delimits
//! frames; the explicit payload length still lets a decoder tell a
//! truncated frame from a short payload. All integers are little-endian.
//!
//! | bytes  | field |
//! |--------|-------|
//! | 0      | link version, [`LINK_VERSION`] |
//! | 1      | kind: 0 = data, 1 = ack, 2 = heartbeat, 3 = close; handoff frames (`node::handoff`): 4 = rebind, 5 = rebind ack, 6 = bundle, 7 = bundle ack, 8 = forward |
//! | 2..10  | seq (u64): data and close frames number 1, 2, 3 … per (session, sender, receiver); 0 for ack and heartbeat |
//! | 10..18 | ack (u64): cumulative — every frame the receiver of this frame sent with seq ≤ ack has arrived (0: none yet) |
//! | 18..22 | payload length (u32); the frame is exactly 88 + length bytes |
//! | 22..88 | envelope header: version [`WIRE_VERSION`](crate::WIRE_VERSION), session id, fingerprint, sender role + index, label, phase |
//! | 88..   | payload (postcard) |
//!
//! Ack, heartbeat and close frames carry label 0, phase 0 and no payload;
//! anything else is malformed. Handoff frames carry label 0, phase 0 and
//! seq 0; rebind, bundle and forward frames have a payload (their layouts
//! are in `node::handoff`), the two acks none. Decoding never panics and never allocates
//! more than the frame it is given.

use crate::envelope::{encode_into, DecodeError, Envelope, Header, Message};
use crate::ids::Label;

/// Version byte at the start of every node frame.
pub const LINK_VERSION: u8 = 2;

/// Length of the link header that precedes the envelope.
pub const LINK_HEADER_LEN: usize = 22;

/// Bytes of a node frame besides the payload (link header + envelope header).
pub const FRAME_OVERHEAD: usize = LINK_HEADER_LEN + crate::envelope::HEADER_LEN;

/// What a node frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A message of the session, sequenced and acknowledged.
    Data,
    /// An acknowledgement only.
    Ack,
    /// "I am alive" on an idle link (also carries the ack).
    Heartbeat,
    /// The sender's endpoint closed: it sends no more data in this session.
    /// Sequenced like data, so it arrives after everything sent before it.
    Close,
    /// From a role's current holder to a peer: the role now lives on
    /// another node (a handoff).
    Rebind,
    /// The peer rerouted the role: answer to a rebind.
    RebindAck,
    /// A handoff bundle, from the old holder to the new.
    Bundle,
    /// The new holder installed the bundle.
    BundleAck,
    /// A frame the old holder received for a role it handed off, passed on
    /// to the new holder.
    Forward,
}

impl FrameKind {
    fn byte(self) -> u8 {
        match self {
            Self::Data => 0,
            Self::Ack => 1,
            Self::Heartbeat => 2,
            Self::Close => 3,
            Self::Rebind => 4,
            Self::RebindAck => 5,
            Self::Bundle => 6,
            Self::BundleAck => 7,
            Self::Forward => 8,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Data,
            1 => Self::Ack,
            2 => Self::Heartbeat,
            3 => Self::Close,
            4 => Self::Rebind,
            5 => Self::RebindAck,
            6 => Self::Bundle,
            7 => Self::BundleAck,
            8 => Self::Forward,
            _ => return None,
        })
    }

    /// True for the kinds that carry a sequence number (data and close).
    pub fn is_sequenced(self) -> bool {
        matches!(self, Self::Data | Self::Close)
    }

    /// True for the frames of a handoff (`node::handoff`).
    pub fn is_handoff(self) -> bool {
        matches!(
            self,
            Self::Rebind | Self::RebindAck | Self::Bundle | Self::BundleAck | Self::Forward
        )
    }

    /// True for the kinds that may carry a payload.
    fn has_payload(self) -> bool {
        matches!(
            self,
            Self::Data | Self::Rebind | Self::Bundle | Self::Forward
        )
    }
}

/// One decoded node frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFrame {
    /// What the frame is for.
    pub kind: FrameKind,
    /// Sequence number (data and close frames; 0 otherwise).
    pub seq: u64,
    /// Cumulative acknowledgement of the reverse direction.
    pub ack: u64,
    /// Session, fingerprint, sender, and for data frames label, phase and
    /// payload.
    pub envelope: Envelope,
}

/// Why bytes are not a node frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Shorter than the fixed headers.
    #[error("truncated node frame: {len} bytes, the headers alone need {FRAME_OVERHEAD}")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Unknown link version.
    #[error("node frame of link version {0}, this runtime speaks version {LINK_VERSION}")]
    Version(u8),
    /// Unknown kind byte.
    #[error("unknown node frame kind {0}")]
    Kind(u8),
    /// The payload length field disagrees with the frame's length.
    #[error("node frame declares a {declared}-byte payload but carries {actual} bytes")]
    Length {
        /// The length field.
        declared: u32,
        /// Bytes actually after the headers.
        actual: usize,
    },
    /// The sequence number does not fit the kind (0 on data/close, nonzero on ack/heartbeat).
    #[error("{kind:?} frame with sequence number {seq}")]
    Seq {
        /// The frame's kind.
        kind: FrameKind,
        /// The sequence number.
        seq: u64,
    },
    /// A control frame (ack, heartbeat, close) with a label, phase or payload.
    #[error("{0:?} frame with a label, phase or payload")]
    ControlBody(FrameKind),
    /// The embedded envelope is malformed.
    #[error("malformed envelope in node frame: {0}")]
    Envelope(#[from] DecodeError),
}

impl NodeFrame {
    /// Encode a data frame without building an envelope.
    pub fn encode_data(header: &Header, seq: u64, ack: u64, message: &Message) -> Vec<u8> {
        encode_frame(
            FrameKind::Data,
            seq,
            ack,
            header,
            message.label,
            message.phase,
            message.payload.as_bytes(),
        )
    }

    /// Encode a control frame (ack, heartbeat: `seq` 0; close: its seq).
    pub fn encode_control(kind: FrameKind, header: &Header, seq: u64, ack: u64) -> Vec<u8> {
        encode_frame(kind, seq, ack, header, Label(0), 0, &[])
    }

    /// Encode a handoff frame (rebind, bundle, forward and their acks)
    /// with its payload.
    pub fn encode_handoff(kind: FrameKind, header: &Header, payload: &[u8]) -> Vec<u8> {
        encode_frame(kind, 0, 0, header, Label(0), 0, payload)
    }

    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let (header, message) = self.envelope.clone().into_parts();
        encode_frame(
            self.kind,
            self.seq,
            self.ack,
            &header,
            message.label,
            message.phase,
            message.payload.as_bytes(),
        )
    }

    /// Decode. Never panics; checks every field's shape (whether the frame
    /// is *expected* is the node's business).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let truncated = FrameError::Truncated { len: bytes.len() };
        let (&[version], rest) = bytes.split_first_chunk::<1>().ok_or(truncated.clone())?;
        if version != LINK_VERSION {
            return Err(FrameError::Version(version));
        }
        let (&[kind], rest) = rest.split_first_chunk::<1>().ok_or(truncated.clone())?;
        let kind = FrameKind::from_byte(kind).ok_or(FrameError::Kind(kind))?;
        let (seq, rest) = rest.split_first_chunk::<8>().ok_or(truncated.clone())?;
        let (ack, rest) = rest.split_first_chunk::<8>().ok_or(truncated.clone())?;
        let (len, envelope) = rest.split_first_chunk::<4>().ok_or(truncated.clone())?;
        if envelope.len() < crate::envelope::HEADER_LEN {
            return Err(truncated);
        }
        let declared = u32::from_le_bytes(*len);
        let actual = envelope.len() - crate::envelope::HEADER_LEN;
        if usize::try_from(declared).ok() != Some(actual) {
            return Err(FrameError::Length { declared, actual });
        }
        let seq = u64::from_le_bytes(*seq);
        let ack = u64::from_le_bytes(*ack);
        if kind.is_sequenced() == (seq == 0) {
            return Err(FrameError::Seq { kind, seq });
        }
        let envelope = Envelope::decode(envelope)?;
        if kind != FrameKind::Data
            && (envelope.label != Label(0)
                || envelope.phase != 0
                || (actual != 0 && !kind.has_payload()))
        {
            return Err(FrameError::ControlBody(kind));
        }
        Ok(Self {
            kind,
            seq,
            ack,
            envelope,
        })
    }
}

fn encode_frame(
    kind: FrameKind,
    seq: u64,
    ack: u64,
    header: &Header,
    label: Label,
    phase: u64,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_OVERHEAD + payload.len());
    out.push(LINK_VERSION);
    out.push(kind.byte());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ack.to_le_bytes());
    // Payloads larger than 4 GiB cannot be framed; the node refuses frames
    // above `max_frame_len` long before that, and the receiver rejects the
    // mismatch.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    encode_into(&mut out, header, label, phase, payload);
    out
}

/// The message inside a data frame.
pub(crate) fn message_of(envelope: Envelope) -> Message {
    envelope.into_parts().1
}

/// A payload-free message, for tests of control frames.
#[cfg(test)]
pub(crate) fn empty_message() -> Message {
    Message {
        label: Label(0),
        phase: 0,
        payload: crate::envelope::Payload::from_bytes(&[]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::envelope::Payload;
    use crate::ids::{Role, RoleId, SessionId};

    fn header() -> Header {
        Header {
            session: SessionId([1; 16]),
            fingerprint: [2; 32],
            sender: RoleId::member(Role(3), 4),
        }
    }

    #[test]
    fn data_frame_round_trips_and_has_the_documented_length() {
        let msg = Message {
            label: Label(5),
            phase: 6,
            payload: Payload::from_bytes(&[9, 9, 9]),
        };
        let bytes = NodeFrame::encode_data(&header(), 7, 8, &msg);
        assert_eq!(bytes.len(), FRAME_OVERHEAD + 3);
        let f = NodeFrame::decode(&bytes).unwrap();
        assert_eq!((f.kind, f.seq, f.ack), (FrameKind::Data, 7, 8));
        assert_eq!(f.envelope, Envelope::new(&header(), msg));
        assert_eq!(f.encode(), bytes);
    }

    #[test]
    fn control_frames_round_trip_and_reject_bodies() {
        let bytes = NodeFrame::encode_control(FrameKind::Heartbeat, &header(), 0, 3);
        let f = NodeFrame::decode(&bytes).unwrap();
        assert_eq!((f.kind, f.seq, f.ack), (FrameKind::Heartbeat, 0, 3));
        let mut with_label = bytes.clone();
        with_label[LINK_HEADER_LEN + 56] = 1;
        assert_eq!(
            NodeFrame::decode(&with_label),
            Err(FrameError::ControlBody(FrameKind::Heartbeat))
        );
        let _ = empty_message();
    }

    #[test]
    fn every_truncation_is_an_error() {
        let msg = Message {
            label: Label(1),
            phase: 0,
            payload: Payload::from_bytes(&[1, 2, 3, 4]),
        };
        let bytes = NodeFrame::encode_data(&header(), 1, 0, &msg);
        for n in 0..bytes.len() {
            assert!(NodeFrame::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn sequence_numbers_must_fit_the_kind() {
        let bytes = NodeFrame::encode_control(FrameKind::Ack, &header(), 5, 0);
        assert!(matches!(
            NodeFrame::decode(&bytes),
            Err(FrameError::Seq { .. })
        ));
        let bytes = NodeFrame::encode_data(&header(), 0, 0, &empty_message());
        assert!(matches!(
            NodeFrame::decode(&bytes),
            Err(FrameError::Seq { .. })
        ));
    }
}
