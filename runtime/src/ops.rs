//! The session operations, written once over [`Access`]: exclusive access
//! (a [`Session`](crate::Session)) or shared access by concurrent `par`
//! branches ([`Par`](crate::Par)). Every step takes the state for a
//! synchronous moment only; nothing holds it across an `.await`.

use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::Message;
use crate::envelope::{Frame, TypedMessage};
use crate::error::{Error, Interrupt, TransportError, UsageError};
use crate::ids::{Label, PeerId, ProtocolInfo, Role, RoleId};
use crate::payload::Payload;
use crate::session_core::{
    decode_body, decode_payload, poll_next, take_body, Body, Branch, Core, Incoming, Inner, Verdict,
};
use crate::transport::Transport;
use crate::value::Value;

/// Access to a session's state for one synchronous step.
pub(crate) trait Access {
    type T: Transport;
    fn with<R>(&mut self, f: impl FnOnce(&mut Core, &mut Self::T) -> R) -> R;
}

impl<T: Transport> Access for Inner<T> {
    type T = T;
    #[inline(always)]
    fn with<R>(&mut self, f: impl FnOnce(&mut Core, &mut T) -> R) -> R {
        f(&mut self.core, &mut self.transport)
    }
}

#[cold]
fn send_failed(core: &Core, peer: PeerId, label: Label, e: TransportError) -> Error {
    core.transport_error(
        peer,
        format!("sending {}", core.protocol.label_name(label)),
        e,
    )
}

fn deliver<A: Access>(a: &mut A, peer: PeerId, msg: Message) -> SendOp<'_, A> {
    let label = msg.label;
    start(a, peer, label, Outgoing::Bytes(msg))
}

/// What a send hands the transport.
pub(crate) enum Outgoing {
    Bytes(Message),
    Value(TypedMessage),
}

/// The future of a send. The message is handed to the transport when the
/// operation is created if the link is ready then (always, for the
/// unbounded in-memory links — as `UnboundedSender::send`, an in-memory
/// send completes at once); otherwise the future waits for
/// [`Transport::poll_ready`] and sends when polled. Either way the future
/// holds no borrow of the payload.
pub(crate) struct SendOp<'a, A> {
    state: SendState<'a, A>,
}

enum SendState<'a, A> {
    /// Handed over (or failed before that).
    Done(Option<Box<Error>>),
    /// The link was not ready; rare, so boxed to keep the future small.
    Waiting(Box<Waiting<'a, A>>),
}

struct Waiting<'a, A> {
    a: &'a mut A,
    peer: PeerId,
    label: Label,
    msg: Option<Outgoing>,
}

#[inline(always)]
fn push<T: Transport>(
    core: &Core,
    t: &mut T,
    peer: PeerId,
    msg: Outgoing,
) -> Result<(), TransportError> {
    match msg {
        Outgoing::Bytes(m) => t.start_send(peer, &core.header, m),
        Outgoing::Value(m) => t.start_send_value(peer, &core.header, m),
    }
}

/// Send now if the link is ready (noop waker: if it is not, the returned
/// future registers the real one when polled). Runs inside `with`.
#[inline(always)]
fn try_now<T: Transport>(
    core: &mut Core,
    t: &mut T,
    peer: PeerId,
    label: Label,
    msg: Outgoing,
) -> Result<Option<Box<Error>>, (PeerId, Outgoing)> {
    if core.watches_handlers() {
        // Inside a timeout body the send waits for its first poll: a peer's
        // handler message must be looked for (on every peer's stream) with
        // the task's own waker, never a no-op one that would replace it.
        return Err((peer, msg));
    }
    let mut cx = Context::from_waker(Waker::noop());
    match t.poll_ready(&mut cx, peer) {
        Poll::Ready(Ok(())) => Ok(push(core, t, peer, msg)
            .err()
            .map(|e| Box::new(send_failed(core, peer, label, e)))),
        Poll::Ready(Err(e)) => Ok(Some(Box::new(send_failed(core, peer, label, e)))),
        Poll::Pending => Err((peer, msg)),
    }
}

#[inline(always)]
fn op<A>(
    a: &mut A,
    label: Label,
    r: Result<Option<Box<Error>>, (PeerId, Outgoing)>,
) -> SendOp<'_, A> {
    SendOp {
        state: match r {
            Ok(done) => SendState::Done(done),
            Err((peer, msg)) => SendState::Waiting(Box::new(Waiting {
                a,
                peer,
                label,
                msg: Some(msg),
            })),
        },
    }
}

#[inline(always)]
fn start<A: Access>(a: &mut A, peer: PeerId, label: Label, msg: Outgoing) -> SendOp<'_, A> {
    let r = a.with(|core, t| try_now(core, t, peer, label, msg));
    op(a, label, r)
}

#[inline]
pub(crate) fn send<'a, A: Access, M: Serialize + ?Sized>(
    a: &'a mut A,
    to: RoleId,
    label: Label,
    payload: &M,
) -> SendOp<'a, A> {
    let r = a.with(|core, t| {
        let Some(peer) = core.other_peer_fast(to) else {
            return Ok(Some(Box::new(bad_peer(core, to))));
        };
        let payload = match core.payload(label, payload) {
            Ok(p) => p,
            Err(e) => return Ok(Some(Box::new(e))),
        };
        let msg = Outgoing::Bytes(core.message(label, payload));
        try_now(core, t, peer, label, msg)
    });
    op(a, label, r)
}

/// `send_owned`: the payload travels as a [`Value`] when the transport
/// carries values, and is encoded here otherwise.
#[inline(always)]
pub(crate) fn send_owned<A: Access, M: Serialize + Send + 'static>(
    a: &mut A,
    to: RoleId,
    label: Label,
    payload: M,
) -> SendOp<'_, A> {
    let r = a.with(|core, t| match owned_message(core, t, to, label, payload) {
        Ok((peer, msg)) => try_now(core, t, peer, label, msg),
        Err(e) => Ok(Some(e)),
    });
    op(a, label, r)
}

/// The message of a `send_owned`: the payload as a [`Value`] when the
/// transport carries values, encoded otherwise; with its peer.
#[inline(always)]
fn owned_message<T: Transport, M: Serialize + Send + 'static>(
    core: &mut Core,
    t: &mut T,
    to: RoleId,
    label: Label,
    payload: M,
) -> Result<(PeerId, Outgoing), Box<Error>> {
    let Some(peer) = core.other_peer_fast(to) else {
        return Err(Box::new(bad_peer(core, to)));
    };
    let msg = if t.carries_values() {
        Outgoing::Value(TypedMessage {
            label,
            phase: core.send_phase(),
            value: Value::new(payload),
        })
    } else {
        match core.payload(label, &payload) {
            Ok(p) => Outgoing::Bytes(core.message(label, p)),
            Err(e) => return Err(Box::new(e)),
        }
    };
    Ok((peer, msg))
}

/// A `send_owned` whose message is built but not handed over yet, holding
/// no borrow of the session: the typestates' named futures
/// ([`crate::typestate::SendFuture`]) own their endpoint and poll this with
/// it ([`poll_prepared`]). The message goes to the transport on the first
/// poll, as an `async` send's would.
pub(crate) enum Prepared {
    /// To hand to `peer` once its link is ready.
    Ready {
        peer: PeerId,
        label: Label,
        msg: Option<Outgoing>,
    },
    /// Building the message failed (the error is reported when polled).
    Failed(Option<Box<Error>>),
}

/// Builds a `send_owned`'s message (see [`Prepared`]).
#[inline(always)]
pub(crate) fn prepare_owned<A: Access, M: Serialize + Send + 'static>(
    a: &mut A,
    to: RoleId,
    label: Label,
    payload: M,
) -> Prepared {
    a.with(|core, t| match owned_message(core, t, to, label, payload) {
        Ok((peer, msg)) => Prepared::Ready {
            peer,
            label,
            msg: Some(msg),
        },
        Err(e) => Prepared::Failed(Some(e)),
    })
}

/// Polls a [`Prepared`] send on `a`, the session it was prepared on.
#[inline]
pub(crate) fn poll_prepared<A: Access>(
    a: &mut A,
    p: &mut Prepared,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    match p {
        Prepared::Ready { peer, label, msg } => {
            let (peer, label) = (*peer, *label);
            a.with(|core, t| {
                if msg.is_some() && core.watches_handlers() {
                    if let Some(e) = core.check_interrupt(t, cx) {
                        // The body is over: this send does not happen.
                        msg.take();
                        return Poll::Ready(Err(*e));
                    }
                }
                poll_send(core, t, cx, peer, label, msg)
            })
        }
        Prepared::Failed(e) => Poll::Ready(match e.take() {
            Some(e) => Err(*e),
            None => Err(Error::Usage(UsageError::PolledAfterCompletion)),
        }),
    }
}

impl<A: Access> Future for SendOp<'_, A> {
    type Output = Result<(), Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            SendState::Done(e) => Poll::Ready(match e.take() {
                None => Ok(()),
                Some(e) => Err(*e),
            }),
            SendState::Waiting(w) => poll_waiting(w, cx),
        }
    }
}

#[inline(never)]
fn poll_waiting<A: Access>(
    w: &mut Waiting<'_, A>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    let (peer, label, msg) = (w.peer, w.label, &mut w.msg);
    w.a.with(|core, t| {
        if msg.is_some() && core.watches_handlers() {
            if let Some(e) = core.check_interrupt(t, cx) {
                // The body is over: this send does not happen.
                msg.take();
                return Poll::Ready(Err(*e));
            }
        }
        poll_send(core, t, cx, peer, label, msg)
    })
}

#[inline]
fn poll_send<T: Transport>(
    core: &mut Core,
    t: &mut T,
    cx: &mut Context<'_>,
    peer: PeerId,
    label: Label,
    msg: &mut Option<Outgoing>,
) -> Poll<Result<(), Error>> {
    match t.poll_ready(cx, peer) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(e)) => Poll::Ready(Err(send_failed(core, peer, label, e))),
        Poll::Ready(Ok(())) => match msg.take() {
            Some(m) => {
                Poll::Ready(push(core, t, peer, m).map_err(|e| send_failed(core, peer, label, e)))
            }
            None => Poll::Ready(Ok(())),
        },
    }
}

/// How a receive turns a payload into an `M`.
pub(crate) trait Extract<M> {
    fn extract(protocol: &ProtocolInfo, from: RoleId, label: Label, body: Body)
        -> Result<M, Error>;
    fn take(protocol: &ProtocolInfo, from: RoleId, label: Label, value: Value) -> Result<M, Error>;
    fn decode(
        protocol: &ProtocolInfo,
        from: RoleId,
        label: Label,
        payload: &Payload,
    ) -> Result<M, Error> {
        Self::extract(protocol, from, label, Body::Bytes(payload.clone()))
    }
}

/// Decode through postcard (`recv`).
pub(crate) struct Decode;

impl<M: DeserializeOwned> Extract<M> for Decode {
    #[inline(always)]
    fn extract(
        protocol: &ProtocolInfo,
        from: RoleId,
        label: Label,
        body: Body,
    ) -> Result<M, Error> {
        decode_body(protocol, from, label, &body)
    }
    #[inline(always)]
    fn take(protocol: &ProtocolInfo, from: RoleId, label: Label, value: Value) -> Result<M, Error> {
        decode_body(protocol, from, label, &Body::Value(value))
    }
    #[inline(always)]
    fn decode(
        protocol: &ProtocolInfo,
        from: RoleId,
        label: Label,
        payload: &Payload,
    ) -> Result<M, Error> {
        decode_payload(protocol, from, label, payload)
    }
}

/// Move a value payload out (`recv_owned`).
pub(crate) struct Take;

impl<M: DeserializeOwned + 'static> Extract<M> for Take {
    #[inline(always)]
    fn extract(
        protocol: &ProtocolInfo,
        from: RoleId,
        label: Label,
        body: Body,
    ) -> Result<M, Error> {
        take_body(protocol, from, label, body)
    }
    #[inline(always)]
    fn take(protocol: &ProtocolInfo, from: RoleId, label: Label, value: Value) -> Result<M, Error> {
        take_body(protocol, from, label, Body::Value(value))
    }
    #[inline(always)]
    fn decode(
        protocol: &ProtocolInfo,
        from: RoleId,
        label: Label,
        payload: &Payload,
    ) -> Result<M, Error> {
        decode_payload(protocol, from, label, payload)
    }
}

/// `recv` as a hand-written future.
/// Small: the session handle, the sender, its peer number (`None` if the
/// sender is not a valid peer; the poll reports why) and the label.
pub(crate) struct RecvOp<'a, A, M, X = Decode> {
    a: &'a mut A,
    from: RoleId,
    peer: Option<PeerId>,
    label: Label,
    _out: PhantomData<fn() -> (M, X)>,
}

#[inline]
pub(crate) fn recv<A: Access, M, X: Extract<M>>(
    a: &mut A,
    from: RoleId,
    label: Label,
) -> RecvOp<'_, A, M, X> {
    let peer = recv_peer(a, from);
    RecvOp {
        a,
        from,
        peer,
        label,
        _out: PhantomData,
    }
}

/// The peer number of `from` for a receive (`None` if `from` is not a
/// valid peer: the poll reports why).
#[inline(always)]
pub(crate) fn recv_peer<A: Access>(a: &mut A, from: RoleId) -> Option<PeerId> {
    a.with(|core, _| core.other_peer_fast(from))
}

impl<A: Access, M, X: Extract<M>> Future for RecvOp<'_, A, M, X> {
    type Output = Result<M, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_recv::<A, M, X>(this.a, cx, this.from, this.peer, this.label)
    }
}

/// One poll of a receive of `label` from `from` (`peer`: its
/// [`recv_peer`]) on `a`: [`RecvOp`]'s poll, and the typestates' named
/// receive futures' ([`crate::typestate::RecvFuture`]).
#[inline]
pub(crate) fn poll_recv<A: Access, M, X: Extract<M>>(
    a: &mut A,
    cx: &mut Context<'_>,
    from: RoleId,
    peer: Option<PeerId>,
    label: Label,
) -> Poll<Result<M, Error>> {
    a.with(|core, t| {
        let Some(peer) = peer else {
            return Poll::Ready(Err(bad_peer(core, from)));
        };
        // Fast path: a session-bound frame of the current phase with the
        // expected label and no stragglers pending; everything else goes
        // through the general (out-of-line) validation.
        let frame =
            std::task::ready!(core.poll_wait_frame(t, cx, peer, &[label])).map_err(|e| *e)?;
        let fast = core.pending_skips == 0;
        let protocol = core.protocol;
        match frame {
            Frame::Typed(m) if fast && m.label == label && m.phase == core.phase => {
                Poll::Ready(X::take(protocol, from, label, m.value))
            }
            Frame::Message(m) if fast && m.label == label && m.phase == core.phase => {
                Poll::Ready(X::decode(protocol, from, label, &m.payload))
            }
            frame => match recv_slow(core, t, cx, peer, frame, &[label]) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(*e)),
                Poll::Ready(Ok((_, msg))) => {
                    Poll::Ready(X::extract(protocol, from, msg.label, msg.body))
                }
            },
        }
    })
}

#[cold]
#[inline(never)]
fn bad_peer(core: &Core, from: RoleId) -> Error {
    match core.other_peer(from) {
        Err(e) => e,
        Ok(_) => Error::Usage(UsageError::PolledAfterCompletion),
    }
}

/// Classify a frame off the fast path, then poll on (a discarded frame is
/// followed by the next one).
#[inline(never)]
fn recv_slow<T: Transport>(
    core: &mut Core,
    t: &mut T,
    cx: &mut Context<'_>,
    peer: PeerId,
    frame: Frame,
    labels: &[Label],
) -> Poll<Result<(usize, Incoming), Box<Error>>> {
    match core.classify(peer, frame, labels) {
        Verdict::Deliver(i, msg) => Poll::Ready(Ok((i, msg))),
        Verdict::Discard => poll_next(core, t, cx, peer, labels),
        Verdict::Violation(e) => Poll::Ready(Err(e)),
    }
}

/// `recv_branch` as a hand-written future: like [`RecvOp`], a
/// session-bound frame of the current phase with one of the offered labels
/// and no stragglers pending is delivered on a short path; everything else
/// goes through the general validation.
pub(crate) struct RecvBranchOp<'a, A> {
    a: &'a mut A,
    from: RoleId,
    peer: Option<PeerId>,
    labels: &'a [Label],
}

#[inline]
pub(crate) fn recv_branch<'a, A: Access>(
    a: &'a mut A,
    from: RoleId,
    labels: &'a [Label],
) -> RecvBranchOp<'a, A> {
    let peer = a.with(|core, _| core.other_peer_fast(from));
    RecvBranchOp {
        a,
        from,
        peer,
        labels,
    }
}

/// Position of `label` in `labels`, or `labels.len()` if it is not there.
#[inline(always)]
fn offered(labels: &[Label], label: Label) -> usize {
    labels
        .iter()
        .position(|l| *l == label)
        .unwrap_or(labels.len())
}

impl<A: Access> Future for RecvBranchOp<'_, A> {
    type Output = Result<Branch, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (from, labels, peer) = (this.from, this.labels, this.peer);
        this.a.with(|core, t| {
            let Some(peer) = peer else {
                return Poll::Ready(Err(bad_peer(core, from)));
            };
            let frame =
                std::task::ready!(core.poll_wait_frame(t, cx, peer, labels)).map_err(|e| *e)?;
            let fast = core.pending_skips == 0;
            let (phase, protocol) = (core.phase, core.protocol);
            let branch = |index, label, body| Branch {
                index,
                label,
                from,
                body,
                protocol,
            };
            match frame {
                Frame::Typed(m)
                    if fast && m.phase == phase && offered(labels, m.label) < labels.len() =>
                {
                    let index = offered(labels, m.label);
                    Poll::Ready(Ok(branch(index, m.label, Body::Value(m.value))))
                }
                Frame::Message(m)
                    if fast && m.phase == phase && offered(labels, m.label) < labels.len() =>
                {
                    let index = offered(labels, m.label);
                    Poll::Ready(Ok(branch(index, m.label, Body::Bytes(m.payload))))
                }
                frame => match recv_slow(core, t, cx, peer, frame, labels) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(*e)),
                    Poll::Ready(Ok((index, msg))) => {
                        Poll::Ready(Ok(branch(index, msg.label, msg.body)))
                    }
                },
            }
        })
    }
}

pub(crate) async fn send_all<A: Access, M: Serialize + ?Sized>(
    a: &mut A,
    family: Role,
    label: Label,
    payload: &M,
) -> Result<(), Error> {
    let (peers, msg) = a.with(|core, _| -> Result<_, Error> {
        let payload = core.payload(label, payload)?;
        Ok((core.others_in(family)?, core.message(label, payload)))
    })?;
    for (_, peer) in peers {
        deliver(a, peer, msg.clone()).await?;
    }
    Ok(())
}

pub(crate) async fn send_each<A: Access, M: Serialize>(
    a: &mut A,
    family: Role,
    label: Label,
    mut value: impl FnMut(u32) -> M,
) -> Result<(), Error> {
    let peers = a.with(|core, _| core.others_in(family))?;
    for (index, peer) in peers {
        let msg = a.with(|core, _| -> Result<_, Error> {
            Ok(core.message(label, core.payload(label, &value(index))?))
        })?;
        deliver(a, peer, msg).await?;
    }
    Ok(())
}

pub(crate) async fn recv_all<A: Access, M: DeserializeOwned>(
    a: &mut A,
    family: Role,
    label: Label,
    quorum: Option<usize>,
) -> Result<Vec<(u32, M)>, Error> {
    let senders = a.with(|core, _| core.others_in(family))?;
    let need = match quorum {
        None => senders.len(),
        Some(q) if (1..=senders.len()).contains(&q) => q,
        Some(q) => {
            return Err(UsageError::QuorumOutOfRange {
                quorum: q,
                max: senders.len(),
            }
            .into())
        }
    };
    gather(a, family, senders, label, need, quorum.is_some()).await
}

pub(crate) async fn exchange<A: Access, M: Serialize + DeserializeOwned>(
    a: &mut A,
    family: Role,
    label: Label,
    mut value: impl FnMut(u32) -> M,
    quorum: Option<usize>,
) -> Result<Vec<(u32, M)>, Error> {
    let (own_index, need) = a.with(|core, _| exchange_plan(core, family, quorum))?;
    let own = value(own_index);
    send_each(a, family, label, &mut value).await?;
    gather_exchange(a, family, label, (own_index, own), need, quorum.is_some()).await
}

/// The receiving half of an exchange: the other members' values (`need`
/// in all, own included) with `own` put among them in index order.
pub(crate) async fn gather_exchange<A: Access, M: DeserializeOwned>(
    a: &mut A,
    family: Role,
    label: Label,
    (own_index, own): (u32, M),
    need: usize,
    tolerate_closed: bool,
) -> Result<Vec<(u32, M)>, Error> {
    let senders = a.with(|core, _| core.others_in(family))?;
    let mut values = gather(
        a,
        family,
        senders,
        label,
        need.saturating_sub(1),
        tolerate_closed,
    )
    .await?;
    let at = values.partition_point(|(i, _)| *i < own_index);
    values.insert(at, (own_index, own));
    Ok(values)
}

/// An exchange's own index in `family` and how many values (own included)
/// it needs.
pub(crate) fn exchange_plan(
    core: &Core,
    family: Role,
    quorum: Option<usize>,
) -> Result<(u32, usize), Error> {
    let size = core.family_size(family)? as usize;
    let own_index = match core.me.index {
        Some(i) if core.me.role == family => i,
        _ => {
            return Err(UsageError::NotAMember {
                me: core.name(core.me),
                family: core.protocol.family_name(family),
            }
            .into())
        }
    };
    let need = match quorum {
        None => size,
        Some(q) if (1..=size).contains(&q) => q,
        Some(q) => {
            return Err(UsageError::QuorumOutOfRange {
                quorum: q,
                max: size,
            }
            .into())
        }
    };
    Ok((own_index, need))
}

pub(crate) async fn gather<A: Access, M: DeserializeOwned>(
    a: &mut A,
    family: Role,
    mut pending: Vec<(u32, PeerId)>,
    label: Label,
    need: usize,
    tolerate_closed: bool,
) -> Result<Vec<(u32, M)>, Error> {
    let labels = [label];
    let mut got: Vec<(u32, M)> = Vec::with_capacity(need);
    if need > 0 {
        poll_fn(|cx| {
            a.with(|core, transport| {
                let mut i = 0;
                while let Some(&(index, peer)) = pending.get(i) {
                    match poll_next(core, transport, cx, peer, &labels) {
                        Poll::Pending => i += 1,
                        Poll::Ready(Ok((_, msg))) => {
                            pending.swap_remove(i);
                            let from = RoleId::member(family, index);
                            match decode_body(core.protocol, from, label, &msg.body) {
                                Ok(v) => got.push((index, v)),
                                Err(e) => return Poll::Ready(Err(e)),
                            }
                            if got.len() >= need {
                                return Poll::Ready(Ok(()));
                            }
                        }
                        Poll::Ready(Err(e))
                            if tolerate_closed
                                && matches!(
                                    *e,
                                    Error::Transport { .. }
                                        | Error::Interrupted(Interrupt::PeerGone { .. })
                                ) =>
                        {
                            pending.swap_remove(i);
                            tracing::warn!(error = %e, "quorum gather continues without a closed peer");
                            if got.len() + pending.len() < need {
                                return Poll::Ready(Err(*e));
                            }
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(*e)),
                    }
                }
                if !core.watches_handlers() {
                    Poll::Pending
                } else {
                    core.poll_interrupt(transport, cx).map(|e| Err(*e))
                }
            })
        })
        .await?;
    }
    a.with(|core, _| {
        let phase = core.phase;
        for (_, peer) in pending {
            if let Some(queue) = core.skips.get_mut(peer.as_usize()) {
                queue.push_back((label, phase));
                core.pending_skips += 1;
            }
        }
    });
    got.sort_unstable_by_key(|(i, _)| *i);
    Ok(got)
}
