//! Simulated messages per second on one core: a 1,000-message stream
//! between two nodes through the deterministic simulator (node host,
//! reliable links, wire encoding, virtual-time scheduling), against the
//! same stream over the in-memory transport on a plain current_thread
//! tokio runtime as the floor measured in the same run. See
//! book/src/transports.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use choreo_runtime::memory::{self, MemoryConfig};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{
    Error, Label, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session, SessionId, Transport,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));
const ITEM: Label = Label(0);
const DONE: Label = Label(1);
static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Stream",
    fingerprint: [4; 32],
    roles: &["A", "B"],
    labels: &["Item", "Done"],
};
const MESSAGES: u64 = 1000;

fn roster() -> Roster {
    Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap()
}

async fn sender<T: Transport>(mut a: Session<T>) -> Result<(), Error> {
    for i in 0..MESSAGES {
        a.send(B, ITEM, &i).await?;
    }
    let _: () = a.recv(B, DONE).await?;
    a.finish()
}

async fn receiver<T: Transport>(mut b: Session<T>) -> Result<u64, Error> {
    let mut sum = 0;
    for _ in 0..MESSAGES {
        sum += b.recv::<u64>(A, ITEM).await?;
    }
    b.send(A, DONE, &()).await?;
    b.finish()?;
    Ok(sum)
}

fn simulated(seed: u64, config: SimConfig) -> Duration {
    let start = Instant::now();
    let mut sim = Sim::new(seed, config);
    let (na, nb) = (sim.add_node(), sim.add_node());
    let mut s = sim
        .open_sessions(SessionId([1; 16]), &PROTO, &roster(), &[na, nb])
        .unwrap()
        .into_iter();
    let (a, b) = (s.next().unwrap(), s.next().unwrap());
    let _ha = sim.spawn(na, sender(a));
    let hb = sim.spawn(nb, receiver(b));
    sim.run().unwrap();
    black_box(hb.take().unwrap().unwrap());
    start.elapsed()
}

fn in_memory(rt: &tokio::runtime::Runtime) -> Duration {
    let start = Instant::now();
    let mut v = memory::sessions(
        SessionId([1; 16]),
        &PROTO,
        &roster(),
        MemoryConfig {
            wire_encoding: true,
        },
    )
    .unwrap();
    let b = v.pop().unwrap();
    let a = v.pop().unwrap();
    rt.block_on(async {
        let hb = tokio::spawn(receiver(b));
        sender(a).await.unwrap();
        black_box(hb.await.unwrap().unwrap());
    });
    start.elapsed()
}

fn stream(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("sim_stream_1000");
    g.throughput(Throughput::Elements(MESSAGES));
    g.bench_function("floor_memory_wire_encoded", |bch| {
        bch.iter_custom(|n| (0..n).map(|_| in_memory(&rt)).sum())
    });
    g.bench_function("sim_perfect_network", |bch| {
        bch.iter_custom(|n| (0..n).map(|i| simulated(i, SimConfig::default())).sum())
    });
    g.bench_function("sim_drop10_dup5_reorder20", |bch| {
        bch.iter_custom(|n| {
            (0..n)
                .map(|i| {
                    simulated(
                        i,
                        SimConfig {
                            drop: 0.1,
                            duplicate: 0.05,
                            reorder: 0.2,
                            ..SimConfig::default()
                        },
                    )
                })
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
