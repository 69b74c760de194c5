//! [`Node`]: the session table, frame validation and routing, timers.

use std::collections::{BTreeSet, VecDeque};
use std::task::{Poll, Waker};
use std::time::Duration;

use super::handoff::{Arrival, Departure, Retired};
use super::link::{Item, Link, Received, Taken};
use super::pending::{Held, Hold, Pending};
use super::table::Sessions;
use super::wire::{message_of, FrameKind, NodeFrame, FRAME_OVERHEAD};
use super::{NodeConfig, NodeEvent, NodeId, NodeStats, Time, Transmit};
use crate::envelope::{Frame, Header, Message};
use crate::error::{Error, TransportError, UsageError};
use crate::ids::{PeerId, ProtocolInfo, RoleId, SessionId};
use crate::roster::Roster;

/// The sans-I/O node host (see the [module docs](super)).
#[derive(Debug)]
pub struct Node {
    pub(super) me: NodeId,
    pub(super) config: NodeConfig,
    pub(super) now: Time,
    /// Hosted endpoints by their key: the session id the frames addressed
    /// to them carry (the session's id, or a fresh one for an endpoint
    /// that moved here in a handoff), with their next deadlines indexed.
    pub(super) sessions: Sessions,
    pending: Pending,
    tombstones: VecDeque<SessionId>,
    pub(super) tombstone_set: BTreeSet<SessionId>,
    /// Links with something to transmit, in a deterministic order.
    dirty: BTreeSet<(SessionId, u32)>,
    pub(super) outbox: VecDeque<Transmit>,
    events: VecDeque<NodeEvent>,
    pub(super) stats: NodeStats,
    /// Handoffs this node's application waits for.
    pub(super) arrivals: Vec<Arrival>,
}

/// One hosted session.
#[derive(Debug)]
pub(super) struct Hosted {
    /// The session's id (the key differs for an endpoint that moved here).
    pub(super) session: SessionId,
    /// Key, fingerprint and local instance.
    pub(super) header: Header,
    pub(super) protocol: &'static ProtocolInfo,
    pub(super) me: PeerId,
    pub(super) roster: Roster,
    /// `peers[i]`: the node bound to roster peer `i`.
    pub(super) peers: Vec<NodeId>,
    /// `wire[i]`: the key of roster peer `i`'s endpoint on its node, which
    /// frames to it carry as their session id.
    pub(super) wire: Vec<SessionId>,
    /// `links[i]`: the link with roster peer `i` (`None` for the local one).
    pub(super) links: Vec<Option<Link>>,
    pub(super) patience: Duration,
    pub(super) closed: bool,
    settled_at: Option<Time>,
    /// `retired[i]`: the node that held peer `i` before its last handoff.
    pub(super) retired: Vec<Option<Retired>>,
    /// Set once the local endpoint was handed to another node.
    pub(super) departure: Option<Departure>,
    /// The node this endpoint was handed over from (whose forwards it
    /// takes), and its key there.
    pub(super) predecessor: Option<(NodeId, SessionId)>,
    /// Timeout-body deadlines the session's endpoint waits for, woken by
    /// [`Node::handle_timeout`] (at most [`crate::time::MAX_WAITERS`]).
    deadlines: Vec<(Time, Waker)>,
}

impl Hosted {
    fn settled(&self) -> bool {
        self.departure.is_none() && self.closed && self.links.iter().flatten().all(Link::settled)
    }

    /// The envelope header of frames to roster peer `peer`.
    pub(super) fn header_to(&self, peer: usize) -> Header {
        Header {
            session: self.wire.get(peer).copied().unwrap_or(self.header.session),
            ..self.header
        }
    }
}

/// Why a frame for an open session was refused: (expected, got).
type Refusal = (String, String);

impl Hosted {
    pub(super) fn new(
        header: Header,
        protocol: &'static ProtocolInfo,
        me: PeerId,
        roster: Roster,
        peers: Vec<NodeId>,
        links: Vec<Option<Link>>,
        patience: Duration,
    ) -> Self {
        let n = peers.len();
        Self {
            session: header.session,
            header,
            protocol,
            me,
            roster,
            wire: vec![header.session; n],
            peers,
            links,
            patience,
            closed: false,
            settled_at: None,
            retired: (0..n).map(|_| None).collect(),
            departure: None,
            predecessor: None,
            deadlines: Vec::new(),
        }
    }
}

impl Node {
    /// A node with identity `me` and no sessions.
    pub fn new(me: NodeId, config: NodeConfig) -> Self {
        Self {
            me,
            config,
            now: Time::ZERO,
            sessions: Sessions::default(),
            pending: Pending::default(),
            tombstones: VecDeque::new(),
            tombstone_set: BTreeSet::new(),
            dirty: BTreeSet::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            arrivals: Vec::new(),
        }
    }

    /// This node's identity.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The latest time the driver passed in.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Counters (see [`NodeStats`]).
    pub fn stats(&self) -> NodeStats {
        let mut s = self.stats;
        s.pending_frames = self.pending.len() as u64;
        s.sessions = self.sessions.len() as u64;
        s.buffered_bytes = self
            .sessions
            .values()
            .flat_map(|h| h.links.iter().flatten())
            .map(|l| l.buffered() as u64)
            .sum();
        s
    }

    /// Move the node's idea of now forward (never back).
    pub(crate) fn tick(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    /// May `peer` send frames to this node? True if it is in
    /// [`NodeConfig::peers`], bound in the roster of a hosted session, the
    /// node an endpoint is being handed to, or one this node expects a
    /// handoff from.
    /// Network drivers refuse connections from anyone else.
    pub fn is_allowed(&self, peer: &NodeId) -> bool {
        self.config.peers.contains(peer)
            || self.sessions.values().any(|h| {
                h.peers.contains(peer) || h.departure.as_ref().is_some_and(|d| d.to == *peer)
            })
            || self.arrivals.iter().any(|a| a.from == *peer)
    }

    /// One frame (already delimited by the transport) from the
    /// authenticated node `from`. Bad frames become
    /// [`NodeEvent::Violation`]s; nothing here panics.
    pub fn handle_frame(&mut self, now: Time, from: NodeId, frame: &[u8]) {
        self.tick(now);
        self.stats.frames_in += 1;
        if frame.len() > self.config.max_frame_len {
            self.violation(
                from,
                None,
                format!("a frame of at most {} bytes", self.config.max_frame_len),
                format!("a frame of {} bytes", frame.len()),
            );
            return;
        }
        let decoded = match NodeFrame::decode(frame) {
            Ok(f) => f,
            Err(e) => {
                self.violation(
                    from,
                    None,
                    "a well-formed node frame".to_owned(),
                    e.to_string(),
                );
                return;
            }
        };
        let session = decoded.envelope.session;
        if decoded.kind.is_handoff() {
            self.on_handoff_frame(from, decoded);
            return;
        }
        if self.sessions.contains_key(&session) {
            self.on_session_frame(session, from, decoded, true);
            return;
        }
        if self.tombstone_set.contains(&session) {
            self.stats.late_frames += 1;
            return;
        }
        if !self.is_allowed(&from) {
            self.violation(
                from,
                Some(session),
                "frames from a configured peer or a member of a hosted session".to_owned(),
                "a frame from a node this host does not know".to_owned(),
            );
            return;
        }
        if !decoded.kind.is_sequenced() {
            // Acks and heartbeats of a session we do not host carry nothing
            // worth keeping.
            return;
        }
        let held = Held {
            at: self.now,
            from,
            session,
            bytes: frame.to_vec(),
        };
        match self.pending.hold(&self.config.pending, held) {
            Hold::New => self.event(NodeEvent::SessionRequested {
                session,
                fingerprint: decoded.envelope.fingerprint,
                from,
            }),
            Hold::Again => {}
            Hold::Dropped => self.stats.pending_dropped += 1,
        }
    }

    /// A frame for hosted endpoint `session` from node `from`; `direct`:
    /// it came from `from` itself, not forwarded by a previous holder.
    pub(super) fn on_session_frame(
        &mut self,
        session: SessionId,
        from: NodeId,
        frame: NodeFrame,
        direct: bool,
    ) {
        let now = self.now;
        let link_config = self.config.link;
        let Some(h) = self.sessions.get(&session) else {
            return;
        };
        if h.departure.is_some() {
            self.on_departed_frame(session, from, frame);
            return;
        }
        if let Some(late) = self.late_from_old_holder(session, from, &frame) {
            match late {
                Ok(()) => self.stats.late_frames += 1,
                Err((expected, got)) => self.violation(from, Some(session), expected, got),
            }
            return;
        }
        let Some(h) = self.sessions.get_mut(&session) else {
            return;
        };
        let outcome = (|| -> Result<(u32, Received), Refusal> {
            let env = &frame.envelope;
            if env.fingerprint != h.header.fingerprint {
                return Err((
                    format!(
                        "frames of protocol {} (fingerprint {}…)",
                        h.protocol.name,
                        crate::ids::short_hex(&h.header.fingerprint)
                    ),
                    format!(
                        "fingerprint {}…: another protocol or version",
                        crate::ids::short_hex(&env.fingerprint)
                    ),
                ));
            }
            let sender = env.sender;
            // Only a refusal names the sender: no string per accepted frame.
            let protocol = h.protocol;
            let name = || protocol.role_name(sender);
            let Some(peer) = h.roster.peer(sender) else {
                return Err((
                    "a sender in the session's roster".to_owned(),
                    format!("a frame claiming sender {}", name()),
                ));
            };
            if peer == h.me {
                return Err((
                    "a frame from another role instance".to_owned(),
                    format!(
                        "a frame claiming to come from the local instance {}",
                        name()
                    ),
                ));
            }
            let bound = h.peers.get(peer.as_usize()).copied();
            if bound != Some(from) {
                return Err((
                    format!(
                        "frames of {} from {}",
                        name(),
                        bound.map_or("nobody".to_owned(), |b| b.to_string())
                    ),
                    format!("a frame claiming sender {} from {from}", name()),
                ));
            }
            if frame.kind == FrameKind::Data && usize::from(env.label.0) >= h.protocol.labels.len()
            {
                return Err((
                    format!("a label of protocol {}", h.protocol.name),
                    format!("label number {}", env.label.0),
                ));
            }
            let Some(Some(link)) = h.links.get_mut(peer.as_usize()) else {
                return Err(("a linked peer".to_owned(), name()));
            };
            if let Err(sent) = link.on_ack(now, frame.ack, &link_config) {
                return Err((
                    format!("an acknowledgement of at most frame {sent} (all that were sent)"),
                    format!("an acknowledgement of frame {}", frame.ack),
                ));
            }
            link.heard(now);
            if direct {
                link.ungate();
            }
            let received = match frame.kind {
                FrameKind::Data => link.on_sequenced(
                    now,
                    frame.seq,
                    Item::Message(message_of(frame.envelope.clone())),
                    &link_config,
                ),
                FrameKind::Close => link.on_sequenced(now, frame.seq, Item::Close, &link_config),
                FrameKind::Heartbeat => {
                    // A heartbeat is a probe: answer it at once, so the
                    // prober hears us even if our own heartbeats are lost.
                    link.answer_heartbeat(now, &link_config);
                    Received::Accepted
                }
                FrameKind::Ack => Received::Accepted,
                // Routed to `on_handoff_frame` before they get here.
                _ => Received::Accepted,
            };
            Ok((peer.0, received))
        })();
        match outcome {
            Ok((peer, received)) => {
                match received {
                    Received::Accepted => {}
                    Received::Duplicate => self.stats.duplicates += 1,
                    Received::OverWindow => self.stats.over_window += 1,
                }
                self.mark_if_due(session, peer);
            }
            Err((expected, got)) => self.violation(from, Some(session), expected, got),
        }
    }

    pub(super) fn mark_if_due(&mut self, session: SessionId, peer: u32) {
        let link_config = self.config.link;
        let now = self.now;
        let due = self
            .sessions
            .get(&session)
            .and_then(|h| h.links.get(peer as usize))
            .and_then(Option::as_ref)
            .is_some_and(|l| l.wants_transmit(now, &link_config));
        if due {
            self.dirty.insert((session, peer));
        }
    }

    #[cold]
    pub(super) fn violation(
        &mut self,
        from: NodeId,
        session: Option<SessionId>,
        expected: String,
        got: String,
    ) {
        self.stats.violations += 1;
        tracing::debug!(peer = %from, ?session, %expected, %got, "dropping a frame that violates the node protocol");
        self.event(NodeEvent::Violation {
            peer: from,
            session,
            error: Error::ProtocolViolation {
                role: from.to_string(),
                expected,
                got,
            },
        });
    }

    pub(super) fn event(&mut self, event: NodeEvent) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    /// The next frame to put on the wire, if any. Call until `None` after
    /// every other call into the node.
    pub fn poll_transmit(&mut self, now: Time) -> Option<Transmit> {
        self.tick(now);
        loop {
            if let Some(t) = self.outbox.pop_front() {
                if t.to == self.me {
                    // Between two endpoints of one session on this node
                    // (a role handed to a node that plays another).
                    let now = self.now;
                    self.handle_frame(now, t.to, &t.frame);
                    continue;
                }
                self.stats.frames_out += 1;
                return Some(t);
            }
            let (session, peer) = self.dirty.pop_first()?;
            let Some(h) = self.sessions.get_mut(&session) else {
                continue;
            };
            let (Some(Some(link)), Some(&to)) =
                (h.links.get_mut(peer as usize), h.peers.get(peer as usize))
            else {
                continue;
            };
            let header = Header {
                session: h
                    .wire
                    .get(peer as usize)
                    .copied()
                    .unwrap_or(h.header.session),
                ..h.header
            };
            let mut frames = Vec::new();
            link.transmit(self.now, &header, &self.config.link, &mut frames);
            self.outbox
                .extend(frames.into_iter().map(|frame| Transmit { to, frame }));
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called
    /// (`None`: only when a frame or a local operation arrives).
    ///
    /// O(log n) in the hosted sessions, plus the recomputation of the
    /// sessions changed since the last call (see `node/table.rs`): the
    /// network driver asks it on every flush.
    pub fn poll_timeout(&mut self) -> Option<Time> {
        self.refresh_deadlines();
        let next = self.pending.next_timeout(&self.config.pending);
        match (next, self.sessions.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Recompute the next deadline of every session changed since the
    /// last call. A session that is no longer settled forgets when it
    /// settled: its linger counts from when it settles again.
    fn refresh_deadlines(&mut self) {
        let link = self.config.link;
        let now = self.now;
        self.sessions.refresh(|h| {
            if let Some(d) = &h.departure {
                return Some(d.next_timeout());
            }
            if h.settled() {
                return Some(h.settled_at.map_or(now, |t| t + link.linger));
            }
            h.settled_at = None;
            h.links
                .iter()
                .flatten()
                .filter_map(|l| l.next_timeout(h.patience, &link))
                .chain(h.deadlines.iter().map(|(t, _)| *t))
                .min()
        });
    }

    /// Run the timers that are due: retransmissions, heartbeats,
    /// unresponsive and lost peers, expiry of held frames, removal of
    /// closed sessions. Visits only the sessions whose next deadline
    /// ([`poll_timeout`](Self::poll_timeout)'s index) is at or before
    /// `now`, in key order; a session's timers act only at or after the
    /// deadline it reports, so the others have nothing due.
    pub fn handle_timeout(&mut self, now: Time) {
        self.tick(now);
        let now = self.now;
        self.stats.pending_dropped += self.pending.expire(now, &self.config.pending);
        self.refresh_deadlines();
        let due = self.sessions.due(now);
        let link_config = self.config.link;
        let mut events = Vec::new();
        let mut remove = Vec::new();
        for &session in &due {
            let Some(h) = self.sessions.get_mut(&session) else {
                continue;
            };
            if h.deadlines.iter().any(|(t, _)| *t <= now) {
                let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut h.deadlines)
                    .into_iter()
                    .partition(|(t, _)| *t <= now);
                h.deadlines = keep;
                due.into_iter().for_each(|(_, w)| w.wake());
            }
            for (peer, link) in h.links.iter_mut().enumerate() {
                let Some(link) = link else { continue };
                let header = Header {
                    session: h.wire.get(peer).copied().unwrap_or(h.header.session),
                    ..h.header
                };
                let mut frames = Vec::new();
                let fired = link.on_timeout(now, &header, h.patience, &link_config, &mut frames);
                let to = h.peers.get(peer).copied().unwrap_or(self.me);
                self.stats.retransmissions += fired.retransmitted;
                self.outbox
                    .extend(frames.into_iter().map(|frame| Transmit { to, frame }));
                if let Some(silent_for) = fired.unresponsive {
                    tracing::info!(%session, peer = %to, ?silent_for, "session peer unresponsive");
                    events.push(NodeEvent::PeerUnresponsive {
                        session,
                        peer: to,
                        silent_for,
                    });
                }
                if fired.lost {
                    tracing::warn!(%session, peer = %to, patience = ?h.patience, "session peer lost");
                    events.push(NodeEvent::PeerLost { session, peer: to });
                }
            }
            if h.settled() {
                let at = *h.settled_at.get_or_insert(now);
                if now >= at + link_config.linger {
                    remove.push(session);
                }
            } else {
                h.settled_at = None;
            }
        }
        for e in events {
            self.event(e);
        }
        remove.extend(self.departure_timeouts(now, &due));
        for session in remove {
            self.sessions.remove(&session);
            self.tombstone(session);
        }
    }

    pub(super) fn tombstone(&mut self, session: SessionId) {
        if self.config.tombstones == 0 {
            return;
        }
        if self.tombstones.len() >= self.config.tombstones {
            if let Some(old) = self.tombstones.pop_front() {
                self.tombstone_set.remove(&old);
            }
        }
        if self.tombstone_set.insert(session) {
            self.tombstones.push_back(session);
        }
    }

    /// The nodes bound to a hosted session's roster peers, and its
    /// patience (a `link` opens its linked session with the same).
    pub(crate) fn session_binding(&self, session: SessionId) -> Option<(Vec<NodeId>, Duration)> {
        self.sessions
            .get(&session)
            .map(|h| (h.peers.clone(), h.patience))
    }

    /// The next event for the host application, if any.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Host a session: checks the binding and replays frames that
    /// arrived early. Returns the local peer number.
    pub(crate) fn open(
        &mut self,
        header: Header,
        protocol: &'static ProtocolInfo,
        roster: Roster,
        peers: Vec<NodeId>,
        patience: Duration,
    ) -> Result<PeerId, Error> {
        let id = header.session;
        let host = |msg: String| -> Error { UsageError::Host(msg).into() };
        if self.sessions.contains_key(&id) || self.tombstone_set.contains(&id) {
            return Err(host(format!(
                "session {id} is open or was used recently on this node; every run needs a fresh session id"
            )));
        }
        if peers.len() != roster.len() {
            return Err(host(format!(
                "the roster has {} instances but {} nodes are bound",
                roster.len(),
                peers.len()
            )));
        }
        let me = roster
            .peer(header.sender)
            .ok_or_else(|| UsageError::UnknownRole {
                role: protocol.role_name(header.sender),
            })?;
        let name = |p: usize| -> String {
            roster
                .instances()
                .get(p)
                .map_or(format!("peer {p}"), |&r: &RoleId| protocol.role_name(r))
        };
        for (p, node) in peers.iter().enumerate() {
            let local = p == me.as_usize();
            if local != (*node == self.me) {
                return Err(host(format!(
                    "the roster binds {} to {node}, but this node is {} and plays {}; bind exactly the local instance to this node",
                    name(p),
                    self.me,
                    name(me.as_usize())
                )));
            }
        }
        let links = (0..roster.len())
            .map(|p| (p != me.as_usize()).then(|| Link::new(self.now, &self.config.link)))
            .collect();
        self.install(Hosted::new(
            header, protocol, me, roster, peers, links, patience,
        ));
        Ok(me)
    }

    /// Host an endpoint under its key (`header.session`) and replay the
    /// frames that arrived for it early.
    pub(super) fn install(&mut self, hosted: Hosted) {
        let id = hosted.header.session;
        self.sessions.insert(id, hosted);
        for held in self.pending.take(id) {
            // Re-validated as if it had just arrived (it was only decoded).
            if let Ok(frame) = NodeFrame::decode(&held.bytes) {
                self.on_session_frame(id, held.from, frame, true);
            }
        }
    }

    /// Queue a message of a hosted session for roster peer `to`.
    pub(crate) fn send(
        &mut self,
        session: SessionId,
        to: PeerId,
        message: Message,
    ) -> Result<(), TransportError> {
        let max = self.config.max_frame_len;
        let h = self
            .sessions
            .get_mut(&session)
            .ok_or(TransportError::Closed)?;
        if h.closed {
            return Err(TransportError::Closed);
        }
        let len = FRAME_OVERHEAD + message.payload.as_bytes().len();
        if len > max {
            return Err(TransportError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a {len}-byte frame exceeds the maximum frame length {max}"),
            )));
        }
        let Some(Some(link)) = h.links.get_mut(to.as_usize()) else {
            return Err(TransportError::UnknownPeer(to));
        };
        link.push(Item::Message(message));
        self.mark_if_due(session, to.0);
        Ok(())
    }

    /// The next message from roster peer `from`, registering `waker` if
    /// there is none yet.
    pub(crate) fn recv(
        &mut self,
        session: SessionId,
        from: PeerId,
        waker: &Waker,
    ) -> Poll<Result<Frame, TransportError>> {
        let Some(h) = self.sessions.get_mut(&session) else {
            return Poll::Ready(Err(TransportError::Closed));
        };
        let patience = h.patience;
        let Some(Some(link)) = h.links.get_mut(from.as_usize()) else {
            return Poll::Ready(Err(TransportError::UnknownPeer(from)));
        };
        match link.take(waker) {
            Taken::Message(m) => Poll::Ready(Ok(Frame::Message(m))),
            Taken::Closed => Poll::Ready(Err(TransportError::Closed)),
            Taken::Lost => Poll::Ready(Err(TransportError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("peer not heard from for the session's patience ({patience:?})"),
            )))),
            Taken::Pending => Poll::Pending,
        }
    }

    /// Ready once `deadline` has passed (`now` is the session clock's
    /// reading); otherwise `waker` is woken by the
    /// [`handle_timeout`](Self::handle_timeout) call at or after it
    /// ([`poll_timeout`](Self::poll_timeout) includes it).
    pub(crate) fn poll_deadline(
        &mut self,
        session: SessionId,
        now: Time,
        deadline: Time,
        waker: &Waker,
    ) -> Poll<()> {
        self.tick(now);
        if self.now >= deadline {
            return Poll::Ready(());
        }
        match self.sessions.get_mut(&session) {
            Some(h) if !h.closed => {
                crate::time::register(&mut h.deadlines, deadline, waker);
                Poll::Pending
            }
            // A closed session's operations fail on their own; do not hold
            // its caller here.
            _ => Poll::Ready(()),
        }
    }

    /// The local endpoint of `session` closed: send a close on every link,
    /// keep retransmitting until acknowledged, then forget the session.
    pub(crate) fn close(&mut self, session: SessionId) {
        let Some(h) = self.sessions.get_mut(&session) else {
            return;
        };
        if h.closed {
            return;
        }
        h.closed = true;
        // Nobody waits on the session's deadlines any more.
        h.deadlines.clear();
        let n = h.links.len();
        for link in h.links.iter_mut().flatten() {
            link.close_local();
        }
        for p in 0..n {
            self.mark_if_due(session, u32::try_from(p).unwrap_or(u32::MAX));
        }
    }
}
