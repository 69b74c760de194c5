//! Typed per-pair lanes: the in-memory fast lane of generated endpoints.
//!
//! Inside one process, a session's envelope machinery (labels checked
//! against a table, phases, payloads as type-erased values or bytes) does
//! work the types have already done. For a protocol that only sends,
//! receives, selects and branches between single roles (no `timeout`,
//! collective, guard annotation, `link` or `delegate`), the generated
//! `sessions()` therefore also gives every ordered pair of roles a lane: an
//! unbounded channel of one generated enum whose variants are the labels
//! that pair carries, payloads by value. The typestates take their role's
//! lanes when they open ([`crate::Session::take_lanes`]) and send and
//! receive on them directly: the variant is the label, and the receiving
//! state matches on it.
//!
//! Everything else stays as on any transport: the [`Session`] is still
//! there (identity, roster, `finish`), a peer that goes away is a
//! transport error, a message nobody receives is an orphan at `finish`,
//! and a handoff puts the lanes back into the session so the endpoint's
//! next holder takes them over. A session made any other way (a node,
//! the simulator, a guard, a wire-encoded or hand-built memory network)
//! has no lanes, and the same typestates run the session operations.
//!
//! All endpoints of a network with lanes must run the generated
//! typestates: a session whose lanes are still attached refuses the
//! session operations ([`crate::MemoryTransport`]), so a hand-written
//! peer fails at once instead of waiting on the other channel. Build such
//! a peer's network with [`crate::memory::sessions`].

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::error::{Error, TransportError};
use crate::ids::{Label, RoleId};
use crate::session::Session;
use crate::transport::Transport;

/// The sending end of a lane.
#[derive(Debug)]
pub struct LaneTx<E>(UnboundedSender<E>);

/// The receiving end of a lane.
#[derive(Debug)]
pub struct LaneRx<E>(UnboundedReceiver<E>);

/// A new lane carrying messages of type `E` (a generated enum of labels).
pub fn lane<E>() -> (LaneTx<E>, LaneRx<E>) {
    let (tx, rx) = unbounded_channel();
    (LaneTx(tx), LaneRx(rx))
}

impl<E> LaneTx<E> {
    /// Hand `message` to the peer. Never waits. A peer that has gone away
    /// is not an error here (as on a network, absence is detected by whoever
    /// waits on it).
    #[inline(always)]
    pub fn send(&self, message: E) {
        // Dropped if the receiver is gone; see above.
        let _ = self.0.send(message);
    }
}

impl<E> LaneRx<E> {
    /// The next message, or `None` once the peer is gone and everything it
    /// sent has been received.
    #[inline(always)]
    pub async fn recv(&mut self) -> Option<E> {
        // Polls the channel directly: awaiting `UnboundedReceiver::recv`
        // (itself an `async fn`) here nests one more state machine in every
        // generated receive, about 9 instructions per message.
        std::future::poll_fn(|cx| self.0.poll_recv(cx)).await
    }

    /// A message that has already arrived, if any (without waiting).
    pub fn try_recv(&mut self) -> Option<E> {
        // Empty or disconnected: nothing has arrived.
        self.0.try_recv().ok()
    }
}

/// The error of a lane receive that got `got` where the local type expects
/// one of `expected` from `from` (a [`Error::ProtocolViolation`], as on the
/// session path).
#[cold]
#[inline(never)]
pub fn unexpected<T: Transport>(
    session: &Session<T>,
    from: RoleId,
    expected: &[Label],
    got: Label,
) -> Error {
    let protocol = session.protocol();
    Error::ProtocolViolation {
        role: protocol.role_name(from),
        expected: protocol.label_set(expected),
        got: format!("label {}", protocol.label_name(got)),
    }
}

/// The error of a lane receive whose peer `from` went away before sending
/// one of `expected` (an [`Error::Transport`], as on the session path).
#[cold]
#[inline(never)]
pub fn closed<T: Transport>(session: &Session<T>, from: RoleId, expected: &[Label]) -> Error {
    let protocol = session.protocol();
    Error::Transport {
        role: protocol.role_name(from),
        expected: protocol.label_set(expected),
        source: TransportError::Closed,
    }
}

/// The error of `finish` when `from` sent `got`, which the protocol does
/// not account for (an orphan message).
#[cold]
#[inline(never)]
pub fn orphan<T: Transport>(session: &Session<T>, from: RoleId, got: Label) -> Error {
    unexpected(session, from, &[], got)
}
