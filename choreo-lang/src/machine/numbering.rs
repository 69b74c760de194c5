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
//! timeouts inside cannot be numbered ahead: the outermost such timeout
//! opens a *window*, a range of numbers set aside in two halves, one for
//! the timeouts entered in its body and one for those entered in its
//! handler, counted as entered inside each half. Members may enter
//! different counts of the first half, but they number the handler's
//! timeouts, and everything after the window, alike. A timeout inside a
//! window whose body or handler loops over another opens an *inner
//! window* the same way (its handler's timeouts start at a half of their
//! own); deeper than that, timeouts are counted.

use std::collections::HashMap;

use crate::global::{GStmt, Loc};

/// The numbering of one `timeout` statement (the runtime's
/// `TimeoutNumbering`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutNumbering {
    /// Outside any other `timeout`: the next number, with `span` set
    /// aside for the timeouts nested in it.
    Root { span: u32 },
    /// In the nest of the root entered last, at `offset` (1 for the first
    /// nested timeout in source order).
    Nested { offset: u32 },
    /// Outside any other `timeout`, and its body or handler holds a loop
    /// with a `timeout` (or a repeated one): the next number, opening a
    /// window for the timeouts inside.
    Window,
    /// Inside a window, and its body or handler holds a loop with a
    /// `timeout` (or a repeated one) too: counted as entered, opening an
    /// inner window (its handler's timeouts are numbered from a half of
    /// their own).
    InnerWindow,
    /// Inside a window: counted as entered, with `span` set aside for the
    /// timeouts nested in it (0 when they cannot be numbered ahead either:
    /// inside an inner window).
    Counted { span: u32 },
}

/// The numbering of every `timeout` statement of a protocol body, by its
/// location (each statement has its own).
///
/// A protocol `call`ed twice is inlined twice with the same locations; a
/// `timeout` whose body or handler holds such a repeated one opens a
/// window too (its copies could not get distinct places in one nest);
/// outside any timeout, each copy is a root of its own, numbered the same.
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
    numbering.block(body, Place::Outside);
    numbering.out
}

/// Where a `timeout` statement stands.
enum Place<'a> {
    /// Outside any other `timeout`.
    Outside,
    /// In a nest; the count of the timeouts placed in it so far.
    Nest(&'a mut u32),
    /// In a window's body or handler, outside any nest inside it;
    /// `inner`: in an inner window's too.
    Window { inner: bool },
}

impl Place<'_> {
    fn reborrow(&mut self) -> Place<'_> {
        match self {
            Place::Outside => Place::Outside,
            Place::Nest(count) => Place::Nest(count),
            Place::Window { inner } => Place::Window { inner: *inner },
        }
    }
}

struct Numbering {
    /// Locations of `timeout`s that occur more than once (inlined calls).
    repeated: std::collections::HashSet<Loc>,
    out: HashMap<Loc, TimeoutNumbering>,
}

impl Numbering {
    /// Numbers the timeouts of `block`, which stands at `place` (a nest's
    /// count is incremented for every timeout placed in it).
    fn block(&mut self, block: &[GStmt], mut place: Place<'_>) {
        for stmt in block {
            match stmt {
                GStmt::Timeout {
                    body, handler, loc, ..
                } => {
                    let set_aside = !self.cannot_set_aside(body) && !self.cannot_set_aside(handler);
                    let numbering = match (&mut place, set_aside) {
                        (Place::Nest(count), _) => {
                            // Set aside: the root would be a window otherwise.
                            **count = count.saturating_add(1);
                            let offset = **count;
                            self.block(body, Place::Nest(count));
                            self.block(handler, Place::Nest(count));
                            TimeoutNumbering::Nested { offset }
                        }
                        (Place::Outside, false) | (Place::Window { .. }, false) => {
                            // Windows nest two deep; deeper, timeouts are
                            // counted in the inner window.
                            let (numbering, inner) = match place {
                                Place::Outside => (TimeoutNumbering::Window, false),
                                Place::Window { inner: false } => {
                                    (TimeoutNumbering::InnerWindow, true)
                                }
                                _ => (TimeoutNumbering::Counted { span: 0 }, true),
                            };
                            self.block(body, Place::Window { inner });
                            self.block(handler, Place::Window { inner });
                            numbering
                        }
                        (Place::Outside, true) | (Place::Window { .. }, true) => {
                            let mut span = 0;
                            self.block(body, Place::Nest(&mut span));
                            self.block(handler, Place::Nest(&mut span));
                            match place {
                                Place::Outside => TimeoutNumbering::Root { span },
                                _ => TimeoutNumbering::Counted { span },
                            }
                        }
                    };
                    self.place(*loc, numbering);
                }
                GStmt::Choice { branches, .. } => {
                    for b in branches {
                        self.block(&b.body, place.reborrow());
                    }
                }
                GStmt::Par { branches, .. } => {
                    for b in branches {
                        self.block(b, place.reborrow());
                    }
                }
                // A loop inside a nest holds no `timeout` (the nest's root
                // would be a window otherwise); elsewhere, each timeout in
                // it is entered afresh every iteration.
                GStmt::Rec { body, .. } => self.block(body, place.reborrow()),
                GStmt::Message(_)
                | GStmt::Continue { .. }
                | GStmt::Link { .. }
                | GStmt::Delegate { .. } => {}
            }
        }
    }

    /// Records `numbering` for the `timeout` at `loc`. The copies of a
    /// protocol called more than once share their locations, so copies at
    /// different depths meet here, and the numbering of the deepest place
    /// serves all: counting (in a window) over an inner window over a
    /// root or window (outside any timeout). The numbering of a shallower
    /// place would take the deeper copy out of its window: a root or
    /// window is numbered after the window's end, and a window or inner
    /// window would start a window of its own inside it.
    fn place(&mut self, loc: Loc, numbering: TimeoutNumbering) {
        let depth = |n: &TimeoutNumbering| match n {
            TimeoutNumbering::Root { .. } | TimeoutNumbering::Window => 0,
            TimeoutNumbering::InnerWindow => 1,
            TimeoutNumbering::Counted { .. } | TimeoutNumbering::Nested { .. } => 2,
        };
        let slot = self.out.entry(loc).or_insert(numbering);
        if depth(&numbering) > depth(slot) {
            *slot = numbering;
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
