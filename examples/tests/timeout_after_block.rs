//! `timeout_after_block` as a user runs it: a participant that completed
//! its body and waits after the block answers the handler a peer starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[test]
fn a_participant_waiting_after_the_block_runs_the_handler_a_peer_starts() {
    // Before the state after the block answered, every one of these runs
    // was stuck: P[0] dropped the resync and both waited for ever.
    let s = common::two_hundred_seeds("timeout_after_block", &["--abandon"]);
    assert!(s.contains(": 200 ran the handler"), "{s}");
}

#[test]
fn without_an_abandon_the_statement_after_the_block_runs_as_usual() {
    common::two_hundred_seeds("timeout_after_block", &[]);
}
