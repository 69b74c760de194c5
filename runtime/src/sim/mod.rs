//! A deterministic simulated network for [`Node`]s.
//!
//! One seeded RNG (ChaCha8) decides every drop, delay, duplicate and
//! reorder; time is virtual and jumps to the next event; session futures
//! (the user's generated endpoint code) run on a single-threaded executor
//! whose wakers only set flags, and tasks are polled in spawn order. So a
//! run is a pure function of its seed and the program: rerunning a seed
//! replays it exactly, frame for frame ([`Sim::trace_digest`]).
//!
//! The simulator drives the same sans-I/O [`Node`] the network driver
//! drives: it delivers frames with [`Node::handle_frame`], collects them
//! with [`Node::poll_transmit`], and fires [`Node::handle_timeout`] at
//! [`Node::poll_timeout`].
//!
//! Faults: per-frame drop, duplicate and reorder probabilities
//! ([`SimConfig`]), partitions between groups of nodes and their heal
//! ([`Sim::partition`], [`Sim::heal`]), a crash that loses a node's
//! volatile state and kills its tasks ([`Sim::crash`]) and a restart with a
//! fresh node ([`Sim::restart`]); and raw frames from any identity
//! ([`Sim::inject`]) for hostile-peer tests.

mod executor;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Error;
use crate::ids::{ProtocolInfo, SessionId};
use crate::node::{
    Node, NodeConfig, NodeEvent, NodeId, NodeTransport, SessionSpec, SharedNode, Time,
};
use crate::roster::Roster;
use crate::session::Session;

pub use executor::TaskHandle;

/// Fault probabilities and delays of the simulated links.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back by up to
    /// [`reorder_delay`](Self::reorder_delay), so later frames overtake it.
    pub reorder: f64,
    /// One-way delay of every frame (default 10 ms)…
    pub latency: Duration,
    /// …plus a uniform random extra of up to this (default 5 ms).
    pub jitter: Duration,
    /// Largest extra delay of a reordered frame (default 100 ms).
    pub reorder_delay: Duration,
    /// Configuration of every node.
    pub node: NodeConfig,
    /// Keep the full trace in memory ([`Sim::trace`]); the digest is kept
    /// either way.
    pub keep_trace: bool,
    /// A run that has not finished by this virtual time is stuck (default
    /// 10 minutes).
    pub time_limit: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            reorder_delay: Duration::from_millis(100),
            node: NodeConfig::default(),
            keep_trace: false,
            time_limit: Duration::from_secs(600),
        }
    }
}

/// One entry of a run's trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceEvent {
    /// When it happened.
    pub at: Time,
    /// What happened.
    pub kind: TraceKind,
    /// Sending node index (for node events: the node).
    pub from: usize,
    /// Receiving node index (for node events: the node).
    pub to: usize,
    /// Frame length (0 for node events).
    pub len: usize,
    /// FNV-1a hash of the frame bytes (or of the event's debug text).
    pub hash: u64,
}

/// Kinds of [`TraceEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceKind {
    /// A node put a frame on the wire.
    Sent,
    /// The network lost it (random drop, partition, node down, unknown node).
    Dropped,
    /// The network will deliver it twice.
    Duplicated,
    /// Handed to the receiving node.
    Delivered,
    /// A node raised an event.
    Event,
    /// A node crashed.
    Crash,
    /// A node restarted.
    Restart,
}

/// Why [`Sim::run`] stopped without every task finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The run's seed (rerun it to replay).
    pub seed: u64,
    /// Virtual time when it gave up.
    pub at: Time,
    /// Tasks still running.
    pub unfinished: usize,
}

impl fmt::Display for Stuck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation with seed {} stuck at {} with {} unfinished task(s); rerun the seed to replay",
            self.seed, self.at, self.unfinished
        )
    }
}

impl std::error::Error for Stuck {}

#[derive(Debug)]
struct SimNode {
    id: NodeId,
    shared: SharedNode,
    up: bool,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Time,
    /// Tie-break: frames due at the same time arrive in send order.
    order: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

/// A simulated network of nodes (see the [module docs](self)).
#[derive(Debug)]
pub struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    now: Time,
    /// `now` in microseconds, read by every node's sessions as their clock
    /// (so timeout deadlines are virtual time too).
    clock: Arc<AtomicU64>,
    config: SimConfig,
    nodes: Vec<SimNode>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Ordered node pairs that cannot reach each other.
    blocked: BTreeSet<(usize, usize)>,
    executor: executor::Executor,
    trace: Vec<TraceEvent>,
    /// Frames put on the wire per session ([`Sim::frames_sent`]).
    sent_per_session: BTreeMap<SessionId, u64>,
    digest: u64,
    events: Vec<(Time, usize, NodeEvent)>,
    delivered: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Sim {
    /// An empty network whose every random choice comes from `seed`.
    pub fn new(seed: u64, config: SimConfig) -> Self {
        Self {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: Time::ZERO,
            clock: Arc::new(AtomicU64::new(0)),
            config,
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            order: 0,
            blocked: BTreeSet::new(),
            executor: executor::Executor::default(),
            trace: Vec::new(),
            sent_per_session: BTreeMap::new(),
            digest: FNV_OFFSET,
            events: Vec::new(),
            delivered: 0,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time now.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Add a node; returns its index. Its identity is derived from the
    /// index (byte 0 = index + 1), so traces name nodes stably.
    pub fn add_node(&mut self) -> usize {
        let index = self.nodes.len();
        let mut id = [0u8; 32];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::try_from((index + 1 + i * 7) % 256).unwrap_or(0);
        }
        self.add_node_with_id(NodeId(id))
    }

    /// Add a node with identity `id` (distinct from every other node's);
    /// returns its index. For callers whose protocols sign with the node's
    /// identity key: `id` is then that key's public half.
    pub fn add_node_with_id(&mut self, id: NodeId) -> usize {
        let index = self.nodes.len();
        let shared = self.new_node(id);
        self.nodes.push(SimNode {
            id,
            shared,
            up: true,
        });
        index
    }

    /// A fresh node core whose sessions read the virtual clock.
    fn new_node(&self, id: NodeId) -> SharedNode {
        let shared = SharedNode::new(Node::new(id, self.config.node.clone()));
        let clock = Arc::clone(&self.clock);
        shared.set_clock(Arc::new(move || {
            Time::from_micros(clock.load(Ordering::Relaxed))
        }));
        shared
    }

    /// Move virtual time to `t` (never backwards).
    fn advance(&mut self, t: Time) {
        self.now = self.now.max(t);
        self.clock.store(self.now.as_micros(), Ordering::Relaxed);
    }

    /// The identity of node `index`.
    pub fn node_id(&self, index: usize) -> Option<NodeId> {
        self.nodes.get(index).map(|n| n.id)
    }

    /// The (current incarnation of) node `index`.
    pub fn node(&self, index: usize) -> Option<&SharedNode> {
        self.nodes.get(index).map(|n| &n.shared)
    }

    /// Open one session per roster instance: instance `i` on node
    /// `nodes[i]`. Element `i` of the result is instance `i`'s session.
    pub fn open_sessions(
        &mut self,
        id: SessionId,
        protocol: &'static ProtocolInfo,
        roster: &Roster,
        nodes: &[usize],
    ) -> Result<Vec<Session<NodeTransport>>, Error> {
        let peers: Vec<NodeId> = nodes
            .iter()
            .map(|&n| {
                self.node_id(n).ok_or_else(|| {
                    crate::error::UsageError::Host(format!("the simulation has no node {n}")).into()
                })
            })
            .collect::<Result<_, Error>>()?;
        let mut out = Vec::with_capacity(roster.len());
        for (i, &me) in roster.instances().iter().enumerate() {
            let node = nodes
                .get(i)
                .and_then(|&n| self.nodes.get(n))
                .ok_or_else(|| {
                    crate::error::UsageError::Host(format!("no node for roster peer {i}"))
                })?;
            out.push(node.shared.open_session(SessionSpec {
                id,
                protocol,
                me,
                roster: roster.clone(),
                peers: peers.clone(),
                patience: None,
            })?);
        }
        Ok(out)
    }

    /// Run `future` on the simulator's executor as a task of node `node`
    /// (killed if that node crashes).
    pub fn spawn<T: 'static>(
        &mut self,
        node: usize,
        future: impl Future<Output = T> + 'static,
    ) -> TaskHandle<T> {
        self.executor.spawn(node, future)
    }

    /// From now on, nodes in `a` and nodes in `b` cannot reach each other
    /// (frames in flight between them are lost too).
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.blocked.insert((x, y));
                self.blocked.insert((y, x));
            }
        }
    }

    /// Remove every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Crash node `index`: its tasks are dropped and its volatile state
    /// (sessions, links, held frames) is lost; frames to it are lost until
    /// [`restart`](Self::restart).
    pub fn crash(&mut self, index: usize) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.up = false;
        }
        self.executor.kill(index);
        self.record(TraceKind::Crash, index, index, 0, 0);
    }

    /// Restart node `index` with a fresh [`Node`] (same identity, no state).
    pub fn restart(&mut self, index: usize) {
        let Some(id) = self.node_id(index) else {
            return;
        };
        let shared = self.new_node(id);
        if let Some(n) = self.nodes.get_mut(index) {
            n.shared = shared;
            n.up = true;
        }
        self.record(TraceKind::Restart, index, index, 0, 0);
    }

    /// Deliver `bytes` to node `to` now, as if sent by `from` (which need
    /// not be a simulated node): hostile-peer tests.
    pub fn inject(&mut self, from: NodeId, to: usize, bytes: &[u8]) {
        let hash = fnv(FNV_OFFSET, bytes);
        self.record(TraceKind::Delivered, usize::MAX, to, bytes.len(), hash);
        if let Some(n) = self.nodes.get(to).filter(|n| n.up) {
            let now = self.now;
            n.shared.with(|node| node.handle_frame(now, from, bytes));
        }
    }

    /// Events the nodes raised so far: (time, node index, event).
    pub fn events(&self) -> &[(Time, usize, NodeEvent)] {
        &self.events
    }

    /// How many frames the nodes have put on the wire for `session` (data,
    /// acks, heartbeats, closes; retransmissions included).
    pub fn frames_sent(&self, session: SessionId) -> u64 {
        self.sent_per_session.get(&session).copied().unwrap_or(0)
    }

    /// The full trace (empty unless [`SimConfig::keep_trace`]).
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// A hash of the whole trace so far: equal digests mean the runs sent,
    /// lost, duplicated and delivered the same frames at the same times.
    pub fn trace_digest(&self) -> u64 {
        self.digest
    }

    /// Frames delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    fn record(&mut self, kind: TraceKind, from: usize, to: usize, len: usize, hash: u64) {
        let e = TraceEvent {
            at: self.now,
            kind,
            from,
            to,
            len,
            hash,
        };
        let mut h = fnv(self.digest, &e.at.as_micros().to_le_bytes());
        h = fnv(h, &[kind as u8]);
        h = fnv(h, &(from as u64).to_le_bytes());
        h = fnv(h, &(to as u64).to_le_bytes());
        h = fnv(h, &(len as u64).to_le_bytes());
        self.digest = fnv(h, &hash.to_le_bytes());
        if self.config.keep_trace {
            self.trace.push(e);
        }
    }

    /// A uniform number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.config.jitter.mul_f64(self.unit());
        let mut d = self.config.latency + jitter;
        if self.config.reorder > 0.0 && self.unit() < self.config.reorder {
            d += self.config.reorder_delay.mul_f64(self.unit());
        }
        d
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Collect every node's transmissions and put them on the network.
    fn flush(&mut self) {
        let now = self.now;
        for from in 0..self.nodes.len() {
            let Some(node) = self.nodes.get(from).filter(|n| n.up) else {
                continue;
            };
            let shared = node.shared.clone();
            while let Some(t) = shared.with(|n| n.poll_transmit(now)) {
                let hash = fnv(FNV_OFFSET, &t.frame);
                let len = t.frame.len();
                if let Ok(f) = crate::node::wire::NodeFrame::decode(&t.frame) {
                    *self.sent_per_session.entry(f.envelope.session).or_insert(0) += 1;
                }
                let to = self.index_of(t.to);
                self.record(TraceKind::Sent, from, to.unwrap_or(usize::MAX), len, hash);
                let Some(to) = to else {
                    self.record(TraceKind::Dropped, from, usize::MAX, len, hash);
                    continue;
                };
                if self.blocked.contains(&(from, to)) || self.unit() < self.config.drop {
                    self.record(TraceKind::Dropped, from, to, len, hash);
                    continue;
                }
                let copies = if self.config.duplicate > 0.0 && self.unit() < self.config.duplicate {
                    self.record(TraceKind::Duplicated, from, to, len, hash);
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let at = now + self.delay();
                    self.order += 1;
                    self.in_flight.push(Reverse(InFlight {
                        at,
                        order: self.order,
                        from,
                        to,
                        bytes: t.frame.clone(),
                    }));
                }
            }
        }
    }

    fn collect_events(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(node) = self.nodes.get(i).filter(|n| n.up) else {
                continue;
            };
            let shared = node.shared.clone();
            while let Some(e) = shared.with(Node::poll_event) {
                let hash = fnv(FNV_OFFSET, format!("{e:?}").as_bytes());
                self.record(TraceKind::Event, i, i, 0, hash);
                self.events.push((self.now, i, e));
            }
        }
    }

    fn next_deadline(&self) -> Option<Time> {
        let mut next = self.in_flight.peek().map(|Reverse(f)| f.at);
        for n in self.nodes.iter().filter(|n| n.up) {
            if let Some(t) = n.shared.with(|n| n.poll_timeout()) {
                next = Some(next.map_or(t, |x| x.min(t)));
            }
        }
        next
    }

    /// Advance until every task finished, or fail at the time limit.
    pub fn run(&mut self) -> Result<(), Stuck> {
        let limit = Time::ZERO + self.config.time_limit;
        self.run_until(limit);
        match self.executor.running() {
            0 => Ok(()),
            unfinished => Err(Stuck {
                seed: self.seed,
                at: self.now,
                unfinished,
            }),
        }
    }

    /// Advance virtual time up to `deadline`, stopping early once every
    /// task has finished. Returns true if every task has finished.
    pub fn run_until(&mut self, deadline: Time) -> bool {
        loop {
            self.executor.run_ready();
            self.flush();
            self.collect_events();
            if self.executor.running() == 0 {
                return true;
            }
            let next = match self.next_deadline() {
                Some(t) if t <= deadline => t,
                _ => {
                    self.advance(deadline);
                    return false;
                }
            };
            self.advance(next);
            self.step();
        }
    }

    /// Advance virtual time to `deadline` whether or not tasks finish
    /// (to watch timers and events after the protocol ended).
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        loop {
            self.executor.run_ready();
            self.flush();
            self.collect_events();
            match self.next_deadline() {
                Some(t) if t <= deadline => {
                    self.advance(t);
                    self.step();
                }
                _ => {
                    self.advance(deadline);
                    return;
                }
            }
        }
    }

    /// Deliver the frames due now and fire the timers due now.
    fn step(&mut self) {
        let now = self.now;
        while self.in_flight.peek().is_some_and(|Reverse(f)| f.at <= now) {
            let Some(Reverse(f)) = self.in_flight.pop() else {
                break;
            };
            let hash = fnv(FNV_OFFSET, &f.bytes);
            let target = self
                .nodes
                .get(f.to)
                .filter(|n| n.up)
                .map(|n| n.shared.clone());
            let from_id = self.nodes.get(f.from).map(|n| n.id);
            match (target, from_id) {
                (Some(node), Some(from_id)) if !self.blocked.contains(&(f.from, f.to)) => {
                    self.record(TraceKind::Delivered, f.from, f.to, f.bytes.len(), hash);
                    self.delivered += 1;
                    node.with(|n| n.handle_frame(now, from_id, &f.bytes));
                }
                _ => self.record(TraceKind::Dropped, f.from, f.to, f.bytes.len(), hash),
            }
        }
        for n in self.nodes.iter().filter(|n| n.up) {
            n.shared.with(|node| {
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                }
            });
        }
    }
}
