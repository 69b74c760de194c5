//! Who may author which facts in a journal scope: the authorship policy
//! checked at the journal's door, after the signature.
//!
//! A signature says *who* wrote a fact; the policy says whether that
//! identity may write that *kind* of fact in this scope. The rules, in
//! order (the first that applies decides):
//!
//! 1. [`Authorship::any`]: every verified fact is admitted (tests, and
//!    journals whose facts are all made locally).
//! 2. A membership fact ([`ScopeMember`], kind `choreo.scope-member`) is
//!    admitted only from a **group key** of the scope: membership is
//!    granted by the threshold of the scope's devices, never by one of them.
//! 3. A fact of a **group-only kind** ([`Authorship::group_only`], e.g. a
//!    consensus commit) is admitted only from a group key, i.e. only with a
//!    threshold signature (FROST signatures verify under the group key).
//! 4. Any other fact is admitted from a group key or a **member**: a device
//!    configured as a member ([`Authorship::members`]) or named by an
//!    admitted [`ScopeMember`] fact in the journal (or in the same batch).
//!
//! The decision depends only on the policy and the fact set (never on
//! arrival order): membership facts are admitted by the configured group
//! keys alone, so the member set of a set of facts is the same whichever
//! order they came in. Members are never removed (the fact set only grows);
//! retiring a device means a new scope or a new group key.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::JournalError;
use super::fact::{AuthorKey, FactBody, VerifiedFact};
use super::set::FactSet;

/// A membership fact: `device` may author facts in this scope. Admitted
/// only from one of the scope's group keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeMember {
    /// The device's node key.
    pub device: AuthorKey,
}

impl FactBody for ScopeMember {
    const KIND: &'static str = "choreo.scope-member";
    const VERSION: u16 = 1;
}

/// A journal scope's authorship policy (see this module's docs for the
/// rules). Built once per journal from configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorship {
    any: bool,
    members: BTreeSet<AuthorKey>,
    groups: BTreeSet<AuthorKey>,
    group_kinds: BTreeSet<String>,
}

impl Authorship {
    /// Admit every fact whose signature verifies, whoever wrote it.
    pub fn any() -> Self {
        Authorship {
            any: true,
            ..Authorship::default()
        }
    }

    /// Admit facts from these devices (and nobody else, until
    /// [`group`](Self::group) keys or membership facts add more).
    pub fn members(devices: impl IntoIterator<Item = AuthorKey>) -> Self {
        Authorship {
            members: devices.into_iter().collect(),
            ..Authorship::default()
        }
    }

    /// A threshold group key of the scope (an authority's FROST key): it
    /// may author every kind, and it alone authors membership facts and the
    /// [`group_only`](Self::group_only) kinds.
    pub fn group(mut self, key: AuthorKey) -> Self {
        self.groups.insert(key);
        self
    }

    /// Facts of `kind` need a group key's (threshold) signature.
    pub fn group_only(mut self, kind: impl Into<String>) -> Self {
        self.group_kinds.insert(kind.into());
        self
    }

    /// The devices the configuration and `facts`' admitted membership facts
    /// name.
    pub(crate) fn members_in<'a>(
        &self,
        facts: impl IntoIterator<Item = &'a VerifiedFact>,
    ) -> BTreeSet<AuthorKey> {
        let mut members = self.members.clone();
        members.extend(facts.into_iter().filter_map(|f| self.member_granted(f)));
        members
    }

    /// The device an admitted membership fact names.
    fn member_granted(&self, fact: &VerifiedFact) -> Option<AuthorKey> {
        let f = fact.fact();
        if f.kind != ScopeMember::KIND || !self.groups.contains(&f.author) {
            return None;
        }
        fact.body::<ScopeMember>().ok().map(|m| m.device)
    }

    /// May `fact` enter a journal whose members (configured and granted)
    /// are `members`? The error names the fact, its kind and author.
    pub(crate) fn check(
        &self,
        members: &BTreeSet<AuthorKey>,
        fact: &VerifiedFact,
    ) -> Result<(), JournalError> {
        if self.any {
            return Ok(());
        }
        let f = fact.fact();
        let by_group = self.groups.contains(&f.author);
        let refused = |rule: &'static str| JournalError::Unauthorised {
            fact: fact.id().to_hex(),
            kind: f.kind.clone(),
            author: f.author,
            rule,
        };
        if f.kind == ScopeMember::KIND {
            if !by_group {
                return Err(refused(
                    "membership facts must be signed by a group key of the scope",
                ));
            }
            return fact
                .body::<ScopeMember>()
                .map(|_| ())
                .map_err(JournalError::Refused);
        }
        if self.group_kinds.contains(&f.kind) {
            if by_group {
                return Ok(());
            }
            return Err(refused(
                "this kind needs a threshold signature of a group key of the scope",
            ));
        }
        if by_group || members.contains(&f.author) {
            return Ok(());
        }
        Err(refused("the author is not a member of the scope"))
    }

    /// Check a batch about to enter `stored`: membership facts of the batch
    /// count (so order within and across batches does not matter). Returns
    /// the members after the batch.
    pub(crate) fn check_batch(
        &self,
        members: &BTreeSet<AuthorKey>,
        batch: &[VerifiedFact],
    ) -> Result<BTreeSet<AuthorKey>, JournalError> {
        if self.any {
            return Ok(BTreeSet::new());
        }
        let mut after = members.clone();
        after.extend(batch.iter().filter_map(|f| self.member_granted(f)));
        for f in batch {
            self.check(&after, f)?;
        }
        Ok(after)
    }

    /// The members of a whole fact set (on open).
    pub(crate) fn members_of(&self, facts: &FactSet) -> BTreeSet<AuthorKey> {
        self.members_in(facts.iter())
    }
}
