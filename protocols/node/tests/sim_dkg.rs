//! DKG as N nodes on the simulated node host: every participant ends with
//! the same group key and any t of them sign together; with faults
//! (drop, delay, reorder, duplicate, partition + heal, a crash) nobody
//! hangs, nobody ends with another key, and without a crash every run
//! completes. A failure prints the seed and the replay command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aura_node::sim::SimProtocol;
use aura_node::sim::{run_seeds, Fault, Faults, SimOptions};

fn check(options: &SimOptions, seeds: u64) -> u64 {
    let summary = run_seeds(options, 0..seeds, 2, &|_, _| {});
    if let Some(f) = summary.failures.first() {
        panic!(
            "seed {}: {}\nreplay: aura-node sim --protocol dkg --nodes {} --threshold {} --faults {} --first-seed {} --seeds 1",
            f.seed,
            f.violations.join("; "),
            options.nodes,
            options.threshold,
            options.faults,
            f.seed
        );
    }
    assert_eq!(summary.seeds, seeds);
    summary.committed
}

#[test]
fn every_participant_gets_the_same_group_key_and_t_of_them_sign() {
    let options = SimOptions {
        protocol: SimProtocol::Dkg,
        nodes: 5,
        threshold: 3,
        faults: Faults::none(),
    };
    assert_eq!(check(&options, 20), 20);
}

#[test]
fn network_faults_that_heal_never_stop_a_dkg() {
    let faults = Faults::none()
        .with(Fault::Drop)
        .with(Fault::Delay)
        .with(Fault::Reorder)
        .with(Fault::Duplicate)
        .with(Fault::Partition);
    let options = SimOptions {
        protocol: SimProtocol::Dkg,
        nodes: 4,
        threshold: 3,
        faults,
    };
    assert_eq!(check(&options, 40), 40);
}

#[test]
fn a_crashed_participant_makes_the_others_abort_without_hanging_or_disagreeing() {
    let options = SimOptions {
        protocol: SimProtocol::Dkg,
        nodes: 5,
        threshold: 4,
        faults: Faults::all(),
    };
    let committed = check(&options, 60);
    // Half the seeds crash someone early; the rest must still finish.
    assert!(committed > 10 && committed < 60, "committed {committed}/60");
}
