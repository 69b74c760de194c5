//! Conformance to the global protocol, per channel.
//!
//! For every ordered pair of participants (X, Y), the global protocol
//! defines a language of label sequences X may send to Y: the projection of
//! its runs onto that pair (choices are unions, `rec` loops, `par` branches
//! may come in either order, a `timeout` body may be cut at any point and
//! followed by its handler, a `link` ends everything). The composed system
//! must only ever send, on each pair, a prefix of a word of that language.
//! The check is sound (it never rejects a run the global protocol allows)
//! but incomplete: it does not relate the orders of different pairs.
//!
//! The languages are an epsilon-NFA over the global protocol, determinised
//! lazily per pair; the explorer keeps one subset id per tracked pair in
//! each global state.

use super::hash::{hash_words, Fast, IdTable};
use super::model::Ident;
use crate::global::{GStmt, GlobalProtocol, Participant};
use std::collections::{BTreeMap, HashMap};

/// A label as the global protocol names it: (namespace, name).
pub(crate) type LabelKey = (String, String);

pub(crate) const HANDOFF: &str = "⟨endpoint handoff⟩";

/// A message on one pair: (sender, receiver, label); participants are
/// numbered in `Conformance::idents`.
type Event = (u32, u32, u32);

#[derive(Debug, Default)]
struct NfaNode {
    eps: Vec<u32>,
    /// (events on pairs, target): a statement's messages, one per pair.
    edges: Vec<(Vec<Event>, u32)>,
}

#[derive(Debug, Default)]
pub(crate) struct Conformance {
    nodes: Vec<NfaNode>,
    /// Every label, in number order (found by a scan: a protocol has
    /// few, and a scan builds no key).
    label_keys: Vec<LabelKey>,
    /// The participants the events name (numbers, so that building and
    /// stepping the automaton compares and copies no names).
    idents: Vec<Ident>,
    /// Tracked pairs, sorted by identity; a global state holds one subset
    /// id per pair.
    pub pairs: Vec<(u32, u32)>,
    /// Determinised states: each a sorted set of NFA nodes, stored once,
    /// one after the other in `subset_words` (subset `i` is
    /// `subset_words[subset_starts[i]..subset_starts[i + 1]]`), and found
    /// through `subset_index` by hash.
    subset_words: Vec<u32>,
    subset_starts: Vec<usize>,
    subset_index: IdTable,
    steps: HashMap<(u32, u32, u32), u32, Fast>,
    start: u32,
    /// Scratch for `closure` (which nodes it has seen, its stack of nodes
    /// to visit, seeded by the caller, and its result), kept between calls
    /// so that a closure allocates nothing.
    seen: Vec<bool>,
    stack: Vec<u32>,
    closed: Vec<u32>,
    /// Scratch for the members of a message statement's sender and
    /// receiver.
    froms: Vec<u32>,
    tos: Vec<u32>,
}

impl Conformance {
    pub fn build(protocol: &GlobalProtocol, families: &BTreeMap<String, u64>) -> Conformance {
        let mut c = Conformance {
            subset_starts: vec![0],
            ..Conformance::default()
        };
        // About one node per statement, two for a choice, rec or timeout.
        c.nodes.reserve(2 * statement_count(&protocol.body) + 1);
        c.nodes.push(NfaNode::default());
        c.start = 0;
        let mut recs = Vec::new();
        c.block(&protocol.body, 0, families, &mut recs);
        let mut pairs: Vec<(u32, u32)> = c
            .nodes
            .iter()
            .flat_map(|n| n.edges.iter())
            .flat_map(|(events, _)| events.iter().map(|&(x, y, _)| (x, y)))
            .collect();
        let idents = &c.idents;
        let name = |i: u32| idents.get(i as usize);
        pairs.sort_by(|a, b| (name(a.0), name(a.1)).cmp(&(name(b.0), name(b.1))));
        pairs.dedup();
        c.pairs = pairs;
        c
    }

    /// The identities of tracked pair `k`.
    pub fn pair_idents(&self, k: usize) -> Option<(&Ident, &Ident)> {
        let &(x, y) = self.pairs.get(k)?;
        Some((self.idents.get(x as usize)?, self.idents.get(y as usize)?))
    }

    /// The number of `role[index]` (a scan: an instance has few).
    fn ident(&mut self, role: &str, index: Option<u64>) -> u32 {
        super::model::intern_ident(&mut self.idents, role, index)
    }

    fn node(&mut self) -> u32 {
        let n = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(NfaNode::default());
        n
    }

    fn eps(&mut self, from: u32, to: u32) {
        if let Some(n) = self.nodes.get_mut(from as usize) {
            n.eps.push(to);
        }
    }

    fn label(&mut self, namespace: &str, name: &str) -> u32 {
        if let Some(l) = self
            .label_keys
            .iter()
            .position(|(ns, n)| n == name && ns == namespace)
        {
            return u32::try_from(l).unwrap_or(u32::MAX);
        }
        let l = u32::try_from(self.label_keys.len()).unwrap_or(u32::MAX);
        self.label_keys.push((namespace.into(), name.into()));
        l
    }

    pub fn label_of(&self, namespace: &str, name: &str) -> Option<u32> {
        let l = self
            .label_keys
            .iter()
            .position(|(ns, n)| n == name && ns == namespace)?;
        u32::try_from(l).ok()
    }

    /// The identities `p` stands for, into `out` (cleared first).
    fn members(&mut self, p: &Participant, families: &BTreeMap<String, u64>, out: &mut Vec<u32>) {
        out.clear();
        match p {
            Participant::Role(r) => out.push(self.ident(r, None)),
            Participant::Member(r, i) => out.push(self.ident(r, Some(*i))),
            Participant::All(r) => {
                for i in 0..families.get(r.as_str()).copied().unwrap_or(0) {
                    out.push(self.ident(r, Some(i)));
                }
            }
        }
    }

    /// The sender's and the receiver's identities of a statement, in the
    /// scratch vectors (`take_members` hands them out, `give_members`
    /// back).
    fn take_members(
        &mut self,
        from: &Participant,
        to: &Participant,
        families: &BTreeMap<String, u64>,
    ) -> (Vec<u32>, Vec<u32>) {
        let (mut froms, mut tos) = (
            std::mem::take(&mut self.froms),
            std::mem::take(&mut self.tos),
        );
        self.members(from, families, &mut froms);
        self.members(to, families, &mut tos);
        (froms, tos)
    }

    fn give_members(&mut self, (froms, tos): (Vec<u32>, Vec<u32>)) {
        (self.froms, self.tos) = (froms, tos);
    }

    fn block(
        &mut self,
        stmts: &[GStmt],
        entry: u32,
        families: &BTreeMap<String, u64>,
        recs: &mut Vec<(String, u32)>,
    ) -> u32 {
        let mut cur = entry;
        for s in stmts {
            cur = self.stmt(s, cur, families, recs);
        }
        cur
    }

    fn stmt(
        &mut self,
        s: &GStmt,
        cur: u32,
        families: &BTreeMap<String, u64>,
        recs: &mut Vec<(String, u32)>,
    ) -> u32 {
        match s {
            GStmt::Message(m) => {
                let label = self.label(&m.label.namespace, &m.label.name);
                let (froms, tos) = self.take_members(&m.from, &m.to, families);
                let mut events = Vec::with_capacity(froms.len() * tos.len());
                for &f in &froms {
                    for &t in &tos {
                        if f != t {
                            events.push((f, t, label));
                        }
                    }
                }
                self.give_members((froms, tos));
                let next = self.node();
                if let Some(n) = self.nodes.get_mut(cur as usize) {
                    n.edges.push((events, next));
                }
                next
            }
            GStmt::Delegate { from, to, .. } => {
                let label = self.label("", HANDOFF);
                let (froms, tos) = self.take_members(from, to, families);
                let mut events = Vec::with_capacity(froms.len() * tos.len());
                for &f in &froms {
                    for &t in &tos {
                        events.push((f, t, label));
                    }
                }
                self.give_members((froms, tos));
                let next = self.node();
                if let Some(n) = self.nodes.get_mut(cur as usize) {
                    n.edges.push((events, next));
                }
                next
            }
            GStmt::Choice { branches, .. } => {
                let out = self.node();
                for b in branches {
                    let e = self.node();
                    self.eps(cur, e);
                    let x = self.block(&b.body, e, families, recs);
                    self.eps(x, out);
                }
                out
            }
            GStmt::Rec { name, body, .. } => {
                let entry = self.node();
                self.eps(cur, entry);
                recs.push((name.clone(), entry));
                let x = self.block(body, entry, families, recs);
                recs.pop();
                x
            }
            GStmt::Continue { name, .. } => {
                if let Some(&(_, entry)) = recs.iter().rev().find(|(n, _)| n == name) {
                    self.eps(cur, entry);
                }
                self.node()
            }
            GStmt::Par { branches, .. } => {
                let out = self.node();
                let mut orders: Vec<Vec<&Vec<GStmt>>> = vec![branches.iter().collect()];
                if branches.len() > 1 {
                    orders.push(branches.iter().rev().collect());
                }
                for order in orders {
                    let mut x = self.node();
                    self.eps(cur, x);
                    for b in order {
                        x = self.block(b, x, families, recs);
                    }
                    self.eps(x, out);
                }
                out
            }
            GStmt::Link { .. } => self.node(),
            GStmt::Timeout { body, handler, .. } => {
                let handler_entry = self.node();
                let body_entry = self.node();
                self.eps(cur, body_entry);
                let first = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                let body_exit = self.block(body, body_entry, families, recs);
                let last = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                // The body may be abandoned at any point, also once finished.
                self.eps(body_entry, handler_entry);
                for n in first..last {
                    self.eps(n, handler_entry);
                }
                let handler_exit = self.block(handler, handler_entry, families, recs);
                let out = self.node();
                self.eps(body_exit, out);
                self.eps(handler_exit, out);
                out
            }
        }
    }

    /// Closure for one pair (epsilon edges and edges with no event on it)
    /// of the nodes in `self.stack`, sorted into `self.closed`.
    fn closure(&mut self, pair: (u32, u32)) {
        let mut seen = std::mem::take(&mut self.seen);
        let mut stack = std::mem::take(&mut self.stack);
        let mut out = std::mem::take(&mut self.closed);
        seen.clear();
        seen.resize(self.nodes.len(), false);
        out.clear();
        while let Some(n) = stack.pop() {
            match seen.get_mut(n as usize) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            out.push(n);
            if let Some(node) = self.nodes.get(n as usize) {
                stack.extend(node.eps.iter().copied());
                for (events, target) in &node.edges {
                    if !events.iter().any(|(x, y, _)| *x == pair.0 && *y == pair.1) {
                        stack.push(*target);
                    }
                }
            }
        }
        out.sort_unstable();
        self.seen = seen;
        self.stack = stack;
        self.closed = out;
    }

    /// The nodes of subset `s`.
    fn subset_nodes(&self, s: u32) -> Option<&[u32]> {
        let s = s as usize;
        let (&a, &b) = (self.subset_starts.get(s)?, self.subset_starts.get(s + 1)?);
        self.subset_words.get(a..b)
    }

    /// The number of the subset in `self.closed`, added if new.
    fn subset(&mut self) -> u32 {
        let nodes = &self.closed;
        let hash = hash_words(nodes);
        if let Some(s) = self
            .subset_index
            .find(hash, |i| self.subset_nodes(i) == Some(nodes.as_slice()))
        {
            return s;
        }
        let s = u32::try_from(self.subset_starts.len() - 1).unwrap_or(u32::MAX);
        self.subset_words.extend_from_slice(nodes);
        self.subset_starts.push(self.subset_words.len());
        self.subset_index.insert(hash, s);
        s
    }

    /// The initial subset of every tracked pair.
    pub fn initial(&mut self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.pairs.len());
        for k in 0..self.pairs.len() {
            let Some(&pair) = self.pairs.get(k) else {
                continue;
            };
            self.stack.clear();
            self.stack.push(self.start);
            self.closure(pair);
            out.push(self.subset());
        }
        out
    }

    /// After pair `k` (index into `pairs`) in subset `s` carries `label`:
    /// the next subset, or `None` when the global protocol does not allow it.
    pub fn step(&mut self, k: u32, s: u32, label: u32) -> Option<u32> {
        if let Some(&n) = self.steps.get(&(k, s, label)) {
            return (n != u32::MAX).then_some(n);
        }
        let pair = *self.pairs.get(k as usize)?;
        let mut targets = std::mem::take(&mut self.stack);
        targets.clear();
        for &n in self.subset_nodes(s)? {
            if let Some(node) = self.nodes.get(n as usize) {
                for (events, target) in &node.edges {
                    if events
                        .iter()
                        .any(|(x, y, l)| *x == pair.0 && *y == pair.1 && *l == label)
                    {
                        targets.push(*target);
                    }
                }
            }
        }
        let empty = targets.is_empty();
        self.stack = targets;
        let next = if empty {
            u32::MAX
        } else {
            self.closure(pair);
            self.subset()
        };
        self.steps.insert((k, s, label), next);
        (next != u32::MAX).then_some(next)
    }

    /// The labels pair `k` may carry next from subset `s`.
    pub fn expected(&self, k: u32, s: u32) -> Vec<String> {
        let Some(&pair) = self.pairs.get(k as usize) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for &n in self.subset_nodes(s).unwrap_or_default() {
            if let Some(node) = self.nodes.get(n as usize) {
                for (events, _) in &node.edges {
                    for (x, y, l) in events {
                        if *x == pair.0 && *y == pair.1 {
                            let name = self
                                .label_keys
                                .get(*l as usize)
                                .map(|(_, name)| name.clone())
                                .unwrap_or_default();
                            if !out.contains(&name) {
                                out.push(name);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Statements in `stmts`, nested ones included (to size the automaton).
fn statement_count(stmts: &[GStmt]) -> usize {
    stmts
        .iter()
        .map(|s| {
            1 + match s {
                GStmt::Choice { branches, .. } => {
                    branches.iter().map(|b| statement_count(&b.body)).sum()
                }
                GStmt::Rec { body, .. } => statement_count(body),
                GStmt::Par { branches, .. } => {
                    2 * branches.iter().map(|b| statement_count(b)).sum::<usize>()
                }
                GStmt::Timeout { body, handler, .. } => {
                    statement_count(body) + statement_count(handler)
                }
                _ => 0,
            }
        })
        .sum()
}
