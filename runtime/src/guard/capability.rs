//! Capability sets: attenuation by meet only.

use std::collections::BTreeSet;

/// A set of capability names (`@guard("cap")` asks for one).
///
/// The only way to change a set is [`attenuate`](Self::attenuate), which
/// replaces it by its meet (intersection) with another set: a set can only
/// lose capabilities, never regain one, and attenuating in any order gives
/// the same result (meet is commutative, associative and idempotent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilitySet {
    caps: BTreeSet<String>,
}

impl CapabilitySet {
    /// The root grant a node starts a context with (from its reduced
    /// journal state or configuration).
    pub fn grant<I, S>(caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CapabilitySet {
            caps: caps.into_iter().map(Into::into).collect(),
        }
    }

    /// The empty set: allows no guarded send.
    pub fn none() -> Self {
        Self::default()
    }

    /// Does the set hold `cap`?
    pub fn allows(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    /// `self ∧ other` (intersection), as a new set.
    pub fn meet(&self, other: &CapabilitySet) -> CapabilitySet {
        CapabilitySet {
            caps: self.caps.intersection(&other.caps).cloned().collect(),
        }
    }

    /// Narrow this set to its meet with `other`. There is no inverse.
    pub fn attenuate(&mut self, other: &CapabilitySet) {
        self.caps.retain(|c| other.caps.contains(c));
    }

    /// The capabilities, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().map(String::as_str)
    }
}
