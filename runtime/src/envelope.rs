//! The envelope: what travels between endpoints, and its wire encoding.
//!
//! Wire layout (all integers little-endian; fixed 66-byte header, then the
//! postcard-encoded payload to the end of the frame — the transport frames
//! messages, so no length field is needed):
//!
//! | bytes  | field                                       |
//! |--------|---------------------------------------------|
//! | 0      | wire version, [`WIRE_VERSION`]              |
//! | 1..17  | session id                                  |
//! | 17..49 | protocol fingerprint                        |
//! | 49..51 | sender role (u16)                           |
//! | 51     | sender index tag: 0 = single role, 1 = member |
//! | 52..56 | sender index (u32; must be 0 when the tag is 0) |
//! | 56..58 | label (u16)                                 |
//! | 58..66 | phase (u64)                                 |
//! | 66..   | payload (postcard)                          |

use crate::ids::{Label, Role, RoleId, SessionId};
// Also the path the node host names payloads by.
pub(crate) use crate::payload::Payload;
use crate::value::Value;

/// Version byte at the start of every encoded envelope.
pub const WIRE_VERSION: u8 = 2;

/// Length of the fixed envelope header on the wire.
pub const HEADER_LEN: usize = 66;

/// One message between two endpoints of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The session this message belongs to.
    pub session: SessionId,
    /// Fingerprint of the protocol the sender runs.
    pub fingerprint: [u8; 32],
    /// The sending role instance.
    pub sender: RoleId,
    /// The message label.
    pub label: Label,
    /// Timeout-block phase (0 outside timeout handlers).
    pub phase: u64,
    /// The postcard-encoded payload.
    pub payload: Payload,
}

/// The envelope fields that are constant for one endpoint of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The session.
    pub session: SessionId,
    /// Fingerprint of the protocol.
    pub fingerprint: [u8; 32],
    /// The sending role instance.
    pub sender: RoleId,
}

/// The per-message envelope fields: what a session hands its transport.
///
/// A transport whose links are bound to one session by construction (the
/// in-memory one; a network transport after a handshake that checked the
/// session id and fingerprint) may carry just this; a transport that sends
/// bytes adds the [`Header`] and sends a whole [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The message label.
    pub label: Label,
    /// Timeout-block phase.
    pub phase: u64,
    /// The postcard-encoded payload.
    pub payload: Payload,
}

/// Why bytes are not an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the fixed header.
    #[error("truncated envelope: {len} bytes, the header alone needs {HEADER_LEN}")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Unknown wire version.
    #[error("envelope of wire version {0}, this runtime speaks version {WIRE_VERSION}")]
    Version(u8),
    /// Sender index tag other than 0/1, or a nonzero index for a single role.
    #[error("malformed sender index (tag {tag}, index {index})")]
    SenderIndex {
        /// The tag byte.
        tag: u8,
        /// The index field.
        index: u32,
    },
}

impl Envelope {
    /// Put a header and a message together.
    pub fn new(header: &Header, message: Message) -> Self {
        Self {
            session: header.session,
            fingerprint: header.fingerprint,
            sender: header.sender,
            label: message.label,
            phase: message.phase,
            payload: message.payload,
        }
    }

    /// Encode a header and a message without building an `Envelope`.
    pub fn encode_parts(header: &Header, message: &Message) -> Vec<u8> {
        encode(
            header,
            message.label,
            message.phase,
            message.payload.as_bytes(),
        )
    }

    /// Split into the constant and the per-message fields.
    pub fn into_parts(self) -> (Header, Message) {
        (
            Header {
                session: self.session,
                fingerprint: self.fingerprint,
                sender: self.sender,
            },
            Message {
                label: self.label,
                phase: self.phase,
                payload: self.payload,
            },
        )
    }

    /// Encode for a byte transport.
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            session: self.session,
            fingerprint: self.fingerprint,
            sender: self.sender,
        };
        encode(&header, self.label, self.phase, self.payload.as_bytes())
    }

    /// Decode bytes from a byte transport. Never panics; any input that is
    /// not a well-formed envelope is a [`DecodeError`]. (Whether the
    /// envelope is *expected* is the session's check, not this one.)
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let truncated = DecodeError::Truncated { len: bytes.len() };
        let (&[version], rest) = bytes.split_first_chunk::<1>().ok_or(truncated.clone())?;
        if version != WIRE_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (session, rest) = rest.split_first_chunk::<16>().ok_or(truncated.clone())?;
        let (fingerprint, rest) = rest.split_first_chunk::<32>().ok_or(truncated.clone())?;
        let (role, rest) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let (&[tag], rest) = rest.split_first_chunk::<1>().ok_or(truncated.clone())?;
        let (index, rest) = rest.split_first_chunk::<4>().ok_or(truncated.clone())?;
        let (label, rest) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let (phase, payload) = rest.split_first_chunk::<8>().ok_or(truncated)?;
        let index = u32::from_le_bytes(*index);
        let index = match (tag, index) {
            (0, 0) => None,
            (1, i) => Some(i),
            (tag, index) => return Err(DecodeError::SenderIndex { tag, index }),
        };
        Ok(Self {
            session: SessionId(*session),
            fingerprint: *fingerprint,
            sender: RoleId {
                role: Role(u16::from_le_bytes(*role)),
                index,
            },
            label: Label(u16::from_le_bytes(*label)),
            phase: u64::from_le_bytes(*phase),
            payload: Payload::from_bytes(payload),
        })
    }
}

fn encode(header: &Header, label: Label, phase: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_into(&mut out, header, label, phase, payload);
    out
}

/// Append the encoding of an envelope to `out` (the node's link frames
/// embed a whole envelope after their own header).
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    header: &Header,
    label: Label,
    phase: u64,
    payload: &[u8],
) {
    out.push(WIRE_VERSION);
    out.extend_from_slice(&header.session.0);
    out.extend_from_slice(&header.fingerprint);
    out.extend_from_slice(&header.sender.role.0.to_le_bytes());
    let (tag, index) = match header.sender.index {
        Some(i) => (1u8, i),
        None => (0u8, 0),
    };
    out.push(tag);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&label.0.to_le_bytes());
    out.extend_from_slice(&phase.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The per-message fields with the payload as a [`Value`]: what a session
/// hands a transport that [carries values](crate::Transport::carries_values).
#[derive(Debug)]
pub struct TypedMessage {
    /// The message label.
    pub label: Label,
    /// Timeout-block phase.
    pub phase: u64,
    /// The payload.
    pub value: Value,
}

impl TypedMessage {
    /// The same message with its payload encoded (for a byte link).
    pub fn encode(&self) -> Result<Message, postcard::Error> {
        Ok(Message {
            label: self.label,
            phase: self.phase,
            payload: self.value.encode()?,
        })
    }
}

/// What a transport delivers from one peer.
#[derive(Debug)]
pub enum Frame {
    /// A message on a link bound to this session by construction (sender,
    /// session and protocol are known from the link).
    Message(Message),
    /// Like [`Frame::Message`], with the payload as a value (the typed
    /// in-memory fast path; only on links inside one process).
    Typed(TypedMessage),
    /// A whole envelope as a value; every field is checked. (Boxed: it is
    /// the rare case, and frames sit in queues.)
    Envelope(Box<Envelope>),
    /// An encoded envelope ([`Envelope::encode`]); decoded, then every
    /// field is checked.
    Encoded(Vec<u8>),
}

impl Clone for Frame {
    /// A [`Frame::Typed`] whose value is not a scalar clones as the
    /// equivalent [`Frame::Message`] (its payload encoded).
    fn clone(&self) -> Self {
        match self {
            Self::Message(m) => Self::Message(m.clone()),
            Self::Typed(t) => match t.encode() {
                Ok(m) => Self::Message(m),
                // Unserializable: the receiver sees an empty payload, which
                // fails to decode as anything but `()`.
                Err(_) => Self::Message(Message {
                    label: t.label,
                    phase: t.phase,
                    payload: Payload::from_bytes(&[]),
                }),
            },
            Self::Envelope(e) => Self::Envelope(e.clone()),
            Self::Encoded(b) => Self::Encoded(b.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn header_length_matches_layout() {
        let e = Envelope {
            session: SessionId([1; 16]),
            fingerprint: [2; 32],
            sender: RoleId::member(Role(3), 4),
            label: Label(5),
            phase: 6,
            payload: Payload::from_bytes(&[]),
        };
        assert_eq!(e.encode().len(), HEADER_LEN);
        assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn in_memory_frames_stay_small() {
        // Queued frames are the in-memory transport's memory footprint.
        // A message is its label, its 64-bit phase (a window sets aside
        // 2^33 timeout instances) and a payload of up to 22 bytes inline.
        assert!(std::mem::size_of::<super::Payload>() <= 24);
        assert!(std::mem::size_of::<super::Message>() <= 40);
        assert!(std::mem::size_of::<super::TypedMessage>() <= 40);
        assert!(
            std::mem::size_of::<super::Frame>() <= 48,
            "{}",
            std::mem::size_of::<super::Frame>()
        );
    }
}
