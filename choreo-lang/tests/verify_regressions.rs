//! Protocols the differential test (`verify_differential.rs`) found: the
//! compiler used to accept them although their projections are unsafe.
//! All three put a `timeout`/`link` inside a `par` branch, which the
//! checker now rejects (E0332); these tests pin that they stay rejected.
//! And one the model itself got wrong: a `timeout` inside a loop, whose
//! state space had no end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use choreo_lang::driver::{compile, Source};
use choreo_lang::verify::{VerifyOptions, ViolationKind};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Rejected,
    Caught(ViolationKind),
    DeclaredSafe,
}

fn outcome(text: &str) -> Outcome {
    let comp = compile(vec![Source::from_path_text("regression.choreo", text)]);
    if comp.has_errors() {
        return Outcome::Rejected;
    }
    for report in comp.verify(None, &VerifyOptions::default()) {
        if let Some(v) = report.violation() {
            return Outcome::Caught(v.kind);
        }
    }
    Outcome::DeclaredSafe
}

/// `link` consumes the endpoint, but A's other `par` branch still has to
/// receive C's message: it is never received.
const LINK_IN_PAR_BRANCH: &str = "
protocol P(n, q) {
    roles A, B, C, W[n];
    par {
        timeout 1s {
            A -> B : L0;
        } else {
            link Sub(A, W);
        }
    } and {
        C -> A : L0;
    }
}

protocol Sub(m) {
    roles X, V[m];
    X -> V[*] : Z;
}
";

/// A `link` that ends a `par` branch is followed by another timeout in
/// which the linked roles act again: A's messages reach members of W that
/// already joined `Sub`.
const ROLES_ACT_AFTER_THEIR_LINK: &str = "
protocol P(n, q) {
    roles A, B, C, W[n];
    par {
        timeout 1s {
            A -> W[*] : L0;
        } else {
            link Sub(A, W);
        }
    } and {
    }
    timeout 1s {
        A -> W[*] : L0;
    } else {
        link Sub(A, W);
    }
}

protocol Sub(m) {
    roles X, V[m];
    X -> V[*] : Z;
}
";

/// W's first timeout handler is an exchange, which needs every member. A
/// member that finished that body and moved on (here into the second
/// timeout's `link`) never answers: the member that timed out waits for
/// its `Abort` forever.
const HANDLER_NEEDS_A_MEMBER_THAT_MOVED_ON: &str = "
protocol P(n) {
    roles A, W[n];
    par {
        timeout 1s {
            A -> W[*] : L0;
        } else {
            W[*] -> W[*] : Abort;
        }
    } and {
    }
    timeout 1s {
        A -> W[*] : L1;
    } else {
        link Sub(A, W);
    }
}

protocol Sub(m) {
    roles X, V[m];
    X -> V[*] : Z;
}
";

#[test]
fn handler_needing_a_member_that_moved_on_is_never_declared_safe() {
    let got = outcome(HANDLER_NEEDS_A_MEMBER_THAT_MOVED_ON);
    // E0332: a timeout or link inside a `par` branch is rejected.
    assert_eq!(
        got,
        Outcome::Rejected,
        "handler needing a member that moved on"
    );
}

#[test]
fn link_in_a_par_branch_is_never_declared_safe() {
    let got = outcome(LINK_IN_PAR_BRANCH);
    // E0332: a timeout or link inside a `par` branch is rejected.
    assert_eq!(got, Outcome::Rejected, "link in a par branch");
}

#[test]
fn roles_acting_after_their_link_are_never_declared_safe() {
    let got = outcome(ROLES_ACT_AFTER_THEIR_LINK);
    // E0332: a timeout or link inside a `par` branch is rejected.
    assert_eq!(got, Outcome::Rejected, "roles acting after their link");
}

/// A heartbeat: a `timeout` inside a loop whose body and handler both
/// `continue` it.
const TIMEOUT_IN_A_LOOP: &str = "
protocol Heartbeat(n) {
    roles Peer[n];
    rec Loop {
        timeout 2s {
            choice at Peer[0] {
                Beat => {
                    Peer[0] -> Peer[*] : Tick(u64);
                    Peer[*] -> Peer[0] : Tock(u64);
                    continue Loop;
                }
                Stop => {
                    Peer[0] -> Peer[*] : Halt;
                }
            }
        } else {
            Peer[*] -> Peer[*] : Resync(u64);
            continue Loop;
        }
    }
}
";

#[test]
fn a_timeout_inside_a_loop_is_explored_to_the_end() {
    // A body that `continue`s its loop is complete: the next iteration is a
    // new run of the `timeout`, not a body nested in the last one. (The
    // model used to nest them, one level per iteration, so its state space
    // had no end and every looped timeout hit the state cap.)
    let comp = compile(vec![Source::from_path_text(
        "heartbeat.choreo",
        TIMEOUT_IN_A_LOOP,
    )]);
    assert!(!comp.has_errors(), "{:#?}", comp.diagnostics);
    let options = VerifyOptions {
        max_states: 100_000,
        ..VerifyOptions::default()
    };
    let reports = comp.verify(None, &options);
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert!(report.is_safe(), "{}", report.render_text());
    assert!(
        report.runs.iter().all(|r| r.complete && !r.capped),
        "{}",
        report.render_text()
    );
}
