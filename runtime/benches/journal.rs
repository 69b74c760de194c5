//! Journal benchmarks, each against a floor measured in the same run:
//!
//! - `append/durable` (one fact per durable, sealed append through
//!   `Journal::append`) vs `append/bare_redb` (a plain redb insert of the
//!   same encoded bytes, one durable commit each);
//! - `sync/10k` (the sync core moving 10,000 facts to an empty replica:
//!   summaries, id lists, batches, verification, append; in memory, no
//!   network) vs `sync/verify_only` (just verifying the 10,000 signatures).
//!   The bytes of the sync messages vs the facts' own size are printed.
//!
//! See book/src/journal.md for the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Duration;

use choreo_runtime::journal::{
    author_of, DurableStore, Fact, FactBody, Journal, MemoryStore, ScopeId, SigningKey,
    VerifiedFact,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redb::{Database, Durability, TableDefinition};
use serde::{Deserialize, Serialize};

const SCOPE: ScopeId = ScopeId([1; 32]);

#[derive(Serialize, Deserialize)]
struct Entry(u64, [[u8; 32]; 2]);
impl FactBody for Entry {
    const KIND: &'static str = "bench.entry";
    const VERSION: u16 = 1;
}

fn facts(n: u64, offset: u64) -> Vec<VerifiedFact> {
    let key = SigningKey::from_bytes(&[7; 32]);
    (offset..offset + n)
        .map(|i| {
            Fact::new(SCOPE, author_of(&key), &Entry(i, [[i as u8; 32]; 2]))
                .unwrap()
                .sign(&key)
                .unwrap()
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    let pool = facts(20_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let node = SigningKey::from_bytes(&[2; 32]);
    let mut journal = Journal::open(
        SCOPE,
        DurableStore::open(&dir.path().join("j.redb"), &node).unwrap(),
    )
    .unwrap();
    let mut next = pool.iter().cycle();
    g.bench_function("durable", |b| {
        b.iter(|| {
            // Past the pool the facts repeat and appends dedup; size the
            // pool above the iteration count criterion chooses.
            journal.append(next.next().unwrap().clone()).unwrap()
        })
    });
    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bare");
    let db = Database::create(dir.path().join("bare.redb")).unwrap();
    let encoded: Vec<Vec<u8>> = pool.iter().map(|f| f.signed().encode().unwrap()).collect();
    let mut i = 0usize;
    g.bench_function("bare_redb", |b| {
        b.iter(|| {
            let bytes = &encoded[i % encoded.len()];
            let key = pool[i % pool.len()].id().0;
            i += 1;
            let mut txn = db.begin_write().unwrap();
            txn.set_durability(Durability::Immediate).unwrap();
            txn.open_table(TABLE)
                .unwrap()
                .insert(&key[..], &bytes[..])
                .unwrap();
            txn.commit().unwrap();
        })
    });
    g.finish();
}

fn sync_once(from: &Journal, to: &mut Journal) -> usize {
    let mut bytes = 0;
    loop {
        let (sa, sb) = (from.summary(), to.summary());
        let (ia, ib) = (
            from.id_lists(&sa, &sb).unwrap(),
            to.id_lists(&sb, &sa).unwrap(),
        );
        let batch = from.missing_for(&ib, &ia).unwrap();
        for m in [
            postcard::to_stdvec(&sa).unwrap(),
            postcard::to_stdvec(&sb).unwrap(),
        ] {
            bytes += m.len();
        }
        bytes += postcard::to_stdvec(&ia).unwrap().len() + postcard::to_stdvec(&ib).unwrap().len();
        bytes += postcard::to_stdvec(&batch).unwrap().len();
        let more = batch.more;
        to.receive(batch).unwrap();
        if !more {
            return bytes;
        }
    }
}

fn sync(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(10_000));
    let pool = facts(10_000, 1_000_000);
    let mut source = Journal::open(SCOPE, MemoryStore::new()).unwrap();
    source.append_all(pool.clone()).unwrap();
    {
        let mut empty = Journal::open(SCOPE, MemoryStore::new()).unwrap();
        let wire = sync_once(&source, &mut empty);
        let own: usize = pool.iter().map(|f| f.signed().encoded_len()).sum();
        eprintln!(
            "sync of 10,000 facts: {wire} bytes of sync messages for {own} bytes of facts ({:.3}x)",
            wire as f64 / own as f64
        );
    }
    g.bench_function("10k", |b| {
        b.iter_batched(
            || Journal::open(SCOPE, MemoryStore::new()).unwrap(),
            |mut empty| black_box(sync_once(&source, &mut empty)),
            BatchSize::LargeInput,
        )
    });
    let signed: Vec<_> = pool.iter().map(|f| f.signed().clone()).collect();
    g.bench_function("verify_only", |b| {
        b.iter_batched(
            || signed.clone(),
            |s| {
                for f in s {
                    black_box(f.verify().unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, append, sync);
criterion_main!(benches);
