//! Shared names: the one text type of role, label and type names from the
//! lexer to the local types.
//!
//! The lexer keeps each distinct name once; the syntax tree, the checked
//! protocol and the local types hand that one allocation on, so copying a
//! name (a participant into every message, a peer into every action) is a
//! counter bump, not an allocation, and dropping it is a decrement.
//!
//! Architecture invariant: this module knows no phase; every phase may use it.

use std::sync::Arc;

/// The text of a name. The lexer keeps each distinct name once, and every
/// [`crate::ast::Ident`], participant, peer and type segment that spells it
/// shares that text: a protocol repeats its role and label names on every
/// line. Reads like a `&str` (it dereferences to one, compares with
/// strings, and prints and debugs as its text).
#[derive(Clone, Eq, PartialOrd, Ord, Default)]
pub struct Name(Arc<str>);

/// As its text (so a table keyed by names is searched with a `&str`).
impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (*self.0).hash(state);
    }
}

/// Equal texts, and the one shared text of an interned name is equal
/// without looking at its bytes (the checker and projection compare
/// participants on every message).
impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text itself.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<Arc<str>> for Name {
    fn from(text: Arc<str>) -> Self {
        Name(text)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name(Arc::from(text))
    }
}

impl From<String> for Name {
    fn from(text: String) -> Self {
        Name(Arc::from(text))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        String::from(name.as_str())
    }
}

impl From<&Name> for String {
    fn from(name: &Name) -> Self {
        String::from(name.as_str())
    }
}

impl From<Name> for Arc<str> {
    fn from(name: Name) -> Self {
        name.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == &*other.0
    }
}
