//! The `machine` phase: a local type as a flat state machine, the one
//! automaton that code generation and the local diagrams (`choreo graph
//! --role`) both read, so a diagram's state `S2` is the generated type
//! `S2` ([`Machine::state_names`]).
//!
//! Every action of a local type becomes one numbered state; `rec X` is not a
//! state of its own but an alias of its body's first state, and `continue X`
//! is an edge back to it. The machine is a flat list (no nesting, no
//! generics), so the Rust generated from it is linear in the protocol's size
//! and a loop is a real loop. Sequences are walked iteratively (back to
//! front, so every action already knows its successor); only nesting
//! recurses.
//!
//! A machine has one of two [`Shape`]s. Code generation and the diagrams
//! read the [`Shape::Sequential`] one, the model checker the
//! [`Shape::Interleaved`] one; both come from the same builder, so they
//! cannot disagree about what a local type means.
//!
//! In the sequential shape `par` is sequentialised: its branches run one after the other, in source
//! order, at every role. This is sound because the language contract §3.4 forbids two
//! branches from sharing an ordered (sender, receiver) pair and sends never
//! block: each branch on its own is a deadlock-free protocol whose messages
//! no receive of another branch can claim, so every role can finish branch
//! 1 and then branch 2.
//!
//! The model checker must not rely on that argument (it checks the
//! projections, it does not trust them), so the interleaved shape keeps the
//! structure that its semantics needs: a `par` is an [`Op::Par`] fork whose
//! branches each end at `END`, a `timeout` body ends at `END` too and the
//! machine records where the timeout continues and where its handler
//! starts when nothing else is left ([`TimeoutExits`]), and a `continue`
//! that names no `rec` (or a loop with no action in it) is an
//! [`Op::Stuck`] state instead of an error.
//!
//! For whole protocols the phase's output is [`ProtocolMachines`] (module
//! `protocol`): per protocol id, the machines of its targets with their
//! state names and numbers, the interned labels, the header, the
//! fingerprint and the `link` sites — everything code generation reads.
//! The data types it shares with earlier phases (labels, payloads, sizes,
//! peers, targets) are re-exported here, so code generation imports this
//! module and nothing earlier.

mod numbering;
mod protocol;

pub use crate::global::{
    Annotation, Label, LeakClass, Loc, Participant, Payload, ProtocolId, RoleInfo, RustSegment,
    RustType, RustTypeKind, Size,
};
pub use crate::local::{Peer, Target};
/// An annotation as written (`@guard("cap")`), for documentation.
pub use crate::project::print::annotation as annotation_text;
pub use numbering::{timeout_numbering, TimeoutNumbering};
pub use protocol::{
    build_program, instance_key, Header, LabelTable, LinkSite, ProtocolMachines, RoleMachine,
};

use crate::local::{block_size, LocalAction, LocalBlock};
use std::collections::BTreeMap;

/// Which automaton a local type becomes (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `par` sequentialised, every `timeout` part continues with what
    /// follows it: the typestates of code generation and the diagrams.
    Sequential,
    /// `par` as a fork, `timeout` parts end at `END` with their exits
    /// recorded: the model checker's automaton.
    Interleaved,
}

/// Where an interleaved `timeout` goes after its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutExits {
    /// What follows the `timeout` (after its body, or its handler).
    pub next: StateId,
    /// The handler on its own, ending at `END`: how a role that has
    /// finished everything else still answers a late handler message.
    pub handler_alone: StateId,
}

/// A state of one [`Machine`] (an index into [`Machine::states`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(u32);

impl StateId {
    /// The position in [`Machine::states`].
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn from_index(i: usize) -> StateId {
        StateId(u32::try_from(i).unwrap_or(u32::MAX))
    }
}

/// The terminal state of every machine.
pub const END: StateId = StateId(0);

#[derive(Clone, Debug)]
pub struct Message {
    pub label: Label,
    pub payload: Payload,
    /// The statement's `@guard`/`@cost`/`@journal`/`@leak`, in source
    /// order: what the guard chain checks before the send (empty on the
    /// receiving side).
    pub annotations: Vec<Annotation>,
}

#[derive(Clone, Debug)]
pub enum Op {
    End,
    /// Alias of another state (a `rec` head); resolved before emission.
    Goto(StateId),
    Send {
        to: Peer,
        msg: Message,
        next: StateId,
    },
    Recv {
        from: Peer,
        msg: Message,
        next: StateId,
    },
    SendAll {
        family: String,
        msg: Message,
        next: StateId,
    },
    RecvAll {
        family: String,
        msg: Message,
        quorum: Option<Size>,
        next: StateId,
    },
    Exchange {
        family: String,
        msg: Message,
        quorum: Option<Size>,
        next: StateId,
    },
    Select {
        branches: Vec<(String, StateId)>,
    },
    Branch {
        from: Peer,
        arms: Vec<(Message, StateId)>,
    },
    Link {
        module: String,
        protocol: String,
        args_text: String,
    },
    DelegateTo {
        to: Peer,
    },
    AcceptFrom {
        from: Peer,
        next: StateId,
    },
    Timeout {
        millis: u64,
        text: String,
        body: StateId,
        handler: StateId,
    },
    /// Interleaved shape only: the branches of a `par` (each ending at
    /// `END`) run interleaved, then `next`.
    Par {
        branches: Vec<StateId>,
        next: StateId,
    },
    /// Interleaved shape only: not final and no way on (a `continue` that
    /// names no `rec`, or a loop without an action).
    Stuck,
}

#[derive(Clone, Debug)]
pub struct State {
    pub op: Op,
    pub loc: Loc,
    /// The handler entry of the innermost `timeout` whose body this state
    /// belongs to: the state may abandon the body for it.
    pub abandon: Option<StateId>,
    /// Who performs this state's action when it is not the machine's own
    /// role: after `accept from R;` the rest of the block acts as `R`.
    pub actor: Option<Peer>,
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub states: Vec<State>,
    pub entry: StateId,
    /// Each `rec`, by name, with the state its body starts at (where its
    /// `continue`s come back), in source order.
    pub loops: Vec<(String, StateId)>,
    /// Interleaved shape only: the exits of every `timeout` state.
    pub timeout_exits: BTreeMap<StateId, TimeoutExits>,
}

/// A completed `timeout` whose handler a state right after its block
/// still answers ([`Machine::after_block_handlers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterBlock {
    /// The `timeout` state (its number is the runtime's site).
    pub timeout: StateId,
    /// Its handler's entry.
    pub handler: StateId,
}

/// A `continue` that names no enclosing `rec` (the checker rejects these;
/// codegen reports it rather than guessing).
#[derive(Clone, Debug)]
pub struct UnboundContinue {
    pub name: String,
    pub loc: Loc,
}

impl Machine {
    /// The sequential machine of a local type (code generation, diagrams).
    pub fn build(body: &LocalBlock) -> Result<Machine, UnboundContinue> {
        Machine::build_shaped(body, Shape::Sequential)
    }

    /// A machine that has ended before it started (what a role does whose
    /// local type cannot be built).
    pub fn idle() -> Machine {
        Machine {
            states: vec![State::new(Op::End, Loc::default())],
            entry: END,
            loops: Vec::new(),
            timeout_exits: BTreeMap::new(),
        }
    }

    /// The interleaved machine of a local type (the model checker). Never
    /// fails: what the sequential shape reports as an error is a
    /// [`Op::Stuck`] state here, for the model checker to find.
    pub fn build_interleaved(body: &LocalBlock) -> Machine {
        match Machine::build_shaped(body, Shape::Interleaved) {
            Ok(m) => m,
            // Unreachable: the interleaved builder turns unbound `continue`s
            // into `Stuck` states; a machine that is stuck at once is the
            // honest answer if it ever happened.
            Err(_) => Machine {
                states: vec![
                    State::new(Op::End, Loc::default()),
                    State::new(Op::Stuck, Loc::default()),
                ],
                entry: StateId(1),
                loops: Vec::new(),
                timeout_exits: BTreeMap::new(),
            },
        }
    }

    fn build_shaped(body: &LocalBlock, shape: Shape) -> Result<Machine, UnboundContinue> {
        // About one state per action, plus `End` and `Stuck`: sized once
        // instead of regrown (a `State` is large, and small protocols are
        // built once per verified instance).
        let mut states = Vec::with_capacity(block_size(body) + 2);
        states.push(State::new(Op::End, Loc::default()));
        let mut b = Builder {
            shape,
            states,
            recs: Vec::new(),
            loops: Vec::new(),
            abandon: Vec::new(),
            actor: None,
            stuck: None,
            timeout_exits: BTreeMap::new(),
        };
        let entry = b.block(body, END)?;
        let stuck = b.stuck;
        let mut m = Machine {
            states: b.states,
            entry,
            loops: b.loops,
            timeout_exits: b.timeout_exits,
        };
        // A loop with no action in it goes nowhere: `END` for the
        // sequential shape (the checker has rejected it already), a stuck
        // state for the model checker.
        let on_cycle = match shape {
            Shape::Sequential => END,
            Shape::Interleaved => stuck.unwrap_or_else(|| {
                m.states.push(State::new(Op::Stuck, Loc::default()));
                StateId::from_index(m.states.len() - 1)
            }),
        };
        m.resolve_gotos(on_cycle);
        Ok(m)
    }

    /// Follows `Goto` chains (bounded, so a malformed cycle ends at `END`).
    pub fn resolve(&self, id: StateId) -> StateId {
        self.resolve_or(id, END)
    }

    fn resolve_or(&self, mut id: StateId, on_cycle: StateId) -> StateId {
        for _ in 0..=self.states.len() {
            match self.state(id).map(|s| &s.op) {
                Some(Op::Goto(target)) => id = *target,
                Some(_) => return id,
                None => return END,
            }
        }
        on_cycle
    }

    fn resolve_gotos(&mut self, on_cycle: StateId) {
        let resolved: Vec<StateId> = (0..self.states.len())
            .map(|i| self.resolve_or(StateId::from_index(i), on_cycle))
            .collect();
        let r = |id: &mut StateId| *id = resolved.get(id.index()).copied().unwrap_or(END);
        for state in &mut self.states {
            if let Some(a) = state.abandon.as_mut() {
                r(a)
            }
            match &mut state.op {
                Op::End | Op::Goto(_) | Op::Link { .. } | Op::DelegateTo { .. } | Op::Stuck => {}
                Op::Send { next, .. }
                | Op::Recv { next, .. }
                | Op::SendAll { next, .. }
                | Op::RecvAll { next, .. }
                | Op::Exchange { next, .. }
                | Op::AcceptFrom { next, .. } => r(next),
                Op::Select { branches } => branches.iter_mut().for_each(|(_, s)| r(s)),
                Op::Branch { arms, .. } => arms.iter_mut().for_each(|(_, s)| r(s)),
                Op::Timeout { body, handler, .. } => {
                    r(body);
                    r(handler)
                }
                Op::Par { branches, next } => {
                    branches.iter_mut().for_each(r);
                    r(next)
                }
            }
        }
        self.entry = resolved.get(self.entry.index()).copied().unwrap_or(END);
        self.loops.iter_mut().for_each(|(_, s)| r(s));
        self.timeout_exits.values_mut().for_each(|e| {
            r(&mut e.next);
            r(&mut e.handler_alone)
        });
    }

    /// One state.
    pub fn state(&self, id: StateId) -> Option<&State> {
        self.states.get(id.index())
    }

    /// Every reachable state in [`Machine::order`] with its name: `S0`,
    /// `S1`, … in that order, and `End`. The generated typestates and the
    /// local diagrams both use these names.
    pub fn state_names(&self) -> Vec<(StateId, String)> {
        self.order()
            .into_iter()
            .enumerate()
            .map(|(n, id)| {
                let name = if id == END {
                    "End".to_string()
                } else {
                    format!("S{n}")
                };
                (id, name)
            })
            .collect()
    }

    /// How many `timeout` bodies `id` is inside (the handlers it may
    /// abandon to, innermost first, counted out to the outermost).
    pub fn body_depth(&self, id: StateId) -> usize {
        let mut depth = 0;
        let mut at = self.state(id).and_then(|s| s.abandon);
        while let Some(h) = at {
            depth += 1;
            if depth > self.states.len() {
                break;
            }
            at = self.state(h).and_then(|s| s.abandon);
        }
        depth
    }

    /// True if `id` is a `timeout` whose body (this role's part of it)
    /// contains another `timeout`. The runtime is told so on entering the
    /// body (`Session::start_nesting_body_at`): a peer's handler message of
    /// the next instance may then be the nested timeout's, not a looped
    /// timeout's next iteration.
    pub fn nests_timeout(&self, id: StateId) -> bool {
        let Some(Op::Timeout { body, .. }) = self.state(id).map(|s| &s.op) else {
            return false;
        };
        let outer = self.body_depth(id);
        let mut seen = vec![false; self.states.len()];
        let mut stack = vec![self.resolve(*body)];
        while let Some(at) = stack.pop() {
            let Some(visited) = seen.get_mut(at.index()) else {
                continue;
            };
            if at == END || *visited || self.body_depth(at) <= outer {
                continue;
            }
            *visited = true;
            if matches!(self.state(at).map(|s| &s.op), Some(Op::Timeout { .. })) {
                return true;
            }
            stack.extend(self.successors(at));
        }
        false
    }

    /// The states this role reaches right after completing a `timeout`'s
    /// body when its block is followed by more (a `choice` branch ending
    /// in the timeout, then the statements after the `choice`), each with
    /// the timeouts whose body leads there: until the state's operation
    /// acts, a peer may still start the completed body's handler and this
    /// role must answer (as the model checker assumes;
    /// `Session::open_after_body`). Only states whose operation is a send
    /// or receive of any kind, reached by leaving exactly one body (the
    /// state may be inside an enclosing body, and different paths may
    /// complete different timeouts). A state reached by leaving nested
    /// bodies at once, or whose operation is something else, is left out:
    /// the runtime drops the handler message there.
    pub fn after_block_handlers(&self) -> BTreeMap<StateId, Vec<AfterBlock>> {
        let mut found: BTreeMap<StateId, Option<Vec<AfterBlock>>> = BTreeMap::new();
        let order = self.order();
        let timeouts: BTreeMap<StateId, StateId> = order
            .iter()
            .copied()
            .filter_map(|id| match self.state(id).map(|s| &s.op) {
                Some(Op::Timeout { handler, .. }) => Some((*handler, id)),
                _ => None,
            })
            .collect();
        for id in order {
            let Some(state) = self.state(id) else {
                continue;
            };
            let Some(handler) = state.abandon.filter(|h| *h != END) else {
                continue;
            };
            let Some(&timeout) = timeouts.get(&handler) else {
                continue;
            };
            let depth = self.body_depth(id);
            let exits = self
                .successors(id)
                .into_iter()
                .filter(|s| Some(*s) != state.abandon)
                .map(|s| self.resolve(s))
                .filter(|&s| s != END && self.body_depth(s) < depth);
            for next in exits {
                let answers = self.body_depth(next) + 1 == depth
                    && matches!(
                        self.state(next).map(|s| &s.op),
                        Some(
                            Op::Send { .. }
                                | Op::Recv { .. }
                                | Op::SendAll { .. }
                                | Op::RecvAll { .. }
                                | Op::Exchange { .. }
                                | Op::Branch { .. }
                        )
                    );
                let entry = found.entry(next).or_insert_with(|| Some(Vec::new()));
                match entry {
                    Some(list) if answers => {
                        let after = AfterBlock { timeout, handler };
                        if !list.contains(&after) {
                            list.push(after);
                        }
                    }
                    _ => *entry = None,
                }
            }
        }
        found
            .into_iter()
            .filter_map(|(state, list)| list.map(|l| (state, l)))
            .collect()
    }

    /// True if some send of this machine carries annotations: the role's
    /// endpoints then run on a guarded transport (the guard chain).
    pub fn is_guarded(&self) -> bool {
        self.states.iter().any(|s| match &s.op {
            Op::Send { msg, .. } | Op::SendAll { msg, .. } | Op::Exchange { msg, .. } => {
                !msg.annotations.is_empty()
            }
            _ => false,
        })
    }

    /// Successors of a state, in source order.
    pub fn successors(&self, id: StateId) -> Vec<StateId> {
        let Some(state) = self.state(id) else {
            return Vec::new();
        };
        let mut out: Vec<StateId> = match &state.op {
            Op::End | Op::Link { .. } | Op::DelegateTo { .. } | Op::Stuck => Vec::new(),
            Op::Goto(t) => vec![*t],
            Op::Send { next, .. }
            | Op::Recv { next, .. }
            | Op::SendAll { next, .. }
            | Op::RecvAll { next, .. }
            | Op::Exchange { next, .. }
            | Op::AcceptFrom { next, .. } => vec![*next],
            Op::Select { branches } => branches.iter().map(|(_, s)| *s).collect(),
            Op::Branch { arms, .. } => arms.iter().map(|(_, s)| *s).collect(),
            Op::Timeout { body, handler, .. } => vec![*body, *handler],
            Op::Par { branches, next } => {
                let mut v = branches.clone();
                v.push(*next);
                v
            }
        };
        out.extend(state.abandon);
        out
    }

    /// Reachable states in a stable forward order (entry first, then depth
    /// first in source order; `END` last). Iterative: a 10,000-message
    /// sequence needs no stack.
    pub fn order(&self) -> Vec<StateId> {
        let mut seen = vec![false; self.states.len()];
        let mut out = Vec::new();
        let mut stack = vec![self.entry];
        while let Some(id) = stack.pop() {
            if id == END || seen.get(id.index()).copied().unwrap_or(true) {
                continue;
            }
            if let Some(s) = seen.get_mut(id.index()) {
                *s = true;
            }
            out.push(id);
            stack.extend(self.successors(id).into_iter().rev());
        }
        out.push(END);
        out
    }
}

impl State {
    fn new(op: Op, loc: Loc) -> State {
        State {
            op,
            loc,
            abandon: None,
            actor: None,
        }
    }
}

struct Builder {
    shape: Shape,
    states: Vec<State>,
    recs: Vec<(String, StateId)>,
    loops: Vec<(String, StateId)>,
    abandon: Vec<StateId>,
    /// Who acts at the current position (`None`: the machine's own role).
    actor: Option<Peer>,
    /// The interleaved shape's one `Stuck` state, once needed.
    stuck: Option<StateId>,
    timeout_exits: BTreeMap<StateId, TimeoutExits>,
}

impl Builder {
    fn push(&mut self, op: Op, loc: Loc) -> StateId {
        self.states.push(State {
            op,
            loc,
            abandon: self.abandon.last().copied(),
            actor: self.actor.clone(),
        });
        StateId::from_index(self.states.len() - 1)
    }

    fn stuck(&mut self) -> StateId {
        if let Some(s) = self.stuck {
            return s;
        }
        let s = self.push(Op::Stuck, Loc::default());
        self.stuck = Some(s);
        s
    }

    /// Back to front: each action is built knowing its successor.
    fn block(&mut self, block: &[LocalAction], k: StateId) -> Result<StateId, UnboundContinue> {
        let outer = self.actor.clone();
        // `accept from R;` makes the rest of this block act as `R` (the
        // accept itself is still the block's own role receiving the handoff).
        let actors: Option<Vec<Option<Peer>>> = block
            .iter()
            .any(|a| matches!(a, LocalAction::AcceptFrom { .. }))
            .then(|| {
                let mut cur = outer.clone();
                block
                    .iter()
                    .map(|a| {
                        let here = cur.clone();
                        if let LocalAction::AcceptFrom { from, .. } = a {
                            cur = Some(from.clone());
                        }
                        here
                    })
                    .collect()
            });
        let mut next = k;
        for (i, action) in block.iter().enumerate().rev() {
            if let Some(actor) = actors.as_ref().and_then(|a| a.get(i)) {
                self.actor = actor.clone();
            }
            let built = self.action(action, next);
            self.actor = outer.clone();
            next = built?;
        }
        Ok(next)
    }

    fn action(&mut self, action: &LocalAction, next: StateId) -> Result<StateId, UnboundContinue> {
        let msg = |label: &Label, payload: &Payload| Message {
            label: label.clone(),
            payload: payload.clone(),
            annotations: Vec::new(),
        };
        let sent = |label: &Label, payload: &Payload, annotations: &[Annotation]| Message {
            annotations: annotations.to_vec(),
            ..msg(label, payload)
        };
        Ok(match action {
            LocalAction::Send {
                to,
                label,
                payload,
                annotations,
                loc,
            } => self.push(
                Op::Send {
                    to: to.clone(),
                    msg: sent(label, payload, annotations),
                    next,
                },
                *loc,
            ),
            LocalAction::Recv {
                from,
                label,
                payload,
                loc,
            } => self.push(
                Op::Recv {
                    from: from.clone(),
                    msg: msg(label, payload),
                    next,
                },
                *loc,
            ),
            LocalAction::SendAll {
                family,
                label,
                payload,
                annotations,
                loc,
            } => self.push(
                Op::SendAll {
                    family: family.clone(),
                    msg: sent(label, payload, annotations),
                    next,
                },
                *loc,
            ),
            LocalAction::RecvAll {
                family,
                label,
                payload,
                quorum,
                loc,
            } => self.push(
                Op::RecvAll {
                    family: family.clone(),
                    msg: msg(label, payload),
                    quorum: quorum.clone(),
                    next,
                },
                *loc,
            ),
            LocalAction::Exchange {
                family,
                label,
                payload,
                quorum,
                annotations,
                loc,
            } => self.push(
                Op::Exchange {
                    family: family.clone(),
                    msg: sent(label, payload, annotations),
                    quorum: quorum.clone(),
                    next,
                },
                *loc,
            ),
            LocalAction::Select { branches, loc } => {
                let mut out = Vec::with_capacity(branches.len());
                for (name, body) in branches {
                    out.push((name.clone(), self.block(body, next)?));
                }
                self.push(Op::Select { branches: out }, *loc)
            }
            LocalAction::Branch { from, arms, loc } => {
                let mut out = Vec::with_capacity(arms.len());
                for arm in arms {
                    out.push((msg(&arm.label, &arm.payload), self.block(&arm.body, next)?));
                }
                self.push(
                    Op::Branch {
                        from: from.clone(),
                        arms: out,
                    },
                    *loc,
                )
            }
            LocalAction::Rec { name, body, loc } => {
                let head = self.push(Op::Goto(END), *loc);
                self.recs.push((name.clone(), head));
                self.loops.push((name.clone(), head));
                let entry = self.block(body, next);
                self.recs.pop();
                let entry = entry?;
                if let Some(s) = self.states.get_mut(head.index()) {
                    s.op = Op::Goto(entry);
                }
                head
            }
            LocalAction::Continue { name, loc } => {
                let head = self
                    .recs
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, head)| *head);
                match (head, self.shape) {
                    (Some(head), _) => head,
                    (None, Shape::Interleaved) => self.stuck(),
                    (None, Shape::Sequential) => {
                        return Err(UnboundContinue {
                            name: name.clone(),
                            loc: *loc,
                        })
                    }
                }
            }
            LocalAction::Par { branches, loc } => match self.shape {
                Shape::Sequential => {
                    let mut k = next;
                    for branch in branches.iter().rev() {
                        k = self.block(branch, k)?;
                    }
                    k
                }
                Shape::Interleaved => {
                    let mut starts = Vec::with_capacity(branches.len());
                    for branch in branches {
                        starts.push(self.block(branch, END)?);
                    }
                    self.push(
                        Op::Par {
                            branches: starts,
                            next,
                        },
                        *loc,
                    )
                }
            },
            LocalAction::Link {
                module,
                protocol,
                args_text,
                loc,
            } => self.push(
                Op::Link {
                    module: module.clone(),
                    protocol: protocol.clone(),
                    args_text: args_text.clone(),
                },
                *loc,
            ),
            LocalAction::DelegateTo { to, loc } => {
                self.push(Op::DelegateTo { to: to.clone() }, *loc)
            }
            LocalAction::AcceptFrom { from, loc } => self.push(
                Op::AcceptFrom {
                    from: from.clone(),
                    next,
                },
                *loc,
            ),
            LocalAction::Timeout {
                millis,
                text,
                body,
                handler,
                loc,
            } => {
                let (handler_block, body_block) = (handler, body);
                let handler = self.block(handler_block, next)?;
                // Interleaved: the body ends at `END` (the model checker
                // knows where the timeout continues from its exits).
                let body_end = match self.shape {
                    Shape::Sequential => next,
                    Shape::Interleaved => END,
                };
                self.abandon.push(handler);
                let body = self.block(body_block, body_end);
                self.abandon.pop();
                let body = body?;
                let handler_alone = match self.shape {
                    Shape::Sequential => None,
                    Shape::Interleaved => Some(self.block(handler_block, END)?),
                };
                let id = self.push(
                    Op::Timeout {
                        millis: *millis,
                        text: text.clone(),
                        body,
                        handler,
                    },
                    *loc,
                );
                if let Some(handler_alone) = handler_alone {
                    self.timeout_exits.insert(
                        id,
                        TimeoutExits {
                            next,
                            handler_alone,
                        },
                    );
                }
                id
            }
        })
    }
}
