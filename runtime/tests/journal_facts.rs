//! Facts and the fact set: the door, the lattice laws, reducers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "common/journal.rs"]
mod journal_common;

use std::sync::OnceLock;

use choreo_runtime::journal::{
    reduce, Fact, FactError, FactSet, Journal, JournalError, MemoryStore, Reducer, SignedFact,
    VerifiedFact,
};
use journal_common::{device, note, notes, FrostGroup, Note, SCOPE};
use proptest::prelude::*;
use rand::SeedableRng;

/// A fact signed by a 2-of-3 FROST group: its signature verifies as plain
/// Ed25519 under the group key. Signed twice (FROST signatures are
/// randomized), giving two different valid signatures of one fact.
fn threshold_fact_twice() -> (VerifiedFact, VerifiedFact) {
    let mut group = FrostGroup::new(3);
    let fact = Fact::new(
        SCOPE,
        group.key(),
        &Note {
            n: 99,
            text: "commit".into(),
        },
    )
    .unwrap();
    (group.sign(&fact), group.sign(&fact))
}

/// Facts for the property tests: 20 device facts plus two differently
/// signed copies of one threshold fact.
fn pool() -> &'static [VerifiedFact] {
    static POOL: OnceLock<Vec<VerifiedFact>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut v = notes(20);
        let (a, b) = threshold_fact_twice();
        v.push(a);
        v.push(b);
        v
    })
}

fn set_of(indices: &[usize]) -> FactSet {
    indices
        .iter()
        .map(|&i| pool()[i % pool().len()].clone())
        .collect()
}

fn joined(a: &FactSet, b: &FactSet) -> FactSet {
    let mut x = a.clone();
    x.join(b);
    x
}

/// A reducer that is deliberately order-sensitive in how it folds (it
/// keeps a running hash-like value), so only a fixed feeding order makes
/// it deterministic.
struct Chain;
impl Reducer for Chain {
    type State = (u64, Vec<u64>);
    fn initial(&self) -> Self::State {
        (17, Vec::new())
    }
    fn apply(&self, state: &mut Self::State, fact: &VerifiedFact) {
        if let Ok(n) = fact.body::<Note>() {
            state.0 = state.0.wrapping_mul(31).wrapping_add(n.n);
            state.1.push(n.n);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn join_is_commutative(a in prop::collection::vec(0usize..64, 0..12), b in prop::collection::vec(0usize..64, 0..12)) {
        let (a, b) = (set_of(&a), set_of(&b));
        prop_assert_eq!(joined(&a, &b), joined(&b, &a));
    }

    #[test]
    fn join_is_associative(a in prop::collection::vec(0usize..64, 0..10), b in prop::collection::vec(0usize..64, 0..10), c in prop::collection::vec(0usize..64, 0..10)) {
        let (a, b, c) = (set_of(&a), set_of(&b), set_of(&c));
        prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
    }

    #[test]
    fn join_is_idempotent(a in prop::collection::vec(0usize..64, 0..12)) {
        let a = set_of(&a);
        prop_assert_eq!(joined(&a, &a), a);
    }

    #[test]
    fn reducers_ignore_order_and_duplicates(picks in prop::collection::vec(0usize..64, 0..24), seed in any::<u64>()) {
        use rand::seq::SliceRandom;
        let facts: Vec<VerifiedFact> = picks.iter().map(|&i| pool()[i % pool().len()].clone()).collect();
        let reference = reduce(&Chain, &facts.iter().cloned().collect());
        // Another arrival order, with every fact possibly delivered twice.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut shuffled: Vec<VerifiedFact> = facts.iter().chain(facts.iter().step_by(2)).cloned().collect();
        shuffled.shuffle(&mut rng);
        let mut journal = Journal::open(SCOPE, MemoryStore::new()).unwrap();
        for f in shuffled {
            journal.append(f).unwrap();
        }
        prop_assert_eq!(journal.reduce(&Chain), reference);
    }
}

#[test]
fn two_frost_signatures_of_one_fact_are_one_fact() {
    let (a, b) = threshold_fact_twice();
    assert_eq!(a.id(), b.id());
    assert_ne!(
        a.signed().signature,
        b.signed().signature,
        "FROST signatures are randomized"
    );
    let (x, y): (FactSet, FactSet) = (
        [a.clone()].into_iter().collect(),
        [b.clone()].into_iter().collect(),
    );
    assert_eq!(joined(&x, &y).len(), 1);
    assert_eq!(joined(&x, &y), joined(&y, &x));
}

#[test]
fn a_fact_with_a_bad_signature_is_refused_and_not_stored() {
    let mut journal = Journal::open(SCOPE, MemoryStore::new()).unwrap();
    let good = note(&device(1), 1, "transfer 10");
    // Someone rewrites the content but keeps the author's signature.
    let forged_content = Fact {
        body: postcard::to_stdvec(&Note {
            n: 1,
            text: "transfer 10000".into(),
        })
        .unwrap(),
        ..good.fact().clone()
    };
    let forged = SignedFact::new(forged_content.encode().unwrap(), good.signed().signature);
    let err = journal.accept(forged).unwrap_err();
    assert!(
        matches!(err, JournalError::Refused(FactError::BadSignature { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("bad signature"), "{err}");
    assert_eq!(journal.facts().len(), 0);
    assert_eq!(journal.store().len().unwrap(), 0);
    // A fact signed by a key other than its claimed author is refused too.
    let mut stolen = good.signed().clone();
    let other = note(&device(2), 1, "transfer 10");
    stolen.signature = other.signed().signature;
    assert!(journal.accept(stolen).is_err());
    assert!(journal.accept(good.signed().clone()).unwrap());
}

#[test]
fn a_fact_of_another_scope_is_refused() {
    let key = device(1);
    let foreign = Fact::new(
        choreo_runtime::journal::ScopeId([1; 32]),
        choreo_runtime::journal::author_of(&key),
        &Note {
            n: 1,
            text: "x".into(),
        },
    )
    .unwrap()
    .sign(&key)
    .unwrap();
    let mut journal = Journal::open(SCOPE, MemoryStore::new()).unwrap();
    assert!(matches!(
        journal.append(foreign),
        Err(JournalError::WrongScope { .. })
    ));
    assert!(journal.facts().is_empty());
}

#[test]
fn a_body_is_read_only_as_its_own_kind() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Other(u64);
    impl choreo_runtime::journal::FactBody for Other {
        const KIND: &'static str = "test.other";
        const VERSION: u16 = 1;
    }
    let f = note(&device(1), 5, "five");
    assert_eq!(f.body::<Note>().unwrap().n, 5);
    assert!(matches!(
        f.body::<Other>(),
        Err(FactError::WrongKind { .. })
    ));
}

#[test]
fn the_same_facts_offered_100k_times_are_stored_once() {
    // The issue asks for a million; CI offers 100,000 (set DEDUP_ROUNDS to
    // change it). Memory and store stay at the 10 distinct facts.
    let rounds: usize = std::env::var("DEDUP_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let facts = notes(10);
    let mut journal = Journal::open(SCOPE, MemoryStore::new()).unwrap();
    for i in 0..rounds {
        let f = facts[i % facts.len()].clone();
        journal.append(f).unwrap();
    }
    assert_eq!(journal.facts().len(), 10);
    assert_eq!(journal.store().len().unwrap(), 10);
}
