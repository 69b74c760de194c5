//! Diagrams (`choreo graph`): the global protocol as a mermaid sequence
//! diagram or a Graphviz flow graph, and a local type as a state machine
//! (a [`petgraph::Graph`]) rendered as a mermaid `stateDiagram-v2` or DOT.
//!
//! The local state machine is a view of the [`crate::machine`] phase, the
//! automaton code generation reads: its states are the generated typestates
//! and carry their names (`S0`, `S1`, …, `End`), and its transitions are
//! their methods. [`local_state_machine`] returns states ([`LocalState`])
//! and transitions ([`Transition`]) that other tools can walk. Its shape:
//!
//! - the entry state is [`StateKind::Start`], `End` is [`StateKind::End`]
//!   (one state when the role does nothing);
//! - every communication (`send`, `recv`, `send all`, …) is one transition;
//! - `select` has one [`Transition::Select`] per branch, `branch` one
//!   [`Transition::Recv`] per arm; the arms rejoin at the state after the
//!   block;
//! - `rec X` marks the state where its body starts (`LocalState::loops`);
//!   the transition before `continue X` goes back to that state;
//! - `par` branches follow one another in source order, as the generated
//!   code runs them;
//! - a `timeout` state has a [`Transition::TimeoutBody`] into its body and a
//!   [`Transition::Deadline`] to the handler (every state of the body may
//!   also `abandon` to the handler; those edges are not drawn);
//! - `link` and `delegate to` lead to `End`: the role's part ends there.

use std::fmt::{self, Write as _};

use std::collections::HashMap;

use petgraph::graph::{Graph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::global::{GStmt, GlobalProtocol, Label, Participant, Payload, Size};
use crate::local::{LocalProtocol, Peer};
use crate::machine::{Machine, Message, Op, StateId, END};

/// What a state of a local state machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Where the role starts (exactly one; also `End` when it does nothing).
    Start,
    /// An intermediate state.
    Step,
    /// Where the role has finished its part (exactly one).
    End,
}

/// A state of a local state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalState {
    /// The generated typestate's name (`S0`, …, `End`).
    pub name: String,
    pub kind: StateKind,
    /// The `rec` loops whose body starts here (their `continue`s come back).
    pub loops: Vec<String>,
}

/// A transition of a local state machine: one local action, or the choice
/// between a `timeout`'s body and its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    Send {
        to: Peer,
        label: Label,
        payload: Payload,
    },
    Recv {
        from: Peer,
        label: Label,
        payload: Payload,
    },
    SendAll {
        family: String,
        label: Label,
        payload: Payload,
    },
    RecvAll {
        family: String,
        label: Label,
        payload: Payload,
        quorum: Option<Size>,
    },
    Exchange {
        family: String,
        label: Label,
        payload: Payload,
        quorum: Option<Size>,
    },
    /// The chooser picks this branch (then sends its first message).
    Select {
        branch: String,
    },
    Link {
        protocol: String,
        args_text: String,
    },
    DelegateTo {
        to: Peer,
    },
    AcceptFrom {
        from: Peer,
    },
    /// A `timeout`'s body starts.
    TimeoutBody {
        text: String,
    },
    /// The `timeout` deadline passed (or a handler message arrived).
    Deadline {
        text: String,
    },
}

fn message(label: &Label, payload: &Payload) -> String {
    if payload.is_unit() {
        label.name.to_string()
    } else {
        format!("{}({})", label.name, payload.written)
    }
}

fn quorum(q: Option<&Size>) -> String {
    q.map(|q| format!(" quorum {q}")).unwrap_or_default()
}

impl fmt::Display for Transition {
    /// The canonical local syntax of the action (`send B L(T)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transition::Send { to, label, payload } => {
                write!(f, "send {to} {}", message(label, payload))
            }
            Transition::Recv {
                from,
                label,
                payload,
            } => write!(f, "recv {from} {}", message(label, payload)),
            Transition::SendAll {
                family,
                label,
                payload,
            } => write!(f, "send all {family} {}", message(label, payload)),
            Transition::RecvAll {
                family,
                label,
                payload,
                quorum: q,
            } => write!(
                f,
                "recv all {family} {}{}",
                message(label, payload),
                quorum(q.as_ref())
            ),
            Transition::Exchange {
                family,
                label,
                payload,
                quorum: q,
            } => write!(
                f,
                "exchange {family} {}{}",
                message(label, payload),
                quorum(q.as_ref())
            ),
            Transition::Select { branch } => write!(f, "select {branch}"),
            Transition::Link {
                protocol,
                args_text,
            } => write!(f, "link {protocol}({args_text})"),
            Transition::DelegateTo { to } => write!(f, "delegate to {to}"),
            Transition::AcceptFrom { from } => write!(f, "accept from {from}"),
            Transition::TimeoutBody { text } => write!(f, "timeout {text}: body"),
            Transition::Deadline { text } => write!(f, "timeout {text} elapsed"),
        }
    }
}

/// A local type's state machine.
pub type LocalStateMachine = Graph<LocalState, Transition>;

/// The state machine of a local type (see the module docs): the
/// [`Machine`] code generation reads, as a graph. A local type the machine
/// phase rejects (a `continue` with no `rec`, which the checker already
/// refuses) draws as a role that does nothing.
pub fn local_state_machine(local: &LocalProtocol) -> LocalStateMachine {
    let machine = Machine::build(&local.body).unwrap_or_else(|_| Machine::idle());
    machine_graph(&machine)
}

/// Draws a [`Machine`]: one node per reachable state, in [`Machine::order`].
pub fn machine_graph(machine: &Machine) -> LocalStateMachine {
    let mut g = LocalStateMachine::new();
    let mut nodes: HashMap<StateId, NodeIndex> = HashMap::new();
    for (id, name) in machine.state_names() {
        let kind = if id == END {
            StateKind::End
        } else if id == machine.entry {
            StateKind::Start
        } else {
            StateKind::Step
        };
        let loops = machine
            .loops
            .iter()
            .filter(|(_, at)| *at == id)
            .map(|(rec, _)| rec.clone())
            .collect();
        nodes.insert(id, g.add_node(LocalState { name, kind, loops }));
    }
    if machine.entry == END {
        if let Some(state) = nodes.get(&END).and_then(|n| g.node_weight_mut(*n)) {
            state.kind = StateKind::Start;
        }
    }
    let msg = |m: &Message| (m.label.clone(), m.payload.clone());
    for (id, from) in machine
        .state_names()
        .into_iter()
        .filter_map(|(id, _)| nodes.get(&id).map(|n| (id, *n)))
    {
        let Some(state) = machine.state(id) else {
            continue;
        };
        let mut edges: Vec<(StateId, Transition)> = Vec::new();
        match &state.op {
            // `Par` and `Stuck` exist only in the model checker's shape.
            Op::End | Op::Goto(_) | Op::Par { .. } | Op::Stuck => {}
            Op::Send { to, msg: m, next } => {
                let (label, payload) = msg(m);
                edges.push((
                    *next,
                    Transition::Send {
                        to: to.clone(),
                        label,
                        payload,
                    },
                ));
            }
            Op::Recv { from, msg: m, next } => {
                let (label, payload) = msg(m);
                edges.push((
                    *next,
                    Transition::Recv {
                        from: from.clone(),
                        label,
                        payload,
                    },
                ));
            }
            Op::SendAll {
                family,
                msg: m,
                next,
            } => {
                let (label, payload) = msg(m);
                edges.push((
                    *next,
                    Transition::SendAll {
                        family: family.clone(),
                        label,
                        payload,
                    },
                ));
            }
            Op::RecvAll {
                family,
                msg: m,
                quorum,
                next,
            } => {
                let (label, payload) = msg(m);
                edges.push((
                    *next,
                    Transition::RecvAll {
                        family: family.clone(),
                        label,
                        payload,
                        quorum: quorum.clone(),
                    },
                ));
            }
            Op::Exchange {
                family,
                msg: m,
                quorum,
                next,
            } => {
                let (label, payload) = msg(m);
                edges.push((
                    *next,
                    Transition::Exchange {
                        family: family.clone(),
                        label,
                        payload,
                        quorum: quorum.clone(),
                    },
                ));
            }
            Op::Select { branches } => {
                for (branch, next) in branches {
                    edges.push((
                        *next,
                        Transition::Select {
                            branch: branch.clone(),
                        },
                    ));
                }
            }
            Op::Branch { from, arms } => {
                for (m, next) in arms {
                    let (label, payload) = msg(m);
                    edges.push((
                        *next,
                        Transition::Recv {
                            from: from.clone(),
                            label,
                            payload,
                        },
                    ));
                }
            }
            Op::Link {
                protocol,
                args_text,
                ..
            } => {
                edges.push((
                    END,
                    Transition::Link {
                        protocol: protocol.clone(),
                        args_text: args_text.clone(),
                    },
                ));
            }
            Op::DelegateTo { to } => edges.push((END, Transition::DelegateTo { to: to.clone() })),
            Op::AcceptFrom { from, next } => {
                edges.push((*next, Transition::AcceptFrom { from: from.clone() }));
            }
            Op::Timeout {
                text,
                body,
                handler,
                ..
            } => {
                edges.push((*body, Transition::TimeoutBody { text: text.clone() }));
                edges.push((*handler, Transition::Deadline { text: text.clone() }));
            }
        }
        for (to, t) in edges {
            if let Some(to) = nodes.get(&to) {
                g.add_edge(from, *to, t);
            }
        }
    }
    g
}

/// Escapes text for a mermaid label (entity codes for the characters
/// mermaid would read as syntax or HTML).
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ':' => out.push_str("#58;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '"' => out.push_str("#quot;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a DOT double-quoted string.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn local_title(local: &LocalProtocol) -> String {
    let mut title = format!("local {} in {}", local.target, local.protocol);
    if !local.params.is_empty() {
        let _ = write!(title, "({})", local.params.join(", "));
    }
    title
}

/// The state machine of a local type as a mermaid `stateDiagram-v2`.
pub fn local_mermaid(local: &LocalProtocol) -> String {
    let g = local_state_machine(local);
    let mut out = String::from("stateDiagram-v2\n");
    let _ = writeln!(out, "  %% {}", local_title(local));
    let name = |i: NodeIndex| g.node_weight(i).map_or("?", |s| s.name.as_str());
    for i in g.node_indices() {
        let Some(state) = g.node_weight(i) else {
            continue;
        };
        if state.kind == StateKind::Start {
            let _ = writeln!(out, "  [*] --> {}", state.name);
        }
        if state.name == "End" {
            let _ = writeln!(out, "  End --> [*]");
        }
        if !state.loops.is_empty() {
            let _ = writeln!(
                out,
                "  {} : {}",
                state.name,
                mermaid_text(&format!("rec {}", state.loops.join(", rec ")))
            );
        }
    }
    for e in g.edge_references() {
        let _ = writeln!(
            out,
            "  {} --> {} : {}",
            name(e.source()),
            name(e.target()),
            mermaid_text(&e.weight().to_string())
        );
    }
    out
}

/// The state machine of a local type as a Graphviz digraph.
pub fn local_dot(local: &LocalProtocol) -> String {
    let g = local_state_machine(local);
    let mut out = format!("digraph \"{}\" {{\n", dot_text(&local_title(local)));
    out.push_str("  rankdir=LR;\n  node [shape=circle];\n");
    let name = |i: NodeIndex| g.node_weight(i).map_or("?", |s| s.name.as_str());
    for i in g.node_indices() {
        let Some(state) = g.node_weight(i) else {
            continue;
        };
        let shape = if state.name == "End" {
            "doublecircle"
        } else {
            "circle"
        };
        if state.kind == StateKind::Start {
            let _ = writeln!(out, "  start [shape=point];\n  start -> {};", state.name);
        }
        let _ = write!(out, "  {} [shape={shape}", state.name);
        if !state.loops.is_empty() {
            let _ = write!(
                out,
                ", xlabel=\"{}\"",
                dot_text(&format!("rec {}", state.loops.join(", rec ")))
            );
        }
        out.push_str("];\n");
    }
    for e in g.edge_references() {
        let _ = writeln!(
            out,
            "  {} -> {} [label=\"{}\"];",
            name(e.source()),
            name(e.target()),
            dot_text(&e.weight().to_string())
        );
    }
    out.push_str("}\n");
    out
}

// ---------------------------------------------------------------------------
// Global protocol

fn global_title(p: &GlobalProtocol) -> String {
    let mut title = format!("protocol {}", p.name);
    if !p.params.is_empty() {
        let _ = write!(title, "({})", p.params.join(", "));
    }
    title
}

/// Mermaid participant id of a participant (`W[0]` → `W_0`, `W[*]` → `W`).
fn participant_id(p: &Participant) -> String {
    match p {
        Participant::Role(r) | Participant::All(r) => r.to_string(),
        Participant::Member(w, i) => format!("{w}_{i}"),
    }
}

fn global_message_text(m: &crate::global::GMessage) -> String {
    let mut text = message(&m.label, &m.payload);
    let kind = match (&m.from, &m.to) {
        (Participant::All(_), Participant::All(_)) => Some("exchange"),
        (_, Participant::All(_)) => Some("to all"),
        (Participant::All(_), _) => Some("from all"),
        _ => None,
    };
    if let Some(kind) = kind {
        let _ = write!(text, " [{kind}{}]", quorum(m.quorum.as_ref()));
    }
    text
}

/// Every member named anywhere in the protocol, per family, sorted.
fn named_members(block: &[GStmt], out: &mut Vec<(String, u64)>) {
    let mut note = |p: &Participant| {
        if let Participant::Member(w, i) = p {
            let key = (w.to_string(), *i);
            if !out.contains(&key) {
                out.push(key);
            }
        }
    };
    let mut nested: Vec<&[GStmt]> = Vec::new();
    for s in block {
        match s {
            GStmt::Message(m) => {
                note(&m.from);
                note(&m.to);
            }
            GStmt::Choice {
                chooser, branches, ..
            } => {
                note(chooser);
                nested.extend(branches.iter().map(|b| b.body.as_slice()));
            }
            GStmt::Rec { body, .. } => nested.push(body),
            GStmt::Par { branches, .. } => nested.extend(branches.iter().map(Vec::as_slice)),
            GStmt::Link { roles, .. } => roles.iter().for_each(&mut note),
            GStmt::Delegate { from, to, .. } => {
                note(from);
                note(to);
            }
            GStmt::Timeout { body, handler, .. } => {
                nested.push(body);
                nested.push(handler);
            }
            GStmt::Continue { .. } => {}
        }
    }
    for inner in nested {
        named_members(inner, out);
    }
}

/// The global protocol as a mermaid sequence diagram.
pub fn global_mermaid(protocol: &GlobalProtocol) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "  %% {}", global_title(protocol));
    let mut members = Vec::new();
    named_members(&protocol.body, &mut members);
    members.sort();
    for role in &protocol.roles {
        match &role.family {
            None => {
                let _ = writeln!(out, "  participant {}", role.name);
            }
            Some(size) => {
                let _ = writeln!(
                    out,
                    "  participant {} as {}",
                    role.name,
                    mermaid_text(&format!("{}[{size}]", role.name))
                );
                for (_, i) in members.iter().filter(|(w, _)| *w == role.name) {
                    let _ = writeln!(
                        out,
                        "  participant {}_{i} as {}",
                        role.name,
                        mermaid_text(&format!("{}[{i}]", role.name))
                    );
                }
            }
        }
    }
    let anchor = protocol
        .roles
        .first()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    sequence_lines(&mut out, &protocol.body, 1, &anchor);
    out
}

fn note_over(out: &mut String, depth: usize, parts: &[String], text: &str) {
    pad(out, depth);
    let over = match (parts.first(), parts.last()) {
        (Some(a), Some(b)) if a != b => format!("{a},{b}"),
        (Some(a), _) => a.clone(),
        _ => String::new(),
    };
    let _ = writeln!(out, "Note over {over}: {}", mermaid_text(text));
}

fn pad(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn sequence_lines(out: &mut String, block: &[GStmt], depth: usize, anchor: &str) {
    for stmt in block {
        match stmt {
            GStmt::Message(m) => {
                pad(out, depth);
                let _ = writeln!(
                    out,
                    "{}->>{}: {}",
                    participant_id(&m.from),
                    participant_id(&m.to),
                    mermaid_text(&global_message_text(m))
                );
            }
            GStmt::Choice {
                chooser, branches, ..
            } => {
                for (i, b) in branches.iter().enumerate() {
                    pad(out, depth);
                    let kw = if i == 0 { "alt" } else { "else" };
                    let _ = writeln!(
                        out,
                        "{kw} {}",
                        mermaid_text(&format!("{chooser} chooses {}", b.name))
                    );
                    sequence_lines(out, &b.body, depth + 1, anchor);
                }
                pad(out, depth);
                out.push_str("end\n");
            }
            GStmt::Rec { name, body, .. } => {
                pad(out, depth);
                let _ = writeln!(out, "loop {}", mermaid_text(&format!("rec {name}")));
                sequence_lines(out, body, depth + 1, anchor);
                pad(out, depth);
                out.push_str("end\n");
            }
            GStmt::Continue { name, .. } => {
                note_over(
                    out,
                    depth,
                    &[anchor.to_string()],
                    &format!("continue {name}"),
                );
            }
            GStmt::Par { branches, .. } => {
                for (i, b) in branches.iter().enumerate() {
                    pad(out, depth);
                    out.push_str(if i == 0 { "par\n" } else { "and\n" });
                    sequence_lines(out, b, depth + 1, anchor);
                }
                pad(out, depth);
                out.push_str("end\n");
            }
            GStmt::Link {
                protocol,
                roles,
                args_text,
                ..
            } => {
                let mut parts: Vec<String> = roles.iter().map(participant_id).collect();
                if parts.is_empty() {
                    parts.push(anchor.to_string());
                }
                note_over(out, depth, &parts, &format!("link {protocol}({args_text})"));
            }
            GStmt::Delegate { from, to, .. } => {
                let parts = [participant_id(from), participant_id(to)];
                note_over(out, depth, &parts, &format!("delegate {from} to {to}"));
            }
            GStmt::Timeout {
                text,
                body,
                handler,
                ..
            } => {
                pad(out, depth);
                let _ = writeln!(out, "critical {}", mermaid_text(&format!("timeout {text}")));
                sequence_lines(out, body, depth + 1, anchor);
                pad(out, depth);
                out.push_str("option else\n");
                sequence_lines(out, handler, depth + 1, anchor);
                pad(out, depth);
                out.push_str("end\n");
            }
        }
    }
}

/// The global protocol as a Graphviz flow graph: points of the protocol are
/// nodes, interactions are labelled edges (`A -> B : L(T)`), choices fan out
/// with one edge per branch, `continue` edges go back to the `rec` point.
pub fn global_dot(protocol: &GlobalProtocol) -> String {
    let mut b = GlobalBuilder {
        g: Graph::new(),
        recs: Vec::new(),
    };
    let start = b.g.add_node(StateKind::Start);
    let end = b.g.add_node(StateKind::End);
    if protocol.body.is_empty() {
        b.g.add_edge(start, end, String::new());
    } else {
        b.walk(&protocol.body, start, end);
    }
    let g = b.g;
    let mut out = format!("digraph \"{}\" {{\n", dot_text(&global_title(protocol)));
    out.push_str("  node [shape=circle, label=\"\", width=0.2];\n");
    for i in g.node_indices() {
        let shape = match g.node_weight(i) {
            Some(StateKind::Start) => "point",
            Some(StateKind::End) => "doublecircle",
            _ => "circle",
        };
        let _ = writeln!(out, "  n{} [shape={shape}];", i.index());
    }
    for e in g.edge_references() {
        let _ = writeln!(
            out,
            "  n{} -> n{} [label=\"{}\"];",
            e.source().index(),
            e.target().index(),
            dot_text(e.weight())
        );
    }
    out.push_str("}\n");
    out
}

struct GlobalBuilder {
    g: Graph<StateKind, String>,
    recs: Vec<(String, NodeIndex)>,
}

impl GlobalBuilder {
    fn rec_point(&self, name: &str) -> Option<NodeIndex> {
        self.recs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
    }

    fn entry(&mut self, block: &[GStmt], exit: NodeIndex) -> NodeIndex {
        match block.first() {
            None => exit,
            Some(GStmt::Continue { name, .. }) => match self.rec_point(name) {
                Some(p) => p,
                None => self.g.add_node(StateKind::Step),
            },
            Some(_) => self.g.add_node(StateKind::Step),
        }
    }

    fn walk(&mut self, block: &[GStmt], entry: NodeIndex, exit: NodeIndex) {
        let mut cur = entry;
        for (k, stmt) in block.iter().enumerate() {
            if let GStmt::Continue { name, .. } = stmt {
                let target = self.rec_point(name).unwrap_or(exit);
                if target != cur {
                    self.g.add_edge(cur, target, format!("continue {name}"));
                }
                return;
            }
            let rest = block.get(k + 1..).unwrap_or_default();
            let next = self.entry(rest, exit);
            self.stmt(stmt, cur, next);
            cur = next;
        }
    }

    fn fan(&mut self, cur: NodeIndex, next: NodeIndex, label: String, body: &[GStmt]) {
        let e = self.entry(body, next);
        self.g.add_edge(cur, e, label);
        self.walk(body, e, next);
    }

    fn stmt(&mut self, stmt: &GStmt, cur: NodeIndex, next: NodeIndex) {
        match stmt {
            GStmt::Message(m) => {
                let mut label =
                    format!("{} -> {} : {}", m.from, m.to, message(&m.label, &m.payload));
                label.push_str(&quorum(m.quorum.as_ref()));
                self.g.add_edge(cur, next, label);
            }
            GStmt::Choice {
                chooser, branches, ..
            } => {
                for b in branches {
                    self.fan(cur, next, format!("{chooser} chooses {}", b.name), &b.body);
                }
            }
            GStmt::Rec { name, body, .. } => {
                self.recs.push((name.clone(), cur));
                if body.is_empty() {
                    self.g.add_edge(cur, next, format!("rec {name}"));
                } else {
                    self.walk(body, cur, next);
                }
                self.recs.pop();
            }
            GStmt::Continue { .. } => {} // handled by `walk`
            GStmt::Par { branches, .. } => {
                for (i, b) in branches.iter().enumerate() {
                    self.fan(cur, next, format!("par branch {}", i + 1), b);
                }
            }
            GStmt::Link {
                protocol,
                args_text,
                ..
            } => {
                self.g
                    .add_edge(cur, next, format!("link {protocol}({args_text})"));
            }
            GStmt::Delegate { from, to, .. } => {
                self.g
                    .add_edge(cur, next, format!("delegate {from} to {to}"));
            }
            GStmt::Timeout {
                text,
                body,
                handler,
                ..
            } => {
                self.fan(cur, next, format!("timeout {text}"), body);
                self.fan(cur, next, format!("timeout {text} elapsed"), handler);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::global::Loc;
    use crate::local::{Arm, LocalAction, Target};

    fn label(name: &str) -> Label {
        Label {
            name: name.into(),
            namespace: "P".into(),
        }
    }

    fn recv(from: &str, l: &str) -> LocalAction {
        LocalAction::Recv {
            from: Peer::Role(from.into()),
            label: label(l),
            payload: Payload::unit(),
            loc: Loc::default(),
        }
    }

    fn send(to: &str, l: &str) -> LocalAction {
        LocalAction::Send {
            to: Peer::Role(to.into()),
            label: label(l),
            payload: Payload::of(crate::global::RustType::generic(
                "Vec",
                vec![crate::global::RustType::named("u8", Loc::default())],
                Loc::default(),
            )),
            annotations: Vec::new(),
            loc: Loc::default(),
        }
    }

    fn looping() -> LocalProtocol {
        // rec X { recv A Ping; branch A { More => { continue X; } Stop => { end; } } } send A Done
        LocalProtocol {
            module: "m".into(),
            protocol: "P".into(),
            params: Vec::new(),
            target: Target::Role("B".into()),
            body: vec![
                LocalAction::Rec {
                    name: "X".into(),
                    body: vec![
                        recv("A", "Ping"),
                        LocalAction::Branch {
                            from: Peer::Role("A".into()),
                            arms: vec![
                                Arm {
                                    label: label("More"),
                                    payload: Payload::unit(),
                                    body: vec![LocalAction::Continue {
                                        name: "X".into(),
                                        loc: Loc::default(),
                                    }],
                                    loc: Loc::default(),
                                },
                                Arm {
                                    label: label("Stop"),
                                    payload: Payload::unit(),
                                    body: Vec::new(),
                                    loc: Loc::default(),
                                },
                            ],
                            loc: Loc::default(),
                        },
                    ],
                    loc: Loc::default(),
                },
                send("A", "Done"),
            ],
        }
    }

    #[test]
    fn state_machine_loops_back_to_the_rec_state_and_arms_rejoin() {
        let g = local_state_machine(&looping());
        let start = g
            .node_indices()
            .find(|i| g[*i].kind == StateKind::Start)
            .unwrap();
        assert_eq!(g[start].loops, ["X"]);
        let edges: Vec<(usize, usize, String)> = g
            .edge_references()
            .map(|e| {
                (
                    e.source().index(),
                    e.target().index(),
                    e.weight().to_string(),
                )
            })
            .collect();
        // start -Ping-> s ; s -More-> start ; s -Stop-> t ; t -Done-> end
        let ping = edges.iter().find(|e| e.2 == "recv A Ping").unwrap();
        assert_eq!(ping.0, start.index());
        let more = edges.iter().find(|e| e.2 == "recv A More").unwrap();
        assert_eq!((more.0, more.1), (ping.1, start.index()));
        let stop = edges.iter().find(|e| e.2 == "recv A Stop").unwrap();
        let done = edges
            .iter()
            .find(|e| e.2 == "send A Done(Vec<u8>)")
            .unwrap();
        assert_eq!(stop.1, done.0);
        assert_eq!(g[NodeIndex::new(done.1)].kind, StateKind::End);
        assert_eq!(edges.len(), 4);
    }

    #[test]
    fn mermaid_state_diagram_escapes_labels() {
        let text = local_mermaid(&looping());
        assert!(text.starts_with("stateDiagram-v2\n  %% local B in P\n"));
        assert!(text.contains("send A Done(Vec#lt;u8#gt;)"), "{text}");
        assert!(text.contains("[*] --> S0"), "{text}");
        assert!(text.contains("End --> [*]"), "{text}");
        assert!(text.contains("S0 : rec X"), "{text}");
        assert!(text.contains("S1 --> S0 : recv A More"), "{text}");
    }

    #[test]
    fn dot_output_is_a_digraph_with_quoted_labels() {
        let text = local_dot(&looping());
        assert!(text.starts_with("digraph \"local B in P\" {"));
        assert!(text.contains("[label=\"send A Done(Vec<u8>)\"]"), "{text}");
        assert!(text.trim_end().ends_with('}'));
    }

    fn gmsg(from: Participant, to: Participant, l: &str) -> GStmt {
        GStmt::Message(crate::global::GMessage {
            from,
            to,
            label: label(l),
            payload: Payload::unit(),
            quorum: None,
            annotations: Vec::new(),
            loc: Loc::default(),
        })
    }

    fn small_global() -> GlobalProtocol {
        use crate::global::{GBranch, RoleInfo};
        let role = |name: &str, family: Option<Size>| RoleInfo {
            name: name.into(),
            family,
            loc: Loc::default(),
        };
        GlobalProtocol {
            module: "m".into(),
            name: "P".into(),
            docs: Vec::new(),
            params: vec!["n".into()],
            roles: vec![role("A", None), role("W", Some(Size::Param("n".into())))],
            body: vec![GStmt::Rec {
                name: "X".into(),
                body: vec![
                    gmsg(
                        Participant::Role("A".into()),
                        Participant::All("W".into()),
                        "Go",
                    ),
                    GStmt::Choice {
                        chooser: Participant::Role("A".into()),
                        branches: vec![
                            GBranch {
                                name: "Again".into(),
                                body: vec![
                                    gmsg(
                                        Participant::Role("A".into()),
                                        Participant::Member("W".into(), 0),
                                        "Again",
                                    ),
                                    GStmt::Continue {
                                        name: "X".into(),
                                        loc: Loc::default(),
                                    },
                                ],
                                loc: Loc::default(),
                            },
                            GBranch {
                                name: "Stop".into(),
                                body: vec![gmsg(
                                    Participant::Role("A".into()),
                                    Participant::Member("W".into(), 0),
                                    "Stop",
                                )],
                                loc: Loc::default(),
                            },
                        ],
                        loc: Loc::default(),
                    },
                ],
                loc: Loc::default(),
            }],
            loc: Loc::default(),
        }
    }

    #[test]
    fn global_sequence_diagram_shows_members_choices_and_loops() {
        let expected = "\
sequenceDiagram
  %% protocol P(n)
  participant A
  participant W as W[n]
  participant W_0 as W[0]
  loop rec X
    A->>W: Go [to all]
    alt A chooses Again
      A->>W_0: Again
      Note over A: continue X
    else A chooses Stop
      A->>W_0: Stop
    end
  end
";
        assert_eq!(global_mermaid(&small_global()), expected);
    }

    #[test]
    fn global_flow_graph_loops_back_on_continue() {
        let dot = global_dot(&small_global());
        assert!(dot.starts_with("digraph \"protocol P(n)\" {"), "{dot}");
        // The edge before `continue X` goes back to the loop's start (n0).
        assert!(
            dot.contains("-> n0 [label=\"A -> W[0] : Again\"];"),
            "{dot}"
        );
        assert!(dot.contains("-> n1 [label=\"A -> W[0] : Stop\"];"), "{dot}");
    }
}
