//! Sessions: the operations generated endpoints call.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::{Envelope, Frame, Header, Message, Payload};
use crate::error::{Error, Interrupt, TransportError, UsageError};
use crate::ids::{short_hex, Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
use crate::ops;
use crate::par::ParScope;
use crate::roster::{RoleShape, Roster};
use crate::time::Time;
use crate::transport::Transport;
use crate::value::Value;

/// What [`Session::new`] needs besides the transport.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Fresh per run; all participants use the same id.
    pub id: SessionId,
    /// The protocol descriptor emitted by the code generator.
    pub protocol: &'static ProtocolInfo,
    /// The local role instance.
    pub me: RoleId,
    /// All role instances of the session (same on every participant).
    pub roster: Roster,
}

/// One participant's live run of a protocol.
///
/// A `Session` is a small handle (one pointer), so generated typestates can
/// move it from state to state for free. It must end with
/// [`finish`](Self::finish); dropping it earlier logs a warning via
/// `tracing` and closes the transport, so peers waiting on it get
/// [`Error::Transport`] instead of hanging.
#[derive(Debug)]
pub struct Session<T: Transport> {
    inner: Box<Inner<T>>,
}

#[derive(Debug)]
pub(crate) struct Inner<T> {
    pub(crate) core: Core,
    pub(crate) transport: T,
    finished: bool,
}

/// The transport-free part of a session: identity, roster, phase, and the
/// validation of incoming frames. Pure and deterministic (sans-I/O).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) id: SessionId,
    /// Session id, fingerprint and local sender, as sent in envelopes.
    pub(crate) header: Header,
    pub(crate) protocol: &'static ProtocolInfo,
    pub(crate) me: RoleId,
    pub(crate) me_peer: PeerId,
    pub(crate) roster: Roster,
    pub(crate) phase: u32,
    /// Per peer: late quorum messages still to be discarded, as
    /// (label, phase), oldest first.
    pub(crate) skips: Vec<VecDeque<(Label, u32)>>,
    /// Total length of `skips`, so the common case checks one integer.
    pub(crate) pending_skips: usize,
    /// Timeout instances entered so far (instance `k` runs its body in
    /// phase `2k - 1` and its handler in phase `2k`).
    pub(crate) timeouts: u32,
    /// The timeout bodies this endpoint is inside, innermost last.
    pub(crate) bodies: Vec<ActiveBody>,
    /// Messages of an abandoned phase (a timeout body this endpoint left)
    /// that arrived afterwards and were dropped, never delivered.
    pub(crate) late_dropped: u64,
    /// Per peer: frames taken from the transport ahead of the local type
    /// (looking for a peer's handler message while inside a timeout body,
    /// or the handler message that interrupted the body), read before the
    /// transport's ([`crate::phase`]).
    pub(crate) held: Vec<VecDeque<Frame>>,
    /// Total length of `held`, so the common case checks one integer.
    pub(crate) held_total: usize,
    /// Body phases of the timeout instances whose body this endpoint
    /// completed (most recent last, at most a few): a peer may still start
    /// their handlers ([`Session::linger`]).
    pub(crate) finished: Vec<u32>,
    /// Why the last timeout body this endpoint left early ended.
    pub(crate) interrupt: Option<Interrupt>,
    /// The timeout instance this endpoint completed last, while it has
    /// done nothing since but enter the next body: a peer's handler message
    /// of that instance still takes it back there
    /// ([`crate::phase`], looped timeouts).
    pub(crate) rewind: Option<Rewind>,
    /// Set when this endpoint sends (or a frame is read) after `rewind` was
    /// recorded: it acted in the next body, which can no longer be undone.
    pub(crate) acted: std::sync::atomic::AtomicBool,
}

/// Where an endpoint stood when it completed a timeout body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rewind {
    /// The completed instance's body phase (`2k - 1`).
    pub(crate) body: u32,
    /// Bodies still open around it.
    pub(crate) depth: usize,
    /// Its `timeout` statement ([`Session::start_body_at`]).
    pub(crate) site: u32,
}

/// A timeout body in progress: its deadline on the transport's clock and
/// its phase.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActiveBody {
    pub(crate) deadline: Time,
    pub(crate) phase: u32,
    /// Which `timeout` statement ([`Session::start_body_at`]).
    pub(crate) site: u32,
}

/// The result of [`Session::recv_branch`]: which of the offered labels
/// arrived, and its still-encoded payload.
#[derive(Debug)]
#[must_use = "a received branch must be decoded and acted on"]
pub struct Branch {
    /// Position of the label in the slice passed to `recv_branch`.
    pub index: usize,
    /// The label that arrived.
    pub label: Label,
    pub(crate) from: RoleId,
    pub(crate) body: Body,
    pub(crate) protocol: &'static ProtocolInfo,
}

impl Branch {
    /// Decode the payload as `M`. A payload that is not an `M` is a
    /// [`Error::ProtocolViolation`] by the sender.
    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, Error> {
        decode_body(self.protocol, self.from, self.label, &self.body)
    }

    /// Like [`decode`](Self::decode), consuming the branch: a payload the
    /// sender passed as a value ([`Session::send_owned`] over an in-memory
    /// link) is moved out without encoding. Use it after
    /// [`Session::recv_branch`] in generated code.
    #[inline]
    pub fn take<M: DeserializeOwned + 'static>(self) -> Result<M, Error> {
        take_body(self.protocol, self.from, self.label, self.body)
    }

    /// The error generated code returns from an impossible `match` arm on
    /// [`Branch::index`] (never produced by a correct runtime).
    pub fn unexpected(&self) -> Error {
        Error::ProtocolViolation {
            role: self.protocol.role_name(self.from),
            expected: "a branch offered by the local type".to_owned(),
            got: format!("label {}", self.protocol.label_name(self.label)),
        }
    }
}

/// A delivered message: label, phase, and its payload as bytes or as a
/// value.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) label: Label,
    pub(crate) phase: u32,
    pub(crate) body: Body,
}

/// A received payload.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Payload),
    Value(Value),
}

impl From<Message> for Incoming {
    #[inline]
    fn from(m: Message) -> Self {
        Self {
            label: m.label,
            phase: m.phase,
            body: Body::Bytes(m.payload),
        }
    }
}

/// Decode a payload as `M` (a value payload is encoded first).
#[inline(always)]
pub(crate) fn decode_body<M: DeserializeOwned>(
    protocol: &ProtocolInfo,
    from: RoleId,
    label: Label,
    body: &Body,
) -> Result<M, Error> {
    match body {
        Body::Bytes(p) => decode_payload(protocol, from, label, p),
        Body::Value(v) => v
            .decode::<M>()
            .map_err(|e| bad_payload(protocol, from, label, std::any::type_name::<M>(), e)),
    }
}

/// Take a payload as `M`: moved out if it is a value of type `M`.
#[inline(always)]
pub(crate) fn take_body<M: DeserializeOwned + 'static>(
    protocol: &ProtocolInfo,
    from: RoleId,
    label: Label,
    body: Body,
) -> Result<M, Error> {
    match body {
        Body::Value(v) => v
            .take::<M>()
            .map_err(|e| bad_payload(protocol, from, label, std::any::type_name::<M>(), e)),
        Body::Bytes(p) => decode_payload(protocol, from, label, &p),
    }
}

pub(crate) enum Verdict {
    Deliver(usize, Incoming),
    Discard,
    Violation(Box<Error>),
}

#[inline(always)]
pub(crate) fn decode_payload<M: DeserializeOwned>(
    protocol: &ProtocolInfo,
    from: RoleId,
    label: Label,
    payload: &Payload,
) -> Result<M, Error> {
    payload
        .decode::<M>()
        .map_err(|e| bad_payload(protocol, from, label, std::any::type_name::<M>(), e))
}

#[cold]
#[inline(never)]
fn bad_payload(
    protocol: &ProtocolInfo,
    from: RoleId,
    label: Label,
    type_name: &str,
    e: crate::envelope::PayloadError,
) -> Error {
    Error::ProtocolViolation {
        role: protocol.role_name(from),
        expected: format!(
            "a payload of type {type_name} for label {}",
            protocol.label_name(label)
        ),
        got: e.to_string(),
    }
}

impl Core {
    pub(crate) fn name(&self, id: RoleId) -> String {
        self.protocol.role_name(id)
    }

    pub(crate) fn peer_name(&self, peer: PeerId) -> String {
        match self.roster.instance(peer) {
            Some(id) => self.name(id),
            None => format!("peer {}", peer.0),
        }
    }

    #[inline]
    pub(crate) fn peer(&self, id: RoleId) -> Result<PeerId, Error> {
        self.roster.peer(id).ok_or_else(|| {
            UsageError::UnknownRole {
                role: self.name(id),
            }
            .into()
        })
    }

    /// [`other_peer`](Self::other_peer) without building the error
    /// (`None`: ask `other_peer` why).
    #[inline(always)]
    pub(crate) fn other_peer_fast(&self, id: RoleId) -> Option<PeerId> {
        self.roster.peer(id).filter(|p| *p != self.me_peer)
    }

    #[inline]
    pub(crate) fn other_peer(&self, id: RoleId) -> Result<PeerId, Error> {
        let peer = self.peer(id)?;
        if peer == self.me_peer {
            return Err(UsageError::SelfSend {
                role: self.name(id),
            }
            .into());
        }
        Ok(peer)
    }

    /// `(index, peer)` of every member of `family` except the local one.
    pub(crate) fn others_in(&self, family: Role) -> Result<Vec<(u32, PeerId)>, Error> {
        let size = self.family_size(family)?;
        let mut out = Vec::with_capacity(size as usize);
        for i in 0..size {
            let id = RoleId::member(family, i);
            if id != self.me {
                out.push((i, self.peer(id)?));
            }
        }
        Ok(out)
    }

    pub(crate) fn family_size(&self, family: Role) -> Result<u32, Error> {
        match self.roster.shape(family) {
            Some(RoleShape::Family(n)) => Ok(n),
            Some(RoleShape::Single) => Err(UsageError::NotAFamily {
                role: self.protocol.family_name(family),
            }
            .into()),
            None => Err(UsageError::UnknownRole {
                role: self.protocol.family_name(family),
            }
            .into()),
        }
    }

    #[inline]
    pub(crate) fn payload<M: Serialize + ?Sized>(
        &self,
        label: Label,
        value: &M,
    ) -> Result<Payload, Error> {
        Payload::encode(value).map_err(|source| {
            UsageError::Encode {
                label: self.protocol.label_name(label),
                source,
            }
            .into()
        })
    }

    #[inline]
    pub(crate) fn message(&self, label: Label, payload: Payload) -> Message {
        Message {
            label,
            phase: self.send_phase(),
            payload,
        }
    }

    /// The phase of a message sent now. Sending is acting: a completed
    /// body can no longer be gone back to ([`Core::rewind`]).
    #[inline]
    pub(crate) fn send_phase(&self) -> u32 {
        if self.rewind.is_some() {
            self.acted.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.phase
    }

    pub(crate) fn violation(&self, peer: PeerId, expected: String, got: String) -> Error {
        Error::ProtocolViolation {
            role: self.peer_name(peer),
            expected,
            got,
        }
    }

    #[cold]
    #[inline(never)]
    /// `peer`'s stream ended while this endpoint waited for `labels`: a
    /// transport error, or, inside a timeout body, the end of the body
    /// ([`Interrupt::PeerGone`]), so the handler runs as it would at the
    /// deadline instead of the session failing.
    pub(crate) fn closed(
        &self,
        peer: PeerId,
        labels: &[Label],
        source: TransportError,
    ) -> Box<Error> {
        if !self.bodies.is_empty() {
            return Box::new(Error::Interrupted(Interrupt::PeerGone {
                from: self.peer_name(peer),
            }));
        }
        Box::new(self.transport_error(peer, self.expecting(labels), source))
    }

    #[cold]
    pub(crate) fn transport_error(
        &self,
        peer: PeerId,
        expected: String,
        source: TransportError,
    ) -> Error {
        Error::Transport {
            role: self.peer_name(peer),
            expected,
            source,
        }
    }

    pub(crate) fn expecting(&self, labels: &[Label]) -> String {
        self.protocol.label_set(labels)
    }

    /// The checks a link bound to the session makes unnecessary: session
    /// id, protocol fingerprint, and that the claimed sender is the peer the
    /// frame came from.
    pub(crate) fn check_header(&self, peer: PeerId, env: Envelope) -> Result<Message, Error> {
        let (header, msg) = env.into_parts();
        if header.session != self.id {
            return Err(self.violation(
                peer,
                format!("a message of session {}", self.id),
                format!("a message of session {}", header.session),
            ));
        }
        if header.fingerprint != self.protocol.fingerprint {
            return Err(self.violation(
                peer,
                format!(
                    "protocol {} (fingerprint {}…)",
                    self.protocol.name,
                    short_hex(&self.protocol.fingerprint)
                ),
                format!(
                    "fingerprint {}…: the peer runs another protocol or version",
                    short_hex(&header.fingerprint)
                ),
            ));
        }
        if self.roster.instance(peer) != Some(header.sender) {
            return Err(self.violation(
                peer,
                format!("an envelope sent by {}", self.peer_name(peer)),
                format!("an envelope claiming sender {}", self.name(header.sender)),
            ));
        }
        Ok(msg)
    }

    /// Validate one frame from `peer` against the labels the local type
    /// accepts now. Pure: no I/O, no clock. The common case (a session-bound
    /// message of the current phase, no stragglers pending from this peer,
    /// an expected label) stays on this short path; everything else goes
    /// to [`Core::classify_slow`].
    #[inline]
    pub(crate) fn classify(&mut self, peer: PeerId, frame: Frame, labels: &[Label]) -> Verdict {
        let msg = match frame {
            Frame::Message(msg) => Incoming::from(msg),
            Frame::Typed(t) => Incoming {
                label: t.label,
                phase: t.phase,
                body: Body::Value(t.value),
            },
            other => match self.open_frame(peer, other, labels) {
                Ok(msg) => Incoming::from(msg),
                Err(e) => return Verdict::Violation(e),
            },
        };
        if msg.phase != self.phase || self.pending_skips != 0 {
            return self.classify_slow(peer, msg, labels);
        }
        match labels.iter().position(|l| *l == msg.label) {
            Some(i) => Verdict::Deliver(i, msg),
            None => Verdict::Violation(self.wrong_label(peer, labels, &msg)),
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn open_frame(
        &self,
        peer: PeerId,
        frame: Frame,
        labels: &[Label],
    ) -> Result<Message, Box<Error>> {
        match frame {
            Frame::Message(msg) => Ok(msg),
            Frame::Typed(t) => t
                .encode()
                .map_err(|e| Box::new(self.violation(peer, self.expecting(labels), e.to_string()))),
            Frame::Envelope(env) => self.check_header(peer, *env).map_err(Box::new),
            Frame::Encoded(bytes) => match Envelope::decode(&bytes) {
                Ok(env) => self.check_header(peer, env).map_err(Box::new),
                Err(e) => Err(Box::new(self.violation(
                    peer,
                    format!("a well-formed envelope with {}", self.expecting(labels)),
                    e.to_string(),
                ))),
            },
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn wrong_label(&self, peer: PeerId, labels: &[Label], msg: &Incoming) -> Box<Error> {
        Box::new(self.violation(
            peer,
            self.expecting(labels),
            format!("label {}", self.protocol.label_name(msg.label)),
        ))
    }

    /// Phases and quorum stragglers.
    #[cold]
    #[inline(never)]
    pub(crate) fn classify_slow(
        &mut self,
        peer: PeerId,
        msg: Incoming,
        labels: &[Label],
    ) -> Verdict {
        if msg.phase != self.phase && self.interrupts(msg.phase) {
            // A peer started the handler of a body this endpoint is in: the
            // message waits for the handler, the body's operation ends.
            return Verdict::Violation(self.interrupted_by_handler(peer, msg));
        }
        if self.rewinds(msg.phase) {
            // The handler of the instance this endpoint completed just
            // before entering the body it is in, and it has done nothing
            // there yet: run that handler instead (looped timeouts).
            self.rewind_body();
            return Verdict::Violation(self.interrupted_by_handler(peer, msg));
        }
        if msg.phase < self.phase || self.answers_finished(msg.phase) {
            tracing::debug!(from = %self.peer_name(peer), phase = msg.phase, "dropping message of an abandoned phase");
            self.late_dropped = self.late_dropped.saturating_add(1);
            return Verdict::Discard;
        }
        if let Some(queue) = self.skips.get_mut(peer.as_usize()) {
            while let Some(&(label, phase)) = queue.front() {
                if phase < msg.phase {
                    // The peer moved on without sending it.
                    queue.pop_front();
                    self.pending_skips = self.pending_skips.saturating_sub(1);
                } else if (label, phase) == (msg.label, msg.phase) {
                    queue.pop_front();
                    self.pending_skips = self.pending_skips.saturating_sub(1);
                    tracing::trace!(from = ?peer, ?label, "dropping late quorum message");
                    return Verdict::Discard;
                } else {
                    break;
                }
            }
        }
        if msg.phase > self.phase {
            return Verdict::Violation(Box::new(self.violation(
                peer,
                format!("{} in phase {}", self.expecting(labels), self.phase),
                format!(
                    "label {} in phase {}",
                    self.protocol.label_name(msg.label),
                    msg.phase
                ),
            )));
        }
        match labels.iter().position(|l| *l == msg.label) {
            Some(i) => Verdict::Deliver(i, msg),
            None => Verdict::Violation(self.wrong_label(peer, labels, &msg)),
        }
    }
}

/// Poll `peer`'s stream until a frame is delivered, fails, or nothing is
/// ready. Discarded frames (late quorum messages, abandoned phases) are
/// skipped here.
#[inline]
pub(crate) fn poll_next<T: Transport>(
    core: &mut Core,
    transport: &mut T,
    cx: &mut Context<'_>,
    peer: PeerId,
    labels: &[Label],
) -> Poll<Result<(usize, Incoming), Box<Error>>> {
    loop {
        let frame = match core.poll_frame(transport, cx, peer) {
            Poll::Pending if core.bodies.is_empty() => return Poll::Pending,
            Poll::Pending => return core.poll_interrupt(transport, cx).map(Err),
            Poll::Ready(Ok(frame)) => frame,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(core.closed(peer, labels, e))),
        };
        match core.classify(peer, frame, labels) {
            Verdict::Deliver(i, msg) => return Poll::Ready(Ok((i, msg))),
            Verdict::Discard => continue,
            Verdict::Violation(e) => return Poll::Ready(Err(e)),
        }
    }
}

impl<T: Transport> Session<T> {
    /// Open a session. Checks that the roster fits the protocol (one shape
    /// per role), that `me` is in it, and that the transport has one peer
    /// per instance with `me` at its position.
    pub fn new(config: SessionConfig, transport: T) -> Result<Self, Error> {
        let SessionConfig {
            id,
            protocol,
            me,
            roster,
        } = config;
        if roster.role_count() != protocol.roles.len() {
            return Err(UsageError::RosterMismatch(format!(
                "protocol {} has {} roles, the roster {}",
                protocol.name,
                protocol.roles.len(),
                roster.role_count()
            ))
            .into());
        }
        let me_peer = roster.peer(me).ok_or_else(|| UsageError::UnknownRole {
            role: protocol.role_name(me),
        })?;
        if transport.peer_count() != roster.len() || transport.local() != me_peer {
            return Err(UsageError::RosterMismatch(format!(
                "the roster has {} instances with {} at position {}, the transport {} peers with itself at {}",
                roster.len(),
                protocol.role_name(me),
                me_peer.0,
                transport.peer_count(),
                transport.local().0
            ))
            .into());
        }
        let skips = (0..roster.len()).map(|_| VecDeque::new()).collect();
        let held = (0..roster.len()).map(|_| VecDeque::new()).collect();
        Ok(Self {
            inner: Box::new(Inner {
                core: Core {
                    id,
                    header: Header {
                        session: id,
                        fingerprint: protocol.fingerprint,
                        sender: me,
                    },
                    protocol,
                    me,
                    me_peer,
                    roster,
                    phase: 0,
                    skips,
                    pending_skips: 0,
                    timeouts: 0,
                    bodies: Vec::new(),
                    late_dropped: 0,
                    held,
                    held_total: 0,
                    finished: Vec::new(),
                    interrupt: None,
                    rewind: None,
                    acted: std::sync::atomic::AtomicBool::new(false),
                },
                transport,
                finished: false,
            }),
        })
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.inner.core.id
    }

    /// The local role instance.
    pub fn me(&self) -> RoleId {
        self.inner.core.me
    }

    /// The protocol descriptor.
    pub fn protocol(&self) -> &'static ProtocolInfo {
        self.inner.core.protocol
    }

    /// The roster.
    pub fn roster(&self) -> &Roster {
        &self.inner.core.roster
    }

    /// Size of a family (for index arithmetic such as `W[i+1]` modulo the
    /// size). [`UsageError::NotAFamily`] for a single role.
    pub fn family_size(&self, family: Role) -> Result<u32, Error> {
        self.inner.core.family_size(family)
    }

    /// The current timeout phase (0 until a timeout handler is entered).
    pub fn phase(&self) -> u32 {
        self.inner.core.phase
    }

    /// How many messages of a phase this endpoint had already left (a
    /// timeout body it abandoned) arrived afterwards and were dropped.
    /// They are never delivered, to the handler or anything after it.
    pub fn late_messages_dropped(&self) -> u64 {
        self.inner.core.late_dropped
    }

    /// Enter timeout phase `phase` (must not go backwards; a smaller value
    /// is ignored). From now on, messages of earlier phases are dropped as
    /// late, and sends carry the new phase.
    pub fn enter_phase(&mut self, phase: u32) {
        let core = &mut self.inner.core;
        core.phase = core.phase.max(phase);
    }

    /// Now, on the transport's clock (virtual time in the simulator).
    pub fn now(&self) -> Time {
        self.inner.transport.now()
    }

    /// Enter a `timeout` body whose deadline is `duration` from now (on
    /// the transport's clock): a new timeout instance, whose body phase
    /// this endpoint's messages carry from now on. Until
    /// [`end_body`](Self::end_body) or [`start_handler`](Self::start_handler),
    /// an operation that would wait past the deadline returns
    /// [`Error::Interrupted`] instead, and so does a send after it.
    pub fn start_body(&mut self, duration: std::time::Duration) {
        self.start_body_at(duration, 0);
    }

    /// [`start_body`](Self::start_body) of the `timeout` statement `site`
    /// (any number that tells this role's `timeout` statements apart;
    /// generated code passes the statement's state number). A peer's
    /// handler message of the instance completed just before only undoes
    /// an untouched body of the same statement (a looped timeout's next
    /// iteration, [`crate::phase`]); `start_body` is site 0.
    pub fn start_body_at(&mut self, duration: std::time::Duration, site: u32) {
        let deadline = self.now() + duration;
        let core = &mut self.inner.core;
        core.timeouts = core.timeouts.saturating_add(1);
        core.phase = core
            .phase
            .max(core.timeouts.saturating_mul(2).saturating_sub(1));
        core.bodies.push(ActiveBody {
            deadline,
            phase: core.phase,
            site,
        });
    }

    /// This endpoint finished its part of the innermost timeout body. A
    /// peer may still start that timeout's handler: [`linger`](Self::linger)
    /// waits for that (or for the session to close).
    pub fn end_body(&mut self) {
        self.inner.core.end_body();
    }

    /// Abandon the innermost timeout body at once ([`Interrupt::Abandoned`]),
    /// as if its deadline had passed now, and enter its handler's phase.
    pub fn abandon_body(&mut self) {
        self.inner.core.interrupt = Some(Interrupt::Abandoned);
        self.start_handler();
    }

    /// Why the last timeout body this endpoint left early ended: its
    /// deadline, a peer's handler message (naming the peer), or
    /// [`abandon_body`](Self::abandon_body). `None` until a body is left
    /// early.
    pub fn interrupted_by(&self) -> Option<&Interrupt> {
        self.inner.core.interrupt.as_ref()
    }

    /// After this endpoint completed its part of a timeout body and has
    /// nothing else to do: wait until a peer starts that timeout's handler
    /// (`Some(peer role)`: this endpoint is now in the handler's phase and
    /// the peer's handler message waits for the handler's first receive),
    /// until every peer has closed its side, or until `patience` has passed
    /// on the session's clock (`None`: nobody needs the handler; call
    /// [`finish`](Self::finish)). Without a completed body, `None` at once.
    pub fn linger(
        &mut self,
        patience: std::time::Duration,
    ) -> impl Future<Output = Result<Option<RoleId>, Error>> + Send + use<'_, T> {
        let deadline = self.now() + patience;
        let inner = &mut *self.inner;
        std::future::poll_fn(move |cx| inner.core.poll_linger(&mut inner.transport, cx, deadline))
    }

    /// Abandon the innermost timeout body and enter its handler's phase:
    /// the body's late messages are dropped from now on, and sends carry
    /// the handler's phase.
    pub fn start_handler(&mut self) {
        let core = &mut self.inner.core;
        core.rewind = None;
        if let Some(body) = core.bodies.pop() {
            core.phase = core.phase.max(body.phase.saturating_add(1));
        }
    }

    /// The typed lanes of this endpoint ([`crate::lane`]), if its network
    /// has them and no typestate has taken them yet. Generated code calls
    /// this when it opens an endpoint.
    #[inline]
    pub fn take_lanes(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.inner.transport.take_lanes()
    }

    /// Give lanes back to the session (generated `into_handoff`), so the
    /// endpoint's next holder takes them.
    pub fn put_lanes(&mut self, lanes: Box<dyn std::any::Any + Send>) {
        self.inner.transport.put_lanes(lanes);
    }

    /// The transport (for transport-specific controls such as fault
    /// injection in tests).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.inner.transport
    }

    /// The endpoint moved to another holder (a handoff): drop it without
    /// the warning of an endpoint dropped mid-protocol.
    pub(crate) fn dismiss(mut self) {
        self.inner.finished = true;
    }

    /// Core and transport, for operations written outside this module
    /// (the guarded sends).
    pub(crate) fn inner_mut(&mut self) -> &mut Inner<T> {
        &mut self.inner
    }

    /// Run `par` branches: returns a scope whose [`ParScope::branch`]
    /// handles each act on this session concurrently (use them inside
    /// [`join`](crate::join)/[`try_join`](crate::try_join)). The branches of a
    /// `par` never share an ordered pair of role instances, so each peer's
    /// queue is read by one branch only.
    pub fn par(&mut self) -> ParScope<'_, T> {
        ParScope::new(&mut self.inner)
    }

    /// `A -> B : L(T)` on the sender's side. Also the chooser's `select`:
    /// the label of a branch's first message identifies the branch.
    #[inline]
    pub fn send<M: Serialize + ?Sized>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: &M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, T, M> {
        ops::send(&mut *self.inner, to, label, payload)
    }

    /// `A -> B : L(T)` on the receiver's side: the next message from `from`
    /// must carry `label` and a `M` payload.
    #[inline]
    pub fn recv<M: DeserializeOwned>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, T, M> {
        ops::recv::<_, M, ops::Decode>(&mut *self.inner, from, label)
    }

    /// [`send`](Self::send) taking the payload by value. Over a transport
    /// that [carries values](Transport::carries_values) (the in-memory one)
    /// the value itself travels — no serialization; otherwise it is encoded
    /// as `send` does. Generated code prefers this form.
    #[inline]
    pub fn send_owned<M: Serialize + Send + 'static>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: M,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'_, T, M> {
        ops::send_owned(&mut *self.inner, to, label, payload)
    }

    /// [`recv`](Self::recv) for `'static` payload types: a payload the
    /// sender passed as a value ([`send_owned`](Self::send_owned) in
    /// memory) is moved out without decoding; if the sender passed another
    /// type, or bytes, it is decoded exactly as `recv` would. Generated code
    /// prefers this form.
    #[inline]
    pub fn recv_owned<M: DeserializeOwned + 'static>(
        &mut self,
        from: RoleId,
        label: Label,
    ) -> impl Future<Output = Result<M, Error>> + Send + use<'_, T, M> {
        ops::recv::<_, M, ops::Take>(&mut *self.inner, from, label)
    }

    /// `branch from { L1 => …, L2 => … }`: the next message from `from` must
    /// carry one of `labels`; returns which one (by position) with its
    /// undecoded payload. Decode with [`Branch::decode`].
    #[inline]
    pub fn recv_branch<'a>(
        &'a mut self,
        from: RoleId,
        labels: &'a [Label],
    ) -> impl Future<Output = Result<Branch, Error>> + Send + use<'a, T> {
        ops::recv_branch(&mut *self.inner, from, labels)
    }

    /// `A -> W[*] : L(T)` with one value for everybody: sends to every
    /// member of `family` (every *other* member if the local role is in
    /// it). The payload is encoded once.
    pub async fn send_all<M: Serialize + ?Sized>(
        &mut self,
        family: Role,
        label: Label,
        payload: &M,
    ) -> Result<(), Error> {
        ops::send_all(&mut *self.inner, family, label, payload).await
    }

    /// `A -> W[*] : L(T)` with a value per recipient: `value(i)` is sent to
    /// `family[i]`, for every member except the local one. Called in index
    /// order.
    pub async fn send_each<M: Serialize>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
    ) -> Result<(), Error> {
        ops::send_each(&mut *self.inner, family, label, value).await
    }

    /// `W[*] -> A : L(T) [quorum q]`: receive `label` from every member of
    /// `family` (except the local one), in any arrival order.
    ///
    /// With `quorum: Some(q)` (1 ≤ q ≤ number of senders) it returns once
    /// `q` values arrived; the stragglers' messages of this gather are
    /// discarded by the runtime when they come (matched by sender, label
    /// and phase, FIFO per sender), so they are never mistaken for a later
    /// message. In quorum mode a sender whose connection closes is tolerated
    /// while `q` remains reachable. A protocol violation by any sender is
    /// returned at once.
    ///
    /// The result is sorted by member index.
    pub async fn recv_all<M: DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::recv_all(&mut *self.inner, family, label, quorum).await
    }

    /// `W[*] -> W[*] : L(T) [quorum q]`: the local member (which must be in
    /// `family`) sends `value(j)` to every other member `j` and receives
    /// from every other member. `value(own index)` is kept as the local
    /// contribution and counts toward the quorum (1 ≤ q ≤ family size).
    /// Returns `(index, value)` pairs sorted by index, own value included.
    pub async fn exchange<M: Serialize + DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
        quorum: Option<usize>,
    ) -> Result<Vec<(u32, M)>, Error> {
        ops::exchange(&mut *self.inner, family, label, value, quorum).await
    }

    /// Mark the protocol as completed and close the transport.
    ///
    /// Also checks, without waiting, that no peer has sent anything the
    /// protocol does not account for (an orphan message is a
    /// [`Error::ProtocolViolation`]); late quorum messages already arrived
    /// are dropped silently. Messages still in flight are not waited for.
    pub fn finish(mut self) -> Result<(), Error> {
        self.inner.finished = true;
        let Inner {
            core, transport, ..
        } = &mut *self.inner;
        let mut cx = Context::from_waker(Waker::noop());
        for p in 0..core.roster.len() {
            let peer = PeerId(u32::try_from(p).unwrap_or(u32::MAX));
            if peer == core.me_peer {
                continue;
            }
            match poll_next(core, transport, &mut cx, peer, &[]) {
                Poll::Ready(Err(e)) if matches!(*e, Error::ProtocolViolation { .. }) => {
                    return Err(*e)
                }
                Poll::Ready(Ok((_, msg))) => {
                    // Unreachable with no labels accepted; report anyway.
                    return Err(core.violation(
                        peer,
                        core.expecting(&[]),
                        format!("label {}", core.protocol.label_name(msg.label)),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl<T: Transport> Drop for Session<T> {
    fn drop(&mut self) {
        if !self.inner.finished {
            let core = &self.inner.core;
            tracing::warn!(
                session = %core.id,
                protocol = core.protocol.name,
                role = %core.name(core.me),
                "endpoint dropped before the protocol finished; closing its connections so peers waiting on it fail with a transport error"
            );
        }
        self.inner.transport.close();
    }
}
