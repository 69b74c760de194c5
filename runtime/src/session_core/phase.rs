//! Timeout phases between processes: which frames end a timeout body,
//! which are late, and how a participant that finished its body still
//! answers a peer's handler.
//!
//! Every frame carries its sender's phase: 0 outside timeouts; timeout
//! instance `k` sends in phase `2k - 1` in its body and `2k` in its
//! handler. Instances are numbered as [`crate::TimeoutNumbering`] says:
//! a timeout outside any other (a *nest root*) takes the next number each
//! time it is entered (so an instance per loop iteration) and sets aside
//! the next `span` numbers for the timeouts nested in its body and
//! handler, each of which is numbered at its fixed offset from the root's.
//! Participants that entered different nested timeouts (one was
//! interrupted before it reached one) therefore still number every later
//! timeout alike. A root whose nest loops over a timeout opens a *window*
//! instead: the timeouts inside are counted, its body's and its handler's
//! in a half each, and its handler's start at the second half whatever
//! count of the first a member entered ([`Core::number_handler`]); one
//! level in, an *inner window* does the same. A receiver classifies a frame by its phase:
//!
//! - the handler phase of a body it is in (innermost or enclosing): a peer
//!   started the handler. The frame is held for the handler and the body's
//!   operation ends with [`Interrupt::HandlerMessage`], whether it was
//!   waiting on that peer, on another peer (the session looks at every
//!   peer's stream while a body waits: [`Core::poll_interrupt`]), or about
//!   to send;
//! - an earlier phase: a late message of a body it left, dropped and
//!   counted, never delivered;
//! - the handler phase of an instance whose body it completed: answered by
//!   [`Core::poll_linger`] if it waits there; if it is the instance
//!   completed last and all the endpoint did since is enter the body it
//!   is in now (a looped timeout's next iteration), that body is undone
//!   and the handler runs as the completed instance's
//!   ([`Core::rewind_body`]); otherwise (it has moved on) dropped and
//!   counted like a late message;
//! - the handler phase of the instance just before or just after the one
//!   it is in (its body or its handler), when the earlier one is of the
//!   same `timeout` statement and, if it is this endpoint's, one whose body
//!   it completed: the instances *meet* in one handler ([`Meeting`]).
//!   A peer's deadline for a looped timeout's iteration may pass while this
//!   endpoint is already in the next iteration (it completed the last one),
//!   and it may have acted there or its own deadline may have passed too;
//!   the model checker names phases by statement, not by iteration, so to
//!   it both run the one handler of that statement. The runtime does the
//!   same: the body in progress ends, the handler runs numbered as the
//!   higher instance, and handler messages of either instance count as
//!   its; a peer in the lower instance's handler renumbers to the higher
//!   one when the first message of it arrives, so every participant enters
//!   the same next instance;
//! - any other later phase: a protocol violation.
//!
//! Bounds: at most [`HELD_LIMIT`] frames per peer are taken ahead of the
//! local type; a peer that has sent more than that is not looked at again
//! until its held frames are read.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::{ActiveBody, Body, Core, Incoming, Numbered, Rewind};
use crate::envelope::{Envelope, Frame, Message, TypedMessage};
use crate::error::{Error, Interrupt, TransportError, UsageError};
use crate::ids::{PeerId, RoleId};
use crate::time::Time;
use crate::transport::Transport;

/// Frames taken from one peer's stream ahead of the local type, at most.
pub(crate) const HELD_LIMIT: usize = 1024;

/// Completed timeout instances whose handler a peer may still start that
/// an endpoint remembers (the most recent ones).
pub(crate) const FINISHED_LIMIT: usize = 16;

/// The handler of a timeout instance, and the other instances of the same
/// statement that met in it: handler messages of phases `low ..= phase`
/// count as this handler's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meeting {
    /// The `timeout` statement ([`crate::Session::start_body_at`]).
    pub(crate) site: u32,
    /// The lowest handler phase that counts as this handler's.
    pub(crate) low: u64,
}

/// Where an endpoint stands in its current timeout instance.
#[derive(Clone, Copy, Debug)]
struct Standing {
    /// The instance (`k`: body phase `2k - 1`, handler phase `2k`).
    instance: u64,
    /// Its `timeout` statement.
    site: u32,
    /// In its body (else in its handler).
    in_body: bool,
}

impl Core {
    /// Is `phase` the handler phase of a body this endpoint is in?
    #[inline]
    pub(crate) fn interrupts(&self, phase: u64) -> bool {
        phase != 0
            && phase.is_multiple_of(2)
            && self
                .bodies
                .iter()
                .any(|b| b.phase.saturating_add(1) == phase)
    }

    /// The handler of phase `handler_phase` starts: if it is the handler of
    /// the window entered last ([`crate::TimeoutNumbering::Window`]), the
    /// timeouts entered in it are numbered from the window's second half,
    /// whatever count of the first half this endpoint entered, so members
    /// number them alike; likewise for the inner window entered last
    /// ([`crate::TimeoutNumbering::InnerWindow`]).
    pub(crate) fn number_handler(&mut self, handler_phase: u64) {
        let instance = handler_phase / 2;
        let half = if self.window_start() == Some(instance) {
            super::WINDOW_HALF
        } else if self.inner_window != 0 && self.inner_window == instance {
            super::INNER_WINDOW_HALF
        } else {
            return;
        };
        self.timeouts = self.timeouts.max(instance.saturating_add(half));
        if half == super::INNER_WINDOW_HALF && self.exhausts_window_half(instance) {
            tracing::warn!(
                instance,
                "an inner window's handler ran past a half of its window; later timeouts may be numbered apart"
            );
        }
    }

    /// The instance of the window entered last, if any (`window_end` is 0
    /// before any, else above both halves).
    fn window_start(&self) -> Option<u64> {
        self.window_end
            .checked_sub(super::WINDOW_HALF.saturating_mul(2))
    }

    /// The numbering as it stands (kept with a body on entry, so that
    /// undoing a later entry goes back to it).
    pub(crate) fn numbered(&self) -> Numbered {
        Numbered {
            reserved: self.timeouts,
            base: self.nest_base,
            window_end: self.window_end,
            inner_window: self.inner_window,
        }
    }

    /// Back to a numbering kept by [`Core::numbered`].
    fn renumber(&mut self, n: Numbered) {
        self.timeouts = n.reserved;
        self.nest_base = n.base;
        self.window_end = n.window_end;
        self.inner_window = n.inner_window;
    }

    /// Did the entry of `instance` (now counted up to [`Core::timeouts`])
    /// run past the end of a half of the window entered last?
    pub(crate) fn exhausts_window_half(&self, instance: u64) -> bool {
        let Some(start) = self.window_start() else {
            return false;
        };
        let middle = start.saturating_add(super::WINDOW_HALF);
        [middle, self.window_end]
            .iter()
            .any(|&end| instance <= end && self.timeouts > end)
    }

    /// Is `phase` the handler phase of an instance whose body this endpoint
    /// completed?
    #[inline]
    pub(crate) fn answers_finished(&self, phase: u64) -> bool {
        phase != 0 && self.finished.iter().any(|f| f.saturating_add(1) == phase)
    }

    /// Is `phase` of a timeout instance this endpoint has left, or never
    /// entered because it left the body around it: a body nested in the one
    /// whose handler it now runs, or that body's handler? Its messages are
    /// late. Asked only after the phases it still answers (interrupts,
    /// rewinds, meetings) were ruled out.
    #[inline]
    pub(crate) fn left_instance(&self, phase: u64) -> bool {
        if phase <= self.phase {
            return false;
        }
        let instance = phase.div_ceil(2);
        instance <= self.timeouts
            || (instance == self.timeouts.saturating_add(1)
                && self
                    .meeting
                    .is_some_and(|m| m.site & super::NESTS_TIMEOUTS != 0))
    }

    /// Must waiting operations look at every peer's stream for a handler
    /// message ([`Core::poll_interrupt`])? Inside a body, and in the first
    /// operation after a completed one until it acts.
    #[inline]
    pub(crate) fn watches_handlers(&self) -> bool {
        !self.bodies.is_empty() || self.after_body
    }

    /// Is `phase` the handler phase of the body this endpoint completed
    /// just before the operation it is in (outside any body, asked to
    /// answer it: [`Core::after_body`]), with nothing done since?
    #[inline]
    pub(crate) fn answers_after_body(&self, phase: u64) -> bool {
        self.after_body
            && self.rewind.is_some_and(|r| {
                r.body.saturating_add(1) == phase
                    && self.bodies.len() == r.depth
                    && !self.acted.load(Ordering::Relaxed)
            })
    }

    /// Go back into the body completed last ([`Core::answers_after_body`]),
    /// as if it had not been completed: the generated code then starts its
    /// handler ([`crate::Session::start_handler`]), which leaves it again.
    #[cold]
    pub(crate) fn reopen_after_body(&mut self) {
        self.after_body = false;
        let Some(r) = self.rewind.take() else {
            return;
        };
        self.finished.retain(|&f| f != r.body);
        self.reopened = Some(r.site & !super::NESTS_TIMEOUTS);
        self.bodies.push(ActiveBody {
            deadline: Time::ZERO,
            phase: r.body,
            site: r.site,
            numbered: r.numbered,
        });
        self.phase = r.body;
        tracing::debug!(
            phase = r.body,
            "a peer started the handler of the body completed just before; going back to it"
        );
    }

    /// The innermost body is complete for this endpoint.
    pub(crate) fn end_body(&mut self) {
        if let Some(body) = self.bodies.pop() {
            self.completed_last = Some((body.phase, body.site));
            if self.finished.len() >= FINISHED_LIMIT {
                self.finished.remove(0);
            }
            self.finished.push(body.phase);
            self.rewind = Some(Rewind {
                body: body.phase,
                depth: self.bodies.len(),
                site: body.site,
                numbered: body.numbered,
            });
            self.acted.store(false, Ordering::Relaxed);
        }
    }

    /// Is `phase` the handler phase of the instance this endpoint completed
    /// last, while all it did since was enter the body it is in now, of the
    /// same `timeout` statement (a looped timeout's next iteration)? Then
    /// that body can be undone.
    #[inline]
    pub(crate) fn rewinds(&self, phase: u64) -> bool {
        self.rewind.is_some_and(|r| {
            r.body.saturating_add(1) == phase
                && self.bodies.len() == r.depth.saturating_add(1)
                && self.bodies.last().is_some_and(|b| b.site == r.site)
                && !self.acted.load(Ordering::Relaxed)
        })
    }

    /// Go back to the instance completed last ([`Core::rewinds`]): the
    /// innermost body, entered after it and untouched, becomes that
    /// instance again, so the handler that follows runs in that instance's
    /// handler phase, and the next body entered is numbered as the
    /// peers number it.
    #[cold]
    pub(crate) fn rewind_body(&mut self) {
        let Some(r) = self.rewind.take() else {
            return;
        };
        if let Some(body) = self.bodies.last_mut() {
            body.phase = r.body;
        }
        self.phase = r.body;
        // The completed instance's numbering: the body entered after it
        // (numbered after the numbers it set aside) was never entered.
        self.renumber(r.numbered);
        if let Some(body) = self.bodies.last_mut() {
            body.numbered = r.numbered;
        }
        self.finished.retain(|&f| f != r.body);
        tracing::debug!(
            phase = r.body,
            "a peer started the handler of the timeout instance completed last; going back to it"
        );
    }

    /// The instance this endpoint is in, if it is the latest it entered:
    /// its body (the innermost one open), or its handler. Bodies open
    /// around it do not matter: a looped timeout inside a window meets as
    /// one at the top level does. (A timeout that sets numbers aside for a
    /// nest is never the latest entered while its nest's numbers are
    /// ahead, and [`Core::meets`] takes no next instance of one that nests.)
    fn standing(&self) -> Option<Standing> {
        match self.bodies.last() {
            Some(b) if b.phase.div_ceil(2) == self.timeouts => Some(Standing {
                instance: self.timeouts,
                site: b.site,
                in_body: true,
            }),
            _ if self.phase == self.timeouts.saturating_mul(2) => self.meeting.map(|m| Standing {
                instance: self.timeouts,
                site: m.site,
                in_body: false,
            }),
            _ => None,
        }
    }

    /// Is `phase` (not this endpoint's own) the handler phase of an
    /// instance that meets the one this endpoint is in: the next one (a
    /// peer that went on and started its handler), the previous one if
    /// this endpoint completed its body and it is of the same statement (a
    /// peer whose deadline for it passed), or one that already met here?
    pub(crate) fn meets(&self, phase: u64) -> bool {
        if phase == 0 || !phase.is_multiple_of(2) || phase == self.phase {
            return false;
        }
        let Some(at) = self.standing() else {
            return false;
        };
        let instance = phase / 2;
        if instance == at.instance.saturating_add(1) {
            // For a timeout whose body nests timeouts, the next instance
            // may be the nested one: in the body, its handler message waits
            // for this endpoint to enter it; in the handler, it is late
            // ([`Core::left_instance`]).
            return at.site & super::NESTS_TIMEOUTS == 0;
        }
        if instance.saturating_add(1) == at.instance
            && self.completed_last == Some((phase.saturating_sub(1), at.site))
        {
            return true;
        }
        !at.in_body
            && self
                .meeting
                .is_some_and(|m| phase >= m.low && phase < self.phase)
    }

    /// A handler message of phase `phase`, which [`Core::meets`] accepted,
    /// joins this endpoint's handler: the handler is numbered as the higher
    /// of the two instances, and both instances' handler messages count as
    /// its. Returns true if the endpoint was in the body, which ends now
    /// (the caller reports the interrupt; the handler starts with
    /// [`crate::Session::start_handler`]).
    #[cold]
    pub(crate) fn join_meeting(&mut self, phase: u64) -> bool {
        let Some(at) = self.standing() else {
            return false;
        };
        let own = at.instance.saturating_mul(2);
        let high = phase.max(own);
        let low = self.meeting.map_or(u64::MAX, |m| m.low).min(phase).min(own);
        self.timeouts = high / 2;
        self.meeting = Some(Meeting { site: at.site, low });
        self.rewind = None;
        tracing::debug!(
            phase,
            own,
            "a handler message of an adjacent instance of this looped timeout: meeting in one handler"
        );
        if at.in_body {
            if let Some(body) = self.bodies.last_mut() {
                body.phase = high.saturating_sub(1);
            }
            self.phase = self.phase.max(high.saturating_sub(1));
        } else {
            self.phase = high;
        }
        at.in_body
    }

    /// Is `msg`, a handler message of an instance that met in this
    /// endpoint's handler, a quorum straggler of that handler? A gather in
    /// the handler notes its stragglers in the handler's phase (the higher
    /// instance), but a peer that was in the lower one sends in that
    /// instance's phase: within the meeting the two are one phase. The
    /// straggler is consumed (the caller discards the message).
    #[cold]
    pub(crate) fn skips_met_straggler(&mut self, peer: PeerId, msg: &Incoming) -> bool {
        let Some(m) = self.meeting else {
            return false;
        };
        let met = |phase: u64| phase >= m.low && phase <= self.phase;
        if !met(msg.phase) {
            return false;
        }
        let Some(queue) = self.skips.get_mut(peer.as_usize()) else {
            return false;
        };
        let Some(at) = queue
            .iter()
            .position(|&(label, phase)| label == msg.label && met(phase))
        else {
            return false;
        };
        queue.remove(at);
        self.pending_skips = self.pending_skips.saturating_sub(1);
        tracing::trace!(from = ?peer, label = ?msg.label, "dropping a met instance's late quorum message");
        true
    }

    /// The handler of `body` starts: it counts the handler messages of
    /// the instances that met it (if any) besides its own.
    pub(crate) fn enter_meeting(&mut self, body: ActiveBody) {
        let own = body.phase.saturating_add(1);
        let low = self
            .meeting
            .filter(|m| m.site == body.site)
            .map_or(own, |m| m.low.min(own));
        self.meeting = Some(Meeting {
            site: body.site,
            low,
        });
    }

    /// A frame was read: unless it is a late one (dropped) or the handler
    /// message that takes this endpoint back to the body it completed last,
    /// reading it is acting in the next body.
    #[inline]
    fn note_read(&mut self, peer: PeerId, frame: &Frame) {
        if let Some(r) = self.rewind {
            let harmless = self
                .frame_phase(peer, frame)
                .is_some_and(|ph| ph < self.phase || ph == r.body.saturating_add(1));
            if !harmless {
                self.rewind = None;
            }
        }
    }

    /// The next frame from `peer`: one held earlier first, then the
    /// transport's.
    #[inline]
    pub(crate) fn poll_frame<T: Transport>(
        &mut self,
        t: &mut T,
        cx: &mut Context<'_>,
        peer: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        if self.held_total != 0 {
            if let Some(frame) = self
                .held
                .get_mut(peer.as_usize())
                .and_then(VecDeque::pop_front)
            {
                self.held_total -= 1;
                self.note_read(peer, &frame);
                return Poll::Ready(Ok(frame));
            }
        }
        let polled = t.poll_recv(cx, peer);
        if self.rewind.is_some() {
            if let Poll::Ready(Ok(frame)) = &polled {
                self.note_read(peer, frame);
            }
        }
        polled
    }

    /// A peer's handler message ended the body: keep it (first in the
    /// peer's queue) for the handler, and say who started it.
    #[cold]
    pub(crate) fn interrupted_by_handler(&mut self, peer: PeerId, msg: Incoming) -> Box<Error> {
        let frame = match msg.body {
            Body::Bytes(payload) => Frame::Message(Message {
                label: msg.label,
                phase: msg.phase,
                payload,
            }),
            Body::Value(value) => Frame::Typed(TypedMessage {
                label: msg.label,
                phase: msg.phase,
                value,
            }),
        };
        if let Some(queue) = self.held.get_mut(peer.as_usize()) {
            queue.push_front(frame);
            self.held_total += 1;
        }
        self.interrupt_error(Interrupt::HandlerMessage {
            from: self.peer_name(peer),
        })
    }

    fn interrupt_error(&mut self, why: Interrupt) -> Box<Error> {
        self.interrupt = Some(why.clone());
        Box::new(Error::Interrupted(why))
    }

    /// The phase of a frame, if it can be trusted without reading it in
    /// order: an encoded envelope must belong to this session and sender.
    fn frame_phase(&self, peer: PeerId, frame: &Frame) -> Option<u64> {
        match frame {
            Frame::Message(m) => Some(m.phase),
            Frame::Typed(t) => Some(t.phase),
            Frame::Envelope(e) => self.check_header(peer, (**e).clone()).ok().map(|m| m.phase),
            Frame::Encoded(bytes) => Envelope::decode(bytes)
                .ok()
                .and_then(|e| self.check_header(peer, e).ok())
                .map(|m| m.phase),
        }
    }

    /// Look at every other peer's stream (taking frames ahead of the local
    /// type into `held`) for a frame whose phase `wanted` accepts. Returns
    /// that peer, and how many peers' streams are still open.
    fn scan(
        &mut self,
        t: &mut impl Transport,
        cx: &mut Context<'_>,
        wanted: impl Fn(&Core, u64) -> bool,
    ) -> (Option<PeerId>, usize) {
        let mut open = 0;
        for p in 0..self.held.len() {
            let peer = PeerId(u32::try_from(p).unwrap_or(u32::MAX));
            if peer == self.me_peer {
                continue;
            }
            let held_hit = self.held.get(p).is_some_and(|q| {
                q.iter()
                    .any(|f| self.frame_phase(peer, f).is_some_and(|ph| wanted(self, ph)))
            });
            if held_hit {
                return (Some(peer), open);
            }
            loop {
                if self.held.get(p).is_none_or(|q| q.len() >= HELD_LIMIT) {
                    open += 1;
                    break;
                }
                match t.poll_recv(cx, peer) {
                    Poll::Ready(Ok(frame)) => {
                        let hit = self
                            .frame_phase(peer, &frame)
                            .is_some_and(|ph| wanted(self, ph));
                        if let Some(q) = self.held.get_mut(p) {
                            q.push_back(frame);
                            self.held_total += 1;
                        }
                        if hit {
                            return (Some(peer), open);
                        }
                    }
                    Poll::Pending => {
                        open += 1;
                        break;
                    }
                    // Closed or lost: nothing more will come from this peer.
                    Poll::Ready(Err(_)) => break,
                }
            }
        }
        (None, open)
    }

    /// Inside a timeout body: is the body over for this endpoint — a
    /// peer's handler message on any stream, or the earliest deadline
    /// passed? Ready with the reason if so; otherwise `cx` is woken when a
    /// frame arrives or the deadline passes. Only called when
    /// [`Core::bodies`] is not empty.
    #[cold]
    #[inline(never)]
    pub(crate) fn poll_interrupt<T: Transport>(
        &mut self,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Box<Error>> {
        let (mut hit, _) = self.scan(t, cx, Core::interrupts);
        if hit.is_none() && self.rewind.is_some() {
            // Everything ready has been read ahead by now.
            hit = self.scan(t, cx, Core::rewinds).0;
            if hit.is_some() {
                self.rewind_body();
            }
        }
        if hit.is_none() && self.after_body {
            hit = self.scan(t, cx, Core::answers_after_body).0;
            if hit.is_some() {
                self.reopen_after_body();
            }
        }
        // A meeting interrupts a body only: in a handler (inside an
        // enclosing body, say a looped timeout in a window) the handler's
        // own receive joins it, and the operation goes on.
        if hit.is_none() && self.standing().is_some_and(|at| at.in_body) {
            hit = self.scan(t, cx, Core::meets).0;
            let phase = hit.and_then(|peer| {
                self.held.get(peer.as_usize()).and_then(|q| {
                    q.iter()
                        .filter_map(|f| self.frame_phase(peer, f))
                        .find(|&ph| self.meets(ph))
                })
            });
            if let Some(phase) = phase {
                self.join_meeting(phase);
            }
        }
        if let Some(peer) = hit {
            let from = self.peer_name(peer);
            return Poll::Ready(self.interrupt_error(Interrupt::HandlerMessage { from }));
        }
        let Some(deadline) = self.bodies.iter().map(|b| b.deadline).min() else {
            return Poll::Pending;
        };
        match t.poll_deadline(cx, deadline) {
            Poll::Ready(()) => Poll::Ready(self.interrupt_error(Interrupt::Deadline)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`poll_interrupt`](Self::poll_interrupt) as a check: before a send
    /// inside a body (`cx` is the sending task's, so looking at the peers'
    /// streams registers the right waker).
    #[cold]
    #[inline(never)]
    pub(crate) fn check_interrupt<T: Transport>(
        &mut self,
        t: &mut T,
        cx: &mut Context<'_>,
    ) -> Option<Box<Error>> {
        match self.poll_interrupt(t, cx) {
            Poll::Ready(e) => Some(e),
            Poll::Pending => None,
        }
    }

    /// [`Session::linger`](crate::Session::linger): wait for a handler
    /// message of the most recently completed body, every peer closing, or
    /// `deadline`.
    pub(crate) fn poll_linger<T: Transport>(
        &mut self,
        t: &mut T,
        cx: &mut Context<'_>,
        deadline: Time,
        nested: usize,
    ) -> Poll<Result<Option<(RoleId, usize)>, Error>> {
        if !self.bodies.is_empty() {
            return Poll::Ready(Err(UsageError::LingerInsideBody.into()));
        }
        // The bodies completed last, one per nesting level of the timeout
        // completed last (completing an inner body completes its enclosing
        // ones at once, so they are the top of `finished`), outermost first.
        let nested = nested.clamp(1, self.finished.len().max(1));
        let answered: Vec<u64> = self.finished.iter().rev().take(nested).copied().collect();
        if answered.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let (hit, open) = self.scan(t, cx, |_, ph| {
            answered.iter().any(|b| b.saturating_add(1) == ph)
        });
        if let Some(peer) = hit {
            let phase = self.held_handler_phase(peer, &answered);
            let level = answered
                .iter()
                .position(|b| b.saturating_add(1) == phase)
                .unwrap_or(0);
            if let Some(body) = answered.get(level) {
                self.finished.retain(|f| f != body);
            }
            if level > 0 {
                self.reopen_enclosing(answered.get(..level).unwrap_or_default(), deadline);
            }
            self.phase = phase;
            self.number_handler(phase);
            let from = self.peer_name(peer);
            self.interrupt = Some(Interrupt::HandlerMessage { from });
            return Poll::Ready(Ok(self.roster.instance(peer).map(|r| (r, level))));
        }
        if open == 0 {
            return Poll::Ready(Ok(None));
        }
        t.poll_deadline(cx, deadline).map(|()| Ok(None))
    }

    /// A nested handler is about to run after its enclosing `bodies`
    /// (outermost first) were completed: the endpoint is inside them again,
    /// so their handler messages interrupt it as in any body, and leaving
    /// the nested handler completes them again (`end_body`). Its own
    /// deadline for them no longer counts (it had completed its part); it
    /// stays only until `deadline`, the end of its lingering.
    fn reopen_enclosing(&mut self, bodies: &[u64], deadline: Time) {
        for &phase in bodies {
            self.finished.retain(|&f| f != phase);
            let site = match self.completed_last {
                Some((body, site)) if body == phase => site,
                _ => u32::MAX,
            };
            self.bodies.push(ActiveBody {
                deadline,
                phase,
                site,
                numbered: self.numbered(),
            });
        }
        self.rewind = None;
    }

    /// The handler phase of the first frame held from `peer` that starts
    /// the handler of one of the `bodies` (a scan found one).
    fn held_handler_phase(&self, peer: PeerId, bodies: &[u64]) -> u64 {
        let usable = usize::try_from(peer.0).ok().and_then(|p| self.held.get(p));
        usable
            .and_then(|q| {
                q.iter()
                    .filter_map(|f| self.frame_phase(peer, f))
                    .find(|ph| bodies.iter().any(|b| b.saturating_add(1) == *ph))
            })
            .unwrap_or_else(|| bodies.first().map_or(0, |b| b.saturating_add(1)))
    }
}
