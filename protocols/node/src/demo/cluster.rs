//! Where the demo's nodes live: one [`Cluster`] per transport.
//!
//! The lifecycle ([`super::run()`]) hands numbered nodes [`Act`]s (take part
//! in this session in this role) and then *settles*: waits until every act
//! finished and collects the [`Outcome`]s. A [`Cluster`] decides where the
//! nodes and their acts run and what time is. With every node in this
//! process, [`Hosted`] keeps each node's [`Agent`] beside its host and runs
//! its acts as tasks on one of these executors:
//!
//! - [`SimCluster`]: the deterministic simulator. Virtual time, seeded
//!   faults; a settle runs the simulation until no task is left.
//! - [`NetCluster`]: every node a [`NetNode`] with its own Ed25519 identity,
//!   listening on `/ip4/127.0.0.1/tcp/0` (TCP + Noise + Yamux) with the
//!   other nodes in its allow list; all of them on one tokio runtime (two
//!   worker threads), the role tasks on its local set. Real time; a settle
//!   drives the runtime until the tasks finished (or fails after
//!   [`NET_STALL`]).
//! - [`MemoryCluster`]: the same node hosts wired together in memory
//!   ([`MemoryNet`]): no sockets, no faults, real time, one current-thread
//!   runtime.
//!
//! With every node its own OS process, [`super::processes::ProcessCluster`]
//! sends the acts down a pipe to each child, which runs them on its own
//! libp2p node.
//!
//! The nodes do not connect ahead of the lifecycle: the first DKG makes
//! all ten dial each other at once, which the host handles (it dials from
//! a fresh local port, so two nodes dialing each other at the same moment
//! get two ordinary connections; see the Transports chapter).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use aura_protocols::lifecycle::{Clock, ManualClock};
use choreo_runtime::net::{Keypair, Multiaddr, NetNode, NetNodeConfig, Protocol};
use choreo_runtime::node::{NodeId, SharedNode};
use choreo_runtime::sim::{Sim, TraceEvent};
use tokio::task::{JoinHandle, LocalSet};

use super::agent::{Act, Agent, Answer, Outcome, Query, NODE_NAMES};
use crate::memory::MemoryNet;

/// A role task: runs on one node, its result is read after a settle.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The longest a settle on a real transport may take before the run fails
/// as stuck (the slowest step, the recovery window, takes about
/// `--real-delay`).
pub const NET_STALL: Duration = Duration::from_secs(120);

/// The node hosts of one demo run in this process and the executor of
/// their tasks ([`Hosted`] puts each node's [`Agent`] beside its host).
pub trait Executor {
    /// Node `index`'s id in session rosters.
    fn node_id(&self, index: usize) -> Option<NodeId>;
    /// Node `index`'s host, to open sessions on (`None` once crashed).
    fn node(&self, index: usize) -> Option<&SharedNode>;
    /// Run `task` as a task of node `index`.
    fn spawn(&mut self, index: usize, task: Task);
    /// Drive every node until every spawned task has finished.
    fn settle(&mut self) -> Result<(), String>;
    /// Let the network run while tasks wait: on the simulator exactly
    /// `virtual_for` of virtual time; on a real transport until `done()`
    /// holds (at most [`NET_STALL`]).
    fn run_while_waiting(&mut self, virtual_for: Duration, done: &dyn Fn() -> bool);
    /// Node `index` loses everything: its tasks, sessions and connections.
    fn crash(&mut self, index: usize);
    /// Time since the run began (virtual on the simulator).
    fn now(&self) -> Duration;
    /// Frames the nodes received so far.
    fn frames(&self) -> u64;
    /// Whether time is virtual (the simulator) or real.
    fn is_virtual(&self) -> bool;
    /// Where the nodes listen, if they are on a network (port per node).
    fn ports(&self) -> Vec<u16> {
        Vec::new()
    }
    /// Trace events recorded so far (the simulator's, when kept).
    fn trace(&self) -> &[TraceEvent] {
        &[]
    }
}

/// The nodes of one demo run, as the lifecycle drives them: acts started
/// on nodes and settled together, queries answered at once.
pub trait Cluster {
    /// Start `act` on node `index`; its outcome comes with the next
    /// [`Cluster::settle`].
    fn start(&mut self, index: usize, act: Act);
    /// Run until every act started since the last settle finished; their
    /// outcomes in the order they were started (`Err` for an act that
    /// failed). `Err` overall: the run is stuck or a node is gone.
    fn settle(&mut self) -> Result<Vec<Result<Outcome, String>>, String>;
    /// Ask node `index` about its own state.
    fn query(&mut self, index: usize, query: &Query) -> Result<Answer, String>;
    /// Let the network run while acts wait: on the simulator exactly
    /// `virtual_for` of virtual time; on a real transport until every
    /// check answers yes (at most [`NET_STALL`]).
    fn wait_until(&mut self, virtual_for: Duration, checks: &[(usize, Query)]);
    /// Node `index` loses everything: its acts, state and connections.
    fn crash(&mut self, index: usize);
    /// Time since the run began (virtual on the simulator).
    fn now(&self) -> Duration;
    /// Frames the nodes received so far.
    fn frames(&mut self) -> u64;
    /// Whether time is virtual (the simulator) or real.
    fn is_virtual(&self) -> bool;
    /// One line saying where the nodes are (ports, processes), if they
    /// are on a network.
    fn whereabouts(&self) -> Option<String>;
    /// Trace events recorded so far (the simulator's, when kept).
    fn trace(&self) -> &[TraceEvent] {
        &[]
    }
}

/// Every node's [`Agent`] beside its host in this process, the acts run
/// as tasks of an [`Executor`].
#[derive(Debug)]
pub struct Hosted<E> {
    exec: E,
    agents: Vec<Option<Rc<Agent>>>,
    started: Vec<Slot<Result<Outcome, String>>>,
}

impl<E: Executor> Hosted<E> {
    /// Node `i` of `exec` gets `agents[i]`.
    pub fn new(exec: E, agents: Vec<Agent>) -> Self {
        Hosted {
            exec,
            agents: agents.into_iter().map(|a| Some(Rc::new(a))).collect(),
            started: Vec::new(),
        }
    }

    fn agent(&self, index: usize) -> Result<&Rc<Agent>, String> {
        self.agents
            .get(index)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("{} is down", name(index)))
    }
}

/// Node `index`'s name in the timeline.
pub fn name(index: usize) -> &'static str {
    NODE_NAMES.get(index).copied().unwrap_or("?")
}

impl<E: Executor> Cluster for Hosted<E> {
    fn start(&mut self, index: usize, act: Act) {
        let slot: Slot<Result<Outcome, String>> = Rc::new(RefCell::new(None));
        let work = self.agent(index).and_then(|agent| {
            let node = self
                .exec
                .node(index)
                .ok_or_else(|| format!("{} is down", name(index)))?;
            agent.start(node, act)
        });
        match work {
            Ok(work) => {
                let out = slot.clone();
                self.exec.spawn(
                    index,
                    Box::pin(async move {
                        let result = work.await;
                        *out.borrow_mut() = Some(result);
                    }),
                );
            }
            Err(e) => *slot.borrow_mut() = Some(Err(e)),
        }
        self.started.push(slot);
    }

    fn settle(&mut self) -> Result<Vec<Result<Outcome, String>>, String> {
        let settled = self.exec.settle();
        let slots: Vec<_> = self.started.drain(..).collect();
        settled?;
        Ok(slots
            .into_iter()
            .map(|slot| {
                let result = slot.borrow_mut().take();
                result.unwrap_or_else(|| Err("the act did not finish".into()))
            })
            .collect())
    }

    fn query(&mut self, index: usize, query: &Query) -> Result<Answer, String> {
        if let Query::Frames = query {
            let node = self.exec.node(index).ok_or("the node is down")?;
            return Ok(Answer::Count(node.with(|n| n.stats().frames_in)));
        }
        self.agent(index)?.query(query)
    }

    fn wait_until(&mut self, virtual_for: Duration, checks: &[(usize, Query)]) {
        let agents = &self.agents;
        self.exec.run_while_waiting(virtual_for, &|| {
            checks.iter().all(|(i, q)| {
                agents
                    .get(*i)
                    .and_then(Option::as_ref)
                    .is_some_and(|a| a.query(q) == Ok(Answer::Flag(true)))
            })
        });
    }

    fn crash(&mut self, index: usize) {
        self.exec.crash(index);
        if let Some(agent) = self.agents.get_mut(index) {
            agent.take();
        }
    }

    fn now(&self) -> Duration {
        self.exec.now()
    }

    fn frames(&mut self) -> u64 {
        self.exec.frames()
    }

    fn is_virtual(&self) -> bool {
        self.exec.is_virtual()
    }

    fn whereabouts(&self) -> Option<String> {
        let ports = self.exec.ports();
        if ports.is_empty() {
            return None;
        }
        let listing: Vec<String> = ports
            .iter()
            .zip(NODE_NAMES)
            .map(|(port, name)| format!("{name} :{port}"))
            .collect();
        Some(format!(
            "{} libp2p nodes on 127.0.0.1 (TCP), each its own Ed25519 identity, allowing only the others: {}",
            ports.len(),
            listing.join(" ")
        ))
    }

    fn trace(&self) -> &[TraceEvent] {
        self.exec.trace()
    }
}

/// The deterministic simulator as a cluster.
#[derive(Debug)]
pub struct SimCluster(pub Sim);

impl Executor for SimCluster {
    fn node_id(&self, index: usize) -> Option<NodeId> {
        self.0.node_id(index)
    }

    fn node(&self, index: usize) -> Option<&SharedNode> {
        self.0.node(index)
    }

    fn spawn(&mut self, index: usize, task: Task) {
        // Finished or not, the simulator tracks the task itself: `run`
        // fails while any is left.
        let _ = self.0.spawn(index, task);
    }

    fn settle(&mut self) -> Result<(), String> {
        self.0.run().map_err(|e| e.to_string())
    }

    fn run_while_waiting(&mut self, virtual_for: Duration, _done: &dyn Fn() -> bool) {
        self.0.run_for(virtual_for);
    }

    fn crash(&mut self, index: usize) {
        self.0.crash(index);
    }

    fn now(&self) -> Duration {
        Duration::from_micros(self.0.now().as_micros())
    }

    fn frames(&self) -> u64 {
        self.0.delivered()
    }

    fn is_virtual(&self) -> bool {
        true
    }

    fn trace(&self) -> &[TraceEvent] {
        self.0.trace()
    }
}

/// Nodes over libp2p on 127.0.0.1 in this process (see the module docs).
#[derive(Debug)]
pub struct NetCluster {
    runtime: tokio::runtime::Runtime,
    tasks: LocalSet,
    nodes: Vec<Option<NetNode>>,
    ids: Vec<NodeId>,
    running: Vec<(usize, JoinHandle<()>)>,
    ports: Vec<u16>,
    started: Instant,
    /// Frames received by nodes that crashed since.
    frames_of_crashed: u64,
}

impl NetCluster {
    /// Start one node per identity seed (its Ed25519 secret key), each
    /// listening on a fresh port of 127.0.0.1 and allowing exactly the
    /// others, and tell every node where the others listen.
    pub fn start(secrets: &[[u8; 32]]) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let tasks = LocalSet::new();
        let keypairs = secrets
            .iter()
            .map(|s| Keypair::ed25519_from_bytes(*s).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let ids = keypairs
            .iter()
            .map(|k| choreo_runtime::net::local_node_id(k).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0"
            .parse()
            .map_err(|e| format!("listen address: {e}"))?;
        let nodes = tasks.block_on(&runtime, async {
            let mut nodes = Vec::new();
            for (i, keypair) in keypairs.into_iter().enumerate() {
                let mut config = NetNodeConfig::new(keypair);
                config.net.listen = vec![listen.clone()];
                config.node.peers = ids
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, id)| *id)
                    .collect();
                nodes.push(NetNode::spawn(config).await.map_err(|e| e.to_string())?);
            }
            let mut addresses = Vec::new();
            for node in &nodes {
                let listening = node.listen_addrs().await.map_err(|e| e.to_string())?;
                let address = listening
                    .into_iter()
                    .next()
                    .ok_or("a node listens on no address")?;
                addresses.push((node.local_peer_id(), address));
            }
            for node in &nodes {
                for (peer, address) in &addresses {
                    if *peer != node.local_peer_id() {
                        node.add_address(*peer, address.clone())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            Ok::<_, String>((nodes, addresses))
        })?;
        let (nodes, addresses) = nodes;
        let ports = addresses
            .iter()
            .map(|(_, address)| {
                address
                    .iter()
                    .find_map(|p| match p {
                        Protocol::Tcp(port) | Protocol::Udp(port) => Some(port),
                        _ => None,
                    })
                    .unwrap_or(0)
            })
            .collect();
        Ok(NetCluster {
            runtime,
            tasks,
            nodes: nodes.into_iter().map(Some).collect(),
            ids,
            running: Vec::new(),
            ports,
            started: Instant::now(),
            frames_of_crashed: 0,
        })
    }
}

impl Executor for NetCluster {
    fn node_id(&self, index: usize) -> Option<NodeId> {
        self.ids.get(index).copied()
    }

    fn node(&self, index: usize) -> Option<&SharedNode> {
        self.nodes.get(index)?.as_ref().map(NetNode::shared)
    }

    fn spawn(&mut self, index: usize, task: Task) {
        let handle = self.tasks.spawn_local(task);
        self.running.push((index, handle));
    }

    fn settle(&mut self) -> Result<(), String> {
        let running: Vec<_> = self.running.drain(..).collect();
        let count = running.len();
        let all = async move {
            for (_, handle) in running {
                handle
                    .await
                    .map_err(|e| format!("a role task failed: {e}"))?;
            }
            Ok::<_, String>(())
        };
        self.tasks.block_on(&self.runtime, async {
            tokio::time::timeout(NET_STALL, all)
                .await
                .map_err(|_| format!("stuck: {count} task(s) not finished after {NET_STALL:?}"))?
        })
    }

    fn run_while_waiting(&mut self, _virtual_for: Duration, done: &dyn Fn() -> bool) {
        self.tasks.block_on(&self.runtime, async {
            let deadline = Instant::now() + NET_STALL;
            while !done() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    fn crash(&mut self, index: usize) {
        for (_, handle) in self.running.iter().filter(|(i, _)| *i == index) {
            handle.abort();
        }
        if let Some(slot) = self.nodes.get_mut(index) {
            if let Some(node) = slot.take() {
                self.frames_of_crashed += node.shared().with(|n| n.stats().frames_in);
                self.tasks.block_on(&self.runtime, node.shutdown());
            }
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn frames(&self) -> u64 {
        self.frames_of_crashed
            + self
                .nodes
                .iter()
                .flatten()
                .map(|n| n.shared().with(|n| n.stats().frames_in))
                .sum::<u64>()
    }

    fn is_virtual(&self) -> bool {
        false
    }

    fn ports(&self) -> Vec<u16> {
        self.ports.clone()
    }
}

/// Nodes wired together in memory ([`MemoryNet`]): the same node hosts as
/// on libp2p, no sockets; real time. The role tasks run on one
/// current-thread runtime with the network's driver.
#[derive(Debug)]
pub struct MemoryCluster {
    runtime: tokio::runtime::Runtime,
    tasks: LocalSet,
    net: MemoryNet,
    running: Vec<(usize, JoinHandle<()>)>,
    started: Instant,
}

impl MemoryCluster {
    /// One node per id.
    pub fn start(ids: &[NodeId]) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(MemoryCluster {
            runtime,
            tasks: LocalSet::new(),
            net: MemoryNet::new(ids),
            running: Vec::new(),
            started: Instant::now(),
        })
    }
}

impl Executor for MemoryCluster {
    fn node_id(&self, index: usize) -> Option<NodeId> {
        self.net.node_id(index)
    }

    fn node(&self, index: usize) -> Option<&SharedNode> {
        self.net.node(index)
    }

    fn spawn(&mut self, index: usize, task: Task) {
        let handle = self.tasks.spawn_local(task);
        self.running.push((index, handle));
    }

    fn settle(&mut self) -> Result<(), String> {
        let running: Vec<_> = self.running.drain(..).collect();
        let count = running.len();
        let all = async move {
            for (_, handle) in running {
                handle
                    .await
                    .map_err(|e| format!("a role task failed: {e}"))?;
            }
            Ok::<_, String>(())
        };
        let net = &self.net;
        self.tasks.block_on(&self.runtime, async {
            tokio::time::timeout(NET_STALL, net.run(all))
                .await
                .map_err(|_| format!("stuck: {count} task(s) not finished after {NET_STALL:?}"))?
        })
    }

    fn run_while_waiting(&mut self, _virtual_for: Duration, done: &dyn Fn() -> bool) {
        let net = &self.net;
        self.tasks.block_on(&self.runtime, async {
            let deadline = Instant::now() + NET_STALL;
            net.run(async {
                while !done() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
        });
    }

    fn crash(&mut self, index: usize) {
        for (_, handle) in self.running.iter().filter(|(i, _)| *i == index) {
            handle.abort();
        }
        self.net.crash(index);
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn frames(&self) -> u64 {
        self.net.frames()
    }

    fn is_virtual(&self) -> bool {
        false
    }
}

/// The clock the guardians measure the recovery delay on.
///
/// On the simulator it is virtual and the demo moves it past the delay by
/// hand. On a real transport nothing can wait 24 hours, so the guardians'
/// clock runs `delay / real` times faster than real time: it starts at 0
/// when the run starts and the whole delay passes in `real`. Both clocks
/// are read by the same guardian code, so a grant asked for before a
/// guardian's window closed on its clock is refused on every transport.
#[derive(Debug)]
pub enum RecoveryClock {
    /// Moved by the demo.
    Virtual(ManualClock),
    /// Real time, sped up.
    Scaled {
        /// When the clock read 0.
        start: Instant,
        /// Clock seconds per real second.
        speed: f64,
    },
}

impl RecoveryClock {
    /// A clock on which `delay_secs` pass in `real`.
    pub fn scaled(delay_secs: u64, real: Duration) -> Self {
        let real = real.as_secs_f64().max(0.001);
        RecoveryClock::Scaled {
            start: Instant::now(),
            speed: delay_secs as f64 / real,
        }
    }

    /// Move a virtual clock to `secs`; a scaled clock moves by itself.
    pub fn advance_to(&self, secs: u64) {
        if let RecoveryClock::Virtual(clock) = self {
            clock.advance_to(secs);
        }
    }
}

impl Clock for RecoveryClock {
    fn now_secs(&self) -> u64 {
        match self {
            RecoveryClock::Virtual(clock) => clock.now_secs(),
            RecoveryClock::Scaled { start, speed } => {
                (start.elapsed().as_secs_f64() * speed) as u64
            }
        }
    }

    fn sleep_until(&self, secs: u64) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        match self {
            RecoveryClock::Virtual(clock) => clock.sleep_until(secs),
            RecoveryClock::Scaled { start, speed } => {
                // One real microsecond late at most from rounding; the
                // loop re-checks on the clock itself.
                let start = *start;
                let speed = *speed;
                Box::pin(async move {
                    loop {
                        let now = (start.elapsed().as_secs_f64() * speed) as u64;
                        if now >= secs {
                            return;
                        }
                        let wait = (secs - now) as f64 / speed;
                        tokio::time::sleep(Duration::from_secs_f64(wait.max(0.000_1))).await;
                    }
                })
            }
        }
    }
}

/// The output of a task, read after a settle.
pub type Slot<T> = Rc<RefCell<Option<T>>>;
