//! Breadth-first exploration of the composed system.
//!
//! A global state is every participant's interned local state plus the
//! contents of every non-empty FIFO channel (one per ordered pair of
//! identities), encoded as one `[u32]`: `[local_0 … local_{P-1}]` followed by
//! `(channel, length, messages…)` for each non-empty channel in channel
//! order. States are deduplicated by that encoding. BFS order means the
//! first violating state found has a shortest trace.

use super::model::{LAct, Phase, World};
use super::{Step, StepAction, ViolationKind};
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug)]
pub(crate) struct RawViolation {
    pub kind: ViolationKind,
    pub message: String,
    pub trace: Vec<Step>,
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub states: u64,
    pub transitions: u64,
    /// Some send was refused because its channel held `bound` messages.
    pub bound_hit: bool,
    /// The state cap stopped the search.
    pub capped: bool,
    pub violation: Option<RawViolation>,
}

type Chans = Vec<(u32, Vec<u32>)>;

fn decode(state: &[u32], p: usize) -> (Vec<u32>, Chans) {
    let locals = state.get(..p).map(<[u32]>::to_vec).unwrap_or_default();
    let mut chans = Vec::new();
    let mut rest = state.get(p..).unwrap_or_default();
    while let [c, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (msgs, after) = tail.split_at(n);
        chans.push((*c, msgs.to_vec()));
        rest = after;
    }
    (locals, chans)
}

fn encode(locals: &[u32], chans: &Chans) -> Rc<[u32]> {
    let mut v = Vec::with_capacity(locals.len() + chans.len() * 3);
    v.extend_from_slice(locals);
    for (c, msgs) in chans {
        if !msgs.is_empty() {
            v.push(*c);
            v.push(u32::try_from(msgs.len()).unwrap_or(u32::MAX));
            v.extend_from_slice(msgs);
        }
    }
    Rc::from(v)
}

fn head(chans: &Chans, c: u32) -> Option<u32> {
    chans
        .binary_search_by_key(&c, |(k, _)| *k)
        .ok()
        .and_then(|i| chans.get(i))
        .and_then(|(_, m)| m.first().copied())
}

fn len(chans: &Chans, c: u32) -> usize {
    chans
        .binary_search_by_key(&c, |(k, _)| *k)
        .ok()
        .and_then(|i| chans.get(i))
        .map_or(0, |(_, m)| m.len())
}

fn push(chans: &Chans, c: u32, msg: u32) -> Chans {
    let mut out = chans.clone();
    match out.binary_search_by_key(&c, |(k, _)| *k) {
        Ok(i) => {
            if let Some((_, m)) = out.get_mut(i) {
                m.push(msg);
            }
        }
        Err(i) => out.insert(i, (c, vec![msg])),
    }
    out
}

fn pop(chans: &Chans, c: u32) -> Chans {
    let mut out = chans.clone();
    if let Ok(i) = out.binary_search_by_key(&c, |(k, _)| *k) {
        if let Some((_, m)) = out.get_mut(i) {
            if !m.is_empty() {
                m.remove(0);
            }
            if m.is_empty() {
                out.remove(i);
            }
        }
    }
    out
}

struct Edge {
    parent: u32,
    participant: u32,
    trans: u32,
    chan: u32,
}

pub(crate) fn explore(world: &mut World, bound: usize, max_states: usize) -> Outcome {
    let p = world.participants.len();
    let ni = u32::try_from(world.idents.len()).unwrap_or(u32::MAX);
    let chan = |from: u32, to: u32| from.saturating_mul(ni).saturating_add(to);
    let init: Vec<u32> = (0..p).map(|i| world.initial(i)).collect();
    let mut states: Vec<Rc<[u32]>> = Vec::new();
    let mut index: HashMap<Rc<[u32]>, u32> = HashMap::new();
    let mut edges: Vec<Edge> = Vec::new();
    let first = encode(&init, &Vec::new());
    states.push(first.clone());
    index.insert(first, 0);
    edges.push(Edge {
        parent: u32::MAX,
        participant: 0,
        trans: 0,
        chan: 0,
    });
    let mut out = Outcome::default();
    let mut cursor = 0usize;
    while let Some(state) = states.get(cursor).cloned() {
        let here = u32::try_from(cursor).unwrap_or(u32::MAX);
        cursor += 1;
        let (locals, chans) = decode(&state, p);
        let mut successors: Vec<(Rc<[u32]>, Edge)> = Vec::new();
        let mut blocked = false;
        for (pi, &l) in locals.iter().enumerate() {
            let trans = world.transitions(l);
            let idents = world
                .participants
                .get(pi)
                .map(|x| x.idents.clone())
                .unwrap_or_default();
            // Unexpected reception: a channel head the participant waits on
            // and can never take.
            if let Some(v) = unexpected(world, l, &trans, &chans, &chan) {
                out.states = states.len() as u64;
                out.violation = Some(RawViolation {
                    kind: ViolationKind::UnexpectedReception,
                    message: v,
                    trace: trace(world, &states, &edges, here),
                });
                return out;
            }
            let pi32 = u32::try_from(pi).unwrap_or(u32::MAX);
            for (ti, &(act, l2)) in trans.iter().enumerate() {
                let ti32 = u32::try_from(ti).unwrap_or(u32::MAX);
                let mut set = |new_chans: Chans, c: u32| {
                    let mut nl = locals.clone();
                    if let Some(slot) = nl.get_mut(pi) {
                        *slot = l2;
                    }
                    successors.push((
                        encode(&nl, &new_chans),
                        Edge {
                            parent: here,
                            participant: pi32,
                            trans: ti32,
                            chan: c,
                        },
                    ));
                };
                match act {
                    LAct::Send { from, to, msg } => {
                        let c = chan(from, to);
                        if len(&chans, c) < bound {
                            set(push(&chans, c, msg), c);
                        } else {
                            blocked = true;
                        }
                    }
                    LAct::Recv { from, to, msg } => {
                        let c = chan(from, to);
                        if head(&chans, c) == Some(msg) && !world.discards(l, from, to, msg) {
                            set(pop(&chans, c), c);
                        }
                    }
                    LAct::DropPending { from, to, msg } => {
                        let c = chan(from, to);
                        if head(&chans, c) == Some(msg) {
                            set(pop(&chans, c), c);
                        }
                    }
                    LAct::Choose { .. } | LAct::Abandon { .. } => set(chans.clone(), 0),
                    LAct::Switch { t } => {
                        let arrived = chans.iter().any(|(c, m)| {
                            idents.iter().any(|&me| c % ni.max(1) == me)
                                && m.first()
                                    .is_some_and(|&h| world.phase(h) == Phase::Handler(t))
                        });
                        if arrived {
                            set(chans.clone(), 0);
                        }
                    }
                    LAct::DropPhase { t } => {
                        let nested = world
                            .timeouts
                            .get(t as usize)
                            .map(|i| i.nested.clone())
                            .unwrap_or_default();
                        for (c, m) in &chans {
                            let mine = idents.iter().any(|&me| c % ni.max(1) == me);
                            if mine && m.first().is_some_and(|&h| nested.contains(&world.phase(h)))
                            {
                                set(pop(&chans, *c), *c);
                            }
                        }
                    }
                }
            }
        }
        out.transitions += successors.len() as u64;
        if successors.is_empty() {
            if blocked {
                out.bound_hit = true;
            } else if let Some(v) = stuck(world, &locals, &chans, ni) {
                out.states = states.len() as u64;
                out.violation = Some(RawViolation {
                    kind: v.0,
                    message: v.1,
                    trace: trace(world, &states, &edges, here),
                });
                return out;
            }
        } else if blocked {
            out.bound_hit = true;
        }
        for (s, e) in successors {
            if index.contains_key(&s) {
                continue;
            }
            if states.len() >= max_states {
                out.capped = true;
                continue;
            }
            let id = u32::try_from(states.len()).unwrap_or(u32::MAX);
            states.push(s.clone());
            index.insert(s, id);
            edges.push(e);
        }
        if out.capped && cursor >= states.len() {
            break;
        }
    }
    out.states = states.len() as u64;
    out
}

fn unexpected(
    world: &World,
    l: u32,
    trans: &[(LAct, u32)],
    chans: &Chans,
    chan: &dyn Fn(u32, u32) -> u32,
) -> Option<String> {
    let mut checked: Vec<u32> = Vec::new();
    for (act, _) in trans {
        let LAct::Recv { from, to, .. } = *act else {
            continue;
        };
        let c = chan(from, to);
        if checked.contains(&c) {
            continue;
        }
        checked.push(c);
        let Some(h) = head(chans, c) else {
            continue;
        };
        let takes = trans.iter().any(|(a, _)| match *a {
            LAct::Recv {
                from: f,
                to: t,
                msg,
            } => f == from && t == to && msg == h,
            LAct::Abandon { t } | LAct::Switch { t } => world.phase(h) == Phase::Handler(t),
            _ => false,
        });
        if takes || world.discards(l, from, to, h) {
            continue;
        }
        let mut expected: Vec<String> = Vec::new();
        for (a, _) in trans {
            if let LAct::Recv {
                from: f,
                to: t,
                msg,
            } = *a
            {
                let s = world.msg_label(msg);
                if f == from && t == to && !expected.contains(&s) {
                    expected.push(s);
                }
            }
        }
        return Some(format!(
            "{} expects {} from {}, but the next message from {} is {}",
            world.ident_name(to),
            expected.join(" or "),
            world.ident_name(from),
            world.ident_name(from),
            world.msg_label(h),
        ));
    }
    None
}

fn stuck(
    world: &mut World,
    locals: &[u32],
    chans: &Chans,
    ni: u32,
) -> Option<(ViolationKind, String)> {
    let mut waiting = Vec::new();
    for (pi, &l) in locals.iter().enumerate() {
        let fin = world.local(l).is_some_and(|s| world.is_final(&s.term));
        if !fin {
            let who = world
                .participants
                .get(pi)
                .map_or_else(String::new, |p| world.ident_name(p.ident));
            let what = world.describe_wait(l);
            waiting.push(format!("{who} {what}"));
        }
    }
    if !waiting.is_empty() {
        return Some((
            ViolationKind::Deadlock,
            format!("no participant can move: {}", waiting.join("; ")),
        ));
    }
    if !chans.is_empty() {
        let left: Vec<String> = chans
            .iter()
            .map(|(c, m)| {
                let from = c / ni.max(1);
                let to = c % ni.max(1);
                let labels: Vec<String> = m.iter().map(|&x| world.msg_label(x)).collect();
                format!(
                    "{} → {}: {}",
                    world.ident_name(from),
                    world.ident_name(to),
                    labels.join(", ")
                )
            })
            .collect();
        return Some((
            ViolationKind::OrphanMessage,
            format!(
                "every participant finished but messages were never received: {}",
                left.join("; ")
            ),
        ));
    }
    None
}

fn trace(world: &mut World, states: &[Rc<[u32]>], edges: &[Edge], mut at: u32) -> Vec<Step> {
    let p = world.participants.len();
    let ni = u32::try_from(world.idents.len()).unwrap_or(u32::MAX).max(1);
    let mut steps = Vec::new();
    while let Some(e) = edges.get(at as usize) {
        if e.parent == u32::MAX {
            break;
        }
        let Some(parent) = states.get(e.parent as usize) else {
            break;
        };
        let (locals, chans) = decode(parent, p);
        let l = locals.get(e.participant as usize).copied().unwrap_or(0);
        let trans = world.transitions(l);
        if let Some(&(act, _)) = trans.get(e.trans as usize) {
            let me = world
                .participants
                .get(e.participant as usize)
                .map_or(0, |x| x.ident);
            let (actor, action) = match act {
                LAct::Send { from, to, msg } => (
                    from,
                    StepAction::Send {
                        to: world.ident_name(to),
                        label: world.msg_label(msg),
                    },
                ),
                LAct::Recv { from, to, msg } => (
                    to,
                    StepAction::Receive {
                        from: world.ident_name(from),
                        label: world.msg_label(msg),
                    },
                ),
                LAct::Choose { node, arm } => (
                    me,
                    StepAction::Choose {
                        branch: world.branch_name(node, arm),
                    },
                ),
                LAct::Abandon { t } => (
                    me,
                    StepAction::TimeOut {
                        after: world.timeout_text(t),
                    },
                ),
                LAct::Switch { t } => (
                    me,
                    StepAction::SwitchToHandler {
                        after: world.timeout_text(t),
                    },
                ),
                LAct::DropPending { from, to, msg } => (
                    to,
                    StepAction::DropLate {
                        from: world.ident_name(from),
                        label: world.msg_label(msg),
                    },
                ),
                LAct::DropPhase { .. } => {
                    let from = e.chan / ni;
                    let to = e.chan % ni;
                    let label =
                        head(&chans, e.chan).map_or_else(String::new, |m| world.msg_label(m));
                    (
                        to,
                        StepAction::DropLate {
                            from: world.ident_name(from),
                            label,
                        },
                    )
                }
            };
            steps.push(Step {
                actor: world.ident_name(actor),
                action,
            });
        }
        at = e.parent;
    }
    steps.reverse();
    steps
}
