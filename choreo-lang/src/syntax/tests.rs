#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;
use crate::ast::*;

/// The segment names of a path type (types print in `check`, through the
/// one type printer).
fn path_names(ty: &TypeExpr) -> Vec<&str> {
    match &ty.kind {
        TypeKind::Path { segments, .. } => segments.iter().map(|s| s.name.name.as_str()).collect(),
        other => panic!("not a path: {other:?}"),
    }
}

fn nested_choice(depth: usize) -> String {
    let mut s = String::from("protocol P {\n roles A, B;\n");
    for i in 0..depth {
        s.push_str(&format!("choice at A {{ L{i} => {{ A -> B : X{i};\n"));
    }
    s.push_str("A -> B : Done;\n");
    for _ in 0..depth {
        s.push_str("} R => { A -> B : Y; } }\n");
    }
    s.push_str("}\n");
    s
}

fn shape(kind: &str, depth: usize) -> String {
    match kind {
        "choice" => nested_choice(depth),
        "rec" => format!(
            "protocol P {{ roles A, B; {} A -> B : X; {} }}",
            (0..depth)
                .map(|i| format!("rec L{i} {{ "))
                .collect::<String>(),
            "}".repeat(depth)
        ),
        "par" => format!(
            "protocol P {{ roles A, B; {} A -> B : X; {} }}",
            "par { ".repeat(depth),
            "} and { B -> A : Y; } ".repeat(depth)
        ),
        "generic" => format!(
            "protocol P {{ roles A, B; A -> B : X({}u8{}); }}",
            "Vec<".repeat(depth),
            ">".repeat(depth)
        ),
        "paren" => format!(
            "protocol P {{ roles A, B; A -> B : X({}u8{}); }}",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
        "array" => format!(
            "protocol P {{ roles A, B; A -> B : X({}u8{}); }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        "braces" => format!(
            "protocol P {{ roles A, B; {} {} }}",
            "{".repeat(depth),
            "}".repeat(depth)
        ),
        "garbage" => format!(
            "protocol P {{ roles A, B; x {} {} }}",
            "{ x ".repeat(depth),
            "}".repeat(depth)
        ),
        _ => String::new(),
    }
}

fn on_stack<T: Send + 'static>(bytes: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn parse(text: &str) -> (File, Vec<crate::Diagnostic>) {
    parse_source(text, crate::FileId(0))
}

fn parse_ok(text: &str) -> File {
    let (file, diags) = parse(text);
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
    file
}

/// The statements of a protocol whose body is `body`.
fn body(body: &str) -> Vec<Stmt> {
    let file = parse_ok(&format!("protocol P {{ roles A, B, W[3]; {body} }}"));
    match file.items.into_iter().next() {
        Some(Item::Protocol(p)) => p.body.stmts,
        other => panic!("expected a protocol, got {other:?}"),
    }
}

fn one(text: &str) -> StmtKind {
    let mut stmts = body(text);
    assert_eq!(stmts.len(), 1, "{stmts:#?}");
    stmts.remove(0).kind
}

fn codes_of(text: &str) -> Vec<&'static str> {
    parse(text).1.iter().map(|d| d.code).collect()
}

#[test]
fn file_header_module_use_alias_protocol() {
    let file = parse_ok(
        "// header\nmodule aura.consensus;\nuse aura.types;\n\
         type Share = frost_ed25519::round2::SignatureShare;\n\
         /// Single-shot agreement.\nprotocol Consensus(n, t) { roles Initiator, Witness[n]; }",
    );
    assert_eq!(file.header_comments, vec!["// header".to_string()]);
    assert_eq!(file.module.as_ref().unwrap().dotted(), "aura.consensus");
    assert_eq!(file.uses[0].path.dotted(), "aura.types");
    let Item::TypeAlias(alias) = &file.items[0] else {
        panic!()
    };
    assert_eq!(alias.name.name, "Share");
    assert_eq!(
        path_names(&alias.ty),
        ["frost_ed25519", "round2", "SignatureShare"]
    );
    let Item::Protocol(p) = &file.items[1] else {
        panic!()
    };
    assert_eq!(p.leading.docs, vec![" Single-shot agreement.".to_string()]);
    assert_eq!(p.name.name, "Consensus");
    assert_eq!(
        p.params.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["n", "t"]
    );
    assert_eq!(p.roles.len(), 2);
    assert!(p.roles[0].family.is_none());
    assert!(matches!(&p.roles[1].family, Some(Size::Param(id)) if id.name == "n"));
    assert!(p.roles_span.is_some());
}

#[test]
fn message_forms() {
    let StmtKind::Message(m) = one("A -> B : L(T);") else {
        panic!()
    };
    assert_eq!(
        (m.from.role.name.as_str(), m.to.role.name.as_str()),
        ("A", "B")
    );
    assert_eq!(m.label.name, "L");
    assert_eq!(path_names(&m.payload.unwrap()), ["T"]);
    let StmtKind::Message(m) = one("A -> B : Ack;") else {
        panic!()
    };
    assert!(m.payload.is_none() && m.quorum.is_none());
    let StmtKind::Message(m) = one("A -> B : Ack(());") else {
        panic!()
    };
    assert_eq!(m.payload.unwrap().kind, TypeKind::Tuple(vec![]));
    let StmtKind::Message(m) = one("W[*] -> A : Share(Vec<u8>) quorum 2;") else {
        panic!()
    };
    assert!(matches!(m.from.index, Some(RoleIndex::All { .. })));
    assert!(matches!(m.quorum, Some(Size::Literal { value: 2, .. })));
    let StmtKind::Message(m) = one("W[*] -> W[*] : X quorum t;") else {
        panic!()
    };
    assert!(matches!(m.quorum, Some(Size::Param(ref id)) if id.name == "t"));
    let StmtKind::Message(m) = one("W[2] -> W[0] : X;") else {
        panic!()
    };
    assert!(matches!(
        m.from.index,
        Some(RoleIndex::Literal { value: 2, .. })
    ));
}

#[test]
fn indexed_roles_keep_offsets() {
    let StmtKind::For { var, family, body } =
        one("for i in W { W[i] -> W[i+1] : T(u64); W[i-2] -> W[i] : U; }")
    else {
        panic!()
    };
    assert_eq!((var.name.as_str(), family.name.as_str()), ("i", "W"));
    let StmtKind::Message(m) = &body.stmts[0].kind else {
        panic!()
    };
    assert!(
        matches!(&m.from.index, Some(RoleIndex::Var { var, offset: 0, .. }) if var.name == "i")
    );
    assert!(matches!(
        &m.to.index,
        Some(RoleIndex::Var { offset: 1, .. })
    ));
    let StmtKind::Message(m) = &body.stmts[1].kind else {
        panic!()
    };
    assert!(matches!(
        &m.from.index,
        Some(RoleIndex::Var { offset: -2, .. })
    ));
}

#[test]
fn annotations_precede_messages() {
    let stmts = body(
        "@guard(\"consensus:initiate\") @cost(100) @leak(group, 8) A -> W[*] : Execute(Proposal);",
    );
    let anns = &stmts[0].annotations;
    assert_eq!(anns.len(), 3);
    assert!(
        matches!(&anns[0].args[0], AnnotationArg::Str { value, .. } if value == "consensus:initiate")
    );
    assert!(matches!(
        &anns[1].args[0],
        AnnotationArg::Int { value: 100, .. }
    ));
    assert!(matches!(&anns[2].args[0], AnnotationArg::Ident(id) if id.name == "group"));
    // The statement span covers its annotations.
    assert_eq!(stmts[0].span.start, anns[0].span.start);
}

#[test]
fn choice_rec_continue_par() {
    let StmtKind::Choice { chooser, branches } =
        one("choice at A { Commit => { A -> B : C(F); } Abort => { A -> B : R; } }")
    else {
        panic!()
    };
    assert_eq!(chooser.role.name, "A");
    assert_eq!(
        branches
            .iter()
            .map(|b| b.name.name.as_str())
            .collect::<Vec<_>>(),
        ["Commit", "Abort"]
    );
    let StmtKind::Rec { name, body } = one("rec Loop { A -> B : X; continue Loop; }") else {
        panic!()
    };
    assert_eq!(name.name, "Loop");
    assert!(matches!(&body.stmts[1].kind, StmtKind::Continue { name } if name.name == "Loop"));
    let StmtKind::Par { branches } = one("par { A -> B : X; } and { B -> A : Y; } and { }") else {
        panic!()
    };
    assert_eq!(branches.len(), 3);
    assert!(branches[2].stmts.is_empty());
}

#[test]
fn call_link_delegate_timeout() {
    let StmtKind::Call(inv) = one("call Sub(A, W; t, 3);") else {
        panic!()
    };
    assert_eq!(inv.protocol.dotted(), "Sub");
    assert_eq!(inv.roles.len(), 2);
    assert_eq!(inv.params.len(), 2);
    assert_eq!(inv.args_text, "A, W; t, 3");
    let StmtKind::Link(inv) = one("link other.mods.Sub(A,W[*]);") else {
        panic!()
    };
    assert_eq!(inv.protocol.dotted(), "other.mods.Sub");
    assert_eq!(inv.args_text, "A, W[*]");
    let StmtKind::Delegate { from, to } = one("delegate W[0] to B;") else {
        panic!()
    };
    assert!(matches!(
        from.index,
        Some(RoleIndex::Literal { value: 0, .. })
    ));
    assert_eq!(to.role.name, "B");
    let StmtKind::Timeout {
        duration,
        body,
        handler,
    } = one("timeout 500ms { A -> B : X; } else { link Fallback(A, B); }")
    else {
        panic!()
    };
    assert_eq!(duration.millis(), 500);
    assert_eq!(body.stmts.len(), 1);
    assert!(matches!(handler.stmts[0].kind, StmtKind::Link(_)));
}

#[test]
fn comments_attach_to_the_following_statement_or_the_end_of_their_line() {
    let file = parse_ok(
        "protocol P {\n roles A, B;\n // first\n /// doc\n A -> B : X; // trailing\n B -> A : Y;\n // end\n}\n// eof",
    );
    let Item::Protocol(p) = &file.items[0] else {
        panic!()
    };
    assert_eq!(p.body.stmts[0].leading.comments, vec!["// first"]);
    assert_eq!(p.body.stmts[0].leading.docs, vec![" doc"]);
    assert_eq!(p.body.stmts[0].layout.end_of_line, vec!["// trailing"]);
    assert!(p.body.stmts[1].leading.comments.is_empty());
    assert_eq!(p.body.trailing_comments, vec!["// end"]);
    assert_eq!(file.trailing_comments, vec!["// eof"]);
}

#[test]
fn three_independent_mistakes_give_three_diagnostics() {
    let text = "protocol P {\n    roles A, B;\n    A -> B : X\n    B -> A : Y;\n    A -> : Z;\n    rec continue { A -> B : W; }\n    B -> A : Done;\n}\n";
    let (file, diags) = parse(text);
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        [
            codes::MISSING_SEMI,
            codes::UNEXPECTED_TOKEN,
            codes::KEYWORD_AS_NAME
        ]
    );
    // Each points at its own line.
    let line_of = |d: &crate::Diagnostic| text[..d.primary.span.start as usize].lines().count();
    assert_eq!(diags.iter().map(line_of).collect::<Vec<_>>(), [3, 5, 6]);
    // The statements around the mistakes are still there.
    let Item::Protocol(p) = &file.items[0] else {
        panic!()
    };
    assert_eq!(p.body.stmts.len(), 5);
    assert!(matches!(p.body.stmts[2].kind, StmtKind::Error));
}

#[test]
fn missing_else_and_bad_duration_are_reported_and_repaired() {
    assert_eq!(
        codes_of("protocol P { roles A, B; timeout 2s { A -> B : X; } }"),
        [codes::MISSING_ELSE]
    );
    assert_eq!(
        codes_of("protocol P { roles A, B; timeout 2sec { A -> B : X; } else { } }"),
        [codes::BAD_DURATION]
    );
    assert_eq!(
        codes_of("protocol P { roles A, B; timeout 2 { A -> B : X; } else { } }"),
        [codes::BAD_DURATION]
    );
}

#[test]
fn unclosed_braces_at_eof_are_one_diagnostic() {
    let (_, diags) = parse("protocol P { roles A, B; choice at A { L => { A -> B : X;");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, codes::UNCLOSED_DELIMITER);
    assert_eq!(diags[0].secondary.len(), 2);
}

#[test]
fn stray_closing_brace_is_reported() {
    assert_eq!(
        codes_of("protocol P { roles A, B; } }\nprotocol Q { roles A; }"),
        [codes::STRAY_CLOSE]
    );
}

#[test]
fn keyword_as_protocol_or_role_name_is_reported() {
    assert_eq!(
        codes_of("protocol link { roles A; }"),
        [codes::KEYWORD_AS_NAME]
    );
    assert_eq!(
        codes_of("protocol P { roles A, par; }"),
        [codes::KEYWORD_AS_NAME]
    );
}

#[test]
fn truncated_files_never_panic_and_report() {
    let text = "module m;\nprotocol P(n) {\n roles A, W[n];\n @cost(3) A -> W[*] : X(Vec<(u8, [u8; 4])>) quorum n;\n choice at A { L => { timeout 2s { A -> W[0] : Y; } else { link Q(A); } } }\n}\n";
    for end in 0..text.len() {
        let (_, diags) = parse(&text[..end]);
        let clean = end == 0
            || text[..end].trim_end() == text.trim_end()
            || text[..end].trim_end() == "module m;";
        assert_eq!(diags.is_empty(), clean, "prefix {end}: {:?}", &text[..end]);
    }
}

#[test]
fn ten_thousand_messages_parse() {
    let mut text = String::from("protocol P { roles A, B;\n");
    for i in 0..10_000 {
        text.push_str(&format!("A -> B : M{i}(u32);\n"));
    }
    text.push('}');
    let n = on_stack(8 << 20, move || {
        let file = parse_ok(&text);
        match &file.items[0] {
            Item::Protocol(p) => p.body.stmts.len(),
            _ => 0,
        }
    });
    assert_eq!(n, 10_000);
}

#[test]
fn choices_rec_and_par_nested_200_deep_parse_on_8mib() {
    for kind in ["choice", "rec", "par"] {
        let text = shape(kind, 200);
        let diags = on_stack(8 << 20, move || parse(&text).1);
        assert!(diags.is_empty(), "{kind}: {diags:#?}");
    }
}

#[test]
fn nesting_limit_is_a_diagnostic() {
    let (_, diags) = parse(&shape("rec", 256));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(codes_of(&shape("rec", 257)), [codes::TOO_DEEP]);
    assert_eq!(codes_of(&shape("choice", 257)), [codes::TOO_DEEP]);
}

#[test]
fn hundred_thousand_open_braces_do_not_crash() {
    for text in [
        "{".repeat(100_000),
        format!("protocol P {{ roles A; {}", "{ > ".repeat(100_000)),
        format!(
            "protocol P {{ roles A; A -> A : X({}",
            "Vec<".repeat(100_000)
        ),
        "(".repeat(100_000),
    ] {
        assert_eq!(codes_of(&text), [codes::TOO_DEEP]);
    }
}

fn token_kinds(tokens: &[(token::Token, crate::Span)]) -> Vec<token::Token> {
    tokens
        .iter()
        .map(|(t, _)| t.clone())
        .filter(|t| !matches!(t, token::Token::Comment(_)))
        .collect()
}

#[test]
fn token_stream_lexer_matches_text_lexer() {
    let text = "module aura.consensus; use aura.types;\n\
        type Share = frost_ed25519::round2::SignatureShare;\n\
        /// Single-shot agreement.\n\
        protocol Consensus(n, t) { roles Initiator, Witness[n];\n\
        // ordinary comments vanish from token streams\n\
        @guard(\"consensus:initiate\") @cost(100)\n\
        Initiator -> Witness[*] : Execute(Vec<Vec<u8>>) quorum t;\n\
        choice at Initiator { Commit => { Initiator -> Witness[*] : C(::std::string::String); } Abort => { } }\n\
        for i in Witness { Witness[i] -> Witness[i+1] : T((u32, [u8; 32])); }\n\
        timeout 500ms { call Sub(Initiator, Witness; t); } else { link x.Fallback(Witness); }\n\
        delegate Initiator to Witness[0]; }";
    let (text_tokens, diags) = lexer::lex(text, crate::FileId(0));
    assert!(diags.is_empty());
    let ts: proc_macro2::TokenStream = text.parse().unwrap();
    let (stream_tokens, map, diags) = lex_token_stream(ts.clone());
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(token_kinds(&text_tokens), token_kinds(&stream_tokens));
    assert_eq!(map.len(), stream_tokens.len());
    // Each token's span is its text in the laid-out source, which lexes
    // back to the same tokens.
    let (relexed, diags) = lexer::lex(&map.text, crate::FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(token_kinds(&relexed), token_kinds(&stream_tokens));
    for ((_, a), (_, b)) in relexed.iter().zip(&stream_tokens) {
        assert_eq!(a, b);
    }
}

#[test]
fn token_stream_inner_doc_is_a_comment_like_in_text() {
    let text = "//! about this file\nprotocol P { roles A; }";
    let ts: proc_macro2::TokenStream = text.parse().unwrap();
    let (from_stream, diags, _) = parse_token_stream(ts, crate::FileId(0));
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(from_stream.items.len(), 1);
}

#[test]
fn token_stream_errors_point_at_the_bad_token() {
    let ts: proc_macro2::TokenStream = "protocol P { roles A, B; A -> B : X B -> A : Y; }"
        .parse()
        .unwrap();
    let (_, diags, map) = parse_token_stream(ts, crate::FileId(0));
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, codes::MISSING_SEMI);
    // The `;` is missing after `X`.
    let span = diags[0].primary.span;
    assert_eq!(&map.text[span.start as usize..span.end as usize], "X");
    assert!(map.locate(span).is_some());
    let ts: proc_macro2::TokenStream = "protocol P { roles A; A -> A : X('c'); }".parse().unwrap();
    let (_, diags, map) = parse_token_stream(ts, crate::FileId(0));
    assert!(diags.iter().any(|d| d.code == codes::BAD_CHAR));
    assert!(diags
        .iter()
        .all(|d| (d.primary.span.end as usize) <= map.text.len()));
}

/// The fast path (`fast`) and the chumsky parser agree: on every test input
/// and protocol of the repository, and on mutations of them (a token
/// dropped, two neighbours swapped), whatever the fast path accepts the
/// combinators parse to the same tree with no diagnostic; and the fast path
/// accepts every unmutated input the combinators accept without one.
mod fast_path {
    use super::*;
    use crate::span::FileId;
    use crate::syntax::token::Token;
    use std::path::{Path, PathBuf};

    fn choreo_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                choreo_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "choreo") {
                out.push(path);
            }
        }
    }

    /// Every `.choreo` input: test data (snapshots keep only the text after
    /// `----- SOURCE`? no: data files are plain sources) and the protocols.
    fn corpus() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        choreo_files(&root.join("tests/data"), &mut files);
        choreo_files(&root.join("../protocols/choreo"), &mut files);
        files.sort();
        assert!(files.len() > 50, "test corpus not found");
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), text)
            })
            .collect()
    }

    fn significant(text: &str) -> Vec<(Token, Span)> {
        let (tokens, _) = lexer::lex(text, FileId(0));
        tokens.into_iter().filter(|(t, _)| !t.is_trivia()).collect()
    }

    /// Returns whether the fast path accepted `tokens`.
    fn agree(name: &str, tokens: &[(Token, Span)]) -> bool {
        let eoi = Span::new(1 << 20, 1 << 20);
        let Some(fast) = fast::parse(tokens) else {
            return false;
        };
        let (slow, diagnostics) = parser::run_combinators(tokens, eoi, FileId(0));
        assert!(
            diagnostics.is_empty(),
            "{name}: the fast path accepted input the parser reports: {diagnostics:?}"
        );
        assert_eq!(fast, slow, "{name}: the two parsers built different trees");
        true
    }

    #[test]
    fn accepts_exactly_what_the_combinators_accept_silently() {
        let mut accepted = 0;
        for (name, text) in corpus() {
            let tokens = significant(&text);
            let eoi = Span::new(text.len(), text.len());
            let (_, diagnostics) = parser::run_combinators(&tokens, eoi, FileId(0));
            let fast = agree(&name, &tokens);
            assert_eq!(
                fast,
                diagnostics.is_empty(),
                "{name}: fast path accepted: {fast}, parser diagnostics: {diagnostics:?}"
            );
            accepted += usize::from(fast);
        }
        assert!(accepted > 40, "only {accepted} inputs were well formed");
    }

    #[test]
    fn agrees_with_the_combinators_on_mutated_input() {
        let mut accepted = 0;
        let mut tried = 0;
        for (name, text) in corpus() {
            let tokens = significant(&text);
            // At most ~64 mutations of each kind per file, spread over it.
            let stride = (tokens.len() / 64).max(1);
            for i in (0..tokens.len()).step_by(stride) {
                let mut dropped = tokens.clone();
                dropped.remove(i);
                let mut swapped = tokens.clone();
                // Tokens change places; spans stay in source order.
                if i + 1 < swapped.len() {
                    let next = swapped[i + 1].0.clone();
                    swapped[i + 1].0 = std::mem::replace(&mut swapped[i].0, next);
                }
                // A token replaced by one from elsewhere in the file.
                let mut replaced = tokens.clone();
                let other = tokens[(i * 7 + 3) % tokens.len()].0.clone();
                replaced[i].0 = other;
                for (kind, mutated) in [
                    ("dropped", dropped),
                    ("swapped", swapped),
                    ("replaced", replaced),
                ] {
                    tried += 1;
                    let around: Vec<String> = mutated
                        .iter()
                        .skip(i.saturating_sub(6))
                        .take(12)
                        .map(|(t, _)| t.to_string())
                        .collect();
                    let name = format!("{name} (token {i} {kind}: {})", around.join(" "));
                    accepted += usize::from(agree(&name, &mutated));
                }
            }
        }
        // Some mutations stay well formed (a dropped annotation, swapped
        // branches): the comparison above then checked real trees.
        eprintln!("{tried} mutations, {accepted} well formed");
        assert!(
            tried > 5000 && accepted > 100,
            "{tried} tried, {accepted} accepted"
        );
    }
}

#[test]
fn every_keyword_is_recognised_by_its_spelling_and_nothing_else_is() {
    for k in token::Keyword::ALL {
        assert_eq!(token::Keyword::from_word(k.as_str()), Some(k));
    }
    for word in ["Module", "protocols", "", "r", "a", "fn", "dyn"] {
        assert_eq!(token::Keyword::from_word(word), None, "{word}");
    }
}
