//! The model checker and the runtime agree: for every mission protocol
//! (`protocols/choreo/*.choreo`) and every protocol of the examples
//! (`choreography! { … }` in `examples/examples/*.rs`), each instance that
//! `choreo verify` explored without a counterexample also completes when its
//! projections run as real sessions on the node host in the deterministic
//! simulator, under dropped, duplicated, reordered and delayed frames.
//!
//! The projections are run by a small interpreter of each participant's
//! sequential [`Machine`] (the automaton code generation emits typestates
//! from) over the runtime's session operations, with the same phase calls
//! the generated code makes (`start_body`, `end_body`, `start_handler`;
//! at its end, a participant that completed a timeout body lingers, so a
//! peer's handler message still reaches it).
//! Payloads are a step counter: what the runtime must agree on is the order
//! of labels, not their contents. Every chooser picks its branches from the
//! seed, and after a step budget takes the branch nearest to the end, so a
//! loop ends. At a `link` a participant runs the join handshake
//! (`Session::join_link`, with the linked protocol's real fingerprint),
//! opens the linked session and closes it: `Sub` itself is verified on its
//! own. `delegate` hands the live session to the delegate's holder in this
//! process.
//!
//! CI runs `CI_SEEDS` seeds per instance; set `CHOREO_AGREE_SEEDS=N` for a
//! bigger sweep. A failure names the protocol, the instance and the seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use choreo_lang::driver::{self, Compilation, Source};
use choreo_lang::global::{GStmt, GlobalProtocol, Loc, Participant as GParticipant, Size};
use choreo_lang::local::{LocalProtocol, Peer, Target};
use choreo_lang::machine::{
    timeout_numbering, AfterBlock, Machine, Message, Op, StateId, TimeoutNumbering, END,
};
use choreo_lang::verify::{RunSummary, VerifyOptions};
use choreo_runtime::link::{LinkArg, LinkTarget};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::Timed;
use choreo_runtime::{
    Error, Label, ProtocolInfo, Role, RoleId, RoleShape, Roster, Session, SessionId, Transport,
};

const CI_SEEDS: u64 = 12;
/// Steps after which every chooser heads for the end.
const STEP_BUDGET: u32 = 60;
/// How long a participant that completed a timeout body waits, at its
/// end, for a peer to start the handler (virtual time).
const LINGER: Duration = Duration::from_secs(30);

/// One protocol that `choreo verify` found no counterexample for.
struct Subject {
    /// `file: module.Protocol`.
    name: String,
    global: GlobalProtocol,
    locals: Vec<LocalProtocol>,
    /// The instances the model checker explored.
    runs: Vec<RunSummary>,
    /// Every protocol of the compilation by `(module, name)`: a `link`'s
    /// target, for its fingerprint and roles.
    linkable: Rc<HashMap<(String, String), GlobalProtocol>>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// Every `choreography! { … }` body in a Rust file (top level and inside
/// `mod` blocks).
fn macro_bodies(path: &Path) -> Vec<proc_macro2::TokenStream> {
    fn walk(items: &[syn::Item], out: &mut Vec<proc_macro2::TokenStream>) {
        for item in items {
            match item {
                syn::Item::Macro(m)
                    if m.mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "choreography") =>
                {
                    out.push(m.mac.tokens.clone());
                }
                syn::Item::Mod(m) => {
                    if let Some((_, inner)) = &m.content {
                        walk(inner, out);
                    }
                }
                _ => {}
            }
        }
    }
    let text = std::fs::read_to_string(path).unwrap();
    let file = syn::parse_file(&text).unwrap();
    let mut out = Vec::new();
    walk(&file.items, &mut out);
    out
}

/// The verified protocols of one compilation (only those of its first
/// source, as `choreo verify FILE` does).
fn subjects_of(origin: &str, compilation: &Compilation, out: &mut Vec<Subject>) {
    assert!(
        !compilation.has_errors(),
        "{origin} does not compile: {:#?}",
        compilation.diagnostics
    );
    let linkable: Rc<HashMap<(String, String), GlobalProtocol>> = Rc::new(
        compilation
            .program
            .protocols()
            .map(|p| ((p.module.clone(), p.name.clone()), p.clone()))
            .collect(),
    );
    for report in compilation.verify(None, &VerifyOptions::default()) {
        // A violation's counterexample is the model checker's verdict; the
        // agreement is about the counterexample-free ones.
        if report.is_violation() {
            continue;
        }
        let id = report.id.unwrap();
        let projected = compilation.projection(id).unwrap();
        let global = compilation.program.get(id).unwrap().clone();
        out.push(Subject {
            name: format!("{origin}: {}", report.protocol),
            global,
            locals: projected.locals.clone(),
            runs: report.runs,
            linkable: linkable.clone(),
        });
    }
}

fn subjects() -> Vec<Subject> {
    let root = workspace();
    let mut out = Vec::new();
    for path in files(&root.join("protocols/choreo"), "choreo") {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let compilation = driver::compile_with(
            vec![Source::from_path_text(name.clone(), text)],
            &mut |module, user| {
                driver::load_beside(module, user, &mut |p| std::fs::read_to_string(p).ok())
            },
        );
        subjects_of(&name, &compilation, &mut out);
    }
    for path in files(&root.join("examples/examples"), "rs") {
        for tokens in macro_bodies(&path) {
            let name = path.display().to_string();
            let (compilation, _) = driver::compile_token_stream(&name, tokens);
            subjects_of(&name, &compilation, &mut out);
        }
    }
    out
}

/// The runtime's view of one instance: role and label tables, roster.
struct Tables {
    protocol: &'static ProtocolInfo,
    /// The label of every `link`'s join handshake.
    join: Label,
    /// The `link` statements by location: what they join, and the linked
    /// protocol's descriptor (roles only: the session is closed at once).
    links: HashMap<Loc, (&'static LinkTarget, &'static ProtocolInfo)>,
    roles: HashMap<String, Role>,
    labels: HashMap<(String, String), Label>,
    roster: Roster,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn machines_labels(machines: &[Machine], labels: &mut BTreeSet<(String, String)>) {
    for m in machines {
        for state in &m.states {
            let mut add = |msg: &Message| {
                labels.insert((msg.label.namespace.to_string(), msg.label.name.to_string()));
            };
            match &state.op {
                Op::Send { msg, .. }
                | Op::Recv { msg, .. }
                | Op::SendAll { msg, .. }
                | Op::RecvAll { msg, .. }
                | Op::Exchange { msg, .. } => add(msg),
                Op::Branch { arms, .. } => arms.iter().for_each(|(m, _)| add(m)),
                _ => {}
            }
        }
    }
}

impl Tables {
    fn new(subject: &Subject, machines: &[Machine], run: &RunSummary) -> Tables {
        let mut labels = BTreeSet::new();
        machines_labels(machines, &mut labels);
        labels.insert((String::new(), "join".to_owned()));
        let label_names: Vec<&'static str> = labels
            .iter()
            .map(|(ns, name)| leak(&format!("{ns}.{name}")))
            .collect();
        let role_names: Vec<&'static str> =
            subject.global.roles.iter().map(|r| leak(&r.name)).collect();
        let protocol: &'static ProtocolInfo = Box::leak(Box::new(ProtocolInfo {
            name: leak(&subject.global.name),
            fingerprint: choreo_lang::project::fingerprint(&subject.global),
            roles: Box::leak(role_names.into_boxed_slice()),
            labels: Box::leak(label_names.into_boxed_slice()),
        }));
        let shapes: Vec<RoleShape> = subject
            .global
            .roles
            .iter()
            .map(|r| match r.family {
                None => RoleShape::Single,
                Some(_) => RoleShape::Family(u32::try_from(run.families[r.name.as_str()]).unwrap()),
            })
            .collect();
        Tables {
            protocol,
            roles: subject
                .global
                .roles
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name.to_string(), Role(u16::try_from(i).unwrap())))
                .collect(),
            labels: labels
                .into_iter()
                .enumerate()
                .map(|(i, l)| (l, Label(u16::try_from(i).unwrap())))
                .collect(),
            join: Label(0),
            links: HashMap::new(),
            roster: Roster::new(&shapes).unwrap(),
        }
        .with_links(subject)
    }

    /// The `link` statements of the protocol, as the code generator plans
    /// them: each passed role by position, the join label, `Sub`'s
    /// fingerprint.
    fn with_links(mut self, subject: &Subject) -> Tables {
        self.join = self.labels[&(String::new(), "join".to_owned())];
        let mut links = Vec::new();
        collect_links(&subject.global.body, &mut links);
        for (loc, module, sub, roles) in links {
            let linked = &subject.linkable[&(module.clone(), sub.clone())];
            let args: Vec<LinkArg> = roles
                .iter()
                .map(|p| match p {
                    GParticipant::Member(r, k) => LinkArg::Instance(RoleId::member(
                        self.roles[r.as_str()],
                        u32::try_from(*k).unwrap(),
                    )),
                    GParticipant::All(r) => LinkArg::Family(self.roles[r.as_str()]),
                    GParticipant::Role(r) => {
                        if subject.global.role(r).is_some_and(|i| i.family.is_some()) {
                            LinkArg::Family(self.roles[r.as_str()])
                        } else {
                            LinkArg::Instance(RoleId::single(self.roles[r.as_str()]))
                        }
                    }
                })
                .collect();
            let fingerprint = choreo_lang::project::fingerprint(linked);
            let target: &'static LinkTarget = Box::leak(Box::new(LinkTarget {
                module: leak(&module),
                protocol: leak(&sub),
                fingerprint,
                args: Box::leak(args.into_boxed_slice()),
                join_label: self.join,
            }));
            let roles: Vec<&'static str> = linked.roles.iter().map(|r| leak(&r.name)).collect();
            let info: &'static ProtocolInfo = Box::leak(Box::new(ProtocolInfo {
                name: leak(&sub),
                fingerprint,
                roles: Box::leak(roles.into_boxed_slice()),
                labels: &[],
            }));
            self.links.insert(loc, (target, info));
        }
        self
    }

    fn peer(&self, peer: &Peer) -> RoleId {
        match peer {
            Peer::Role(r) => RoleId::single(self.roles[r.as_str()]),
            Peer::Member(f, i) => {
                RoleId::member(self.roles[f.as_str()], u32::try_from(*i).unwrap())
            }
        }
    }

    fn label(&self, msg: &Message) -> Label {
        self.labels[&(msg.label.namespace.to_string(), msg.label.name.to_string())]
    }
}

/// Every `link` statement: where it is, what it names, the roles it passes.
fn collect_links(body: &[GStmt], out: &mut Vec<(Loc, String, String, Vec<GParticipant>)>) {
    for stmt in body {
        match stmt {
            GStmt::Link {
                module,
                protocol,
                roles,
                loc,
                ..
            } => out.push((*loc, module.clone(), protocol.clone(), roles.clone())),
            GStmt::Choice { branches, .. } => {
                branches.iter().for_each(|b| collect_links(&b.body, out));
            }
            GStmt::Rec { body, .. } => collect_links(body, out),
            GStmt::Par { branches, .. } => branches.iter().for_each(|b| collect_links(b, out)),
            GStmt::Timeout { body, handler, .. } => {
                collect_links(body, out);
                collect_links(handler, out);
            }
            _ => {}
        }
    }
}

/// One participant's sequential machine, with what the interpreter needs
/// to know about its states.
struct Plan {
    machine: Machine,
    /// How many timeout bodies each state is inside (as code generation counts).
    depths: HashMap<StateId, usize>,
    /// Steps from each state to the nearest final state.
    distance: HashMap<StateId, u32>,
    /// The states right after a `timeout`'s block that still answer its
    /// handler until they act, with that handler (as code generation).
    after_block: BTreeMap<StateId, Vec<AfterBlock>>,
    /// How each `timeout` statement's instances are numbered (as code
    /// generation passes it to the runtime).
    numbering: Rc<HashMap<Loc, TimeoutNumbering>>,
}

impl Plan {
    fn new(machine: Machine, numbering: Rc<HashMap<Loc, TimeoutNumbering>>) -> Plan {
        let order = machine.order();
        let depths = order
            .iter()
            .map(|&id| (id, machine.body_depth(id)))
            .collect();
        // Distances by relaxation (the machines are small).
        let mut distance: HashMap<StateId, u32> = HashMap::new();
        for &id in &order {
            if machine.successors(id).is_empty() {
                distance.insert(id, 0);
            }
        }
        distance.insert(END, 0);
        let mut changed = true;
        while changed {
            changed = false;
            for &id in &order {
                let best = machine
                    .successors(id)
                    .iter()
                    .filter_map(|s| distance.get(&machine.resolve(*s)))
                    .min()
                    .map(|d| d + 1);
                if let Some(d) = best {
                    if distance.get(&id).is_none_or(|&old| d < old) {
                        distance.insert(id, d);
                        changed = true;
                    }
                }
            }
        }
        Plan {
            after_block: machine.after_block_handlers(),
            machine,
            depths,
            distance,
            numbering,
        }
    }

    /// The runtime's numbering of the `timeout` at `at` (as code
    /// generation emits it).
    fn timeout_numbering(&self, at: StateId) -> choreo_runtime::TimeoutNumbering {
        use choreo_runtime::TimeoutNumbering as Rt;
        let loc = self.machine.state(at).map(|s| s.loc);
        match loc.and_then(|loc| self.numbering.get(&loc)) {
            Some(TimeoutNumbering::Root { span }) => Rt::Root { span: *span },
            Some(TimeoutNumbering::Nested { offset }) => Rt::Nested { offset: *offset },
            Some(TimeoutNumbering::Window) => Rt::Window,
            Some(TimeoutNumbering::InnerWindow) => Rt::InnerWindow,
            counted => Rt::Counted {
                span: match counted {
                    Some(TimeoutNumbering::Counted { span }) => *span,
                    _ => 0,
                },
                nests: self.machine.nests_timeout(at),
            },
        }
    }

    fn depth(&self, id: StateId) -> usize {
        self.depths.get(&id).copied().unwrap_or(0)
    }
}

/// How a participant's part ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ended {
    Completed,
    Linked,
    Delegated,
}

/// A participant's run: how it ended and how many timeout handlers it ran.
type Outcome = (Ended, u32);

/// Sessions handed over by `delegate`, keyed by (delegating role instance,
/// delegate role instance).
type Handoffs<T> = Rc<RefCell<HashMap<(RoleId, RoleId), Session<T>>>>;

/// A chooser's source of choices: the seed and the participant.
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: usize) -> usize {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        usize::try_from(z % n as u64).unwrap()
    }
}

/// Waits, yielding to the executor, until the delegating participant has
/// deposited its session.
async fn take_handoff<T: Transport>(handoffs: &Handoffs<T>, key: (RoleId, RoleId)) -> Session<T> {
    std::future::poll_fn(|cx| match handoffs.borrow_mut().remove(&key) {
        Some(s) => std::task::Poll::Ready(s),
        None => {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

struct Participant<T: Transport> {
    me: RoleId,
    plan: Rc<Plan>,
    tables: Rc<Tables>,
    quorums: Rc<BTreeMap<String, u64>>,
    handoffs: Handoffs<T>,
    choices: Choices,
}

impl<T: Transport> Participant<T> {
    fn quorum(&self, q: &Option<Size>) -> Option<usize> {
        q.as_ref().map(|q| match q {
            Size::Literal(n) => usize::try_from(*n).unwrap(),
            Size::Param(p) => usize::try_from(self.quorums[p]).unwrap(),
        })
    }

    /// Runs this participant's machine to its end.
    async fn run(mut self, mut session: Session<T>) -> Result<Outcome, String> {
        let plan = self.plan.clone();
        let mut at = plan.machine.resolve(plan.machine.entry);
        let mut steps: u32 = 0;
        let mut handlers: u32 = 0;
        // Timeout bodies entered and not left (their phase, the handler's
        // state), and bodies completed, whose handlers a peer may still start.
        let mut open: Vec<(u64, StateId)> = Vec::new();
        let mut completed: Vec<(u64, StateId)> = Vec::new();
        loop {
            steps += 1;
            let state = plan.machine.state(at).unwrap().clone();
            let depth = plan.depth(at);
            let tables = self.tables.clone();
            // The state right after a block answers the handler of the body
            // completed just before, until it acts (as the generated code).
            let after_block = plan.after_block.get(&at).cloned().unwrap_or_default();
            if !after_block.is_empty() {
                session.open_after_body();
            }
            // The operation's result: the next state, or an interrupted body.
            let outcome: Result<StateId, Error> = match &state.op {
                Op::End | Op::Goto(_) | Op::Par { .. } | Op::Stuck => {
                    if !completed.is_empty() {
                        // As the generated `After…` states do: a peer may
                        // still start the handler of a body this
                        // participant completed (of nested bodies completed
                        // at once, any of them).
                        let started = session
                            .linger_nested(LINGER, completed.len())
                            .await
                            .map_err(|e| format!("{} lingering: {e}", self.name()))?;
                        if started.is_some() {
                            let phase = session.phase();
                            let answered = completed
                                .iter()
                                .rposition(|(body, _)| body + 1 == phase)
                                .ok_or_else(|| format!("{}: a handler of phase {phase} started that it never entered", self.name()))?;
                            let handler = completed[answered].1;
                            // The bodies around a nested handler are open
                            // again (completed after it, so later in the
                            // list; `open` has the innermost last).
                            let enclosing = completed.split_off(answered + 1);
                            open.extend(enclosing.into_iter().rev());
                            completed.clear();
                            handlers += 1;
                            at = plan.machine.resolve(handler);
                            continue;
                        }
                    }
                    session
                        .finish()
                        .map_err(|e| format!("{}: {e}", self.name()))?;
                    return Ok((Ended::Completed, handlers));
                }
                Op::Link { .. } => {
                    let (target, linked) = tables.links[&state.loc];
                    // As the generated `join`: inside a body an interrupted
                    // handshake hands the session back for the handler.
                    let joined =
                        match session.join_link_timed(target).await.map_err(|e| {
                            format!("{} joining {}: {e}", self.name(), target.protocol)
                        })? {
                            Timed::Done(joined) => joined,
                            Timed::Expired(back) if depth > 0 => {
                                session = back;
                                session.start_handler();
                                open.pop();
                                handlers += 1;
                                at = plan.machine.resolve(state.abandon.unwrap());
                                continue;
                            }
                            Timed::Expired(_) => {
                                return Err(format!(
                                    "{}: a join outside any body was interrupted",
                                    self.name()
                                ))
                            }
                        };
                    let sub = joined
                        .open(linked)
                        .map_err(|e| format!("{}: {e}", self.name()))?;
                    sub.finish().map_err(|e| format!("{}: {e}", self.name()))?;
                    return Ok((Ended::Linked, handlers));
                }
                Op::DelegateTo { to } => {
                    let to = tables.peer(to);
                    self.handoffs.borrow_mut().insert((self.me, to), session);
                    return Ok((Ended::Delegated, handlers));
                }
                Op::AcceptFrom { from, next } => {
                    // This participant's own part is over; it continues as
                    // `from` on `from`'s session.
                    session
                        .finish()
                        .map_err(|e| format!("{}: {e}", self.name()))?;
                    let from = tables.peer(from);
                    session = take_handoff(&self.handoffs, (from, self.me)).await;
                    // The delegating role's remaining actions follow
                    // `accept` in this participant's own machine.
                    self.me = from;
                    Ok(*next)
                }
                Op::Send { to, msg, next } => session
                    .send(tables.peer(to), tables.label(msg), &u64::from(steps))
                    .await
                    .map(|()| *next),
                Op::Recv { from, msg, next } => session
                    .recv::<u64>(tables.peer(from), tables.label(msg))
                    .await
                    .map(|_| *next),
                Op::SendAll { family, msg, next } => session
                    .send_all(tables.roles[family], tables.label(msg), &u64::from(steps))
                    .await
                    .map(|()| *next),
                Op::RecvAll {
                    family,
                    msg,
                    quorum,
                    next,
                } => session
                    .recv_all::<u64>(tables.roles[family], tables.label(msg), self.quorum(quorum))
                    .await
                    .map(|_| *next),
                Op::Exchange {
                    family,
                    msg,
                    quorum,
                    next,
                } => session
                    .exchange::<u64>(
                        tables.roles[family],
                        tables.label(msg),
                        |_| u64::from(steps),
                        self.quorum(quorum),
                    )
                    .await
                    .map(|_| *next),
                Op::Select { branches } => {
                    let i = if steps < STEP_BUDGET {
                        self.choices.next(branches.len())
                    } else {
                        let d = |s: &StateId| plan.distance.get(s).copied().unwrap_or(u32::MAX);
                        (0..branches.len())
                            .min_by_key(|&i| d(&plan.machine.resolve(branches[i].1)))
                            .unwrap()
                    };
                    Ok(branches[i].1)
                }
                Op::Branch { from, arms } => {
                    let labels: Vec<Label> = arms.iter().map(|(m, _)| tables.label(m)).collect();
                    session
                        .recv_branch(tables.peer(from), &labels)
                        .await
                        .map(|b| arms[b.index].1)
                }
                Op::Timeout {
                    millis,
                    body,
                    handler,
                    ..
                } => {
                    let (duration, site) = (
                        Duration::from_millis(*millis),
                        u32::try_from(at.index()).unwrap(),
                    );
                    session.start_numbered_body_at(duration, site, plan.timeout_numbering(at));
                    open.push((session.phase(), *handler));
                    Ok(*body)
                }
            };
            if !after_block.is_empty() {
                session.close_after_body();
            }
            // The completed body the operation went back to, if it did.
            let reopened = session.reopened_site().and_then(|site| {
                after_block
                    .iter()
                    .find(|a| u32::try_from(a.timeout.index()).ok() == Some(site))
            });
            at = match outcome {
                Ok(next) => {
                    let next = plan.machine.resolve(next);
                    for _ in plan.depth(next)..depth {
                        session.end_body();
                        completed.extend(open.pop());
                    }
                    next
                }
                Err(Error::Interrupted(_)) if reopened.is_some() => {
                    // Back in the body completed just before, for its handler.
                    session.start_handler();
                    let handler = reopened.unwrap().handler;
                    completed.retain(|(_, h)| *h != handler);
                    handlers += 1;
                    plan.machine.resolve(handler)
                }
                Err(Error::Interrupted(_)) if depth > 0 => {
                    session.start_handler();
                    open.pop();
                    handlers += 1;
                    plan.machine.resolve(state.abandon.unwrap())
                }
                Err(e) => return Err(format!("{} at {at:?}: {e}", self.name())),
            };
        }
    }

    fn name(&self) -> String {
        self.tables.protocol.role_name(self.me)
    }
}

/// The local type each role instance runs.
fn local_for<'a>(locals: &'a [LocalProtocol], role: &str, index: Option<u32>) -> &'a LocalProtocol {
    let member = index.and_then(|i| {
        locals
            .iter()
            .find(|l| l.target == Target::Member(role.into(), u64::from(i)))
    });
    member
        .or_else(|| {
            locals.iter().find(|l| match &l.target {
                Target::Role(r) | Target::Family(r) => r == role,
                Target::Member(..) => false,
            })
        })
        .unwrap_or_else(|| panic!("no local type for {role}"))
}

/// Drops, duplicates and reordering for every seed; every other seed also
/// has one-way delays of 0.5–2.5 s, around the 2 s deadlines of the mission
/// protocols' timeouts, so some bodies finish and some run their handlers.
fn faults(seed: u64) -> SimConfig {
    let slow = seed % 2 == 1;
    SimConfig {
        drop: 0.05,
        duplicate: 0.02,
        reorder: 0.1,
        latency: Duration::from_millis(if slow { 500 } else { 10 }),
        jitter: Duration::from_millis(if slow { 2000 } else { 20 }),
        ..SimConfig::default()
    }
}

/// One simulated run of one instance: `Ok` with how each participant
/// ended, or the first failure.
fn run_once(subject: &Subject, run: &RunSummary, seed: u64) -> Result<Vec<Outcome>, String> {
    let tables = Rc::new({
        let machines: Vec<Machine> = subject
            .locals
            .iter()
            .map(|l| Machine::build(&l.body).unwrap())
            .collect();
        Tables::new(subject, &machines, run)
    });
    let instances: Vec<RoleId> = tables.roster.instances().to_vec();
    let mut plans: HashMap<RoleId, Rc<Plan>> = HashMap::new();
    let numbering = Rc::new(timeout_numbering(&subject.global.body));
    for &id in &instances {
        let role = tables.protocol.roles[usize::from(id.role.0)];
        let local = local_for(&subject.locals, role, id.index);
        plans.insert(
            id,
            Rc::new(Plan::new(
                Machine::build(&local.body).unwrap(),
                numbering.clone(),
            )),
        );
    }
    let mut sim = Sim::new(seed, faults(seed));
    let nodes: Vec<usize> = instances.iter().map(|_| sim.add_node()).collect();
    let sessions = sim
        .open_sessions(SessionId([7; 16]), tables.protocol, &tables.roster, &nodes)
        .map_err(|e| e.to_string())?;
    let handoffs: Handoffs<_> = Rc::new(RefCell::new(HashMap::new()));
    let quorums = Rc::new(run.params.clone());
    let mut tasks = VecDeque::new();
    for (i, (session, &me)) in sessions.into_iter().zip(&instances).enumerate() {
        let participant = Participant {
            me,
            plan: plans[&me].clone(),
            tables: tables.clone(),
            quorums: quorums.clone(),
            handoffs: handoffs.clone(),
            choices: Choices(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
        };
        tasks.push_back(sim.spawn(nodes[i], participant.run(session)));
    }
    sim.run().map_err(|stuck| format!("stuck: {stuck}"))?;
    tasks
        .into_iter()
        .map(|t| {
            t.take()
                .ok_or_else(|| "a participant never ended".to_owned())?
        })
        .collect()
}

fn seeds() -> u64 {
    std::env::var("CHOREO_AGREE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

#[test]
fn every_protocol_verify_accepts_completes_in_the_simulator_under_faults() {
    let subjects = subjects();
    // The mission protocols and the examples are all here.
    assert!(
        subjects.len() >= 15,
        "only {} protocols found",
        subjects.len()
    );
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut ended: BTreeMap<Ended, u64> = BTreeMap::new();
    let mut handlers = 0;
    for subject in &subjects {
        for run in &subject.runs {
            for seed in 0..seeds() {
                runs += 1;
                let outcome = run_once(subject, run, seed);
                for (e, h) in outcome.iter().flatten() {
                    *ended.entry(*e).or_default() += 1;
                    handlers += u64::from(*h);
                }
                if let Err(e) = outcome {
                    eprintln!(
                        "{} ({}) seed {seed}: {e} (rerun with this seed to replay)",
                        subject.name, run.instance
                    );
                    failures.push(format!("{} ({}) seed {seed}", subject.name, run.instance));
                }
            }
        }
    }
    eprintln!(
        "{runs} simulated runs of {} protocols; participants ended: {ended:?}; timeout handlers run: {handlers}",
        subjects.len()
    );
    // The runs exercise what they claim to: linked and delegating
    // participants, and handlers started by deadlines.
    assert!(ended.contains_key(&Ended::Linked) && ended.contains_key(&Ended::Delegated));
    assert!(handlers > 0);
    assert!(
        failures.is_empty(),
        "{} failing runs: {failures:#?}",
        failures.len()
    );
}
