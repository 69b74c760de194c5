//! Where facts live: the [`Store`] trait and the in-memory store.

use std::collections::BTreeMap;

use super::error::JournalError;
use super::fact::{FactId, VerifiedFact};

/// Durable (or, for tests, in-memory) storage of verified facts.
///
/// Only [`VerifiedFact`]s go in, so an unverified fact can never be
/// stored. Implementations keep facts by id; appending a fact that is
/// already present changes nothing.
pub trait Store: Send + std::fmt::Debug {
    /// Add `facts`, all or none, durable when this returns.
    fn append(&mut self, facts: &[&VerifiedFact]) -> Result<(), JournalError>;

    /// Remove a fact appended by the last [`append`](Self::append) that no
    /// one has seen yet. Only the guard chain's journal coupling calls it,
    /// through [`Journal::append_coupled`](super::Journal::append_coupled),
    /// while it holds the journal: when the coupled send is refused, the
    /// fact is taken back so that "both or neither" holds.
    fn retract(&mut self, id: &FactId) -> Result<(), JournalError>;

    /// Every stored fact (verified again on the way out).
    fn load(&self) -> Result<Vec<VerifiedFact>, JournalError>;

    /// Number of stored facts.
    fn len(&self) -> Result<u64, JournalError>;

    /// True if nothing is stored.
    fn is_empty(&self) -> Result<bool, JournalError> {
        Ok(self.len()? == 0)
    }
}

/// A store in memory, for tests and examples. Forgets everything when
/// dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    facts: BTreeMap<FactId, VerifiedFact>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn append(&mut self, facts: &[&VerifiedFact]) -> Result<(), JournalError> {
        for f in facts {
            self.facts.entry(f.id()).or_insert_with(|| (*f).clone());
        }
        Ok(())
    }

    fn retract(&mut self, id: &FactId) -> Result<(), JournalError> {
        self.facts.remove(id);
        Ok(())
    }

    fn load(&self) -> Result<Vec<VerifiedFact>, JournalError> {
        Ok(self.facts.values().cloned().collect())
    }

    fn len(&self) -> Result<u64, JournalError> {
        Ok(self.facts.len() as u64)
    }
}
