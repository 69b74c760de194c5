//! The node core's cost per round trip against the number of other
//! sessions it hosts: a ping-pong between two sans-I/O `SharedNode`s,
//! each send flushed the way the libp2p driver flushes it (`poll_transmit`
//! until `None`, then `poll_timeout` to decide whether the driver must
//! wake), while node A also hosts `idle` sessions with a third node that
//! never answers (live links with heartbeat and suspicion deadlines). The
//! goal is a cost flat in `idle`: compare each size with `idle/0`. See
//! book/src/transports.md, "Speed over loopback".
//!
//! `cargo bench -p choreo-runtime --bench node_timers`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use choreo_runtime::node::{Node, NodeConfig, NodeId, NodeTransport, SessionSpec, SharedNode};
use choreo_runtime::{Label, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session, SessionId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));
const PING: Label = Label(0);
const PONG: Label = Label(1);
static PROTO: ProtocolInfo = ProtocolInfo {
    name: "PingPong",
    fingerprint: [5; 32],
    roles: &["A", "B"],
    labels: &["Ping", "Pong"],
};

/// Frames a node's flush took out, for the other node.
type Wire = Arc<Mutex<Vec<Vec<u8>>>>;

/// Poll a future that must be ready now (sends always are; receives are
/// once the frame was fed in).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("not ready"),
    }
}

/// A node whose flush, like the libp2p driver's, takes every queued frame
/// and then asks for the next deadline.
fn node(me: NodeId, wire: &Wire) -> SharedNode {
    let node = SharedNode::new(Node::new(me, NodeConfig::default()));
    let out = wire.clone();
    node.set_flush(Arc::new(move |node: &SharedNode| {
        node.with(|n| {
            let mut out = out.lock().unwrap();
            while let Some(t) = n.poll_transmit(n.now()) {
                out.push(t.frame);
            }
            black_box(n.poll_timeout());
        });
        false
    }));
    node
}

fn deliver(wire: &Wire, from: NodeId, to: &SharedNode) {
    let frames = std::mem::take(&mut *wire.lock().unwrap());
    to.with(|n| {
        for f in &frames {
            n.handle_frame(n.now(), from, f);
        }
    });
    // The reader task flushes after feeding the core (an ack may be due).
    to.wake_driver();
}

fn spec(id: SessionId, me: RoleId, peers: Vec<NodeId>) -> SessionSpec {
    SessionSpec {
        id,
        protocol: &PROTO,
        me,
        roster: Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap(),
        peers,
        patience: None,
    }
}

fn session_id(i: u64) -> SessionId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_le_bytes());
    SessionId(id)
}

struct Pair {
    a: Session<NodeTransport>,
    b: Session<NodeTransport>,
    na: SharedNode,
    nb: SharedNode,
    ida: NodeId,
    idb: NodeId,
    wa: Wire,
    wb: Wire,
    _idle: Vec<Session<NodeTransport>>,
}

fn pair(idle: u64) -> Pair {
    let (ida, idb, idc) = (NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32]));
    let (wa, wb) = (Wire::default(), Wire::default());
    let (na, nb) = (node(ida, &wa), node(idb, &wb));
    let idle: Vec<_> = (1..=idle)
        .map(|i| {
            na.open_session(spec(session_id(i), A, vec![ida, idc]))
                .unwrap()
        })
        .collect();
    let live = session_id(0);
    let a = na.open_session(spec(live, A, vec![ida, idb])).unwrap();
    let b = nb.open_session(spec(live, B, vec![ida, idb])).unwrap();
    wa.lock().unwrap().clear();
    Pair {
        a,
        b,
        na,
        nb,
        ida,
        idb,
        wa,
        wb,
        _idle: idle,
    }
}

impl Pair {
    fn round(&mut self, v: u64) {
        now(self.a.send(B, PING, &v)).unwrap();
        deliver(&self.wa, self.ida, &self.nb);
        let v: u64 = now(self.b.recv(A, PING)).unwrap();
        now(self.b.send(A, PONG, &v)).unwrap();
        deliver(&self.wb, self.idb, &self.na);
        let w: u64 = now(self.a.recv(B, PONG)).unwrap();
        assert_eq!(v, w);
    }
}

fn rounds(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_with_idle_sessions");
    for idle in [0u64, 10, 100, 1000, 10_000] {
        g.bench_with_input(BenchmarkId::new("idle", idle), &idle, |bch, &idle| {
            let mut p = pair(idle);
            let mut v = 0;
            bch.iter_custom(|n| {
                let start = Instant::now();
                for _ in 0..n {
                    v += 1;
                    p.round(v);
                }
                start.elapsed()
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = rounds
}
criterion_main!(benches);
