//! Generated endpoints (the `choreography!` expansion, in-memory sessions)
//! vs raw `tokio::sync::mpsc` on the same payload and the same runtime: a
//! plain current-thread tokio runtime (no I/O or timer driver: an
//! `enable_all` runtime doubles the floor and flatters the ratio), two
//! tasks:
//! - ping-pong round trip (`u64` there and back);
//! - a one-way stream of 100,000 `u64` messages.
//!
//! Two floors: unbounded channels (what the in-memory transport uses) and
//! bounded ones (capacity 1 for ping-pong, 1024 for the stream).
//!
//! `cargo bench -p choreo-workspace-tests --bench endpoints` (criterion);
//! `… -- --ratios-only` (raw and generated runs interleaved, median of the
//! per-round ratios; `ROUNDS=N`, default 21); `… -- --single WORKLOAD REPS`
//! (one workload, for `valgrind --tool=callgrind`). See book/src/runtime.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::{Label, ProtocolInfo, Role, RoleId, Roster, SessionId};
use criterion::{criterion_group, Criterion, Throughput};
use tokio::sync::mpsc;

choreography! {
    protocol Echo {
        roles A, B;
        rec Loop {
            choice at A {
                Go => { A -> B : Ping(u64); B -> A : Pong(u64); continue Loop; }
                Stop => { A -> B : Halt; }
            }
        }
    }
}

choreography! {
    protocol Stream {
        roles A, B;
        rec Loop {
            choice at A {
                More => { A -> B : Item(u64); continue Loop; }
                Done => { A -> B : Last; }
            }
        }
    }
}

const STREAM: u64 = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Capacity of the bounded floors' channels.
const PING_PONG_BOUND: usize = 1;
const STREAM_BOUND: usize = 1024;

type Sessions = Vec<choreo_runtime::Session<choreo_runtime::MemoryTransport>>;

/// A network without typed lanes: the generated endpoints take the session
/// path, as on every other transport.
fn without_lanes(protocol: &'static ProtocolInfo, roster: Roster, id: u8) -> Sessions {
    choreo_runtime::memory::sessions(
        SessionId([id; 16]),
        protocol,
        &roster,
        choreo_runtime::MemoryConfig::default(),
    )
    .unwrap()
}

async fn echo_generated(iters: u64) -> Duration {
    let params = echo::Params::default();
    echo_generated_on(iters, echo::sessions(&params, SessionId([1; 16])).unwrap()).await
}

async fn echo_generated_on(iters: u64, mut s: Sessions) -> Duration {
    let params = echo::Params::default();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let server = tokio::spawn(async move {
        let mut ep = echo::b::open(b, params).unwrap();
        loop {
            match ep.branch().await.unwrap() {
                echo::b::PingOrHalt::Ping(echo::Ping(v), next) => {
                    ep = next.send(echo::Pong(v)).await.unwrap()
                }
                echo::b::PingOrHalt::Halt(echo::Halt, end) => return end.finish().unwrap(),
            }
        }
    });
    let start = Instant::now();
    let mut ep = echo::a::open(a, params).unwrap();
    for i in 0..iters {
        let (echo::Pong(v), next) = ep
            .select_go()
            .send(echo::Ping(i))
            .await
            .unwrap()
            .recv()
            .await
            .unwrap();
        debug_assert_eq!(v, i);
        ep = next;
    }
    let elapsed = start.elapsed();
    ep.select_stop()
        .send(echo::Halt)
        .await
        .unwrap()
        .finish()
        .unwrap();
    server.await.unwrap();
    elapsed
}

async fn echo_raw(iters: u64) -> Duration {
    let (to_b, mut from_a) = mpsc::unbounded_channel::<u64>();
    let (to_a, mut from_b) = mpsc::unbounded_channel::<u64>();
    let server = tokio::spawn(async move {
        while let Some(v) = from_a.recv().await {
            to_a.send(v).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        to_b.send(i).unwrap();
        let v = from_b.recv().await.unwrap();
        debug_assert_eq!(v, i);
    }
    let elapsed = start.elapsed();
    drop(to_b);
    server.await.unwrap();
    elapsed
}

async fn echo_raw_bounded(iters: u64) -> Duration {
    let (to_b, mut from_a) = mpsc::channel::<u64>(PING_PONG_BOUND);
    let (to_a, mut from_b) = mpsc::channel::<u64>(PING_PONG_BOUND);
    let server = tokio::spawn(async move {
        while let Some(v) = from_a.recv().await {
            to_a.send(v).await.unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        to_b.send(i).await.unwrap();
        let v = from_b.recv().await.unwrap();
        debug_assert_eq!(v, i);
    }
    let elapsed = start.elapsed();
    drop(to_b);
    server.await.unwrap();
    elapsed
}

async fn stream_generated() -> Duration {
    let params = stream::Params::default();
    stream_generated_on(stream::sessions(&params, SessionId([2; 16])).unwrap()).await
}

async fn stream_generated_on(mut s: Sessions) -> Duration {
    let params = stream::Params::default();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let start = Instant::now();
    let sink = tokio::spawn(async move {
        let mut ep = stream::b::open(b, params).unwrap();
        let mut sum = 0u64;
        loop {
            match ep.branch().await.unwrap() {
                stream::b::ItemOrLast::Item(stream::Item(v), next) => {
                    sum += v;
                    ep = next;
                }
                stream::b::ItemOrLast::Last(stream::Last, end) => {
                    end.finish().unwrap();
                    return sum;
                }
            }
        }
    });
    let mut ep = stream::a::open(a, params).unwrap();
    for i in 0..STREAM {
        ep = ep.select_more().send(stream::Item(i)).await.unwrap();
    }
    ep.select_done()
        .send(stream::Last)
        .await
        .unwrap()
        .finish()
        .unwrap();
    let sum = sink.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, STREAM * (STREAM - 1) / 2);
    elapsed
}

async fn stream_raw() -> Duration {
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let start = Instant::now();
    let sink = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    for i in 0..STREAM {
        tx.send(i).unwrap();
    }
    drop(tx);
    let sum = sink.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, STREAM * (STREAM - 1) / 2);
    elapsed
}

async fn stream_raw_bounded() -> Duration {
    let (tx, mut rx) = mpsc::channel::<u64>(STREAM_BOUND);
    let start = Instant::now();
    let sink = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    for i in 0..STREAM {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    let sum = sink.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, STREAM * (STREAM - 1) / 2);
    elapsed
}

// The same workloads on the runtime's `Session` API directly (no
// typestates, so on a network without lanes): what the generated endpoints
// cost on the session path, which every other transport takes.
const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));

async fn echo_session(iters: u64) -> Duration {
    let params = echo::Params::default();
    let mut s = choreo_runtime::memory::sessions(
        SessionId([3; 16]),
        &echo::PROTOCOL,
        &echo::roster(&params).unwrap(),
        choreo_runtime::MemoryConfig::default(),
    )
    .unwrap();
    let mut b = s.pop().unwrap();
    let mut a = s.pop().unwrap();
    let (ping, pong, halt) = (Label(0), Label(1), Label(2));
    let server = tokio::spawn(async move {
        loop {
            let m = b.recv_branch(A, &[ping, halt]).await.unwrap();
            if m.index == 1 {
                return b.finish().unwrap();
            }
            let v: u64 = m.decode().unwrap();
            b.send(A, pong, &v).await.unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        a.send(B, ping, &i).await.unwrap();
        let v: u64 = a.recv(B, pong).await.unwrap();
        debug_assert_eq!(v, i);
    }
    let elapsed = start.elapsed();
    a.send(B, halt, &()).await.unwrap();
    a.finish().unwrap();
    server.await.unwrap();
    elapsed
}

async fn stream_session() -> Duration {
    let params = stream::Params::default();
    let mut s = choreo_runtime::memory::sessions(
        SessionId([4; 16]),
        &stream::PROTOCOL,
        &stream::roster(&params).unwrap(),
        choreo_runtime::MemoryConfig::default(),
    )
    .unwrap();
    let mut b = s.pop().unwrap();
    let mut a = s.pop().unwrap();
    let (item, last) = (Label(0), Label(1));
    let start = Instant::now();
    let sink = tokio::spawn(async move {
        let mut sum = 0u64;
        loop {
            let m = b.recv_branch(A, &[item, last]).await.unwrap();
            if m.index == 1 {
                b.finish().unwrap();
                return sum;
            }
            sum += m.decode::<u64>().unwrap();
        }
    });
    for i in 0..STREAM {
        a.send(B, item, &i).await.unwrap();
    }
    a.send(B, last, &()).await.unwrap();
    a.finish().unwrap();
    let sum = sink.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(sum, STREAM * (STREAM - 1) / 2);
    elapsed
}

fn ping_pong(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("ping_pong_round_trip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generated", |b| {
        b.iter_custom(|iters| rt.block_on(echo_generated(iters)))
    });
    g.bench_function("session_api", |b| {
        b.iter_custom(|iters| rt.block_on(echo_session(iters)))
    });
    g.bench_function("raw_mpsc", |b| {
        b.iter_custom(|iters| rt.block_on(echo_raw(iters)))
    });
    g.bench_function("raw_mpsc_bounded", |b| {
        b.iter_custom(|iters| rt.block_on(echo_raw_bounded(iters)))
    });
    g.finish();
}

fn stream(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("one_way_stream_100k");
    g.throughput(Throughput::Elements(STREAM));
    g.sample_size(20);
    g.bench_function("generated", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(stream_generated())).sum())
    });
    g.bench_function("session_api", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(stream_session())).sum())
    });
    g.bench_function("raw_mpsc", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(stream_raw())).sum())
    });
    g.bench_function("raw_mpsc_bounded", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(stream_raw_bounded())).sum())
    });
    g.finish();
}

criterion_group!(benches, ping_pong, stream);

/// Round trips per ping-pong run of the interleaved and single modes.
const ROUND_TRIPS: u64 = 20_000;

/// Interleaved measurement: the raw floors and the generated endpoints run
/// one after the other in every round, so load from other processes on the
/// shared machine hits all alike. Prints per workload the median time and
/// the median of the per-round ratios to each floor.
fn ratios(rounds: usize) {
    let rt = runtime();
    let mut pp: [Vec<f64>; 3] = Default::default();
    let mut st: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        pp[0].push(rt.block_on(echo_raw(ROUND_TRIPS)).as_secs_f64());
        pp[1].push(rt.block_on(echo_raw_bounded(ROUND_TRIPS)).as_secs_f64());
        pp[2].push(rt.block_on(echo_generated(ROUND_TRIPS)).as_secs_f64());
        st[0].push(rt.block_on(stream_raw()).as_secs_f64());
        st[1].push(rt.block_on(stream_raw_bounded()).as_secs_f64());
        st[2].push(rt.block_on(stream_generated()).as_secs_f64());
        eprint!("\rround {}/{rounds}", round + 1);
    }
    eprintln!();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let median_ratio = |a: &[f64], b: &[f64]| {
        let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        median(&mut r)
    };
    println!("generated endpoints vs raw tokio::sync::mpsc, {rounds} interleaved rounds, plain current_thread runtime");
    println!("workload              raw unbounded   raw bounded     generated    / unbounded   / bounded   (medians)");
    for (name, v, per, unit) in [
        ("ping_pong round trip", &pp, ROUND_TRIPS as f64 / 1e9, "ns"),
        ("stream 100k u64", &st, 1e-3, "ms"),
    ] {
        let (u, b) = (median_ratio(&v[2], &v[0]), median_ratio(&v[2], &v[1]));
        let mut v = v.clone();
        let [raw, bounded, generated] = &mut v;
        println!(
            "{name:<20}{:>10.1} {unit}   {:>10.1} {unit}  {:>10.1} {unit}   {u:>8.3}x   {b:>8.3}x",
            median(raw) / per,
            median(bounded) / per,
            median(generated) / per,
        );
    }
}

/// `--single WORKLOAD REPS`: one workload REPS times, for instruction
/// counts (`valgrind --tool=callgrind`), which load cannot skew.
fn single(workload: &str, reps: u32) {
    let rt = runtime();
    for _ in 0..reps {
        let elapsed = match workload {
            "raw_ping_pong" => rt.block_on(echo_raw(ROUND_TRIPS)),
            "raw_ping_pong_bounded" => rt.block_on(echo_raw_bounded(ROUND_TRIPS)),
            "ping_pong" => rt.block_on(echo_generated(ROUND_TRIPS)),
            "ping_pong_session_path" => rt.block_on(echo_generated_on(
                ROUND_TRIPS,
                without_lanes(
                    &echo::PROTOCOL,
                    echo::roster(&Default::default()).unwrap(),
                    5,
                ),
            )),
            "raw_stream" => rt.block_on(stream_raw()),
            "raw_stream_bounded" => rt.block_on(stream_raw_bounded()),
            "stream" => rt.block_on(stream_generated()),
            "stream_session_path" => rt.block_on(stream_generated_on(without_lanes(
                &stream::PROTOCOL,
                stream::roster(&Default::default()).unwrap(),
                6,
            ))),
            other => {
                eprintln!("unknown workload {other}; use raw_ping_pong, raw_ping_pong_bounded, ping_pong, ping_pong_session_path, raw_stream, raw_stream_bounded, stream or stream_session_path");
                return;
            }
        };
        std::hint::black_box(elapsed);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--single") {
        let reps = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(1);
        single(args.get(i + 1).map_or("", String::as_str), reps);
        return;
    }
    if args.iter().any(|a| a == "--ratios-only") {
        let rounds = std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(21);
        ratios(rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
