//! `choreo verify`: a bounded model checker over projected systems.
//!
//! The promise of the language contract is that an accepted protocol runs, through its
//! projections, without deadlock, orphan messages or unexpected receptions.
//! This module checks that promise mechanically: it instantiates the local
//! types into concrete participants (families at small sizes), composes them
//! with asynchronous FIFO channels (one per ordered pair, at most `bound`
//! messages each) and explores every reachable global state breadth-first.
//! The first violation found therefore has a shortest counterexample.
//!
//! I/O-free like the rest of the library: values in, a [`VerifyReport`] out.
//! The CLI calls [`verify_protocol`] (or `Compilation::verify`) and prints
//! [`VerifyReport::render_text`] and, on a violation,
//! [`VerifyReport::render_mermaid`]; it exits 1 when
//! [`VerifyReport::is_violation`].
//!
//! What the model covers, and what it abstracts, is written down in the
//! book's `guarantees.md` chapter; in short:
//! - `send all`/`recv all`/`exchange` expand per member; sends to a family
//!   go out in index order, receptions happen in any order;
//! - a `quorum q` receipt proceeds after `q` messages; the remaining senders'
//!   messages are discarded by the runtime when they arrive (they are neither
//!   orphans nor unexpected);
//! - `timeout`: a participant may abandon its body at any moment (its
//!   deadline passed, or a handler message arrived) and run its handler;
//!   messages sent in a body it abandoned are dropped on arrival; a
//!   participant that finished its body switches to the handler when a
//!   handler message reaches it;
//! - `link` is a final state ("joined Sub"); the join handshake and `Sub`
//!   itself are not modelled;
//! - `delegate to S` hands the endpoint over through the delegating role's
//!   channel to S; after `accept from R`, S sends and receives as R.

mod conform;
mod explore;
mod hash;
mod model;

use crate::global::{CheckedProgram, GlobalProtocol, Size};
use crate::local::{LocalAction, LocalBlock, LocalProtocol, Peer, Target};
use crate::machine::Machine;
use model::{Instance, World};
use std::collections::{BTreeMap, BTreeSet};

/// How much to explore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Capacity of each FIFO channel (ordered pair of participants). A send
    /// to a full channel waits.
    pub bound: usize,
    /// Sizes tried for every family whose size is a parameter (all such
    /// families get the same size in one run). Literal sizes are kept.
    pub family_sizes: Vec<u64>,
    /// Value of every quorum parameter (a parameter that does not size a
    /// family). `None`: try every value from 1 to the family size.
    pub quorum: Option<u64>,
    /// Stop a run after this many distinct global states (verdict partial).
    pub max_states: usize,
    /// Partial-order reduction (ample sets). A violation found with it is
    /// re-searched without it so the reported counterexample is shortest.
    pub reduce: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            bound: 2,
            family_sizes: vec![2, 3],
            quorum: None,
            max_states: 1_000_000,
            reduce: true,
        }
    }
}

/// Largest family size the checker instantiates.
pub const MAX_FAMILY_SIZE: u64 = 16;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A state in which some participant has not finished and nothing can move.
    Deadlock,
    /// Every participant finished and a channel still holds messages.
    OrphanMessage,
    /// A channel's next message is one its receiver, waiting on that
    /// channel, can never take.
    UnexpectedReception,
    /// A participant sends, on some pair, a sequence of messages that no
    /// run of the global protocol sends on that pair.
    NotInGlobal,
}

impl ViolationKind {
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Deadlock => "deadlock",
            ViolationKind::OrphanMessage => "orphan message",
            ViolationKind::UnexpectedReception => "unexpected reception",
            ViolationKind::NotInGlobal => "run not allowed by the global protocol",
        }
    }
}

/// One step of a counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The participant that acts (`Witness[1]`).
    pub actor: String,
    pub action: StepAction,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepAction {
    Send {
        to: String,
        label: String,
    },
    Receive {
        from: String,
        label: String,
    },
    /// The chooser picks a branch of its `select`.
    Choose {
        branch: String,
    },
    /// The participant's deadline passed: it abandons the body and runs its handler.
    TimeOut {
        after: String,
    },
    /// A handler message reached a participant that had finished its body.
    SwitchToHandler {
        after: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.actor;
        match &self.action {
            StepAction::Send { to, label } => write!(f, "{a} sends {label} to {to}"),
            StepAction::Receive { from, label } => write!(f, "{a} receives {label} from {from}"),
            StepAction::Choose { branch } => write!(f, "{a} chooses {branch}"),
            StepAction::TimeOut { after } => {
                write!(f, "{a} times out ({after}) and runs its handler")
            }
            StepAction::SwitchToHandler { after } => {
                write!(f, "{a} switches to the handler of `timeout {after}`")
            }
        }
    }
}

/// A violation with its shortest counterexample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The instance (family sizes, parameter values) in which it occurs.
    pub instance: String,
    /// What is wrong in the final state of the trace.
    pub message: String,
    pub trace: Vec<Step>,
    /// Every participant of the instance, in declaration order.
    pub participants: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No violation in any instance, every state space explored completely.
    Safe,
    Violation(Box<Violation>),
    /// No violation found, but the state cap stopped some run.
    Partial {
        reason: String,
    },
}

/// One explored instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub instance: String,
    /// The size of every family in this run (literal and parameter-sized).
    pub families: BTreeMap<String, u64>,
    /// The value of every parameter in this run (family sizes and quorums).
    pub params: BTreeMap<String, u64>,
    pub participants: usize,
    pub states: u64,
    pub transitions: u64,
    /// Some send had to wait for a full channel.
    pub bound_hit: bool,
    /// The whole reachable state space was explored.
    pub complete: bool,
    /// The state cap stopped this run.
    pub capped: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// `module.Protocol`, or `system` for hand-made systems.
    pub protocol: String,
    /// The protocol verified, when it came from a checked program
    /// ([`verify_projections`]): the key to join the report with the
    /// program's other outputs.
    pub id: Option<crate::global::ProtocolId>,
    pub bound: usize,
    pub runs: Vec<RunSummary>,
    pub states_explored: u64,
    pub transitions: u64,
    pub verdict: Verdict,
}

impl VerifyReport {
    pub fn is_violation(&self) -> bool {
        matches!(self.verdict, Verdict::Violation(_))
    }

    pub fn is_safe(&self) -> bool {
        self.verdict == Verdict::Safe
    }

    pub fn violation(&self) -> Option<&Violation> {
        match &self.verdict {
            Verdict::Violation(v) => Some(v),
            _ => None,
        }
    }

    /// The report as the CLI prints it: one line per instance, the verdict,
    /// and on a violation the counterexample as a numbered step list.
    pub fn render_text(&self) -> String {
        let mut out = format!("verify {} (channel bound {})\n", self.protocol, self.bound);
        for run in &self.runs {
            out.push_str(&format!(
                "  {}: {} participants, {} states, {} transitions{}{}\n",
                run.instance,
                run.participants,
                run.states,
                run.transitions,
                if run.capped {
                    " (state cap reached)"
                } else if run.complete {
                    ""
                } else {
                    " (stopped at the violation)"
                },
                if run.bound_hit {
                    " (some sends waited for a full channel)"
                } else {
                    ""
                },
            ));
        }
        match &self.verdict {
            Verdict::Safe => out.push_str(&format!(
                "verdict: safe ({} states explored): no deadlock, orphan message or unexpected reception\n",
                self.states_explored
            )),
            Verdict::Partial { reason } => out.push_str(&format!(
                "verdict: INCOMPLETE ({} states explored, not a proof): {reason}\n",
                self.states_explored
            )),
            Verdict::Violation(v) => {
                out.push_str(&format!(
                    "verdict: {} in instance {} after {} step{}\n  {}\ncounterexample:\n",
                    v.kind.name().to_uppercase(),
                    v.instance,
                    v.trace.len(),
                    if v.trace.len() == 1 { "" } else { "s" },
                    v.message
                ));
                if v.trace.is_empty() {
                    out.push_str("  (the initial state)\n");
                }
                for (i, step) in v.trace.iter().enumerate() {
                    out.push_str(&format!("  {:>3}. {step}\n", i + 1));
                }
            }
        }
        out
    }

    /// The counterexample as a mermaid sequence diagram (`None` when there is none).
    pub fn render_mermaid(&self) -> Option<String> {
        let v = self.violation()?;
        let id = |name: &str| -> String {
            name.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
                .trim_end_matches('_')
                .to_string()
        };
        let clean = |s: &str| s.replace([';', '#', '\n'], ",");
        let mut out = String::from("sequenceDiagram\n");
        for p in &v.participants {
            let i = id(p);
            if i == *p {
                out.push_str(&format!("    participant {p}\n"));
            } else {
                out.push_str(&format!("    participant {i} as {p}\n"));
            }
        }
        for step in &v.trace {
            let a = id(&step.actor);
            let line = match &step.action {
                StepAction::Send { to, label } => format!("{a}-){}: {}", id(to), clean(label)),
                StepAction::Receive { from, label } => {
                    format!("Note over {a}: receives {} from {from}", clean(label))
                }
                StepAction::Choose { branch } => format!("Note over {a}: chooses {branch}"),
                StepAction::TimeOut { after } => {
                    format!("Note over {a}: times out ({after}), runs handler")
                }
                StepAction::SwitchToHandler { .. } => {
                    format!("Note over {a}: switches to the timeout handler")
                }
            };
            out.push_str(&format!("    {line}\n"));
        }
        let span = match (v.participants.first(), v.participants.last()) {
            (Some(f), Some(l)) if f != l => format!("{},{}", id(f), id(l)),
            (Some(f), _) => id(f),
            _ => String::new(),
        };
        if !span.is_empty() {
            out.push_str(&format!(
                "    Note over {span}: {}: {}\n",
                v.kind.name().to_uppercase(),
                clean(&v.message)
            ));
        }
        Some(out)
    }
}

/// Verifies the projections of one checked protocol. Family sizes come from
/// the protocol's role declarations: literal sizes are kept, every
/// parameter-sized family is tried at each of `options.family_sizes`.
pub fn verify_protocol(
    program: &CheckedProgram,
    protocol: &GlobalProtocol,
    locals: &[LocalProtocol],
    options: &VerifyOptions,
) -> VerifyReport {
    verify_protocol_in(program, protocol, locals, options, &mut Reuse::default())
}

/// [`verify_protocol`] with the explorer's buffers of the caller (shared
/// by the protocols of one compilation).
fn verify_protocol_in<'a>(
    program: &CheckedProgram,
    protocol: &'a GlobalProtocol,
    locals: &'a [LocalProtocol],
    options: &VerifyOptions,
    reuse: &mut Reuse<'a>,
) -> VerifyReport {
    let _ = program; // linked protocols are not explored (see module docs)
    let mut literal = BTreeMap::new();
    let mut sized = BTreeSet::new();
    let mut sizing_params = BTreeSet::new();
    for role in &protocol.roles {
        match &role.family {
            Some(Size::Literal(n)) => {
                literal.insert(role.name.to_string(), *n);
            }
            Some(Size::Param(p)) => {
                sized.insert(role.name.to_string());
                sizing_params.insert(p.clone());
            }
            None => {}
        }
    }
    let mut quorum_params: BTreeSet<String> = protocol
        .params
        .iter()
        .filter(|p| !sizing_params.contains(*p))
        .cloned()
        .collect();
    quorum_params.extend(
        quorum_names(locals)
            .into_iter()
            .filter(|p| !sizing_params.contains(p)),
    );
    let instances = instances(&literal, &sized, &sizing_params, &quorum_params, options);
    run_all(
        format!("{}.{}", protocol.module, protocol.name),
        locals,
        Some(protocol),
        instances,
        options,
        reuse,
    )
}

/// Verifies a hand-made system of local types (no global protocol). A
/// family whose members all have their own local type (`Target::Member`)
/// has the size its highest index implies; every other family is tried at
/// each of `options.family_sizes`.
pub fn verify_system(locals: &[LocalProtocol], options: &VerifyOptions) -> VerifyReport {
    let mut uniform = BTreeSet::new();
    let mut max_index: BTreeMap<String, u64> = BTreeMap::new();
    let mut mentioned = BTreeSet::new();
    for local in locals {
        match &local.target {
            Target::Family(f) => {
                uniform.insert(f.to_string());
            }
            Target::Member(f, i) => {
                let e = max_index.entry(f.to_string()).or_insert(0);
                *e = (*e).max(i + 1);
            }
            Target::Role(_) => {}
        }
        walk(&local.body, &mut |a| match a {
            LocalAction::SendAll { family, .. }
            | LocalAction::RecvAll { family, .. }
            | LocalAction::Exchange { family, .. } => {
                mentioned.insert(family.clone());
            }
            LocalAction::Send {
                to: Peer::Member(f, i),
                ..
            }
            | LocalAction::Recv {
                from: Peer::Member(f, i),
                ..
            }
            | LocalAction::Branch {
                from: Peer::Member(f, i),
                ..
            } => {
                let e = max_index.entry(f.to_string()).or_insert(0);
                *e = (*e).max(i + 1);
            }
            _ => {}
        });
    }
    let mut literal = BTreeMap::new();
    let mut sized = BTreeSet::new();
    for (f, n) in &max_index {
        if !uniform.contains(f) {
            literal.insert(f.clone(), *n);
        }
    }
    for f in uniform.into_iter().chain(mentioned) {
        if !literal.contains_key(&f) {
            sized.insert(f);
        }
    }
    let quorum_params = quorum_names(locals);
    let instances = instances(&literal, &sized, &BTreeSet::new(), &quorum_params, options);
    run_all(
        "system".to_string(),
        locals,
        None,
        instances,
        options,
        &mut Reuse::default(),
    )
}

/// Verifies the projected protocols declared in the first source (what
/// `choreo verify FILE` does; `protocol` narrows it to one name, as
/// `--protocol P`). Modules loaded through `use` are not verified here
/// (verify their own files). Protocols that did not project are skipped:
/// their diagnostics are already in the compilation.
pub fn verify_projections(
    program: &crate::global::CheckedProgram,
    projections: &[crate::local::Projected],
    protocol: Option<&str>,
    options: &VerifyOptions,
) -> Vec<VerifyReport> {
    let mut reuse = Reuse::default();
    program
        .with_ids()
        .filter(|(_, global)| global.loc.file == crate::span::FileId(0))
        .filter(|(_, global)| protocol.is_none_or(|name| global.name == name))
        .filter_map(|(id, global)| {
            let projected = crate::local::projection(projections, id)?;
            let report =
                verify_protocol_in(program, global, &projected.locals, options, &mut reuse);
            Some(VerifyReport {
                id: Some(id),
                ..report
            })
        })
        .collect()
}

fn walk(block: &LocalBlock, f: &mut dyn FnMut(&LocalAction)) {
    for a in block {
        f(a);
        match a {
            LocalAction::Branch { arms, .. } => {
                for arm in arms {
                    walk(&arm.body, f);
                }
            }
            LocalAction::Select { branches, .. } => {
                for (_, b) in branches {
                    walk(b, f);
                }
            }
            LocalAction::Rec { body, .. } => walk(body, f),
            LocalAction::Par { branches, .. } => {
                for b in branches {
                    walk(b, f);
                }
            }
            LocalAction::Timeout { body, handler, .. } => {
                walk(body, f);
                walk(handler, f);
            }
            _ => {}
        }
    }
}

fn quorum_names(locals: &[LocalProtocol]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for local in locals {
        walk(&local.body, &mut |a| {
            if let LocalAction::RecvAll {
                quorum: Some(Size::Param(p)),
                ..
            }
            | LocalAction::Exchange {
                quorum: Some(Size::Param(p)),
                ..
            } = a
            {
                names.insert(p.clone());
            }
        });
    }
    names
}

fn instances(
    literal: &BTreeMap<String, u64>,
    sized: &BTreeSet<String>,
    sizing_params: &BTreeSet<String>,
    quorum_params: &BTreeSet<String>,
    options: &VerifyOptions,
) -> Vec<Instance> {
    let mut sizes: Vec<u64> = options
        .family_sizes
        .iter()
        .map(|&n| n.clamp(1, MAX_FAMILY_SIZE))
        .collect();
    sizes.dedup();
    if sizes.is_empty() {
        sizes.push(2);
    }
    if sized.is_empty() && sizing_params.is_empty() {
        sizes.truncate(1);
    }
    let mut out: Vec<Instance> = Vec::new();
    for &n in &sizes {
        let mut families: BTreeMap<String, u64> = literal
            .iter()
            .map(|(f, &s)| (f.clone(), s.min(MAX_FAMILY_SIZE)))
            .collect();
        for f in sized {
            families.insert(f.clone(), n);
        }
        let mut params: BTreeMap<String, u64> =
            sizing_params.iter().map(|p| (p.clone(), n)).collect();
        let largest = families.values().copied().max().unwrap_or(n).max(1);
        let values: Vec<u64> = match options.quorum {
            Some(q) => vec![q],
            None => (1..=largest).collect(),
        };
        let mut partial: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new()];
        for q in quorum_params {
            let mut next = Vec::new();
            for base in &partial {
                for &v in &values {
                    let mut m = base.clone();
                    m.insert(q.clone(), v);
                    next.push(m);
                }
            }
            partial = next;
        }
        for qs in partial {
            let mut p = std::mem::take(&mut params);
            let keep = p.clone();
            p.extend(qs);
            let inst = Instance {
                families: families.clone(),
                params: p,
            };
            params = keep;
            if !out.contains(&inst) {
                out.push(inst);
            }
        }
    }
    out
}

/// Buffers kept from one instance to the next of a verification (and from
/// one protocol to the next of a compilation): the explorer's, the last
/// world's and the last conformance automaton's. Each instance empties
/// them first, so nothing of one instance reaches the next but memory.
#[derive(Default)]
struct Reuse<'a> {
    explore: explore::Scratch,
    world: Option<World>,
    conform: Option<conform::Conformance>,
    /// The systems explored so far (local types, global protocol, and
    /// the summary of each instance): a protocol whose local types and
    /// global body equal an earlier one's (a protocol that only `call`s
    /// another) is the same system at the same instances.
    systems: Vec<System<'a>>,
}

struct System<'a> {
    locals: &'a [LocalProtocol],
    global: Option<&'a GlobalProtocol>,
    explored: Vec<Explored>,
}

impl System<'_> {
    /// The same local types (targets and bodies) and global body.
    fn is(&self, locals: &[LocalProtocol], global: Option<&GlobalProtocol>) -> bool {
        self.locals.len() == locals.len()
            && self
                .locals
                .iter()
                .zip(locals)
                .all(|(a, b)| a.target == b.target && a.body == b.body)
            && match (self.global, global) {
                (None, None) => true,
                (Some(a), Some(b)) => a.body == b.body,
                _ => false,
            }
    }
}

/// What decides an instance's system: the family sizes, and the value of
/// every parameter that a quorum of the local types names (nothing else of
/// an [`Instance`] reaches [`World::build`]). Two instances with the same
/// key are the same system: the same states, transitions and verdict.
fn system_key(inst: &Instance, quorum_names: &BTreeSet<String>) -> SystemKey {
    let values = quorum_names
        .iter()
        .map(|p| inst.params.get(p).or_else(|| inst.families.get(p)).copied())
        .collect();
    (inst.families.clone(), values)
}

type SystemKey = (BTreeMap<String, u64>, Vec<Option<u64>>);

/// An explored instance's summary, kept for an instance that is the same
/// system (see [`system_key`]).
#[derive(Clone)]
struct Explored {
    key: SystemKey,
    participants: usize,
    states: u64,
    transitions: u64,
    bound_hit: bool,
    capped: bool,
}

fn run_all<'a>(
    protocol: String,
    locals: &'a [LocalProtocol],
    global: Option<&'a GlobalProtocol>,
    instances: Vec<Instance>,
    options: &VerifyOptions,
    reuse: &mut Reuse<'a>,
) -> VerifyReport {
    let mut report = VerifyReport {
        protocol,
        id: None,
        bound: options.bound.max(1),
        runs: Vec::new(),
        states_explored: 0,
        transitions: 0,
        verdict: Verdict::Safe,
    };
    let mut capped: Vec<String> = Vec::new();
    let machines: Vec<Machine> = locals
        .iter()
        .map(|l| Machine::build_interleaved(&l.body))
        .collect();
    let roles: Vec<(&LocalProtocol, &Machine)> = locals.iter().zip(&machines).collect();
    // The conformance automaton depends only on the family sizes, and its
    // lazily determinised subsets are a cache of the same automaton: the
    // instances that differ only in quorum values share one.
    let mut conform_cache: Option<(BTreeMap<String, u64>, conform::Conformance)> = None;
    // Instances that differ only in a parameter no quorum names (or in
    // values that name the same quorums) are the same system: explored
    // once, reported for each.
    let quorums = quorum_names(locals);
    let earlier = reuse.systems.iter().position(|x| x.is(locals, global));
    let mut explored: Vec<Explored> = earlier
        .and_then(|i| reuse.systems.get(i))
        .map_or_else(Vec::new, |x| x.explored.clone());
    for inst in instances {
        let described = inst.describe();
        let key = system_key(&inst, &quorums);
        if let Some(same) = explored.iter().find(|e| e.key == key) {
            report.states_explored += same.states;
            report.transitions += same.transitions;
            report.runs.push(RunSummary {
                instance: described.clone(),
                families: inst.families,
                params: inst.params,
                participants: same.participants,
                states: same.states,
                transitions: same.transitions,
                bound_hit: same.bound_hit,
                complete: !same.capped,
                capped: same.capped,
            });
            if same.capped {
                capped.push(described);
            }
            continue;
        }
        // The last instance's automaton as it is if the family sizes are
        // the same; else it (or the last protocol's) rebuilt in place.
        let conform = global.map(|g| match conform_cache.take() {
            Some((families, c)) if families == inst.families => c,
            cached => match cached.map(|(_, c)| c).or_else(|| reuse.conform.take()) {
                Some(mut c) => {
                    c.rebuild(g, &inst.families);
                    c
                }
                None => conform::Conformance::build(g, &inst.families),
            },
        });
        let mut world = World::build(reuse.world.take(), &roles, inst, conform);
        let bound = options.bound.max(1);
        let cap = options.max_states.max(1);
        let scratch = &mut reuse.explore;
        let mut outcome = explore::explore(&mut world, bound, cap, options.reduce, scratch);
        if options.reduce && outcome.violation.is_some() {
            // Shortest counterexample: search the unreduced graph.
            let full = explore::explore(&mut world, bound, cap, false, scratch);
            if let (Some(v), Some(short)) = (outcome.violation.as_mut(), full.violation) {
                *v = short;
            }
        }
        report.states_explored += outcome.states;
        report.transitions += outcome.transitions;
        // The instance moves into the summary (the world is emptied for
        // the next instance anyway); the automaton's cache key is its
        // family sizes.
        let Instance { families, params } = std::mem::take(&mut world.instance);
        if let Some(c) = world.conform.take() {
            conform_cache = Some((families.clone(), c));
        }
        report.runs.push(RunSummary {
            instance: described.clone(),
            families,
            params,
            participants: world.participants.len(),
            states: outcome.states,
            transitions: outcome.transitions,
            bound_hit: outcome.bound_hit,
            complete: !outcome.capped && outcome.violation.is_none(),
            capped: outcome.capped,
        });
        if outcome.capped {
            capped.push(described.clone());
        }
        if let Some(v) = outcome.violation {
            let participants = world
                .participants
                .iter()
                .map(|p| world.ident_name(p.ident))
                .collect();
            report.verdict = Verdict::Violation(Box::new(Violation {
                kind: v.kind,
                instance: described,
                message: v.message,
                trace: v.trace,
                participants,
            }));
            return report;
        }
        explored.push(Explored {
            key,
            participants: world.participants.len(),
            states: outcome.states,
            transitions: outcome.transitions,
            bound_hit: outcome.bound_hit,
            capped: outcome.capped,
        });
        reuse.world = Some(world);
    }
    if let Some((_, c)) = conform_cache {
        reuse.conform = Some(c);
    }
    match earlier.and_then(|i| reuse.systems.get_mut(i)) {
        Some(x) => x.explored = explored,
        None => reuse.systems.push(System {
            locals,
            global,
            explored,
        }),
    }
    if !capped.is_empty() {
        report.verdict = Verdict::Partial {
            reason: format!(
                "the state cap of {} was reached in {}; no violation among the states explored",
                options.max_states,
                capped.join("; ")
            ),
        };
    }
    report
}
