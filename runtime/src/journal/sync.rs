//! The sans-I/O core of journal sync: the messages of
//! `protocols/choreo/journal_sync.choreo` and what each side computes.
//!
//! One round, both ways: exchange [`Summary`]s (a digest per id bucket),
//! then the ids of the buckets whose digests differ and where the peer
//! holds something ([`IdLists`]; see [`Summary::buckets_to_list`]), then
//! the facts the other side lacks ([`FactBatch`]). Every message has a hard
//! bound, checked on receipt; a peer that exceeds one is a
//! [`JournalError::SyncViolation`] before anything of it is used.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::JournalError;
use super::fact::{FactId, SignedFact, MAX_FACT_LEN};
use super::set::FactSet;

/// Number of buckets (ids are bucketed by their first byte).
pub const BUCKETS: usize = 256;
/// Most ids in one [`IdLists`] message (32 bytes each: ~512 KiB).
pub const MAX_IDS_PER_MESSAGE: usize = 16 * 1024;
/// Most facts in one [`FactBatch`].
pub const MAX_FACTS_PER_MESSAGE: usize = 1024;
/// Most fact bytes in one [`FactBatch`] (below the network's 1 MiB frame
/// limit; one fact is at most [`MAX_FACT_LEN`]).
pub const MAX_BATCH_BYTES: usize = 768 * 1024;

/// Count and digest of the ids in one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDigest {
    /// First byte of the ids in this bucket.
    pub bucket: u8,
    /// How many ids.
    pub count: u32,
    /// SHA-256 over the sorted ids, truncated to 16 bytes.
    pub digest: [u8; 16],
}

/// A compact picture of a fact set: one [`BucketDigest`] per non-empty
/// bucket, in bucket order (at most [`BUCKETS`] entries, ~5 KiB).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Non-empty buckets, strictly increasing.
    pub buckets: Vec<BucketDigest>,
}

/// The ids a side holds in some buckets (the ones whose digests differ).
/// A listed bucket is complete; buckets left out (over the id budget) wait
/// for the next round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdLists {
    /// Buckets in strictly increasing order, each with its ids sorted.
    pub buckets: Vec<BucketIds>,
    /// Some differing buckets did not fit and were left for another round.
    pub truncated: bool,
}

/// All ids of one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketIds {
    /// The bucket.
    pub bucket: u8,
    /// Its ids, strictly increasing.
    pub ids: Vec<FactId>,
}

/// Facts the receiver lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactBatch {
    /// The facts (verified by the receiver before anything is stored).
    pub facts: Vec<SignedFact>,
    /// The sender knows of more facts the receiver lacks, or truncated its
    /// id list: run another round.
    pub more: bool,
}

fn violation(msg: impl Into<String>) -> JournalError {
    JournalError::SyncViolation(msg.into())
}

impl Summary {
    /// The summary of `facts`.
    pub fn of(facts: &FactSet) -> Self {
        let mut buckets = Vec::new();
        let mut current: Option<(u8, u32, Sha256)> = None;
        for id in facts.ids() {
            let b = id.0.first().copied().unwrap_or(0);
            match &mut current {
                Some((cb, count, h)) if *cb == b => {
                    *count = count.saturating_add(1);
                    h.update(id.0);
                }
                _ => {
                    if let Some(done) = current.take() {
                        buckets.push(finish(done));
                    }
                    let mut h = Sha256::new();
                    h.update(id.0);
                    current = Some((b, 1, h));
                }
            }
        }
        if let Some(done) = current {
            buckets.push(finish(done));
        }
        Summary { buckets }
    }

    /// Check a peer's summary against the bounds.
    pub fn validate(&self) -> Result<(), JournalError> {
        if self.buckets.len() > BUCKETS {
            return Err(violation(format!(
                "summary has {} buckets, at most {BUCKETS} exist",
                self.buckets.len()
            )));
        }
        if !self
            .buckets
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.bucket < b.bucket))
        {
            return Err(violation("summary buckets are not strictly increasing"));
        }
        Ok(())
    }

    /// The buckets whose ids `self`'s side sends to `other`'s side: those
    /// where the two disagree and `other` holds at least one fact (the
    /// peer needs our ids only to work out what it has that we lack; where
    /// it holds nothing, it has nothing to offer, and what it lacks there
    /// we find from its empty list).
    pub fn buckets_to_list(&self, other: &Summary) -> Vec<u8> {
        self.differing(other)
            .into_iter()
            .filter(|b| other.buckets.iter().any(|d| d.bucket == *b && d.count > 0))
            .collect()
    }

    /// Buckets where `self` and `other` disagree, in order.
    pub fn differing(&self, other: &Summary) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(x), None) => {
                    out.push(x.bucket);
                    a.next();
                }
                (None, Some(y)) => {
                    out.push(y.bucket);
                    b.next();
                }
                (Some(x), Some(y)) => {
                    if x.bucket < y.bucket {
                        out.push(x.bucket);
                        a.next();
                    } else if y.bucket < x.bucket {
                        out.push(y.bucket);
                        b.next();
                    } else {
                        if x != y {
                            out.push(x.bucket);
                        }
                        a.next();
                        b.next();
                    }
                }
            }
        }
        out
    }
}

fn finish((bucket, count, h): (u8, u32, Sha256)) -> BucketDigest {
    let full: [u8; 32] = h.finalize().into();
    let mut digest = [0u8; 16];
    digest.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
    BucketDigest {
        bucket,
        count,
        digest,
    }
}

impl IdLists {
    /// The ids `facts` holds in `buckets` (whole buckets, up to
    /// [`MAX_IDS_PER_MESSAGE`] ids).
    pub fn of(facts: &FactSet, buckets: &[u8]) -> Self {
        let mut out = IdLists::default();
        let mut total = 0usize;
        for &bucket in buckets {
            let ids: Vec<FactId> = facts.bucket(bucket).map(|f| f.id()).collect();
            if total + ids.len() > MAX_IDS_PER_MESSAGE {
                out.truncated = true;
                break;
            }
            total += ids.len();
            out.buckets.push(BucketIds { bucket, ids });
        }
        out
    }

    /// Check a peer's id lists against the bounds and their own rules.
    pub fn validate(&self) -> Result<(), JournalError> {
        if self.buckets.len() > BUCKETS {
            return Err(violation("id lists name more than 256 buckets"));
        }
        let total: usize = self.buckets.iter().map(|b| b.ids.len()).sum();
        if total > MAX_IDS_PER_MESSAGE {
            return Err(violation(format!(
                "id lists carry {total} ids, at most {MAX_IDS_PER_MESSAGE} are allowed"
            )));
        }
        if !self
            .buckets
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.bucket < b.bucket))
        {
            return Err(violation("id list buckets are not strictly increasing"));
        }
        for b in &self.buckets {
            if !b.ids.iter().all(|id| id.0.first() == Some(&b.bucket)) {
                return Err(violation(format!(
                    "an id listed in bucket {} does not belong to it",
                    b.bucket
                )));
            }
            if !b.ids.windows(2).all(|w| matches!(w, [x, y] if x < y)) {
                return Err(violation(format!(
                    "ids of bucket {} are not strictly increasing",
                    b.bucket
                )));
            }
        }
        Ok(())
    }
}

impl FactBatch {
    /// The facts of `facts` that the peer, whose ids in some buckets are
    /// `theirs`, does not have — within the batch bounds. `more` is set if
    /// some did not fit, or if either side's id lists were truncated.
    pub fn missing_for(facts: &FactSet, theirs: &IdLists, mine_truncated: bool) -> Self {
        let mut batch = FactBatch {
            facts: Vec::new(),
            more: theirs.truncated || mine_truncated,
        };
        let mut bytes = 0usize;
        'buckets: for b in &theirs.buckets {
            for fact in facts.bucket(b.bucket) {
                if b.ids.binary_search(&fact.id()).is_ok() {
                    continue;
                }
                let len = fact.signed().encoded_len();
                if batch.facts.len() == MAX_FACTS_PER_MESSAGE || bytes + len > MAX_BATCH_BYTES {
                    batch.more = true;
                    break 'buckets;
                }
                bytes += len;
                batch.facts.push(fact.signed().clone());
            }
        }
        batch
    }

    /// Check a peer's batch against the bounds (signatures are checked by
    /// [`Journal::receive`](super::Journal::receive)).
    pub fn validate(&self) -> Result<(), JournalError> {
        if self.facts.len() > MAX_FACTS_PER_MESSAGE {
            return Err(violation(format!(
                "batch has {} facts, at most {MAX_FACTS_PER_MESSAGE} are allowed",
                self.facts.len()
            )));
        }
        let mut bytes = 0usize;
        for f in &self.facts {
            let len = f.encoded_len();
            if len > MAX_FACT_LEN {
                return Err(violation(format!(
                    "a fact of {len} bytes exceeds {MAX_FACT_LEN}"
                )));
            }
            bytes += len;
        }
        if bytes > MAX_BATCH_BYTES {
            return Err(violation(format!(
                "batch of {bytes} bytes exceeds {MAX_BATCH_BYTES}"
            )));
        }
        Ok(())
    }
}
