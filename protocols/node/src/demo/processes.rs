//! `aura-node demo --processes`: every node its own OS process.
//!
//! The parent runs the lifecycle as coordinator ([`ProcessCluster`]) and
//! starts one child per node: the same executable with the hidden
//! subcommand `demo-node` ([`node_main`]). Each child is one libp2p node
//! on 127.0.0.1 (TCP + Noise + Yamux) with its own Ed25519 identity and
//! its own [`Agent`]: its journal, its share, its channel state. The
//! protocol traffic goes from child to child over libp2p; the parent never
//! sees it.
//!
//! Parent and child talk over the child's stdin and stdout, one message a
//! line (hex of the postcard encoding): the parent sends [`ToChild`]
//! (acts, queries), the child answers with [`FromChild`] (outcomes,
//! answers). Only public values come back (see [`super::agent`]).
//!
//! Children never outlive the parent: every child is killed when the
//! parent drops it (also on a failure), and a child whose stdin closes
//! (the parent died without dropping it) exits.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use choreo_runtime::net::{Keypair, Multiaddr, NetNode, NetNodeConfig, Protocol};
use clap::Args;
use serde::{Deserialize, Serialize};

use super::agent::{node_ids, node_secret, Act, Agent, Answer, ClockKind, Outcome, Query, NODES};
use super::cluster::{name, Cluster, NET_STALL};
use crate::NodeError;

/// From the parent to a child.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    /// Where every node listens (by node index).
    Peers(Vec<String>),
    /// Start an act; answer [`FromChild::Done`] with the same id.
    Act {
        /// Request id.
        id: u64,
        /// The act.
        act: Act,
    },
    /// Answer a query now.
    Query {
        /// Request id.
        id: u64,
        /// The query.
        query: Query,
    },
}

/// From a child to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromChild {
    /// Listening on this address.
    Ready {
        /// A multiaddr on 127.0.0.1.
        address: String,
    },
    /// Knows where the others listen.
    Peers,
    /// An act finished.
    Done {
        /// Request id.
        id: u64,
        /// Its outcome.
        result: Result<Outcome, String>,
    },
    /// A query's answer.
    Answer {
        /// Request id.
        id: u64,
        /// The answer.
        result: Result<Answer, String>,
    },
}

fn encode<T: Serialize>(message: &T) -> Result<String, String> {
    let bytes = postcard::to_allocvec(message).map_err(|e| e.to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn decode<T: for<'a> Deserialize<'a>>(line: &str) -> Result<T, String> {
    let line = line.trim();
    if !line.len().is_multiple_of(2) {
        return Err("odd hex line".into());
    }
    let bytes = (0..line.len() / 2)
        .map(|i| {
            line.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "not hex".to_string())
        })
        .collect::<Result<Vec<u8>, String>>()?;
    postcard::from_bytes(&bytes).map_err(|e| e.to_string())
}

/// One child process; killed when dropped.
#[derive(Debug)]
struct ChildNode {
    child: Child,
    stdin: ChildStdin,
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a child's reader thread hands the parent.
enum Heard {
    Message(FromChild),
    /// Its stdout closed (it exited) or said something unreadable.
    Gone(String),
}

/// Every node a child process of this one (see the module docs).
#[derive(Debug)]
pub struct ProcessCluster {
    children: Vec<Option<ChildNode>>,
    heard: mpsc::Receiver<(usize, HeardBox)>,
    /// Acts started since the last settle: (node, request id).
    pending: Vec<(usize, u64)>,
    done: BTreeMap<u64, Result<Outcome, String>>,
    answers: BTreeMap<u64, Result<Answer, String>>,
    gone: BTreeMap<usize, String>,
    next_id: u64,
    started: Instant,
    ports: Vec<u16>,
    pids: Vec<u32>,
    frames_of_crashed: u64,
}

/// [`Heard`], boxed for the channel (Debug for the cluster's derive).
struct HeardBox(Heard);

impl std::fmt::Debug for HeardBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heard")
    }
}

impl ProcessCluster {
    /// Start one child per node of run `seed`, wait until each listens,
    /// and tell each where the others are (they connect when the first
    /// session needs it, as in one process).
    pub fn start(
        seed: u64,
        recovery_delay_secs: u64,
        real_delay: Duration,
    ) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
        let (tell, heard) = mpsc::channel();
        let mut children = Vec::new();
        let mut pids = Vec::new();
        for index in 0..NODES {
            let mut child = Command::new(&exe)
                .args([
                    "demo-node",
                    "--index",
                    &index.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--recovery-delay",
                    &recovery_delay_secs.to_string(),
                    "--real-delay-ms",
                    &real_delay.as_millis().to_string(),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", name(index)))?;
            pids.push(child.id());
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                let _ = child.kill();
                return Err("a child has no pipes".into());
            };
            let tell = tell.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let heard = match line {
                        Ok(line) => match decode::<FromChild>(&line) {
                            Ok(message) => Heard::Message(message),
                            Err(e) => Heard::Gone(format!("sent an unreadable line ({e})")),
                        },
                        Err(e) => Heard::Gone(format!("its output failed ({e})")),
                    };
                    let stop = matches!(heard, Heard::Gone(_));
                    if tell.send((index, HeardBox(heard))).is_err() || stop {
                        return;
                    }
                }
                let _ = tell.send((index, HeardBox(Heard::Gone("exited".into()))));
            });
            children.push(Some(ChildNode { child, stdin }));
        }
        let mut cluster = ProcessCluster {
            children,
            heard,
            pending: Vec::new(),
            done: BTreeMap::new(),
            answers: BTreeMap::new(),
            gone: BTreeMap::new(),
            next_id: 0,
            started: Instant::now(),
            ports: Vec::new(),
            pids,
            frames_of_crashed: 0,
        };
        let addresses = cluster.wait_ready()?;
        cluster.ports = addresses
            .iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .ok()
                    .and_then(|m| {
                        m.iter().find_map(|p| match p {
                            Protocol::Tcp(port) => Some(port),
                            _ => None,
                        })
                    })
                    .unwrap_or(0)
            })
            .collect();
        for index in 0..NODES {
            cluster.send(index, &ToChild::Peers(addresses.clone()))?;
        }
        let mut told = 0;
        while told < NODES {
            match cluster.next_heard()? {
                (_, Heard::Message(FromChild::Peers)) => told += 1,
                (i, Heard::Gone(why)) => return Err(format!("{} {why}", name(i))),
                _ => {}
            }
        }
        cluster.started = Instant::now();
        Ok(cluster)
    }

    fn wait_ready(&mut self) -> Result<Vec<String>, String> {
        let mut addresses: Vec<Option<String>> = vec![None; NODES];
        while addresses.iter().any(Option::is_none) {
            match self.next_heard()? {
                (i, Heard::Message(FromChild::Ready { address })) => {
                    if let Some(slot) = addresses.get_mut(i) {
                        *slot = Some(address);
                    }
                }
                (i, Heard::Gone(why)) => return Err(format!("{} {why}", name(i))),
                _ => {}
            }
        }
        Ok(addresses.into_iter().flatten().collect())
    }

    fn send(&mut self, index: usize, message: &ToChild) -> Result<(), String> {
        let line = encode(message)?;
        let child = self
            .children
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or_else(|| format!("{} is down", name(index)))?;
        writeln!(child.stdin, "{line}")
            .and_then(|()| child.stdin.flush())
            .map_err(|e| format!("{} does not listen: {e}", name(index)))
    }

    /// The next message from any child, sorted into `done` / `answers`
    /// by the callers; fails after [`NET_STALL`] of silence.
    fn next_heard(&mut self) -> Result<(usize, Heard), String> {
        match self.heard.recv_timeout(NET_STALL) {
            Ok((i, HeardBox(heard))) => Ok((i, heard)),
            Err(_) => Err(format!("stuck: no node said anything for {NET_STALL:?}")),
        }
    }

    /// Take one message in; `Gone` of a live child is remembered.
    fn take_in(&mut self) -> Result<(), String> {
        let (i, heard) = self.next_heard()?;
        match heard {
            Heard::Message(FromChild::Done { id, result }) => {
                self.done.insert(id, result);
            }
            Heard::Message(FromChild::Answer { id, result }) => {
                self.answers.insert(id, result);
            }
            Heard::Message(_) => {}
            Heard::Gone(why) => {
                if self.children.get(i).is_some_and(Option::is_some) {
                    self.gone.insert(i, why);
                }
            }
        }
        Ok(())
    }

    fn fail_if_gone(&self, nodes: impl IntoIterator<Item = usize>) -> Result<(), String> {
        for i in nodes {
            if let Some(why) = self.gone.get(&i) {
                return Err(format!("{} {why}", name(i)));
            }
        }
        Ok(())
    }
}

impl Cluster for ProcessCluster {
    fn start(&mut self, index: usize, act: Act) {
        self.next_id += 1;
        let id = self.next_id;
        if let Err(e) = self.send(index, &ToChild::Act { id, act }) {
            self.done.insert(id, Err(e));
        }
        self.pending.push((index, id));
    }

    fn settle(&mut self) -> Result<Vec<Result<Outcome, String>>, String> {
        let pending: Vec<(usize, u64)> = self.pending.drain(..).collect();
        let deadline = Instant::now() + NET_STALL;
        loop {
            // A child that died is the run's failure, also when its own
            // act had finished: its peers' acts then fail later (after
            // their patience) for want of its messages, and naming them
            // instead would hide the cause.
            self.fail_if_gone(0..NODES)?;
            if pending.iter().all(|(_, id)| self.done.contains_key(id)) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("stuck: acts not finished after {NET_STALL:?}"));
            }
            self.take_in()?;
        }
        Ok(pending
            .iter()
            .map(|(_, id)| {
                self.done
                    .remove(id)
                    .unwrap_or_else(|| Err("the act did not finish".into()))
            })
            .collect())
    }

    fn query(&mut self, index: usize, query: &Query) -> Result<Answer, String> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(
            index,
            &ToChild::Query {
                id,
                query: query.clone(),
            },
        )?;
        loop {
            if let Some(answer) = self.answers.remove(&id) {
                return answer;
            }
            self.fail_if_gone([index])?;
            self.take_in()?;
        }
    }

    fn wait_until(&mut self, _virtual_for: Duration, checks: &[(usize, Query)]) {
        let deadline = Instant::now() + NET_STALL;
        while Instant::now() < deadline {
            let all = checks
                .iter()
                .all(|(i, q)| self.query(*i, q) == Ok(Answer::Flag(true)));
            if all {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn crash(&mut self, index: usize) {
        if let Ok(Answer::Count(n)) = self.query(index, &Query::Frames) {
            self.frames_of_crashed += n;
        }
        // Dropping the child kills the process.
        if let Some(slot) = self.children.get_mut(index) {
            slot.take();
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn frames(&mut self) -> u64 {
        let mut frames = self.frames_of_crashed;
        for i in 0..NODES {
            if self.children.get(i).is_some_and(Option::is_some) {
                if let Ok(Answer::Count(n)) = self.query(i, &Query::Frames) {
                    frames += n;
                }
            }
        }
        frames
    }

    fn is_virtual(&self) -> bool {
        false
    }

    fn whereabouts(&self) -> Option<String> {
        let listing: Vec<String> = (0..NODES)
            .map(|i| {
                format!(
                    "{} :{} (pid {})",
                    name(i),
                    self.ports.get(i).copied().unwrap_or(0),
                    self.pids.get(i).copied().unwrap_or(0)
                )
            })
            .collect();
        Some(format!(
            "{NODES} OS processes, each one libp2p node on 127.0.0.1 (TCP) with its own Ed25519 identity, allowing only the others: {}",
            listing.join(" ")
        ))
    }
}

/// Arguments of the hidden `aura-node demo-node` (started by
/// `aura-node demo --processes`, one per node).
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's index in the run (0-9: A1 A2 A3 G1 G2 G3 B1 B2 B3 N).
    #[arg(long)]
    pub index: usize,
    /// The run's seed (every node derives every node's id from it).
    #[arg(long)]
    pub seed: u64,
    /// Recovery delay (seconds on a guardian's clock).
    #[arg(long)]
    pub recovery_delay: u64,
    /// Real time in which the recovery delay passes (milliseconds).
    #[arg(long)]
    pub real_delay_ms: u64,
}

fn say(message: &FromChild) -> Result<(), NodeError> {
    let line = encode(message).map_err(NodeError::Protocol)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// A child: one node, driven over stdin/stdout by the parent, until its
/// stdin closes.
pub fn node_main(args: &NodeArgs) -> Result<std::process::ExitCode, NodeError> {
    if args.index >= NODES {
        return Err(NodeError::Usage(format!("no node {}", args.index)));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tasks = tokio::task::LocalSet::new();
    tasks.block_on(&runtime, serve(args))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn serve(args: &NodeArgs) -> Result<(), NodeError> {
    let secret = node_secret(args.seed, args.index);
    let ids = node_ids(args.seed);
    let keypair =
        Keypair::ed25519_from_bytes(secret).map_err(|e| NodeError::Usage(e.to_string()))?;
    let mut config = NetNodeConfig::new(keypair);
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0"
        .parse()
        .map_err(|e| NodeError::Usage(format!("listen address: {e}")))?];
    config.node.peers = ids
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != args.index)
        .map(|(_, id)| *id)
        .collect();
    let node = NetNode::spawn(config)
        .await
        .map_err(|e| NodeError::Transport(e.to_string()))?;
    let address = node
        .listen_addrs()
        .await
        .map_err(|e| NodeError::Transport(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| NodeError::Transport("listening on no address".into()))?;
    let clock = ClockKind::Scaled {
        delay_secs: args.recovery_delay,
        real: Duration::from_millis(args.real_delay_ms),
    };
    let agent =
        Rc::new(Agent::new(args.index, secret, ids.clone(), clock).map_err(NodeError::Usage)?);
    say(&FromChild::Ready {
        address: address.to_string(),
    })?;

    // Lines from the parent, read on a thread of their own.
    let (tell, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tell.send(line).is_err() {
                return;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let message: ToChild = decode(&line).map_err(NodeError::Protocol)?;
        match message {
            ToChild::Peers(addresses) => {
                for (i, address) in addresses.iter().enumerate() {
                    let Some(peer) = ids.get(i).filter(|_| i != args.index) else {
                        continue;
                    };
                    let peer = choreo_runtime::net::peer_id_of(peer)
                        .map_err(|e| NodeError::Transport(e.to_string()))?;
                    let address: Multiaddr = address
                        .parse()
                        .map_err(|e| NodeError::Usage(format!("address: {e}")))?;
                    node.add_address(peer, address)
                        .await
                        .map_err(|e| NodeError::Transport(e.to_string()))?;
                }
                say(&FromChild::Peers)?;
            }
            ToChild::Act { id, act } => match agent.start(node.shared(), act) {
                Ok(work) => {
                    tokio::task::spawn_local(async move {
                        let result = work.await;
                        if say(&FromChild::Done { id, result }).is_err() {
                            tracing::error!("the parent is gone");
                        }
                    });
                }
                Err(e) => say(&FromChild::Done { id, result: Err(e) })?,
            },
            ToChild::Query { id, query } => {
                let result = match query {
                    Query::Frames => Ok(Answer::Count(node.shared().with(|n| n.stats().frames_in))),
                    query => agent.query(&query),
                };
                say(&FromChild::Answer { id, result })?;
            }
        }
    }
    node.shutdown().await;
    Ok(())
}
