//! The session core: the state the operations act on (a session's
//! identity, roster, phases, quorum stragglers and frames held ahead) and
//! the validation of incoming frames. Synchronous and transport-generic;
//! [`Session`](crate::Session) and the operations (`ops`, `par`) build on
//! it, never the other way. Timeout phases live in [`phase`].

use std::collections::VecDeque;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::{Envelope, Frame, Header, Message};
use crate::error::{Error, Interrupt, TransportError, UsageError};
use crate::ids::{short_hex, Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
use crate::payload::Payload;
use crate::roster::{RoleShape, Roster};
use crate::time::Time;
use crate::transport::Transport;
use crate::value::Value;

pub(crate) mod phase;

#[derive(Debug)]
pub(crate) struct Inner<T> {
    pub(crate) core: Core,
    pub(crate) transport: T,
    pub(crate) finished: bool,
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
    pub(crate) phase: u64,
    /// Per peer: late quorum messages still to be discarded, as
    /// (label, phase), oldest first.
    pub(crate) skips: Vec<VecDeque<(Label, u64)>>,
    /// Total length of `skips`, so the common case checks one integer.
    pub(crate) pending_skips: usize,
    /// Timeout instances entered or set aside so far (instance `k` runs
    /// its body in phase `2k - 1` and its handler in phase `2k`): entering
    /// a nest's root sets aside the numbers of the timeouts nested in it
    /// ([`crate::TimeoutNumbering`]).
    pub(crate) timeouts: u64,
    /// The instance of the nest root entered last: a timeout nested in it
    /// is instance `nest_base + offset`.
    pub(crate) nest_base: u64,
    /// The last number set aside by the window entered last (0 before
    /// any): the next timeout outside any other is numbered after it
    /// ([`crate::TimeoutNumbering::Window`]).
    pub(crate) window_end: u64,
    /// The instance of the inner window entered last (0 before any): its
    /// handler's timeouts are numbered from [`INNER_WINDOW_HALF`] above it
    /// ([`crate::TimeoutNumbering::InnerWindow`]).
    pub(crate) inner_window: u64,
    /// The timeout bodies this endpoint is inside, innermost last.
    pub(crate) bodies: Vec<ActiveBody>,
    /// Messages of an abandoned phase (a timeout body this endpoint left)
    /// that arrived afterwards and were dropped, never delivered.
    pub(crate) late_dropped: u64,
    /// Per peer: frames taken from the transport ahead of the local type
    /// (looking for a peer's handler message while inside a timeout body,
    /// or the handler message that interrupted the body), read before the
    /// transport's ([`phase`]).
    pub(crate) held: Vec<VecDeque<Frame>>,
    /// Total length of `held`, so the common case checks one integer.
    pub(crate) held_total: usize,
    /// Body phases of the timeout instances whose body this endpoint
    /// completed (most recent last, at most a few): a peer may still start
    /// their handlers ([`Session::linger`](crate::Session::linger)).
    pub(crate) finished: Vec<u64>,
    /// Why the last timeout body this endpoint left early ended.
    pub(crate) interrupt: Option<Interrupt>,
    /// The timeout instance this endpoint completed last, while it has
    /// done nothing since but enter the next body: a peer's handler message
    /// of that instance still takes it back there
    /// ([`phase`], looped timeouts).
    pub(crate) rewind: Option<Rewind>,
    /// Set when this endpoint sends (or a frame is read) after `rewind` was
    /// recorded: it acted in the next body, which can no longer be undone.
    pub(crate) acted: std::sync::atomic::AtomicBool,
    /// The timeout instance this endpoint completed last, as (body phase,
    /// statement), kept after it acted (unlike `rewind`): a peer's handler
    /// message of it still meets this endpoint's handler of the next
    /// instance of the same statement ([`phase`], looped timeouts).
    pub(crate) completed_last: Option<(u64, u32)>,
    /// The operation in progress is the first after a completed body,
    /// outside any body, and answers that body's handler until it acts
    /// ([`Session::open_after_body`](crate::Session::open_after_body)).
    pub(crate) after_body: bool,
    /// The `timeout` statement whose completed body the operation after
    /// it went back to ([`phase`]'s `reopen_after_body`), until the next
    /// [`Session::open_after_body`](crate::Session::open_after_body).
    pub(crate) reopened: Option<u32>,
    /// In a timeout handler, or about to enter one: its statement and the
    /// lowest handler phase that counts as this handler's
    /// ([`phase::Meeting`]).
    pub(crate) meeting: Option<phase::Meeting>,
}

impl Core {
    /// A fresh session's core: phase 0, no timeout entered, nothing held.
    pub(crate) fn new(
        id: SessionId,
        protocol: &'static ProtocolInfo,
        me: RoleId,
        me_peer: PeerId,
        roster: Roster,
    ) -> Self {
        let peers = roster.len();
        Core {
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
            skips: (0..peers).map(|_| VecDeque::new()).collect(),
            pending_skips: 0,
            timeouts: 0,
            nest_base: 0,
            window_end: 0,
            inner_window: 0,
            bodies: Vec::new(),
            late_dropped: 0,
            held: (0..peers).map(|_| VecDeque::new()).collect(),
            held_total: 0,
            finished: Vec::new(),
            interrupt: None,
            rewind: None,
            acted: std::sync::atomic::AtomicBool::new(false),
            completed_last: None,
            after_body: false,
            reopened: None,
            meeting: None,
        }
    }
}

/// The bit of a body's `site` that says its `timeout` is part of a nest
/// (it contains another `timeout`, or is numbered inside one's set-aside
/// numbers): a peer's handler message of a nearby instance may be a nested
/// one's, so no meeting of looped iterations is attempted
/// ([`Session::start_nesting_body_at`](crate::Session::start_nesting_body_at),
/// [`crate::TimeoutNumbering`]).
pub(crate) const NESTS_TIMEOUTS: u32 = 1 << 31;

/// Numbers a window sets aside for each of its two halves: the timeouts
/// entered in the window's body, and those entered in its handler
/// ([`crate::TimeoutNumbering::Window`]).
pub const WINDOW_HALF: u64 = 1 << 32;

/// Numbers the handler of an inner window starts above the inner window's
/// own: its body's timeouts are counted below that, its handler's from
/// there ([`crate::TimeoutNumbering::InnerWindow`]). A window's half holds
/// 2^12 inner windows whose handler ran.
pub const INNER_WINDOW_HALF: u64 = 1 << 20;

/// How a `timeout` statement's instances are numbered (the phases its
/// frames carry). Generated code passes the numbering the compiler worked
/// out from the global protocol, the same for every role
/// ([`Session::start_numbered_body_at`](crate::Session::start_numbered_body_at)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutNumbering {
    /// Outside any other `timeout`: each entry is the next instance `k`
    /// after every number set aside so far (by roots and windows), and
    /// `k + 1 ..= k + span` are set aside for the `span` timeouts nested
    /// in its body and handler, whether or not this endpoint enters them.
    Root {
        /// Timeouts nested in its body and handler, at any depth.
        span: u32,
    },
    /// Outside any other `timeout`, with a loop over a `timeout` in its
    /// body or handler (or one protocol with a `timeout` called twice), so
    /// the timeouts inside cannot be numbered ahead: each entry is the
    /// next instance `k` (as for a root), and sets aside a *window* of
    /// [`WINDOW_HALF`] numbers for the timeouts entered in its body and as
    /// many for those entered in its handler, counted inside each half
    /// ([`TimeoutNumbering::Counted`]). However many a member entered,
    /// the handler's timeouts and every timeout after the window are
    /// numbered alike by all members. Like any `timeout` that nests
    /// another, no meeting of looped iterations is attempted.
    Window,
    /// Inside a window, with a loop over a `timeout` in its body or
    /// handler too: each entry is the next instance `k`, counted as
    /// entered, and its handler's timeouts are numbered from
    /// `k + INNER_WINDOW_HALF` ([`INNER_WINDOW_HALF`]), whatever count of
    /// its body's timeouts a member entered. (Deeper than this, timeouts
    /// are counted.)
    InnerWindow,
    /// Nested in the body or handler of the root entered last, with no
    /// loop in between: instance `root + offset` (its place in the root's
    /// nest, in source order).
    Nested {
        /// 1 for the first timeout nested in the root, and so on.
        offset: u32,
    },
    /// Inside a window (or in hand-written code): each entry is the next
    /// instance after the last one entered or set aside, counted as
    /// entered, and sets aside `span` numbers for the timeouts nested in
    /// it, as a root does.
    Counted {
        /// Timeouts nested in its body and handler, at any depth, if they
        /// can be numbered ahead (else 0: they are counted too).
        span: u32,
        /// The body contains another `timeout` (no meeting of looped
        /// iterations is attempted).
        nests: bool,
    },
}

/// The numbering an endpoint had right after entering a timeout body:
/// undoing a later entry ([`Rewind`]) goes back to it. (Serialised in a
/// handoff bundle.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub(crate) struct Numbered {
    /// [`Core::timeouts`] after the entry.
    pub(crate) reserved: u64,
    /// [`Core::nest_base`] after the entry.
    pub(crate) base: u64,
    /// [`Core::window_end`] after the entry.
    pub(crate) window_end: u64,
    /// [`Core::inner_window`] after the entry.
    pub(crate) inner_window: u64,
}

/// Where an endpoint stood when it completed a timeout body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rewind {
    /// The completed instance's body phase (`2k - 1`).
    pub(crate) body: u64,
    /// Bodies still open around it.
    pub(crate) depth: usize,
    /// Its `timeout` statement ([`Session::start_body_at`](crate::Session::start_body_at)).
    pub(crate) site: u32,
    /// The numbering right after entering it.
    pub(crate) numbered: Numbered,
}

/// A timeout body in progress: its deadline on the transport's clock and
/// its phase.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActiveBody {
    pub(crate) deadline: Time,
    pub(crate) phase: u64,
    /// Which `timeout` statement ([`Session::start_body_at`](crate::Session::start_body_at)).
    pub(crate) site: u32,
    /// The numbering right after entering it.
    pub(crate) numbered: Numbered,
}

/// The result of [`Session::recv_branch`](crate::Session::recv_branch): which of the offered labels
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
    /// sender passed as a value ([`Session::send_owned`](crate::Session::send_owned) over an in-memory
    /// link) is moved out without encoding. Use it after
    /// [`Session::recv_branch`](crate::Session::recv_branch) in generated code.
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
    pub(crate) phase: u64,
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
    e: crate::payload::PayloadError,
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
    pub(crate) fn send_phase(&self) -> u64 {
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
        if self.watches_handlers() {
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
        if self.answers_after_body(msg.phase) {
            // The handler of the body this endpoint completed just before
            // the operation it waits in, and it has not acted since: run
            // that handler instead.
            self.reopen_after_body();
            return Verdict::Violation(self.interrupted_by_handler(peer, msg));
        }
        if self.rewinds(msg.phase) {
            // The handler of the instance this endpoint completed just
            // before entering the body it is in, and it has done nothing
            // there yet: run that handler instead (looped timeouts).
            self.rewind_body();
            return Verdict::Violation(self.interrupted_by_handler(peer, msg));
        }
        if self.meets(msg.phase) {
            // The handler of the next or the previous instance of the
            // looped timeout this endpoint is in: one handler for both.
            if self.join_meeting(msg.phase) {
                return Verdict::Violation(self.interrupted_by_handler(peer, msg));
            }
            if self.skips_met_straggler(peer, &msg) {
                return Verdict::Discard;
            }
            return match labels.iter().position(|l| *l == msg.label) {
                Some(i) => Verdict::Deliver(i, msg),
                None => Verdict::Violation(self.wrong_label(peer, labels, &msg)),
            };
        }
        if msg.phase < self.phase
            || self.answers_finished(msg.phase)
            || self.left_instance(msg.phase)
        {
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

impl Core {
    /// The next frame from `peer` for an operation waiting for one of
    /// `labels`: pending while none is there (inside a body, or answering a
    /// completed body's handler, until a peer's handler message or the
    /// deadline ends the wait instead), or the error of a closed stream.
    #[inline(always)]
    pub(crate) fn poll_wait_frame<T: Transport>(
        &mut self,
        transport: &mut T,
        cx: &mut Context<'_>,
        peer: PeerId,
        labels: &[Label],
    ) -> Poll<Result<Frame, Box<Error>>> {
        match self.poll_frame(transport, cx, peer) {
            Poll::Pending if !self.watches_handlers() => Poll::Pending,
            Poll::Pending => self.poll_interrupt(transport, cx).map(Err),
            Poll::Ready(Ok(frame)) => Poll::Ready(Ok(frame)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.closed(peer, labels, e))),
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
        let frame = std::task::ready!(core.poll_wait_frame(transport, cx, peer, labels))?;
        match core.classify(peer, frame, labels) {
            Verdict::Deliver(i, msg) => return Poll::Ready(Ok((i, msg))),
            Verdict::Discard => continue,
            Verdict::Violation(e) => return Poll::Ready(Err(e)),
        }
    }
}
