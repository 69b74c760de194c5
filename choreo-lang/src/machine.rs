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
//! `par` is sequentialised: its branches run one after the other, in source
//! order, at every role. This is sound because the language contract §3.4 forbids two
//! branches from sharing an ordered (sender, receiver) pair and sends never
//! block: each branch on its own is a deadlock-free protocol whose messages
//! no receive of another branch can claim, so every role can finish branch
//! 1 and then branch 2.

use crate::global::{Label, Loc, Payload, Size};
use crate::local::{LocalAction, LocalBlock, Peer};

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
}

#[derive(Clone, Debug)]
pub struct State {
    pub op: Op,
    pub loc: Loc,
    /// The handler entry of the innermost `timeout` whose body this state
    /// belongs to: the state may abandon the body for it.
    pub abandon: Option<StateId>,
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub states: Vec<State>,
    pub entry: StateId,
    /// Each `rec`, by name, with the state its body starts at (where its
    /// `continue`s come back), in source order.
    pub loops: Vec<(String, StateId)>,
}

/// A `continue` that names no enclosing `rec` (the checker rejects these;
/// codegen reports it rather than guessing).
#[derive(Clone, Debug)]
pub struct UnboundContinue {
    pub name: String,
    pub loc: Loc,
}

impl Machine {
    pub fn build(body: &LocalBlock) -> Result<Machine, UnboundContinue> {
        let mut b = Builder {
            states: vec![State {
                op: Op::End,
                loc: Loc::default(),
                abandon: None,
            }],
            recs: Vec::new(),
            loops: Vec::new(),
            abandon: Vec::new(),
        };
        let entry = b.block(body, END)?;
        let mut m = Machine {
            states: b.states,
            entry,
            loops: b.loops,
        };
        m.resolve_gotos();
        Ok(m)
    }

    /// Follows `Goto` chains (bounded, so a malformed cycle ends at `END`).
    pub fn resolve(&self, mut id: StateId) -> StateId {
        for _ in 0..=self.states.len() {
            match self.state(id).map(|s| &s.op) {
                Some(Op::Goto(target)) => id = *target,
                Some(_) => return id,
                None => return END,
            }
        }
        END
    }

    fn resolve_gotos(&mut self) {
        let resolved: Vec<StateId> = (0..self.states.len())
            .map(|i| self.resolve(StateId::from_index(i)))
            .collect();
        let r = |id: &mut StateId| *id = resolved.get(id.index()).copied().unwrap_or(END);
        for state in &mut self.states {
            if let Some(a) = state.abandon.as_mut() {
                r(a)
            }
            match &mut state.op {
                Op::End | Op::Goto(_) | Op::Link { .. } | Op::DelegateTo { .. } => {}
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
            }
        }
        self.entry = resolved.get(self.entry.index()).copied().unwrap_or(END);
        self.loops.iter_mut().for_each(|(_, s)| r(s));
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

    /// Successors of a state, in source order.
    pub fn successors(&self, id: StateId) -> Vec<StateId> {
        let Some(state) = self.state(id) else {
            return Vec::new();
        };
        let mut out: Vec<StateId> = match &state.op {
            Op::End | Op::Link { .. } | Op::DelegateTo { .. } => Vec::new(),
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

struct Builder {
    states: Vec<State>,
    recs: Vec<(String, StateId)>,
    loops: Vec<(String, StateId)>,
    abandon: Vec<StateId>,
}

impl Builder {
    fn push(&mut self, op: Op, loc: Loc) -> StateId {
        self.states.push(State {
            op,
            loc,
            abandon: self.abandon.last().copied(),
        });
        StateId::from_index(self.states.len() - 1)
    }

    /// Back to front: each action is built knowing its successor.
    fn block(&mut self, block: &[LocalAction], k: StateId) -> Result<StateId, UnboundContinue> {
        let mut next = k;
        for action in block.iter().rev() {
            next = self.action(action, next)?;
        }
        Ok(next)
    }

    fn action(&mut self, action: &LocalAction, next: StateId) -> Result<StateId, UnboundContinue> {
        let msg = |label: &Label, payload: &Payload| Message {
            label: label.clone(),
            payload: payload.clone(),
        };
        Ok(match action {
            LocalAction::Send {
                to,
                label,
                payload,
                loc,
                ..
            } => self.push(
                Op::Send {
                    to: to.clone(),
                    msg: msg(label, payload),
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
                loc,
                ..
            } => self.push(
                Op::SendAll {
                    family: family.clone(),
                    msg: msg(label, payload),
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
                loc,
                ..
            } => self.push(
                Op::Exchange {
                    family: family.clone(),
                    msg: msg(label, payload),
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
            LocalAction::Continue { name, loc } => self
                .recs
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, head)| *head)
                .ok_or_else(|| UnboundContinue {
                    name: name.clone(),
                    loc: *loc,
                })?,
            LocalAction::Par { branches, .. } => {
                let mut k = next;
                for branch in branches.iter().rev() {
                    k = self.block(branch, k)?;
                }
                k
            }
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
                let handler = self.block(handler, next)?;
                self.abandon.push(handler);
                let body = self.block(body, next);
                self.abandon.pop();
                let body = body?;
                self.push(
                    Op::Timeout {
                        millis: *millis,
                        text: text.clone(),
                        body,
                        handler,
                    },
                    *loc,
                )
            }
        })
    }
}
