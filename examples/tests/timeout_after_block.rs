//! `timeout_after_block` as a user runs it: a participant that completed
//! its body and waits after the block answers the handler a peer starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

mod common;

/// Runs 200 seeds with `args`; the example's summary line.
fn summary(args: &[&str]) -> String {
    let out = Command::new(common::example("timeout_after_block"))
        .args(["--seeds", "200"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("200 of 200 runs completed"),
        "{args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_participant_waiting_after_the_block_runs_the_handler_a_peer_starts() {
    // Before the state after the block answered, every one of these runs
    // was stuck: P[0] dropped the resync and both waited for ever.
    let s = summary(&["--abandon"]);
    assert!(s.contains(": 200 ran the handler"), "{s}");
}

#[test]
fn without_an_abandon_the_statement_after_the_block_runs_as_usual() {
    summary(&[]);
}
