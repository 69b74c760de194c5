//! Names that generated Rust would define twice, or that would hide a
//! standard crate.
//!
//! A protocol becomes a module named by its `snake_case` name, and each role
//! a module inside it, beside the items every protocol module has. Two
//! names that differ in the source can meet there (`HTTPServer` and
//! `HttpServer` are both `http_server`; a role `Labels` is the module
//! `labels`), and rustc would then report "defined multiple times" inside
//! the macro expansion, far from the cause. A protocol module named `std`,
//! `core` or `alloc` would hide that crate where the macro is invoked.
//! These checks report both at the declarations instead, before any code
//! is generated.

use std::collections::HashMap;

use super::codes;
use super::names::{protocol_module_ident, role_module_ident};
use crate::diagnostic::Diagnostic;
use crate::global::Loc;
use crate::local::Target;
use crate::machine::{Header, ProtocolMachines, RoleMachine};

/// Type-namespace items at the root of every generated protocol module (a
/// role module or a label type of the same name would clash), and what
/// each is.
pub(super) const ROOT_TYPES: &[(&str, &str)] = &[
    ("rt", "the runtime crate (`use ::choreo_runtime as rt`)"),
    ("Params", "the protocol's parameters"),
    ("Chan", "a live endpoint"),
    ("LinkPoint", "what a `link` hands over"),
    ("labels", "the module of message label types"),
    ("lanes", "the module of typed in-memory lanes"),
    (
        "payloads",
        "the module of payload types named from where the macro is invoked",
    ),
];
/// The crates every Rust module can name by a relative path (`std::…`),
/// which a protocol module of the same name would hide.
const STANDARD_CRATES: &[&str] = &["std", "core", "alloc"];

/// Value-namespace items at the root of every generated protocol module.
pub(super) const ROOT_VALUES: &[&str] = &["FINGERPRINT", "PROTOCOL", "roster", "sessions"];

/// Protocols of one generated file whose modules would share a name.
pub(super) fn protocol_modules<'a>(
    protocols: impl Iterator<Item = &'a ProtocolMachines>,
) -> Vec<Diagnostic> {
    let mut seen: HashMap<String, &Header> = HashMap::new();
    let mut out = Vec::new();
    for protocol in protocols {
        let header = &protocol.header;
        let module = protocol_module_ident(&header.name).to_string();
        if STANDARD_CRATES.contains(&module.as_str()) {
            out.push(
                Diagnostic::error(
                    codes::NAME_CLASH,
                    format!(
                        "protocol `{}` would generate the module `{module}`, which hides the \
                         `{module}` crate where the macro is invoked",
                        header.name
                    ),
                    header.loc.file,
                    header.loc.span,
                    format!("its module would be `{module}`"),
                )
                .with_hint(format!(
                    "rename the protocol: beside a module `{module}`, every `{module}::…` path \
                     there (payload types included) would name the protocol's module"
                )),
            );
        }
        match seen.get(&module) {
            Some(first) => out.push(
                clash(
                    &module,
                    header.loc,
                    format!("protocol `{}`", header.name),
                    first.loc,
                    format!("protocol `{}`", first.name),
                )
                .with_hint(format!(
                    "rename one of the protocols; each protocol becomes a Rust module named by its \
                     snake_case name, and `{}` and `{}` have the same one",
                    first.name, header.name
                )),
            ),
            None => {
                seen.insert(module, header);
            }
        }
    }
    out
}

/// Role modules of one protocol that would share a name with each other or
/// with an item of the protocol module (`labels`, `lanes`, `rt`). A family
/// whose members have modules of their own (`node_0`, `node_1`) is checked
/// member by member.
pub(super) fn role_modules(header: &Header, roles: &[RoleMachine]) -> Vec<Diagnostic> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::new();
    let loc_of = |role: &str| {
        header
            .roles
            .iter()
            .find(|r| *r.name == *role)
            .map_or(header.loc, |r| r.loc)
    };
    for local in roles {
        let (Target::Role(role) | Target::Family(role) | Target::Member(role, _)) = &local.target;
        let role: &str = role;
        let module = role_module_ident(&local.target).to_string();
        // At most one target of a role has a module without `_<index>`,
        // so each clash below is found once.
        if let Some((_, item)) = ROOT_TYPES.iter().find(|(name, _)| *name == module) {
            let loc = loc_of(role);
            out.push(
                Diagnostic::error(
                    codes::NAME_CLASH,
                    format!(
                        "role `{role}` would generate the module `{module}`, which every \
                         generated protocol module already has"
                    ),
                    loc.file,
                    loc.span,
                    format!("its module would be `{module}`"),
                )
                .with_hint(format!(
                    "rename the role: `{module}` in the protocol's module is {item}"
                )),
            );
        } else if let Some(&first) = seen.get(&module) {
            out.push(
                clash(
                    &module,
                    loc_of(role),
                    format!("role `{role}`"),
                    loc_of(first),
                    format!("role `{first}`"),
                )
                .with_hint(format!(
                    "rename one of the roles; each role becomes a Rust module named by its \
                     snake_case name (a named family member's adds `_<index>`), and `{first}` \
                     and `{role}` give the same one"
                )),
            );
        } else {
            seen.insert(module, role);
        }
    }
    out
}

/// `second` would be a module of the same name as `first`.
fn clash(module: &str, second: Loc, what: String, first: Loc, first_what: String) -> Diagnostic {
    Diagnostic::error(
        codes::NAME_CLASH,
        format!("{what} and {first_what} would both generate the Rust module `{module}`"),
        second.file,
        second.span,
        format!("its module would be `{module}`"),
    )
    .with_secondary(
        first.file,
        first.span,
        format!("{first_what} is `{module}` too"),
    )
}
