//! Helpers the generated typestates call (owned by code generation; the
//! session core does not use them).
//!
//! `timeout d { body } else { handler }`: entering the body starts its
//! deadline on the session's clock ([`Session::start_body`](crate::Session::start_body):
//! the transport's time, so virtual time in the simulator). Every operation
//! of a body state returns [`Timed`]: `Done` with the next state, or
//! `Expired` with the handler's state when the body is over for this
//! participant (its deadline passed, or a peer started the handler).

pub use crate::time::Time;
use crate::Error;

/// The outcome of an operation inside a `timeout` body.
#[derive(Debug)]
#[must_use = "either the operation completed or the handler must run"]
pub enum Timed<T, H> {
    /// The operation completed inside the body.
    Done(T),
    /// The body is over for this participant: run the handler (already in
    /// its phase).
    Expired(H),
}

impl<T, H> Timed<T, H> {
    /// The completed operation's result, or [`Error::Interrupted`] if the
    /// body is over. The handler's state is dropped (its session closes,
    /// and peers waiting on it fail): only for code that does not run the
    /// handler.
    pub fn into_done(self) -> Result<T, Error> {
        match self {
            Timed::Done(v) => Ok(v),
            Timed::Expired(_) => Err(Error::Interrupted(crate::Interrupt::Deadline)),
        }
    }
}

/// Sorts the result of a session operation inside a timeout body: the
/// value, `None` if the body was interrupted ([`Error::Interrupted`]), or
/// any other error.
#[inline]
pub fn timed<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Error::Interrupted(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What [`linger`](crate::Session::linger) on the state after a completed
/// timeout body ended with.
#[derive(Debug)]
#[must_use = "either the session closed or the handler must run"]
pub enum Lingered<H> {
    /// Nobody started the handler (the patience ran out, or every peer
    /// closed its side): the session is finished.
    Closed,
    /// A peer started the handler: run this role's part of it (already in
    /// its phase; the peer's message waits for its first receive).
    Handler(H),
}

// ---------------------------------------------------------------------------
// The operations' bodies, written once.
//
// A generated typestate's operation is a plain function that calls one of
// the helpers below with its constants (peer, label, the lane to use, the
// next state's constructor). Written once here, the bodies are checked
// once by rustc instead of once per state (see the book's "rustc on the
// macro's output"). Each helper returns a named future type
// ([`SendFuture`], [`SendLaneFuture`], [`RecvFuture`],
// [`RecvLaneFuture`]), so a state's operation returns a concrete type,
// not an opaque `impl Future` whose hidden type rustc would infer and
// check per state. The futures own the endpoint and reach its session on
// every poll; they allocate nothing and, like the `async fn`s they
// replace, do nothing until polled (a send hands its message over on the
// first poll). They are `Unpin` whatever they hold: nothing in them is
// ever pinned in place (the endpoint and the message are moved out).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::lane::{LaneRx, LaneTx};
use crate::ops;
use crate::{Label, PeerId, RoleId, Session, Transport, UsageError};

/// A generated protocol's live endpoint (its `Chan`): the session, and the
/// protocol's typed lanes if the endpoint has them.
pub trait Endpoint: Sized {
    /// The session's transport.
    type Transport: Transport;
    /// The protocol's `lanes::Lanes` (`NoLanes` for a protocol without).
    type Lanes;
    /// The runtime session.
    fn session_ref(&self) -> &Session<Self::Transport>;
    /// The runtime session, to operate on.
    fn session_mut(&mut self) -> &mut Session<Self::Transport>;
    /// The endpoint's lanes, if its network has them.
    fn lanes_mut(&mut self) -> Option<&mut Self::Lanes>;
}

/// The lanes of a protocol that has none.
#[derive(Debug)]
pub enum NoLanes {}

/// A generated label type (`labels::L`): its payload type, and how to make
/// the label from it (the receive futures' output).
pub trait LabelType: Sized + 'static {
    /// The payload (`()` for a label without one).
    type Payload;
    /// Makes the label from its payload.
    const WRAP: fn(Self::Payload) -> Self;
}

/// A generated lane enum (one per ordered pair of roles): the label of a
/// message, and its payload moved out by type.
pub trait LaneMessage: Send + Sized + 'static {
    /// The label's wire number.
    fn label(&self) -> Label;
    /// The payload, if it is a `V` (the caller has checked the label, which
    /// fixes the payload type).
    fn into_value<V: 'static>(self) -> Option<V>;
    /// The message prepared for `session` instead (an endpoint without
    /// lanes): [`prepare_send`] of its label and payload.
    fn prepare_session<T: Transport>(self, session: &mut Session<T>, to: RoleId) -> PreparedSend;
}

/// `value` as a `V`, if it is one (what [`LaneMessage::into_value`] does
/// with each variant's payload). Free of cost once inlined: the type test
/// is a constant.
#[inline(always)]
pub fn cast<A: 'static, V: 'static>(value: A) -> Option<V> {
    let mut value = Some(value);
    (&mut value as &mut dyn Any)
        .downcast_mut::<Option<V>>()
        .and_then(Option::take)
}

/// A send on a session, its message built (by value over memory, encoded
/// on a byte transport) and not handed over yet: [`SendFuture`] and
/// [`SendLaneFuture`] poll it with their session.
pub struct PreparedSend(ops::Prepared);

impl std::fmt::Debug for PreparedSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedSend")
    }
}

/// `session.send_owned(to, label, value)` prepared: the message is built
/// now and handed over when the returned value is polled (through a
/// [`SendFuture`] or [`SendLaneFuture`]) with the same session.
#[inline]
pub fn prepare_send<T: Transport, V: Serialize + Send + 'static>(
    session: &mut Session<T>,
    to: RoleId,
    label: Label,
    value: V,
) -> PreparedSend {
    PreparedSend(ops::prepare_owned(session.inner_mut(), to, label, value))
}

#[cold]
fn polled_after_completion() -> Error {
    Error::Usage(UsageError::PolledAfterCompletion)
}

/// `send`: hands `value` to the peer (by value over memory, encoded on a
/// byte transport) and returns the next state.
#[inline]
pub fn send<C: Endpoint, V: Serialize + Send + 'static, N>(
    mut chan: C,
    to: RoleId,
    label: Label,
    value: V,
    next: fn(C) -> N,
) -> SendFuture<C, N> {
    let send = prepare_send(chan.session_mut(), to, label, value);
    SendFuture {
        chan: Some(chan),
        send,
        next,
    }
}

/// The future of a generated state's `send` ([`send`]): the next state
/// once the message is handed over.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SendFuture<C, N> {
    chan: Option<C>,
    send: PreparedSend,
    next: fn(C) -> N,
}

impl<C, N> Unpin for SendFuture<C, N> {}

impl<C, N> std::fmt::Debug for SendFuture<C, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendFuture")
    }
}

impl<C: Endpoint, N> Future for SendFuture<C, N> {
    type Output = Result<N, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(chan) = this.chan.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        match ops::poll_prepared(chan.session_mut().inner_mut(), &mut this.send.0, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => Poll::Ready(finish(r, this.chan.take(), this.next)),
        }
    }
}

/// The end of a send: the next state, or the error (the endpoint is
/// dropped with it, as `?` in an `async fn` would).
#[inline(always)]
fn finish<C, N>(r: Result<(), Error>, chan: Option<C>, next: fn(C) -> N) -> Result<N, Error> {
    r?;
    chan.map(next).ok_or_else(polled_after_completion)
}

/// [`send`] on a protocol with lanes: `message` (the label in the pair's
/// lane enum) goes on the lane `tx` picks from the endpoint's lanes if it
/// has them, otherwise on the session
/// ([`LaneMessage::prepare_session`]).
#[inline]
pub fn send_lane<C: Endpoint, E: LaneMessage, N>(
    chan: C,
    to: RoleId,
    tx: fn(&C::Lanes) -> Option<&LaneTx<E>>,
    message: E,
    next: fn(C) -> N,
) -> SendLaneFuture<C, E, N> {
    SendLaneFuture {
        chan: Some(chan),
        to,
        tx,
        message: Some(message),
        send: None,
        next,
    }
}

/// The future of a generated state's `send` on a protocol with lanes
/// ([`send_lane`]).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SendLaneFuture<C: Endpoint, E, N> {
    chan: Option<C>,
    to: RoleId,
    tx: fn(&C::Lanes) -> Option<&LaneTx<E>>,
    message: Option<E>,
    /// The session path, once started.
    send: Option<PreparedSend>,
    next: fn(C) -> N,
}

impl<C: Endpoint, E, N> Unpin for SendLaneFuture<C, E, N> {}

impl<C: Endpoint, E, N> std::fmt::Debug for SendLaneFuture<C, E, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendLaneFuture")
    }
}

impl<C: Endpoint, E: LaneMessage, N> Future for SendLaneFuture<C, E, N> {
    type Output = Result<N, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(chan) = this.chan.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        if let Some(message) = this.message.take() {
            let tx = this.tx;
            if let Some(tx) = chan.lanes_mut().and_then(|l| tx(l)) {
                tx.send(message);
                return Poll::Ready(finish(Ok(()), this.chan.take(), this.next));
            }
            this.send = Some(message.prepare_session(chan.session_mut(), this.to));
        }
        let Some(send) = this.send.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        match ops::poll_prepared(chan.session_mut().inner_mut(), &mut send.0, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => Poll::Ready(finish(r, this.chan.take(), this.next)),
        }
    }
}

/// `recv`: the next message from `from` must carry `label` (of label type
/// `L`); returns it and the next state.
#[inline]
pub fn recv<C: Endpoint, L: LabelType, N>(
    mut chan: C,
    from: RoleId,
    label: Label,
    next: fn(C) -> N,
) -> RecvFuture<C, L, N>
where
    L::Payload: DeserializeOwned + Send + 'static,
{
    let peer = ops::recv_peer(chan.session_mut().inner_mut(), from);
    RecvFuture {
        chan: Some(chan),
        from,
        peer,
        label,
        next,
        _label: std::marker::PhantomData,
    }
}

/// The future of a generated state's `recv` ([`recv`]): the label and
/// the next state.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RecvFuture<C, L, N> {
    chan: Option<C>,
    from: RoleId,
    peer: Option<PeerId>,
    label: Label,
    next: fn(C) -> N,
    _label: std::marker::PhantomData<fn() -> L>,
}

impl<C, L, N> Unpin for RecvFuture<C, L, N> {}

impl<C, L, N> std::fmt::Debug for RecvFuture<C, L, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecvFuture")
    }
}

impl<C: Endpoint, L: LabelType, N> Future for RecvFuture<C, L, N>
where
    L::Payload: DeserializeOwned + Send + 'static,
{
    type Output = Result<(L, N), Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(chan) = this.chan.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        let got = ops::poll_recv::<_, L::Payload, ops::Take>(
            chan.session_mut().inner_mut(),
            cx,
            this.from,
            this.peer,
            this.label,
        );
        match got {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => Poll::Ready(received(r, this.chan.take(), this.next)),
        }
    }
}

/// The end of a receive: the label made from its payload and the next
/// state, or the error (the endpoint is dropped with it).
#[inline(always)]
fn received<C, L: LabelType, N>(
    r: Result<L::Payload, Error>,
    chan: Option<C>,
    next: fn(C) -> N,
) -> Result<(L, N), Error> {
    let v = r?;
    match chan {
        Some(chan) => Ok((L::WRAP(v), next(chan))),
        None => Err(polled_after_completion()),
    }
}

/// [`recv`] on a protocol with lanes: from the lane `rx` picks if the
/// endpoint has lanes, otherwise from the session.
#[inline]
pub fn recv_lane<C: Endpoint, E: LaneMessage, L: LabelType, N>(
    chan: C,
    from: RoleId,
    label: Label,
    rx: fn(&mut C::Lanes) -> Option<&mut LaneRx<E>>,
    next: fn(C) -> N,
) -> RecvLaneFuture<C, E, L, N>
where
    L::Payload: DeserializeOwned + Send + 'static,
{
    RecvLaneFuture {
        session: recv(chan, from, label, next),
        rx,
    }
}

/// The future of a generated state's `recv` on a protocol with lanes
/// ([`recv_lane`]).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RecvLaneFuture<C: Endpoint, E, L, N> {
    /// The receive on the session, taken when the endpoint has no lanes.
    session: RecvFuture<C, L, N>,
    rx: fn(&mut C::Lanes) -> Option<&mut LaneRx<E>>,
}

impl<C: Endpoint, E, L, N> Unpin for RecvLaneFuture<C, E, L, N> {}

impl<C: Endpoint, E, L, N> std::fmt::Debug for RecvLaneFuture<C, E, L, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecvLaneFuture")
    }
}

impl<C: Endpoint, E: LaneMessage, L: LabelType, N> Future for RecvLaneFuture<C, E, L, N>
where
    L::Payload: DeserializeOwned + Send + 'static,
{
    type Output = Result<(L, N), Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let recv = &mut this.session;
        let Some(chan) = recv.chan.as_mut() else {
            return Poll::Ready(Err(polled_after_completion()));
        };
        let (from, label) = (recv.from, recv.label);
        if let Some(rx) = chan.lanes_mut().and_then(this.rx) {
            let got = match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(got) => got,
            };
            let r = match got {
                Some(m) if m.label() == label => match m.into_value::<L::Payload>() {
                    Some(v) => Ok(v),
                    None => Err(crate::lane::unexpected(
                        chan.session_ref(),
                        from,
                        &[label],
                        label,
                    )),
                },
                Some(other) => Err(crate::lane::unexpected(
                    chan.session_ref(),
                    from,
                    &[label],
                    other.label(),
                )),
                None => Err(crate::lane::closed(chan.session_ref(), from, &[label])),
            };
            return Poll::Ready(received(r, recv.chan.take(), recv.next));
        }
        Pin::new(recv).poll(cx)
    }
}
