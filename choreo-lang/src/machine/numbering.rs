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
///
/// A protocol `call`ed twice is inlined twice with the same locations; a
/// `timeout` whose body or handler holds such a repeated one is counted
/// as entered too (its copies could not get distinct places in one nest),
/// and each copy is a root of its own, numbered the same.
pub fn timeout_numbering(body: &[GStmt]) -> HashMap<Loc, TimeoutNumbering> {
    let mut seen = HashMap::new();
    count_timeouts(body, &mut seen);
    let mut numbering = Numbering {
        repeated: seen
            .into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(loc, _)| loc)
            .collect(),
        out: HashMap::new(),
    };
    numbering.block(body, None);
    numbering.out
}

struct Numbering {
    /// Locations of `timeout`s that occur more than once (inlined calls).
    repeated: std::collections::HashSet<Loc>,
    out: HashMap<Loc, TimeoutNumbering>,
}

impl Numbering {
    /// Numbers the timeouts of `block`. `nest` is the count of the nest
    /// the block is in, if any (incremented for every timeout placed in
    /// it).
    fn block(&mut self, block: &[GStmt], mut nest: Option<&mut u32>) {
        for stmt in block {
            match stmt {
                GStmt::Timeout {
                    body, handler, loc, ..
                } => {
                    if self.cannot_set_aside(body) || self.cannot_set_aside(handler) {
                        self.out.insert(*loc, TimeoutNumbering::Counted);
                        self.block(body, None);
                        self.block(handler, None);
                    } else if let Some(count) = nest.as_deref_mut() {
                        *count = count.saturating_add(1);
                        self.out
                            .insert(*loc, TimeoutNumbering::Nested { offset: *count });
                        self.block(body, Some(count));
                        self.block(handler, Some(count));
                    } else {
                        let mut span = 0;
                        self.block(body, Some(&mut span));
                        self.block(handler, Some(&mut span));
                        self.out.insert(*loc, TimeoutNumbering::Root { span });
                    }
                }
                GStmt::Choice { branches, .. } => {
                    for b in branches {
                        self.block(&b.body, nest.as_deref_mut());
                    }
                }
                GStmt::Par { branches, .. } => {
                    for b in branches {
                        self.block(b, nest.as_deref_mut());
                    }
                }
                // A loop inside a nest holds no `timeout` (the nest's root
                // would be counted otherwise); outside one, each timeout in
                // it is a root, entered afresh every iteration.
                GStmt::Rec { body, .. } => self.block(body, nest.as_deref_mut()),
                GStmt::Message(_)
                | GStmt::Continue { .. }
                | GStmt::Link { .. }
                | GStmt::Delegate { .. } => {}
            }
        }
    }

    /// Does `block` hold, at any depth, a loop whose body holds a
    /// `timeout`, or a `timeout` that occurs more than once?
    fn cannot_set_aside(&self, block: &[GStmt]) -> bool {
        block.iter().any(|stmt| match stmt {
            GStmt::Rec { body, .. } => has_timeout(body) || self.cannot_set_aside(body),
            GStmt::Timeout {
                body, handler, loc, ..
            } => {
                self.repeated.contains(loc)
                    || self.cannot_set_aside(body)
                    || self.cannot_set_aside(handler)
            }
            GStmt::Choice { branches, .. } => {
                branches.iter().any(|b| self.cannot_set_aside(&b.body))
            }
            GStmt::Par { branches, .. } => branches.iter().any(|b| self.cannot_set_aside(b)),
            _ => false,
        })
    }
}

/// How often each `timeout` location occurs.
fn count_timeouts(block: &[GStmt], seen: &mut HashMap<Loc, u32>) {
    for stmt in block {
        match stmt {
            GStmt::Timeout {
                body, handler, loc, ..
            } => {
                *seen.entry(*loc).or_insert(0) += 1;
                count_timeouts(body, seen);
                count_timeouts(handler, seen);
            }
            GStmt::Rec { body, .. } => count_timeouts(body, seen),
            GStmt::Choice { branches, .. } => {
                for b in branches {
                    count_timeouts(&b.body, seen);
                }
            }
            GStmt::Par { branches, .. } => {
                for b in branches {
                    count_timeouts(b, seen);
                }
            }
            _ => {}
        }
    }
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
