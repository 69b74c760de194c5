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
// transition consumes the state and moves the session handle on. `O`
// selects the owned API (`send_owned`/`recv_owned`, the typed in-memory
// path) or the by-reference one (`send(&v)`/`recv`, postcard every time).
mod generated {
    use super::*;

    macro_rules! send {
        ($s:expr, $to:expr, $l:expr, $v:expr) => {
            if O {
                $s.send_owned($to, $l, *$v).await?
            } else {
                $s.send($to, $l, $v).await?
            }
        };
    }
    macro_rules! recv {
        ($s:expr, $from:expr, $l:expr) => {
            if O {
                $s.recv_owned::<u64>($from, $l).await?
            } else {
                $s.recv::<u64>($from, $l).await?
            }
        };
    }

    pub struct PingA<const O: bool>(pub S);
    pub struct PongA<const O: bool>(S);
    impl<const O: bool> PingA<O> {
        #[inline]
        pub async fn send_ping(self, v: &u64) -> Result<PongA<O>, Error> {
            let mut s = self.0;
            send!(s, B, PING, v);
            Ok(PongA(s))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    impl<const O: bool> PongA<O> {
        #[inline]
        pub async fn recv_pong(self) -> Result<(u64, PingA<O>), Error> {
            let mut s = self.0;
            let v = recv!(s, B, PONG);
            Ok((v, PingA(s)))
        }
    }

    pub struct PingB<const O: bool>(pub S);
    pub struct PongB<const O: bool>(S);
    impl<const O: bool> PingB<O> {
        #[inline]
        pub async fn recv_ping(self) -> Result<(u64, PongB<O>), Error> {
            let mut s = self.0;
            let v = recv!(s, A, PING);
            Ok((v, PongB(s)))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    impl<const O: bool> PongB<O> {
        #[inline]
        pub async fn send_pong(self, v: &u64) -> Result<PingB<O>, Error> {
            let mut s = self.0;
            send!(s, A, PONG, v);
            Ok(PingB(s))
        }
    }

    pub struct StreamA<const O: bool>(pub S);
    impl<const O: bool> StreamA<O> {
        #[inline]
        pub async fn send_item(self, v: &u64) -> Result<StreamA<O>, Error> {
            let mut s = self.0;
            send!(s, B, ITEM, v);
            Ok(StreamA(s))
        }
        pub fn finish(self) -> Result<(), Error> {
            self.0.finish()
        }
    }
    pub struct StreamB<const O: bool>(pub S);
    impl<const O: bool> StreamB<O> {
        #[inline]
        pub async fn recv_item(self) -> Result<(u64, StreamB<O>), Error> {
            let mut s = self.0;
            let v = recv!(s, A, ITEM);
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

fn ping_pong_typestate<const O: bool>(rt: &Runtime, iters: u64, config: MemoryConfig) -> Duration {
    use generated::*;
    rt.block_on(async {
        let (a, b) = pair(config);
        let responder = tokio::spawn(async move {
            let mut st = PingB::<O>(b);
            for _ in 0..iters {
                let (v, next) = st.recv_ping().await.unwrap();
                st = next.send_pong(&(v + 1)).await.unwrap();
            }
            st.finish().unwrap();
        });
        let start = Instant::now();
        let mut st = PingA::<O>(a);
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

fn stream_typestate<const O: bool>(rt: &Runtime, config: MemoryConfig) -> Duration {
    use generated::*;
    rt.block_on(async {
        let (a, b) = pair(config);
        let start = Instant::now();
        let producer = tokio::spawn(async move {
            let mut st = StreamA::<O>(a);
            for i in 0..STREAM {
                st = st.send_item(&i).await.unwrap();
            }
            st.finish().unwrap();
        });
        let mut st = StreamB::<O>(b);
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
    g.bench_function("typestate_owned", |bch| {
        bch.iter_custom(|n| ping_pong_typestate::<true>(&rt, n, MemoryConfig::default()))
    });
    g.bench_function("typestate_ref", |bch| {
        bch.iter_custom(|n| ping_pong_typestate::<false>(&rt, n, MemoryConfig::default()))
    });
    g.bench_function("typestate_wire_encoded", |bch| {
        bch.iter_custom(|n| {
            ping_pong_typestate::<false>(
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
    g.bench_function("typestate_owned", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|_| stream_typestate::<true>(&rt, MemoryConfig::default()))
                .sum()
        })
    });
    g.bench_function("typestate_ref", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|_| stream_typestate::<false>(&rt, MemoryConfig::default()))
                .sum()
        })
    });
    g.bench_function("typestate_wire_encoded", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    stream_typestate::<false>(
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
/// other processes hits both alike. Prints, per workload, the ratio of the
/// fastest endpoint run to the fastest raw run (noise only ever adds time)
/// and the median of the per-round ratios.
fn ratios(rounds: usize) {
    let rt = rt();
    let wire = MemoryConfig {
        wire_encoding: true,
    };
    let plain = MemoryConfig::default();
    // [raw, typestate owned, typestate by-reference, by-reference
    // wire-encoded] per workload
    let mut pp: [Vec<f64>; 4] = Default::default();
    let mut st: [Vec<f64>; 4] = Default::default();
    const PP: u64 = 50_000;
    for _ in 0..rounds {
        pp[0].push(ping_pong_raw(&rt, PP).as_secs_f64());
        pp[1].push(ping_pong_typestate::<true>(&rt, PP, plain).as_secs_f64());
        pp[2].push(ping_pong_typestate::<false>(&rt, PP, plain).as_secs_f64());
        pp[3].push(ping_pong_typestate::<false>(&rt, PP, wire).as_secs_f64());
        st[0].push(stream_raw(&rt).as_secs_f64());
        st[1].push(stream_typestate::<true>(&rt, plain).as_secs_f64());
        st[2].push(stream_typestate::<false>(&rt, plain).as_secs_f64());
        st[3].push(stream_typestate::<false>(&rt, wire).as_secs_f64());
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let median_ratio = |a: &[f64], b: &[f64]| {
        let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    println!(
        "endpoints vs raw tokio::sync::mpsc, {rounds} interleaved rounds, current_thread runtime"
    );
    println!("workload            raw (best)     owned (best)     ratio best  ratio median   by-ref ratio best/median   wire-encoded ratio best");
    for (name, v, per) in [
        ("ping_pong round trip", &pp, PP as f64),
        ("stream 100k u64", &st, 1.0),
    ] {
        println!(
            "{name:<20}{:>10.1} {unit:<3} {:>10.1} {unit:<3}   {:>8.3}x   {:>8.3}x      {:>8.3}x/{:.3}x        {:>8.3}x",
            min(&v[0]) / per * if per > 1.0 { 1e9 } else { 1e3 },
            min(&v[1]) / per * if per > 1.0 { 1e9 } else { 1e3 },
            min(&v[1]) / min(&v[0]),
            median_ratio(&v[1], &v[0]),
            min(&v[2]) / min(&v[0]),
            median_ratio(&v[2], &v[0]),
            min(&v[3]) / min(&v[0]),
            unit = if per > 1.0 { "ns" } else { "ms" },
        );
    }
}

/// `--single WORKLOAD [REPS]`: run one workload REPS times (`ping_pong` and
/// `stream` use `send(&v)`/`recv`, the `_owned` ones
/// `send_owned(v)`/`recv_owned`; ping-pong:
/// 20k round trips per rep; stream: 100k messages per rep), for measures
/// that load on a shared machine cannot skew: instruction counts
/// (`valgrind --tool=callgrind`) and on-CPU time (`perf stat -e task-clock`).
fn single(workload: &str, reps: u32) {
    let rt = rt();
    let plain = MemoryConfig::default();
    for _ in 0..reps {
        let elapsed = match workload {
            "raw_ping_pong" => ping_pong_raw(&rt, 20_000),
            "ping_pong" => ping_pong_typestate::<false>(&rt, 20_000, plain),
            "ping_pong_owned" => ping_pong_typestate::<true>(&rt, 20_000, plain),
            "raw_stream" => stream_raw(&rt),
            "stream" => stream_typestate::<false>(&rt, plain),
            "stream_owned" => stream_typestate::<true>(&rt, plain),
            other => {
                eprintln!(
                    "unknown workload {other}; use raw_ping_pong, ping_pong, ping_pong_owned, raw_stream, stream or stream_owned"
                );
                return;
            }
        };
        black_box(elapsed);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--single") {
        let reps = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(1);
        single(args.get(i + 1).map_or("", String::as_str), reps);
        return;
    }
    if std::env::args().any(|a| a == "--ratios-only") {
        ratios(rounds_from_env());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        ratios(rounds_from_env());
    }
}

fn rounds_from_env() -> usize {
    std::env::var("RATIO_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21)
}
