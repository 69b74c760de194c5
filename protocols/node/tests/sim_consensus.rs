//! Consensus among witness nodes on the simulated node host.
//!
//! * the fast path costs 2 messages per witness with pre-committed nonces
//!   and 4 without (counted as the witnesses send them);
//! * over many seeds with every fault (drop, delay, reorder, duplicate,
//!   partition + heal, initiator crash, witness crash, one equivocating
//!   witness; at most f = n - t faulty): never two commits for one
//!   prestate, every aggregated commit from t shares of witnesses not
//!   proven to equivocate, every live honest witness commits after the
//!   heal, and the equivocator is caught.
//!
//! `CONSENSUS_SIM_SEEDS=N` runs more seeds; a failure prints the seed and
//! the command that replays it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aura_node::cli::SimProtocol;
use aura_node::sim::consensus::{committee_keys, fault_free};
use aura_node::sim::{run_seeds, Fault, Faults, SimOptions, Summary};
use aura_protocols::roles::consensus::Path;

fn seeds(default: u64) -> u64 {
    std::env::var("CONSENSUS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn check(options: &SimOptions, seeds: u64) -> Summary {
    let summary = run_seeds(options, 0..seeds, 2, &|_, _| {});
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
    summary
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

#[test]
fn with_every_fault_consensus_stays_safe_and_commits_after_the_heal() {
    let options = SimOptions {
        protocol: SimProtocol::Consensus,
        nodes: 5,
        threshold: 4,
        faults: Faults::all(),
    };
    let summary = check(&options, seeds(40));
    assert!(summary.committed > summary.seeds / 3, "{summary:?}");
}

#[test]
fn seven_witnesses_survive_two_faulty_ones() {
    let options = SimOptions {
        protocol: SimProtocol::Consensus,
        nodes: 7,
        threshold: 5,
        faults: Faults::all(),
    };
    check(&options, seeds(10));
}

#[test]
fn an_equivocating_witness_is_named_in_a_proof_and_never_counted() {
    let options = SimOptions {
        protocol: SimProtocol::Consensus,
        nodes: 5,
        threshold: 4,
        faults: Faults::none().with(Fault::Equivocate),
    };
    let summary = check(&options, seeds(20));
    assert!(summary.caught > 0, "{summary:?}");
}
