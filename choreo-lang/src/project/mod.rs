//! Projection (the language contract §5): global protocol → one local type per role,
//! with full merge, plus the checks that need projection (knowledge of
//! choice, the chooser acting first, handlers that start by sending, roles
//! still active at a `link`, `delegate` to a role that acts later).
//!
//! Projection is a small interpreter ([`interp`]): it walks the checked
//! global protocol once per target and maps each statement to that target's
//! local actions; [`merge`](mod@merge) is the full merge. The walk judges nothing: it
//! returns the local type and the [`facts`] it observed (merge conflicts,
//! how chosen branches and handlers start, who plays which role after a
//! `delegate`, what happens after a `link`), and the E04xx checks
//! ([`checks`]) are their own pass over that output. Everything clever
//! lives in the diagnostics.
//!
//! Targets ([`targets`]):
//! - a single role gets one local type ([`Target::Role`]);
//! - a family that the protocol only uses through `[*]` gets one shared
//!   local type ([`Target::Family`]);
//! - a family whose members are named (literal indices, e.g. from an
//!   unrolled `for`) with a literal size gets one local type per member
//!   ([`Target::Member`]), named or not (unnamed members still take part
//!   in `[*]` statements);
//! - a family whose members are named but whose size is a parameter gets
//!   one local type per *named* member plus one [`Target::Family`] local
//!   type that stands for every member not named (`W[*] -> W[0]` with size
//!   `n`: `local W[0]` receives from all, `local W` sends to `W[0]`). The
//!   same holds for a literal size above [`MAX_MEMBER_LOCALS`].
//!
//! Architecture invariant: projection reads only [`crate::global`] and
//! produces only [`crate::local`]; it never sees syntax.

mod checks;
pub mod codes;
mod facts;
mod interp;
pub mod merge;
pub mod print;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{has_errors, Diagnostic};
use crate::global::{self, GStmt, Participant, Size};
use crate::local::{self, LocalAction, Target};

pub use merge::{merge, MergeConflict};
pub use print::{fingerprint, print_global, print_local};

/// A literal-size family with named members gets one local type per member
/// up to this size; above it, named members plus one shared local type for
/// the rest (as for a parameter size).
pub const MAX_MEMBER_LOCALS: u64 = 1024;

/// Projects one checked protocol onto every role (or family member).
///
/// Locals come in role declaration order; a family's members in index
/// order, followed by the shared "every other member" local when there is
/// one. All projection errors of the protocol are reported together, in
/// source order.
pub fn project_protocol(
    program: &global::CheckedProgram,
    protocol: &global::GlobalProtocol,
) -> Result<Vec<local::LocalProtocol>, Vec<Diagnostic>> {
    let _ = program; // linked protocols are resolved and checked by the checker
    project_with(protocol, interp::Shared::new(protocol))
}

fn project_with(
    protocol: &global::GlobalProtocol,
    mut shared: interp::Shared,
) -> Result<Vec<local::LocalProtocol>, Vec<Diagnostic>> {
    let mut locals = Vec::new();
    let mut found: Vec<Diagnostic> = Vec::new();
    let mut knowledge: Vec<(global::Loc, Diagnostic)> = Vec::new();
    let mut failed_choices: Vec<global::Loc> = Vec::new();
    for target in targets(protocol) {
        let outcome = interp::project_target(protocol, &target, &mut shared);
        let verdicts = checks::check(&protocol.name, &target, outcome.facts);
        found.extend(verdicts.diagnostics);
        knowledge.extend(verdicts.knowledge);
        failed_choices.extend(verdicts.failed_choices);
        locals.push(local::LocalProtocol {
            module: protocol.module.clone(),
            protocol: protocol.name.clone(),
            params: protocol.params.clone(),
            target,
            body: outcome.body,
        });
    }
    found.extend(
        knowledge
            .into_iter()
            .filter(|(choice, _)| !failed_choices.contains(choice))
            .map(|(_, d)| d),
    );
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for d in found {
        let duplicate = diagnostics.iter().any(|e| {
            e.code == d.code && e.primary.span == d.primary.span && e.message == d.message
        });
        if !duplicate {
            diagnostics.push(d);
        }
    }
    if has_errors(&diagnostics) {
        diagnostics.sort_by_key(|d| (d.primary.file, d.primary.span.start, d.primary.span.end));
        return Err(diagnostics);
    }
    Ok(locals)
}

/// The local types a protocol projects to, in output order (see the module
/// documentation for the family rules).
pub fn targets(protocol: &global::GlobalProtocol) -> Vec<Target> {
    let mut named: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    collect_members(&protocol.body, &mut named);
    let mut out = Vec::new();
    for role in &protocol.roles {
        let Some(size) = &role.family else {
            out.push(Target::Role(role.name.clone()));
            continue;
        };
        let members = named.get(role.name.as_str());
        match (members, size) {
            (None, _) => out.push(Target::Family(role.name.clone())),
            (Some(_), Size::Literal(n)) if *n <= MAX_MEMBER_LOCALS => {
                out.extend((0..*n).map(|i| Target::Member(role.name.clone(), i)));
            }
            (Some(set), size) => {
                let limit = match size {
                    Size::Literal(n) => *n,
                    Size::Param(_) => u64::MAX,
                };
                out.extend(
                    set.iter()
                        .filter(|i| **i < limit)
                        .map(|i| Target::Member(role.name.clone(), *i)),
                );
                out.push(Target::Family(role.name.clone()));
            }
        }
    }
    out
}

fn collect_members<'a>(block: &'a [GStmt], named: &mut BTreeMap<&'a str, BTreeSet<u64>>) {
    let mut note = |p: &'a Participant| {
        if let Participant::Member(w, i) = p {
            named.entry(w.as_str()).or_default().insert(*i);
        }
    };
    let mut nested: Vec<&'a [GStmt]> = Vec::new();
    for stmt in block {
        match stmt {
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
            GStmt::Continue { .. } => {}
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
        }
    }
    for inner in nested {
        collect_members(inner, named);
    }
}

/// The first `len` bytes of `loc` (a keyword or name at its start), so a
/// label does not underline a whole multi-line statement.
pub(crate) fn head(loc: global::Loc, len: usize) -> global::Loc {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let end = loc.span.start.saturating_add(len).min(loc.span.end);
    global::Loc {
        file: loc.file,
        span: crate::span::Span {
            start: loc.span.start,
            end,
        },
    }
}

/// the language contract §3.2: a local type starts by sending when its first action
/// is a `send`, `send all`, `select`, `exchange` or `link`, or a
/// `rec`/`timeout` whose body starts by sending, or a `par` whose branches
/// all do. An empty type does not.
pub fn starts_by_sending(block: &[LocalAction]) -> bool {
    match block.first() {
        None => false,
        Some(
            LocalAction::Send { .. }
            | LocalAction::SendAll { .. }
            | LocalAction::Select { .. }
            | LocalAction::Exchange { .. }
            | LocalAction::Link { .. },
        ) => true,
        Some(LocalAction::Rec { body, .. } | LocalAction::Timeout { body, .. }) => {
            starts_by_sending(body)
        }
        Some(LocalAction::Par { branches, .. }) => {
            !branches.is_empty() && branches.iter().all(|b| starts_by_sending(b))
        }
        Some(_) => false,
    }
}
