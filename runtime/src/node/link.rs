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
    ack_due: bool,
    last_heard: Time,
    suspected: bool,
    pub(crate) lost: bool,
    /// The local endpoint closed: received messages are acknowledged and dropped.
    local_closed: bool,
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
            ack_due: false,
            last_heard: now,
            suspected: false,
            lost: false,
            local_closed: false,
            waker: None,
        }
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
    pub(crate) fn wants_transmit(&self, config: &LinkConfig) -> bool {
        let limit = self.peer_acked.saturating_add(config.window);
        self.ack_due || self.unacked.iter().any(|o| !o.sent && o.seq <= limit)
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
            self.ack_due = true;
        }
    }

    /// Any valid frame from the peer: it is alive.
    pub(crate) fn heard(&mut self, now: Time) {
        self.last_heard = self.last_heard.max(now);
        self.suspected = false;
    }

    /// A data or close frame.
    pub(crate) fn on_sequenced(&mut self, seq: u64, item: Item, config: &LinkConfig) -> Received {
        if self.lost {
            return Received::OverWindow;
        }
        self.ack_due = true;
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
        self.out_of_order.insert(seq, item);
        let mut woke = false;
        while let Some(item) = self.out_of_order.remove(&(self.delivered + 1)) {
            self.delivered += 1;
            match item {
                Item::Close => self.peer_closed = true,
                Item::Message(m) if !self.local_closed => self.inbox.push_back(m),
                Item::Message(_) => {}
            }
            woke = true;
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
            self.ack_due = false;
            return;
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
            self.ack_due = false;
            self.last_sent = now;
        }
        if self.ack_due {
            out.push(NodeFrame::encode_control(FrameKind::Ack, header, 0, ack));
            self.ack_due = false;
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
        let silent = now - self.last_heard;
        if silent >= patience {
            self.lost = true;
            self.unacked.clear();
            self.retransmit_at = None;
            self.ack_due = false;
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
            self.ack_due = false;
        }
        if self.watches_peer() && now - self.last_sent >= self.heartbeat(config) {
            out.push(NodeFrame::encode_control(
                FrameKind::Heartbeat,
                header,
                0,
                self.delivered,
            ));
            self.last_sent = now;
            self.ack_due = false;
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
        self.lost || (self.local_closed && self.peer_closed && self.unacked.is_empty())
    }

    /// When [`on_timeout`](Self::on_timeout) must next run.
    pub(crate) fn next_timeout(&self, patience: Duration, config: &LinkConfig) -> Option<Time> {
        if self.lost || self.settled() {
            return None;
        }
        let mut t = self.last_heard + patience;
        if !self.unacked.iter().any(|o| o.sent) && self.peer_closed {
            // Only waiting for nothing: no timer but the patience, which
            // cannot matter either.
            return None;
        }
        if let Some(r) = self.retransmit_at {
            t = t.min(r);
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
