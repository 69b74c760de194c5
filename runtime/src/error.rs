//! Errors, grouped by who is at fault (as in rustls): the local caller
//! ([`Error::Usage`]), the peer ([`Error::ProtocolViolation`]) or the network
//! ([`Error::Transport`]).

use crate::ids::PeerId;

/// Everything a session operation can fail with.
///
/// Every variant ends the session: after an error the endpoint state is
/// gone (operations consume it), and peers waiting on this endpoint see a
/// [`Error::Transport`] once it is dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local program used the runtime wrongly (wrong roster, unknown
    /// role, quorum out of range, unserializable payload). Not the peer's
    /// fault; fix the calling code.
    #[error("usage error: {0}")]
    Usage(#[from] UsageError),

    /// A peer sent something the protocol does not allow at this point:
    /// a malformed envelope, another session or protocol version, a wrong
    /// sender, label or payload. `role` is the peer at fault.
    #[error(
        "protocol violation by {role}: expected {expected}, got {got}; \
         abort this session and do not trust {role}'s further messages in it"
    )]
    ProtocolViolation {
        /// The role instance at fault, e.g. `Witness[2]`.
        role: String,
        /// What the local endpoint was waiting for.
        expected: String,
        /// What arrived instead.
        got: String,
    },

    /// The network failed or the peer went away (crashed, or dropped its
    /// endpoint mid-protocol) while we needed it.
    #[error(
        "transport failure with {role} while waiting for {expected}: {source}; \
         the peer crashed, dropped its endpoint mid-protocol, or the network failed — \
         abort this session and start a new one"
    )]
    Transport {
        /// The role instance we were talking to.
        role: String,
        /// What the local endpoint was doing (e.g. `label Pong`, `sending Ping`).
        expected: String,
        /// The transport's error.
        #[source]
        source: TransportError,
    },

    /// The guard chain refused the send (capability, flow budget, journal
    /// coupling or leakage budget): nothing was sent, appended or charged.
    /// Local policy, not the peer's fault.
    #[error("send refused by the guard chain: {0}")]
    Denied(Box<crate::denial::Denial>),

    /// Not a failure: the operation was inside a `timeout` body that is
    /// over for this participant ([`Interrupt`] says why), so it did not
    /// happen. Run the body's handler; generated endpoints do that
    /// themselves (their body operations return `Timed::Expired` with the
    /// handler's state instead of this error).
    #[error("the timeout body was abandoned: {0}; run its handler")]
    Interrupted(Interrupt),
}

/// Why a `timeout` body ended before the participant finished its part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Interrupt {
    /// The body's deadline passed (on the transport's clock).
    #[error("its deadline passed")]
    Deadline,
    /// A peer sent a message of the handler: it has abandoned the body.
    #[error("{from} started the handler")]
    HandlerMessage {
        /// The role instance whose handler message arrived.
        from: String,
    },
    /// This endpoint abandoned the body (`abandon()`).
    #[error("this endpoint abandoned it")]
    Abandoned,
    /// A peer this endpoint was waiting on inside the body closed its side
    /// of the session or was lost: the body cannot complete (a peer that
    /// abandoned a body in whose handler it has no part simply ends).
    #[error("{from} closed its side or was lost")]
    PeerGone {
        /// The role instance that is gone.
        from: String,
    },
}

impl From<Box<Error>> for Error {
    /// The session keeps errors boxed on its hot paths (they are rare and
    /// large); this unboxes at the API boundary.
    fn from(e: Box<Error>) -> Self {
        *e
    }
}

/// Local misuse of the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The role instance is not in this session's roster.
    #[error("{role} is not in this session's roster; check the role number, family index and family sizes")]
    UnknownRole {
        /// The instance as given.
        role: String,
    },
    /// A family operation (`send_all`, `recv_all`, `exchange`) named a
    /// single role.
    #[error("{role} is not a family; use send/recv for single roles")]
    NotAFamily {
        /// The role.
        role: String,
    },
    /// `exchange` called by a role outside the family.
    #[error("{me} is not a member of family {family}; only members take part in an exchange")]
    NotAMember {
        /// The local instance.
        me: String,
        /// The family.
        family: String,
    },
    /// A send to oneself.
    #[error("{role} cannot send to itself")]
    SelfSend {
        /// The local instance.
        role: String,
    },
    /// Quorum outside `1..=max`.
    #[error("quorum {quorum} is out of range: it must be between 1 and {max} (the number of values that can arrive)")]
    QuorumOutOfRange {
        /// The quorum asked for.
        quorum: usize,
        /// The largest possible quorum.
        max: usize,
    },
    /// The roster does not fit the protocol or the transport.
    #[error("roster mismatch: {0}; build the roster with one RoleShape per protocol role and a transport with one peer per role instance")]
    RosterMismatch(String),
    /// More than `u32::MAX` instances or `u16::MAX` roles.
    #[error("roster too large: at most 65535 roles and 2^32-1 instances")]
    RosterTooLarge,
    /// A `link` could not be joined or opened as asked (the local role is
    /// not passed to the linked protocol, the transport cannot open linked
    /// sessions, or the protocol opened is not the one joined).
    #[error("link: {0}")]
    Link(String),
    /// `linger` called while still inside a timeout body.
    #[error("linger waits after a completed timeout body, but this endpoint is still inside one; finish the body first")]
    LingerInsideBody,
    /// A runtime future was polled again after it completed.
    #[error("an operation future was polled after it completed; await each operation once")]
    PolledAfterCompletion,
    /// A node host refused to open a session (id in use, roster binding
    /// that does not fit the node).
    #[error("node host: {0}")]
    Host(String),
    /// The payload could not be serialized.
    #[error("payload of label {label} could not be serialized: {source}")]
    Encode {
        /// The label being sent.
        label: String,
        /// postcard's error.
        #[source]
        source: postcard::Error,
    },
}

/// Failures of a [`Transport`](crate::Transport).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer's side of the connection is gone.
    #[error("the connection to the peer is closed")]
    Closed,
    /// The transport has no such peer.
    #[error("the transport has no peer {0:?}")]
    UnknownPeer(PeerId),
    /// An I/O error from a network transport.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_stays_small_enough_to_return_cheaply() {
        // Every operation returns `Result<_, Error>`; generated typestates
        // move these around on every transition.
        let size = std::mem::size_of::<super::Error>();
        assert!(size <= 80, "Error is {size} bytes");
        eprintln!("size_of::<Error>() = {size}");
    }
}
