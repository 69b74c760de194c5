//! `timeout_after_block` as a user runs it: a participant that completed
//! its body and waits after the block answers the handler a peer starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

mod common;

#[test]
fn a_participant_waiting_after_the_block_runs_the_handler_a_peer_starts() {
    let out = Command::new(common::example("timeout_after_block"))
        .args(["--seeds", "200", "--abandon"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("200 of 200 runs completed")
            && stdout.contains(": 200 ran the handler"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
