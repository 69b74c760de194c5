//! The concrete model: participants, compiled local code and its
//! small-step semantics.
//!
//! Each participant's local type is compiled into a node graph (one arena
//! shared by all participants). A participant's state is a [`Term`]: a
//! position in that graph, refined for `par` (one term per branch),
//! `timeout` (the body's term, abandonable at any time) and gathers (the set
//! of senders already heard). Together with the participant's pending
//! drops (late quorum messages) and abandoned timeouts it forms a
//! [`LocalState`], which is interned to a `u32`; the local transitions of an
//! interned state are computed once and cached.

use super::hash::Fast;
use crate::global::{Loc, Name, Size};
use crate::local::{LocalProtocol, Peer, Target};
use crate::machine::{Machine, Op, State, StateId, END as MACHINE_END};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A role instance that can send and receive: `Initiator`, `Witness[1]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ident {
    /// The program's shared name (no copy of its text per identity).
    pub role: Name,
    pub index: Option<u64>,
}

/// The number of `role[index]` in `idents`, added if new. Found by a scan
/// of the few identities of an instance (tens at most; shared names
/// compare by pointer first), so that a look-up allocates nothing.
pub(crate) fn intern_ident(idents: &mut Vec<Ident>, role: &Name, index: Option<u64>) -> u32 {
    if let Some(i) = idents
        .iter()
        .position(|x| x.index == index && x.role == *role)
    {
        return u32::try_from(i).unwrap_or(u32::MAX);
    }
    let i = u32::try_from(idents.len()).unwrap_or(u32::MAX);
    idents.push(Ident {
        role: role.clone(),
        index,
    });
    i
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}[{i}]", self.role),
            None => f.write_str(&self.role),
        }
    }
}

/// Which part of a `timeout` a message belongs to (the runtime's envelope
/// carries it, so late body messages can be dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Phase {
    None,
    Body(u32),
    Handler(u32),
}

/// A message as the checker knows it: (name, namespace, payload, phase).
/// The parts are shared with the checked program (no copy per message);
/// the label shown in traces is formatted only when one is printed.
#[derive(Clone, Debug)]
pub(crate) struct MsgInfo {
    pub name: std::sync::Arc<str>,
    pub namespace: std::sync::Arc<str>,
    /// Canonical payload type (`()` for none; empty for the handoff).
    pub payload: std::sync::Arc<str>,
    pub phase: Phase,
    /// The endpoint handoff of a delegation (no protocol message may
    /// find it).
    handoff: bool,
}

impl MsgInfo {
    /// The label as traces show it: `Name` or `Name(payload)`.
    pub fn label(&self) -> String {
        if &*self.payload == "()" || self.payload.is_empty() {
            self.name.to_string()
        } else {
            format!("{}({})", self.name, self.payload)
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct TimeoutInfo {
    pub text: String,
    /// Phases of every message sent inside this timeout's body (nested
    /// timeouts included): dropped once a participant abandons the body.
    /// A handful at most (one per timeout nested in the body, and its
    /// handler), so a vector: a look-up is a short scan and building it
    /// allocates once.
    pub nested: Vec<Phase>,
}

/// A range of one of the world's shared lists (`World::arms`,
/// `World::ids`): a node's receive arms, gather senders or `par` branches
/// live there, so a node is plain data (no allocation per node).
pub(crate) type Span = (u32, u32);

pub(crate) const END: u32 = 0;
pub(crate) const STUCK: u32 = 1;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    End,
    /// Non-final, no transitions: an unbound or unguarded `continue`.
    Stuck,
    Skip {
        next: u32,
    },
    Send {
        from: u32,
        to: u32,
        msg: u32,
        next: u32,
    },
    /// `arms`: (from, msg, next) each, a range of `World::arms`.
    Recv {
        to: u32,
        arms: Span,
    },
    /// `senders`: a range of `World::ids`.
    Gather {
        to: u32,
        senders: Span,
        msg: u32,
        quorum: u32,
        next: u32,
    },
    Select {
        arms: Vec<(String, u32)>,
    },
    /// `starts`: a range of `World::ids`.
    Par {
        starts: Span,
        next: u32,
    },
    Timeout {
        t: u32,
        body: u32,
        handler: u32,
        /// The handler alone (ending there): how a participant that has
        /// nothing left to do answers a handler message.
        handler_alone: u32,
        next: u32,
    },
    /// Joined a linked protocol: final.
    Linked,
    Delegated,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Term {
    At(u32),
    Gather { node: u32, mask: u64 },
    Par { branches: Vec<Term>, next: u32 },
    TBody { node: u32, body: Box<Term> },
    TDone { node: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LocalState {
    pub term: Term,
    /// What is pending besides the term; `None` when nothing is (most
    /// states), never an empty `Pending`, so that equal states are equal
    /// here and a plain state is one word besides its term.
    rest: Option<Box<Pending>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pending {
    /// Late quorum messages still to be discarded: (from, to, msg), sorted.
    drops: Vec<(u32, u32, u32)>,
    /// Timeouts whose body this participant abandoned, sorted.
    abandoned: Vec<u32>,
    /// Timeouts (by node) whose body this participant finished: once it has
    /// nothing left to do it still answers their handler messages.
    finished: Vec<u32>,
}

impl LocalState {
    /// A position with nothing pending.
    pub fn plain(term: Term) -> LocalState {
        LocalState { term, rest: None }
    }

    fn new(
        term: Term,
        drops: Vec<(u32, u32, u32)>,
        abandoned: Vec<u32>,
        finished: Vec<u32>,
    ) -> LocalState {
        let rest =
            (!drops.is_empty() || !abandoned.is_empty() || !finished.is_empty()).then(|| {
                Box::new(Pending {
                    drops,
                    abandoned,
                    finished,
                })
            });
        LocalState { term, rest }
    }

    fn drops(&self) -> &[(u32, u32, u32)] {
        self.rest.as_ref().map_or(&[], |r| &r.drops)
    }

    fn abandoned(&self) -> &[u32] {
        self.rest.as_ref().map_or(&[], |r| &r.abandoned)
    }

    fn finished(&self) -> &[u32] {
        self.rest.as_ref().map_or(&[], |r| &r.finished)
    }
}

/// One local transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LAct {
    Send {
        from: u32,
        to: u32,
        msg: u32,
    },
    Recv {
        from: u32,
        to: u32,
        msg: u32,
    },
    Choose {
        node: u32,
        arm: u32,
    },
    Abandon {
        t: u32,
    },
    Switch {
        t: u32,
    },
    /// Silent progress (a quorum already met).
    Proceed,
}

#[derive(Clone, Debug)]
pub(crate) struct Participant {
    pub ident: u32,
    /// Identities this participant may act as (its own, plus any it accepts by delegation).
    pub idents: Vec<u32>,
    pub start: u32,
}

#[derive(Debug)]
struct LStep {
    act: LAct,
    term: Term,
    drops: Vec<(u32, u32, u32)>,
    abandon: Option<u32>,
    finish: Vec<u32>,
}

/// A concrete instance: which family sizes and parameter values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Instance {
    pub families: BTreeMap<String, u64>,
    pub params: BTreeMap<String, u64>,
}

impl Instance {
    pub fn describe(&self) -> String {
        // Written into one string (no string per part).
        use std::fmt::Write;
        let mut out = String::with_capacity(16 * (self.families.len() + self.params.len()));
        let mut part = |a: &str, b: &str, name: &str, value: u64| {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(a);
            out.push_str(name);
            out.push_str(b);
            let _ = write!(out, "{value}");
        };
        for (f, &n) in &self.families {
            part("|", "| = ", f, n);
        }
        for (p, &v) in &self.params {
            part("", " = ", p, v);
        }
        if out.is_empty() {
            "no families".to_string()
        } else {
            out
        }
    }
}

/// Where the cached local transitions of one interned state are in
/// `World::trans_store` (`NOT_YET`: not computed yet).
type TransRange = (u32, u32);
const NOT_YET: TransRange = (u32::MAX, u32::MAX);

/// The compiled system.
#[derive(Debug)]
pub(crate) struct World {
    pub idents: Vec<Ident>,
    /// Every message, found by a scan (an instance has tens at most).
    pub msgs: Vec<MsgInfo>,
    pub timeouts: Vec<TimeoutInfo>,
    timeout_index: HashMap<(Loc, String, u64), u32, Fast>,
    pub nodes: Vec<Node>,
    /// Every receive node's arms, one after the other (see [`Span`]).
    arms: Vec<(u32, u32, u32)>,
    /// Every gather node's senders and `par` node's branch starts.
    ids: Vec<u32>,
    /// A timeout node → the timeout whose body encloses it.
    parent_timeout: HashMap<u32, u32, Fast>,
    /// Per node: the timeout nodes whose bodies enclose it (outermost
    /// first). A step of a body to a node outside it (a `continue` to a
    /// `rec` around the timeout) completes the body.
    /// The bodies are numbered sets (`body_sets`, the first empty): nodes
    /// of one body share their set instead of each holding a copy.
    enclosing: Vec<u32>,
    body_sets: Vec<Vec<u32>>,
    /// While building: the timeout nodes whose bodies are being built,
    /// and the number of that set in `body_sets`.
    building: Vec<u32>,
    building_set: u32,
    pub participants: Vec<Participant>,
    pub instance: Instance,
    /// Per-pair conformance to the global protocol, when one is given.
    pub conform: Option<super::conform::Conformance>,
    /// (from, to) identity and the index of the pair in `conform.pairs`.
    pair_list: Vec<(u32, u32, u32)>,
    /// `pair_list` as a dense table (`from · idents + to`; `u32::MAX`: none).
    pair_table: Vec<u32>,
    /// `conform_label` of every message (`u32::MAX`: none).
    conform_labels: Vec<u32>,
    handoff: Option<u32>,
    // Interned local states and their cached transitions.
    /// Each is stored once, `local_index` holds only numbers.
    locals: Vec<LocalState>,
    local_index: super::hash::IdTable,
    /// The interned plain state `At(n)` (nothing pending) of node `n`
    /// (`u32::MAX`: none yet); every other state is in `local_index`.
    plain_at: Vec<u32>,
    /// The machine states of the run being built (`state`'s stack, shared
    /// by its recursive calls).
    chain: Vec<StateId>,
    trans: Vec<TransRange>,
    /// Every computed state's transitions, one after the other (one
    /// vector for the run instead of one allocation per local state).
    trans_store: Vec<(LAct, u32)>,
    /// Scratch for `transitions` (its steps and its result before they are
    /// shared), kept between calls so computing a state's transitions
    /// allocates only the shared result.
    step_buf: Vec<LStep>,
    trans_buf: Vec<(LAct, u32)>,
    /// The successors being worked out, before they are interned.
    pending_buf: Vec<(LAct, LocalState)>,
}

struct Cx {
    /// Enclosing timeouts: (phase id, timeout node, inside its body).
    timeouts: Vec<(u32, u32, bool)>,
}

/// One participant's machine being instantiated: which world node each
/// machine state became (`u32::MAX`: not yet), and who the participant is.
struct Inst<'m> {
    machine: &'m Machine,
    me: u32,
    nodes: Vec<u32>,
}

impl World {
    /// The system of `roles` (each local type with its interleaved
    /// [`Machine`]) in one instance: every family member gets its own copy of
    /// its local type's machine, with concrete peers. Built into the
    /// buffers of `spare` (the world of the verification's last instance)
    /// when given, so that a small instance does not allocate, grow and
    /// free its two dozen vectors again.
    pub fn build(
        spare: Option<World>,
        roles: &[(&LocalProtocol, &Machine)],
        instance: Instance,
        conform: Option<super::conform::Conformance>,
    ) -> World {
        let mut w = match spare {
            Some(mut w) => {
                w.reset(instance);
                w
            }
            None => World::empty(instance),
        };
        w.fill(roles, conform);
        w
    }

    fn empty(instance: Instance) -> World {
        World {
            idents: Vec::new(),
            msgs: Vec::new(),
            timeouts: Vec::new(),
            timeout_index: HashMap::default(),
            nodes: vec![Node::End, Node::Stuck],
            arms: Vec::new(),
            ids: Vec::new(),
            parent_timeout: HashMap::default(),
            enclosing: vec![0, 0],
            body_sets: vec![Vec::new()],
            building: Vec::new(),
            building_set: 0,
            participants: Vec::new(),
            instance,
            conform: None,
            pair_list: Vec::new(),
            pair_table: Vec::new(),
            conform_labels: Vec::new(),
            handoff: None,
            locals: Vec::with_capacity(32),
            local_index: super::hash::IdTable::with_capacity(64),
            plain_at: Vec::new(),
            chain: Vec::new(),
            trans: Vec::with_capacity(32),
            trans_store: Vec::with_capacity(64),
            step_buf: Vec::new(),
            trans_buf: Vec::new(),
            pending_buf: Vec::new(),
        }
    }

    /// Empty again for `instance`, keeping the buffers.
    fn reset(&mut self, instance: Instance) {
        self.idents.clear();
        self.msgs.clear();
        self.timeouts.clear();
        self.timeout_index.clear();
        self.nodes.clear();
        self.nodes.extend([Node::End, Node::Stuck]);
        self.arms.clear();
        self.ids.clear();
        self.parent_timeout.clear();
        self.enclosing.clear();
        self.enclosing.extend([0, 0]);
        self.body_sets.truncate(1);
        if let Some(first) = self.body_sets.first_mut() {
            first.clear();
        } else {
            self.body_sets.push(Vec::new());
        }
        self.building.clear();
        self.building_set = 0;
        self.participants.clear();
        self.instance = instance;
        self.conform = None;
        self.pair_list.clear();
        self.pair_table.clear();
        self.conform_labels.clear();
        self.handoff = None;
        self.locals.clear();
        self.local_index.clear();
        self.plain_at.clear();
        self.chain.clear();
        self.trans.clear();
        self.trans_store.clear();
        self.step_buf.clear();
        self.trans_buf.clear();
        self.pending_buf.clear();
    }

    /// Builds the system of `roles` into this (empty) world.
    fn fill(
        &mut self,
        roles: &[(&LocalProtocol, &Machine)],
        conform: Option<super::conform::Conformance>,
    ) {
        let w = self;
        // `Target::Family` stands for every member without its own local type.
        let named: HashSet<(Name, u64)> = roles
            .iter()
            .filter_map(|(l, _)| match &l.target {
                Target::Member(f, i) => Some((f.clone(), *i)),
                _ => None,
            })
            .collect();
        // Sized once: each member's copy adds a node per machine state,
        // and a `send all` or an exchange one more per recipient (a small
        // family: twice the states is room enough for most).
        let copies: usize = roles
            .iter()
            .map(|(l, m)| {
                let members = match &l.target {
                    Target::Family(f) => usize::try_from(w.family_size(f)).unwrap_or(0),
                    _ => 1,
                };
                members * m.states.len()
            })
            .sum();
        w.nodes.reserve(2 * copies);
        w.enclosing.reserve(2 * copies);
        w.arms.reserve(copies);
        w.ids.reserve(copies);
        // Which world node each machine state became, for the member being
        // built (one buffer for all of them).
        let mut slots: Vec<u32> = Vec::new();
        for (local, machine) in roles {
            let (role, indices): (&Name, Vec<Option<u64>>) = match &local.target {
                Target::Role(r) => (r, vec![None]),
                Target::Member(r, i) => (r, vec![Some(*i)]),
                Target::Family(f) => (
                    f,
                    (0..w.family_size(f))
                        .filter(|i| !named.contains(&(f.clone(), *i)))
                        .map(Some)
                        .collect(),
                ),
            };
            for index in indices {
                let me = w.ident(role, index);
                slots.clear();
                slots.resize(machine.states.len(), u32::MAX);
                let mut inst = Inst {
                    machine,
                    me,
                    nodes: std::mem::take(&mut slots),
                };
                let mut cx = Cx {
                    timeouts: Vec::new(),
                };
                let mut idents = vec![me];
                let start = w.state(&mut inst, machine.entry, &mut cx, &mut idents);
                slots = inst.nodes;
                w.participants.push(Participant {
                    ident: me,
                    idents,
                    start,
                });
            }
        }
        if let Some(conform) = conform {
            for k in 0..conform.pairs.len() {
                let Some((x, y)) = conform.pair_idents(k) else {
                    continue;
                };
                let x = w.ident(&x.role, x.index);
                let y = w.ident(&y.role, y.index);
                w.pair_list
                    .push((x, y, u32::try_from(k).unwrap_or(u32::MAX)));
            }
            w.conform = Some(conform);
        }
        // Dense look-up tables for the explorer's hot path (every send
        // asks for its pair and label).
        let ni = w.idents.len();
        w.pair_table.resize(ni * ni, u32::MAX);
        for &(x, y, k) in &w.pair_list {
            if let Some(slot) = w.pair_table.get_mut((x as usize) * ni + y as usize) {
                *slot = k;
            }
        }
        w.plain_at.resize(w.nodes.len(), u32::MAX);
        let conform = w.conform.as_ref();
        w.conform_labels.extend(w.msgs.iter().map(|info| {
            conform
                .and_then(|c| c.label_of(&info.namespace, &info.name))
                .unwrap_or(u32::MAX)
        }));
    }

    /// The conformance label of a message, if the global protocol has it.
    pub fn conform_label(&self, msg: u32) -> Option<u32> {
        match self.conform_labels.get(msg as usize) {
            Some(&l) => (l != u32::MAX).then_some(l),
            None => {
                let info = self.msgs.get(msg as usize)?;
                self.conform.as_ref()?.label_of(&info.namespace, &info.name)
            }
        }
    }

    /// The index of the conformance pair `from → to`, if the global
    /// protocol has messages on it.
    pub fn pair(&self, from: u32, to: u32) -> Option<u32> {
        let ni = self.idents.len();
        match self.pair_table.get((from as usize) * ni + to as usize) {
            Some(&k) => (k != u32::MAX).then_some(k),
            None => self
                .pair_list
                .iter()
                .find(|&&(x, y, _)| x == from && y == to)
                .map(|&(_, _, k)| k),
        }
    }

    /// True when the participant in interned state `local` might discard
    /// a message (it has late quorum messages pending or abandoned a
    /// timeout body): only then must a new state be settled.
    pub fn may_discard(&self, local: u32) -> bool {
        self.locals
            .get(local as usize)
            .is_some_and(|s| !s.drops().is_empty() || !s.abandoned().is_empty())
    }

    fn family_size(&self, family: &str) -> u64 {
        self.instance.families.get(family).copied().unwrap_or(0)
    }

    /// The number of identity `role[index]`. Found by a scan of the few
    /// identities of an instance (tens at most), so that a look-up, which
    /// every send and receive of every member makes while the world is
    /// built, allocates nothing.
    fn ident(&mut self, role: &Name, index: Option<u64>) -> u32 {
        intern_ident(&mut self.idents, role, index)
    }

    fn peer(&mut self, peer: &Peer) -> u32 {
        match peer {
            Peer::Role(r) => self.ident(r, None),
            Peer::Member(r, i) => self.ident(r, Some(*i)),
        }
    }

    /// Every member of `family` except `me` (who may not belong to it),
    /// appended to `ids`: their span there.
    fn other_members(&mut self, family: &str, me: u32) -> Span {
        let first = self.ids.len();
        // The family's shared name, found once (its members then compare
        // by pointer).
        let name = self
            .idents
            .iter()
            .find(|x| *x.role == *family)
            .map_or_else(|| Name::from(family), |x| x.role.clone());
        for i in 0..self.family_size(family) {
            let m = self.ident(&name, Some(i));
            if m != me {
                self.ids.push(m);
            }
        }
        (span_index(first), span_index(self.ids.len()))
    }

    /// The span of `arms` pushed to `self.arms`.
    fn push_arms(&mut self, arms: &[(u32, u32, u32)]) -> Span {
        let first = self.arms.len();
        self.arms.extend_from_slice(arms);
        (span_index(first), span_index(self.arms.len()))
    }

    /// A receive node's arms.
    pub fn arms_in(&self, span: Span) -> &[(u32, u32, u32)] {
        self.arms
            .get(span.0 as usize..span.1 as usize)
            .unwrap_or_default()
    }

    /// A gather node's senders, a `par` node's branch starts.
    pub fn ids_in(&self, span: Span) -> &[u32] {
        self.ids
            .get(span.0 as usize..span.1 as usize)
            .unwrap_or_default()
    }

    fn size_value(&self, size: &Size) -> u64 {
        match size {
            Size::Literal(v) => *v,
            Size::Param(p) => self
                .instance
                .params
                .get(p)
                .or_else(|| self.instance.families.get(p))
                .copied()
                .unwrap_or(u64::MAX),
        }
    }

    fn msg(
        &mut self,
        label: &crate::global::Label,
        payload: &std::sync::Arc<str>,
        phase: Phase,
    ) -> u32 {
        // Every send and receive of every member asks, and most ask for a
        // known message: a scan of the few messages, first by the shared
        // strings' pointers alone (a known message's parts are the
        // program's), then by text.
        if let Some(m) = self.msgs.iter().position(|m| {
            !m.handoff
                && m.phase == phase
                && std::sync::Arc::ptr_eq(&m.name, &label.name)
                && std::sync::Arc::ptr_eq(&m.namespace, &label.namespace)
                && std::sync::Arc::ptr_eq(&m.payload, payload)
        }) {
            return u32::try_from(m).unwrap_or(u32::MAX);
        }
        if let Some(m) = self.msgs.iter().position(|m| {
            !m.handoff
                && m.phase == phase
                && m.name == label.name
                && m.namespace == label.namespace
                && m.payload == *payload
        }) {
            return u32::try_from(m).unwrap_or(u32::MAX);
        }
        let m = u32::try_from(self.msgs.len()).unwrap_or(u32::MAX);
        self.msgs.push(MsgInfo {
            name: label.name.clone(),
            namespace: label.namespace.clone(),
            payload: payload.clone(),
            phase,
            handoff: false,
        });
        m
    }

    fn phase_msg(
        &mut self,
        label: &crate::global::Label,
        payload: &crate::global::Payload,
        cx: &Cx,
    ) -> u32 {
        let phase = match cx.timeouts.last() {
            Some(&(t, _, true)) => Phase::Body(t),
            Some(&(t, _, false)) => Phase::Handler(t),
            None => Phase::None,
        };
        for &(t, _, in_body) in &cx.timeouts {
            if in_body {
                if let Some(info) = self.timeouts.get_mut(t as usize) {
                    if !info.nested.contains(&phase) {
                        info.nested.push(phase);
                    }
                }
            }
        }
        self.msg(label, &payload.canonical, phase)
    }

    fn handoff_msg(&mut self) -> u32 {
        if let Some(m) = self.handoff {
            return m;
        }
        let m = u32::try_from(self.msgs.len()).unwrap_or(u32::MAX);
        self.msgs.push(MsgInfo {
            name: super::conform::HANDOFF.into(),
            namespace: "".into(),
            payload: "".into(),
            phase: Phase::None,
            handoff: true,
        });
        self.handoff = Some(m);
        m
    }

    fn push(&mut self, node: Node) -> u32 {
        let n = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(node);
        self.enclosing.push(self.building_set);
        n
    }

    /// Numbers the set of bodies being built (`building`): a scan of the
    /// few sets met so far.
    fn set_building(&mut self) {
        let found = self.body_sets.iter().position(|b| *b == self.building);
        let id = found.unwrap_or_else(|| {
            self.body_sets.push(self.building.clone());
            self.body_sets.len() - 1
        });
        self.building_set = u32::try_from(id).unwrap_or(0);
    }

    /// True while `term` is still inside the body of timeout node
    /// `timeout`: false once a body step went to a node outside it (a
    /// `continue` to a `rec` that encloses the timeout: the next
    /// iteration is a new run of the statement, not a body nested in the
    /// last one). `END`, `STUCK` and a `par` that has no position count
    /// as inside (`done` and the explorer handle them).
    fn inside_body(&self, term: &Term, timeout: u32) -> bool {
        let position = match term {
            Term::At(n) | Term::Gather { node: n, .. } => Some(*n),
            Term::TBody { node, .. } | Term::TDone { node } => Some(*node),
            Term::Par { branches, .. } => branches.iter().find_map(|b| match b {
                Term::At(n) | Term::Gather { node: n, .. } if *n > STUCK => Some(*n),
                Term::TBody { node, .. } | Term::TDone { node } => Some(*node),
                _ => None,
            }),
        };
        position.is_none_or(|n| {
            n <= STUCK
                || self
                    .enclosing
                    .get(n as usize)
                    .and_then(|&b| self.body_sets.get(b as usize))
                    .is_none_or(|bodies| bodies.contains(&timeout))
        })
    }

    pub fn node(&self, n: u32) -> &Node {
        self.nodes.get(n as usize).unwrap_or(&Node::Stuck)
    }
    /// Who performs a machine state's action in this participant.
    fn actor(&mut self, inst: &Inst<'_>, state: &State) -> u32 {
        match &state.actor {
            Some(peer) => self.peer(peer),
            None => inst.me,
        }
    }

    /// The world node of machine state `id` in this participant, built on
    /// first use. A run of simple states (sends, receives, collectives) is
    /// walked iteratively: every state of it gets its node number first and
    /// its content once its successor is known, so a 10,000-message
    /// sequence needs no stack; only nesting (choices, `par`, `timeout`)
    /// recurses. A `timeout`'s continuation is built before its parts, in
    /// the enclosing phase, as what follows it belongs to that phase.
    fn state(
        &mut self,
        inst: &mut Inst<'_>,
        id: StateId,
        cx: &mut Cx,
        idents: &mut Vec<u32>,
    ) -> u32 {
        let machine = inst.machine;
        // This call's part of the shared stack: `chain[base..]`.
        let base = self.chain.len();
        let mut cur = id;
        loop {
            if cur == MACHINE_END {
                break;
            }
            if inst.nodes.get(cur.index()).is_none_or(|&n| n != u32::MAX) {
                break;
            }
            let Some(state) = machine.state(cur) else {
                break;
            };
            let placeholder = self.push(Node::Stuck);
            if let Some(slot) = inst.nodes.get_mut(cur.index()) {
                *slot = placeholder;
            }
            match &state.op {
                Op::Send { next, .. }
                | Op::Recv { next, .. }
                | Op::SendAll { next, .. }
                | Op::RecvAll { next, .. }
                | Op::Exchange { next, .. }
                | Op::AcceptFrom { next, .. } => {
                    self.chain.push(cur);
                    cur = *next;
                }
                _ => {
                    self.nested(inst, cur, placeholder, cx, idents);
                    break;
                }
            }
        }
        for i in (base..self.chain.len()).rev() {
            if let Some(&sid) = self.chain.get(i) {
                self.simple(inst, sid, cx, idents);
            }
        }
        self.chain.truncate(base);
        self.node_of(inst, id)
    }

    fn node_of(&self, inst: &Inst<'_>, id: StateId) -> u32 {
        if id == MACHINE_END {
            return END;
        }
        inst.nodes.get(id.index()).copied().unwrap_or(STUCK)
    }

    fn set(&mut self, n: u32, node: Node) {
        if let Some(slot) = self.nodes.get_mut(n as usize) {
            *slot = node;
        }
    }

    /// Fills in a simple state whose successor is already numbered.
    fn simple(&mut self, inst: &Inst<'_>, id: StateId, cx: &Cx, idents: &mut Vec<u32>) {
        let Some(state) = inst.machine.state(id) else {
            return;
        };
        let at = self.node_of(inst, id);
        let me = self.actor(inst, state);
        match &state.op {
            Op::Send { to, msg, next } => {
                let to = self.peer(to);
                let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                let next = self.node_of(inst, *next);
                self.set(
                    at,
                    Node::Send {
                        from: me,
                        to,
                        msg,
                        next,
                    },
                );
            }
            Op::Recv { from, msg, next } => {
                let from = self.peer(from);
                let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                let next = self.node_of(inst, *next);
                let arms = self.push_arms(&[(from, msg, next)]);
                self.set(at, Node::Recv { to: me, arms });
            }
            Op::SendAll { family, msg, next } => {
                let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                let mut next = self.node_of(inst, *next);
                let recipients = self.other_members(family, me);
                // One send per recipient, in member order; the first is `at`.
                for i in (0..recipients.1 - recipients.0).rev() {
                    let Some(&to) = self.ids.get((recipients.0 + i) as usize) else {
                        continue;
                    };
                    let node = Node::Send {
                        from: me,
                        to,
                        msg,
                        next,
                    };
                    if i == 0 {
                        self.set(at, node);
                        return;
                    }
                    next = self.push(node);
                }
                self.set(at, Node::Skip { next });
            }
            Op::RecvAll {
                family,
                msg,
                quorum,
                next,
            } => {
                let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                let senders = self.other_members(family, me);
                let all = u64::from(senders.1 - senders.0);
                let q = quorum
                    .as_ref()
                    .map_or(all, |q| self.size_value(q).clamp(1, all.max(1)))
                    .min(all);
                let next = self.node_of(inst, *next);
                self.set(
                    at,
                    Node::Gather {
                        to: me,
                        senders,
                        msg,
                        quorum: u32::try_from(q).unwrap_or(u32::MAX),
                        next,
                    },
                );
            }
            Op::Exchange {
                family,
                msg,
                quorum,
                next,
            } => {
                let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                let others = self.other_members(family, me);
                let all = u64::from(others.1 - others.0);
                // `quorum q` counts the member's own value.
                let need = quorum
                    .as_ref()
                    .map_or(all, |q| self.size_value(q).max(1).saturating_sub(1))
                    .min(all);
                let gather = Node::Gather {
                    to: me,
                    senders: others,
                    msg,
                    quorum: u32::try_from(need).unwrap_or(u32::MAX),
                    next: self.node_of(inst, *next),
                };
                if others.0 == others.1 {
                    self.set(at, gather);
                    return;
                }
                let mut next = self.push(gather);
                for i in (0..others.1 - others.0).rev() {
                    let Some(&to) = self.ids.get((others.0 + i) as usize) else {
                        continue;
                    };
                    let node = Node::Send {
                        from: me,
                        to,
                        msg,
                        next,
                    };
                    if i == 0 {
                        self.set(at, node);
                        return;
                    }
                    next = self.push(node);
                }
            }
            Op::AcceptFrom { from, next } => {
                let from = self.peer(from);
                if !idents.contains(&from) {
                    idents.push(from);
                }
                let msg = self.handoff_msg();
                let next = self.node_of(inst, *next);
                let arms = self.push_arms(&[(from, msg, next)]);
                self.set(at, Node::Recv { to: me, arms });
            }
            _ => {}
        }
    }

    /// Builds a state with nested parts (or none) into node `at`.
    fn nested(
        &mut self,
        inst: &mut Inst<'_>,
        id: StateId,
        at: u32,
        cx: &mut Cx,
        idents: &mut Vec<u32>,
    ) {
        let machine = inst.machine;
        let Some(state) = machine.state(id) else {
            return;
        };
        let me = self.actor(inst, state);
        match &state.op {
            Op::End => self.set(at, Node::Skip { next: END }),
            Op::Stuck => {}
            Op::Goto(target) => {
                let next = self.state(inst, machine.resolve(*target), cx, idents);
                self.set(at, Node::Skip { next });
            }
            Op::Link { .. } => self.set(at, Node::Linked),
            Op::DelegateTo { to } => {
                let to = self.peer(to);
                let msg = self.handoff_msg();
                let done = self.push(Node::Delegated);
                self.set(
                    at,
                    Node::Send {
                        from: me,
                        to,
                        msg,
                        next: done,
                    },
                );
            }
            Op::Select { branches } => {
                let mut arms = Vec::with_capacity(branches.len());
                for (name, start) in branches {
                    arms.push((name.clone(), self.state(inst, *start, cx, idents)));
                }
                self.set(at, Node::Select { arms });
            }
            Op::Branch { from, arms } => {
                let from = self.peer(from);
                let mut compiled = Vec::with_capacity(arms.len());
                for (msg, start) in arms {
                    let msg = self.phase_msg(&msg.label, &msg.payload, cx);
                    let start = self.state(inst, *start, cx, idents);
                    compiled.push((from, msg, start));
                }
                let arms = self.push_arms(&compiled);
                self.set(at, Node::Recv { to: me, arms });
            }
            Op::Par { branches, next } => {
                let next = self.state(inst, *next, cx, idents);
                let mut starts = Vec::with_capacity(branches.len());
                for b in branches {
                    starts.push(self.state(inst, *b, cx, idents));
                }
                let first = self.ids.len();
                self.ids.extend_from_slice(&starts);
                let starts = (span_index(first), span_index(self.ids.len()));
                self.set(at, Node::Par { starts, next });
            }
            Op::Timeout {
                millis,
                text,
                body,
                handler,
            } => {
                let Some(exits) = machine.timeout_exits.get(&id).copied() else {
                    return;
                };
                let key = (state.loc, text.clone(), *millis);
                let t = match self.timeout_index.get(&key) {
                    Some(&t) => t,
                    None => {
                        let t = u32::try_from(self.timeouts.len()).unwrap_or(u32::MAX);
                        self.timeouts.push(TimeoutInfo {
                            text: text.clone(),
                            nested: Vec::new(),
                        });
                        self.timeout_index.insert(key, t);
                        t
                    }
                };
                if let Some(&(_, parent, true)) = cx.timeouts.last() {
                    self.parent_timeout.insert(at, parent);
                }
                let next = self.state(inst, exits.next, cx, idents);
                cx.timeouts.push((t, at, true));
                self.building.push(at);
                self.set_building();
                let body = self.state(inst, *body, cx, idents);
                self.building.pop();
                self.set_building();
                cx.timeouts.pop();
                cx.timeouts.push((t, at, false));
                let handler_alone = self.state(inst, exits.handler_alone, cx, idents);
                let handler = self.state(inst, *handler, cx, idents);
                cx.timeouts.pop();
                self.set(
                    at,
                    Node::Timeout {
                        t,
                        body,
                        handler,
                        handler_alone,
                        next,
                    },
                );
            }
            // Simple states are built by `simple`.
            Op::Send { .. }
            | Op::Recv { .. }
            | Op::SendAll { .. }
            | Op::RecvAll { .. }
            | Op::Exchange { .. }
            | Op::AcceptFrom { .. } => {}
        }
    }

    // ----- semantics -------------------------------------------------

    /// The term at node `n`, after every silent structural step.
    pub fn norm_at(&self, start: u32) -> Term {
        let mut n = start;
        let mut fuel = self.nodes.len() + 1;
        loop {
            match self.node(n) {
                Node::Skip { next } => {
                    if fuel == 0 {
                        return Term::At(STUCK);
                    }
                    fuel -= 1;
                    n = *next;
                }
                Node::Par { starts, next } => {
                    let branches: Vec<Term> = self
                        .ids_in(*starts)
                        .iter()
                        .map(|&s| self.norm_at(s))
                        .collect();
                    if let Some(l) = branches.iter().find(|b| self.linked(b)) {
                        return l.clone();
                    }
                    if branches.iter().all(|b| self.done(b)) {
                        if fuel == 0 {
                            return Term::At(STUCK);
                        }
                        fuel -= 1;
                        n = *next;
                    } else {
                        return Term::Par {
                            branches,
                            next: *next,
                        };
                    }
                }
                Node::Timeout { body, .. } => {
                    let body = self.norm_at(*body);
                    return if self.linked(&body) {
                        body
                    } else if self.done(&body) {
                        Term::TDone { node: n }
                    } else {
                        Term::TBody {
                            node: n,
                            body: Box::new(body),
                        }
                    };
                }
                Node::Gather { senders, next, .. } if senders.0 == senders.1 => {
                    if fuel == 0 {
                        return Term::At(STUCK);
                    }
                    fuel -= 1;
                    n = *next;
                }
                Node::Gather { .. } => return Term::Gather { node: n, mask: 0 },
                _ => return Term::At(n),
            }
        }
    }

    /// Finished its block (a `par` branch may join, a timeout body is complete).
    pub fn done(&self, term: &Term) -> bool {
        match term {
            Term::At(n) => matches!(self.node(*n), Node::End),
            Term::TDone { node } => match self.node(*node) {
                Node::Timeout { next, .. } => self.done(&self.norm_at(*next)),
                _ => true,
            },
            _ => false,
        }
    }

    /// Joined a linked protocol: `link` consumes the endpoint, so the whole
    /// participant ends there, whatever encloses the `link`.
    pub fn linked(&self, term: &Term) -> bool {
        matches!(term, Term::At(n) if matches!(self.node(*n), Node::Linked))
    }

    /// The participant has nothing left to do (it may still react to a
    /// timeout handler's messages).
    pub fn is_final(&self, term: &Term) -> bool {
        match term {
            Term::At(n) => matches!(self.node(*n), Node::End | Node::Linked | Node::Delegated),
            _ => self.done(term),
        }
    }

    fn steps(&self, term: &Term, out: &mut Vec<LStep>) {
        match term {
            Term::At(n) => match self.node(*n) {
                Node::Send {
                    from,
                    to,
                    msg,
                    next,
                } => out.push(LStep {
                    act: LAct::Send {
                        from: *from,
                        to: *to,
                        msg: *msg,
                    },
                    term: self.norm_at(*next),
                    drops: Vec::new(),
                    abandon: None,
                    finish: Vec::new(),
                }),
                Node::Recv { to, arms } => {
                    for &(from, msg, next) in self.arms_in(*arms) {
                        out.push(LStep {
                            act: LAct::Recv { from, to: *to, msg },
                            term: self.norm_at(next),
                            drops: Vec::new(),
                            abandon: None,
                            finish: Vec::new(),
                        });
                    }
                }
                Node::Select { arms } => {
                    for (i, (_, start)) in arms.iter().enumerate() {
                        out.push(LStep {
                            act: LAct::Choose {
                                node: *n,
                                arm: u32::try_from(i).unwrap_or(u32::MAX),
                            },
                            term: self.norm_at(*start),
                            drops: Vec::new(),
                            abandon: None,
                            finish: Vec::new(),
                        });
                    }
                }
                _ => {}
            },
            Term::Gather { node, mask } => {
                if let Node::Gather {
                    to,
                    senders,
                    msg,
                    quorum,
                    next,
                } = self.node(*node)
                {
                    let senders = self.ids_in(*senders);
                    if *quorum == 0 {
                        // An exchange with `quorum 1` holds its own value:
                        // it proceeds at once, every other value arrives late.
                        out.push(LStep {
                            act: LAct::Proceed,
                            term: self.norm_at(*next),
                            drops: senders.iter().map(|&s| (s, *to, *msg)).collect(),
                            abandon: None,
                            finish: Vec::new(),
                        });
                        return;
                    }
                    for (i, &from) in senders.iter().enumerate().take(64) {
                        let bit = 1u64 << i;
                        if mask & bit != 0 {
                            continue;
                        }
                        let m2 = mask | bit;
                        let (term, drops) = if m2.count_ones() >= *quorum {
                            let late = senders
                                .iter()
                                .enumerate()
                                .take(64)
                                .filter(|(j, _)| m2 & (1u64 << j) == 0)
                                .map(|(_, &s)| (s, *to, *msg))
                                .collect();
                            (self.norm_at(*next), late)
                        } else {
                            (
                                Term::Gather {
                                    node: *node,
                                    mask: m2,
                                },
                                Vec::new(),
                            )
                        };
                        out.push(LStep {
                            act: LAct::Recv {
                                from,
                                to: *to,
                                msg: *msg,
                            },
                            term,
                            drops,
                            abandon: None,
                            finish: Vec::new(),
                        });
                    }
                }
            }
            Term::Par { branches, next } => {
                for (i, b) in branches.iter().enumerate() {
                    let mut inner = Vec::new();
                    self.steps(b, &mut inner);
                    for st in inner {
                        if self.linked(&st.term) {
                            out.push(st);
                            continue;
                        }
                        let mut nb = branches.clone();
                        if let Some(slot) = nb.get_mut(i) {
                            *slot = st.term;
                        }
                        let term = if nb.iter().all(|b| self.done(b)) {
                            self.norm_at(*next)
                        } else {
                            Term::Par {
                                branches: nb,
                                next: *next,
                            }
                        };
                        out.push(LStep { term, ..st });
                    }
                }
            }
            Term::TBody { node, body } => {
                if let Node::Timeout { t, handler, .. } = self.node(*node) {
                    let mut inner = Vec::new();
                    self.steps(body, &mut inner);
                    for mut st in inner {
                        let term = if self.linked(&st.term) {
                            st.term.clone()
                        } else if self.done(&st.term) {
                            st.finish.push(*node);
                            Term::TDone { node: *node }
                        } else if !self.inside_body(&st.term, *node) {
                            // A `continue` left the body: it is complete,
                            // and the loop goes on outside it (a peer's
                            // handler message of this timeout still ends
                            // the next iteration's body: `Abandon`).
                            st.finish.push(*node);
                            st.term.clone()
                        } else {
                            Term::TBody {
                                node: *node,
                                body: Box::new(st.term),
                            }
                        };
                        out.push(LStep { term, ..st });
                    }
                    out.push(LStep {
                        act: LAct::Abandon { t: *t },
                        term: self.norm_at(*handler),
                        drops: Vec::new(),
                        abandon: Some(*t),
                        finish: Vec::new(),
                    });
                }
            }
            Term::TDone { node } => {
                if let Node::Timeout {
                    t, handler, next, ..
                } = self.node(*node)
                {
                    self.steps(&self.norm_at(*next), out);
                    out.push(LStep {
                        act: LAct::Switch { t: *t },
                        term: self.norm_at(*handler),
                        drops: Vec::new(),
                        abandon: Some(*t),
                        finish: Vec::new(),
                    });
                }
            }
        }
    }

    pub fn intern(&mut self, state: LocalState) -> u32 {
        // Most local states are a plain position (no par, timeout or
        // gather; nothing to drop, abandoned or finished): found by their
        // node in a dense table, without hashing or comparing terms. Such
        // a state is only ever looked up there, so each is interned once.
        if let Term::At(n) = state.term {
            if state.rest.is_none() {
                if let Some(&i) = self.plain_at.get(n as usize) {
                    if i != u32::MAX {
                        return i;
                    }
                    let i = u32::try_from(self.locals.len()).unwrap_or(u32::MAX);
                    self.locals.push(state);
                    self.trans.push(NOT_YET);
                    if let Some(slot) = self.plain_at.get_mut(n as usize) {
                        *slot = i;
                    }
                    return i;
                }
            }
        }
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = super::hash::WordHasher::default();
            state.hash(&mut h);
            h.finish()
        };
        let locals = &self.locals;
        if let Some(i) = self.local_index.find(hash, |i| {
            locals.get(i as usize).is_some_and(|s| *s == state)
        }) {
            return i;
        }
        let i = u32::try_from(self.locals.len()).unwrap_or(u32::MAX);
        self.locals.push(state);
        self.local_index.insert(hash, i);
        self.trans.push(NOT_YET);
        i
    }

    pub fn local(&self, id: u32) -> Option<&LocalState> {
        self.locals.get(id as usize)
    }

    pub fn initial(&mut self, p: usize) -> u32 {
        let start = self.participants.get(p).map_or(STUCK, |p| p.start);
        let term = self.norm_at(start);
        self.intern(LocalState::plain(term))
    }

    /// The local transitions of an interned state (computed once).
    pub fn transitions(&mut self, id: u32) -> &[(LAct, u32)] {
        let range = self.transition_range(id);
        self.transitions_in(range)
    }

    /// Where the local transitions of an interned state are (computed
    /// once): for [`World::transitions_in`], so that a caller can read
    /// them while it uses the world.
    pub fn transition_range(&mut self, id: u32) -> (u32, u32) {
        match self.trans.get(id as usize) {
            Some(&r) if r != NOT_YET => r,
            Some(_) => self.compute_transitions(id),
            None => (0, 0),
        }
    }

    /// Entry `i` of the transition store (a range's start plus an offset).
    pub fn transition_at(&self, i: usize) -> Option<(LAct, u32)> {
        self.trans_store.get(i).copied()
    }

    pub fn transitions_in(&self, range: (u32, u32)) -> &[(LAct, u32)] {
        self.trans_store
            .get(range.0 as usize..range.1 as usize)
            .unwrap_or_default()
    }

    fn compute_transitions(&mut self, id: u32) -> TransRange {
        let mut steps = std::mem::take(&mut self.step_buf);
        steps.clear();
        // The successors are worked out while the state is borrowed (no
        // copy of it), then interned in the same order.
        let mut pending = std::mem::take(&mut self.pending_buf);
        pending.clear();
        let Some(state) = self.locals.get(id as usize) else {
            return (0, 0);
        };
        self.steps(&state.term, &mut steps);
        // Nothing pending, abandoned or finished (most states): a step's
        // successor is its term alone.
        let plain = state.rest.is_none();
        for st in steps.drain(..) {
            if plain && st.drops.is_empty() && st.abandon.is_none() && st.finish.is_empty() {
                pending.push((st.act, LocalState::plain(st.term)));
                continue;
            }
            let mut drops = state.drops().to_vec();
            drops.extend(st.drops);
            drops.sort_unstable();
            let mut abandoned = state.abandoned().to_vec();
            if let Some(t) = st.abandon {
                if let Err(pos) = abandoned.binary_search(&t) {
                    abandoned.insert(pos, t);
                }
            }
            let mut finished = state.finished().to_vec();
            finished.extend(st.finish);
            finished.sort_unstable();
            finished.dedup();
            if let Some(t) = st.abandon {
                let nodes = &self.nodes;
                finished.retain(|&n| !matches!(nodes.get(n as usize), Some(Node::Timeout { t: x, .. }) if *x == t));
            }
            pending.push((st.act, LocalState::new(st.term, drops, abandoned, finished)));
        }
        // Nothing left to do: still answer the handlers of finished bodies.
        if self.done(&state.term) {
            for &node in state.finished() {
                let Node::Timeout {
                    t, handler_alone, ..
                } = *self.node(node)
                else {
                    continue;
                };
                if pending.iter().any(|(a, _)| *a == LAct::Switch { t }) {
                    continue;
                }
                let mut abandoned = state.abandoned().to_vec();
                if let Err(pos) = abandoned.binary_search(&t) {
                    abandoned.insert(pos, t);
                }
                // Back inside the bodies of the enclosing timeouts.
                let mut term = self.norm_at(handler_alone);
                let mut reentered = vec![node];
                let mut cur = node;
                while let Some(&parent) = self.parent_timeout.get(&cur) {
                    if !self.linked(&term) && !self.done(&term) {
                        term = Term::TBody {
                            node: parent,
                            body: Box::new(term),
                        };
                    }
                    reentered.push(parent);
                    cur = parent;
                }
                let finished = state
                    .finished()
                    .iter()
                    .copied()
                    .filter(|n| !reentered.contains(n))
                    .collect();
                pending.push((
                    LAct::Switch { t },
                    LocalState::new(term, state.drops().to_vec(), abandoned, finished),
                ));
            }
        }
        let mut out = std::mem::take(&mut self.trans_buf);
        out.clear();
        for (act, next) in pending.drain(..) {
            let next = self.intern(next);
            out.push((act, next));
        }
        let start = u32::try_from(self.trans_store.len()).unwrap_or(u32::MAX);
        self.trans_store.extend_from_slice(&out);
        let range = (
            start,
            u32::try_from(self.trans_store.len()).unwrap_or(u32::MAX),
        );
        self.step_buf = steps;
        self.trans_buf = out;
        self.pending_buf = pending;
        if let Some(slot) = self.trans.get_mut(id as usize) {
            *slot = range;
        }
        range
    }

    /// True when the participant in `local` discards `msg` arriving on `from → to`.
    pub fn discards(&self, local: u32, from: u32, to: u32, msg: u32) -> bool {
        let Some(state) = self.locals.get(local as usize) else {
            return false;
        };
        if state
            .drops()
            .iter()
            .any(|&(f, t, m)| f == from && t == to && m == msg)
        {
            return true;
        }
        let phase = self.msgs.get(msg as usize).map_or(Phase::None, |m| m.phase);
        phase != Phase::None
            && state.abandoned().iter().any(|&t| {
                self.timeouts
                    .get(t as usize)
                    .is_some_and(|info| info.nested.contains(&phase))
            })
    }

    /// The local state after the runtime discarded `msg` on `from → to`
    /// (a pending quorum drop is used up; a phase drop changes nothing).
    pub fn consume_drop(&mut self, local: u32, from: u32, to: u32, msg: u32) -> u32 {
        let Some(state) = self.locals.get(local as usize) else {
            return local;
        };
        let Some(pos) = state
            .drops()
            .iter()
            .position(|&(f, t, m)| f == from && t == to && m == msg)
        else {
            return local;
        };
        let mut drops = state.drops().to_vec();
        drops.remove(pos);
        let next = LocalState::new(
            state.term.clone(),
            drops,
            state.abandoned().to_vec(),
            state.finished().to_vec(),
        );
        self.intern(next)
    }

    pub fn phase(&self, msg: u32) -> Phase {
        self.msgs.get(msg as usize).map_or(Phase::None, |m| m.phase)
    }

    pub fn ident_name(&self, i: u32) -> String {
        self.idents
            .get(i as usize)
            .map_or_else(|| format!("#{i}"), ToString::to_string)
    }

    pub fn msg_label(&self, m: u32) -> String {
        self.msgs
            .get(m as usize)
            .map_or_else(|| format!("#{m}"), MsgInfo::label)
    }

    pub fn timeout_text(&self, t: u32) -> String {
        self.timeouts
            .get(t as usize)
            .map_or_else(String::new, |i| i.text.clone())
    }

    pub fn branch_name(&self, node: u32, arm: u32) -> String {
        match self.node(node) {
            Node::Select { arms } => arms
                .get(arm as usize)
                .map_or_else(String::new, |(n, _)| n.clone()),
            _ => String::new(),
        }
    }

    /// What the participant in `local` is waiting for, for deadlock reports.
    pub fn describe_wait(&mut self, local: u32) -> String {
        let trans = self.transitions(local).to_vec();
        let mut waits: Vec<String> = Vec::new();
        for (act, _) in trans.iter() {
            if let LAct::Recv { from, msg, .. } = act {
                let s = format!("{} from {}", self.msg_label(*msg), self.ident_name(*from));
                if !waits.contains(&s) {
                    waits.push(s);
                }
            }
        }
        let linked = match self.local(local).map(|s| &s.term) {
            Some(Term::At(n)) => match self.node(*n) {
                Node::Stuck => Some("an unbound or unguarded `continue`".to_string()),
                _ => None,
            },
            _ => None,
        };
        if let Some(l) = linked {
            return l;
        }
        if waits.is_empty() {
            "nothing it can do".to_string()
        } else {
            format!("waits for {}", waits.join(" or "))
        }
    }
}

/// An index into one of the world's lists as a [`Span`] end.
fn span_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
