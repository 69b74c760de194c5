//! Guard-chain cost per send: `send_guarded` with capability, cost and
//! leakage annotations (no journal) vs a plain `send`, both over the
//! in-memory transport on a current_thread runtime, each followed by the
//! receive that drains it. See book/src/guard-chain.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use choreo_runtime::guard::{
    Annotations, BudgetPolicy, CapabilitySet, ContextId, Guard, GuardConfig, ObserverClass,
    PeerKey, SystemClock,
};
use choreo_runtime::{
    memory, Label, MemoryConfig, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session,
    SessionConfig, SessionId,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Bench",
    fingerprint: [4; 32],
    roles: &["A", "B"],
    labels: &["Msg"],
};
const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));
const MSG: Label = Label(0);
const ANN: Annotations<'static> = Annotations {
    guard: &["send"],
    cost: 1,
    journal: &[],
    leak: &[(ObserverClass::Relationship, 1)],
};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let config = |me| SessionConfig {
        id: SessionId([1; 16]),
        protocol: &PROTO,
        me,
        roster: roster.clone(),
    };
    let mut g = c.benchmark_group("guard");
    g.throughput(Throughput::Elements(1));

    let mut net = memory::network(2, MemoryConfig::default());
    let (tb, ta) = (net.pop().unwrap(), net.pop().unwrap());
    let (mut a, mut b) = (
        Session::new(config(A), ta).unwrap(),
        Session::new(config(B), tb).unwrap(),
    );
    g.bench_function("unguarded_send", |bn| {
        bn.iter(|| {
            rt.block_on(async {
                a.send(B, MSG, &7u64).await.unwrap();
                b.recv::<u64>(A, MSG).await.unwrap()
            })
        })
    });

    let unlimited = BudgetPolicy::UNLIMITED;
    let guard = Guard::new(
        GuardConfig {
            flow: unlimited,
            leakage: [unlimited; 4],
        },
        Arc::new(SystemClock::default()),
    );
    let mut net = memory::network(2, MemoryConfig::default());
    let (tb, ta) = (net.pop().unwrap(), net.pop().unwrap());
    let ta = guard.wrap(
        ta,
        ContextId([0; 32]),
        vec![PeerKey([1; 32]), PeerKey([2; 32])],
        CapabilitySet::grant(["send"]),
    );
    let (mut a, mut b) = (
        Session::new(config(A), ta).unwrap(),
        Session::new(config(B), tb).unwrap(),
    );
    g.bench_function("guarded_send", |bn| {
        bn.iter(|| {
            rt.block_on(async {
                a.send_guarded(B, MSG, &7u64, &ANN).await.unwrap();
                b.recv::<u64>(A, MSG).await.unwrap()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
