//! Endpoints vs raw `tokio::sync::mpsc`, same payload (u64), same runtime
//! flavour (current_thread). Report ratios to the raw floor; see
//! book/src/runtime.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use choreo_runtime::memory::{self, MemoryConfig};
use choreo_runtime::{
    Error, Label, MemoryTransport, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session,
    SessionId,
};
use criterion::{criterion_group, Criterion, Throughput};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::mpsc::unbounded_channel;

const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));
const PING: Label = Label(0);
const PONG: Label = Label(1);
const ITEM: Label = Label(2);
static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Bench",
    fingerprint: [3; 32],
    roles: &["A", "B"],
    labels: &["Ping", "Pong", "Item"],
};
const STREAM: u64 = 100_000;

type S = Session<MemoryTransport>;

fn rt() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn pair(config: MemoryConfig) -> (S, S) {
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let mut v = memory::sessions(SessionId([0; 16]), &PROTO, &roster, config).unwrap();
    let b = v.pop().unwrap();
    let a = v.pop().unwrap();
    (a, b)
}

// What generated typestates look like: one type per state, each
// transition consumes the state and moves the session handle on.
mod generated {
    use super::*;

    pub struct PingA(pub S);
    pub struct PongA(S);
    impl PingA {
        #[inline]
        pub async fn send_ping(self, v: &u64) -> Result<PongA, Error> {
            let mut s = self.0;
            s.send(B, PING, v).await?;
            Ok(PongA(s))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    impl PongA {
        #[inline]
        pub async fn recv_pong(self) -> Result<(u64, PingA), Error> {
            let mut s = self.0;
            let v = s.recv(B, PONG).await?;
            Ok((v, PingA(s)))
        }
    }

    pub struct PingB(pub S);
    pub struct PongB(S);
    impl PingB {
        #[inline]
        pub async fn recv_ping(self) -> Result<(u64, PongB), Error> {
            let mut s = self.0;
            let v = s.recv(A, PING).await?;
            Ok((v, PongB(s)))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    impl PongB {
        #[inline]
        pub async fn send_pong(self, v: &u64) -> Result<PingB, Error> {
            let mut s = self.0;
            s.send(A, PONG, v).await?;
            Ok(PingB(s))
        }
    }

    pub struct StreamA(pub S);
    impl StreamA {
        #[inline]
        pub async fn send_item(self, v: &u64) -> Result<StreamA, Error> {
            let mut s = self.0;
            s.send(B, ITEM, v).await?;
            Ok(StreamA(s))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    pub struct StreamB(pub S);
    impl StreamB {
        #[inline]
        pub async fn recv_item(self) -> Result<(u64, StreamB), Error> {
            let mut s = self.0;
            let v = s.recv(A, ITEM).await?;
            Ok((v, StreamB(s)))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
}

fn ping_pong_raw(rt: &Runtime, iters: u64) -> Duration {
    rt.block_on(async {
        let (to_b, mut at_b) = unbounded_channel::<u64>();
        let (to_a, mut at_a) = unbounded_channel::<u64>();
        let responder = tokio::spawn(async move {
            for _ in 0..iters {
                let v = at_b.recv().await.unwrap();
                to_a.send(v + 1).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..iters {
            to_b.send(i).unwrap();
            black_box(at_a.recv().await.unwrap());
        }
        let t = start.elapsed();
        responder.await.unwrap();
        t
    })
}

fn ping_pong_session(rt: &Runtime, iters: u64) -> Duration {
    rt.block_on(async {
        let (mut a, mut b) = pair(MemoryConfig::default());
        let responder = tokio::spawn(async move {
            for _ in 0..iters {
                let v: u64 = b.recv(A, PING).await.unwrap();
                b.send(A, PONG, &(v + 1)).await.unwrap();
            }
            b.finish().unwrap();
        });
        let start = Instant::now();
        for i in 0..iters {
            a.send(B, PING, &i).await.unwrap();
            black_box(a.recv::<u64>(B, PONG).await.unwrap());
        }
        let t = start.elapsed();
        responder.await.unwrap();
        a.finish().unwrap();
        t
    })
}

fn ping_pong_typestate(rt: &Runtime, iters: u64, config: MemoryConfig) -> Duration {
    use generated::*;
    rt.block_on(async {
        let (a, b) = pair(config);
        let responder = tokio::spawn(async move {
            let mut st = PingB(b);
            for _ in 0..iters {
                let (v, next) = st.recv_ping().await.unwrap();
                st = next.send_pong(&(v + 1)).await.unwrap();
            }
            st.finish().unwrap();
        });
        let start = Instant::now();
        let mut st = PingA(a);
        for i in 0..iters {
            let (v, next) = st.send_ping(&i).await.unwrap().recv_pong().await.unwrap();
            black_box(v);
            st = next;
        }
        let t = start.elapsed();
        responder.await.unwrap();
        st.finish().unwrap();
        t
    })
}

fn stream_raw(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let (tx, mut rx) = unbounded_channel::<u64>();
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            for i in 0..STREAM {
                tx.send(i).unwrap();
                // Yield as often as the session's producer could; unbounded
                // sends never wait, so this only keeps the two comparable.
            }
        });
        let mut sum = 0u64;
        for _ in 0..STREAM {
            sum = sum.wrapping_add(rx.recv().await.unwrap());
        }
        producer.await.unwrap();
        black_box(sum);
        start.elapsed()
    })
}

fn stream_typestate(rt: &Runtime, config: MemoryConfig) -> Duration {
    use generated::*;
    rt.block_on(async {
        let (a, b) = pair(config);
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            let mut st = StreamA(a);
            for i in 0..STREAM {
                st = st.send_item(&i).await.unwrap();
            }
            st.finish().unwrap();
        });
        let mut st = StreamB(b);
        let mut sum = 0u64;
        for _ in 0..STREAM {
            let (v, next) = st.recv_item().await.unwrap();
            sum = sum.wrapping_add(v);
            st = next;
        }
        producer.await.unwrap();
        st.finish().unwrap();
        black_box(sum);
        start.elapsed()
    })
}

fn ping_pong(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("ping_pong");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_mpsc", |bch| bch.iter_custom(|n| ping_pong_raw(&rt, n)));
    g.bench_function("session", |bch| {
        bch.iter_custom(|n| ping_pong_session(&rt, n))
    });
    g.bench_function("typestate", |bch| {
        bch.iter_custom(|n| ping_pong_typestate(&rt, n, MemoryConfig::default()))
    });
    g.bench_function("typestate_wire_encoded", |bch| {
        bch.iter_custom(|n| {
            ping_pong_typestate(
                &rt,
                n,
                MemoryConfig {
                    wire_encoding: true,
                },
            )
        })
    });
    g.finish();
}

fn stream(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("stream_100k");
    g.throughput(Throughput::Elements(STREAM));
    g.sample_size(30);
    g.bench_function("raw_mpsc", |bch| {
        bch.iter_custom(|n| (0..n).map(|_| stream_raw(&rt)).sum())
    });
    g.bench_function("typestate", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|_| stream_typestate(&rt, MemoryConfig::default()))
                .sum()
        })
    });
    g.bench_function("typestate_wire_encoded", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    stream_typestate(
                        &rt,
                        MemoryConfig {
                            wire_encoding: true,
                        },
                    )
                })
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, ping_pong, stream);

/// Interleaved measurement: raw and endpoint runs alternate, so load from
/// other processes hits both alike; prints the median of per-round ratios.
fn ratios(rounds: usize) {
    let rt = rt();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut pp = Vec::new();
    let mut pp_wire = Vec::new();
    let mut st = Vec::new();
    let mut st_wire = Vec::new();
    let wire = MemoryConfig {
        wire_encoding: true,
    };
    for _ in 0..rounds {
        let raw = ping_pong_raw(&rt, 20_000).as_secs_f64();
        pp.push(ping_pong_typestate(&rt, 20_000, MemoryConfig::default()).as_secs_f64() / raw);
        pp_wire.push(ping_pong_typestate(&rt, 20_000, wire).as_secs_f64() / raw);
        let raw = stream_raw(&rt).as_secs_f64();
        st.push(stream_typestate(&rt, MemoryConfig::default()).as_secs_f64() / raw);
        st_wire.push(stream_typestate(&rt, wire).as_secs_f64() / raw);
    }
    println!("ratio to raw tokio::sync::mpsc (median of {rounds} interleaved rounds):");
    println!(
        "  ping_pong  typestate {:.3}x   wire-encoded {:.3}x",
        median(pp),
        median(pp_wire)
    );
    println!(
        "  stream_100k typestate {:.3}x   wire-encoded {:.3}x",
        median(st),
        median(st_wire)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--ratios-only") {
        ratios(15);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        ratios(15);
    }
}
