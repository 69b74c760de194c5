//! `nested_timeout` as a user runs it: nested `timeout`s in the simulator,
//! with frames lost. A member that completed both bodies at once answers
//! whichever handler a peer starts; every run ends with all three members
//! in the same place with the same values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[test]
fn without_losses_or_a_late_member_both_bodies_complete() {
    let s = common::two_hundred_seeds("nested_timeout", &["--drop", "0", "--late-ms", "0"]);
    assert_eq!(common::count(&s, " in both bodies"), 200, "{s}");
}

#[test]
fn a_member_that_completed_both_bodies_runs_the_inner_handler_a_peer_starts() {
    // Before the nested `linger`, a member that had completed both bodies
    // answered only the outer handler: every run ended there instead.
    let s = common::two_hundred_seeds("nested_timeout", &["--abandon", "--late-ms", "500"]);
    assert!(common::count(&s, " in the inner handler") >= 180, "{s}");
}

#[test]
fn a_member_that_starts_too_late_meets_the_others_in_the_outer_handler() {
    // Before handlers ran in exactly their own phase, the outer handler's
    // messages of a member that started it from inside the inner body were
    // read as the inner handler's by the late member: protocol violations.
    let s = common::two_hundred_seeds("nested_timeout", &["--late-ms", "3000"]);
    assert_eq!(common::count(&s, " in the outer handler"), 200, "{s}");
}
