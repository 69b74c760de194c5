//! The `proc_macro2::TokenStream` lexer, for `choreography! { … }`.
//!
//! Token `i` gets the synthetic span `i..i + 1`; the returned side table
//! maps index `i` back to the token's `proc_macro2::Span`, so the macro can
//! underline exact tokens. Entries past the last token belong to input
//! that produced no token (a rejected literal), so every diagnostic span
//! start indexes the side table.
//!
//! Differences from text, all resolved here so the parser sees the same
//! tokens: `500ms` is an integer literal with suffix `ms`; `/// doc`
//! arrives as `#[doc = "…"]`; groups are flattened into delimiter tokens;
//! `->`, `=>` and `::` arrive as two joint punctuation characters.

use super::codes;
use super::lexer;
use super::token::{word_token, Token};
use crate::ast;
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};
use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

struct Out {
    tokens: Vec<(Token, Span)>,
    spans: Vec<proc_macro2::Span>,
    extra: Vec<proc_macro2::Span>,
    diagnostics: Vec<Diagnostic>,
}

impl Out {
    fn push(&mut self, token: Token, span: proc_macro2::Span) {
        let i = self.tokens.len();
        self.tokens.push((token, Span::new(i, i + 1)));
        self.spans.push(span);
    }
}

/// Lexes a token stream. See the module docs for the span convention.
pub fn lex_token_stream(
    ts: TokenStream,
) -> (Vec<(Token, Span)>, Vec<proc_macro2::Span>, Vec<Diagnostic>) {
    let mut out = Out {
        tokens: Vec::new(),
        spans: Vec::new(),
        extra: Vec::new(),
        diagnostics: Vec::new(),
    };
    lex_stream(ts, &mut out);
    // Diagnostics about input without a token point into `extra`, which
    // follows the token spans in the side table.
    let n = out.tokens.len();
    for d in &mut out.diagnostics {
        if d.primary.span.start >= u32::MAX / 2 {
            let k = (d.primary.span.start - u32::MAX / 2) as usize;
            d.primary.span = Span::new(n + k, n + k + 1);
        }
    }
    let mut spans = out.spans;
    spans.extend(out.extra);
    (out.tokens, spans, out.diagnostics)
}

/// Lexes and parses the body of one `choreography!` invocation.
pub fn parse_token_stream(
    ts: TokenStream,
    file: FileId,
) -> (ast::File, Vec<Diagnostic>, Vec<proc_macro2::Span>) {
    let (tokens, spans, mut diagnostics) = lex_token_stream(ts);
    for d in &mut diagnostics {
        d.primary.file = file;
    }
    let n = tokens.len();
    let (ast, parse_diags) = super::parse_lexed(tokens, Span::new(n, n), file);
    diagnostics.extend(parse_diags);
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    (ast, diagnostics, spans)
}

fn lex_stream(ts: TokenStream, out: &mut Out) {
    let mut iter = ts.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(id) => {
                let text = id.to_string();
                // `r#name` is `name`, as in text (keywords stay reserved).
                let token = word_token(text.strip_prefix("r#").unwrap_or(&text));
                out.push(token, id.span());
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => (Some(Token::LParen), Some(Token::RParen)),
                    Delimiter::Bracket => (Some(Token::LBracket), Some(Token::RBracket)),
                    Delimiter::Brace => (Some(Token::LBrace), Some(Token::RBrace)),
                    Delimiter::None => (None, None),
                };
                if let Some(open) = open {
                    out.push(open, g.span_open());
                }
                lex_stream(g.stream(), out);
                if let Some(close) = close {
                    out.push(close, g.span_close());
                }
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                if c == '#' {
                    if let Some(TokenTree::Group(g)) = iter.peek() {
                        if g.delimiter() == Delimiter::Bracket {
                            if let Some(doc) = doc_attribute(g.stream()) {
                                let span = p.span().join(g.span()).unwrap_or_else(|| p.span());
                                out.push(Token::Doc(doc), span);
                                iter.next();
                                continue;
                            }
                        }
                    }
                }
                // `//! text` arrives as `#![doc = "…"]`; in a file it is an
                // ordinary comment, and comments do not reach the parser.
                if c == '#' {
                    if let Some(TokenTree::Punct(bang)) = iter.peek() {
                        if bang.as_char() == '!' {
                            let mut ahead = iter.clone();
                            ahead.next();
                            if let Some(TokenTree::Group(g)) = ahead.peek() {
                                if g.delimiter() == Delimiter::Bracket
                                    && doc_attribute(g.stream()).is_some()
                                {
                                    iter.next();
                                    iter.next();
                                    continue;
                                }
                            }
                        }
                    }
                }
                let joint = p.spacing() == Spacing::Joint;
                let next_char = match iter.peek() {
                    Some(TokenTree::Punct(q)) if joint => Some(q.as_char()),
                    _ => None,
                };
                let pair = match (c, next_char) {
                    ('-', Some('>')) => Some(Token::Arrow),
                    ('=', Some('>')) => Some(Token::FatArrow),
                    (':', Some(':')) => Some(Token::PathSep),
                    _ => None,
                };
                if let Some(token) = pair {
                    let second = iter.next();
                    let span = match second {
                        Some(TokenTree::Punct(q)) => {
                            p.span().join(q.span()).unwrap_or_else(|| p.span())
                        }
                        _ => p.span(),
                    };
                    out.push(token, span);
                    continue;
                }
                let token = match c {
                    '-' => Token::Minus,
                    '=' => Token::Eq,
                    ':' => Token::Colon,
                    ';' => Token::Semi,
                    ',' => Token::Comma,
                    '.' => Token::Dot,
                    '<' => Token::Lt,
                    '>' => Token::Gt,
                    '@' => Token::At,
                    '*' => Token::Star,
                    '+' => Token::Plus,
                    '\'' => {
                        bad_input(
                            out,
                            p.span(),
                            codes::BAD_CHAR,
                            "unexpected `'` outside a string literal",
                            "choreo has no character literals or lifetimes; use a string literal \"...\"",
                        );
                        continue;
                    }
                    other => Token::Other(other),
                };
                out.push(token, p.span());
            }
            TokenTree::Literal(lit) => lex_literal(&lit, out),
        }
    }
}

fn bad_input(out: &mut Out, span: proc_macro2::Span, code: &'static str, msg: &str, hint: &str) {
    let k = out.extra.len();
    out.extra.push(span);
    let at = (u32::MAX / 2) as usize + k;
    out.diagnostics.push(
        Diagnostic::error(code, msg, FileId(0), Span::new(at, at + 1), "here").with_hint(hint),
    );
}

/// `doc = "text"` inside `#[…]`: the doc text.
fn doc_attribute(ts: TokenStream) -> Option<String> {
    let mut iter = ts.into_iter();
    match iter.next() {
        Some(TokenTree::Ident(id)) if id == "doc" => {}
        _ => return None,
    }
    match iter.next() {
        Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
        _ => return None,
    }
    let lit = match iter.next() {
        Some(TokenTree::Literal(lit)) => lit,
        _ => return None,
    };
    if iter.next().is_some() {
        return None;
    }
    match string_value(&lit.to_string())? {
        Token::Str(s) => Some(s),
        _ => None,
    }
}

/// The value of a string literal's source text (plain or raw).
fn string_value(text: &str) -> Option<Token> {
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        let body = body.strip_prefix('"')?.strip_suffix('"')?;
        return Some(Token::Str(body.to_string()));
    }
    let (tokens, diags) = lexer::lex(text, FileId(0));
    match (tokens.as_slice(), diags.is_empty()) {
        ([(t @ Token::Str(_), _)], true) => Some(t.clone()),
        _ => None,
    }
}

fn lex_literal(lit: &proc_macro2::Literal, out: &mut Out) {
    let text = lit.to_string();
    if text.starts_with('r') {
        if let Some(token) = string_value(&text) {
            out.push(token, lit.span());
            return;
        }
    }
    // A literal's text lexes exactly like the same text in a file.
    let (tokens, diags) = lexer::lex(&text, FileId(0));
    if let Some(d) = diags.into_iter().next() {
        let msg = d.message.clone();
        let hint = d.hint.clone().unwrap_or_default();
        bad_input(out, lit.span(), d.code, &msg, &hint);
        // Keep the tokens the text lexer recovered (e.g. `2sec` → `2s`).
        if tokens.len() == 1 {
            if let Some((t, _)) = tokens.into_iter().next() {
                out.push(t, lit.span());
            }
        }
        return;
    }
    for (t, _) in tokens {
        out.push(t, lit.span());
    }
}
