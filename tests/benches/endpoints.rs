//! Generated endpoints vs raw `tokio::sync::mpsc` on the same payload and
//! the same runtime flavour (current-thread tokio, two tasks):
//! - ping-pong round trip (`u64` there and back);
//! - a one-way stream of 100,000 `u64` messages.
//!
//! `cargo bench -p choreo-workspace-tests --bench endpoints`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::{Label, Role, RoleId, SessionId};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        .enable_all()
        .build()
        .unwrap()
}

async fn echo_generated(iters: u64) -> Duration {
    let params = echo::Params::default();
    let mut s = echo::sessions(&params, SessionId([1; 16])).unwrap();
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

async fn stream_generated() -> Duration {
    let params = stream::Params::default();
    let mut s = stream::sessions(&params, SessionId([2; 16])).unwrap();
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

// The same workloads on the runtime's `Session` API directly (no
// typestates): separates the cost of the generated layer from the runtime's.
const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));

async fn echo_session(iters: u64) -> Duration {
    let params = echo::Params::default();
    let mut s = echo::sessions(&params, SessionId([3; 16])).unwrap();
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
    let mut s = stream::sessions(&params, SessionId([4; 16])).unwrap();
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
    g.finish();
}

criterion_group!(benches, ping_pong, stream);
criterion_main!(benches);
