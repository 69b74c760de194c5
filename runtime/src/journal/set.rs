//! The fact set (a join-semilattice) and deterministic reducers.

use std::collections::btree_map::{BTreeMap, Entry};

use super::fact::{FactId, VerifiedFact};

/// A set of verified facts, ordered by [`FactId`].
///
/// It only grows, by [`join`](Self::join) (set union): join is
/// commutative, associative and idempotent, so replicas that have seen the
/// same facts, in any order and any number of times, hold equal sets. Two
/// copies of one fact with different signatures (FROST signatures are
/// randomized) join to the one with the smaller signature bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactSet {
    facts: BTreeMap<FactId, VerifiedFact>,
}

impl FactSet {
    /// The empty set (the lattice's bottom).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one fact; true if its id was new.
    pub fn insert(&mut self, fact: VerifiedFact) -> bool {
        match self.facts.entry(fact.id()) {
            Entry::Vacant(v) => {
                v.insert(fact);
                true
            }
            Entry::Occupied(mut o) => {
                o.get_mut().join_signature(&fact);
                false
            }
        }
    }

    /// `self := self ∪ other`.
    pub fn join(&mut self, other: &FactSet) {
        for fact in other.facts.values() {
            self.insert(fact.clone());
        }
    }

    /// Is `id` in the set?
    pub fn contains(&self, id: &FactId) -> bool {
        self.facts.contains_key(id)
    }

    /// The fact with this id.
    pub fn get(&self, id: &FactId) -> Option<&VerifiedFact> {
        self.facts.get(id)
    }

    /// Number of facts.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    /// True if there are no facts.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Facts in id order: the only order reducers ever see.
    pub fn iter(&self) -> impl Iterator<Item = &VerifiedFact> {
        self.facts.values()
    }

    /// Ids in order.
    pub fn ids(&self) -> impl Iterator<Item = &FactId> {
        self.facts.keys()
    }

    /// Facts whose id starts with byte `bucket`, in id order.
    pub(crate) fn bucket(&self, bucket: u8) -> impl Iterator<Item = &VerifiedFact> {
        let lo = FactId(bucket_bound(bucket, 0));
        let range = self.facts.range(lo..);
        range
            .take_while(move |(id, _)| id.0.first() == Some(&bucket))
            .map(|(_, f)| f)
    }

    pub(crate) fn remove(&mut self, id: &FactId) {
        self.facts.remove(id);
    }
}

fn bucket_bound(bucket: u8, fill: u8) -> [u8; 32] {
    let mut b = [fill; 32];
    b[0] = bucket;
    b
}

impl FromIterator<VerifiedFact> for FactSet {
    fn from_iter<I: IntoIterator<Item = VerifiedFact>>(iter: I) -> Self {
        let mut s = FactSet::new();
        for f in iter {
            s.insert(f);
        }
        s
    }
}

/// Turns a fact set into state.
///
/// [`reduce`] feeds facts in [`FactId`] order, one call per distinct fact,
/// so the state depends on the set alone: not on arrival order,
/// duplicates, clocks or hash-map iteration order. A reducer must be a pure
/// function of its inputs (no clocks, no randomness, no `HashMap`
/// iteration); facts it does not understand it skips.
pub trait Reducer {
    /// The reduced state.
    type State;
    /// The state of the empty journal.
    fn initial(&self) -> Self::State;
    /// Fold one fact into the state.
    fn apply(&self, state: &mut Self::State, fact: &VerifiedFact);
}

/// Reduce `facts` with `reducer`, in id order.
pub fn reduce<R: Reducer>(reducer: &R, facts: &FactSet) -> R::State {
    let mut state = reducer.initial();
    for fact in facts.iter() {
        reducer.apply(&mut state, fact);
    }
    state
}
