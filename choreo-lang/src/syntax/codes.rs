//! Lexing and parsing diagnostic codes (`E01xx`) and their explanations.

use crate::diagnostic::Code;

/// A character that is not part of the language (`'`, `$`, a non-ASCII letter).
pub const BAD_CHAR: Code = "E0101";
/// A string literal without its closing `"`.
pub const UNTERMINATED_STRING: Code = "E0102";
/// A `/*` comment without its closing `*/`.
pub const UNTERMINATED_COMMENT: Code = "E0103";
/// An integer literal that does not fit in 64 bits, or has a stray suffix.
pub const BAD_NUMBER: Code = "E0104";
/// A duration with an unknown unit (`2sec`).
pub const BAD_DURATION: Code = "E0105";
/// A token the grammar does not allow here.
pub const UNEXPECTED_TOKEN: Code = "E0106";
/// A statement or declaration without its closing `;`.
pub const MISSING_SEMI: Code = "E0107";
/// A `(`, `[` or `{` that is never closed, or a closing delimiter that does not match.
pub const UNCLOSED_DELIMITER: Code = "E0108";
/// A keyword where a name is expected.
pub const KEYWORD_AS_NAME: Code = "E0109";
/// A `timeout` without its `else` handler.
pub const MISSING_ELSE: Code = "E0110";
/// Delimiters nested deeper than the parser supports.
pub const TOO_DEEP: Code = "E0111";
/// The file ends in the middle of a declaration.
pub const UNEXPECTED_EOF: Code = "E0112";
/// A closing delimiter with no matching opening one.
pub const STRAY_CLOSE: Code = "E0113";
/// An unknown escape sequence in a string literal.
pub const BAD_ESCAPE: Code = "E0114";

pub const EXPLANATIONS: &[(&str, &str)] = &[
    (
        "E0101",
        "A character that cannot start any token. choreo uses Rust's token set: identifiers, integers, \
         string literals, durations and punctuation. A `'` is only allowed inside a string literal; \
         there are no character literals or lifetimes.",
    ),
    (
        "E0102",
        "A string literal is missing its closing `\"`. Everything up to the end of the file was read as \
         part of the string. Add the closing quote.",
    ),
    (
        "E0103",
        "A block comment `/* ...` is missing its closing `*/` (block comments nest, as in Rust, so every \
         `/*` needs its own `*/`).",
    ),
    (
        "E0104",
        "An integer literal is too large for 64 bits, or is followed directly by letters that are not a \
         duration unit. Integers are written in decimal (`3`, `1_000`).",
    ),
    (
        "E0105",
        "A duration is an integer immediately followed by a unit: `ms` (milliseconds), `s` (seconds), \
         `m` (minutes) or `h` (hours), e.g. `500ms`, `2s`, `24h`. Other suffixes such as `sec` or `min` \
         are not durations.",
    ),
    (
        "E0106",
        "The parser found a token that the grammar does not allow at this point. The message lists what \
         was expected. The parser skips to the next `;` or `}` and keeps going, so later mistakes are \
         reported too.",
    ),
    (
        "E0107",
        "Statements (messages, `continue`, `call`, `link`, `delegate`) and declarations (`module`, `use`, \
         `type`, `roles`) end with `;`. Blocks (`choice`, `rec`, `par`, `for`, `timeout`) do not.",
    ),
    (
        "E0108",
        "A `(`, `[` or `{` is never closed, or is closed by a different kind of delimiter. Delimiters \
         must be balanced, as in Rust, so the same text also works inside `choreography! { ... }`.",
    ),
    (
        "E0109",
        "A keyword was used where a name is expected. The keywords `module use type protocol roles \
         choice at rec continue par and for in call link delegate to timeout else quorum` are reserved. \
         Names are case-sensitive, so the UpperCamelCase form (`Rec`, `Link`) is a valid name.",
    ),
    (
        "E0110",
        "A `timeout` needs a handler: `timeout 2s { ... } else { ... }`. The handler runs when the \
         deadline passes; write `else { }` only if every role can simply stop.",
    ),
    (
        "E0111",
        "The input nests statements or delimiters deeper than the compiler supports: 256 levels of \
         nested statements (`choice`, `rec`, `par`, `for`, `timeout`) or 512 levels of `(`, `[`, `{` and \
         `<` together. Split the protocol into smaller protocols joined with `call`.",
    ),
    (
        "E0112",
        "The file ends in the middle of a declaration or statement: the text is probably truncated, or \
         a closing `}` or `;` is missing at the end.",
    ),
    (
        "E0113",
        "A closing `)`, `]` or `}` has no matching opening delimiter. Remove it, or add the missing \
         opening delimiter.",
    ),
    (
        "E0114",
        "Unknown escape sequence in a string literal. Supported escapes: `\\\\`, `\\\"`, `\\n`, `\\r`, \
         `\\t`, `\\0`, `\\'`.",
    ),
];
