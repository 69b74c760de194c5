//! Instances of one protocol that are the same system (equal family
//! sizes and equal values of the parameters a quorum names) are explored
//! once by `choreo verify` and reported for each: the reused report must be
//! what exploring that instance alone gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_lang::driver::{compile, Source};
use choreo_lang::verify::VerifyOptions;
use std::collections::BTreeMap;

/// `t` is a quorum (it changes the system), `u` names none (it does
/// not).
const QUORUMS: &str = "
protocol Vote(n, t, u) {
    roles Coord, W[n];
    Coord -> W[*] : Ask;
    W[*] -> Coord : Answer quorum t;
    Coord -> W[*] : Done;
}
";

/// A run's family sizes and value of `t`.
type Key = (BTreeMap<String, u64>, u64);
/// A run's states, transitions and whether a send waited.
type Summary = (u64, u64, bool);

/// Each run's summary by its key, for `quorum` (`None`: every value).
fn runs(quorum: Option<u64>) -> Vec<(Key, Summary)> {
    let comp = compile(vec![Source::from_path_text("quorums.choreo", QUORUMS)]);
    assert!(!comp.has_errors(), "the test protocol compiles");
    let options = VerifyOptions {
        quorum,
        ..VerifyOptions::default()
    };
    comp.verify(None, &options)
        .iter()
        .flat_map(|r| r.runs.clone())
        .map(|run| {
            let t = run.params.get("t").copied().unwrap_or(0);
            (
                (run.families, t),
                (run.states, run.transitions, run.bound_hit),
            )
        })
        .collect()
}

/// Instances that are the same system are explored once and reported
/// for each: every instance of the full run (every `t` and `u`)
/// reports what verifying its `t` alone explores, and the values of
/// `t` that change the system are not merged.
#[test]
fn instances_of_one_system_report_what_exploring_them_gives() {
    let mut alone = BTreeMap::new();
    for q in 1..=3 {
        alone.extend(runs(Some(q)));
    }
    let full = runs(None);
    // n = 2: t, u in 1..=2; n = 3: t, u in 1..=3.
    assert_eq!(full.len(), 4 + 9);
    for (key, summary) in &full {
        assert_eq!(alone.get(key), Some(summary), "instance {key:?}");
    }
    let three = |t: u64| {
        let families = BTreeMap::from([("W".to_string(), 3)]);
        alone.get(&(families, t)).copied()
    };
    assert_ne!(three(1), three(3), "t changes the system");
}
