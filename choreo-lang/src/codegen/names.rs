//! Rust names for protocol names.

use proc_macro2::{Ident, Span};

use crate::local::Target;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// `FastPath` → `fast_path`, `HTTPServer` → `http_server`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier, raw when it is a Rust keyword (`r#type`); `self`-like
/// keywords that cannot be raw get a trailing underscore.
pub fn ident(name: &str) -> Ident {
    match name {
        "self" | "Self" | "super" | "crate" | "_" => {
            Ident::new(&format!("{name}_"), Span::call_site())
        }
        n if KEYWORDS.contains(&n) => Ident::new_raw(n, Span::call_site()),
        n => Ident::new(n, Span::call_site()),
    }
}

/// The module of a protocol: its `snake_case` name (`FastPath` → `fast_path`).
pub fn protocol_module_ident(protocol: &str) -> Ident {
    ident(&snake(protocol))
}

/// The module of a role's endpoints inside its protocol's module: the
/// role's `snake_case` name, and a named family member's index after it
/// (`Node[0]` → `node_0`).
pub fn role_module_ident(target: &Target) -> Ident {
    match target {
        Target::Role(r) | Target::Family(r) => ident(&snake(r)),
        Target::Member(r, i) => ident(&format!("{}_{i}", snake(r))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake("FastPath"), "fast_path");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("Node"), "node");
        assert_eq!(snake("Dkg2Round"), "dkg2_round");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("ping").to_string(), "ping");
    }
}
