//! An in-process network of node hosts: every frame a node transmits is
//! handed straight to its destination's `handle_frame`, in order, with no
//! loss, no copying through sockets and no simulated time.
//!
//! The node cores are the same `choreo_runtime::node::Node`s that run over
//! libp2p and in the simulator (links, sequence numbers, acks, envelopes),
//! so sessions opened on a [`MemoryNet`]'s nodes run the real protocol
//! stack; only the wire is gone. Time is the process clock (timeouts and
//! link timers fire at their real deadlines). Used by the benchmarks
//! (protocol cost without a network) and by `aura-node demo --transport
//! memory`.

use std::future::Future;
use std::sync::Arc;
use std::task::Wake;
use std::time::{Duration, Instant};

use choreo_runtime::node::{Node, NodeConfig, NodeId, SharedNode, Time};
use tokio::sync::Notify;

/// Nodes that reach each other in memory.
#[derive(Debug)]
pub struct MemoryNet {
    nodes: Vec<SharedNode>,
    ids: Vec<NodeId>,
    /// `false` once a node crashed: nothing reaches it or leaves it.
    up: Vec<bool>,
    epoch: Instant,
    wake: Arc<Notify>,
}

/// Wakes the driver when a session queued a frame.
struct NotifyWaker(Arc<Notify>);

impl Wake for NotifyWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

impl MemoryNet {
    /// One node per id (ids distinct), each allowing the others.
    pub fn new(ids: &[NodeId]) -> Self {
        let epoch = Instant::now();
        let wake = Arc::new(Notify::new());
        let nodes = ids
            .iter()
            .map(|id| {
                let config = NodeConfig {
                    peers: ids.iter().filter(|p| *p != id).copied().collect(),
                    ..NodeConfig::default()
                };
                let shared = SharedNode::new(Node::new(*id, config));
                shared.set_clock(Arc::new(move || time_since(epoch)));
                shared.set_driver_waker(Arc::new(NotifyWaker(wake.clone())).into());
                shared
            })
            .collect();
        MemoryNet {
            nodes,
            up: vec![true; ids.len()],
            ids: ids.to_vec(),
            epoch,
            wake,
        }
    }

    /// Node `index` (`None` once it crashed).
    pub fn node(&self, index: usize) -> Option<&SharedNode> {
        self.nodes
            .get(index)
            .filter(|_| self.up.get(index) == Some(&true))
    }

    /// Node `index` stops: its frames are dropped both ways from now on,
    /// so its peers' links time out as if it had crashed.
    pub fn crash(&mut self, index: usize) {
        if let Some(up) = self.up.get_mut(index) {
            *up = false;
        }
    }

    /// Frames all nodes received so far.
    pub fn frames(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.with(|n| n.stats().frames_in))
            .sum()
    }

    /// The id of node `index`.
    pub fn node_id(&self, index: usize) -> Option<NodeId> {
        self.ids.get(index).copied()
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn now(&self) -> Time {
        time_since(self.epoch)
    }

    /// Deliver every queued frame (and the frames that delivery queues)
    /// and fire due timers; returns whether anything moved. Node events
    /// (announcements of sessions nobody opened) are dropped: every
    /// participant opens its sessions itself.
    pub fn pump(&self) -> bool {
        let mut any = false;
        loop {
            let now = self.now();
            let mut moved = false;
            for ((from, node), up) in self.ids.iter().zip(&self.nodes).zip(&self.up) {
                if !up {
                    continue;
                }
                if node.with(|n| n.poll_timeout()).is_some_and(|t| t <= now) {
                    node.with(|n| n.handle_timeout(now));
                }
                while let Some(t) = node.with(|n| n.poll_transmit(now)) {
                    moved = true;
                    let to = self.ids.iter().position(|id| *id == t.to);
                    if let Some(dest) = to.and_then(|to| self.node(to)) {
                        dest.with(|n| n.handle_frame(now, *from, &t.frame));
                    }
                }
                while node.with(|n| n.poll_event()).is_some() {}
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }

    /// Drive the network until `work` finishes (on the current task: the
    /// nodes' sessions may run on the same current-thread runtime).
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        loop {
            self.pump();
            let deadline = (0..self.nodes.len())
                .filter_map(|i| self.node(i)?.with(|n| n.poll_timeout()))
                .min()
                .map(|t| self.epoch + t.since_epoch())
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3_600));
            tokio::select! {
                biased;
                out = &mut work => return out,
                () = self.wake.notified() => {}
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }
}

fn time_since(epoch: Instant) -> Time {
    Time::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
}
