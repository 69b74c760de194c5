//! The machine phase's output for whole protocols: one
//! [`ProtocolMachines`] per checked protocol, keyed by its [`ProtocolId`],
//! carrying everything code generation reads — the protocol's header
//! (module, name, docs, parameters, roles), its fingerprint, one sequential
//! [`Machine`] per projected target with its state names and numbers, the
//! interned label table, every `link` statement with its arguments and its
//! target's id and fingerprint, where each delegating role delegates, and
//! the capabilities its guards name. The driver builds it once
//! ([`build_program`]); code generation reads it and nothing earlier.

use std::collections::HashMap;

use super::{Machine, Op, StateId, UnboundContinue};
use crate::global::{
    Annotation, CheckedProgram, GStmt, GlobalProtocol, Label, Loc, Participant, Payload,
    ProtocolId, RoleInfo, Size,
};
use crate::local::{LocalAction, LocalProtocol, Projected, Target};
use crate::span::FileId;

/// Everything code generation needs of one protocol.
#[derive(Clone, Debug)]
pub struct ProtocolMachines {
    pub id: ProtocolId,
    pub header: Header,
    /// SHA-256 of the canonical global protocol (what peers compare).
    pub fingerprint: [u8; 32],
    /// One machine per projected target, in projection order; `None` if the
    /// protocol did not project.
    pub roles: Option<Vec<RoleMachine>>,
    pub labels: LabelTable,
    /// Every `link` statement (inlined calls keep their own locations).
    pub links: Vec<LinkSite>,
    /// For every delegating role instance ([`instance_key`]): the number of
    /// its state at the `delegate`, where the delegate's `accept` expects
    /// the handoff.
    pub delegations: HashMap<String, u32>,
    /// `Some(every capability a @guard names, sorted)` if some send carries
    /// annotations, `None` if none does.
    pub guard_capabilities: Option<Vec<String>>,
    /// How each `timeout` statement's instances are numbered, by its
    /// location ([`super::timeout_numbering`]).
    pub timeouts: HashMap<Loc, super::TimeoutNumbering>,
}

/// A protocol's declaration, without its body.
#[derive(Clone, Debug)]
pub struct Header {
    pub module: String,
    pub name: String,
    pub docs: Vec<String>,
    pub params: Vec<String>,
    pub roles: Vec<RoleInfo>,
    pub loc: Loc,
    /// The files that declare the protocol's module.
    pub files: Vec<FileId>,
}

impl Header {
    /// The position of role `name` (its number on the wire).
    pub fn role_index(&self, name: &str) -> Option<usize> {
        self.roles.iter().position(|r| r.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&RoleInfo> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// One target's sequential machine.
#[derive(Clone, Debug)]
pub struct RoleMachine {
    pub target: Target,
    /// The machine, or the `continue` that names no `rec` (which code
    /// generation reports).
    pub machine: Result<Machine, UnboundContinue>,
    /// Every reachable state with its name ([`Machine::state_names`]).
    pub names: Vec<(StateId, String)>,
    /// The number of every reachable state (its position in `names`): what a
    /// handoff records and `resume` checks.
    pub numbers: HashMap<StateId, u32>,
}

/// A `link` statement.
#[derive(Clone, Debug)]
pub struct LinkSite {
    pub loc: Loc,
    pub module: String,
    pub protocol: String,
    /// Role arguments, positionally bound to the linked protocol's roles.
    pub roles: Vec<Participant>,
    /// Parameter arguments (after `;`).
    pub params: Vec<Size>,
    /// The linked protocol, if it checked.
    pub target: Option<ProtocolId>,
    /// Its fingerprint (zero if it did not check).
    pub fingerprint: [u8; 32],
}

/// Every label of a protocol, interned: numbered for the wire in order of
/// first appearance, role by role (every role derives the same table from
/// the same projections), each with its Rust name.
#[derive(Clone, Debug, Default)]
pub struct LabelTable {
    /// (label, Rust name, payload), in wire order.
    pub order: Vec<(Label, String, Payload)>,
    index: HashMap<Label, usize>,
    /// The protocols `link`ed to, as (module, name): each has a join
    /// handshake label, numbered after the message labels.
    pub links: Vec<(String, String)>,
}

impl LabelTable {
    fn add(&mut self, label: &Label, payload: &Payload) {
        if self.index.contains_key(label) {
            return;
        }
        // Same name from another protocol (inlined by `call`): qualify it
        // with that protocol's name, and number it if even that is taken
        // (a label `SubPing` of the caller's own beside `Sub`'s `Ping`).
        let taken = |name: &str| self.order.iter().any(|(_, n, _)| n == name);
        let mut name = label.name.to_string();
        if taken(&name) {
            name = format!("{}{}", label.namespace, label.name);
        }
        let mut number = 2;
        while taken(&name) {
            name = format!("{}{}{number}", label.namespace, label.name);
            number += 1;
        }
        self.index.insert(label.clone(), self.order.len());
        self.order.push((label.clone(), name, payload.clone()));
    }

    fn collect(locals: &[LocalProtocol]) -> LabelTable {
        let mut labels = LabelTable::default();
        for local in locals {
            let mut stack: Vec<&LocalAction> = local.body.iter().rev().collect();
            use LocalAction as A;
            while let Some(action) = stack.pop() {
                match action {
                    A::Send { label, payload, .. }
                    | A::Recv { label, payload, .. }
                    | A::SendAll { label, payload, .. }
                    | A::RecvAll { label, payload, .. }
                    | A::Exchange { label, payload, .. } => labels.add(label, payload),
                    A::Select { branches, .. } => {
                        for (_, b) in branches.iter().rev() {
                            stack.extend(b.iter().rev());
                        }
                    }
                    A::Branch { arms, .. } => {
                        // Labels of the arms first, in order, then their bodies.
                        for arm in arms {
                            labels.add(&arm.label, &arm.payload);
                        }
                        for arm in arms.iter().rev() {
                            stack.extend(arm.body.iter().rev());
                        }
                    }
                    A::Rec { body, .. } => stack.extend(body.iter().rev()),
                    A::Par { branches, .. } => {
                        for b in branches.iter().rev() {
                            stack.extend(b.iter().rev());
                        }
                    }
                    A::Timeout { body, handler, .. } => {
                        stack.extend(handler.iter().rev());
                        stack.extend(body.iter().rev());
                    }
                    A::Link {
                        module, protocol, ..
                    } => {
                        let link = (module.clone(), protocol.clone());
                        if !labels.links.contains(&link) {
                            labels.links.push(link);
                        }
                    }
                    A::Continue { .. } | A::DelegateTo { .. } | A::AcceptFrom { .. } => {}
                }
            }
        }
        labels
    }

    /// The wire number of `label`.
    pub fn wire(&self, label: &Label) -> u16 {
        self.index
            .get(label)
            .and_then(|i| u16::try_from(*i).ok())
            .unwrap_or(u16::MAX)
    }

    /// The wire number of the join handshake of a `link` to `module.protocol`.
    pub fn join_wire(&self, module: &str, protocol: &str) -> u16 {
        self.links
            .iter()
            .position(|(m, p)| m == module && p == protocol)
            .and_then(|i| u16::try_from(self.order.len() + i).ok())
            .unwrap_or(u16::MAX)
    }

    /// The Rust name of `label` (qualified when two protocols' labels share a name).
    pub fn rust_name<'a>(&'a self, label: &'a Label) -> &'a str {
        self.index
            .get(label)
            .and_then(|i| self.order.get(*i))
            .map_or(&*label.name, |(_, n, _)| n.as_str())
    }
}

/// The key of a role instance in [`ProtocolMachines::delegations`]: `R`,
/// `R[k]`, or `R[*]` for a family's uniform local type.
pub fn instance_key(target: &Target) -> String {
    match target {
        Target::Role(r) => r.to_string(),
        Target::Member(r, i) => format!("{r}[{i}]"),
        Target::Family(r) => format!("{r}[*]"),
    }
}

/// The machine phase of every checked protocol, in id order.
pub fn build_program(program: &CheckedProgram, projections: &[Projected]) -> Vec<ProtocolMachines> {
    program
        .with_ids()
        .map(|(id, protocol)| {
            build_protocol(
                program,
                id,
                protocol,
                crate::local::projection(projections, id),
            )
        })
        .collect()
}

fn build_protocol(
    program: &CheckedProgram,
    id: ProtocolId,
    protocol: &GlobalProtocol,
    projected: Option<&Projected>,
) -> ProtocolMachines {
    let header = Header {
        module: protocol.module.clone(),
        name: protocol.name.clone(),
        docs: protocol.docs.clone(),
        params: protocol.params.clone(),
        roles: protocol.roles.clone(),
        loc: protocol.loc,
        files: program
            .modules
            .iter()
            .filter(|m| m.name == protocol.module)
            .map(|m| m.file)
            .collect(),
    };
    let locals = projected.map_or(&[][..], |p| &p.locals[..]);
    let roles: Vec<RoleMachine> = locals
        .iter()
        .map(|local| {
            let machine = Machine::build(&local.body);
            let names = machine
                .as_ref()
                .map(Machine::state_names)
                .unwrap_or_default();
            let numbers = names
                .iter()
                .enumerate()
                .map(|(n, (id, _))| (*id, u32::try_from(n).unwrap_or(u32::MAX)))
                .collect();
            RoleMachine {
                target: local.target.clone(),
                machine,
                names,
                numbers,
            }
        })
        .collect();
    let mut links = Vec::new();
    link_sites(program, &protocol.body, &mut links);
    ProtocolMachines {
        id,
        header,
        fingerprint: crate::project::print::fingerprint(protocol),
        labels: LabelTable::collect(locals),
        links,
        delegations: delegations(&roles),
        guard_capabilities: guard_capabilities(&roles),
        timeouts: super::timeout_numbering(&protocol.body),
        roles: projected.map(|_| roles),
    }
}

fn link_sites(program: &CheckedProgram, body: &[GStmt], out: &mut Vec<LinkSite>) {
    for stmt in body {
        match stmt {
            GStmt::Link {
                module,
                protocol,
                roles,
                params,
                loc,
                ..
            } => out.push(LinkSite {
                loc: *loc,
                module: module.clone(),
                protocol: protocol.clone(),
                roles: roles.clone(),
                params: params.clone(),
                target: program.id_of(module, protocol),
                fingerprint: program
                    .protocol(module, protocol)
                    .map_or([0; 32], crate::project::print::fingerprint),
            }),
            GStmt::Choice { branches, .. } => {
                for b in branches {
                    link_sites(program, &b.body, out);
                }
            }
            GStmt::Rec { body, .. } => link_sites(program, body, out),
            GStmt::Par { branches, .. } => {
                for b in branches {
                    link_sites(program, b, out);
                }
            }
            GStmt::Timeout { body, handler, .. } => {
                link_sites(program, body, out);
                link_sites(program, handler, out);
            }
            _ => {}
        }
    }
}

fn delegations(roles: &[RoleMachine]) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for role in roles {
        let Ok(machine) = &role.machine else {
            continue;
        };
        for (id, n) in &role.numbers {
            if matches!(
                machine.state(*id).map(|s| &s.op),
                Some(Op::DelegateTo { .. })
            ) {
                out.insert(instance_key(&role.target), *n);
            }
        }
    }
    out
}

fn guard_capabilities(roles: &[RoleMachine]) -> Option<Vec<String>> {
    let mut guarded = false;
    let mut caps: Vec<String> = Vec::new();
    let machines = roles.iter().filter_map(|r| r.machine.as_ref().ok());
    for state in machines.flat_map(|m| &m.states) {
        let msg = match &state.op {
            Op::Send { msg, .. } | Op::SendAll { msg, .. } | Op::Exchange { msg, .. } => msg,
            _ => continue,
        };
        guarded |= !msg.annotations.is_empty();
        for a in &msg.annotations {
            if let Annotation::Guard { capability } = a {
                if !caps.contains(capability) {
                    caps.push(capability.clone());
                }
            }
        }
    }
    caps.sort();
    guarded.then_some(caps)
}
