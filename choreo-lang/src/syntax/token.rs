//! The token set: Rust's tokens, so the same text lexes
//! from a `.choreo` file and from inside `choreography! { … }`.

use std::sync::Arc;

use crate::ast::DurationUnit;
use std::fmt;

/// A reserved word. Not usable as a name anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyword {
    Module,
    Use,
    Type,
    Protocol,
    Roles,
    Choice,
    At,
    Rec,
    Continue,
    Par,
    And,
    For,
    In,
    Call,
    Link,
    Delegate,
    To,
    Timeout,
    Else,
    Quorum,
}

impl Keyword {
    /// Every keyword, in the language contract order.
    pub const ALL: [Keyword; 20] = [
        Keyword::Module,
        Keyword::Use,
        Keyword::Type,
        Keyword::Protocol,
        Keyword::Roles,
        Keyword::Choice,
        Keyword::At,
        Keyword::Rec,
        Keyword::Continue,
        Keyword::Par,
        Keyword::And,
        Keyword::For,
        Keyword::In,
        Keyword::Call,
        Keyword::Link,
        Keyword::Delegate,
        Keyword::To,
        Keyword::Timeout,
        Keyword::Else,
        Keyword::Quorum,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Module => "module",
            Keyword::Use => "use",
            Keyword::Type => "type",
            Keyword::Protocol => "protocol",
            Keyword::Roles => "roles",
            Keyword::Choice => "choice",
            Keyword::At => "at",
            Keyword::Rec => "rec",
            Keyword::Continue => "continue",
            Keyword::Par => "par",
            Keyword::And => "and",
            Keyword::For => "for",
            Keyword::In => "in",
            Keyword::Call => "call",
            Keyword::Link => "link",
            Keyword::Delegate => "delegate",
            Keyword::To => "to",
            Keyword::Timeout => "timeout",
            Keyword::Else => "else",
            Keyword::Quorum => "quorum",
        }
    }

    /// The keyword spelled `word`, if any.
    pub fn from_word(word: &str) -> Option<Keyword> {
        // A `match` on the text (the compiler dispatches on length and
        // bytes), not a scan of `ALL`: every identifier of a source asks.
        Some(match word {
            "module" => Keyword::Module,
            "use" => Keyword::Use,
            "type" => Keyword::Type,
            "protocol" => Keyword::Protocol,
            "roles" => Keyword::Roles,
            "choice" => Keyword::Choice,
            "at" => Keyword::At,
            "rec" => Keyword::Rec,
            "continue" => Keyword::Continue,
            "par" => Keyword::Par,
            "and" => Keyword::And,
            "for" => Keyword::For,
            "in" => Keyword::In,
            "call" => Keyword::Call,
            "link" => Keyword::Link,
            "delegate" => Keyword::Delegate,
            "to" => Keyword::To,
            "timeout" => Keyword::Timeout,
            "else" => Keyword::Else,
            "quorum" => Keyword::Quorum,
            _ => return None,
        })
    }
}

/// One token. Comments are tokens too (the parser drops them and `fmt`
/// re-attaches them to the statement they precede).
///
/// Names and strings are shared (`Arc<str>`): the parser looks at a token
/// once per alternative it tries, and each look clones it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Ident(Arc<str>),
    Kw(Keyword),
    Int(u64),
    /// A string literal, escapes resolved.
    Str(Arc<str>),
    Duration(u64, DurationUnit),
    /// `/// text`: the text after the three slashes.
    Doc(String),
    /// `// …` or `/* … */`, verbatim including the markers.
    Comment(String),
    /// `->`
    Arrow,
    /// `=>`
    FatArrow,
    /// `::`
    PathSep,
    Colon,
    Semi,
    Comma,
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Lt,
    Gt,
    At,
    Star,
    Plus,
    Minus,
    Eq,
    /// Any other Rust punctuation character (`!`, `#`, `&`, `?`, …): a
    /// valid Rust token with no meaning in choreo, rejected by the parser.
    Other(char),
}

impl Token {
    pub fn is_trivia(&self) -> bool {
        matches!(self, Token::Doc(_) | Token::Comment(_))
    }

    /// Tokens that open a delimited group.
    pub fn is_open(&self) -> bool {
        matches!(self, Token::LParen | Token::LBracket | Token::LBrace)
    }

    /// Tokens that close a delimited group.
    pub fn is_close(&self) -> bool {
        matches!(self, Token::RParen | Token::RBracket | Token::RBrace)
    }

    /// The same token without its payload, for comparing token kinds.
    pub fn kind_name(&self) -> String {
        match self {
            Token::Ident(_) => "identifier".into(),
            Token::Int(_) => "integer".into(),
            Token::Str(_) => "string".into(),
            Token::Duration(..) => "duration".into(),
            Token::Doc(_) => "doc comment".into(),
            Token::Comment(_) => "comment".into(),
            other => format!("`{other}`"),
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "{s}"),
            Token::Kw(k) => write!(f, "{}", k.as_str()),
            Token::Int(v) => write!(f, "{v}"),
            Token::Str(s) => write!(f, "{s:?}"),
            Token::Duration(v, u) => write!(
                f,
                "{}",
                crate::ast::DurationLit {
                    value: *v,
                    unit: *u,
                    span: crate::span::Span::default()
                }
            ),
            Token::Doc(s) => write!(f, "///{s}"),
            Token::Comment(s) => write!(f, "{s}"),
            Token::Arrow => write!(f, "->"),
            Token::FatArrow => write!(f, "=>"),
            Token::PathSep => write!(f, "::"),
            Token::Colon => write!(f, ":"),
            Token::Semi => write!(f, ";"),
            Token::Comma => write!(f, ","),
            Token::Dot => write!(f, "."),
            Token::LParen => write!(f, "("),
            Token::RParen => write!(f, ")"),
            Token::LBracket => write!(f, "["),
            Token::RBracket => write!(f, "]"),
            Token::LBrace => write!(f, "{{"),
            Token::RBrace => write!(f, "}}"),
            Token::Lt => write!(f, "<"),
            Token::Gt => write!(f, ">"),
            Token::At => write!(f, "@"),
            Token::Star => write!(f, "*"),
            Token::Plus => write!(f, "+"),
            Token::Minus => write!(f, "-"),
            Token::Eq => write!(f, "="),
            Token::Other(c) => write!(f, "{c}"),
        }
    }
}

/// The duration unit spelled by an integer suffix, if it is one.
pub fn duration_unit(suffix: &str) -> Option<DurationUnit> {
    match suffix {
        "ms" => Some(DurationUnit::Millis),
        "s" => Some(DurationUnit::Seconds),
        "m" => Some(DurationUnit::Minutes),
        "h" => Some(DurationUnit::Hours),
        _ => None,
    }
}

/// Classifies an identifier-shaped word.
pub fn word_token(word: &str) -> Token {
    match Keyword::from_word(word) {
        Some(k) => Token::Kw(k),
        None => Token::Ident(word.into()),
    }
}
