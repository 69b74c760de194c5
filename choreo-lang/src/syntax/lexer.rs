//! The text lexer: source text → tokens with byte spans. Never panics;
//! bad characters are reported (`E01xx`) and skipped.

use super::codes;
use super::token::{duration_unit, Keyword, Token};
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Lexes `text` into tokens (comments included, as trivia tokens).
pub fn lex(text: &str, file: FileId) -> (Vec<(Token, Span)>, Vec<Diagnostic>) {
    let mut lx = Lexer {
        text,
        pos: 0,
        file,
        // Dense protocol text has a token per 2.7 bytes (`A -> B : M(u64);`
        // is nine tokens in 24 bytes), commented text one per five or more.
        // Sized for the dense case: the vector is not regrown and copied
        // (megabytes for a long protocol), and the unused tail of a sparse
        // text's vector is never written.
        tokens: Vec::with_capacity(text.len() / 2 + 16),
        diagnostics: Vec::new(),
        names: HashMap::default(),
    };
    lx.run();
    (lx.tokens, lx.diagnostics)
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    file: FileId,
    tokens: Vec<(Token, Span)>,
    diagnostics: Vec<Diagnostic>,
    /// Each distinct name once: a protocol repeats its role and label
    /// names on every line, and every token shares the one allocation.
    names: NameMap<&'a str, Arc<str>>,
}

/// FNV-1a over a name's bytes: names are a few bytes long, where SipHash's
/// setup costs more than the lookup. (The input is the author's own
/// source, not a peer's, so collisions cost time only, never correctness.)
/// The checker and projection key their per-message tables (roles, labels,
/// payload texts, participants) with it too.
#[derive(Debug)]
pub(crate) struct NameHasher(u64);

/// A hash map keyed by names, hashed with [`NameHasher`].
pub(crate) type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        // ASCII without decoding; anything else through `chars`.
        match self.text.as_bytes().get(self.pos) {
            Some(b) if b.is_ascii() => Some(char::from(*b)),
            Some(_) => self.text.get(self.pos..).and_then(|s| s.chars().next()),
            None => None,
        }
    }

    /// The token for an identifier-shaped word, sharing the names seen so far.
    fn word(&mut self, word: &'a str) -> Token {
        if let Some(k) = Keyword::from_word(word) {
            return Token::Kw(k);
        }
        let name = self
            .names
            .entry(word)
            .or_insert_with(|| Arc::from(word))
            .clone();
        Token::Ident(name)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().nth(n))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    fn push(&mut self, token: Token, start: usize) {
        self.tokens.push((token, Span::new(start, self.pos)));
    }

    fn error(&mut self, code: &'static str, message: String, span: Span, label: &str, hint: &str) {
        self.diagnostics.push(
            Diagnostic::error(code, message, self.file, span, label).with_hint(hint.to_string()),
        );
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.bump();
                continue;
            }
            if c == '/' && self.peek_at(1) == Some('/') {
                self.line_comment(start);
                continue;
            }
            if c == '/' && self.peek_at(1) == Some('*') {
                self.block_comment(start);
                continue;
            }
            if c == 'r' && self.raw(start) {
                continue;
            }
            if is_ident_start(c) {
                let bytes = self.text.as_bytes();
                let len = bytes
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                self.pos = start + len;
                let word = self.slice(start, self.pos);
                let token = self.word(word);
                self.push(token, start);
                continue;
            }
            if c.is_ascii_digit() {
                self.number(start);
                continue;
            }
            if c == '"' {
                self.string(start);
                continue;
            }
            self.bump();
            let two = |lx: &mut Self, second: char, tok: Token, single: Token| {
                if lx.peek() == Some(second) {
                    lx.bump();
                    tok
                } else {
                    single
                }
            };
            let token = match c {
                '-' => two(self, '>', Token::Arrow, Token::Minus),
                '=' => two(self, '>', Token::FatArrow, Token::Eq),
                ':' => two(self, ':', Token::PathSep, Token::Colon),
                ';' => Token::Semi,
                ',' => Token::Comma,
                '.' => Token::Dot,
                '(' => Token::LParen,
                ')' => Token::RParen,
                '[' => Token::LBracket,
                ']' => Token::RBracket,
                '{' => Token::LBrace,
                '}' => Token::RBrace,
                '<' => Token::Lt,
                '>' => Token::Gt,
                '@' => Token::At,
                '*' => Token::Star,
                '+' => Token::Plus,
                '!' | '#' | '&' | '?' | '/' | '%' | '^' | '|' | '~' | '$' => Token::Other(c),
                '\'' => {
                    // Swallow a whole character literal or lifetime, so
                    // one mistake is one diagnostic.
                    if self.peek_at(1) == Some('\'') {
                        self.bump();
                        self.bump();
                    } else if self.peek() == Some('\\') && self.peek_at(2) == Some('\'') {
                        self.pos += 3;
                    } else {
                        while self.peek().is_some_and(is_ident_continue) {
                            self.bump();
                        }
                    }
                    self.error(
                        codes::BAD_CHAR,
                        "unexpected `'` outside a string literal".into(),
                        Span::new(start, self.pos),
                        "not allowed here",
                        "choreo has no character literals or lifetimes; use a string literal \"...\"",
                    );
                    continue;
                }
                other => {
                    self.error(
                        codes::BAD_CHAR,
                        format!("unexpected character `{}`", other.escape_debug()),
                        Span::new(start, self.pos),
                        "not a valid token",
                        "remove this character; names use ASCII letters, digits and `_`",
                    );
                    continue;
                }
            };
            self.push(token, start);
        }
    }

    /// `r"…"`, `r#"…"#` (raw strings) and `r#name` (a raw identifier:
    /// the name, still subject to keyword rules), as in Rust.
    fn raw(&mut self, start: usize) -> bool {
        let rest = self.text.get(start + 1..).unwrap_or("");
        let hashes = rest.len() - rest.trim_start_matches('#').len();
        let after = rest.get(hashes..).unwrap_or("");
        if after.starts_with('"') {
            let close = format!("\"{}", "#".repeat(hashes));
            let body_start = start + 2 + hashes;
            match self.text.get(body_start..).and_then(|b| b.find(&close)) {
                Some(len) => {
                    let body = self.slice(body_start, body_start + len).to_string();
                    self.pos = body_start + len + close.len();
                    self.push(Token::Str(body.into()), start);
                }
                None => {
                    self.pos = self.text.len();
                    self.error(
                        codes::UNTERMINATED_STRING,
                        "unterminated raw string literal".into(),
                        Span::new(start, body_start),
                        "this string is never closed",
                        &format!("add the closing `{close}`"),
                    );
                }
            }
            return true;
        }
        if hashes == 1 && after.starts_with(is_ident_start) {
            self.pos = start + 2;
            let word_start = self.pos;
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            let word = self.slice(word_start, self.pos);
            let token = self.word(word);
            self.push(token, start);
            return true;
        }
        false
    }

    fn line_comment(&mut self, start: usize) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
        let text = self.slice(start, self.pos).trim_end_matches('\r');
        // `///x` is a doc comment, `////x` an ordinary one (as in Rust).
        let token = match text.strip_prefix("///") {
            Some(rest) if !rest.starts_with('/') => Token::Doc(rest.to_string()),
            _ => Token::Comment(text.to_string()),
        };
        self.push(token, start);
    }

    fn block_comment(&mut self, start: usize) {
        self.pos += 2;
        let mut depth = 1usize;
        while depth > 0 {
            match (self.peek(), self.peek_at(1)) {
                (Some('*'), Some('/')) => {
                    self.pos += 2;
                    depth -= 1;
                }
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    depth += 1;
                }
                (Some(_), _) => {
                    self.bump();
                }
                (None, _) => {
                    self.error(
                        codes::UNTERMINATED_COMMENT,
                        "unterminated block comment".into(),
                        Span::new(start, start + 2),
                        "this comment is never closed",
                        "add `*/` where the comment should end",
                    );
                    break;
                }
            }
        }
        let text = self.slice(start, self.pos).to_string();
        self.push(Token::Comment(text), start);
    }

    fn number(&mut self, start: usize) {
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
        let digits_end = self.pos;
        let digits: String = self
            .slice(start, digits_end)
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let value = match digits.parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                self.error(
                    codes::BAD_NUMBER,
                    "integer literal is too large".into(),
                    Span::new(start, digits_end),
                    "does not fit in 64 bits",
                    "use a value below 18446744073709551616",
                );
                u64::MAX
            }
        };
        if !self.peek().is_some_and(is_ident_start) {
            self.push(Token::Int(value), start);
            return;
        }
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        let suffix = self.slice(digits_end, self.pos);
        match duration_unit(suffix) {
            Some(unit) => self.push(Token::Duration(value, unit), start),
            None => {
                let suggestion = match suffix {
                    "sec" | "secs" | "second" | "seconds" => Some("s"),
                    "msec" | "msecs" | "millis" | "milliseconds" => Some("ms"),
                    "min" | "mins" | "minute" | "minutes" => Some("m"),
                    "hr" | "hrs" | "hour" | "hours" => Some("h"),
                    _ => None,
                };
                let hint = match suggestion {
                    Some(u) => format!("write `{}{u}`", self.slice(start, digits_end)),
                    None => "a duration ends in `ms`, `s`, `m` or `h`, e.g. `500ms` or `2s`".into(),
                };
                self.error(
                    codes::BAD_DURATION,
                    format!("invalid duration suffix `{suffix}`"),
                    Span::new(digits_end, self.pos),
                    "unknown unit",
                    &hint,
                );
                // Keep going as if the unit were right, so parsing continues.
                let unit = suggestion
                    .and_then(duration_unit)
                    .unwrap_or(crate::ast::DurationUnit::Seconds);
                self.push(Token::Duration(value, unit), start);
            }
        }
    }

    fn string(&mut self, start: usize) {
        self.bump();
        let mut value = String::new();
        loop {
            let esc_start = self.pos;
            match self.bump() {
                None => {
                    self.error(
                        codes::UNTERMINATED_STRING,
                        "unterminated string literal".into(),
                        Span::new(start, start + 1),
                        "this string is never closed",
                        "add the closing `\"`",
                    );
                    break;
                }
                Some('"') => break,
                Some('\\') => {
                    let c = self.bump();
                    match c {
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('0') => value.push('\0'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('\'') => value.push('\''),
                        Some(other) => {
                            self.error(
                                codes::BAD_ESCAPE,
                                format!("unknown escape `\\{}` in string", other.escape_debug()),
                                Span::new(esc_start, self.pos),
                                "unknown escape",
                                "use `\\\\` for a backslash",
                            );
                            value.push(other);
                        }
                        None => {}
                    }
                }
                Some(c) => value.push(c),
            }
        }
        self.push(Token::Str(value.into()), start);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        lex(text, FileId(0)).0.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn lexes_durations_arrows_and_paths() {
        use crate::ast::DurationUnit::*;
        assert_eq!(
            kinds("500ms 2s 5m 24h -> => :: : - >"),
            vec![
                Token::Duration(500, Millis),
                Token::Duration(2, Seconds),
                Token::Duration(5, Minutes),
                Token::Duration(24, Hours),
                Token::Arrow,
                Token::FatArrow,
                Token::PathSep,
                Token::Colon,
                Token::Minus,
                Token::Gt,
            ]
        );
    }

    #[test]
    fn keeps_comments_and_docs_as_trivia() {
        assert_eq!(
            kinds("/// doc\n// line\n/* a /* nested */ b */ x"),
            vec![
                Token::Doc(" doc".into()),
                Token::Comment("// line".into()),
                Token::Comment("/* a /* nested */ b */".into()),
                Token::Ident("x".into()),
            ]
        );
    }

    #[test]
    fn reports_quote_and_keeps_going() {
        let (tokens, diags) = lex("A 'x B 'c' '\\n' C", FileId(0));
        assert_eq!(diags.len(), 3);
        assert_eq!(diags[0].code, codes::BAD_CHAR);
        assert_eq!(diags[0].primary.span, Span::new(2, 4));
        assert_eq!(diags[1].primary.span, Span::new(7, 10));
        assert_eq!(diags[2].primary.span, Span::new(11, 15));
        assert_eq!(tokens.len(), 3);
    }

    #[test]
    fn reports_unterminated_string_and_comment() {
        let (_, diags) = lex("\"abc", FileId(0));
        assert_eq!(diags[0].code, codes::UNTERMINATED_STRING);
        let (_, diags) = lex("x /* abc", FileId(0));
        assert_eq!(diags[0].code, codes::UNTERMINATED_COMMENT);
    }

    #[test]
    fn reports_bad_duration_with_suggestion() {
        let (tokens, diags) = lex("2sec", FileId(0));
        assert_eq!(diags[0].code, codes::BAD_DURATION);
        assert_eq!(diags[0].hint.as_deref(), Some("write `2s`"));
        assert_eq!(
            tokens[0].0,
            Token::Duration(2, crate::ast::DurationUnit::Seconds)
        );
    }

    #[test]
    fn string_escapes_resolve() {
        assert_eq!(kinds(r#""a\"b\\c""#), vec![Token::Str("a\"b\\c".into())]);
    }

    #[test]
    fn raw_strings_and_identifiers_lex_as_in_rust() {
        assert_eq!(
            kinds(r###"r"a\b" r#"say "hi""# r#Foo r#type rx"###),
            vec![
                Token::Str("a\\b".into()),
                Token::Str("say \"hi\"".into()),
                Token::Ident("Foo".into()),
                Token::Kw(crate::syntax::token::Keyword::Type),
                Token::Ident("rx".into()),
            ]
        );
    }

    #[test]
    fn spans_are_byte_offsets() {
        let (tokens, _) = lex("é A", FileId(0));
        // `é` is two bytes and an error; `A` starts at byte 3.
        assert_eq!(tokens[0].1, Span::new(3, 4));
    }
}
