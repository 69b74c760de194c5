//! Breadth-first exploration of the composed system.
//!
//! A global state is every participant's interned local state plus the
//! contents of every non-empty FIFO channel (one per ordered pair of
//! identities), encoded as one `[u32]`: `[local_0 … local_{P-1}]` followed by
//! `(channel, length, messages…)` for each non-empty channel in channel
//! order. States are deduplicated by that encoding. BFS order means the
//! first violating state found has a shortest trace.

use super::hash::{hash_words, IdTable};
use super::model::{LAct, Phase, World};
use super::{Step, StepAction, ViolationKind};

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

/// The non-empty channels of a state, flat: `(channel, length, messages…)`
/// for each, in channel order (the tail of the state encoding).
type Chans = [u32];

/// The channels of a flat encoding with their messages, in channel order.
fn channels(chans: &Chans) -> impl Iterator<Item = (u32, &[u32])> {
    let mut rest = chans;
    std::iter::from_fn(move || {
        let [c, len, tail @ ..] = rest else {
            return None;
        };
        let n = (*len as usize).min(tail.len());
        let (msgs, after) = tail.split_at(n);
        rest = after;
        Some((*c, msgs))
    })
}

fn channel(chans: &Chans, c: u32) -> &[u32] {
    channels(chans)
        .take_while(|(k, _)| *k <= c)
        .find(|(k, _)| *k == c)
        .map_or(&[], |(_, m)| m)
}

fn head(chans: &Chans, c: u32) -> Option<u32> {
    channel(chans, c).first().copied()
}

fn len(chans: &Chans, c: u32) -> usize {
    channel(chans, c).len()
}

fn put(out: &mut Vec<u32>, c: u32, msgs: &[u32]) {
    if !msgs.is_empty() {
        out.push(c);
        out.push(u32::try_from(msgs.len()).unwrap_or(u32::MAX));
        out.extend_from_slice(msgs);
    }
}

/// Writes `chans` with `msg` appended to channel `c` to `out`.
fn push_into(chans: &Chans, c: u32, msg: u32, out: &mut Vec<u32>) {
    let mut done = false;
    for (k, msgs) in channels(chans) {
        if !done && k >= c {
            done = true;
            if k == c {
                out.push(k);
                out.push(u32::try_from(msgs.len() + 1).unwrap_or(u32::MAX));
                out.extend_from_slice(msgs);
                out.push(msg);
                continue;
            }
            put(out, c, &[msg]);
        }
        put(out, k, msgs);
    }
    if !done {
        put(out, c, &[msg]);
    }
}

/// Writes `chans` without the head of channel `c` to `out`.
fn pop_into(chans: &Chans, c: u32, out: &mut Vec<u32>) {
    for (k, msgs) in channels(chans) {
        if k == c {
            put(out, k, msgs.get(1..).unwrap_or_default());
        } else {
            put(out, k, msgs);
        }
    }
}

/// The visited states: their encodings one after the other in one store
/// (no allocation per state), found again through an [`IdTable`] of their
/// numbers.
struct States {
    words: Vec<u32>,
    /// Where state `i` starts in `words`; one more entry marks the end.
    starts: Vec<usize>,
    index: IdTable,
}

impl States {
    fn with_capacity(states: usize, words: usize) -> States {
        let mut starts = Vec::with_capacity(states + 1);
        starts.push(0);
        States {
            words: Vec::with_capacity(words),
            starts,
            index: IdTable::with_capacity(states),
        }
    }

    /// Empty again, keeping the memory (for the next instance).
    fn clear(&mut self) {
        self.words.clear();
        self.starts.clear();
        self.starts.push(0);
        self.index.clear();
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    fn get(&self, i: u32) -> Option<&[u32]> {
        let i = i as usize;
        let (&s, &e) = (self.starts.get(i)?, self.starts.get(i + 1)?);
        self.words.get(s..e)
    }

    /// The number of an already visited state.
    fn find(&self, key: &[u32], hash: u64) -> Option<u32> {
        self.index.find(hash, |id| self.get(id) == Some(key))
    }

    fn push(&mut self, key: &[u32], hash: u64) -> u32 {
        let id = u32::try_from(self.len()).unwrap_or(u32::MAX);
        self.words.extend_from_slice(key);
        self.starts.push(self.words.len());
        self.index.insert(hash, id);
        id
    }
}

/// The explorer's buffers, kept from one instance to the next of a
/// verification (and from one protocol to the next of a compilation): a
/// small instance explores a few dozen states, so allocating, growing and
/// freeing its dozen vectors was a good part of its cost.
pub(crate) struct Scratch {
    states: States,
    edges: Vec<Edge>,
    moves: Vec<Move>,
    arena: Vec<u32>,
    built: Vec<(usize, usize)>,
    known: Vec<bool>,
    nl: Vec<u32>,
    nc: Vec<u32>,
    hashes: Vec<u64>,
    /// A state's ample successors (arena range and hash), kept while the
    /// others are built when the state is fully expanded.
    ample_built: Vec<((usize, usize), u64)>,
    state: Vec<u32>,
    init: Vec<u32>,
    readers: Readers,
}

impl Default for Scratch {
    fn default() -> Scratch {
        // Sized for a typical small instance (a few moves, a few channels,
        // a few dozen states) so that it does not regrow from empty.
        Scratch {
            states: States::with_capacity(INITIAL_CAPACITY, INITIAL_CAPACITY * 16),
            edges: Vec::with_capacity(INITIAL_CAPACITY),
            moves: Vec::with_capacity(16),
            arena: Vec::with_capacity(256),
            built: Vec::with_capacity(16),
            known: Vec::with_capacity(16),
            nl: Vec::with_capacity(16),
            nc: Vec::with_capacity(32),
            hashes: Vec::with_capacity(16),
            ample_built: Vec::with_capacity(16),
            state: Vec::with_capacity(32),
            init: Vec::with_capacity(16),
            readers: Readers {
                starts: Vec::with_capacity(16),
                participants: Vec::with_capacity(16),
            },
        }
    }
}

/// Initial capacity of the visited set and the state list: a small
/// protocol's whole run, but the store grows (cheaply: no key is hashed
/// again) for larger ones.
const INITIAL_CAPACITY: usize = 32;

#[derive(Clone, Copy)]
struct Edge {
    parent: u32,
    participant: u32,
    trans: u32,
}

/// An enabled move of the state being expanded.
struct Move {
    act: LAct,
    next_local: u32,
    /// The conformance slot and value this send moves to.
    pair_update: Option<(usize, u32)>,
    edge: Edge,
}

/// The participants acting as each identity (`of(i)`), in participant
/// order.
struct Readers {
    starts: Vec<usize>,
    participants: Vec<usize>,
}

impl Readers {
    /// Filled for `world` (its buffers reused).
    fn fill(&mut self, world: &World, ni: u32) {
        let starts = &mut self.starts;
        starts.clear();
        starts.resize(ni as usize + 1, 0);
        for part in &world.participants {
            for &id in &part.idents {
                if let Some(c) = starts.get_mut(id as usize + 1) {
                    *c += 1;
                }
            }
        }
        let mut sum = 0;
        for c in starts.iter_mut() {
            sum += *c;
            *c = sum;
        }
        // Each identity's participants in participant order (a scan per
        // identity: an instance has a few of each).
        let participants = &mut self.participants;
        participants.clear();
        for id in 0..ni {
            for (pi, part) in world.participants.iter().enumerate() {
                for _ in part.idents.iter().filter(|&&x| x == id) {
                    participants.push(pi);
                }
            }
        }
    }

    fn of(&self, ident: u32) -> &[usize] {
        let i = ident as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.participants.get(a..b).unwrap_or_default(),
            _ => &[],
        }
    }
}

/// Applies the runtime's discards eagerly: a channel head that its reader
/// drops (a late quorum message, a message of a timeout body it abandoned)
/// is removed as soon as it is at the head. Most states have no
/// participant that could discard anything; they leave at once.
fn settle(world: &mut World, readers: &Readers, ni: u32, locals: &mut [u32], chans: &mut Vec<u32>) {
    if chans.is_empty() || !locals.iter().any(|&l| world.may_discard(l)) {
        return;
    }
    let ni = ni.max(1);
    // Most states where someone could discard have nothing to discard at
    // any channel head: find that out before copying the channels.
    let discarded_head = |locals: &[u32], c: u32, h: u32| {
        let from = c / ni;
        let to = c % ni;
        readers.of(to).iter().copied().find(|&p| {
            locals
                .get(p)
                .is_some_and(|&l| world.discards(l, from, to, h))
        })
    };
    if !channels(chans).any(|(c, m)| {
        m.first()
            .is_some_and(|&h| discarded_head(locals, c, h).is_some())
    }) {
        return;
    }
    let mut open: Vec<(u32, Vec<u32>)> = channels(chans).map(|(c, m)| (c, m.to_vec())).collect();
    loop {
        let mut changed = false;
        for (c, msgs) in open.iter_mut() {
            let from = *c / ni;
            let to = *c % ni;
            while let Some(&h) = msgs.first() {
                let reader = readers.of(to).iter().copied().find(|&p| {
                    locals
                        .get(p)
                        .is_some_and(|&l| world.discards(l, from, to, h))
                });
                let Some(p) = reader else {
                    break;
                };
                if let Some(slot) = locals.get_mut(p) {
                    *slot = world.consume_drop(*slot, from, to, h);
                }
                msgs.remove(0);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    chans.clear();
    for (c, msgs) in &open {
        put(chans, *c, msgs);
    }
}

/// Explores the reachable states breadth-first. With `reduce`, a state
/// whose participant `p` has only moves that are enabled and cannot be
/// disabled by anyone else (sends with room, receptions from a non-empty
/// channel, internal choices) expands only `p`'s moves (an ample set: moves
/// of different participants commute, since each channel has one writer
/// and one reader), unless one of them leads back to a visited state (the
/// cycle proviso); deadlocks and terminal states are preserved.
pub(crate) fn explore(
    world: &mut World,
    bound: usize,
    max_states: usize,
    reduce: bool,
    scratch: &mut Scratch,
) -> Outcome {
    let Scratch {
        states,
        edges,
        moves,
        arena,
        built,
        known,
        nl,
        nc,
        hashes,
        ample_built,
        state,
        init,
        readers,
    } = scratch;
    let p = world.participants.len();
    let ni = u32::try_from(world.idents.len()).unwrap_or(u32::MAX).max(1);
    let chan = |from: u32, to: u32| from.saturating_mul(ni).saturating_add(to);
    // Who reads each identity's channels: the participants acting as it,
    // in participant order, grouped by identity (two vectors rather than
    // one per identity).
    readers.fill(world, ni);
    let readers = &*readers;
    init.clear();
    for i in 0..p {
        init.push(world.initial(i));
    }
    if let Some(c) = world.conform.as_mut() {
        c.initial_into(init);
    }
    let head_len = init.len();
    states.clear();
    edges.clear();
    states.push(init, hash_words(init));
    edges.push(Edge {
        parent: u32::MAX,
        participant: 0,
        trans: 0,
    });
    let mut out = Outcome::default();
    // The enabled moves of the current state, then (for the moves to
    // follow) their successors, encoded one after the other in `arena`
    // (reused: no allocation per successor unless it is new). `state` is
    // the state being expanded, copied out of the store that its
    // successors are added to. All of them are the scratch's buffers.
    let mut cursor = 0usize;
    while let Some(current) = states.get(u32::try_from(cursor).unwrap_or(u32::MAX)) {
        state.clear();
        state.extend_from_slice(current);
        let here = u32::try_from(cursor).unwrap_or(u32::MAX);
        cursor += 1;
        let locals = state.get(..head_len).unwrap_or_default();
        let chans = state.get(head_len..).unwrap_or_default();
        moves.clear();
        let mut ample: Option<(usize, usize)> = None; // (start in `moves`, count)
        let mut blocked = false;
        // Which moves are enabled (cheap: no successor is built yet).
        for (pi, &l) in locals.iter().enumerate().take(p) {
            let range = world.transition_range(l);
            // Unexpected reception: a channel head the participant waits on
            // and can never take.
            if let Some(v) = unexpected(world, l, world.transitions_in(range), chans, &chan) {
                out.states = states.len() as u64;
                out.violation = Some(RawViolation {
                    kind: ViolationKind::UnexpectedReception,
                    message: v,
                    trace: trace(world, states, edges, here),
                });
                return out;
            }
            let pi32 = u32::try_from(pi).unwrap_or(u32::MAX);
            let begin = moves.len();
            let mut stable = true;
            let count = range.1.saturating_sub(range.0) as usize;
            for ti in 0..count {
                let Some((act, l2)) = world.transition_at(range.0 as usize + ti) else {
                    break;
                };
                let ti32 = u32::try_from(ti).unwrap_or(u32::MAX);
                let mut pair_update: Option<(usize, u32)> = None;
                let enabled = match act {
                    LAct::Send { from, to, msg } => {
                        let c = chan(from, to);
                        if len(chans, c) < bound {
                            match conform_step(world, locals, p, from, to, msg) {
                                Ok(update) => pair_update = update,
                                Err(message) => {
                                    out.states = states.len() as u64;
                                    let mut steps = trace(world, states, edges, here);
                                    steps.push(Step {
                                        actor: world.ident_name(from),
                                        action: StepAction::Send {
                                            to: world.ident_name(to),
                                            label: world.msg_label(msg),
                                        },
                                    });
                                    out.violation = Some(RawViolation {
                                        kind: ViolationKind::NotInGlobal,
                                        message,
                                        trace: steps,
                                    });
                                    return out;
                                }
                            }
                            true
                        } else {
                            blocked = true;
                            stable = false;
                            false
                        }
                    }
                    LAct::Recv { from, to, msg } => match head(chans, chan(from, to)) {
                        Some(h) => h == msg,
                        None => {
                            stable = false;
                            false
                        }
                    },
                    LAct::Choose { .. } | LAct::Abandon { .. } | LAct::Proceed => true,
                    LAct::Switch { t } => {
                        let arrived = channels(chans).any(|(c, m)| {
                            world
                                .participants
                                .get(pi)
                                .is_some_and(|x| x.idents.iter().any(|&me| c % ni == me))
                                && m.first()
                                    .is_some_and(|&h| world.phase(h) == Phase::Handler(t))
                        });
                        if !arrived {
                            stable = false;
                        }
                        arrived
                    }
                };
                if enabled {
                    moves.push(Move {
                        act,
                        next_local: l2,
                        pair_update,
                        edge: Edge {
                            parent: here,
                            participant: pi32,
                            trans: ti32,
                        },
                    });
                }
            }
            let count = moves.len() - begin;
            if reduce && stable && count > 0 && ample.is_none_or(|(_, n)| count < n) {
                ample = Some((begin, count));
            }
        }
        out.transitions += moves.len() as u64;
        if moves.is_empty() {
            if blocked {
                out.bound_hit = true;
            } else if let Some(v) = stuck(world, locals.get(..p).unwrap_or_default(), chans, ni) {
                out.states = states.len() as u64;
                out.violation = Some(RawViolation {
                    kind: v.0,
                    message: v.1,
                    trace: trace(world, states, edges, here),
                });
                return out;
            }
        } else if blocked {
            out.bound_hit = true;
        }
        // The successors of `range`, built into `arena`/`built`.
        let mut build = |range: std::ops::Range<usize>,
                         world: &mut World,
                         arena: &mut Vec<u32>,
                         built: &mut Vec<(usize, usize)>,
                         hashes: &mut Vec<u64>| {
            for m in moves.get(range).unwrap_or_default() {
                nc.clear();
                match m.act {
                    LAct::Send { from, to, msg } => push_into(chans, chan(from, to), msg, nc),
                    LAct::Recv { from, to, .. } => pop_into(chans, chan(from, to), nc),
                    _ => nc.extend_from_slice(chans),
                }
                nl.clear();
                nl.extend_from_slice(locals);
                if let Some(slot) = nl.get_mut(m.edge.participant as usize) {
                    *slot = m.next_local;
                }
                if let Some((k, v)) = m.pair_update {
                    if let Some(slot) = nl.get_mut(k) {
                        *slot = v;
                    }
                }
                settle(world, readers, ni, nl, nc);
                let start = arena.len();
                arena.extend_from_slice(nl);
                arena.extend_from_slice(nc);
                built.push((start, arena.len()));
                hashes.push(hash_words(arena.get(start..).unwrap_or_default()));
            }
        };
        let mut chosen = 0..moves.len();
        // For a reduced state, whether each ample successor was already
        // visited is known from the proviso's look-up: it is not looked
        // up again (only compared with its siblings).
        let mut looked_up = false;
        if let Some((begin, count)) = ample.filter(|&(_, count)| count < moves.len()) {
            // Cycle proviso: every cycle of the reduced graph has an edge to
            // a state discovered no later than its source (BFS order), so a
            // state whose ample successors are all discovered after it may
            // be reduced; any other is fully expanded.
            arena.clear();
            built.clear();
            hashes.clear();
            build(begin..begin + count, world, arena, built, hashes);
            known.clear();
            let mut reducible = true;
            for (&(s, e), &h) in built.iter().zip(hashes.iter()) {
                let found = arena.get(s..e).and_then(|key| states.find(key, h));
                if found.is_some_and(|i| i <= here) {
                    reducible = false;
                    break;
                }
                known.push(found.is_some());
            }
            if reducible {
                chosen = begin..begin + count;
                looked_up = true;
            } else {
                // Fully expanded: the ample successors are built already,
                // the others are built around them (in move order).
                ample_built.clear();
                ample_built.extend(built.iter().copied().zip(hashes.iter().copied()));
                built.clear();
                hashes.clear();
                build(0..begin, world, arena, built, hashes);
                for &(b, h) in ample_built.iter() {
                    built.push(b);
                    hashes.push(h);
                }
                build(begin + count..moves.len(), world, arena, built, hashes);
            }
        } else {
            arena.clear();
            built.clear();
            hashes.clear();
            build(0..moves.len(), world, arena, built, hashes);
        }
        let edges_of = moves.get(chosen).unwrap_or_default();
        for (j, ((&(s, e), m), &h)) in built.iter().zip(edges_of).zip(hashes.iter()).enumerate() {
            let Some(key) = arena.get(s..e) else {
                continue;
            };
            let visited = if looked_up {
                known.get(j).copied().unwrap_or(true)
                    || built
                        .get(..j)
                        .unwrap_or_default()
                        .iter()
                        .any(|&(s2, e2)| arena.get(s2..e2) == Some(key))
            } else {
                states.find(key, h).is_some()
            };
            if visited {
                continue;
            }
            if states.len() >= max_states {
                out.capped = true;
                continue;
            }
            states.push(key, h);
            edges.push(m.edge);
        }
        if out.capped && cursor >= states.len() {
            break;
        }
    }
    out.states = states.len() as u64;
    out
}

/// Conformance of one send: the pair's next subset (slot in the state head
/// and value), or why the global protocol does not allow it.
fn conform_step(
    world: &mut World,
    head: &[u32],
    participants: usize,
    from: u32,
    to: u32,
    msg: u32,
) -> Result<Option<(usize, u32)>, String> {
    if world.conform.is_none() {
        return Ok(None);
    }
    let pair = world.pair(from, to);
    let label = world.conform_label(msg);
    let what = |world: &World| {
        format!(
            "{} sends {} to {}",
            world.ident_name(from),
            world.msg_label(msg),
            world.ident_name(to)
        )
    };
    let Some(k) = pair else {
        return Err(format!(
            "{}, but the global protocol has no message from {} to {}",
            what(world),
            world.ident_name(from),
            world.ident_name(to)
        ));
    };
    let slot = participants + k as usize;
    let current = head.get(slot).copied().unwrap_or(0);
    let Some(conform) = world.conform.as_mut() else {
        return Ok(None);
    };
    if let Some(l) = label {
        if let Some(next) = conform.step(k, current, l) {
            return Ok(Some((slot, next)));
        }
    }
    let expected = conform.expected(k, current);
    Err(format!(
        "{what}, but after the messages already sent on that pair the global protocol allows {}",
        if expected.is_empty() {
            "no further message".to_string()
        } else {
            expected.join(" or ")
        },
        what = what(world),
    ))
}

fn unexpected(
    world: &World,
    l: u32,
    trans: &[(LAct, u32)],
    chans: &Chans,
    chan: &dyn Fn(u32, u32) -> u32,
) -> Option<String> {
    if chans.is_empty() {
        return None;
    }
    for (i, (act, _)) in trans.iter().enumerate() {
        let LAct::Recv { from, to, .. } = *act else {
            continue;
        };
        // Each channel once (no allocation: this runs for every
        // participant of every state).
        let seen =
            trans.get(..i).unwrap_or_default().iter().any(
                |(a, _)| matches!(*a, LAct::Recv { from: f, to: t, .. } if f == from && t == to),
            );
        if seen {
            continue;
        }
        let c = chan(from, to);
        let Some(h) = head(chans, c) else {
            continue;
        };
        let takes = trans.iter().any(|(a, _)| match *a {
            LAct::Recv {
                from: f,
                to: t,
                msg,
            } => f == from && t == to && msg == h,
            // Inside the body of `t`, a message from outside that body (its
            // handler, or a later statement of a sender that already left
            // it) waits until this participant leaves the body too.
            LAct::Abandon { t } => world
                .timeouts
                .get(t as usize)
                .is_some_and(|info| !info.nested.contains(&world.phase(h))),
            LAct::Switch { t } => world.phase(h) == Phase::Handler(t),
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
        let left: Vec<String> = channels(chans)
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

fn trace(world: &mut World, states: &States, edges: &[Edge], mut at: u32) -> Vec<Step> {
    let p = world.participants.len() + world.conform.as_ref().map_or(0, |c| c.pairs.len());
    let mut steps = Vec::new();
    while let Some(e) = edges.get(at as usize) {
        if e.parent == u32::MAX {
            break;
        }
        let Some(parent) = states.get(e.parent) else {
            break;
        };
        let l = parent
            .get(..p)
            .and_then(|locals| locals.get(e.participant as usize))
            .copied()
            .unwrap_or(0);
        let step = world.transitions(l).get(e.trans as usize).copied();
        if let Some((act, _)) = step {
            let me = world
                .participants
                .get(e.participant as usize)
                .map_or(0, |x| x.ident);
            if act == LAct::Proceed {
                at = e.parent;
                continue;
            }
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
                LAct::Proceed => (
                    me,
                    StepAction::Choose {
                        branch: String::new(),
                    },
                ),
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
