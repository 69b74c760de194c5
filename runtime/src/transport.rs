//! The transport abstraction.

use std::any::Any;
use std::task::{Context, Poll};

use crate::envelope::{Frame, Header, Message, TypedMessage};
use crate::error::{Error, TransportError, UsageError};
use crate::ids::PeerId;
use crate::session_config::LinkedSession;
use crate::time::Time;

/// Moves envelopes between the peers of one session.
///
/// A transport is owned by exactly one [`Session`](crate::Session) and knows
/// its own [`PeerId`] and the number of peers (= roster length). It keeps
/// one FIFO stream **per ordered peer pair**: [`poll_recv`](Self::poll_recv)
/// takes the peer to read from, so demultiplexing by sender is the
/// transport's structure, not a search, and a message from one peer can
/// never be consumed by a receive that waits on another.
///
/// Used generically (`Session<T: Transport>`), so calls are statically
/// dispatched and inlined. The interface is poll-based (like `Sink` and
/// `Stream`), so a session can be shared by concurrent `par` branches under
/// a lock that is never held across an `.await`; nothing here is
/// tokio-specific, so a simulator can implement it with virtual time.
///
/// Frames: a transport returns [`Frame::Message`] only for links that are
/// bound to this session and peer by construction (the in-memory network is
/// built per session; a network transport would first run a handshake that
/// checks session id, fingerprint and the peer's identity). Anything else
/// comes as [`Frame::Encoded`] (or [`Frame::Envelope`]) and the session
/// checks every envelope field.
///
/// Delivery contract:
/// - per ordered pair, frames arrive in send order, or not at all;
/// - `start_send` succeeds once the frame is handed to the network; a send to a
///   peer that has already gone away is *not* an error (as on a real
///   network: the receiver side is where absence is detected);
/// - `poll_recv` returns `Err(TransportError::Closed)` once the peer is
///   gone and every frame it sent before going has been delivered — so a
///   receive never hangs on a dead peer.
pub trait Transport: Send {
    /// This endpoint's peer number.
    fn local(&self) -> PeerId;

    /// Number of peers, including the local one.
    fn peer_count(&self) -> usize;

    /// Poll until the link to `to` can take one more message (always
    /// ready for unbounded links; a network transport with a bounded
    /// outgoing buffer waits here). Registers `cx`'s waker when pending.
    fn poll_ready(&mut self, cx: &mut Context<'_>, to: PeerId) -> Poll<Result<(), TransportError>>;

    /// Hand one message for `to` to the transport, after `poll_ready`
    /// returned ready. Never blocks. `header` holds the envelope fields that
    /// are constant for this endpoint (session id, fingerprint, sender): a
    /// byte transport sends
    /// [`Envelope::encode_parts`](crate::Envelope::encode_parts)`(header, &message)`;
    /// a transport whose links are bound to the session may pass the
    /// message alone ([`Frame::Message`]). Network transports flush from
    /// their own I/O task.
    fn start_send(
        &mut self,
        to: PeerId,
        header: &Header,
        message: Message,
    ) -> Result<(), TransportError>;

    /// True if [`start_send_value`](Self::start_send_value) passes payloads
    /// as values ([`Frame::Typed`](crate::Frame::Typed)): only for links
    /// inside one process. The session asks before each owned send and
    /// encodes the payload itself when this is false (the default).
    #[inline]
    fn carries_values(&self) -> bool {
        false
    }

    /// Hand one message whose payload is a [`Value`](crate::Value) to the
    /// transport, after `poll_ready` returned ready. Only called when
    /// [`carries_values`](Self::carries_values) is true; the default
    /// encodes the payload and calls [`start_send`](Self::start_send).
    fn start_send_value(
        &mut self,
        to: PeerId,
        header: &Header,
        message: TypedMessage,
    ) -> Result<(), TransportError> {
        let message = message.encode().map_err(|e| {
            TransportError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        self.start_send(to, header, message)
    }

    /// The typed lanes generated code attached to this endpoint
    /// ([`crate::lane`]; in-memory networks made by a generated
    /// `sessions()` only), taken once by the typestate that opens it. The
    /// default has none.
    #[inline]
    fn take_lanes(&mut self) -> Option<Box<dyn Any + Send>> {
        None
    }

    /// Give lanes taken with [`take_lanes`](Self::take_lanes) back (a
    /// handoff: the endpoint's next holder takes them). The default drops
    /// them, which only a transport that never has lanes may do.
    fn put_lanes(&mut self, lanes: Box<dyn Any + Send>) {
        drop(lanes);
    }

    /// Poll for the next frame from `from`. Registers `cx`'s waker when
    /// pending, like `tokio::sync::mpsc::Receiver::poll_recv`.
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>>;

    /// Close every connection (best effort, never blocks). Peers waiting on
    /// this endpoint get `TransportError::Closed` after draining what was
    /// sent before.
    fn close(&mut self);

    /// The session's clock: now, in the time of whoever drives this
    /// transport (the node host's driver, virtual in the simulator; a
    /// [`Timer`](crate::Timer) in memory). Timeout bodies measure their
    /// deadlines on it. The default is a clock that stands still at
    /// [`Time::ZERO`].
    #[inline]
    fn now(&self) -> Time {
        Time::ZERO
    }

    /// Ready once `deadline` has passed on [`now`](Self::now)'s clock;
    /// otherwise arranges for `cx`'s waker to be woken when it passes. The
    /// default never lets a deadline pass: a transport without a clock
    /// ends timeout bodies only by `abandon()` and handler messages.
    /// Wrapping transports must forward both methods.
    #[inline]
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        let _ = (cx, deadline);
        Poll::Pending
    }

    /// Open, beside this transport's session, the transport of the session
    /// a `link` joins ([`crate::link`]): the same machinery (node, guard),
    /// with `linked.peers[k]` — one of this transport's peers — playing the
    /// linked roster's instance `k`. The default refuses: a transport that
    /// cannot open sessions by itself (the in-memory one is built per
    /// session) cannot follow a link.
    fn open_linked(&mut self, linked: &LinkedSession) -> Result<Self, Error>
    where
        Self: Sized,
    {
        Err(UsageError::Link(format!(
            "this transport cannot open the linked session of {}; run linked protocols on a node (the simulator or libp2p)",
            linked.config.protocol.name
        ))
        .into())
    }
}
