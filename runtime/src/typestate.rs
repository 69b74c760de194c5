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
// macro's output"); each call is monomorphised in the user's crate exactly
// as the per-state `async fn`s were.

use std::any::Any;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::lane::{LaneRx, LaneTx};
use crate::{Label, RoleId, Session, Transport};

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

/// A generated lane enum (one per ordered pair of roles): the label of a
/// message, and its payload moved out by type.
pub trait LaneMessage: Send + Sized + 'static {
    /// The label's wire number.
    fn label(&self) -> Label;
    /// The payload, if it is a `V` (the caller has checked the label, which
    /// fixes the payload type).
    fn into_value<V: 'static>(self) -> Option<V>;
    /// Sends the message on `session` instead (an endpoint without lanes):
    /// `session.send_owned(to, label, payload)`.
    fn send_session<T: Transport>(
        self,
        session: &mut Session<T>,
        to: RoleId,
    ) -> impl Future<Output = Result<(), Error>> + Send;
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

/// The constructor of a unit label (`L` carries `()`), for the receive
/// helpers.
#[inline(always)]
pub fn unit<L>(label: L) -> impl FnOnce(()) -> L {
    move |()| label
}

/// `send`: hands `value` to the peer (by value over memory, encoded on a
/// byte transport) and returns the next state.
#[inline]
pub async fn send<C: Endpoint, V: Serialize + Send + 'static, N>(
    mut chan: C,
    to: RoleId,
    label: Label,
    value: V,
    next: impl FnOnce(C) -> N,
) -> Result<N, Error> {
    chan.session_mut().send_owned(to, label, value).await?;
    Ok(next(chan))
}

/// [`send`] on a protocol with lanes: `message` (the label in the pair's
/// lane enum) goes on the lane `tx` picks from the endpoint's lanes if it
/// has them, otherwise on the session
/// ([`LaneMessage::send_session`]).
#[inline]
pub async fn send_lane<C: Endpoint, E: LaneMessage, N>(
    mut chan: C,
    to: RoleId,
    tx: impl FnOnce(&C::Lanes) -> Option<&LaneTx<E>>,
    message: E,
    next: impl FnOnce(C) -> N,
) -> Result<N, Error> {
    if let Some(tx) = chan.lanes_mut().and_then(|l| tx(l)) {
        tx.send(message);
    } else {
        message.send_session(chan.session_mut(), to).await?;
    }
    Ok(next(chan))
}

/// `recv`: the next message from `from` must carry `label`; returns it
/// (`wrap` makes the label type from the payload) and the next state.
#[inline]
pub async fn recv<C: Endpoint, V: DeserializeOwned + Send + 'static, L, N>(
    mut chan: C,
    from: RoleId,
    label: Label,
    wrap: impl FnOnce(V) -> L,
    next: impl FnOnce(C) -> N,
) -> Result<(L, N), Error> {
    let v = chan.session_mut().recv_owned(from, label).await?;
    Ok((wrap(v), next(chan)))
}

/// [`recv`] on a protocol with lanes: from the lane `rx` picks if the
/// endpoint has lanes, otherwise from the session.
#[inline]
pub async fn recv_lane<C: Endpoint, E: LaneMessage, V: DeserializeOwned + Send + 'static, L, N>(
    mut chan: C,
    from: RoleId,
    label: Label,
    rx: impl FnOnce(&mut C::Lanes) -> Option<&mut LaneRx<E>>,
    wrap: impl FnOnce(V) -> L,
    next: impl FnOnce(C) -> N,
) -> Result<(L, N), Error> {
    if let Some(rx) = chan.lanes_mut().and_then(rx) {
        let got = rx.recv().await;
        return match got {
            Some(m) if m.label() == label => match m.into_value::<V>() {
                Some(v) => Ok((wrap(v), next(chan))),
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
    }
    let v = chan.session_mut().recv_owned(from, label).await?;
    Ok((wrap(v), next(chan)))
}
