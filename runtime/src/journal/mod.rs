//! The journal: signed facts, a grow-only set of them, durable storage and
//! the sync core.
//!
//! - [`fact`](Fact): typed, versioned envelopes. The author signs the
//!   postcard encoding of a [`Fact`] (with a domain tag) with its Ed25519
//!   node key, or a threshold group signs it with FROST (whose signatures
//!   verify as plain Ed25519 under the group key). [`SignedFact::verify`]
//!   is the door: it is the only way to a [`VerifiedFact`], and stores
//!   take nothing else. A fact's id is the SHA-256 of its signed bytes.
//! - [`FactSet`]: the join-semilattice (union). [`Reducer`]s see facts in
//!   id order only, so state never depends on arrival order.
//! - [`Store`]: [`MemoryStore`] for tests, [`DurableStore`] (redb,
//!   XChaCha20-Poly1305 at rest) for nodes.
//! - [`sync`]: the messages and computations of the journal sync protocol.
//! - [`Authorship`]: who may author which kinds of fact in a scope (device
//!   members, threshold group keys, membership facts), checked at the door
//!   after the signature.
//! - [`Journal`]: a scope's fact set in memory over a store; the one place
//!   facts enter.
//!
//! Architecture invariant: no clocks, randomness or I/O in the fact, set,
//! reducer and sync code; only [`DurableStore`] touches the disk (and the
//! OS random source, for nonces and the database id).

mod authorship;
mod durable;
mod error;
mod fact;
mod set;
mod store;
pub mod sync;

pub use authorship::{Authorship, ScopeMember};
pub use durable::DurableStore;
/// The Ed25519 key type facts are signed with (re-exported so callers need
/// no version-matched `ed25519-dalek` of their own).
pub use ed25519_dalek::SigningKey;
pub use error::{FactError, JournalError};
pub use fact::{
    author_of, AuthorKey, Fact, FactBody, FactId, ScopeId, SignedFact, VerifiedFact, FACT_FORMAT,
    MAX_FACT_LEN, MAX_KIND_LEN,
};
pub use set::{reduce, FactSet, Reducer};
pub use store::{MemoryStore, Store};

use sync::{FactBatch, IdLists, Summary};

/// One journal scope's facts: the set in memory, mirrored in a store.
///
/// Every fact enters through [`append`](Self::append),
/// [`accept`](Self::accept), [`receive`](Self::receive) or
/// [`append_coupled`](Self::append_coupled), which check the scope and the
/// scope's [`Authorship`] and skip facts already present before touching
/// the store, so the same facts offered any number of times cost no writes
/// and no memory, and a fact from an author the policy does not admit is
/// never stored.
#[derive(Debug)]
pub struct Journal {
    scope: ScopeId,
    facts: FactSet,
    store: Box<dyn Store>,
    authorship: Authorship,
    /// The devices admitted as authors: the configured members and those
    /// named by admitted membership facts.
    members: std::collections::BTreeSet<AuthorKey>,
}

impl Journal {
    /// Open `scope`'s journal over `store`, loading (and re-verifying)
    /// every stored fact, admitting facts from **every** author whose
    /// signature verifies ([`Authorship::any`]). For a journal that
    /// replicates with other nodes use [`open_with`](Self::open_with) and
    /// the scope's policy.
    pub fn open(scope: ScopeId, store: impl Store + 'static) -> Result<Self, JournalError> {
        Self::open_with(scope, Authorship::any(), store)
    }

    /// Open `scope`'s journal over `store` under an authorship policy. A
    /// stored fact the policy does not admit (the policy was narrowed, or
    /// the file was swapped) fails the open with
    /// [`JournalError::Unauthorised`]: the journal never serves such a fact.
    pub fn open_with(
        scope: ScopeId,
        authorship: Authorship,
        store: impl Store + 'static,
    ) -> Result<Self, JournalError> {
        let mut facts = FactSet::new();
        for fact in store.load()? {
            if fact.fact().scope != scope {
                return Err(JournalError::Usage(format!(
                    "the store holds fact {} of another scope; one store serves one journal scope",
                    fact.id()
                )));
            }
            facts.insert(fact);
        }
        let members = authorship.members_of(&facts);
        for fact in facts.iter() {
            authorship.check(&members, fact)?;
        }
        Ok(Journal {
            scope,
            facts,
            store: Box::new(store),
            authorship,
            members,
        })
    }

    /// The scope's authorship policy.
    pub fn authorship(&self) -> &Authorship {
        &self.authorship
    }

    /// The journal's scope.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// The facts.
    pub fn facts(&self) -> &FactSet {
        &self.facts
    }

    /// Reduce the facts with `reducer`.
    pub fn reduce<R: Reducer>(&self, reducer: &R) -> R::State {
        reduce(reducer, &self.facts)
    }

    /// The store (e.g. to count what is on disk).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn check_scope(&self, fact: &VerifiedFact) -> Result<(), JournalError> {
        if fact.fact().scope != self.scope {
            return Err(JournalError::WrongScope {
                fact: fact.id().to_hex(),
            });
        }
        Ok(())
    }

    /// Append one verified fact, durably. Returns true if it was new.
    pub fn append(&mut self, fact: VerifiedFact) -> Result<bool, JournalError> {
        Ok(self.append_all(vec![fact])? == 1)
    }

    /// Append verified facts in one atomic, durable write. Returns how many
    /// were new. Refuses the whole batch if any fact is of another scope.
    pub fn append_all(&mut self, facts: Vec<VerifiedFact>) -> Result<usize, JournalError> {
        for f in &facts {
            self.check_scope(f)?;
        }
        let members = self.authorship.check_batch(&self.members, &facts)?;
        let mut new: Vec<VerifiedFact> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for f in facts {
            if !self.facts.contains(&f.id()) && seen.insert(f.id()) {
                new.push(f);
            } else {
                // Same id: only the signature join can change, and that
                // needs no write (the stored copy verifies either way).
                self.facts.insert(f);
            }
        }
        if new.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&VerifiedFact> = new.iter().collect();
        self.store.append(&refs)?;
        let n = new.len();
        for f in new {
            self.facts.insert(f);
        }
        self.members = members;
        Ok(n)
    }

    /// Verify a fact from outside (the door) and append it.
    pub fn accept(&mut self, fact: SignedFact) -> Result<bool, JournalError> {
        let fact = fact.verify()?;
        self.append(fact)
    }

    /// Append `facts` atomically with `send`, which hands over messages in
    /// order; each fact comes with the position of the message it is
    /// coupled to. The facts are durable (one write) before `send` runs. If
    /// `send` fails after handing over `n` messages (`Err((n, e))`), the
    /// facts of the messages not handed over are taken back (nobody can
    /// have seen them: the caller holds `&mut self`). A crash between the
    /// append and the send leaves facts without their messages, never a
    /// message without its fact. Facts already present before are neither
    /// written again nor taken back.
    pub fn append_coupled<E>(
        &mut self,
        facts: Vec<(usize, VerifiedFact)>,
        send: impl FnOnce() -> Result<(), (usize, E)>,
    ) -> Result<Result<(), (usize, E)>, JournalError> {
        for (_, f) in &facts {
            self.check_scope(f)?;
        }
        let batch: Vec<VerifiedFact> = facts.iter().map(|(_, f)| f.clone()).collect();
        self.authorship.check_batch(&self.members, &batch)?;
        let grants_membership = batch.iter().any(|f| f.fact().kind == ScopeMember::KIND);
        // The earliest message each new fact is coupled to.
        let mut new: std::collections::BTreeMap<FactId, (usize, VerifiedFact)> =
            std::collections::BTreeMap::new();
        for (message, f) in facts {
            if self.facts.contains(&f.id()) {
                continue;
            }
            match new.get_mut(&f.id()) {
                Some(entry) => entry.0 = entry.0.min(message),
                None => {
                    new.insert(f.id(), (message, f));
                }
            }
        }
        if !new.is_empty() {
            let refs: Vec<&VerifiedFact> = new.values().map(|(_, f)| f).collect();
            self.store.append(&refs)?;
        }
        let coupled: Vec<(FactId, usize)> = new.iter().map(|(id, (m, _))| (*id, *m)).collect();
        for (_, f) in new.into_values() {
            self.facts.insert(f);
        }
        let sent = send();
        if let Err((handed, _)) = &sent {
            for (id, message) in coupled {
                if message >= *handed {
                    self.facts.remove(&id);
                    self.store.retract(&id)?;
                }
            }
        }
        if grants_membership {
            // Rare (a membership fact coupled to a send): recount from
            // what stayed.
            self.members = self.authorship.members_of(&self.facts);
        }
        Ok(sent)
    }

    /// This side's summary for a sync round.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.facts)
    }

    /// The id lists to send, given both summaries (validates the peer's).
    pub fn id_lists(&self, mine: &Summary, theirs: &Summary) -> Result<IdLists, JournalError> {
        theirs.validate()?;
        Ok(IdLists::of(&self.facts, &mine.buckets_to_list(theirs)))
    }

    /// The facts the peer lacks, given its id lists (validates them).
    pub fn missing_for(&self, theirs: &IdLists, mine: &IdLists) -> Result<FactBatch, JournalError> {
        theirs.validate()?;
        Ok(FactBatch::missing_for(&self.facts, theirs, mine.truncated))
    }

    /// Take a peer's batch: check the bounds, verify every fact, its scope
    /// and its author against the scope's [`Authorship`], then append them
    /// all in one write. A batch with any bad or unauthorised fact is
    /// refused whole and nothing of it is stored. Returns how many facts
    /// were new.
    pub fn receive(&mut self, batch: FactBatch) -> Result<usize, JournalError> {
        batch.validate()?;
        let mut verified = Vec::with_capacity(batch.facts.len());
        for f in batch.facts {
            let f = f.verify()?;
            self.check_scope(&f)?;
            verified.push(f);
        }
        self.append_all(verified)
    }
}
