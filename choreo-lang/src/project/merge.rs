//! Full merge of local types (the language contract §5) and structural equivalence.
//!
//! The merge walks two blocks side by side. Equivalent actions (equal up to
//! source locations) are kept once. At the first difference:
//!
//! - two receptions from the same sender (a `recv` is a one-arm `branch`)
//!   become one `branch` whose arms are the union of both, in source order
//!   (the left block's arms first); an arm present on both sides needs the
//!   same payload and merges its continuation. When both blocks continue
//!   identically after the reception, that common tail stays after the
//!   `branch`; otherwise each arm takes its own block's tail.
//! - two `rec X` merge their bodies and the walk continues after them.
//! - anything else is a [`MergeConflict`]. Sends merge only when equivalent
//!   (same receiver, label, payload and annotations), which the first rule
//!   already covers; `continue X` only merges with `continue X`.
//!
//! Projection decides each merge with [`merge_growth`] (no allocation; it
//! also predicts the result's size) and then builds it with
//! [`merge_owned`], which moves what it keeps instead of copying it, so
//! nested choices are not copied again at every level. [`merge`] borrows and
//! copies; it reports conflicts.
//!
//! Iterates over sequences and recurses only into nested blocks, so a long
//! sequence never grows the stack.

use crate::global::Loc;
pub use crate::local::block_size;
use crate::local::{Arm, LocalAction, LocalBlock, Peer};

/// Why two local types do not merge: the first place where they differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeConflict {
    /// Where the left type's behaviour differs (`None`: it has ended).
    pub left: Option<Loc>,
    /// Where the right type's behaviour differs (`None`: it has ended).
    pub right: Option<Loc>,
    /// What the left type does there (`send B L(T)`, `nothing more`).
    pub left_does: String,
    /// What the right type does there.
    pub right_does: String,
    /// Whether the left type receives there (so it could tell branches
    /// apart given a distinct label).
    pub left_receives: bool,
    /// Whether the right type receives there.
    pub right_receives: bool,
}

/// Merges two local types, or says where they conflict.
///
/// `merge(a, a)` is `a`; `merge(a, b)` and `merge(b, a)` are equal up to
/// source locations and the order of `branch` arms, and fail together.
pub fn merge(a: &[LocalAction], b: &[LocalAction]) -> Result<LocalBlock, MergeConflict> {
    let mut out = LocalBlock::with_capacity(a.len().max(b.len()));
    for i in 0.. {
        let (x, y) = match (a.get(i), b.get(i)) {
            (None, None) => break,
            (Some(x), Some(y)) => (x, y),
            (x, y) => return Err(conflict(x, y)),
        };
        if equivalent(x, y) {
            out.push(x.clone());
            continue;
        }
        if let (
            LocalAction::Rec {
                name: nx,
                body: bx,
                loc,
            },
            LocalAction::Rec {
                name: ny, body: by, ..
            },
        ) = (x, y)
        {
            if nx == ny {
                out.push(LocalAction::Rec {
                    name: nx.clone(),
                    body: merge(bx, by)?,
                    loc: *loc,
                });
                continue;
            }
        }
        let rest_a = a.get(i + 1..).unwrap_or_default();
        let rest_b = b.get(i + 1..).unwrap_or_default();
        if let (Some((from_x, arms_x, loc)), Some((from_y, arms_y, _))) = (arms(x), arms(y)) {
            if from_x == from_y {
                let common_tail = equivalent_blocks(rest_a, rest_b);
                let (arms_x, arms_y) = if common_tail {
                    (arms_x, arms_y)
                } else {
                    (with_tail(arms_x, rest_a), with_tail(arms_y, rest_b))
                };
                let merged = merge_arms(arms_x, arms_y)?;
                push_branch(&mut out, from_x, merged, loc);
                if common_tail {
                    out.extend(rest_a.iter().cloned());
                }
                return Ok(out);
            }
        }
        return Err(conflict(Some(x), Some(y)));
    }
    Ok(out)
}

/// How much bigger (`added`) and smaller (`removed`) than its two inputs
/// together a merge comes out, in actions counted by [`block_size`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Growth {
    pub added: usize,
    pub removed: usize,
}

/// Decides [`merge`] without building anything: `Some` exactly when
/// `merge(a, b)` succeeds, with how its result's size differs from
/// `block_size(a) + block_size(b)`. Lets a caller check a merge (and its
/// size) before handing its blocks to [`merge_owned`].
pub fn merge_growth(a: &[LocalAction], b: &[LocalAction]) -> Option<Growth> {
    let mut growth = Growth::default();
    growth_into(Seq::of(a), Seq::of(b), &mut growth).then_some(growth)
}

/// A block as the merge sees it: its own actions, then the tail of an
/// enclosing block that a reception handed down to its arms.
#[derive(Clone, Copy)]
struct Seq<'a> {
    head: &'a [LocalAction],
    tail: Option<&'a Seq<'a>>,
}

impl<'a> Seq<'a> {
    fn of(head: &'a [LocalAction]) -> Self {
        Seq { head, tail: None }
    }

    fn split_first(self) -> Option<(&'a LocalAction, Seq<'a>)> {
        let mut seq = self;
        loop {
            if let Some((x, head)) = seq.head.split_first() {
                return Some((x, Seq { head, ..seq }));
            }
            seq = *seq.tail?;
        }
    }

    fn len(self) -> usize {
        self.head.len() + self.tail.map_or(0, |t| t.len())
    }

    fn size(self) -> usize {
        block_size(self.head) + self.tail.map_or(0, |t| t.size())
    }
}

fn equivalent_seqs(a: Seq, b: Seq) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    loop {
        match (a.split_first(), b.split_first()) {
            (None, None) => return true,
            (Some((x, ra)), Some((y, rb))) if equivalent(x, y) => (a, b) = (ra, rb),
            _ => return false,
        }
    }
}

/// [`merge`]'s walk, counting instead of building.
fn growth_into(a: Seq, b: Seq, g: &mut Growth) -> bool {
    let (mut a, mut b) = (a, b);
    loop {
        let ((x, rest_a), (y, rest_b)) = match (a.split_first(), b.split_first()) {
            (None, None) => return true,
            (Some(x), Some(y)) => (x, y),
            _ => return false,
        };
        (a, b) = (rest_a, rest_b);
        if equivalent(x, y) {
            g.removed += block_size(std::slice::from_ref(y));
            continue;
        }
        if let (
            LocalAction::Rec {
                name: nx, body: bx, ..
            },
            LocalAction::Rec {
                name: ny, body: by, ..
            },
        ) = (x, y)
        {
            if nx == ny {
                g.removed += 1;
                if !growth_into(Seq::of(bx), Seq::of(by), g) {
                    return false;
                }
                continue;
            }
        }
        let (Some((from_x, arms_x)), Some((from_y, arms_y))) = (arms_of(x), arms_of(y)) else {
            return false;
        };
        if from_x != from_y {
            return false;
        }
        // Two receptions become one `branch` (or `recv`).
        g.removed += 1;
        let common_tail = equivalent_seqs(rest_a, rest_b);
        let (tail_a, tail_b) = if common_tail {
            g.removed += rest_b.size();
            (None, None)
        } else {
            let copies = |arms: &[Arm]| arms.len().saturating_sub(1);
            g.added += copies(&arms_x) * rest_a.size() + copies(&arms_y) * rest_b.size();
            (Some(&rest_a), Some(&rest_b))
        };
        for arm in arms_y.iter() {
            if let Some(existing) = arms_x.iter().find(|e| e.label == arm.label) {
                if existing.payload.canonical != arm.payload.canonical {
                    return false;
                }
                let left = Seq {
                    head: &existing.body,
                    tail: tail_a,
                };
                let right = Seq {
                    head: &arm.body,
                    tail: tail_b,
                };
                if !growth_into(left, right, g) {
                    return false;
                }
            }
        }
        return true;
    }
}

/// A reception's sender and arms, borrowed (a `recv` is one arm without a
/// body).
fn arms_of(action: &LocalAction) -> Option<(&Peer, std::borrow::Cow<'_, [Arm]>)> {
    match action {
        LocalAction::Recv {
            from,
            label,
            payload,
            loc,
        } => Some((
            from,
            std::borrow::Cow::Owned(vec![Arm {
                label: label.clone(),
                payload: payload.clone(),
                body: Vec::new(),
                loc: *loc,
            }]),
        )),
        LocalAction::Branch { from, arms, .. } => Some((from, std::borrow::Cow::Borrowed(arms))),
        _ => None,
    }
}

/// [`merge`] taking its blocks by value, so that what it keeps is moved
/// rather than copied. Call it only when [`merge_growth`] says the merge
/// succeeds; on blocks that conflict it returns something unspecified.
pub fn merge_owned(a: LocalBlock, b: LocalBlock) -> LocalBlock {
    let mut out = LocalBlock::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        let (x, y) = match (a.next(), b.next()) {
            (Some(x), Some(y)) => (x, y),
            (x, y) => {
                out.extend(x.into_iter().chain(a).chain(y).chain(b));
                return out;
            }
        };
        if equivalent(&x, &y) {
            out.push(x);
            continue;
        }
        let (x, y) = match (x, y) {
            (
                LocalAction::Rec {
                    name,
                    body: bx,
                    loc,
                },
                LocalAction::Rec {
                    name: ny, body: by, ..
                },
            ) if name == ny => {
                out.push(LocalAction::Rec {
                    name,
                    body: merge_owned(bx, by),
                    loc,
                });
                continue;
            }
            other => other,
        };
        let (rest_a, rest_b): (LocalBlock, LocalBlock) = (a.collect(), b.collect());
        if !receives_one(&x) || !receives_one(&y) {
            // Not mergeable (ruled out by `merge_growth`): keep the left.
            out.push(x);
            out.extend(rest_a);
            return out;
        }
        if let (Some((from, arms_x, loc)), Some((_, arms_y, _))) = (into_arms(x), into_arms(y)) {
            let common_tail = equivalent_blocks(&rest_a, &rest_b);
            let (arms_x, arms_y, tail) = if common_tail {
                (arms_x, arms_y, rest_a)
            } else {
                let arms_x = with_tail_owned(arms_x, rest_a);
                (arms_x, with_tail_owned(arms_y, rest_b), Vec::new())
            };
            let mut merged = arms_x;
            for arm in arms_y {
                match merged.iter_mut().find(|e| e.label == arm.label) {
                    Some(e) => e.body = merge_owned(std::mem::take(&mut e.body), arm.body),
                    None => merged.push(arm),
                }
            }
            push_branch(&mut out, from, merged, loc);
            out.extend(tail);
        }
        return out;
    }
}

/// A reception from one peer (what [`into_arms`] takes apart).
fn receives_one(action: &LocalAction) -> bool {
    matches!(
        action,
        LocalAction::Recv { .. } | LocalAction::Branch { .. }
    )
}

/// A reception as a branch, by value.
fn into_arms(action: LocalAction) -> Option<(Peer, Vec<Arm>, Loc)> {
    match action {
        LocalAction::Recv {
            from,
            label,
            payload,
            loc,
        } => Some((
            from,
            vec![Arm {
                label,
                payload,
                body: Vec::new(),
                loc,
            }],
            loc,
        )),
        LocalAction::Branch { from, arms, loc } => Some((from, arms, loc)),
        _ => None,
    }
}

/// Appends `tail` to every arm: copies for all but the last, which takes it.
fn with_tail_owned(mut arms: Vec<Arm>, tail: LocalBlock) -> Vec<Arm> {
    if let Some((last, others)) = arms.split_last_mut() {
        for arm in others {
            arm.body.extend(tail.iter().cloned());
        }
        last.body.extend(tail);
    }
    arms
}

/// Merges arm lists: left arms keep their order, new right arms follow.
fn merge_arms(left: Vec<Arm>, right: Vec<Arm>) -> Result<Vec<Arm>, MergeConflict> {
    let mut out = left;
    for arm in right {
        match out.iter_mut().find(|a| a.label == arm.label) {
            Some(existing) => {
                if existing.payload.canonical != arm.payload.canonical {
                    return Err(MergeConflict {
                        left: Some(existing.loc),
                        right: Some(arm.loc),
                        left_does: format!("receive `{}`", arm_head(existing)),
                        right_does: format!("receive `{}`", arm_head(&arm)),
                        left_receives: true,
                        right_receives: true,
                    });
                }
                existing.body = merge(&existing.body, &arm.body)?;
            }
            None => out.push(arm),
        }
    }
    Ok(out)
}

/// A reception seen as a branch: sender, arms, location. Copies only
/// receptions; everything else is `None` without cloning.
fn arms(action: &LocalAction) -> Option<(Peer, Vec<Arm>, Loc)> {
    if receives_one(action) {
        into_arms(action.clone())
    } else {
        None
    }
}

fn with_tail(mut arms: Vec<Arm>, tail: &[LocalAction]) -> Vec<Arm> {
    for arm in &mut arms {
        arm.body.extend(tail.iter().cloned());
    }
    arms
}

/// Pushes a branch; a single arm becomes a plain `recv` followed by its body.
pub(crate) fn push_branch(out: &mut LocalBlock, from: Peer, mut arms: Vec<Arm>, loc: Loc) {
    if arms.len() == 1 {
        if let Some(arm) = arms.pop() {
            out.push(LocalAction::Recv {
                from,
                label: arm.label,
                payload: arm.payload,
                loc: arm.loc,
            });
            out.extend(arm.body);
        }
        return;
    }
    out.push(LocalAction::Branch { from, arms, loc });
}

fn conflict(x: Option<&LocalAction>, y: Option<&LocalAction>) -> MergeConflict {
    let mut left_does = x.map_or_else(|| "nothing more".to_string(), describe);
    let mut right_does = y.map_or_else(|| "nothing more".to_string(), describe);
    if left_does == right_does {
        // Printed alike: they differ in what the one-line form omits.
        let sends = |a: Option<&LocalAction>| {
            matches!(
                a,
                Some(
                    LocalAction::Send { .. }
                        | LocalAction::SendAll { .. }
                        | LocalAction::Exchange { .. }
                )
            )
        };
        let what = if sends(x) && sends(y) {
            " with other annotations"
        } else {
            " with other contents"
        };
        left_does.push_str(what);
        right_does.push_str(what);
    }
    MergeConflict {
        left: x.map(label_loc),
        right: y.map(label_loc),
        left_does,
        right_does,
        left_receives: x.is_some_and(receives),
        right_receives: y.is_some_and(receives),
    }
}

fn receives(action: &LocalAction) -> bool {
    matches!(
        action,
        LocalAction::Recv { .. } | LocalAction::Branch { .. } | LocalAction::RecvAll { .. }
    )
}

fn arm_head(arm: &Arm) -> String {
    if arm.payload.is_unit() {
        arm.label.name.to_string()
    } else {
        format!("{}({})", arm.label.name, arm.payload.written)
    }
}

/// A one-line description of an action, for diagnostics: its printed head.
pub fn describe(action: &LocalAction) -> String {
    let head = super::print::action_head(action);
    format!("`{head}`")
}

/// Where to point at an action in a diagnostic: the keyword of a block
/// statement (`rec`, `par`, `timeout`, `choice`), the whole statement
/// otherwise.
pub fn label_loc(action: &LocalAction) -> Loc {
    let loc = action_loc(action);
    match action {
        LocalAction::Rec { .. } | LocalAction::Par { .. } => super::head(loc, 3),
        LocalAction::Timeout { .. } => super::head(loc, "timeout".len()),
        LocalAction::Select { .. } => super::head(loc, "choice".len()),
        _ => loc,
    }
}

/// The source location of a local action.
pub fn action_loc(action: &LocalAction) -> Loc {
    match action {
        LocalAction::Send { loc, .. }
        | LocalAction::Recv { loc, .. }
        | LocalAction::SendAll { loc, .. }
        | LocalAction::RecvAll { loc, .. }
        | LocalAction::Exchange { loc, .. }
        | LocalAction::Select { loc, .. }
        | LocalAction::Branch { loc, .. }
        | LocalAction::Rec { loc, .. }
        | LocalAction::Continue { loc, .. }
        | LocalAction::Par { loc, .. }
        | LocalAction::Link { loc, .. }
        | LocalAction::DelegateTo { loc, .. }
        | LocalAction::AcceptFrom { loc, .. }
        | LocalAction::Timeout { loc, .. } => *loc,
    }
}

/// Equality of blocks up to source locations.
pub fn equivalent_blocks(a: &[LocalAction], b: &[LocalAction]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equivalent(x, y))
}

/// Equality of actions up to source locations (payloads compare by their
/// alias-expanded form).
pub fn equivalent(a: &LocalAction, b: &LocalAction) -> bool {
    use LocalAction as A;
    match (a, b) {
        (
            A::Send {
                to: t1,
                label: l1,
                payload: p1,
                annotations: n1,
                ..
            },
            A::Send {
                to: t2,
                label: l2,
                payload: p2,
                annotations: n2,
                ..
            },
        ) => t1 == t2 && l1 == l2 && p1.canonical == p2.canonical && n1 == n2,
        (
            A::Recv {
                from: f1,
                label: l1,
                payload: p1,
                ..
            },
            A::Recv {
                from: f2,
                label: l2,
                payload: p2,
                ..
            },
        ) => f1 == f2 && l1 == l2 && p1.canonical == p2.canonical,
        (
            A::SendAll {
                family: f1,
                label: l1,
                payload: p1,
                annotations: n1,
                ..
            },
            A::SendAll {
                family: f2,
                label: l2,
                payload: p2,
                annotations: n2,
                ..
            },
        ) => f1 == f2 && l1 == l2 && p1.canonical == p2.canonical && n1 == n2,
        (
            A::RecvAll {
                family: f1,
                label: l1,
                payload: p1,
                quorum: q1,
                ..
            },
            A::RecvAll {
                family: f2,
                label: l2,
                payload: p2,
                quorum: q2,
                ..
            },
        ) => f1 == f2 && l1 == l2 && p1.canonical == p2.canonical && q1 == q2,
        (
            A::Exchange {
                family: f1,
                label: l1,
                payload: p1,
                quorum: q1,
                annotations: n1,
                ..
            },
            A::Exchange {
                family: f2,
                label: l2,
                payload: p2,
                quorum: q2,
                annotations: n2,
                ..
            },
        ) => f1 == f2 && l1 == l2 && p1.canonical == p2.canonical && q1 == q2 && n1 == n2,
        (A::Select { branches: b1, .. }, A::Select { branches: b2, .. }) => {
            b1.len() == b2.len()
                && b1
                    .iter()
                    .zip(b2)
                    .all(|((n1, x), (n2, y))| n1 == n2 && equivalent_blocks(x, y))
        }
        (
            A::Branch {
                from: f1, arms: a1, ..
            },
            A::Branch {
                from: f2, arms: a2, ..
            },
        ) => {
            f1 == f2
                && a1.len() == a2.len()
                && a1.iter().zip(a2).all(|(x, y)| {
                    x.label == y.label
                        && x.payload.canonical == y.payload.canonical
                        && equivalent_blocks(&x.body, &y.body)
                })
        }
        (
            A::Rec {
                name: n1, body: b1, ..
            },
            A::Rec {
                name: n2, body: b2, ..
            },
        ) => n1 == n2 && equivalent_blocks(b1, b2),
        (A::Continue { name: n1, .. }, A::Continue { name: n2, .. }) => n1 == n2,
        (A::Par { branches: b1, .. }, A::Par { branches: b2, .. }) => {
            b1.len() == b2.len() && b1.iter().zip(b2).all(|(x, y)| equivalent_blocks(x, y))
        }
        (
            A::Link {
                module: m1,
                protocol: p1,
                args_text: t1,
                ..
            },
            A::Link {
                module: m2,
                protocol: p2,
                args_text: t2,
                ..
            },
        ) => m1 == m2 && p1 == p2 && t1 == t2,
        (A::DelegateTo { to: t1, .. }, A::DelegateTo { to: t2, .. }) => t1 == t2,
        (A::AcceptFrom { from: f1, .. }, A::AcceptFrom { from: f2, .. }) => f1 == f2,
        (
            A::Timeout {
                millis: m1,
                body: b1,
                handler: h1,
                ..
            },
            A::Timeout {
                millis: m2,
                body: b2,
                handler: h2,
                ..
            },
        ) => m1 == m2 && equivalent_blocks(b1, b2) && equivalent_blocks(h1, h2),
        _ => false,
    }
}
