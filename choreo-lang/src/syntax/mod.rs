//! Lexing and parsing. Two lexers (text, `proc_macro2::TokenStream`) feed
//! one token parser. Parsing never fails: it returns a possibly partial
//! [`ast::File`] with `Error` nodes plus every diagnostic.
//!
//! Comments are tokens for the lexers and trivia for the parser: they are
//! set aside before parsing and attached afterwards ([`comments`]) to the
//! item, statement, branch or block end they precede, so `fmt` keeps them.

pub mod codes;
pub mod comments;
mod fast;
pub mod lexer;
pub mod parser;
pub mod token;
pub mod token_stream;

#[cfg(test)]
mod tests;

use crate::{ast, diagnostic::Diagnostic, span::FileId, span::Span};
use token::Token;

pub use token_stream::{lex_token_stream, parse_token_stream};

/// Parses one `.choreo` source text.
pub fn parse_source(text: &str, file: FileId) -> (ast::File, Vec<Diagnostic>) {
    let (tokens, mut diagnostics) = lexer::lex(text, file);
    let eoi = Span::new(text.len(), text.len());
    // Where the lexer dropped a bad character, the parser's complaint about
    // the token right after the gap is the same mistake.
    let gaps: Vec<(u32, u32)> = diagnostics
        .iter()
        .filter(|d| d.code == codes::BAD_CHAR)
        .map(|d| (d.primary.span.start, d.primary.span.end))
        .collect();
    // The ends of the significant tokens, wanted only when there are gaps
    // to match parse errors against.
    let ends: Vec<u32> = if gaps.is_empty() {
        Vec::new()
    } else {
        tokens
            .iter()
            .filter(|(t, _)| !t.is_trivia())
            .map(|(_, s)| s.end)
            .collect()
    };
    let (ast, mut parse_diags) = parse_tokens_with_layout(tokens, eoi, file, Some(text));
    if !gaps.is_empty() {
        parse_diags.retain(|d| {
            let at = d.primary.span.start;
            let prev_end = ends
                .iter()
                .copied()
                .take_while(|e| *e <= at)
                .last()
                .unwrap_or(0);
            !(d.code == codes::UNEXPECTED_TOKEN
                && gaps.iter().any(|(s, e)| *s >= prev_end && *e <= at))
        });
    }
    // An unterminated string or comment swallows the rest of the file: the
    // missing `}` and the early end of file are consequences, not mistakes.
    if diagnostics
        .iter()
        .any(|d| d.code == codes::UNTERMINATED_STRING || d.code == codes::UNTERMINATED_COMMENT)
    {
        parse_diags
            .retain(|d| d.code != codes::UNCLOSED_DELIMITER && d.code != codes::UNEXPECTED_EOF);
    }
    diagnostics.extend(parse_diags);
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    (ast, diagnostics)
}

/// Parses lexed tokens (trivia included): the common back end of both
/// lexers.
pub fn parse_lexed(
    tokens: Vec<(Token, Span)>,
    eoi: Span,
    file: FileId,
) -> (ast::File, Vec<Diagnostic>) {
    parse_tokens_with_layout(tokens, eoi, file, None)
}

/// [`parse_lexed`], keeping the layout (blank lines, end-of-line comments)
/// that `source`, the text the tokens came from, shows.
fn parse_tokens_with_layout(
    mut tokens: Vec<(Token, Span)>,
    eoi: Span,
    file: FileId,
    source: Option<&str>,
) -> (ast::File, Vec<Diagnostic>) {
    // The comments are set aside and the rest stays where it is: no second
    // token vector, grown from empty and copied (for a long protocol the
    // tokens are megabytes).
    let trivia: Vec<(Token, Span)> = tokens.extract_if(.., |(t, _)| t.is_trivia()).collect();
    let (mut ast, diagnostics) = parser::parse_tokens(&tokens, eoi, file);
    comments::attach(&mut ast, trivia, source);
    (ast, diagnostics)
}
