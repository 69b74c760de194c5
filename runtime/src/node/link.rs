//! One reliable link: a (session, local instance, remote instance) pair's
//! sequence numbers, acknowledgements, retransmissions, reordering buffer
//! and liveness timers. Pure state; the host gives it the time.

use std::collections::{BTreeMap, VecDeque};
use std::task::Waker;
use std::time::Duration;

use super::wire::{FrameKind, NodeFrame, FRAME_OVERHEAD};
use super::{LinkConfig, Time};
use crate::envelope::{Header, Message};

/// A sequenced item: a message, or the sender's close.
#[derive(Debug)]
pub(crate) enum Item {
    Message(Message),
    Close,
}

impl Item {
    /// Bytes it is accounted for in buffers (its encoded size).
    fn cost(&self) -> usize {
        FRAME_OVERHEAD
            + match self {
                Item::Message(m) => m.payload.as_bytes().len(),
                Item::Close => 0,
            }
    }
}

#[derive(Debug)]
struct Outgoing {
    seq: u64,
    item: Item,
    sent: bool,
}

/// What a received data/close frame did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// New: buffered or delivered.
    Accepted,
    /// Already seen.
    Duplicate,
    /// Beyond the window or the receive buffer: dropped unacknowledged.
    OverWindow,
}

/// What a timeout did.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    pub(crate) unresponsive: Option<Duration>,
    pub(crate) lost: bool,
    pub(crate) retransmitted: u64,
}

#[derive(Debug)]
pub(crate) struct Link {
    // Sending side.
    next_seq: u64,
    /// Sequenced frames not yet acknowledged, oldest first.
    unacked: VecDeque<Outgoing>,
    /// Highest cumulative ack the peer sent.
    peer_acked: u64,
    rto: Duration,
    retransmit_at: Option<Time>,
    last_sent: Time,
    // Receiving side.
    /// Highest sequence number moved to the inbox in order (our cumulative ack).
    delivered: u64,
    out_of_order: BTreeMap<u64, Item>,
    inbox: VecDeque<Message>,
    buffered: usize,
    pub(crate) peer_closed: bool,
    /// When an acknowledgement must go out on its own if no data frame
    /// has carried it by then (`None`: nothing owed).
    ack_due: Option<Time>,
    last_heard: Time,
    suspected: bool,
    pub(crate) lost: bool,
    /// The local endpoint closed: received messages are acknowledged and dropped.
    local_closed: bool,
    /// A link this node took over in a handoff: it sends nothing (no data,
    /// acks or heartbeats) until the peer is heard from directly, which it
    /// is only once the peer has rerouted this role to us (see
    /// [`super::handoff`]).
    pub(crate) gated: bool,
    /// Send a heartbeat at the next transmit: a peer that just rerouted a
    /// role tells its new holder so at once.
    probe_due: bool,
    waker: Option<Waker>,
}

impl Link {
    pub(crate) fn new(now: Time, config: &LinkConfig) -> Self {
        Self {
            next_seq: 1,
            unacked: VecDeque::new(),
            peer_acked: 0,
            rto: config.initial_rto,
            retransmit_at: None,
            last_sent: now,
            delivered: 0,
            out_of_order: BTreeMap::new(),
            inbox: VecDeque::new(),
            buffered: 0,
            peer_closed: false,
            ack_due: None,
            last_heard: now,
            suspected: false,
            lost: false,
            local_closed: false,
            gated: false,
            probe_due: false,
            waker: None,
        }
    }

    /// The state a handoff carries to the new holder (everything but the
    /// timers, which restart there). Leaves nothing behind: the old holder
    /// sends and delivers nothing more on this link.
    pub(crate) fn export(&mut self) -> LinkState {
        let item = |i: Item| match i {
            Item::Message(m) => ItemState::Message {
                label: m.label.0,
                phase: m.phase,
                payload: m.payload.as_bytes().to_vec(),
            },
            Item::Close => ItemState::Close,
        };
        self.waker = None;
        LinkState {
            next_seq: self.next_seq,
            peer_acked: self.peer_acked,
            unacked: std::mem::take(&mut self.unacked)
                .into_iter()
                .map(|o| (o.seq, item(o.item)))
                .collect(),
            delivered: self.delivered,
            out_of_order: std::mem::take(&mut self.out_of_order)
                .into_iter()
                .map(|(seq, i)| (seq, item(i)))
                .collect(),
            inbox: std::mem::take(&mut self.inbox)
                .into_iter()
                .map(|m| item(Item::Message(m)))
                .collect(),
            peer_closed: self.peer_closed,
            lost: self.lost,
        }
    }

    /// A link taken over in a handoff, gated until the peer reroutes.
    /// `state` was checked by [`LinkState::check`].
    pub(crate) fn import(now: Time, config: &LinkConfig, state: LinkState) -> Self {
        let item = |i: ItemState| match i {
            ItemState::Message {
                label,
                phase,
                payload,
            } => Item::Message(Message {
                label: crate::ids::Label(label),
                phase,
                payload: crate::envelope::Payload::from_bytes(&payload),
            }),
            ItemState::Close => Item::Close,
        };
        let mut link = Self::new(now, config);
        link.next_seq = state.next_seq;
        link.peer_acked = state.peer_acked;
        link.unacked = state
            .unacked
            .into_iter()
            .map(|(seq, i)| Outgoing {
                seq,
                item: item(i),
                sent: false,
            })
            .collect();
        link.delivered = state.delivered;
        link.out_of_order = state
            .out_of_order
            .into_iter()
            .map(|(seq, i)| (seq, item(i)))
            .collect();
        link.inbox = state
            .inbox
            .into_iter()
            .filter_map(|i| match item(i) {
                Item::Message(m) => Some(m),
                Item::Close => None,
            })
            .collect();
        link.buffered = link
            .inbox
            .iter()
            .map(|m| FRAME_OVERHEAD + m.payload.as_bytes().len())
            .sum::<usize>()
            + link.out_of_order.values().map(Item::cost).sum::<usize>();
        link.peer_closed = state.peer_closed;
        link.lost = state.lost;
        link.gated = true;
        // The peer learns what we hold as soon as we may speak.
        link.ack_due = Some(Time::ZERO);
        link
    }

    /// The peer's side of this link moved to another node: send every
    /// unacknowledged frame again (to the new holder), announce ourselves
    /// with a heartbeat, and count its silence from now.
    pub(crate) fn retarget(&mut self, now: Time) {
        for o in &mut self.unacked {
            o.sent = false;
        }
        self.retransmit_at = None;
        self.probe_due = true;
        self.heard(now);
    }

    /// Frames arrive directly from the peer on a gated link: it has
    /// rerouted, so the link may speak.
    pub(crate) fn ungate(&mut self) {
        if self.gated {
            self.gated = false;
            self.ack_due = Some(Time::ZERO);
        }
    }

    /// Our cumulative acknowledgement of the peer's frames.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Bytes of received frames held.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Queue a sequenced item for sending. Dropped if the peer is lost (as
    /// on a network, the loss shows at the receiving side).
    pub(crate) fn push(&mut self, item: Item) {
        if self.lost {
            return;
        }
        self.unacked.push_back(Outgoing {
            seq: self.next_seq,
            item,
            sent: false,
        });
        self.next_seq += 1;
    }

    /// The local endpoint closed: queue a close, drop what it will never read.
    pub(crate) fn close_local(&mut self) {
        if self.local_closed {
            return;
        }
        self.local_closed = true;
        self.push(Item::Close);
        self.inbox.clear();
        self.out_of_order.retain(|_, i| matches!(i, Item::Close));
        self.buffered = 0;
        self.waker = None;
    }

    /// True if the link has something to put on the wire now.
    pub(crate) fn wants_transmit(&self, now: Time, config: &LinkConfig) -> bool {
        if self.gated {
            return false;
        }
        let limit = self.peer_acked.saturating_add(config.window);
        self.ack_due.is_some_and(|t| t <= now)
            || self.probe_due
            || self.unacked.iter().any(|o| !o.sent && o.seq <= limit)
    }

    /// Process the ack field of any frame. `Err(sent)` if it acknowledges
    /// frames never sent (`sent` = how many were).
    pub(crate) fn on_ack(&mut self, now: Time, ack: u64, config: &LinkConfig) -> Result<(), u64> {
        let sent = self.next_seq - 1;
        if ack > sent {
            return Err(sent);
        }
        if ack > self.peer_acked {
            self.peer_acked = ack;
            while self.unacked.front().is_some_and(|o| o.seq <= ack) {
                self.unacked.pop_front();
            }
            self.rto = config.initial_rto;
            self.retransmit_at = self
                .unacked
                .iter()
                .any(|o| o.sent)
                .then_some(now + self.rto);
        }
        Ok(())
    }

    /// A heartbeat arrived: answer it with an ack, unless we sent something
    /// in the last eighth of a heartbeat interval (that frame already tells
    /// the prober we are alive; without this, two sides whose heartbeat
    /// timers fire together would answer each other's heartbeats too).
    pub(crate) fn answer_heartbeat(&mut self, now: Time, config: &LinkConfig) {
        if !self.lost && now - self.last_sent >= config.heartbeat / 8 {
            self.owe_ack(now);
        }
    }

    /// Any valid frame from the peer: it is alive.
    pub(crate) fn heard(&mut self, now: Time) {
        self.last_heard = self.last_heard.max(now);
        self.suspected = false;
    }

    /// Owe the peer an acknowledgement by `at`.
    fn owe_ack(&mut self, at: Time) {
        self.ack_due = Some(self.ack_due.map_or(at, |t| t.min(at)));
    }

    /// A data or close frame.
    pub(crate) fn on_sequenced(
        &mut self,
        now: Time,
        seq: u64,
        item: Item,
        config: &LinkConfig,
    ) -> Received {
        if self.lost {
            return Received::OverWindow;
        }
        self.owe_ack(now + config.ack_delay);
        if seq <= self.delivered || self.out_of_order.contains_key(&seq) {
            return Received::Duplicate;
        }
        if seq > self.delivered.saturating_add(config.window) {
            return Received::OverWindow;
        }
        let cost = item.cost();
        let next_in_order = seq == self.delivered + 1;
        if !self.local_closed
            && self.buffered + cost > config.recv_buffer
            && !(next_in_order && self.buffered == 0)
        {
            return Received::OverWindow;
        }
        if !self.local_closed {
            self.buffered += cost;
        }
        let mut woke = false;
        if next_in_order {
            // Delivered at once, with whatever it unblocks: the usual case
            // (frames in order) costs no reordering-buffer insert. The
            // buffer never holds `delivered + 1` between calls, so a frame
            // out of order unblocks nothing.
            let mut next = Some(item);
            while let Some(item) = next {
                self.delivered += 1;
                match item {
                    Item::Close => self.peer_closed = true,
                    Item::Message(m) if !self.local_closed => self.inbox.push_back(m),
                    Item::Message(_) => {}
                }
                woke = true;
                next = self.out_of_order.remove(&(self.delivered + 1));
            }
        } else {
            self.out_of_order.insert(seq, item);
        }
        if self.local_closed {
            self.buffered = 0;
        }
        if woke {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
        Received::Accepted
    }

    /// The next delivered message, or why there is none.
    pub(crate) fn take(&mut self, waker: &Waker) -> Taken {
        if let Some(m) = self.inbox.pop_front() {
            self.buffered = self
                .buffered
                .saturating_sub(FRAME_OVERHEAD + m.payload.as_bytes().len());
            return Taken::Message(m);
        }
        if self.peer_closed {
            return Taken::Closed;
        }
        if self.lost {
            return Taken::Lost;
        }
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
        Taken::Pending
    }

    /// Put what is due on the wire: unsent frames within the window, and an
    /// ack if one is owed and no frame carried it.
    pub(crate) fn transmit(
        &mut self,
        now: Time,
        header: &Header,
        config: &LinkConfig,
        out: &mut Vec<Vec<u8>>,
    ) {
        if self.lost {
            self.ack_due = None;
            self.probe_due = false;
            return;
        }
        if self.gated {
            return;
        }
        if std::mem::take(&mut self.probe_due) {
            out.push(NodeFrame::encode_control(
                FrameKind::Heartbeat,
                header,
                0,
                self.delivered,
            ));
            self.last_sent = now;
        }
        let limit = self.peer_acked.saturating_add(config.window);
        let ack = self.delivered;
        let mut any = false;
        for o in self
            .unacked
            .iter_mut()
            .filter(|o| !o.sent && o.seq <= limit)
        {
            out.push(encode(header, o, ack));
            o.sent = true;
            any = true;
        }
        if any {
            self.retransmit_at.get_or_insert(now + self.rto);
            self.ack_due = None;
            self.last_sent = now;
        }
        if self.ack_due.is_some_and(|t| t <= now) {
            out.push(NodeFrame::encode_control(FrameKind::Ack, header, 0, ack));
            self.ack_due = None;
            self.last_sent = now;
        }
    }

    /// Fire the timers that are due.
    pub(crate) fn on_timeout(
        &mut self,
        now: Time,
        header: &Header,
        patience: Duration,
        config: &LinkConfig,
        out: &mut Vec<Vec<u8>>,
    ) -> Fired {
        let mut fired = Fired::default();
        if self.lost || self.settled() {
            return fired;
        }
        if self.gated {
            // Only the patience runs while we may not speak.
            if now - self.last_heard >= patience {
                self.lost = true;
                self.unacked.clear();
                if let Some(w) = self.waker.take() {
                    w.wake();
                }
                fired.lost = true;
            }
            return fired;
        }
        let silent = now - self.last_heard;
        if silent >= patience {
            self.lost = true;
            self.unacked.clear();
            self.retransmit_at = None;
            self.ack_due = None;
            if let Some(w) = self.waker.take() {
                w.wake();
            }
            fired.lost = true;
            return fired;
        }
        if !self.suspected && silent >= config.suspect_after && self.watches_peer() {
            self.suspected = true;
            fired.unresponsive = Some(silent);
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            let ack = self.delivered;
            for o in self
                .unacked
                .iter()
                .filter(|o| o.sent)
                .take(config.max_burst)
            {
                out.push(encode(header, o, ack));
                fired.retransmitted += 1;
            }
            self.rto = (self.rto * 2).min(config.max_rto);
            self.retransmit_at = Some(now + self.rto);
            self.last_sent = now;
            self.ack_due = None;
        }
        if self.watches_peer() && now - self.last_sent >= self.heartbeat(config) {
            out.push(NodeFrame::encode_control(
                FrameKind::Heartbeat,
                header,
                0,
                self.delivered,
            ));
            self.last_sent = now;
            self.ack_due = None;
        }
        if self.ack_due.is_some_and(|t| t <= now) {
            // No data frame carried it in time.
            out.push(NodeFrame::encode_control(
                FrameKind::Ack,
                header,
                0,
                self.delivered,
            ));
            self.ack_due = None;
            self.last_sent = now;
        }
        fired
    }

    /// The heartbeat interval: [`LinkConfig::heartbeat`], or a quarter of
    /// it while the peer is unresponsive. Every heartbeat is answered with
    /// an ack, so probing faster keeps a lossy but live link from being
    /// declared lost: that takes every probe or its answer to be lost,
    /// dozens of times in a row.
    fn heartbeat(&self, config: &LinkConfig) -> Duration {
        if self.suspected {
            config.heartbeat / 4
        } else {
            config.heartbeat
        }
    }

    /// Heartbeats and suspicion matter while the peer may still send to
    /// us; once its close arrived only our own unacked frames keep the link
    /// busy (retransmissions, bounded by the patience).
    fn watches_peer(&self) -> bool {
        !self.peer_closed
    }

    /// Nothing left to do: both sides closed and our frames are acknowledged,
    /// or the peer is lost.
    pub(crate) fn settled(&self) -> bool {
        self.lost
            || (self.local_closed
                && self.peer_closed
                && self.unacked.is_empty()
                && self.ack_due.is_none())
    }

    /// When [`on_timeout`](Self::on_timeout) must next run.
    pub(crate) fn next_timeout(&self, patience: Duration, config: &LinkConfig) -> Option<Time> {
        if self.lost || self.settled() {
            return None;
        }
        let mut t = self.last_heard + patience;
        if self.gated {
            return Some(t);
        }
        if !self.unacked.iter().any(|o| o.sent) && self.peer_closed && self.ack_due.is_none() {
            // Only waiting for nothing: no timer but the patience, which
            // cannot matter either.
            return None;
        }
        if let Some(r) = self.retransmit_at {
            t = t.min(r);
        }
        if let Some(a) = self.ack_due {
            t = t.min(a);
        }
        if self.watches_peer() {
            if !self.suspected {
                t = t.min(self.last_heard + config.suspect_after);
            }
            t = t.min(self.last_sent + self.heartbeat(config));
        }
        Some(t)
    }
}

/// Result of [`Link::take`].
#[derive(Debug)]
pub(crate) enum Taken {
    Message(Message),
    Closed,
    Lost,
    Pending,
}

fn encode(header: &Header, o: &Outgoing, ack: u64) -> Vec<u8> {
    match &o.item {
        Item::Message(m) => NodeFrame::encode_data(header, o.seq, ack, m),
        Item::Close => NodeFrame::encode_control(FrameKind::Close, header, o.seq, ack),
    }
}

/// A sequenced item in a handoff bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ItemState {
    Message {
        label: u16,
        phase: u64,
        payload: Vec<u8>,
    },
    Close,
}

/// One link's state in a handoff bundle ([`Link::export`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LinkState {
    pub(crate) next_seq: u64,
    pub(crate) peer_acked: u64,
    /// Sent or queued, not acknowledged: `(seq, item)`, oldest first.
    pub(crate) unacked: Vec<(u64, ItemState)>,
    pub(crate) delivered: u64,
    /// Received beyond `delivered`: `(seq, item)`.
    pub(crate) out_of_order: Vec<(u64, ItemState)>,
    /// Delivered to the link, not yet read by the endpoint, in order.
    pub(crate) inbox: Vec<ItemState>,
    pub(crate) peer_closed: bool,
    pub(crate) lost: bool,
}

impl LinkState {
    /// Is this a state a link could have been in? `labels`: the protocol's
    /// label count. Returns what is wrong.
    pub(crate) fn check(&self, labels: usize, config: &LinkConfig) -> Result<(), String> {
        let item_ok = |i: &ItemState| match i {
            ItemState::Message { label, .. } => usize::from(*label) < labels,
            ItemState::Close => true,
        };
        if self.next_seq == 0 || self.peer_acked >= self.next_seq {
            return Err(format!(
                "acknowledged frame {} of {} sent",
                self.peer_acked,
                self.next_seq.saturating_sub(1)
            ));
        }
        let mut expect = self.peer_acked + 1;
        for (seq, item) in &self.unacked {
            if *seq != expect || !item_ok(item) {
                return Err(format!("unacknowledged frame {seq} where {expect} was due"));
            }
            expect += 1;
        }
        if expect != self.next_seq && !(self.lost && self.unacked.is_empty()) {
            return Err("unacknowledged frames that stop short of the last one sent".to_owned());
        }
        let mut last = self.delivered;
        for (seq, item) in &self.out_of_order {
            if *seq <= last || *seq > self.delivered.saturating_add(config.window) || !item_ok(item)
            {
                return Err(format!("received frame {seq} out of place"));
            }
            last = *seq;
        }
        if self
            .out_of_order
            .first()
            .is_some_and(|(s, _)| *s == self.delivered + 1)
        {
            return Err("a received frame in order but not delivered".to_owned());
        }
        if !self
            .inbox
            .iter()
            .all(|i| matches!(i, ItemState::Message { .. }) && item_ok(i))
        {
            return Err("an undelivered message of no label of the protocol".to_owned());
        }
        Ok(())
    }
}
