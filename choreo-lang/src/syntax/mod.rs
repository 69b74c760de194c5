//! Lexing and parsing. Two lexers (text, `proc_macro2::TokenStream`) feed
//! one token parser. Parsing never fails: it returns a possibly partial
//! [`ast::File`] with `Error` nodes plus every diagnostic.
//!
//! Comments are tokens for the lexers and trivia for the parser: they are
//! set aside before parsing and attached afterwards ([`comments`]) to the
//! item, statement, branch or block end they precede, so `fmt` keeps them.

pub mod codes;
pub mod comments;
pub mod lexer;
pub mod parser;
pub mod print_type;
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
    let (ast, parse_diags) = parse_lexed(tokens, eoi, file);
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
    let (trivia, significant): (Vec<_>, Vec<_>) =
        tokens.into_iter().partition(|(t, _)| t.is_trivia());
    let (mut ast, diagnostics) = parser::parse_tokens(&significant, eoi, file);
    comments::attach(&mut ast, trivia);
    (ast, diagnostics)
}
