//! Resharing 3-of-5 to 4-of-7 with two new members, as nodes on the
//! simulated node host: the group key is unchanged and 4 new shares sign;
//! after the epoch commit every old witness refuses old-epoch requests; a
//! crash that aborts the reshare leaves the old epoch valid (3 old shares
//! still sign). A failure prints the seed and the replay command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aura_node::sim::SimProtocol;
use aura_node::sim::{run_seeds, Fault, Faults, SimOptions, Summary};

fn check(options: &SimOptions, seeds: u64) -> Summary {
    let summary = run_seeds(options, 0..seeds, 2, &|_, _| {});
    if let Some(f) = summary.failures.first() {
        panic!(
            "seed {}: {}\nreplay: aura-node sim --protocol reshare --nodes 5 --threshold 3 --faults {} --first-seed {} --seeds 1",
            f.seed,
            f.violations.join("; "),
            options.faults,
            f.seed
        );
    }
    summary
}

#[test]
fn three_of_five_becomes_four_of_seven_with_the_same_group_key() {
    let options = SimOptions {
        protocol: SimProtocol::Reshare,
        nodes: 5,
        threshold: 3,
        faults: Faults::none(),
    };
    let summary = check(&options, 10);
    assert_eq!(summary.committed, 10);
}

#[test]
fn network_faults_and_crashes_abort_cleanly_and_leave_the_old_epoch_valid() {
    let options = SimOptions {
        protocol: SimProtocol::Reshare,
        nodes: 5,
        threshold: 3,
        faults: Faults::none()
            .with(Fault::Drop)
            .with(Fault::Reorder)
            .with(Fault::Duplicate)
            .with(Fault::InitiatorCrash)
            .with(Fault::WitnessCrash),
    };
    let summary = check(&options, 40);
    assert!(
        summary.committed > 0 && summary.committed < 40,
        "{summary:?}"
    );
}
