//! `par` branches must not share an ordered (sender, receiver) pair of role
//! instances (the language contract §3.4). Runs on lowered branches, so `for` is
//! unrolled and `call`s are inlined.

use std::collections::{HashMap, HashSet};

use crate::global::{GStmt, Loc, Participant};

/// Which members of a role one end of a message covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Sel {
    /// A single role, or member `k` of a family.
    One(u64),
    /// Every member (`W[*]`).
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Use {
    from: Sel,
    to: Sel,
}

/// The first conflict between two branches.
#[derive(Debug)]
pub(crate) struct Shared {
    pub earlier_branch: usize,
    pub later_branch: usize,
    pub earlier: Loc,
    pub later: Loc,
    /// `A` → `W[2]`, as instances both branches use.
    pub sender: String,
    pub receiver: String,
}

/// (sender role, receiver role).
type Key = (String, String);

/// The pairs one branch uses, deduplicated, indexed for the overlap test.
#[derive(Default)]
struct Uses {
    /// In source order.
    order: Vec<(Key, Use, Loc)>,
    /// Every use, by role pair.
    by_key: HashMap<Key, Vec<(Use, Loc)>>,
    /// Uses naming one instance at both ends, for a direct lookup.
    concrete: HashMap<(Key, u64, u64), Loc>,
    /// Uses with a `[*]` end, by role pair.
    symbolic: HashMap<Key, Vec<(Use, Loc)>>,
}

/// One conflict per later branch, in branch order.
pub(crate) fn shared_pairs(branches: &[Vec<GStmt>]) -> Vec<Shared> {
    let collected: Vec<Uses> = branches.iter().map(|b| collect(b)).collect();
    let mut out = Vec::new();
    for (j, later) in collected.iter().enumerate() {
        'branch: for (i, earlier) in collected.iter().enumerate().take(j) {
            for (key, u, loc) in &later.order {
                if let Some(found) = conflict(earlier, key, u) {
                    let (f, t, eloc) = found;
                    out.push(Shared {
                        earlier_branch: i,
                        later_branch: j,
                        earlier: eloc,
                        later: *loc,
                        sender: show(&key.0, f),
                        receiver: show(&key.1, t),
                    });
                    break 'branch;
                }
            }
        }
    }
    out
}

/// The first use of `earlier` that shares an instance pair with `u`.
fn conflict(earlier: &Uses, key: &Key, u: &Use) -> Option<(Sel, Sel, Loc)> {
    let candidates = match (u.from, u.to) {
        (Sel::One(f), Sel::One(t)) => {
            if let Some(loc) = earlier.concrete.get(&(key.clone(), f, t)) {
                return Some((u.from, u.to, *loc));
            }
            earlier.symbolic.get(key)
        }
        _ => earlier.by_key.get(key),
    }?;
    candidates.iter().find_map(|(e, eloc)| {
        let (f, t) = meet(u.from, e.from).zip(meet(u.to, e.to))?;
        // Within one family a member never sends to itself.
        let self_pair = key.0 == key.1 && matches!((f, t), (Sel::One(x), Sel::One(y)) if x == y);
        (!self_pair).then_some((f, t, *eloc))
    })
}

fn meet(a: Sel, b: Sel) -> Option<Sel> {
    match (a, b) {
        (Sel::All, x) | (x, Sel::All) => Some(x),
        (Sel::One(x), Sel::One(y)) => (x == y).then_some(Sel::One(x)),
    }
}

fn show(role: &str, sel: Sel) -> String {
    match sel {
        Sel::All => format!("{role}[*]"),
        Sel::One(u64::MAX) => role.to_string(),
        Sel::One(k) => format!("{role}[{k}]"),
    }
}

fn sel(p: &Participant) -> Sel {
    match p {
        Participant::Role(_) => Sel::One(u64::MAX),
        Participant::Member(_, k) => Sel::One(*k),
        Participant::All(_) => Sel::All,
    }
}

fn collect(block: &[GStmt]) -> Uses {
    let mut uses = Uses::default();
    let mut seen: HashSet<(Key, Use)> = HashSet::new();
    walk(block, &mut uses, &mut seen);
    uses
}

fn walk(block: &[GStmt], uses: &mut Uses, seen: &mut HashSet<(Key, Use)>) {
    for stmt in block {
        match stmt {
            GStmt::Message(m) => {
                let key = (m.from.role_name().to_string(), m.to.role_name().to_string());
                let u = Use {
                    from: sel(&m.from),
                    to: sel(&m.to),
                };
                if !seen.insert((key.clone(), u.clone())) {
                    continue;
                }
                match (u.from, u.to) {
                    (Sel::One(f), Sel::One(t)) => {
                        uses.concrete.insert((key.clone(), f, t), m.loc);
                    }
                    _ => uses
                        .symbolic
                        .entry(key.clone())
                        .or_default()
                        .push((u.clone(), m.loc)),
                }
                uses.by_key
                    .entry(key.clone())
                    .or_default()
                    .push((u.clone(), m.loc));
                uses.order.push((key, u, m.loc));
            }
            GStmt::Choice { branches, .. } => {
                branches.iter().for_each(|b| walk(&b.body, uses, seen))
            }
            GStmt::Rec { body, .. } => walk(body, uses, seen),
            GStmt::Par { branches, .. } => branches.iter().for_each(|b| walk(b, uses, seen)),
            GStmt::Timeout { body, handler, .. } => {
                walk(body, uses, seen);
                walk(handler, uses, seen);
            }
            GStmt::Continue { .. } | GStmt::Link { .. } | GStmt::Delegate { .. } => {}
        }
    }
}
