//! The token parser (chumsky 0.13): tokens → [`File`].
//!
//! Recovery: a malformed statement is skipped up to its `;` (or past its
//! `{ … }` block, or up to the `}` that closes the enclosing block) and
//! becomes [`StmtKind::Error`]; a malformed top-level declaration is skipped
//! up to the next `protocol`/`type`/`use`/`module` and becomes
//! [`Item::Error`]. Common mistakes are repaired in place, so the rest of
//! the file still parses normally: a missing `;` before something that can
//! start the next statement, a missing `else` or duration in a `timeout`, a
//! missing `}` at the end of the file, a broken parameter or role list, a
//! keyword used as a name.
//!
//! Errors are chumsky [`Rich`] errors, with labels chosen so that the
//! expected set reads well ("expected `;` after message, found `}`"), or
//! `Custom` errors carrying their own code and hint; `convert_error`
//! turns both into [`Diagnostic`]s.

use super::codes;
use super::token::{Keyword, Token};
use crate::ast::{
    Annotation, AnnotationArg, Block, ChoiceBranch, DurationLit, DurationUnit, File, Ident,
    Invocation, Item, Layout, Leading, Message, ModulePath, Protocol, RoleDecl, RoleIndex, RoleRef,
    Size, Stmt, StmtKind, TypeAlias, TypeExpr, TypeKind, TypeSegment, Use,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use chumsky::error::{RichPattern, RichReason};
use chumsky::input::MappedInput;
use chumsky::prelude::*;
use std::fmt;

/// The parser's input: significant tokens with chumsky spans (byte offsets
/// for text; token numbers for a `TokenStream`).
pub(crate) type In<'t> = MappedInput<'t, Token, SimpleSpan, &'t [(Token, SimpleSpan)]>;
pub(crate) type PErr<'t> = Rich<'t, Token, SimpleSpan, Custom>;
type Ex<'t> = extra::Err<PErr<'t>>;

/// A parser-specific error with its own code, label and hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Custom {
    pub code: Code,
    pub message: String,
    pub label: String,
    pub hint: Option<String>,
    pub secondary: Vec<(SimpleSpan, String)>,
}

impl fmt::Display for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

fn custom(
    span: SimpleSpan,
    code: Code,
    message: impl Into<String>,
    label: impl Into<String>,
    hint: impl Into<String>,
) -> PErr<'static> {
    Rich::custom(
        span,
        Custom {
            code,
            message: message.into(),
            label: label.into(),
            hint: Some(hint.into()),
            secondary: Vec::new(),
        },
    )
}

fn sp(s: SimpleSpan) -> Span {
    Span::new(s.start, s.end)
}

/// Delimiter nesting the parser accepts (`(`, `[`, `{`, `<` together).
pub const MAX_DEPTH: usize = 512;

/// Statement nesting the parser accepts: blocks inside blocks, where a
/// `choice` and its branch bodies count once.
pub const MAX_STMT_DEPTH: usize = 256;

/// Up to this delimiter depth the parser runs on the caller's stack.
/// Deeper input runs on a helper thread with [`PARSER_STACK`] bytes of
/// stack: chumsky's recursion costs up to ~56 KiB of stack per nesting
/// level in a debug build (measured: `rec` nested 400 deep needs 22 MiB),
/// which the 8 MiB main thread cannot give 200 levels.
const INLINE_DEPTH: usize = 12;

/// Stack of the helper thread: [`MAX_DEPTH`] levels at the measured worst
/// case (~28 MiB) with a 2x margin. Only touched pages are committed.
const PARSER_STACK: usize = 64 << 20;

/// Parses significant tokens (no trivia) into a file. `eoi` is the span
/// just past the input.
pub(crate) fn parse_tokens(
    tokens: &[(Token, Span)],
    eoi: Span,
    file: FileId,
) -> (File, Vec<Diagnostic>) {
    let depth = match check_depth(tokens, file) {
        Ok(depth) => depth,
        Err(diag) => return (File::default(), vec![*diag]),
    };
    if depth <= INLINE_DEPTH {
        return run_parser(tokens, eoi, file);
    }
    let outcome = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("choreo-parser".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || run_parser(tokens, eoi, file))
            .map(|handle| handle.join())
    });
    match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => {
            let at = tokens.first().map(|(_, s)| *s).unwrap_or(eoi);
            (
                File::default(),
                vec![Diagnostic::error(
                    codes::TOO_DEEP,
                    "could not parse this deeply nested input",
                    file,
                    at,
                    "nesting starts here",
                )
                .with_hint("split the protocol into smaller protocols joined with `call`")],
            )
        }
    }
}

fn run_parser(tokens: &[(Token, Span)], eoi: Span, file: FileId) -> (File, Vec<Diagnostic>) {
    // Well-formed input takes the fast path; anything else is parsed (and
    // every mistake reported) by the combinators.
    match super::fast::parse(tokens) {
        Some(parsed) => (parsed, Vec::new()),
        None => run_combinators(tokens, eoi, file),
    }
}

/// The chumsky parser alone (the reference the fast path must agree with).
pub(crate) fn run_combinators(
    tokens: &[(Token, Span)],
    eoi: Span,
    file: FileId,
) -> (File, Vec<Diagnostic>) {
    let input: Vec<(Token, SimpleSpan)> = tokens
        .iter()
        .map(|(t, s)| (t.clone(), SimpleSpan::from(s.range())))
        .collect();
    let eoi = SimpleSpan::from(eoi.range());
    let (out, errors) = file_parser()
        .parse(input.as_slice().split_token_span(eoi))
        .into_output_errors();
    let mut diagnostics: Vec<Diagnostic> = errors
        .into_iter()
        .map(|e| convert_error(e, &input, file))
        .collect();
    merge_unclosed(&mut diagnostics);
    diagnostics.dedup_by(|a, b| a.code == b.code && a.primary.span == b.primary.span);
    (out.unwrap_or_default(), diagnostics)
}

/// The nesting pre-pass: rejects input nested deeper than the limits before
/// the (recursive) parser sees it, so no input can exhaust the stack.
/// Returns the maximum delimiter depth.
fn check_depth(tokens: &[(Token, Span)], file: FileId) -> Result<usize, Box<Diagnostic>> {
    let too_deep = |span: Span, what: String| {
        Box::new(
            Diagnostic::error(
                codes::TOO_DEEP,
                what,
                file,
                span,
                "nesting limit exceeded here",
            )
            .with_hint("split the protocol into smaller protocols joined with `call`"),
        )
    };
    // Open delimiters, with `true` for a `{` that opens a statement level.
    // A closer pops only its own kind, so the count never underestimates
    // the parser's real nesting (a stray `>` or `)` cannot hide a `{`).
    let mut stack: Vec<(Token, bool)> = Vec::new();
    let mut stmt_depth = 0usize;
    let mut max = 0usize;
    let mut prev: Option<&Token> = None;
    for (token, span) in tokens {
        match token {
            Token::LParen | Token::LBracket | Token::LBrace | Token::Lt => {
                let level = *token == Token::LBrace && prev != Some(&Token::FatArrow);
                stack.push((token.clone(), level));
                if level {
                    stmt_depth += 1;
                }
                max = max.max(stack.len());
                if stack.len() > MAX_DEPTH {
                    return Err(too_deep(
                        *span,
                        format!("delimiters nested more than {MAX_DEPTH} levels deep"),
                    ));
                }
                // The protocol body is level 1.
                if stmt_depth > MAX_STMT_DEPTH + 1 {
                    return Err(too_deep(
                        *span,
                        format!("statements nested more than {MAX_STMT_DEPTH} levels deep"),
                    ));
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace | Token::Gt => {
                let opener = match token {
                    Token::RParen => Token::LParen,
                    Token::RBracket => Token::LBracket,
                    Token::RBrace => Token::LBrace,
                    _ => Token::Lt,
                };
                if stack.last().is_some_and(|(t, _)| *t == opener) {
                    if let Some((_, true)) = stack.pop() {
                        stmt_depth = stmt_depth.saturating_sub(1);
                    }
                }
            }
            _ => {}
        }
        prev = Some(token);
    }
    Ok(max)
}

// ---------------------------------------------------------------------------
// Small parsers

fn kw<'t>(k: Keyword) -> impl Parser<'t, In<'t>, Token, Ex<'t>> + Clone {
    just(Token::Kw(k))
}

fn ident<'t>() -> impl Parser<'t, In<'t>, Ident, Ex<'t>> + Clone {
    select! { Token::Ident(name) = e => Ident { name: name.into(), span: sp(e.span()) } }
        .labelled("name")
}

fn upper_camel(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A name in a declaring position: a keyword here is reported (E0109) and
/// accepted, so parsing goes on.
fn name<'t>(what: &'static str) -> impl Parser<'t, In<'t>, Ident, Ex<'t>> + Clone {
    ident()
        .or(
            select! { Token::Kw(k) = e => (k, e.span()) }.map_with(move |(k, span), e| {
                e.emit(custom(
                    span,
                    codes::KEYWORD_AS_NAME,
                    format!("expected {what}, found keyword `{}`", k.as_str()),
                    "reserved keyword",
                    format!(
                        "`{}` is reserved; choose another name, e.g. `{}`",
                        k.as_str(),
                        upper_camel(k.as_str())
                    ),
                ));
                Ident {
                    name: k.as_str().into(),
                    span: sp(span),
                }
            }),
        )
        .labelled(what)
}

fn size<'t>() -> impl Parser<'t, In<'t>, Size, Ex<'t>> + Clone {
    select! {
        Token::Int(value) = e => Size::Literal { value, span: sp(e.span()) },
        Token::Ident(name) = e => Size::Param(Ident { name: name.into(), span: sp(e.span()) }),
    }
    .labelled("a size (integer or parameter)")
}

fn int<'t>() -> impl Parser<'t, In<'t>, u64, Ex<'t>> + Clone {
    select! { Token::Int(v) => v }.labelled("integer")
}

fn module_path<'t>() -> impl Parser<'t, In<'t>, ModulePath, Ex<'t>> + Clone {
    ident()
        .separated_by(just(Token::Dot))
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(|segments, e| ModulePath {
            segments,
            span: sp(e.span()),
        })
}

fn role_ref<'t>() -> impl Parser<'t, In<'t>, RoleRef, Ex<'t>> + Clone {
    let offset = choice((just(Token::Plus).to(1i64), just(Token::Minus).to(-1i64)))
        .then(int())
        .map(|(sign, v)| sign.saturating_mul(i64::try_from(v).unwrap_or(i64::MAX)));
    let index = choice((
        just(Token::Star).map_with(|_, e| RoleIndex::All { span: sp(e.span()) }),
        int().map_with(|value, e| RoleIndex::Literal {
            value,
            span: sp(e.span()),
        }),
        ident()
            .then(offset.or_not())
            .map_with(|(var, offset), e| RoleIndex::Var {
                var,
                offset: offset.unwrap_or(0),
                span: sp(e.span()),
            }),
    ))
    .labelled("an index (`*`, an integer or a loop variable)");
    ident()
        .labelled("a role")
        .then(
            index
                .delimited_by(just(Token::LBracket), just(Token::RBracket))
                .or_not(),
        )
        .map_with(|(role, index), e| RoleRef {
            role,
            index,
            span: sp(e.span()),
        })
}

/// Rust type syntax as far as the token rules allow (no lifetimes): paths
/// with generics, tuples, arrays, slices, references, raw pointers, `!`,
/// function pointers, `dyn` trait objects with `+` bounds and qualified
/// paths (`<T as Trait>::Name`).
pub(crate) fn type_expr<'t>() -> impl Parser<'t, In<'t>, TypeExpr, Ex<'t>> + Clone {
    recursive(|ty| {
        let generics = ty
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::Lt), just(Token::Gt));
        let segment = ident()
            .then(generics.or_not())
            .map(|(name, generics)| TypeSegment {
                name,
                generics: generics.unwrap_or_default(),
            });
        let path = just(Token::PathSep)
            .or_not()
            .then(
                segment
                    .clone()
                    .separated_by(just(Token::PathSep))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map_with(|(lead, segments), e| TypeExpr {
                kind: TypeKind::Path {
                    leading_colons: lead.is_some(),
                    segments,
                },
                span: sp(e.span()),
            });
        let tuple = ty
            .clone()
            .separated_by(just(Token::Comma))
            .collect::<Vec<_>>()
            .then(just(Token::Comma).or_not())
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map_with(|(mut items, trailing), e| {
                if items.len() == 1 && trailing.is_none() {
                    // `(T)` is `T`, as in Rust.
                    if let Some(inner) = items.pop() {
                        return inner;
                    }
                }
                TypeExpr {
                    kind: TypeKind::Tuple(items),
                    span: sp(e.span()),
                }
            });
        let len = select! {
            Token::Int(v) => v.to_string(),
            Token::Ident(name) => name.to_string(),
        }
        .labelled("an array length");
        let array = ty
            .clone()
            .then(just(Token::Semi).ignore_then(len).or_not())
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map_with(|(element, len), e| TypeExpr {
                kind: match len {
                    Some(len) => TypeKind::Array {
                        element: Box::new(element),
                        len,
                    },
                    None => TypeKind::Slice(Box::new(element)),
                },
                span: sp(e.span()),
            });
        let mut_kw = select! { Token::Ident(s) if &*s == "mut" => () };
        let const_kw = select! { Token::Ident(s) if &*s == "const" => () };
        let reference = just(Token::Other('&'))
            .ignore_then(mut_kw.or_not())
            .then(ty.clone())
            .map_with(|(mutable, inner), e| TypeExpr {
                kind: TypeKind::Ref {
                    mutable: mutable.is_some(),
                    inner: Box::new(inner),
                },
                span: sp(e.span()),
            });
        let pointer = just(Token::Star)
            .ignore_then(choice((mut_kw.to(true), const_kw.to(false))))
            .then(ty.clone())
            .map_with(|(mutable, inner), e| TypeExpr {
                kind: TypeKind::Ptr {
                    mutable,
                    inner: Box::new(inner),
                },
                span: sp(e.span()),
            });
        let never = just(Token::Other('!')).map_with(|_, e| TypeExpr {
            kind: TypeKind::Never,
            span: sp(e.span()),
        });
        let fn_ptr = select! { Token::Ident(s) if &*s == "fn" => () }
            .ignore_then(
                ty.clone()
                    .separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
                    .delimited_by(just(Token::LParen), just(Token::RParen)),
            )
            .then(just(Token::Arrow).ignore_then(ty.clone()).or_not())
            .map_with(|(params, ret), e| TypeExpr {
                kind: TypeKind::FnPtr {
                    params,
                    ret: ret.map(Box::new),
                },
                span: sp(e.span()),
            });
        let trait_object = select! { Token::Ident(s) if &*s == "dyn" => () }
            .ignore_then(
                path.clone()
                    .separated_by(just(Token::Plus))
                    .at_least(1)
                    .collect::<Vec<_>>(),
            )
            .map_with(|bounds, e| TypeExpr {
                kind: TypeKind::TraitObject(bounds),
                span: sp(e.span()),
            });
        let as_kw = select! { Token::Ident(s) if &*s == "as" => () };
        let qualified = ty
            .clone()
            .then(as_kw.ignore_then(path.clone()).or_not())
            .delimited_by(just(Token::Lt), just(Token::Gt))
            .then(
                just(Token::PathSep).ignore_then(
                    segment
                        .clone()
                        .separated_by(just(Token::PathSep))
                        .at_least(1)
                        .collect::<Vec<_>>(),
                ),
            )
            .map_with(|((self_ty, as_trait), rest), e| TypeExpr {
                kind: TypeKind::Qualified {
                    self_ty: Box::new(self_ty),
                    as_trait: as_trait.map(Box::new),
                    rest,
                },
                span: sp(e.span()),
            });
        choice((
            fn_ptr,
            trait_object,
            path,
            tuple,
            array,
            reference,
            pointer,
            never,
            qualified,
        ))
        .labelled("a type")
    })
}

/// Tokens that can start a statement or end a block: after a message
/// without `;`, one of these means the `;` was simply forgotten.
fn stmt_follow<'t>() -> impl Parser<'t, In<'t>, (), Ex<'t>> + Clone {
    select! {
        Token::Ident(_) => (),
        Token::At => (),
        Token::RBrace => (),
        Token::Kw(Keyword::Choice
            | Keyword::Rec
            | Keyword::Continue
            | Keyword::Par
            | Keyword::For
            | Keyword::Call
            | Keyword::Link
            | Keyword::Delegate
            | Keyword::Timeout
            | Keyword::Protocol
            | Keyword::Type
            | Keyword::Use
            | Keyword::Module
            | Keyword::Roles) => (),
    }
    .ignored()
    .or(end())
}

/// A `;` that ends `what`. When it is missing but the next token starts a
/// new statement, the error is reported and parsing continues as if the
/// `;` were there.
fn semi<'t>(what: &'static str) -> impl Parser<'t, In<'t>, (), Ex<'t>> + Clone {
    just(Token::Semi)
        .ignored()
        .labelled(what)
        .recover_with(via_parser(empty().then(stmt_follow().rewind()).ignored()))
}

/// Skips a malformed statement: at least one token, up to and including a
/// `;`, or through one `{ … }` group, or up to (not including) the `}` that
/// closes the enclosing block.
fn skip_stmt<'t>() -> impl Parser<'t, In<'t>, SimpleSpan, Ex<'t>> + Clone {
    let group = recursive(|group| {
        just(Token::LBrace)
            .then(
                none_of([Token::LBrace, Token::RBrace])
                    .ignored()
                    .or(group)
                    .repeated(),
            )
            .then(just(Token::RBrace).ignored().or(end()))
            .ignored()
    });
    // `} else {` and `} and {` continue a statement past its first block.
    let groups = group
        .clone()
        .then(
            choice((kw(Keyword::Else), kw(Keyword::And)))
                .then(group)
                .repeated(),
        )
        .ignored();
    none_of([Token::Semi, Token::LBrace, Token::RBrace])
        .repeated()
        .then(choice((
            just(Token::Semi).ignored(),
            groups,
            just(Token::RBrace).ignored().or(end()).rewind(),
        )))
        .map_with(|_, e| e.span())
        .filter(|s: &SimpleSpan| s.start < s.end)
}

fn closing_brace<'t>(
    what: &'static str,
) -> impl Parser<'t, In<'t>, Option<SimpleSpan>, Ex<'t>> + Clone {
    just(Token::RBrace)
        .map_with(|_, e| Some(e.span()))
        .or(end().to(None))
        .labelled(what)
}

fn unclosed(open: SimpleSpan, what: &str) -> PErr<'static> {
    custom(
        open,
        codes::UNCLOSED_DELIMITER,
        "this file contains an unclosed delimiter",
        format!("this `{{` ({what}) is never closed"),
        "add the missing `}`",
    )
}

// ---------------------------------------------------------------------------
// Statements

fn stmt<'t>() -> impl Parser<'t, In<'t>, Stmt, Ex<'t>> + Clone {
    recursive(|stmt| {
        let block = just(Token::LBrace)
            .map_with(|_, e| e.span())
            .then(stmt.repeated().collect::<Vec<Stmt>>())
            .then(closing_brace("`}`"))
            .map_with(|((open, stmts), close), e| {
                if close.is_none() {
                    e.emit(unclosed(open, "block"));
                }
                Block {
                    stmts,
                    trailing_comments: Vec::new(),
                    span: sp(e.span()),
                }
            })
            .labelled("a block `{ … }`")
            .boxed();

        let payload_inner = type_expr()
            .separated_by(just(Token::Comma))
            .at_least(1)
            .collect::<Vec<_>>()
            .map_with(|mut types, e| {
                if types.len() == 1 {
                    if let Some(t) = types.pop() {
                        return t;
                    }
                }
                let span = e.span();
                e.emit(custom(
                    span,
                    codes::UNEXPECTED_TOKEN,
                    "a message carries a single payload type",
                    "several types",
                    "wrap them in a tuple: `Label((A, B))`",
                ));
                TypeExpr {
                    kind: TypeKind::Tuple(types),
                    span: sp(span),
                }
            });
        let payload = payload_inner.delimited_by(just(Token::LParen), just(Token::RParen));

        let message = role_ref()
            .then_ignore(just(Token::Arrow))
            .then(role_ref().labelled("a receiver role"))
            .then_ignore(just(Token::Colon))
            .then(name("a message label"))
            .then(payload.or_not())
            .then(kw(Keyword::Quorum).ignore_then(size()).or_not())
            .then_ignore(semi("`;` after message"))
            .map(|((((from, to), label), payload), quorum)| {
                StmtKind::Message(Message {
                    from,
                    to,
                    label,
                    payload,
                    quorum,
                })
            })
            .boxed();

        let branch = name("a branch name")
            .then_ignore(just(Token::FatArrow))
            .then(block.clone())
            .then_ignore(just(Token::Comma).or_not())
            .map_with(|(name, body), e| {
                Some(ChoiceBranch {
                    leading: Leading::default(),
                    name,
                    body,
                    span: sp(e.span()),
                })
            })
            .recover_with(via_parser(skip_stmt().to(None)));

        let choice_stmt = kw(Keyword::Choice)
            .ignore_then(kw(Keyword::At))
            .ignore_then(role_ref().labelled("the choosing role"))
            .then(just(Token::LBrace).map_with(|_, e| e.span()))
            .then(branch.repeated().collect::<Vec<_>>())
            .then(closing_brace("`}`"))
            .map_with(|(((chooser, open), branches), close), e| {
                if close.is_none() {
                    e.emit(unclosed(open, "choice"));
                }
                let parsed = branches.len();
                let branches: Vec<ChoiceBranch> = branches.into_iter().flatten().collect();
                if branches.is_empty() && parsed > 0 {
                    // Every branch was malformed and is already reported:
                    // "`choice` without branches" would blame the user for
                    // branches they did write.
                    return StmtKind::Error;
                }
                StmtKind::Choice { chooser, branches }
            })
            .boxed();

        let rec = kw(Keyword::Rec)
            .ignore_then(name("a loop name"))
            .then(block.clone())
            .map(|(name, body)| StmtKind::Rec { name, body });

        let continue_stmt = kw(Keyword::Continue)
            .ignore_then(name("a loop name"))
            .then_ignore(semi("`;` after `continue`"))
            .map(|name| StmtKind::Continue { name });

        let par = kw(Keyword::Par)
            .ignore_then(block.clone())
            .then(
                kw(Keyword::And)
                    .ignore_then(block.clone())
                    .repeated()
                    .collect::<Vec<_>>(),
            )
            .map_with(|(first, rest), e| {
                if rest.is_empty() {
                    e.emit(custom(
                        SimpleSpan::from(
                            first.span.range().end.saturating_sub(1)..first.span.range().end,
                        ),
                        codes::UNEXPECTED_TOKEN,
                        "`par` needs at least two branches",
                        "expected `and { … }` after this block",
                        "write `par { … } and { … }`, or drop `par` if there is only one branch",
                    ));
                }
                let mut branches = vec![first];
                branches.extend(rest);
                StmtKind::Par { branches }
            });

        let for_stmt = kw(Keyword::For)
            .ignore_then(name("a loop variable"))
            .then_ignore(kw(Keyword::In))
            .then(ident().labelled("a role family"))
            .then(block.clone())
            .map(|((var, family), body)| StmtKind::For { var, family, body });

        let args = role_ref()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .then(
                just(Token::Semi)
                    .ignore_then(
                        size()
                            .separated_by(just(Token::Comma))
                            .allow_trailing()
                            .collect::<Vec<_>>(),
                    )
                    .or_not(),
            )
            .delimited_by(just(Token::LParen), just(Token::RParen));
        let invocation = module_path().labelled("a protocol name").then(args).map(
            |(protocol, (roles, params))| {
                let args_text = args_text(&roles, params.as_deref());
                Invocation {
                    protocol,
                    roles,
                    params: params.unwrap_or_default(),
                    args_text,
                }
            },
        );
        let call = kw(Keyword::Call)
            .ignore_then(invocation.clone())
            .then_ignore(semi("`;` after `call`"))
            .map(StmtKind::Call);
        let link = kw(Keyword::Link)
            .ignore_then(invocation)
            .then_ignore(semi("`;` after `link`"))
            .map(StmtKind::Link);

        let delegate = kw(Keyword::Delegate)
            .ignore_then(role_ref())
            .then_ignore(kw(Keyword::To))
            .then(role_ref())
            .then_ignore(semi("`;` after `delegate`"))
            .map(|(from, to)| StmtKind::Delegate { from, to });

        let duration = select! {
            Token::Duration(value, unit) = e => DurationLit { value, unit, span: sp(e.span()) },
        }
        .or(int().map_with(|value, e| {
            let span = e.span();
            e.emit(custom(
                span,
                codes::BAD_DURATION,
                "a timeout needs a duration with a unit",
                "no unit",
                format!("write `{value}s` or `{value}ms`"),
            ));
            DurationLit {
                value,
                unit: DurationUnit::Seconds,
                span: sp(span),
            }
        }))
        .labelled("a duration (`500ms`, `2s`, `5m`, `24h`)")
        // `timeout { … }`: report the missing duration, parse the rest.
        .recover_with(via_parser(
            empty()
                .then(just(Token::LBrace).rewind())
                // Not zero: that would add a checker error for nothing.
                .map_with(|_, e| DurationLit {
                    value: 1,
                    unit: DurationUnit::Seconds,
                    span: sp(e.span()),
                }),
        ));

        let timeout = kw(Keyword::Timeout)
            .ignore_then(duration)
            .then(block.clone())
            .then(
                kw(Keyword::Else)
                    .ignore_then(block.clone())
                    .or_not()
                    .labelled("`else`"),
            )
            .map_with(|((duration, body), handler), e| {
                let handler = match handler {
                    Some(h) => h,
                    None => {
                        let end = body.span.range().end;
                        e.emit(Rich::custom(
                            SimpleSpan::from(end.saturating_sub(1)..end),
                            Custom {
                                code: codes::MISSING_ELSE,
                                message: "`timeout` without `else` handler".into(),
                                label: "expected `else { … }` after this block".into(),
                                hint: Some(
                                    "add `else { … }` after the body; the handler runs when the deadline passes"
                                        .into(),
                                ),
                                secondary: vec![(
                                    SimpleSpan::from(duration.span.range()),
                                    "the deadline of this timeout".into(),
                                )],
                            },
                        ));
                        Block {
                            stmts: Vec::new(),
                            trailing_comments: Vec::new(),
                            span: Span::new(end, end),
                        }
                    }
                };
                StmtKind::Timeout {
                    duration,
                    body,
                    handler,
                }
            })
            .boxed();

        let arg = select! {
            Token::Str(value) = e => AnnotationArg::Str { value: value.to_string(), span: sp(e.span()) },
            Token::Int(value) = e => AnnotationArg::Int { value, span: sp(e.span()) },
            Token::Ident(name) = e => AnnotationArg::Ident(Ident { name: name.into(), span: sp(e.span()) }),
        }
        .labelled("an annotation argument (string, integer or name)");
        let annotation = just(Token::At)
            .ignore_then(name("an annotation name"))
            .then(
                arg.separated_by(just(Token::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
                    .delimited_by(just(Token::LParen), just(Token::RParen))
                    .or_not(),
            )
            .map_with(|(name, args), e| Annotation {
                name,
                args: args.unwrap_or_default(),
                span: sp(e.span()),
            });

        // Messages first: they are most statements, and every alternative
        // tried before the one that matches records what it expected.
        let kind = choice((
            message,
            choice_stmt,
            rec,
            continue_stmt,
            par,
            for_stmt,
            call,
            link,
            delegate,
            timeout,
        ))
        .labelled("a statement");

        annotation
            .repeated()
            .collect::<Vec<_>>()
            .then(kind)
            .map_with(|(annotations, kind), e| Stmt {
                leading: Leading::default(),
                layout: Layout::default(),
                annotations,
                kind,
                span: sp(e.span()),
            })
            .recover_with(via_parser(skip_stmt().map(|span| Stmt {
                leading: Leading::default(),
                layout: Layout::default(),
                annotations: Vec::new(),
                kind: StmtKind::Error,
                span: sp(span),
            })))
            .boxed()
    })
}

/// `A, W; t` from the parsed arguments of a `call`/`link`.
pub fn args_text(roles: &[RoleRef], params: Option<&[Size]>) -> String {
    let mut text = roles
        .iter()
        .map(role_ref_text)
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(params) = params {
        text.push_str("; ");
        text.push_str(&params.iter().map(size_text).collect::<Vec<_>>().join(", "));
    }
    text
}

/// `W[*]`, `W[i+1]`, `A`.
pub fn role_ref_text(r: &RoleRef) -> String {
    match &r.index {
        None => String::from(r.role.name.as_str()),
        Some(RoleIndex::All { .. }) => format!("{}[*]", r.role.name),
        Some(RoleIndex::Literal { value, .. }) => format!("{}[{value}]", r.role.name),
        Some(RoleIndex::Var { var, offset, .. }) => match offset {
            0 => format!("{}[{}]", r.role.name, var.name),
            o if *o > 0 => format!("{}[{}+{o}]", r.role.name, var.name),
            o => format!("{}[{}-{}]", r.role.name, var.name, o.unsigned_abs()),
        },
    }
}

/// `3` or `n`.
pub fn size_text(s: &Size) -> String {
    match s {
        Size::Literal { value, .. } => value.to_string(),
        Size::Param(id) => String::from(id.name.as_str()),
    }
}

// ---------------------------------------------------------------------------
// Items and files

enum Top {
    Module(ModulePath, SimpleSpan),
    Use(Use),
    Item(Item),
}

fn file_parser<'t>() -> impl Parser<'t, In<'t>, File, Ex<'t>> {
    let role_decl = name("a role name")
        .then(
            size()
                .delimited_by(just(Token::LBracket), just(Token::RBracket))
                .or_not(),
        )
        .map_with(|(name, family), e| RoleDecl {
            name,
            family,
            span: sp(e.span()),
        });
    let roles = kw(Keyword::Roles)
        .ignore_then(
            role_decl
                .separated_by(just(Token::Comma))
                .allow_trailing()
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .then_ignore(
            just(Token::Semi)
                .ignored()
                .labelled("`;` after the role list")
                // `roles A B;`: report once, skip to the `;`.
                .recover_with(via_parser(
                    none_of([Token::Semi, Token::LBrace, Token::RBrace])
                        .repeated()
                        .then(just(Token::Semi))
                        .ignored(),
                ))
                .recover_with(via_parser(empty().then(stmt_follow().rewind()).ignored())),
        )
        .map_with(|roles, e| (roles, e.span()));
    let params = name("a parameter name")
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        // A broken parameter list: report it, skip to the body, keep going.
        .recover_with(via_parser(
            just(Token::LParen)
                .then(none_of([Token::LBrace, Token::RBrace, Token::Semi]).repeated())
                .to(Vec::new()),
        ));
    let protocol = kw(Keyword::Protocol)
        .ignore_then(name("a protocol name"))
        .then(params.or_not())
        .then(just(Token::LBrace).map_with(|_, e| e.span()))
        .then(roles.or_not())
        .then(stmt().repeated().collect::<Vec<_>>())
        .then(closing_brace("`}`"))
        .map_with(|(((((name, params), open), roles), stmts), close), e| {
            if close.is_none() {
                e.emit(unclosed(open, "protocol body"));
            }
            let span = e.span();
            let (roles, roles_span) = match roles {
                Some((r, s)) => (r, Some(sp(s))),
                None => (Vec::new(), None),
            };
            Item::Protocol(Protocol {
                leading: Leading::default(),
                name,
                params: params.unwrap_or_default(),
                roles,
                roles_span,
                body: Block {
                    stmts,
                    trailing_comments: Vec::new(),
                    span: Span::new(open.start, span.end),
                },
                span: sp(span),
            })
        });
    let alias = kw(Keyword::Type)
        .ignore_then(name("a type name"))
        .then_ignore(just(Token::Eq))
        .then(type_expr())
        .then_ignore(semi("`;` after the type alias"))
        .map_with(|(name, ty), e| {
            Item::TypeAlias(TypeAlias {
                leading: Leading::default(),
                name,
                ty,
                span: sp(e.span()),
            })
        });
    let module = kw(Keyword::Module)
        .ignore_then(module_path().labelled("a module path"))
        .then_ignore(semi("`;` after the module declaration"))
        .map_with(|path, e| Top::Module(path, e.span()));
    let use_decl = kw(Keyword::Use)
        .ignore_then(module_path().labelled("a module path"))
        .then_ignore(semi("`;` after `use`"))
        .map_with(|path, e| {
            Top::Use(Use {
                path,
                span: sp(e.span()),
            })
        });
    let skip_item = any()
        .then(
            none_of([
                Token::Kw(Keyword::Protocol),
                Token::Kw(Keyword::Type),
                Token::Kw(Keyword::Use),
                Token::Kw(Keyword::Module),
            ])
            .repeated(),
        )
        .map_with(|_, e| Top::Item(Item::Error(sp(e.span()))));
    let top = choice((
        module,
        use_decl,
        protocol.map(Top::Item),
        alias.map(Top::Item),
    ))
    .labelled("`protocol`, `type`, `use` or `module`")
    .recover_with(via_parser(skip_item));

    top.repeated()
        .collect::<Vec<Top>>()
        .then_ignore(end())
        .map_with(|tops, e| {
            let mut file = File::default();
            let mut seen_other = false;
            for top in tops {
                match top {
                    Top::Module(path, span) => {
                        if file.module.is_some() || seen_other {
                            e.emit(custom(
                                span,
                                codes::UNEXPECTED_TOKEN,
                                "`module` must be the first declaration of a file, and appear once",
                                "misplaced `module`",
                                "move it to the top of the file",
                            ));
                        }
                        if file.module.is_none() {
                            file.module = Some(path);
                        }
                    }
                    Top::Use(u) => {
                        seen_other = true;
                        file.uses.push(u);
                    }
                    Top::Item(item) => {
                        seen_other = true;
                        file.items.push(item);
                    }
                }
            }
            file
        })
}

// ---------------------------------------------------------------------------
// Errors

fn describe_found(found: Option<&Token>) -> String {
    match found {
        None => "end of file".into(),
        Some(Token::Kw(k)) => format!("keyword `{}`", k.as_str()),
        Some(Token::Str(s)) => format!("string {s:?}"),
        Some(Token::Doc(_)) => "doc comment".into(),
        Some(t) => format!("`{t}`"),
    }
}

fn describe_pattern(p: &RichPattern<'_, Token>) -> String {
    match p {
        RichPattern::Token(t) => format!("`{}`", &**t),
        RichPattern::Label(l) => l.to_string(),
        RichPattern::Identifier(s) => format!("`{s}`"),
        RichPattern::Any => "any token".into(),
        RichPattern::SomethingElse => "something else".into(),
        RichPattern::EndOfInput => "end of file".into(),
        _ => "something else".into(),
    }
}

fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

const STATEMENT_HINT: &str = "a statement is a message `A -> B : Label(Type);`, or `choice at`, `rec`, `continue`, `par`, `for`, `call`, `link`, `delegate` or `timeout`";

fn convert_error(err: PErr<'_>, tokens: &[(Token, SimpleSpan)], file: FileId) -> Diagnostic {
    let span = *err.span();
    let last_token = tokens.last().map(|(_, s)| *s);
    match err.reason() {
        RichReason::Custom(c) => {
            let mut d = Diagnostic::error(c.code, c.message.clone(), file, sp(span), &c.label);
            for (s, m) in &c.secondary {
                d = d.with_secondary(file, sp(*s), m.clone());
            }
            if let Some(h) = &c.hint {
                d = d.with_hint(h.clone());
            }
            d
        }
        RichReason::ExpectedFound { expected, found } => {
            let found_tok: Option<&Token> = found.as_deref();
            let mut exp: Vec<String> = Vec::new();
            for p in expected {
                let s = describe_pattern(p);
                if !exp.contains(&s) {
                    exp.push(s);
                }
            }
            let found_text = describe_found(found_tok);
            let prev = tokens
                .iter()
                .take_while(|(_, s)| s.end <= span.start)
                .last()
                .map(|(t, s)| (t.clone(), *s));
            // 1. A missing `;`.
            if let Some(semi) = exp.iter().find(|e| e.starts_with("`;` after")) {
                if exp.iter().any(|e| e == "`,`") && found_tok.is_some() {
                    return Diagnostic::error(
                        codes::UNEXPECTED_TOKEN,
                        format!("expected `,` or {semi}, found {found_text}"),
                        file,
                        sp(span),
                        "unexpected here",
                    )
                    .with_hint("separate the items of a list with `,` and end it with `;`");
                }
                let (at, label) = match &prev {
                    Some((_, s)) => (*s, "expected `;` after this".to_string()),
                    None => (span, "expected `;` here".to_string()),
                };
                return Diagnostic::error(
                    codes::MISSING_SEMI,
                    format!("expected {semi}, found {found_text}"),
                    file,
                    sp(at),
                    label,
                )
                .with_secondary(file, sp(span), format!("found {found_text}"))
                .with_hint("add `;` at the end of the statement");
            }
            // 2. A keyword where a name belongs.
            if let Some(Token::Kw(k)) = found_tok {
                if exp
                    .iter()
                    .any(|e| e.contains("name") || e.contains("role") || e.contains("a size"))
                {
                    return Diagnostic::error(
                        codes::KEYWORD_AS_NAME,
                        format!(
                            "expected {}, found keyword `{}`",
                            join_alternatives(&exp),
                            k.as_str()
                        ),
                        file,
                        sp(span),
                        "reserved keyword",
                    )
                    .with_hint(format!(
                        "`{}` is reserved; choose another name, e.g. `{}`",
                        k.as_str(),
                        upper_camel(k.as_str())
                    ));
                }
            }
            // 3. The file ends early.
            if found_tok.is_none() {
                let at = last_token.unwrap_or(span);
                return Diagnostic::error(
                    codes::UNEXPECTED_EOF,
                    format!(
                        "unexpected end of file, expected {}",
                        join_alternatives(&exp)
                    ),
                    file,
                    sp(at),
                    "the file ends after this",
                )
                .with_hint("the file looks truncated: finish the declaration");
            }
            // 4. A closing delimiter nothing opened.
            if let Some(t) = found_tok {
                if t.is_close() && exp.iter().any(|e| e.contains("`protocol`")) {
                    return Diagnostic::error(
                        codes::STRAY_CLOSE,
                        format!("unexpected closing `{t}`"),
                        file,
                        sp(span),
                        "no matching opening delimiter",
                    )
                    .with_hint("remove it, or add the missing opening delimiter");
                }
            }
            let mut d = Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                format!("expected {}, found {found_text}", join_alternatives(&exp)),
                file,
                sp(span),
                "unexpected here",
            );
            if exp.iter().any(|e| e == "a statement" || e == "`->`") {
                d = d.with_hint(STATEMENT_HINT);
            } else if exp.iter().any(|e| e.contains("role")) {
                d = d.with_hint(
                    "a role is a name (`Server`) or a family member (`W[0]`, `W[*]`, `W[i+1]`)",
                );
            }
            if let Some((ctx, ctx_span)) = err.contexts().next() {
                d = d.with_secondary(
                    file,
                    sp(*ctx_span),
                    format!("while parsing {}", describe_pattern(ctx)),
                );
            }
            d
        }
    }
}

/// Several unclosed `{` at the end of a file are one mistake: report it
/// once, pointing at every unclosed delimiter.
fn merge_unclosed(diagnostics: &mut Vec<Diagnostic>) {
    let mut unclosed: Vec<Diagnostic> = Vec::new();
    diagnostics.retain(|d| {
        if d.code == codes::UNCLOSED_DELIMITER {
            unclosed.push(d.clone());
            false
        } else {
            true
        }
    });
    unclosed.sort_by_key(|d| d.primary.span.start);
    let mut iter = unclosed.into_iter();
    if let Some(mut first) = iter.next() {
        for other in iter {
            first = first.with_secondary(
                other.primary.file,
                other.primary.span,
                other.primary.message,
            );
        }
        diagnostics.push(first);
    }
}
