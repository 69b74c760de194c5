//! `heartbeat` as a user runs it: a looped `timeout` in the simulator,
//! one peer cut off for longer than a beat's deadline and frames lost, so
//! the peers' deadlines for consecutive beats pass an iteration apart.
//! Every seeded run must complete: the handler messages of adjacent
//! iterations meet in one handler (before, about half of the three-peer
//! runs failed with a protocol violation between honest peers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

mod common;

fn runs_complete(peers: &str, drop: &str, cut_ms: &str) {
    let out = Command::new(common::example("heartbeat"))
        .args([
            "--seeds", "200", "--peers", peers, "--drop", drop, "--cut-ms", cut_ms,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("200 of 200 runs completed"),
        "{peers} peers, drop {drop}, cut {cut_ms} ms:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn three_peers_an_iteration_apart_resync_and_complete_every_run() {
    runs_complete("3", "0", "3000");
    runs_complete("3", "0.1", "2500");
}

#[test]
fn two_and_four_peers_resync_and_complete_every_run() {
    runs_complete("2", "0.1", "3000");
    runs_complete("4", "0.1", "3000");
}
