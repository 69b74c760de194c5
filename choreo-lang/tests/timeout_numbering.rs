//! The instance numbering of `timeout` statements
//! (`machine::timeout_numbering`): what every role's generated code passes
//! to the runtime, worked out from the global protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_lang::driver;
use choreo_lang::global::Loc;
use choreo_lang::machine::{timeout_numbering, TimeoutNumbering};

/// The numbering of every timeout of the first protocol in `src`, in
/// source order.
fn numbering(src: &str) -> Vec<TimeoutNumbering> {
    let compiled = driver::compile(vec![driver::Source::from_path_text("test.choreo", src)]);
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    let protocol = compiled.program.protocols().next().expect("a protocol");
    let map = timeout_numbering(&protocol.body);
    let mut found: Vec<(Loc, TimeoutNumbering)> = map.into_iter().collect();
    found.sort_by_key(|(loc, _)| loc.span.start);
    found.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn a_nest_sets_aside_a_number_for_each_nested_timeout_in_source_order() {
    let got = numbering(
        "protocol N { roles P[2];
           timeout 2s {
             P[0] -> P[1] : Open;
             timeout 1s { P[1] -> P[0] : Ping; } else { P[*] -> P[*] : Inner; }
           } else {
             P[*] -> P[*] : Outer;
             timeout 1s { P[0] -> P[1] : Again; } else { P[*] -> P[*] : Last; }
           } }",
    );
    assert_eq!(
        got,
        [
            TimeoutNumbering::Root { span: 2 },
            TimeoutNumbering::Nested { offset: 1 },
            TimeoutNumbering::Nested { offset: 2 },
        ]
    );
}

#[test]
fn a_protocol_called_twice_in_a_nest_makes_the_nest_a_window() {
    let got = numbering(
        "protocol Main { roles P[2];
           timeout 2s { P[0] -> P[1] : Open; call Sub(P); }
           else { P[*] -> P[*] : Close; call Sub(P); } }
         protocol Sub { roles A[2];
           timeout 1s { A[0] -> A[1] : Ping; } else { A[*] -> A[*] : Stop; } }",
    );
    // Main's timeout, then Sub's (one location, two copies, both counted
    // in the window).
    assert_eq!(
        got,
        [
            TimeoutNumbering::Window,
            TimeoutNumbering::Counted { span: 0 },
        ]
    );
}

#[test]
fn a_loop_over_a_timeout_inside_a_timeout_opens_a_window() {
    let got = numbering(
        "protocol L { roles P[2];
           timeout 9s {
             P[0] -> P[1] : Go;
             rec Beat {
               timeout 1s {
                 choice at P[0] {
                   More => { P[0] -> P[1] : Tick; continue Beat; }
                   Stop => { P[0] -> P[1] : Halt; }
                 }
               } else { P[*] -> P[*] : Resync; continue Beat; }
             }
           } else { P[*] -> P[*] : GiveUp; } }",
    );
    assert_eq!(
        got,
        [
            TimeoutNumbering::Window,
            TimeoutNumbering::Counted { span: 0 },
        ]
    );
}

#[test]
fn inside_a_window_a_timeout_sets_aside_its_nest_and_one_looping_over_another_opens_an_inner_window(
) {
    let got = numbering(
        "protocol W { roles P[2];
           rec Round {
             choice at P[0] {
               Work => {
                 P[0] -> P[1] : Start;
                 timeout 9s {
                   rec Try {
                     timeout 1s {
                       P[0] -> P[1] : Ask;
                       timeout 1s { P[1] -> P[0] : Answer; } else { P[*] -> P[*] : NoAnswer; }
                     } else { P[*] -> P[*] : Retry; continue Try; }
                   }
                 } else {
                   P[*] -> P[*] : GiveUp;
                   timeout 2s {
                     rec Again {
                       timeout 1s { P[0] -> P[1] : Ping; } else { P[*] -> P[*] : Lost; continue Again; }
                     }
                   } else { P[*] -> P[*] : Abort; }
                 }
               }
               Rest => { P[0] -> P[1] : Pause; }
             }
             timeout 1s { P[0] -> P[1] : Next; } else { P[*] -> P[*] : Late; continue Round; }
           } }",
    );
    assert_eq!(
        got,
        [
            // The window, in a loop: a fresh one every round.
            TimeoutNumbering::Window,
            // `Try`'s timeout: counted in the window, with its nested one
            // set aside.
            TimeoutNumbering::Counted { span: 1 },
            TimeoutNumbering::Nested { offset: 1 },
            // In the window's handler: a timeout looping over another
            // opens an inner window; the loop's timeout is counted in it.
            TimeoutNumbering::InnerWindow,
            TimeoutNumbering::Counted { span: 0 },
            // After the window: a root again.
            TimeoutNumbering::Root { span: 0 },
        ]
    );
}

/// The numbering of `Main`, which calls `sub` (a protocol `Sub` of roles
/// `A[2]`) in its window's handler, and later in source order outside any
/// timeout: so the copy outside is numbered last.
fn called_in_a_window_and_outside(sub: &str) -> Vec<TimeoutNumbering> {
    let main = "protocol Main { roles P[2];
           choice at P[0] {
             Retries => {
               P[0] -> P[1] : Retries;
               timeout 9s {
                 rec Try {
                   timeout 1s { P[0] -> P[1] : Ask; } else { P[*] -> P[*] : Retry; continue Try; }
                 }
               } else { P[*] -> P[*] : GiveUp; call Sub(P); }
             }
             Once => { P[0] -> P[1] : Once; call Sub(P); }
           } }";
    numbering(&format!("{main}\n{sub}"))
}

#[test]
fn a_protocol_called_outside_any_timeout_and_in_a_window_is_counted_in_both() {
    let got = called_in_a_window_and_outside(
        "protocol Sub { roles A[2];
           timeout 1s { A[0] -> A[1] : Ping; } else { A[*] -> A[*] : Stop; } }",
    );
    // Main's window and its loop's timeout, then Sub's: counted in the
    // window's handler, a root in the second branch; counting serves both
    // (a root's numbering would take the window's copy out of it).
    assert_eq!(
        got,
        [
            TimeoutNumbering::Window,
            TimeoutNumbering::Counted { span: 0 },
            TimeoutNumbering::Counted { span: 0 },
        ]
    );
}

#[test]
fn a_protocol_opening_a_window_called_in_a_window_too_opens_an_inner_window_in_both() {
    let got = called_in_a_window_and_outside(
        "protocol Sub { roles A[2];
           timeout 3s {
             rec Again {
               timeout 1s { A[0] -> A[1] : Ping; } else { A[*] -> A[*] : Lost; continue Again; }
             }
           } else { A[*] -> A[*] : Stop; } }",
    );
    // Main's window and its loop's timeout, then Sub's two: an inner
    // window in the window's handler and a window in the second branch;
    // the inner window serves both (a window's numbering would open a
    // second window inside the first), and its loop's timeout is counted.
    assert_eq!(
        got,
        [
            TimeoutNumbering::Window,
            TimeoutNumbering::Counted { span: 0 },
            TimeoutNumbering::InnerWindow,
            TimeoutNumbering::Counted { span: 0 },
        ]
    );
}
