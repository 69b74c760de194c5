//! `choreo fmt`: canonical layout of a source file, idempotent, keeping
//! comments.
//!
//! Layout: header comments, `module`, `use`s, then the items, one blank
//! line between groups and between items (consecutive type aliases without
//! comments stay together), and after `roles`; four-space indentation; one
//! statement per line; a statement's comments, then its doc comments, then
//! its annotations (on one line) on the lines before it; an empty block is
//! `{}`. Payload types print in rustfmt spacing (`Vec<u8>`,
//! `(u32, String)`). Comments inside a statement move before it; comments
//! after a statement on the same line stay there, one space after it; a
//! blank line (or several) between two statements stays one blank line.
//! Error nodes (the parser skipped text there) print nothing,
//! so callers must not format a file with syntax errors.

use crate::ast::{
    Annotation, AnnotationArg, Block, File, Item, Leading, Protocol, RoleDecl, Stmt, StmtKind,
};
use crate::check::type_text;
use crate::syntax::parser::{role_ref_text, size_text};

const INDENT: &str = "    ";

/// Prints `file` in canonical layout.
pub fn format_file(file: &File) -> String {
    let mut groups: Vec<String> = Vec::new();
    let mut header = String::new();
    for c in &file.header_comments {
        header.push_str(c);
        header.push('\n');
    }
    if let Some(m) = &file.module {
        header.push_str(&format!("module {};\n", m.dotted()));
    }
    if !header.is_empty() {
        groups.push(header);
    }
    if !file.uses.is_empty() {
        let uses: String = file
            .uses
            .iter()
            .map(|u| format!("use {};\n", u.path.dotted()))
            .collect();
        groups.push(uses);
    }
    let mut prev_alias = false;
    for item in &file.items {
        let mut out = String::new();
        match item {
            Item::TypeAlias(a) => {
                leading(&mut out, &a.leading, 0);
                // Formatted files have no syntax errors, so every type prints.
                let ty = type_text(&a.ty).unwrap_or_default();
                out.push_str(&format!("type {} = {ty};\n", a.name.name));
                // Consecutive aliases stay together unless commented.
                let plain = a.leading == Leading::default();
                if prev_alias && plain {
                    if let Some(last) = groups.last_mut() {
                        last.push_str(&out);
                        continue;
                    }
                }
                prev_alias = true;
            }
            Item::Protocol(p) => {
                protocol(&mut out, p);
                prev_alias = false;
            }
            Item::Error(_) => continue,
        }
        groups.push(out);
    }
    if !file.trailing_comments.is_empty() {
        let mut out = String::new();
        for c in &file.trailing_comments {
            out.push_str(c);
            out.push('\n');
        }
        groups.push(out);
    }
    groups.join("\n")
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str(INDENT);
    }
}

fn line(out: &mut String, depth: usize, text: &str) {
    indent(out, depth);
    out.push_str(text);
    out.push('\n');
}

fn leading(out: &mut String, l: &Leading, depth: usize) {
    for c in &l.comments {
        line(out, depth, c);
    }
    for d in &l.docs {
        line(out, depth, &format!("///{d}"));
    }
}

fn protocol(out: &mut String, p: &Protocol) {
    leading(out, &p.leading, 0);
    let params = if p.params.is_empty() {
        String::new()
    } else {
        format!(
            "({})",
            p.params
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.push_str(&format!("protocol {}{params} {{\n", p.name.name));
    if !p.roles.is_empty() || p.roles_span.is_some() {
        let roles: Vec<String> = p.roles.iter().map(role_decl).collect();
        line(out, 1, &format!("roles {};", roles.join(", ")));
        if !p.body.stmts.is_empty() || !p.body.trailing_comments.is_empty() {
            out.push('\n');
        }
    }
    block_body(out, &p.body, 1);
    out.push_str("}\n");
}

fn role_decl(r: &RoleDecl) -> String {
    match &r.family {
        Some(size) => format!("{}[{}]", r.name.name, size_text(size)),
        None => String::from(r.name.name.as_str()),
    }
}

/// The statements and trailing comments of a block, at `depth`.
fn block_body(out: &mut String, b: &Block, depth: usize) {
    for (i, s) in b.stmts.iter().enumerate() {
        if i > 0 && s.layout.blank_line_before {
            out.push('\n');
        }
        stmt(out, s, depth);
    }
    for c in &b.trailing_comments {
        line(out, depth, c);
    }
}

/// `{` … `}` after text already on the line; `{}` when empty.
fn block(out: &mut String, b: &Block, depth: usize) {
    if b.stmts.iter().all(|s| matches!(s.kind, StmtKind::Error)) && b.trailing_comments.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    block_body(out, b, depth + 1);
    indent(out, depth);
    out.push('}');
}

fn annotation(a: &Annotation) -> String {
    if a.args.is_empty() {
        return format!("@{}", a.name.name);
    }
    let args: Vec<String> = a
        .args
        .iter()
        .map(|arg| match arg {
            AnnotationArg::Str { value, .. } => format!("{value:?}"),
            AnnotationArg::Int { value, .. } => value.to_string(),
            AnnotationArg::Ident(id) => String::from(id.name.as_str()),
        })
        .collect();
    format!("@{}({})", a.name.name, args.join(", "))
}

fn stmt(out: &mut String, s: &Stmt, depth: usize) {
    if matches!(s.kind, StmtKind::Error) {
        return;
    }
    leading(out, &s.leading, depth);
    if !s.annotations.is_empty() {
        let anns: Vec<String> = s.annotations.iter().map(annotation).collect();
        line(out, depth, &anns.join(" "));
    }
    indent(out, depth);
    match &s.kind {
        StmtKind::Message(m) => {
            out.push_str(&format!(
                "{} -> {} : {}",
                role_ref_text(&m.from),
                role_ref_text(&m.to),
                m.label.name
            ));
            if let Some(ty) = &m.payload {
                out.push_str(&format!("({})", type_text(ty).unwrap_or_default()));
            }
            if let Some(q) = &m.quorum {
                out.push_str(&format!(" quorum {}", size_text(q)));
            }
            out.push(';');
        }
        StmtKind::Choice { chooser, branches } => {
            out.push_str(&format!("choice at {} {{\n", role_ref_text(chooser)));
            for b in branches {
                leading(out, &b.leading, depth + 1);
                indent(out, depth + 1);
                out.push_str(&format!("{} => ", b.name.name));
                block(out, &b.body, depth + 1);
                out.push('\n');
            }
            indent(out, depth);
            out.push('}');
        }
        StmtKind::Rec { name, body } => {
            out.push_str(&format!("rec {} ", name.name));
            block(out, body, depth);
        }
        StmtKind::Continue { name } => out.push_str(&format!("continue {};", name.name)),
        StmtKind::Par { branches } => {
            out.push_str("par ");
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push_str(" and ");
                }
                block(out, b, depth);
            }
        }
        StmtKind::For { var, family, body } => {
            out.push_str(&format!("for {} in {} ", var.name, family.name));
            block(out, body, depth);
        }
        StmtKind::Call(inv) => {
            out.push_str(&format!(
                "call {}({});",
                inv.protocol.dotted(),
                inv.args_text
            ));
        }
        StmtKind::Link(inv) => {
            out.push_str(&format!(
                "link {}({});",
                inv.protocol.dotted(),
                inv.args_text
            ));
        }
        StmtKind::Delegate { from, to } => out.push_str(&format!(
            "delegate {} to {};",
            role_ref_text(from),
            role_ref_text(to)
        )),
        StmtKind::Timeout {
            duration,
            body,
            handler,
        } => {
            out.push_str(&format!("timeout {duration} "));
            block(out, body, depth);
            out.push_str(" else ");
            block(out, handler, depth);
        }
        StmtKind::Error => {}
    }
    for comment in &s.layout.end_of_line {
        out.push(' ');
        out.push_str(comment);
    }
    out.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::syntax::parse_source;
    use crate::FileId;

    /// A protocol written inside `choreography! { … }` (a token stream)
    /// parses to the same tree as the same text in a file, up to spans
    /// and ordinary comments (token streams have none).
    #[test]
    fn token_stream_and_text_parse_to_the_same_protocol() {
        let text = "module aura.consensus; use aura.types;\n\
            /// Single-shot agreement.\n\
            protocol Consensus(n, t) { roles Initiator, Witness[n];\n\
            @guard(\"consensus:initiate\") @cost(100)\n\
            Initiator -> Witness[*] : Execute(Vec<Vec<u8>>) quorum t;\n\
            choice at Initiator { Commit => { Initiator -> Witness[*] : C(::std::string::String); } Abort => { } }\n\
            for i in Witness { Witness[i] -> Witness[i+1] : T((u32, [u8; 32])); }\n\
            timeout 500ms { call Sub(Initiator, Witness; t); } else { link x.Fallback(Witness); }\n\
            delegate Initiator to Witness[0]; }";
        let ts: proc_macro2::TokenStream = text.parse().unwrap();
        let (from_stream, diags, _) = crate::syntax::parse_token_stream(ts, FileId(0));
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(format_file(&from_stream), fmt(text));
    }

    fn fmt(text: &str) -> String {
        let (file, diags) = parse_source(text, FileId(0));
        assert!(diags.is_empty(), "{diags:#?}");
        format_file(&file)
    }

    const MESSY: &str = "// header comment\nmodule   aura.consensus ;use aura.types;\n\
        type Share=frost_ed25519::round2::SignatureShare;\n\n\n\
        /// Single-shot agreement.\nprotocol Consensus( n,t ){roles Initiator,Witness[ n ];\n\
        @guard(\"consensus:initiate\")   @cost( 100 )\nInitiator->Witness[*]:Execute(Proposal);// trailing\n\n\n\
        Witness[*]->Initiator:Share(Vec < u8 >)quorum t;\n\
        choice at Initiator{Commit=>{Initiator->Witness[*]:Commit((u32,String));}Abort=>{}}\n\
        rec Loop{ /* inside */ Initiator->Witness[*]:Ping;continue Loop;}\n\
        par{Initiator->Witness[0]:A;}and{Witness[1]->Initiator:B([u8;32]);}\n\
        for i in Witness{Witness[i]->Witness[i+1]:Token(u64);}\n\
        call Sub( Initiator , Witness ; t );delegate Initiator to Witness[0];\n\
        timeout 2s{Initiator->Witness[*]:X;}else{link Fallback(Witness);}\n\
        // before the closing brace\n}\n// the end\n";

    const CANONICAL: &str = "// header comment
module aura.consensus;

use aura.types;

type Share = frost_ed25519::round2::SignatureShare;

/// Single-shot agreement.
protocol Consensus(n, t) {
    roles Initiator, Witness[n];

    @guard(\"consensus:initiate\") @cost(100)
    Initiator -> Witness[*] : Execute(Proposal); // trailing

    Witness[*] -> Initiator : Share(Vec<u8>) quorum t;
    choice at Initiator {
        Commit => {
            Initiator -> Witness[*] : Commit((u32, String));
        }
        Abort => {}
    }
    rec Loop {
        /* inside */
        Initiator -> Witness[*] : Ping;
        continue Loop;
    }
    par {
        Initiator -> Witness[0] : A;
    } and {
        Witness[1] -> Initiator : B([u8; 32]);
    }
    for i in Witness {
        Witness[i] -> Witness[i+1] : Token(u64);
    }
    call Sub(Initiator, Witness; t);
    delegate Initiator to Witness[0];
    timeout 2s {
        Initiator -> Witness[*] : X;
    } else {
        link Fallback(Witness);
    }
    // before the closing brace
}

// the end
";

    #[test]
    fn formats_every_form_canonically() {
        assert_eq!(fmt(MESSY), CANONICAL);
    }

    #[test]
    fn formatting_is_idempotent() {
        assert_eq!(fmt(CANONICAL), CANONICAL);
    }

    /// A user's layout survives: comments at the end of a line stay there
    /// (after a message, after a block's `}`, before a closing `}`), and
    /// runs of blank lines between statements become one.
    #[test]
    fn keeps_end_of_line_comments_and_blank_lines() {
        let text = "protocol P {\n    roles A, B;\n\n    A -> B : Ping; // first\n\n\n\n    \
            choice at A { // who decides\n        Go => {\n            A -> B : Go; /* go */ // on\n        }\n    } // chosen\n\
            \n    // a comment of its own\n    B -> A : Done;\n}\n";
        let expected = "protocol P {\n    roles A, B;\n\n    A -> B : Ping; // first\n\n    \
            choice at A {\n        // who decides\n        Go => {\n            A -> B : Go; /* go */ // on\n        }\n    } // chosen\n\
            \n    // a comment of its own\n    B -> A : Done;\n}\n";
        assert_eq!(fmt(text), expected);
        assert_eq!(fmt(expected), expected);
    }

    #[test]
    fn empty_protocol_and_comment_only_blocks() {
        let text = "protocol P {\n    roles A;\n\n    rec L {\n        // nothing yet\n    }\n}\n";
        assert_eq!(fmt(text), text);
        assert_eq!(fmt("protocol P{}"), "protocol P {\n}\n");
    }
}
