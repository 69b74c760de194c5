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
fn a_protocol_called_twice_in_a_nest_makes_the_nest_counted() {
    let got = numbering(
        "protocol Main { roles P[2];
           timeout 2s { P[0] -> P[1] : Open; call Sub(P); }
           else { P[*] -> P[*] : Close; call Sub(P); } }
         protocol Sub { roles A[2];
           timeout 1s { A[0] -> A[1] : Ping; } else { A[*] -> A[*] : Stop; } }",
    );
    // Main's timeout, then Sub's (one location, two copies).
    assert_eq!(
        got,
        [
            TimeoutNumbering::Counted,
            TimeoutNumbering::Root { span: 0 },
        ]
    );
}

#[test]
fn a_looped_timeout_is_a_root_and_a_loop_over_one_makes_its_timeout_counted() {
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
            TimeoutNumbering::Counted,
            TimeoutNumbering::Root { span: 0 },
        ]
    );
}
