//! Canonical printed forms.
//!
//! - [`print_local`]: a local type exactly as the language contract §5 shows it (what
//!   `choreo project` prints and snapshots store).
//! - [`print_global`]: the canonical text of a checked global protocol, and
//!   [`fingerprint`], the SHA-256 of that text, which `link` joins compare at
//!   run time and code generation emits as `FINGERPRINT`.
//!
//! Both printers loop over sequences and recurse only into nested blocks.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::global::{Annotation, GMessage, GStmt, GlobalProtocol, Label, LeakClass, Payload};
use crate::local::{Arm, LocalAction, LocalBlock, LocalProtocol};

const INDENT: &str = "  ";

/// Canonical printed form of a local type (the language contract §5), ending in a newline.
pub fn print_local(local: &LocalProtocol) -> String {
    let mut out = String::new();
    let _ = write!(out, "local {} in {}", local.target, local.protocol);
    if !local.params.is_empty() {
        let _ = write!(out, "({})", local.params.join(", "));
    }
    out.push_str(" {\n");
    if local.body.is_empty() {
        out.push_str(INDENT);
        out.push_str("end;\n");
    } else {
        local_lines(&mut out, &local.body, 1);
    }
    out.push_str("}\n");
    out
}

/// The first line of an action without its block, for diagnostics:
/// `recv A L(T)`, `branch A { … }`, `rec X { … }`.
pub fn action_head(action: &LocalAction) -> String {
    match action {
        LocalAction::Select { .. } => "select { … }".to_string(),
        LocalAction::Branch { from, arms, .. } => {
            let arms: Vec<String> = arms.iter().map(arm_head).collect();
            format!("branch {from} {{ {} }}", arms.join(" | "))
        }
        LocalAction::Rec { name, .. } => format!("rec {name} {{ … }}"),
        LocalAction::Par { .. } => "par { … }".to_string(),
        LocalAction::Timeout { text, .. } => format!("timeout {text} {{ … }}"),
        simple => {
            let mut out = String::new();
            simple_line(&mut out, simple);
            out
        }
    }
}

fn message(label: &Label, payload: &Payload) -> String {
    if payload.is_unit() {
        label.name.to_string()
    } else {
        format!("{}({})", label.name, payload.written)
    }
}

fn arm_head(arm: &Arm) -> String {
    message(&arm.label, &arm.payload)
}

/// Writes a non-block action without indent or `;`.
fn simple_line(out: &mut String, action: &LocalAction) {
    let _ = match action {
        LocalAction::Send {
            to, label, payload, ..
        } => write!(out, "send {to} {}", message(label, payload)),
        LocalAction::Recv {
            from,
            label,
            payload,
            ..
        } => write!(out, "recv {from} {}", message(label, payload)),
        LocalAction::SendAll {
            family,
            label,
            payload,
            ..
        } => write!(out, "send all {family} {}", message(label, payload)),
        LocalAction::RecvAll {
            family,
            label,
            payload,
            quorum,
            ..
        } => {
            let _ = write!(out, "recv all {family} {}", message(label, payload));
            quorum_suffix(out, quorum.as_ref());
            Ok(())
        }
        LocalAction::Exchange {
            family,
            label,
            payload,
            quorum,
            ..
        } => {
            let _ = write!(out, "exchange {family} {}", message(label, payload));
            quorum_suffix(out, quorum.as_ref());
            Ok(())
        }
        LocalAction::Continue { name, .. } => write!(out, "continue {name}"),
        LocalAction::Link {
            protocol,
            args_text,
            ..
        } => write!(out, "link {protocol}({args_text})"),
        LocalAction::DelegateTo { to, .. } => write!(out, "delegate to {to}"),
        LocalAction::AcceptFrom { from, .. } => write!(out, "accept from {from}"),
        LocalAction::Select { .. }
        | LocalAction::Branch { .. }
        | LocalAction::Rec { .. }
        | LocalAction::Par { .. }
        | LocalAction::Timeout { .. } => Ok(()),
    };
}

fn quorum_suffix(out: &mut String, quorum: Option<&crate::global::Size>) {
    if let Some(q) = quorum {
        let _ = write!(out, " quorum {q}");
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str(INDENT);
    }
}

/// Writes `{ end; }` for an empty block, else `{`, the lines, and `}` at `depth`.
fn local_block(out: &mut String, block: &LocalBlock, depth: usize) {
    if block.is_empty() {
        out.push_str("{ end; }");
        return;
    }
    out.push_str("{\n");
    local_lines(out, block, depth + 1);
    indent(out, depth);
    out.push('}');
}

fn local_lines(out: &mut String, block: &LocalBlock, depth: usize) {
    for action in block {
        indent(out, depth);
        match action {
            LocalAction::Select { branches, .. } => {
                out.push_str("select {\n");
                for (name, body) in branches {
                    indent(out, depth + 1);
                    let _ = write!(out, "{name} => ");
                    local_block(out, body, depth + 1);
                    out.push('\n');
                }
                indent(out, depth);
                out.push_str("}\n");
            }
            LocalAction::Branch { from, arms, .. } => {
                let _ = writeln!(out, "branch {from} {{");
                for arm in arms {
                    indent(out, depth + 1);
                    let _ = write!(out, "{} => ", arm_head(arm));
                    local_block(out, &arm.body, depth + 1);
                    out.push('\n');
                }
                indent(out, depth);
                out.push_str("}\n");
            }
            LocalAction::Rec { name, body, .. } => {
                let _ = write!(out, "rec {name} ");
                local_block(out, body, depth);
                out.push('\n');
            }
            LocalAction::Par { branches, .. } => {
                out.push_str("par ");
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" and ");
                    }
                    local_block(out, branch, depth);
                }
                out.push('\n');
            }
            LocalAction::Timeout {
                text,
                body,
                handler,
                ..
            } => {
                let _ = write!(out, "timeout {text} ");
                local_block(out, body, depth);
                out.push_str(" else ");
                local_block(out, handler, depth);
                out.push('\n');
            }
            simple => {
                simple_line(out, simple);
                out.push_str(";\n");
            }
        }
    }
}

/// Canonical text of a checked global protocol.
///
/// Deterministic and independent of layout, comments, docs and aliases:
/// payloads print alias-expanded, labels declared by another protocol
/// (inlined by `call`) print as `Namespace::Label`, durations in
/// milliseconds, `link` targets module-qualified with resolved arguments,
/// annotations before their message. Two protocols with the same text are
/// the same protocol for `link` compatibility.
pub fn print_global(protocol: &GlobalProtocol) -> String {
    let mut out = String::new();
    let _ = write!(out, "protocol {}", protocol.name);
    if !protocol.params.is_empty() {
        let _ = write!(out, "({})", protocol.params.join(", "));
    }
    out.push_str(" {\n");
    let roles: Vec<String> = protocol
        .roles
        .iter()
        .map(|r| match &r.family {
            Some(size) => format!("{}[{size}]", r.name),
            None => r.name.to_string(),
        })
        .collect();
    let _ = writeln!(out, "{INDENT}roles {};", roles.join(", "));
    global_lines(&mut out, protocol, &protocol.body, 1);
    out.push_str("}\n");
    out
}

/// SHA-256 of [`print_global`]: identifies a protocol version for `link`.
pub fn fingerprint(protocol: &GlobalProtocol) -> [u8; 32] {
    Sha256::digest(print_global(protocol).as_bytes()).into()
}

fn global_block(out: &mut String, protocol: &GlobalProtocol, block: &[GStmt], depth: usize) {
    if block.is_empty() {
        out.push_str("{ }");
        return;
    }
    out.push_str("{\n");
    global_lines(out, protocol, block, depth + 1);
    indent(out, depth);
    out.push('}');
}

fn global_label(protocol: &GlobalProtocol, label: &Label) -> String {
    if *label.namespace == *protocol.name || label.namespace.is_empty() {
        label.name.to_string()
    } else {
        format!("{}::{}", label.namespace, label.name)
    }
}

/// One annotation as written in the canonical global type
/// (`@guard("cap")`, `@cost(3)`, `@journal("fact")`, `@leak(group, 1)`).
pub fn annotation(a: &Annotation) -> String {
    match a {
        Annotation::Guard { capability } => format!("@guard({capability:?})"),
        Annotation::Cost { amount } => format!("@cost({amount})"),
        Annotation::Journal { fact } => format!("@journal({fact:?})"),
        Annotation::Leak { class, bits } => {
            let class = match class {
                LeakClass::Relationship => "relationship",
                LeakClass::Group => "group",
                LeakClass::Neighbor => "neighbor",
                LeakClass::External => "external",
            };
            format!("@leak({class}, {bits})")
        }
    }
}

fn global_message(out: &mut String, protocol: &GlobalProtocol, m: &GMessage) {
    for a in &m.annotations {
        out.push_str(&annotation(a));
        out.push(' ');
    }
    let _ = write!(
        out,
        "{} -> {} : {}",
        m.from,
        m.to,
        global_label(protocol, &m.label)
    );
    if !m.payload.is_unit() {
        let _ = write!(out, "({})", m.payload.canonical);
    }
    quorum_suffix(out, m.quorum.as_ref());
    out.push_str(";\n");
}

fn global_lines(out: &mut String, protocol: &GlobalProtocol, block: &[GStmt], depth: usize) {
    for stmt in block {
        indent(out, depth);
        match stmt {
            GStmt::Message(m) => global_message(out, protocol, m),
            GStmt::Choice {
                chooser, branches, ..
            } => {
                let _ = writeln!(out, "choice at {chooser} {{");
                for b in branches {
                    indent(out, depth + 1);
                    let _ = write!(out, "{} => ", b.name);
                    global_block(out, protocol, &b.body, depth + 1);
                    out.push('\n');
                }
                indent(out, depth);
                out.push_str("}\n");
            }
            GStmt::Rec { name, body, .. } => {
                let _ = write!(out, "rec {name} ");
                global_block(out, protocol, body, depth);
                out.push('\n');
            }
            GStmt::Continue { name, .. } => {
                let _ = writeln!(out, "continue {name};");
            }
            GStmt::Par { branches, .. } => {
                out.push_str("par ");
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" and ");
                    }
                    global_block(out, protocol, branch, depth);
                }
                out.push('\n');
            }
            GStmt::Link {
                module,
                protocol: sub,
                roles,
                params,
                ..
            } => {
                let roles: Vec<String> = roles.iter().map(ToString::to_string).collect();
                let _ = write!(out, "link {module}.{sub}({}", roles.join(", "));
                if !params.is_empty() {
                    let params: Vec<String> = params.iter().map(ToString::to_string).collect();
                    let _ = write!(out, "; {}", params.join(", "));
                }
                out.push_str(");\n");
            }
            GStmt::Delegate { from, to, .. } => {
                let _ = writeln!(out, "delegate {from} to {to};");
            }
            GStmt::Timeout {
                millis,
                body,
                handler,
                ..
            } => {
                let _ = write!(out, "timeout {millis}ms ");
                global_block(out, protocol, body, depth);
                out.push_str(" else ");
                global_block(out, protocol, handler, depth);
                out.push('\n');
            }
        }
    }
}
