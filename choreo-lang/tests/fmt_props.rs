#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Properties of the parser and `fmt`:
//! - printing a random well-formed tree, reparsing and printing again is a
//!   fixpoint (`fmt` is idempotent);
//! - the same program laid out with random whitespace parses to the same
//!   tree as its canonical form, up to spans (`parse(fmt(x)) == parse(x)`),
//!   and that tree is the generated one;
//! - arbitrary strings and random token soups never make the parser panic,
//!   and any soup that parses cleanly formats to a fixpoint.

use choreo_lang::ast::*;
use choreo_lang::fmt::format_file;
use choreo_lang::span::{FileId, Span};
use choreo_lang::syntax::{lexer, parse_source, parser::args_text, token::Keyword};
use proptest::prelude::*;

const S: Span = Span { start: 0, end: 0 };

fn parse_clean(text: &str) -> File {
    let (file, diags) = parse_source(text, FileId(0));
    assert!(diags.is_empty(), "{text}\n{diags:#?}");
    file
}

/// The span-erasing normaliser: the tree's `Debug` form with every span
/// (printed `start..end`, and nothing else prints that way here: names,
/// strings and comments have no dots) replaced by `_`.
fn erase_spans(file: &File) -> String {
    let text = format!("{file:#?}");
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = |mut j: usize| {
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            j
        };
        let after_start = digits(i);
        if after_start > i
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes.get(after_start..after_start + 2) == Some(b"..")
        {
            let after_end = digits(after_start + 2);
            if after_end > after_start + 2 {
                out.push('_');
                i = after_end;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// Generators

fn not_keyword(s: &str) -> bool {
    Keyword::from_word(s).is_none()
}

fn upper() -> impl Strategy<Value = String> + Clone {
    "[A-Z][a-z0-9]{0,5}"
}

fn lower() -> impl Strategy<Value = String> + Clone {
    "[a-z][a-z0-9_]{0,4}".prop_filter("keyword", |s: &String| not_keyword(s))
}

fn ident(s: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Ident> + Clone {
    s.prop_map(|name| Ident {
        name: name.into(),
        span: S,
    })
}

fn comment() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[a-z ]{0,12}".prop_map(|t| format!("// {t}")),
        "[a-z ]{0,12}".prop_map(|t| format!("/* {t} */")),
    ]
}

fn leading() -> impl Strategy<Value = Leading> + Clone {
    (
        prop::collection::vec("[a-z ]{0,12}".prop_map(|t| format!(" {t}")), 0..3),
        prop::collection::vec(comment(), 0..3),
    )
        .prop_map(|(docs, comments)| Leading { docs, comments })
}

/// A blank line before, and comments at the end of the line (a `//`
/// comment, if any, last: it runs to the end of the line).
fn layout() -> impl Strategy<Value = Layout> + Clone {
    (
        any::<bool>(),
        prop::collection::vec("[a-z ]{0,12}".prop_map(|t| format!("/* {t} */")), 0..2),
        prop::option::of("[a-z ]{0,12}".prop_map(|t| format!("// {t}"))),
    )
        .prop_map(|(blank_line_before, mut end_of_line, line)| {
            end_of_line.extend(line);
            Layout {
                blank_line_before,
                end_of_line,
            }
        })
}

fn size() -> impl Strategy<Value = Size> + Clone {
    prop_oneof![
        (1u64..20).prop_map(|value| Size::Literal { value, span: S }),
        ident(lower()).prop_map(Size::Param),
    ]
}

fn type_expr() -> impl Strategy<Value = TypeExpr> + Clone {
    let name = ident("[A-Za-z][a-z0-9_]{0,4}".prop_filter("keyword", |s: &String| not_keyword(s)));
    let leaf = (any::<bool>(), prop::collection::vec(name.clone(), 1..3)).prop_map(
        |(leading_colons, names)| TypeExpr {
            kind: TypeKind::Path {
                leading_colons,
                segments: names
                    .into_iter()
                    .map(|name| TypeSegment {
                        name,
                        generics: Vec::new(),
                    })
                    .collect(),
            },
            span: S,
        },
    );
    leaf.prop_recursive(3, 16, 3, move |inner| {
        prop_oneof![
            (name.clone(), prop::collection::vec(inner.clone(), 1..3)).prop_map(
                |(name, generics)| TypeExpr {
                    kind: TypeKind::Path {
                        leading_colons: false,
                        segments: vec![TypeSegment { name, generics }],
                    },
                    span: S,
                }
            ),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| TypeExpr {
                kind: TypeKind::Tuple(items),
                span: S,
            }),
            (
                inner.clone(),
                prop_oneof![(0u64..64).prop_map(|n| n.to_string()), lower()]
            )
                .prop_map(|(e, len)| TypeExpr {
                    kind: TypeKind::Array {
                        element: Box::new(e),
                        len,
                    },
                    span: S,
                }),
            inner.prop_map(|e| TypeExpr {
                kind: TypeKind::Slice(Box::new(e)),
                span: S,
            }),
        ]
    })
}

fn role_ref() -> impl Strategy<Value = RoleRef> + Clone {
    let index = prop_oneof![
        Just(RoleIndex::All { span: S }),
        (0u64..8).prop_map(|value| RoleIndex::Literal { value, span: S }),
        (ident(lower()), -3i64..4).prop_map(|(var, offset)| RoleIndex::Var {
            var,
            offset,
            span: S
        }),
    ];
    (ident(upper()), prop::option::of(index)).prop_map(|(role, index)| RoleRef {
        role,
        index,
        span: S,
    })
}

fn annotation() -> impl Strategy<Value = Annotation> + Clone {
    let arg = prop_oneof![
        "[a-z:_ ]{0,10}".prop_map(|value| AnnotationArg::Str { value, span: S }),
        (0u64..1000).prop_map(|value| AnnotationArg::Int { value, span: S }),
        ident(lower()).prop_map(AnnotationArg::Ident),
    ];
    (ident(lower()), prop::collection::vec(arg, 0..3)).prop_map(|(name, args)| Annotation {
        name,
        args,
        span: S,
    })
}

fn invocation() -> impl Strategy<Value = Invocation> + Clone {
    (
        prop::collection::vec(ident(upper()), 1..3),
        prop::collection::vec(role_ref(), 0..3),
        prop::option::of(prop::collection::vec(size(), 0..3)),
    )
        .prop_map(|(segments, roles, params)| Invocation {
            protocol: ModulePath { segments, span: S },
            args_text: args_text(&roles, params.as_deref()),
            roles,
            params: params.unwrap_or_default(),
        })
}

fn stmt_with(kind: impl Strategy<Value = StmtKind> + Clone) -> impl Strategy<Value = Stmt> + Clone {
    (
        leading(),
        layout(),
        prop::collection::vec(annotation(), 0..2),
        kind,
    )
        .prop_map(|(leading, layout, annotations, kind)| Stmt {
            leading,
            layout,
            annotations,
            kind,
            span: S,
        })
}

fn block_of(stmt: impl Strategy<Value = Stmt> + Clone) -> impl Strategy<Value = Block> + Clone {
    (
        prop::collection::vec(stmt, 0..4),
        prop::collection::vec(comment(), 0..2),
    )
        .prop_map(|(mut stmts, trailing_comments)| {
            // A block's first statement has no blank line before it.
            if let Some(first) = stmts.first_mut() {
                first.layout.blank_line_before = false;
            }
            Block {
                stmts,
                trailing_comments,
                span: S,
            }
        })
}

fn simple_kind() -> impl Strategy<Value = StmtKind> + Clone {
    prop_oneof![
        4 => (role_ref(), role_ref(), ident(upper()), prop::option::of(type_expr()), prop::option::of(size()))
            .prop_map(|(from, to, label, payload, quorum)| StmtKind::Message(Message {
                from,
                to,
                label,
                payload,
                quorum,
            })),
        1 => ident(upper()).prop_map(|name| StmtKind::Continue { name }),
        1 => invocation().prop_map(StmtKind::Call),
        1 => invocation().prop_map(StmtKind::Link),
        1 => (role_ref(), role_ref()).prop_map(|(from, to)| StmtKind::Delegate { from, to }),
    ]
}

fn stmt() -> impl Strategy<Value = Stmt> + Clone {
    stmt_with(simple_kind()).prop_recursive(3, 24, 4, |inner| {
        let block = block_of(inner);
        let branch =
            (leading(), ident(upper()), block.clone()).prop_map(|(leading, name, body)| {
                ChoiceBranch {
                    leading,
                    name,
                    body,
                    span: S,
                }
            });
        let duration = (
            0u64..10_000,
            prop_oneof![
                Just(DurationUnit::Millis),
                Just(DurationUnit::Seconds),
                Just(DurationUnit::Minutes),
                Just(DurationUnit::Hours),
            ],
        )
            .prop_map(|(value, unit)| DurationLit {
                value,
                unit,
                span: S,
            });
        stmt_with(prop_oneof![
            (role_ref(), prop::collection::vec(branch, 0..3))
                .prop_map(|(chooser, branches)| StmtKind::Choice { chooser, branches }),
            (ident(upper()), block.clone()).prop_map(|(name, body)| StmtKind::Rec { name, body }),
            prop::collection::vec(block.clone(), 2..4)
                .prop_map(|branches| StmtKind::Par { branches }),
            (ident(lower()), ident(upper()), block.clone())
                .prop_map(|(var, family, body)| StmtKind::For { var, family, body }),
            (duration, block.clone(), block).prop_map(|(duration, body, handler)| {
                StmtKind::Timeout {
                    duration,
                    body,
                    handler,
                }
            }),
        ])
    })
}

fn protocol() -> impl Strategy<Value = Item> + Clone {
    let role_decl =
        (ident(upper()), prop::option::of(size())).prop_map(|(name, family)| RoleDecl {
            name,
            family,
            span: S,
        });
    (
        leading(),
        ident(upper()),
        prop::collection::vec(ident(lower()), 0..3),
        prop::collection::vec(role_decl, 0..4),
        block_of(stmt()),
    )
        .prop_map(|(leading, name, params, roles, body)| {
            Item::Protocol(Protocol {
                leading,
                name,
                params,
                roles_span: if roles.is_empty() { None } else { Some(S) },
                roles,
                body,
                span: S,
            })
        })
}

fn alias() -> impl Strategy<Value = Item> + Clone {
    (leading(), ident(upper()), type_expr()).prop_map(|(leading, name, ty)| {
        Item::TypeAlias(TypeAlias {
            leading,
            name,
            ty,
            span: S,
        })
    })
}

fn module_path() -> impl Strategy<Value = ModulePath> + Clone {
    prop::collection::vec(ident(lower()), 1..3)
        .prop_map(|segments| ModulePath { segments, span: S })
}

fn file() -> impl Strategy<Value = File> + Clone {
    (
        prop::collection::vec(comment(), 0..2),
        prop::option::of(module_path()),
        prop::collection::vec(module_path(), 0..2),
        prop::collection::vec(prop_oneof![alias(), protocol()], 0..3),
        prop::collection::vec(comment(), 0..2),
    )
        .prop_map(|(header, module, uses, items, trailing_comments)| File {
            // Header comments exist only above a `module` or `use`.
            header_comments: if module.is_some() || !uses.is_empty() {
                header
            } else {
                Vec::new()
            },
            module,
            uses: uses.into_iter().map(|path| Use { path, span: S }).collect(),
            items,
            trailing_comments,
        })
}

/// Re-lays a program out with random whitespace between its tokens.
fn scramble(text: &str, seps: &[u8]) -> String {
    let (tokens, diags) = lexer::lex(text, FileId(0));
    assert!(diags.is_empty());
    let mut out = String::new();
    for (i, (token, span)) in tokens.iter().enumerate() {
        out.push_str(&text[span.range()]);
        let line_comment = matches!(token, choreo_lang::syntax::token::Token::Doc(_))
            || text[span.range()].starts_with("//");
        let sep = match seps.get(i % seps.len().max(1)).copied().unwrap_or(0) % 4 {
            _ if line_comment => "\n",
            0 => " ",
            1 => "\n",
            2 => "\t ",
            _ => "\n\n    ",
        };
        out.push_str(sep);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fmt_is_idempotent_and_reparses_to_the_same_tree(f in file()) {
        let once = format_file(&f);
        let parsed = parse_clean(&once);
        prop_assert_eq!(erase_spans(&parsed), erase_spans(&f), "{}", once);
        let twice = format_file(&parsed);
        prop_assert_eq!(&once, &twice);
    }

    #[test]
    fn parse_of_fmt_equals_parse_up_to_spans(f in file(), seps in prop::collection::vec(any::<u8>(), 1..16)) {
        let messy = scramble(&format_file(&f), &seps);
        let parsed = parse_clean(&messy);
        let formatted = format_file(&parsed);
        let reparsed = parse_clean(&formatted);
        prop_assert_eq!(erase_spans(&reparsed), erase_spans(&parsed), "{}", messy);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = parse_source(&text, FileId(0));
    }

    #[test]
    fn token_soups_never_panic_and_clean_ones_format_to_a_fixpoint(
        soup in prop::collection::vec(prop_oneof![
            Just("protocol"), Just("roles"), Just("choice"), Just("at"), Just("rec"),
            Just("continue"), Just("par"), Just("and"), Just("for"), Just("in"), Just("call"),
            Just("link"), Just("delegate"), Just("to"), Just("timeout"), Just("else"),
            Just("quorum"), Just("type"), Just("use"), Just("module"), Just("A"), Just("B"),
            Just("W"), Just("i"), Just("L"), Just("P"), Just("3"), Just("2s"), Just("\"s\""),
            Just("->"), Just("=>"), Just(":"), Just("::"), Just(";"), Just(","), Just("."),
            Just("("), Just(")"), Just("["), Just("]"), Just("{"), Just("}"), Just("<"),
            Just(">"), Just("@"), Just("*"), Just("+"), Just("-"), Just("="), Just("&"),
            Just("'"), Just("// c\n"), Just("/// d\n"), Just("/*"), Just("*/"),
        ], 0..60)
    ) {
        let text = soup.join(" ");
        let (file, diags) = parse_source(&text, FileId(0));
        if diags.is_empty() {
            let once = format_file(&file);
            let again = format_file(&parse_clean(&once));
            prop_assert_eq!(once, again);
        }
    }

    #[test]
    fn compile_never_panics_on_mutated_programs(f in file(), cut in any::<prop::sample::Index>(), junk in "[{}();:<>a-z ]{0,4}") {
        let text = format_file(&f);
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let mutated = format!("{}{junk}{}", &text[..at], &text[at..]);
        let _ = choreo_lang::compile(vec![choreo_lang::Source::from_path_text("m.choreo", mutated)]);
    }
}
