//! Payloads: the postcard encoding of a message's value, inline when small.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Payloads up to this many encoded bytes are stored inline (no heap
/// allocation per message).
pub const INLINE_PAYLOAD: usize = 22;

/// A postcard-encoded payload. Small payloads live inline; larger ones are
/// shared (`Arc`), so a broadcast clones a pointer, not the bytes.
#[derive(Clone)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_PAYLOAD] },
    Shared(Arc<[u8]>),
}

/// Why a payload failed to decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// postcard rejected the bytes.
    #[error("undecodable payload: {0}")]
    Postcard(#[from] postcard::Error),
    /// The value decoded but bytes were left over: the peer sent another type.
    #[error("payload has {0} trailing bytes (the peer sent a different payload type)")]
    Trailing(usize),
}

impl Payload {
    /// Serialize `value` with postcard.
    #[inline]
    pub fn encode<M: Serialize + ?Sized>(value: &M) -> Result<Self, postcard::Error> {
        let mut buf = [0u8; INLINE_PAYLOAD];
        match postcard::to_slice(value, &mut buf) {
            Ok(used) => {
                let len = used.len();
                // `len <= INLINE_PAYLOAD < 256`.
                let len = u8::try_from(len).map_err(|_| postcard::Error::SerializeBufferFull)?;
                Ok(Self(Repr::Inline { len, buf }))
            }
            Err(postcard::Error::SerializeBufferFull) => {
                Ok(Self(Repr::Shared(postcard::to_allocvec(value)?.into())))
            }
            Err(e) => Err(e),
        }
    }

    /// Wrap already-encoded bytes.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE_PAYLOAD => {
                let mut buf = [0u8; INLINE_PAYLOAD];
                if let Some(dst) = buf.get_mut(..bytes.len()) {
                    dst.copy_from_slice(bytes);
                }
                Self(Repr::Inline { len, buf })
            }
            _ => Self(Repr::Shared(bytes.into())),
        }
    }

    /// The encoded bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Repr::Shared(bytes) => bytes,
        }
    }

    /// Decode as `M`, requiring that every byte is consumed.
    #[inline]
    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, PayloadError> {
        let (value, rest) = postcard::take_from_bytes::<M>(self.as_bytes())?;
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(PayloadError::Trailing(rest.len()))
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.as_bytes().len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn small_payload_is_inline_and_large_is_shared() {
        let small = Payload::encode(&7u64).unwrap();
        assert!(matches!(small.0, Repr::Inline { .. }));
        let big = Payload::encode(&vec![1u8; 100]).unwrap();
        assert!(matches!(big.0, Repr::Shared(_)));
        assert_eq!(big.decode::<Vec<u8>>().unwrap(), vec![1u8; 100]);
        assert_eq!(small.decode::<u64>().unwrap(), 7);
    }

    #[test]
    fn trailing_payload_bytes_are_rejected() {
        let p = Payload::encode(&(1u8, 2u8)).unwrap();
        assert!(matches!(p.decode::<u8>(), Err(PayloadError::Trailing(1))));
    }
}
