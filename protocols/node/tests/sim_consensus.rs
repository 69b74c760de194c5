//! Consensus among witness nodes on the simulated node host.
//!
//! * the fast path costs 2 messages per witness with pre-committed nonces
//!   and 4 without (counted as the witnesses send them);
//! * over 1,000 seeds of 5 witnesses and 200 of 7 with every fault (drop,
//!   delay, reorder, duplicate, partition + heal, initiator crash, witness
//!   crash, one equivocating witness; at most f = n - t faulty): never two
//!   commits for one prestate, every aggregated commit from t shares of
//!   witnesses not proven to equivocate, and EVERY run commits at every live
//!   honest witness once the network heals — except a run whose initiator
//!   crashed before its request left it, where every live witness must
//!   report that nothing was proposed;
//! * the equivocator is named in a verified proof and excluded.
//!
//! The seeds are split into shards (one `#[test]` each) so that the test
//! runner spreads them over the cores. `CONSENSUS_SIM_SEEDS=N` runs N
//! seeds per shard instead; a failure prints the seed and the command that
//! replays it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aura_node::sim::consensus::{committee_keys, fault_free, with_diverged_witness};
use aura_node::sim::SimProtocol;
use aura_node::sim::{run_seeds, Fault, Faults, SimOptions, Summary};
use aura_protocols::roles::consensus::Path;

fn seeds(default: u64) -> u64 {
    std::env::var("CONSENSUS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn check(options: &SimOptions, seeds: std::ops::Range<u64>) -> Summary {
    let summary = run_seeds(options, seeds.clone(), 1, &|_, _| {});
    if let Some(f) = summary.failures.first() {
        panic!(
            "seed {}: {}\nreplay: aura-node sim --protocol consensus --nodes {} --threshold {} --faults {} --first-seed {} --seeds 1",
            f.seed,
            f.violations.join("; "),
            options.nodes,
            options.threshold,
            options.faults,
            f.seed
        );
    }
    assert_eq!(summary.seeds, seeds.end - seeds.start);
    assert_eq!(summary.violations, 0);
    summary
}

/// Every seed commits, or (initiator crash only) proposed nothing.
fn every_run_commits(summary: &Summary) {
    assert_eq!(
        summary.committed + summary.unproposed,
        summary.seeds,
        "{summary:?}"
    );
}

fn all_faults(nodes: u16, threshold: u16) -> SimOptions {
    SimOptions {
        protocol: SimProtocol::Consensus,
        nodes,
        threshold,
        faults: Faults::all(),
    }
}

/// One shard of seeds with every fault.
fn shard(nodes: u16, threshold: u16, index: u64, default_size: u64) {
    let size = seeds(default_size);
    let summary = check(
        &all_faults(nodes, threshold),
        index * size..(index + 1) * size,
    );
    every_run_commits(&summary);
    // Most runs have something to commit (the initiator crashes in some
    // seeds only, and mostly after its request left).
    assert!(summary.committed * 2 > summary.seeds, "{summary:?}");
}

#[test]
fn the_fast_path_costs_two_messages_per_witness_with_precommitted_nonces_and_four_without() {
    let (n, t) = (7usize, 5u16);
    let keys = committee_keys(n as u16, t).unwrap();
    for (precommitted, per_witness) in [(true, 2), (false, 4)] {
        let results = fault_free(&keys, t, precommitted, 11).unwrap();
        assert_eq!(results.len(), n);
        assert!(results.iter().all(|r| r.path == Path::Fast));
        assert!(results
            .windows(2)
            .all(|w| w[0].certificate.statement() == w[1].certificate.statement()));
        let total: u32 = results.iter().map(|r| r.sent).sum();
        // Everything the initiator and witnesses sent, minus the initiator's
        // commit notification to the n - 1 others.
        let signing = total - (n as u32 - 1);
        assert_eq!(
            signing,
            per_witness * (n as u32 - 1),
            "precommitted = {precommitted}"
        );
    }
}

macro_rules! shards {
    ($nodes:expr, $threshold:expr, $size:expr, $($name:ident = $index:expr),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                shard($nodes, $threshold, $index, $size);
            }
        )+
    };
}

// 5 witnesses, threshold 4 (f = 1): 1,000 seeds in 8 shards.
shards!(
    5,
    4,
    125,
    five_witnesses_with_every_fault_always_commit_seeds_0_to_124 = 0,
    five_witnesses_with_every_fault_always_commit_seeds_125_to_249 = 1,
    five_witnesses_with_every_fault_always_commit_seeds_250_to_374 = 2,
    five_witnesses_with_every_fault_always_commit_seeds_375_to_499 = 3,
    five_witnesses_with_every_fault_always_commit_seeds_500_to_624 = 4,
    five_witnesses_with_every_fault_always_commit_seeds_625_to_749 = 5,
    five_witnesses_with_every_fault_always_commit_seeds_750_to_874 = 6,
    five_witnesses_with_every_fault_always_commit_seeds_875_to_999 = 7,
);

// 7 witnesses, threshold 5 (f = 2: two crashes, or a crash and an
// equivocator): 200 seeds in 2 shards.
shards!(
    7,
    5,
    100,
    seven_witnesses_survive_two_faulty_ones_seeds_0_to_99 = 0,
    seven_witnesses_survive_two_faulty_ones_seeds_100_to_199 = 1,
);

#[test]
fn an_equivocating_witness_is_named_in_a_proof_and_never_counted() {
    let options = SimOptions {
        protocol: SimProtocol::Consensus,
        nodes: 5,
        threshold: 4,
        faults: Faults::none().with(Fault::Equivocate),
    };
    let summary = check(&options, 0..seeds(40));
    every_run_commits(&summary);
    assert!(summary.caught > 0, "{summary:?}");
}

#[test]
fn a_witness_with_another_prestate_refuses_and_everyone_starts_the_fallback_before_the_deadline() {
    let (n, t) = (5u16, 4u16);
    let keys = committee_keys(n, t).unwrap();
    // Sim node 2 = participant 3: named by the initiator (it holds every
    // witness's pre-committed nonce and names the lowest ones).
    let results = with_diverged_witness(&keys, t, 2, 5).unwrap();
    let (diverged, _) = &results[2];
    assert!(diverged.is_err(), "the diverged witness cannot commit");
    let deadline = std::time::Duration::from_secs(2);
    for (i, (result, ended)) in results.iter().enumerate().filter(|(i, _)| *i != 2) {
        let committed = result.as_ref().unwrap();
        assert!(
            matches!(committed.path, Path::Fallback(_)),
            "node {i}: {:?}",
            committed.path
        );
        // The fast path's deadline is 2 s: the commit came through the
        // fallback before it, so the fallback started at the refusal.
        assert!(*ended < deadline, "node {i} committed at {ended:?}");
    }
}
