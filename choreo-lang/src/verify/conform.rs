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

/// A label as the global protocol names it: (namespace, name), shared
/// with the checked program.
pub(crate) type LabelKey = (std::sync::Arc<str>, std::sync::Arc<str>);

pub(crate) const HANDOFF: &str = "⟨endpoint handoff⟩";

/// A message on one pair: (sender, receiver, label); participants are
/// numbered in `Conformance::idents`.
type Event = (u32, u32, u32);

/// An edge of the automaton: a statement's messages (one per pair, the
/// range `events[first..end]`) leading to `target`.
#[derive(Clone, Copy, Debug, Default)]
struct Edge {
    first: u32,
    end: u32,
    target: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Conformance {
    /// The automaton, its edges grouped by source node (every node's
    /// epsilon targets are `eps_to[eps_start[n]..eps_start[n + 1]]`, its
    /// edges likewise in `edges`; in the order they were added), so the
    /// whole automaton is a handful of vectors rather than several per
    /// node. While building, edges are collected as (source, edge) and
    /// grouped at the end.
    node_count: u32,
    eps_start: Vec<u32>,
    eps_to: Vec<u32>,
    edge_start: Vec<u32>,
    edges: Vec<Edge>,
    events: Vec<Event>,
    building_eps: Vec<(u32, u32)>,
    building_edges: Vec<(u32, Edge)>,
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
    seen: Vec<u32>,
    /// The mark of the current closure in `seen` (a node was seen by this
    /// closure when its entry equals it), so that no closure clears it.
    epoch: u32,
    stack: Vec<u32>,
    closed: Vec<u32>,
    /// Scratch for the members of a message statement's sender and
    /// receiver.
    froms: Vec<u32>,
    tos: Vec<u32>,
}

impl Conformance {
    pub fn build(protocol: &GlobalProtocol, families: &BTreeMap<String, u64>) -> Conformance {
        let mut c = Conformance::default();
        c.rebuild(protocol, families);
        c
    }

    /// The automaton of `protocol` at `families`, built into this one's
    /// buffers (an instance of other family sizes reuses them instead of
    /// freeing them and allocating its own).
    pub fn rebuild(&mut self, protocol: &GlobalProtocol, families: &BTreeMap<String, u64>) {
        let c = self;
        c.node_count = 0;
        c.eps_start.clear();
        c.eps_to.clear();
        c.edge_start.clear();
        c.edges.clear();
        c.events.clear();
        c.building_eps.clear();
        c.building_edges.clear();
        c.label_keys.clear();
        c.idents.clear();
        c.pairs.clear();
        c.subset_words.clear();
        c.subset_starts.clear();
        c.subset_starts.push(0);
        c.subset_index.clear();
        c.steps.clear();
        c.seen.clear();
        c.epoch = 0;
        c.stack.clear();
        c.closed.clear();
        // About one node per statement, two for a choice, rec or timeout;
        // a subset per statement and pair is typical of a small protocol.
        let statements = statement_count(&protocol.body);
        c.building_eps.reserve(2 * statements + 1);
        c.building_edges.reserve(statements + 1);
        c.events.reserve(statements + 1);
        c.subset_starts.reserve(2 * statements + 2);
        c.subset_words.reserve(8 * statements + 8);
        c.steps.reserve(2 * statements + 2);
        c.node_count = 1;
        c.start = 0;
        let mut recs = Vec::new();
        c.block(&protocol.body, 0, families, &mut recs);
        c.group();
        // Each pair once before sorting (by name: a scan of the few seen).
        let mut pairs = std::mem::take(&mut c.pairs);
        for &(x, y, _) in &c.events {
            if !pairs.contains(&(x, y)) {
                pairs.push((x, y));
            }
        }
        let idents = &c.idents;
        let name = |i: u32| idents.get(i as usize);
        pairs.sort_by(|a, b| (name(a.0), name(a.1)).cmp(&(name(b.0), name(b.1))));
        pairs.dedup();
        c.pairs = pairs;
    }

    /// The identities of tracked pair `k`.
    pub fn pair_idents(&self, k: usize) -> Option<(&Ident, &Ident)> {
        let &(x, y) = self.pairs.get(k)?;
        Some((self.idents.get(x as usize)?, self.idents.get(y as usize)?))
    }

    /// The number of `role[index]` (a scan: an instance has few).
    fn ident(&mut self, role: &crate::global::Name, index: Option<u64>) -> u32 {
        super::model::intern_ident(&mut self.idents, role, index)
    }

    fn node(&mut self) -> u32 {
        let n = self.node_count;
        self.node_count = n.saturating_add(1);
        n
    }

    fn eps(&mut self, from: u32, to: u32) {
        self.building_eps.push((from, to));
    }

    /// An edge from `from` to `target` with the events pushed to `events`
    /// since `first`.
    fn edge(&mut self, from: u32, first: usize, target: u32) {
        let first = u32::try_from(first).unwrap_or(u32::MAX);
        let end = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.building_edges
            .push((from, Edge { first, end, target }));
    }

    /// Groups the edges collected while building by source node (stable:
    /// each node keeps its edges in the order they were added).
    fn group(&mut self) {
        let n = self.node_count as usize;
        let mut cursor = std::mem::take(&mut self.stack);
        group_by_source(
            n,
            &self.building_eps,
            &mut self.eps_start,
            &mut self.eps_to,
            &mut cursor,
        );
        group_by_source(
            n,
            &self.building_edges,
            &mut self.edge_start,
            &mut self.edges,
            &mut cursor,
        );
        cursor.clear();
        self.stack = cursor;
    }

    /// The epsilon targets of node `n`.
    fn eps_of(&self, n: u32) -> &[u32] {
        of_source(&self.eps_start, &self.eps_to, n)
    }

    /// The edges of node `n`.
    fn edges_of(&self, n: u32) -> &[Edge] {
        of_source(&self.edge_start, &self.edges, n)
    }

    /// The events of an edge.
    fn events_of(&self, e: &Edge) -> &[Event] {
        self.events
            .get(e.first as usize..e.end as usize)
            .unwrap_or_default()
    }

    fn label(&mut self, namespace: &std::sync::Arc<str>, name: &std::sync::Arc<str>) -> u32 {
        if let Some(l) = self
            .label_keys
            .iter()
            .position(|(ns, n)| n == name && ns == namespace)
        {
            return u32::try_from(l).unwrap_or(u32::MAX);
        }
        let l = u32::try_from(self.label_keys.len()).unwrap_or(u32::MAX);
        self.label_keys.push((namespace.clone(), name.clone()));
        l
    }

    /// The label of a delegation's endpoint handoff.
    fn handoff_label(&mut self) -> u32 {
        if let Some(l) = self.label_of("", HANDOFF) {
            return l;
        }
        let l = u32::try_from(self.label_keys.len()).unwrap_or(u32::MAX);
        self.label_keys.push(("".into(), HANDOFF.into()));
        l
    }

    pub fn label_of(&self, namespace: &str, name: &str) -> Option<u32> {
        let l = self
            .label_keys
            .iter()
            .position(|(ns, n)| **n == *name && **ns == *namespace)?;
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
                let first = self.events.len();
                for &f in &froms {
                    for &t in &tos {
                        if f != t {
                            self.events.push((f, t, label));
                        }
                    }
                }
                self.give_members((froms, tos));
                let next = self.node();
                self.edge(cur, first, next);
                next
            }
            GStmt::Delegate { from, to, .. } => {
                let label = self.handoff_label();
                let (froms, tos) = self.take_members(from, to, families);
                let first = self.events.len();
                for &f in &froms {
                    for &t in &tos {
                        self.events.push((f, t, label));
                    }
                }
                self.give_members((froms, tos));
                let next = self.node();
                self.edge(cur, first, next);
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
                let first = self.node_count;
                let body_exit = self.block(body, body_entry, families, recs);
                let last = self.node_count;
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
        seen.resize(self.node_count as usize, 0);
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            seen.fill(0);
            self.epoch = 1;
        }
        let epoch = self.epoch;
        out.clear();
        while let Some(n) = stack.pop() {
            match seen.get_mut(n as usize) {
                Some(s) if *s != epoch => *s = epoch,
                _ => continue,
            }
            out.push(n);
            stack.extend_from_slice(self.eps_of(n));
            for e in self.edges_of(n) {
                if !self
                    .events_of(e)
                    .iter()
                    .any(|(x, y, _)| *x == pair.0 && *y == pair.1)
                {
                    stack.push(e.target);
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

    /// The initial subset of every tracked pair, appended to `out`.
    pub fn initial_into(&mut self, out: &mut Vec<u32>) {
        for k in 0..self.pairs.len() {
            let Some(&pair) = self.pairs.get(k) else {
                continue;
            };
            self.stack.clear();
            self.stack.push(self.start);
            self.closure(pair);
            out.push(self.subset());
        }
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
            for e in self.edges_of(n) {
                if self
                    .events_of(e)
                    .iter()
                    .any(|(x, y, l)| *x == pair.0 && *y == pair.1 && *l == label)
                {
                    targets.push(e.target);
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
            {
                for e in self.edges_of(n) {
                    for (x, y, l) in self.events_of(e) {
                        if *x == pair.0 && *y == pair.1 {
                            let name = self
                                .label_keys
                                .get(*l as usize)
                                .map(|(_, name)| name.to_string())
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

/// Groups `entries` (source node, item) by source for nodes `0..n`: the
/// items of node `m` end up in `items[start[m]..start[m + 1]]`, in the
/// order they were added. A counting sort (stable, no sort buffer): the
/// starts are the counts summed, a cursor per node places each item.
fn group_by_source<T: Copy + Default>(
    n: usize,
    entries: &[(u32, T)],
    start: &mut Vec<u32>,
    items: &mut Vec<T>,
    cursor: &mut Vec<u32>,
) {
    starts(n, entries.iter().map(|&(from, _)| from), start);
    cursor.clear();
    cursor.extend_from_slice(start.get(..n).unwrap_or_default());
    items.clear();
    items.resize(entries.len(), T::default());
    for &(from, item) in entries {
        if let Some(c) = cursor.get_mut(from as usize) {
            if let Some(slot) = items.get_mut(*c as usize) {
                *slot = item;
            }
            *c += 1;
        }
    }
}

/// The items of node `n` grouped by [`group_by_source`].
fn of_source<'a, T>(start: &[u32], items: &'a [T], n: u32) -> &'a [T] {
    let n = n as usize;
    match (start.get(n), start.get(n + 1)) {
        (Some(&a), Some(&b)) => items.get(a as usize..b as usize).unwrap_or_default(),
        _ => &[],
    }
}

/// Where each node's entries start in a list sorted by node (`n + 1`
/// entries, the last the list's length), into `out`.
fn starts(n: usize, sources: impl Iterator<Item = u32>, out: &mut Vec<u32>) {
    out.clear();
    out.resize(n + 1, 0);
    for from in sources {
        if let Some(c) = out.get_mut(from as usize + 1) {
            *c += 1;
        }
    }
    let mut sum = 0u32;
    for c in out.iter_mut() {
        sum += *c;
        *c = sum;
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
