//! [`NetNode`]: a [`Node`] driven over libp2p by a tokio task.
//!
//! The driver task owns the [`NetHost`] and shares the node core with the
//! sessions' transports ([`SharedNode`]). The data path does not pass
//! through the driver's task, because every hop between tasks costs a
//! wake-up on each message:
//!
//! - a frame read from a peer is fed into the core by the host's reader
//!   task ([`NetHost::start_direct`]), which wakes the receiving session;
//! - a frame the core queued (a session's send, an acknowledgement) is
//!   written to the peer's stream by the task that queued it, through the
//!   node's flush ([`SharedNode::set_flush`] and [`NetSender::send`]; only
//!   a frame the stream cannot take at once waits for the peer's writer
//!   task);
//! - neither wakes the driver unless the core now has an earlier deadline
//!   than the driver's timer, or events for the application.
//!
//! The driver's loop does the rest:
//!
//! 1. put every frame the core wants to send on the host (what timers
//!    produced: retransmissions, heartbeats, delayed acknowledgements);
//! 2. forward the core's events;
//! 3. wait for whichever comes first: a network event from the host, the
//!    core's next timeout, a wake (a session sent or closed, a frame
//!    arrived: the next timeout may have moved), or a command;
//! 4. feed that into the core, with the current time.
//!
//! Time is microseconds since the node was spawned ([`Time`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::host::{FrameSink, HostEvent, Inbound, NetConfig, NetError, NetHost, NetSender};
use super::identity::{local_node_id, node_id_of, peer_id_of};
use crate::error::Error;
use crate::guard::{Grant, Guard, GuardConfig, GuardedTransport, RecordSends, SystemClock};
use crate::ids::SessionId;
use crate::journal::{Authorship, DurableStore, Journal, ScopeId, SigningKey};
use crate::node::{
    Node, NodeConfig, NodeEvent, NodeId, NodeTransport, SessionSpec, SharedNode, Time,
};
use crate::session::Session;

/// Everything a [`NetNode`] needs.
#[derive(Debug, Clone)]
pub struct NetNodeConfig {
    /// Identity, listen addresses, mDNS. Its `max_frame_len` is replaced by
    /// `node.max_frame_len`: one limit for both layers.
    pub net: NetConfig,
    /// The node core: frame limit, links, the configured peer list.
    pub node: NodeConfig,
    /// The node's durable journal. `None` (the default): no journal, and
    /// `@journal` sends of guarded sessions are denied.
    pub journal: Option<JournalConfig>,
    /// Flow and leakage budgets of the node's guard
    /// ([`NetNode::open_guarded_session`]).
    pub guard: GuardConfig,
}

/// Where a node keeps its journal: one encrypted redb file.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// The database file, created if absent (by convention
    /// `<data dir>/journal.redb`). Its values are sealed under keys derived
    /// from the node's identity key, so only this node opens it.
    pub path: PathBuf,
    /// The journal scope (the authority or home whose facts it holds).
    pub scope: ScopeId,
    /// Who may author which facts in the scope (the node's own key must be
    /// admitted for its `@journal` sends to pass).
    pub authorship: Authorship,
}

impl NetNodeConfig {
    /// Defaults for `keypair`.
    pub fn new(keypair: libp2p::identity::Keypair) -> Self {
        NetNodeConfig {
            net: NetConfig::new(keypair),
            node: NodeConfig::default(),
            journal: None,
            guard: GuardConfig::default(),
        }
    }
}

/// What a [`NetNode`] reports to its application.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetEvent {
    /// A peer sent frames for a session this node has not opened. Open it
    /// with [`NetNode::open_session`] to take part (the frames wait within
    /// the node's pending limits), or ignore it.
    SessionRequested {
        /// The session id the frames carry.
        session: SessionId,
        /// Their protocol fingerprint.
        fingerprint: [u8; 32],
        /// The node that sent them.
        from: NodeId,
        /// Its libp2p identity.
        peer: PeerId,
    },
    /// We dialed `peer` and it closed the connection before opening a
    /// stream: it does not allow this node.
    Refused {
        /// The refusing peer.
        peer: PeerId,
    },
    /// Any other event of the node core (violations, unresponsive or lost
    /// peers).
    Node(NodeEvent),
    /// Any other network event.
    Network(HostEvent),
}

enum Command {
    AddAddress(PeerId, Multiaddr, oneshot::Sender<Result<(), NetError>>),
    ListenAddrs(oneshot::Sender<Result<Vec<Multiaddr>, NetError>>),
}

/// A node on the network: sessions opened on it talk to their peers over
/// libp2p. Dropping it (or [`NetNode::shutdown`]) stops the driver and
/// closes every connection; sessions still open then fail with
/// [`Error::Transport`] once their peers' patience runs out.
#[derive(Debug)]
pub struct NetNode {
    node: SharedNode,
    guard: Guard,
    journal: Option<SharedJournal>,
    local_peer_id: PeerId,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NetEvent>,
    driver: Option<JoinHandle<()>>,
}

/// A journal shared by the guard and the application.
type SharedJournal = Arc<Mutex<Journal>>;

/// The node's guard on the system clock, coupled to its durable journal
/// when one is configured (facts signed with the node's identity key).
fn open_guard(
    keypair: &libp2p::identity::Keypair,
    journal: Option<&JournalConfig>,
    budgets: GuardConfig,
) -> Result<(Guard, Option<SharedJournal>), NetError> {
    let guard = Guard::new(budgets, Arc::new(SystemClock::default()));
    let Some(config) = journal else {
        return Ok((guard, None));
    };
    let setup = |e: &dyn std::fmt::Display| {
        NetError::Setup(format!("journal {}: {e}", config.path.display()))
    };
    let ed25519 = keypair.clone().try_into_ed25519().map_err(|e| setup(&e))?;
    let secret = zeroize::Zeroizing::new(
        <[u8; 32]>::try_from(ed25519.secret().as_ref()).map_err(|e| setup(&e))?,
    );
    let key = SigningKey::from_bytes(&secret);
    let store = DurableStore::open(&config.path, &key).map_err(|e| setup(&e))?;
    let journal = Arc::new(Mutex::new(
        Journal::open_with(config.scope, config.authorship.clone(), store)
            .map_err(|e| setup(&e))?,
    ));
    let facts = RecordSends {
        key,
        scope: config.scope,
    };
    Ok((guard.with_journal(journal.clone(), facts), Some(journal)))
}

/// Wakes the driver task through a [`Notify`] (a wake with no waiter
/// leaves a permit, so none is lost).
struct DriverWaker(Arc<Notify>);

impl Wake for DriverWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

impl NetNode {
    /// Starts the host (listening on `config.net.listen`) and the driver on
    /// the current tokio runtime.
    pub async fn spawn(config: NetNodeConfig) -> Result<NetNode, NetError> {
        let NetNodeConfig {
            mut net,
            node,
            journal,
            guard,
        } = config;
        let me = local_node_id(&net.keypair).map_err(|e| NetError::Setup(e.to_string()))?;
        let (guard, journal) = open_guard(&net.keypair, journal.as_ref(), guard)?;
        net.max_frame_len = node.max_frame_len;
        let shared = SharedNode::new(Node::new(me, node));
        let allow_node = shared.clone();
        let allow = Arc::new(move |peer: &PeerId| {
            node_id_of(peer).is_ok_and(|id| allow_node.with(|n| n.is_allowed(&id)))
        });
        let epoch = Instant::now();
        let ids = Arc::new(Mutex::new(IdCache::default()));
        let host = NetHost::start_direct(net, allow, frame_sink(&shared, &ids, epoch)).await?;
        let local_peer_id = host.local_peer_id();
        let wake = Arc::new(Notify::new());
        shared.set_driver_waker(Arc::new(DriverWaker(wake.clone())).into());
        let outlet = Outlet {
            sender: host.sender(),
            ids: ids.clone(),
            epoch,
            armed: Arc::new(AtomicU64::new(NOT_ARMED)),
            wanted: Arc::new(AtomicU64::new(NOT_ARMED)),
        };
        let flush = outlet.clone();
        shared.set_flush(Arc::new(move |node: &SharedNode| flush.flush(node)));
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_sender, events) = mpsc::channel(1024);
        // Sessions measure timeout deadlines on the driver's clock.
        shared.set_clock(Arc::new(move || time_since(epoch)));
        let driver = Driver {
            node: shared.clone(),
            host,
            epoch,
            wake,
            events: event_sender,
            ids,
            outlet,
        };
        let driver = tokio::spawn(driver.run(command_rx));
        Ok(NetNode {
            node: shared,
            guard,
            journal,
            local_peer_id,
            commands,
            events,
            driver: Some(driver),
        })
    }

    /// This node's libp2p identity.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// This node's id in session rosters (its Ed25519 public key).
    pub fn local_node_id(&self) -> NodeId {
        self.node.with(|n| n.id())
    }

    /// The node core, e.g. for [`Node::stats`].
    pub fn shared(&self) -> &SharedNode {
        &self.node
    }

    /// Addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::ListenAddrs(reply))
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Remembers where `peer` can be dialed. `address` may end in
    /// `/p2p/<peer>` (it is stripped).
    pub async fn add_address(&self, peer: PeerId, address: Multiaddr) -> Result<(), NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::AddAddress(peer, address, reply))
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Opens one participant's session; see [`SharedNode::open_session`].
    pub fn open_session(&self, spec: SessionSpec) -> Result<Session<NodeTransport>, Error> {
        self.node.open_session(spec)
    }

    /// Opens one participant's session with its sends behind this node's
    /// guard (see [`SharedNode::open_guarded_session`]): what generated
    /// endpoints of a role with annotated sends open on.
    pub fn open_guarded_session(
        &self,
        spec: SessionSpec,
        grant: Grant,
    ) -> Result<Session<GuardedTransport<NodeTransport>>, Error> {
        self.node.open_guarded_session(spec, &self.guard, grant)
    }

    /// Waits for an endpoint of `protocol` that node `from` hands to this
    /// node, and puts it behind this node's guard with `grant` (see
    /// [`SharedNode::accept_guarded_handoff`]); the old holder hands it off
    /// with [`SharedNode::hand_off_guarded`] (or `hand_off`).
    pub fn accept_guarded_handoff(
        &self,
        protocol: &'static crate::ids::ProtocolInfo,
        from: NodeId,
        grant: Grant,
    ) -> impl std::future::Future<
        Output = Result<crate::handoff::Handoff<GuardedTransport<NodeTransport>>, Error>,
    > + Send
           + 'static {
        self.node
            .accept_guarded_handoff(protocol, from, &self.guard, grant)
    }

    /// The node's guard (budgets; its journal coupling).
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The node's journal, if [`NetNodeConfig::journal`] named one.
    pub fn journal(&self) -> Option<&SharedJournal> {
        self.journal.as_ref()
    }

    /// The next event; `None` once the node stopped.
    pub async fn next_event(&mut self) -> Option<NetEvent> {
        self.events.recv().await
    }

    /// The next session a peer asks for, logging and skipping other events;
    /// `None` once the node stopped.
    pub async fn incoming_session(&mut self) -> Option<(SessionId, [u8; 32], NodeId)> {
        loop {
            match self.next_event().await? {
                NetEvent::SessionRequested {
                    session,
                    fingerprint,
                    from,
                    ..
                } => return Some((session, fingerprint, from)),
                other => tracing::debug!(event = ?other, "event while waiting for sessions"),
            }
        }
    }

    /// Waits until every session on this node has closed and settled (all
    /// its frames acknowledged, its linger over), or `max_wait` passed.
    /// Returns whether it settled. Call it after the last `finish()` before
    /// exiting a process, so the last frames are not lost with it.
    pub async fn settle(&self, max_wait: Duration) -> bool {
        let deadline = Instant::now() + max_wait;
        // Polled: the node core has no settle notification (yet).
        while self.node.with(|n| n.stats().sessions) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Stops the driver and closes every connection.
    pub async fn shutdown(mut self) {
        if let Some(driver) = self.driver.take() {
            driver.abort();
            let _ = driver.await;
        }
    }
}

impl Drop for NetNode {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

/// Mappings kept at most (the allowed peers of a node are far fewer).
const ID_CACHE: usize = 4096;

/// Both directions between node ids and libp2p peer ids, cached: deriving
/// one from the other decodes an Ed25519 key. The last mapping used in
/// each direction is kept apart, so the common case (traffic with one peer)
/// compares 32 bytes instead of hashing a key per frame.
#[derive(Default)]
struct IdCache {
    peer_ids: OneWay<NodeId, PeerId>,
    node_ids: OneWay<PeerId, NodeId>,
}

/// One direction of [`IdCache`]: at most [`ID_CACHE`] mappings, and the
/// last one used.
struct OneWay<K, V> {
    map: HashMap<K, V>,
    last: Option<(K, V)>,
}

impl<K, V> Default for OneWay<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            last: None,
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash, V: Copy> OneWay<K, V> {
    /// The mapping of `key`, derived by `derive` when not cached.
    fn get(&mut self, key: K, derive: impl FnOnce(&K) -> Option<V>) -> Option<V> {
        if let Some((known, value)) = self.last {
            if known == key {
                return Some(value);
            }
        }
        let value = match self.map.get(&key) {
            Some(value) => *value,
            None => {
                let value = derive(&key)?;
                if self.map.len() >= ID_CACHE {
                    self.map.clear();
                }
                self.map.insert(key, value);
                value
            }
        };
        self.last = Some((key, value));
        Some(value)
    }
}

type SharedIds = Arc<Mutex<IdCache>>;

fn lock_ids(ids: &SharedIds) -> std::sync::MutexGuard<'_, IdCache> {
    // The cache is valid after any partial step.
    ids.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl IdCache {
    fn peer_id(&mut self, id: NodeId) -> Option<PeerId> {
        self.peer_ids.get(id, |id| peer_id_of(id).ok())
    }

    fn node_id(&mut self, peer: PeerId) -> Option<NodeId> {
        self.node_ids.get(peer, |peer| node_id_of(peer).ok())
    }
}

/// Feeds a frame into the core from the reader task that read it, then
/// flushes what the core queued in answer and wakes the driver if it must
/// ([`Outlet::flush`]).
fn frame_sink(node: &SharedNode, ids: &SharedIds, epoch: Instant) -> FrameSink {
    let (node, ids) = (node.clone(), ids.clone());
    Arc::new(move |from: PeerId, bytes: &[u8]| {
        // The host only delivers frames of allowed peers, which have node
        // ids; anything else is dropped here.
        let Some(id) = lock_ids(&ids).node_id(from) else {
            return;
        };
        let now = time_since(epoch);
        node.with(|n| n.handle_frame(now, id, bytes));
        node.wake_driver();
    })
}

/// [`Outlet::armed`] when the driver's timer is not armed.
const NOT_ARMED: u64 = u64::MAX;

/// Puts the core's queued frames on the network (written to the peer's
/// stream at once when it can take them, see [`NetSender::send`]), from
/// whichever task queued them.
#[derive(Clone)]
struct Outlet {
    sender: NetSender,
    ids: SharedIds,
    epoch: Instant,
    /// The deadline the driver's timer is armed at (microseconds of
    /// [`Time`]), or [`NOT_ARMED`]. The driver only moves it earlier, or
    /// sets [`NOT_ARMED`] when the timer fired, before it reads the core's
    /// next deadline again; so a flush that finds the core's next deadline
    /// at or after it knows the driver will wake in time.
    armed: Arc<AtomicU64>,
    /// The earliest deadline a flush found earlier than `armed` (it woke
    /// the driver for it), or [`NOT_ARMED`]. The driver arms its timer at
    /// it even when the core no longer has it by the time the driver runs
    /// (the delayed acknowledgement a frame's arrival set was sent with
    /// the answer already): a timer left at a far deadline would make the
    /// next frame's acknowledgement deadline earlier again, and wake the
    /// driver on every frame.
    wanted: Arc<AtomicU64>,
}

impl Outlet {
    /// Sends what the core queued; returns whether the driver must be
    /// woken: the core has events for it, or a deadline earlier than its
    /// timer. Otherwise a send or a frame read costs no driver wake-up.
    fn flush(&self, node: &SharedNode) -> bool {
        // One reading of the clock for the whole flush: what it sends was
        // queued before it began.
        let now = time_since(self.epoch);
        loop {
            let (transmit, wake) = node.with(|n| match n.poll_transmit(now) {
                Some(transmit) => (Some(transmit), false),
                None => {
                    let armed = self.armed.load(Ordering::SeqCst);
                    let earlier = n.poll_timeout().filter(|t| t.as_micros() < armed);
                    if let Some(t) = earlier {
                        self.wanted.fetch_min(t.as_micros(), Ordering::SeqCst);
                    }
                    (None, earlier.is_some() || n.has_events())
                }
            });
            let Some(transmit) = transmit else {
                return wake;
            };
            let peer = lock_ids(&self.ids).peer_id(transmit.to);
            match peer {
                Some(peer) => self.sender.send(peer, transmit.frame),
                None => {
                    tracing::warn!(to = %transmit.to, "frame for a node id that is no Ed25519 key dropped")
                }
            }
        }
    }
}

struct Driver {
    node: SharedNode,
    host: NetHost,
    epoch: Instant,
    wake: Arc<Notify>,
    events: mpsc::Sender<NetEvent>,
    ids: SharedIds,
    outlet: Outlet,
}

impl Driver {
    fn now(&self) -> Time {
        time_since(self.epoch)
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // One timer for the driver's whole life, moved only to earlier
        // deadlines. Moving a tokio timer earlier than the time driver's
        // next wake-up unparks the driver (an eventfd write and an extra
        // epoll round); the core's next deadline moves back and forth on
        // every round trip (a retransmission or delayed-ack deadline set
        // when a frame leaves or arrives, cleared by the answer), so
        // following it exactly cost a system call per message. A timer
        // left at a deadline the core no longer has fires early; the core
        // then has nothing due and the timer is re-armed at the real one.
        //
        // Sessions and reader tasks wake the driver only when the core's
        // next deadline is earlier than the timer or the core has events
        // ([`Outlet::flush`]); the timer's deadline is published for that
        // in `outlet.armed`, set before the select below and cleared (when
        // the timer fired) before the core's deadline is read again.
        let timer = tokio::time::sleep_until(far_future());
        tokio::pin!(timer);
        let mut armed: Option<Time> = None;
        loop {
            self.outlet.flush(&self.node);
            self.forward_node_events();
            let wanted = self.outlet.wanted.swap(NOT_ARMED, Ordering::SeqCst);
            let wanted = (wanted != NOT_ARMED).then(|| Time::from_micros(wanted));
            let deadline = match (self.node.with(|n| n.poll_timeout()), wanted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(deadline) = deadline {
                if armed.is_none_or(|at| deadline < at) {
                    timer.as_mut().reset(self.epoch + deadline.since_epoch());
                    armed = Some(deadline);
                    self.outlet
                        .armed
                        .store(deadline.as_micros(), Ordering::SeqCst);
                }
            }
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    None => break,
                },
                inbound = self.host.recv() => match inbound {
                    // Frames reach the core from the reader tasks
                    // (`frame_sink`); the host's queue stays empty.
                    Some(Inbound::Frame { .. }) => {}
                    Some(Inbound::Event(event)) => self.network_event(event),
                    None => break,
                },
                () = self.wake.notified() => {}
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.outlet.armed.store(NOT_ARMED, Ordering::SeqCst);
                    let now = self.now();
                    self.node.with(|n| n.handle_timeout(now));
                }
            }
        }
        tracing::debug!("node driver stopped");
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::AddAddress(peer, mut address, reply) => {
                if matches!(
                    address.iter().last(),
                    Some(libp2p::multiaddr::Protocol::P2p(_))
                ) {
                    address.pop();
                }
                let _ = reply.send(self.host.add_address(peer, address));
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.host.listen_addrs().await);
            }
        }
    }

    fn forward_node_events(&mut self) {
        while let Some(event) = self.node.with(|n| n.poll_event()) {
            let event = match event {
                NodeEvent::SessionRequested {
                    session,
                    fingerprint,
                    from,
                } => match lock_ids(&self.ids).peer_id(from) {
                    Some(peer) => NetEvent::SessionRequested {
                        session,
                        fingerprint,
                        from,
                        peer,
                    },
                    None => continue,
                },
                other => NetEvent::Node(other),
            };
            self.emit(event);
        }
    }

    fn network_event(&mut self, event: HostEvent) {
        let event = match event {
            HostEvent::Refused { peer } => {
                tracing::warn!(%peer, "refused by peer: it closed our connection before opening a stream");
                NetEvent::Refused { peer }
            }
            other => NetEvent::Network(other),
        };
        self.emit(event);
    }

    fn emit(&self, event: NetEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::debug!(?event, "event dropped: nobody is reading the node's events");
        }
    }
}

/// The driver's [`Time`]: microseconds since `epoch`.
fn time_since(epoch: Instant) -> Time {
    Time::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
