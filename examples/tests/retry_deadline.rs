//! `retry_deadline` as a user runs it: tries retried under an overall
//! deadline, in the simulator with frames lost. The members must agree in
//! every run: on the answer, or on giving up and on the confirmation that
//! follows (its `timeout` is numbered in the window's second half).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[test]
fn without_losses_every_fetch_is_answered_on_the_first_try() {
    let s = common::two_hundred_seeds("retry_deadline", &["--drop", "0"]);
    assert_eq!(common::count(&s, " on the first try"), 200, "{s}");
}

#[test]
fn a_late_server_is_retried_until_it_answers() {
    let s = common::two_hundred_seeds("retry_deadline", &["--late-ms", "1200"]);
    assert_eq!(common::count(&s, " answered"), 200, "{s}");
    assert_eq!(common::count(&s, " on the first try"), 0, "{s}");
}

#[test]
fn members_that_entered_different_tries_confirm_giving_up_alike() {
    // `P[0]` has entered a try (or several) when `P[1]` gives up on the
    // whole fetch, having entered none. With the tries' timeouts counted
    // as entered, the confirmation's `timeout` was one instance apart on
    // the two sides and every run failed with a protocol violation; the
    // window numbers it alike.
    for late in ["0", "1200"] {
        let s = common::two_hundred_seeds("retry_deadline", &["--give-up", "--late-ms", late]);
        assert_eq!(common::count(&s, " gave up"), 200, "{s}");
        assert!(common::count(&s, " confirmed") >= 180, "{s}");
    }
}
