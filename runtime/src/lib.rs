//! choreo runtime (docs below are filled in later).

mod envelope;
mod error;
mod ids;
pub mod memory;
mod roster;
mod session;
mod transport;

pub use envelope::{
    DecodeError, Envelope, Frame, Payload, PayloadError, HEADER_LEN, INLINE_PAYLOAD, WIRE_VERSION,
};
pub use error::{Error, TransportError, UsageError};
pub use ids::{Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
pub use memory::{MemoryConfig, MemoryTransport};
pub use roster::{RoleShape, Roster};
pub use session::{Branch, Session, SessionConfig};
pub use transport::Transport;
