//! The `proc_macro2::TokenStream` lexer, for `choreography! { … }`.
//!
//! The tokens are laid out as text, one space apart (a doc comment on its
//! own line), and each token's span is its range in that text, so spans
//! behave as in a file (a name's span is as long as the name) and the text
//! can be rendered like a file's. The returned [`TokenMap`] holds the text
//! and maps every position back to its token's `proc_macro2::Span`, so the
//! macro can underline exact tokens. Input that produces no token (a
//! rejected literal) is laid out too, so its diagnostic has a place.
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

/// The laid-out text of a token stream and where each token came from.
#[derive(Clone, Debug, Default)]
pub struct TokenMap {
    /// The tokens as text: what a diagnostic's span indexes.
    pub text: String,
    /// `(start, span)` of every laid-out token, by increasing start.
    starts: Vec<(u32, proc_macro2::Span)>,
}

impl TokenMap {
    /// The span of the token at or before text position `at`.
    fn token_at(&self, at: u32) -> Option<proc_macro2::Span> {
        let i = self.starts.partition_point(|(start, _)| *start <= at);
        i.checked_sub(1)
            .and_then(|i| self.starts.get(i))
            .or(self.starts.first())
            .map(|(_, span)| *span)
    }

    /// The spans of the first and last token that `span` covers (a span at
    /// the end of the text is the last token). `None` for empty input.
    pub fn locate(&self, span: Span) -> Option<(proc_macro2::Span, proc_macro2::Span)> {
        let last = span.end.max(span.start + 1) - 1;
        Some((self.token_at(span.start)?, self.token_at(last)?))
    }

    /// How many tokens were laid out.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

struct Out {
    tokens: Vec<(Token, Span)>,
    map: TokenMap,
    diagnostics: Vec<Diagnostic>,
}

impl Out {
    /// Lays `text` out and returns its range.
    fn lay_out(&mut self, text: &str, span: proc_macro2::Span) -> Span {
        let start = self.map.text.len();
        self.map.text.push_str(text);
        let range = Span::new(start, self.map.text.len());
        self.map.starts.push((range.start, span));
        self.map
            .text
            .push(if text.starts_with("///") { '\n' } else { ' ' });
        range
    }

    fn push(&mut self, token: Token, text: &str, span: proc_macro2::Span) {
        let range = self.lay_out(text, span);
        self.tokens.push((token, range));
    }
}

/// Lexes a token stream. See the module docs for the span convention.
pub fn lex_token_stream(ts: TokenStream) -> (Vec<(Token, Span)>, TokenMap, Vec<Diagnostic>) {
    let mut out = Out {
        tokens: Vec::new(),
        map: TokenMap::default(),
        diagnostics: Vec::new(),
    };
    lex_stream(ts, &mut out);
    (out.tokens, out.map, out.diagnostics)
}

/// Lexes and parses the body of one `choreography!` invocation.
pub fn parse_token_stream(ts: TokenStream, file: FileId) -> (ast::File, Vec<Diagnostic>, TokenMap) {
    let (tokens, map, mut diagnostics) = lex_token_stream(ts);
    for d in &mut diagnostics {
        d.primary.file = file;
    }
    let end = map.text.len();
    let (ast, parse_diags) = super::parse_lexed(tokens, Span::new(end, end), file);
    diagnostics.extend(parse_diags);
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    (ast, diagnostics, map)
}

fn lex_stream(ts: TokenStream, out: &mut Out) {
    let mut iter = ts.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(id) => {
                let text = id.to_string();
                // `r#name` is `name`, as in text (keywords stay reserved).
                let token = word_token(text.strip_prefix("r#").unwrap_or(&text));
                out.push(token, &text, id.span());
            }
            TokenTree::Group(g) => {
                let delimiters = match g.delimiter() {
                    Delimiter::Parenthesis => Some(((Token::LParen, "("), (Token::RParen, ")"))),
                    Delimiter::Bracket => Some(((Token::LBracket, "["), (Token::RBracket, "]"))),
                    Delimiter::Brace => Some(((Token::LBrace, "{"), (Token::RBrace, "}"))),
                    Delimiter::None => None,
                };
                let (open, close) = delimiters.unzip();
                if let Some((token, text)) = open {
                    out.push(token, text, g.span_open());
                }
                lex_stream(g.stream(), out);
                if let Some((token, text)) = close {
                    out.push(token, text, g.span_close());
                }
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                if c == '#' {
                    if let Some(TokenTree::Group(g)) = iter.peek() {
                        if g.delimiter() == Delimiter::Bracket {
                            if let Some(doc) = doc_attribute(g.stream()) {
                                let span = p.span().join(g.span()).unwrap_or_else(|| p.span());
                                let text = format!("///{}", doc.replace('\n', " "));
                                out.push(Token::Doc(doc), &text, span);
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
                    ('-', Some('>')) => Some((Token::Arrow, "->")),
                    ('=', Some('>')) => Some((Token::FatArrow, "=>")),
                    (':', Some(':')) => Some((Token::PathSep, "::")),
                    _ => None,
                };
                if let Some((token, text)) = pair {
                    let second = iter.next();
                    let span = match second {
                        Some(TokenTree::Punct(q)) => {
                            p.span().join(q.span()).unwrap_or_else(|| p.span())
                        }
                        _ => p.span(),
                    };
                    out.push(token, text, span);
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
                            "'",
                            p.span(),
                            codes::BAD_CHAR,
                            "unexpected `'` outside a string literal",
                            "choreo has no character literals or lifetimes; use a string literal \"...\"",
                        );
                        continue;
                    }
                    other => Token::Other(other),
                };
                out.push(token, &c.to_string(), p.span());
            }
            TokenTree::Literal(lit) => lex_literal(&lit, out),
        }
    }
}

/// Reports input that yields no token (laid out, so the report has a place).
fn bad_input(
    out: &mut Out,
    text: &str,
    span: proc_macro2::Span,
    code: &'static str,
    msg: &str,
    hint: &str,
) {
    let at = out.lay_out(text, span);
    out.diagnostics
        .push(Diagnostic::error(code, msg, FileId(0), at, "here").with_hint(hint));
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
        Token::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The value of a string literal's source text (plain or raw).
fn string_value(text: &str) -> Option<Token> {
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        let body = body.strip_prefix('"')?.strip_suffix('"')?;
        return Some(Token::Str(body.into()));
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
            out.push(token, &text, lit.span());
            return;
        }
    }
    // A literal's text lexes exactly like the same text in a file.
    let (tokens, diags) = lexer::lex(&text, FileId(0));
    if let Some(d) = diags.into_iter().next() {
        let msg = d.message.clone();
        let hint = d.hint.clone().unwrap_or_default();
        match <[_; 1]>::try_from(tokens) {
            // Keep the token the text lexer recovered (e.g. `2sec` → `2s`),
            // and report at it.
            Ok([(t, _)]) => {
                out.push(t, &text, lit.span());
                let at = out.tokens.last().map(|(_, s)| *s).unwrap_or_default();
                out.diagnostics
                    .push(Diagnostic::error(d.code, msg, FileId(0), at, "here").with_hint(hint));
            }
            Err(_) => bad_input(out, &text, lit.span(), d.code, &msg, &hint),
        }
        return;
    }
    for (t, span) in tokens {
        let part = text
            .get(span.start as usize..span.end as usize)
            .unwrap_or(&text);
        out.push(t, part, lit.span());
    }
}
