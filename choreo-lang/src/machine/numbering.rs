//! How the runtime numbers each `timeout` statement's instances (the
//! phases its frames carry), worked out once from the global protocol so
//! that every role numbers alike.
//!
//! An endpoint counts timeout instances as it enters them. Counting alone
//! goes wrong when participants enter different timeouts: one member's
//! outer handler can start before another member reached the timeout
//! nested in the outer body, and after that handler the two would number
//! every later `timeout` differently. So a `timeout` outside any other
//! (a *nest root*) takes the next number when entered and sets aside one
//! number for every `timeout` nested in its body and handler; each nested
//! one is numbered at its fixed place in the nest (source order), entered
//! or not. Where a loop inside a timeout holds another `timeout`, the
//! timeouts inside cannot be counted ahead: that outer timeout is counted
//! as entered, and the timeouts in its body and handler start nests of
//! their own.

use std::collections::HashMap;

use crate::global::{GStmt, Loc};

/// The numbering of one `timeout` statement (the runtime's
/// `TimeoutNumbering`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutNumbering {
    /// Not nested in a numbered nest: the next number, with `span` set
    /// aside for the timeouts nested in it.
    Root { span: u32 },
    /// In the nest of the root entered last, at `offset` (1 for the first
    /// nested timeout in source order).
    Nested { offset: u32 },
    /// Its body or handler holds a loop with a `timeout`: counted as
    /// entered.
    Counted,
}

/// The numbering of every `timeout` statement of a protocol body, by its
/// location (each statement has its own).
pub fn timeout_numbering(body: &[GStmt]) -> HashMap<Loc, TimeoutNumbering> {
    let mut out = HashMap::new();
    number_block(body, None, &mut out);
    out
}

/// Numbers the timeouts of `block`. `nest` is the count of the nest the
/// block is in, if any (incremented for every timeout placed in it).
fn number_block(
    block: &[GStmt],
    mut nest: Option<&mut u32>,
    out: &mut HashMap<Loc, TimeoutNumbering>,
) {
    for stmt in block {
        match stmt {
            GStmt::Timeout {
                body, handler, loc, ..
            } => {
                if loops_over_timeout(body) || loops_over_timeout(handler) {
                    out.insert(*loc, TimeoutNumbering::Counted);
                    number_block(body, None, out);
                    number_block(handler, None, out);
                } else if let Some(count) = nest.as_deref_mut() {
                    *count = count.saturating_add(1);
                    out.insert(*loc, TimeoutNumbering::Nested { offset: *count });
                    number_block(body, Some(count), out);
                    number_block(handler, Some(count), out);
                } else {
                    let mut span = 0;
                    number_block(body, Some(&mut span), out);
                    number_block(handler, Some(&mut span), out);
                    out.insert(*loc, TimeoutNumbering::Root { span });
                }
            }
            GStmt::Choice { branches, .. } => {
                for b in branches {
                    number_block(&b.body, nest.as_deref_mut(), out);
                }
            }
            GStmt::Par { branches, .. } => {
                for b in branches {
                    number_block(b, nest.as_deref_mut(), out);
                }
            }
            // A loop inside a nest holds no `timeout` (the nest's root
            // would be counted otherwise); outside one, each timeout in
            // it is a root, entered afresh every iteration.
            GStmt::Rec { body, .. } => number_block(body, nest.as_deref_mut(), out),
            GStmt::Message(_)
            | GStmt::Continue { .. }
            | GStmt::Link { .. }
            | GStmt::Delegate { .. } => {}
        }
    }
}

/// Does `block` hold, at any depth, a loop whose body holds a `timeout`?
fn loops_over_timeout(block: &[GStmt]) -> bool {
    block.iter().any(|stmt| match stmt {
        GStmt::Rec { body, .. } => has_timeout(body) || loops_over_timeout(body),
        GStmt::Timeout { body, handler, .. } => {
            loops_over_timeout(body) || loops_over_timeout(handler)
        }
        GStmt::Choice { branches, .. } => branches.iter().any(|b| loops_over_timeout(&b.body)),
        GStmt::Par { branches, .. } => branches.iter().any(|b| loops_over_timeout(b)),
        _ => false,
    })
}

/// Does `block` hold a `timeout` at any depth?
fn has_timeout(block: &[GStmt]) -> bool {
    block.iter().any(|stmt| match stmt {
        GStmt::Timeout { .. } => true,
        GStmt::Rec { body, .. } => has_timeout(body),
        GStmt::Choice { branches, .. } => branches.iter().any(|b| has_timeout(&b.body)),
        GStmt::Par { branches, .. } => branches.iter().any(|b| has_timeout(b)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbering of every timeout of the first protocol in `src`, in
    /// source order.
    fn numbering(src: &str) -> Vec<TimeoutNumbering> {
        let compiled = crate::driver::compile(vec![crate::driver::Source::from_path_text(
            "test.choreo",
            src,
        )]);
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
}
