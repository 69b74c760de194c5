//! Moving an endpoint, in its current typestate, to another holder: the
//! detached endpoint ([`Handoff`]), what of the session core travels with
//! it ([`CoreState`]), and the transports that can carry it to a
//! delegate's holder ([`Handover`]).
//!
//! Generated code turns any state into a [`Handoff`] (`into_handoff`) and
//! back (`State::resume`, which checks the protocol, the role and the
//! state). In one process the handoff is the session itself, moved. On a
//! node host, [`SharedNode::hand_off`](crate::node::SharedNode::hand_off)
//! sends it to another node and
//! [`SharedNode::accept_handoff`](crate::node::SharedNode::accept_handoff)
//! receives it there (see [`crate::node`]'s handoff protocol); a
//! `delegate R to S` does the same between R's and S's holders.

use std::future::Future;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};

use crate::envelope::{Frame, Message};
use crate::error::{Error, UsageError};
use crate::ids::{Label, ProtocolInfo, RoleId};
use crate::payload::Payload;
use crate::session::Session;
use crate::session_core::phase::Meeting;
use crate::session_core::{ActiveBody, Numbered, Rewind};
use crate::transport::Transport;

/// An endpoint detached from its typestate, to be resumed elsewhere: the
/// session, the number of the generated state it is in, and the protocol
/// parameters. Build it with a state's `into_handoff`; turn it back into
/// that state with the generated `resume`.
#[derive(Debug)]
#[must_use = "a handoff holds a live endpoint: resume it or hand it to another node"]
pub struct Handoff<T: Transport> {
    session: Session<T>,
    state: u32,
    params: Vec<u32>,
}

impl<T: Transport> Handoff<T> {
    /// Detach `session`, in generated state number `state`.
    pub fn new(session: Session<T>, state: u32, params: Vec<u32>) -> Self {
        Self {
            session,
            state,
            params,
        }
    }

    /// The session.
    pub fn session(&self) -> &Session<T> {
        &self.session
    }

    /// The generated state number.
    pub fn state(&self) -> u32 {
        self.state
    }

    /// The protocol parameters, in declaration order.
    pub fn params(&self) -> &[u32] {
        &self.params
    }

    /// Check that this is `protocol`'s endpoint in state `state` (what a
    /// generated `resume` calls before rebuilding the typestate), and take
    /// it apart: the session and the parameters.
    pub fn into_state(
        self,
        protocol: &ProtocolInfo,
        state: u32,
    ) -> Result<(Session<T>, Vec<u32>), Error> {
        let got = self.session.protocol();
        if got.fingerprint != protocol.fingerprint {
            return Err(UsageError::RosterMismatch(format!(
                "this handoff holds an endpoint of protocol {} (fingerprint {}…), not of {} (fingerprint {}…)",
                got.name,
                crate::ids::short_hex(&got.fingerprint),
                protocol.name,
                crate::ids::short_hex(&protocol.fingerprint)
            ))
            .into());
        }
        if self.state != state {
            return Err(UsageError::RosterMismatch(format!(
                "this handoff of {} was made in state number {}, not in state number {state}; resume it as the state it was handed off in",
                got.role_name(self.session.me()),
                self.state
            ))
            .into());
        }
        Ok((self.session, self.params))
    }

    /// The session and the parameters, unchecked.
    pub fn into_parts(self) -> (Session<T>, u32, Vec<u32>) {
        (self.session, self.state, self.params)
    }
}

/// Transports that can hand an endpoint to the holder of another role of
/// the same session (`delegate R to S`): the in-memory one (the session is
/// passed to S's task), the node host's (the endpoint moves to S's node),
/// and both behind a guard (the endpoint moves without its guard; S's
/// `accept` puts it behind the guard of S's own endpoint).
/// Generated `delegate`/`accept` methods exist for these.
pub trait Handover: Transport + Sized {
    /// Give `handoff` (R's endpoint) to the holder of role instance `to`.
    fn hand_over(handoff: Handoff<Self>, to: RoleId) -> Result<(), Error>;

    /// On `to`'s endpoint `session`: the endpoint `from` handed over, once
    /// it has arrived.
    fn poll_take_over(
        session: &mut Session<Self>,
        cx: &mut Context<'_>,
        from: RoleId,
    ) -> Poll<Result<Handoff<Self>, Error>>;
}

/// Wait on `session` (S's endpoint) for the endpoint of `from` (R) that
/// R's holder handed over with [`Handover::hand_over`]; checks that it is
/// R's endpoint of this very session, in state `state`.
pub fn take_over<'a, T: Handover>(
    session: &'a mut Session<T>,
    from: RoleId,
    state: u32,
) -> impl Future<Output = Result<Handoff<T>, Error>> + Send + use<'a, T> {
    std::future::poll_fn(move |cx| {
        let h = match T::poll_take_over(session, cx, from) {
            Poll::Ready(Ok(h)) => h,
            other => return other,
        };
        let got = h.session();
        let protocol = session.protocol();
        let ok = got.id() == session.id()
            && got.me() == from
            && got.protocol().fingerprint == protocol.fingerprint
            && h.state() == state;
        Poll::Ready(if ok {
            Ok(h)
        } else {
            Err(Error::ProtocolViolation {
                role: protocol.role_name(from),
                expected: format!(
                    "{}'s endpoint of session {} at its delegation (state {state})",
                    protocol.role_name(from),
                    session.id()
                ),
                got: format!(
                    "{}'s endpoint of session {} in state {}",
                    got.protocol().role_name(got.me()),
                    got.id(),
                    h.state()
                ),
            })
        })
    })
}

/// The session core's part of a handoff bundle: timeout phase, bodies
/// still running (with the time they had left), quorum stragglers still to
/// discard, the late-message count, the frames already read from peers
/// ahead of the local type (while a body looked for a peer's handler
/// message), and the bodies completed whose handlers a peer may still start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CoreState {
    pub(crate) phase: u64,
    pub(crate) timeouts: u64,
    /// The instance of the nest root entered last.
    pub(crate) nest_base: u64,
    /// The last number set aside by the window entered last.
    pub(crate) window_end: u64,
    /// The instance of the inner window entered last.
    pub(crate) inner_window: u64,
    /// `(microseconds left, phase, timeout statement, numbering after
    /// entering it)`, outermost first.
    pub(crate) bodies: Vec<(u64, u64, u32, Numbered)>,
    /// Per roster peer: `(label, phase)` of stragglers, oldest first.
    pub(crate) skips: Vec<Vec<(u16, u64)>>,
    pub(crate) late_dropped: u64,
    /// Per roster peer: frames read ahead, oldest first.
    pub(crate) held: Vec<Vec<HeldFrame>>,
    /// Body phases of the completed timeout instances.
    pub(crate) finished: Vec<u64>,
    /// `(body phase, timeout statement)` of the instance completed last.
    pub(crate) completed_last: Option<(u64, u32)>,
    /// The handler the endpoint is in or will enter, with the adjacent
    /// instances that met in it: `(timeout statement, lowest handler phase)`.
    pub(crate) meeting: Option<(u32, u64)>,
    /// The body that can still be undone: `(completed instance's body
    /// phase, bodies open around it, timeout statement, numbering after
    /// entering it)`, and whether the endpoint has acted since it
    /// completed that instance.
    pub(crate) rewind: Option<(u64, u32, u32, Numbered)>,
    pub(crate) acted: bool,
}

/// A frame the session had read from a peer but not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum HeldFrame {
    /// Label, phase and encoded payload of a message on a bound link.
    Message(u16, u64, Vec<u8>),
    /// An encoded envelope, checked again when it is read.
    Envelope(Vec<u8>),
}

impl HeldFrame {
    /// `None` for a typed in-memory value, which only links inside one
    /// process carry (a handoff there moves the session itself, without
    /// this state).
    fn capture(frame: &Frame) -> Option<HeldFrame> {
        match frame {
            Frame::Message(m) => Some(HeldFrame::Message(
                m.label.0,
                m.phase,
                m.payload.as_bytes().to_vec(),
            )),
            Frame::Envelope(e) => Some(HeldFrame::Envelope(e.encode())),
            Frame::Encoded(bytes) => Some(HeldFrame::Envelope(bytes.clone())),
            Frame::Typed(_) => None,
        }
    }

    fn restore(self) -> Frame {
        match self {
            HeldFrame::Message(label, phase, payload) => Frame::Message(Message {
                label: Label(label),
                phase,
                payload: Payload::from_bytes(&payload),
            }),
            HeldFrame::Envelope(bytes) => Frame::Encoded(bytes),
        }
    }
}

impl CoreState {
    /// A fresh session's core with `peers` roster instances (tests).
    #[cfg(test)]
    pub(crate) fn default_for(peers: usize) -> Self {
        Self {
            phase: 0,
            timeouts: 0,
            nest_base: 0,
            window_end: 0,
            inner_window: 0,
            bodies: Vec::new(),
            skips: vec![Vec::new(); peers],
            late_dropped: 0,
            held: vec![Vec::new(); peers],
            finished: Vec::new(),
            completed_last: None,
            meeting: None,
            rewind: None,
            acted: false,
        }
    }

    /// Read it from `session` (deadlines relative to its clock's now).
    pub(crate) fn capture<T: Transport>(session: &mut Session<T>) -> Self {
        let now = session.now();
        let core = &session.inner_mut().core;
        Self {
            phase: core.phase,
            timeouts: core.timeouts,
            nest_base: core.nest_base,
            window_end: core.window_end,
            inner_window: core.inner_window,
            bodies: core
                .bodies
                .iter()
                .map(|b| {
                    let left = b.deadline - now;
                    let left = u64::try_from(left.as_micros()).unwrap_or(u64::MAX);
                    (left, b.phase, b.site, b.numbered)
                })
                .collect(),
            skips: core
                .skips
                .iter()
                .map(|q| q.iter().map(|(l, p)| (l.0, *p)).collect())
                .collect(),
            late_dropped: core.late_dropped,
            held: core
                .held
                .iter()
                .map(|q| {
                    q.iter()
                        .filter_map(|f| {
                            let held = HeldFrame::capture(f);
                            if held.is_none() {
                                tracing::warn!(
                                    "a typed in-memory frame cannot move with a handoff; dropped"
                                );
                            }
                            held
                        })
                        .collect()
                })
                .collect(),
            finished: core.finished.clone(),
            completed_last: core.completed_last,
            meeting: core.meeting.map(|m| (m.site, m.low)),
            rewind: core.rewind.map(|r| {
                let depth = u32::try_from(r.depth).unwrap_or(u32::MAX);
                (r.body, depth, r.site, r.numbered)
            }),
            acted: core.acted.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Write it into a freshly opened `session` (deadlines from its clock's
    /// now).
    pub(crate) fn restore<T: Transport>(self, session: &mut Session<T>) {
        let now = session.now();
        let core = &mut session.inner_mut().core;
        core.phase = self.phase;
        core.timeouts = self.timeouts;
        core.nest_base = self.nest_base;
        core.window_end = self.window_end;
        core.inner_window = self.inner_window;
        core.bodies = self
            .bodies
            .into_iter()
            .map(|(left, phase, site, numbered)| ActiveBody {
                deadline: now + std::time::Duration::from_micros(left),
                phase,
                site,
                numbered,
            })
            .collect();
        for (slot, q) in core.skips.iter_mut().zip(self.skips) {
            *slot = q.into_iter().map(|(l, p)| (Label(l), p)).collect();
        }
        core.pending_skips = core.skips.iter().map(std::collections::VecDeque::len).sum();
        core.late_dropped = self.late_dropped;
        for (slot, q) in core.held.iter_mut().zip(self.held) {
            *slot = q.into_iter().map(HeldFrame::restore).collect();
        }
        core.held_total = core.held.iter().map(std::collections::VecDeque::len).sum();
        core.finished = self.finished;
        // What a looped timeout's next iteration needs to undo an untouched
        // body or to meet a peer's adjacent instance: without it a moved
        // endpoint would drop (or refuse as a violation) the handler message
        // its old holder would have joined.
        core.completed_last = self.completed_last;
        core.meeting = self.meeting.map(|(site, low)| Meeting { site, low });
        core.rewind = self.rewind.map(|(body, depth, site, numbered)| Rewind {
            body,
            depth: depth as usize,
            site,
            numbered,
        });
        core.acted
            .store(self.acted, std::sync::atomic::Ordering::Relaxed);
    }
}
