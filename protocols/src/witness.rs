//! Witness safety: what a consensus witness checks before it signs, the
//! durable record that stops it signing twice, equivocation proofs, and
//! the share collector that turns shares into a commit certificate.
//!
//! A witness signs a [`CommitStatement`] (consensus id, prestate,
//! operation) only if
//!
//! 1. the prestate equals the hash of its *own* reduced state (passed in by
//!    the caller, never taken from the request), and
//! 2. its [`SigningRecord`] holds no *different* operation for the same
//!    (consensus id, prestate). The record is written before the share is
//!    released, so a crash between the two can only make the witness
//!    refuse, never sign twice.
//!
//! Shares travel with the statement and the signing request they answer
//! ([`WitnessShare`]), so any two shares of one witness over different
//! operations for one (consensus id, prestate) form an
//! [`EquivocationProof`] that anyone holding the public key package can
//! check. The [`ShareCollector`] verifies each share on arrival, buckets
//! shares by (statement, signing package), turns equivocations into proofs
//! and ignores the equivocator from then on, and aggregates a bucket once
//! every signer its package names has answered. The certificate it returns
//! is a [`CommitCertificate`], which exists only with a verified signature.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::round2::SignatureShare;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group;
use crate::share::{AuthorityKeyShare, KeyEpoch};
use crate::signing::{
    aggregate, CommitCertificate, CommitStatement, NonceStore, Precommitment, SigningRequest,
};

/// The slot a witness signs at most one result for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    /// Consensus instance.
    pub consensus_id: [u8; 32],
    /// The state the operation applies to.
    pub prestate: [u8; 32],
}

impl From<&CommitStatement> for Slot {
    fn from(s: &CommitStatement) -> Self {
        Slot {
            consensus_id: s.consensus_id,
            prestate: s.prestate,
        }
    }
}

/// The durable record of what a witness signed: at most one operation per
/// [`Slot`].
///
/// Implementations must make [`SigningRecord::record`] durable before it
/// returns `Ok` (on disk, for a real node): the witness releases its share
/// only afterwards. [`MemorySigningRecord`] is the in-memory
/// implementation for tests and simulations; a node backs the trait with
/// its journal's redb store (one table keyed by the 64-byte slot, value the
/// operation hash, written in one committed write transaction).
pub trait SigningRecord {
    /// The operation recorded for `slot`, if any.
    fn recorded(&self, slot: &Slot) -> Result<Option<[u8; 32]>>;
    /// Record `operation` for `slot`. Called only when [`recorded`]
    /// returned `None` or the same operation.
    ///
    /// [`recorded`]: SigningRecord::recorded
    fn record(&mut self, slot: Slot, operation: [u8; 32]) -> Result<()>;
}

/// A [`SigningRecord`] in memory: durable for the life of the value.
#[derive(Clone, Debug, Default)]
pub struct MemorySigningRecord {
    signed: BTreeMap<Slot, [u8; 32]>,
}

impl SigningRecord for MemorySigningRecord {
    fn recorded(&self, slot: &Slot) -> Result<Option<[u8; 32]>> {
        Ok(self.signed.get(slot).copied())
    }

    fn record(&mut self, slot: Slot, operation: [u8; 32]) -> Result<()> {
        self.signed.insert(slot, operation);
        Ok(())
    }
}

/// What the initiator (or a fallback aggregator) asks a witness to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusRequest {
    /// The statement to certify.
    pub statement: CommitStatement,
    /// The signing package: message and one nonce commitment per signer.
    pub signing: SigningRequest,
}

/// A witness's answer: its share with what it answers, and its next
/// pre-committed nonce (so the next fast path needs one round trip).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessShare {
    /// The request this share answers.
    pub request: ConsensusRequest,
    /// The frost signature share.
    pub share: SignatureShare,
    /// A fresh nonce commitment for the next request.
    pub next_nonce: Precommitment,
}

pub use crate::error::Refusal;

/// One consensus witness: its share, its nonces and its signing record.
#[derive(Debug)]
pub struct Witness<R: SigningRecord> {
    share: AuthorityKeyShare,
    nonces: NonceStore,
    record: R,
}

impl<R: SigningRecord> Witness<R> {
    /// A witness for `share`, remembering what it signed in `record`.
    pub fn new(share: AuthorityKeyShare, record: R) -> Self {
        let nonces = NonceStore::new(&share);
        Witness {
            share,
            nonces,
            record,
        }
    }

    /// The share this witness signs with.
    pub fn share(&self) -> &AuthorityKeyShare {
        &self.share
    }

    /// Hand back the signing record (e.g. to reopen it after a restart).
    pub fn into_record(self) -> R {
        self.record
    }

    /// Publish `count` fresh nonce commitments.
    pub fn precommit<G: RngCore + CryptoRng>(
        &mut self,
        count: usize,
        rng: &mut G,
    ) -> Result<Vec<Precommitment>> {
        self.nonces.precommit(&self.share, count, rng)
    }

    /// Sign `request` if its prestate is `own_prestate` (the hash of this
    /// witness's reduced state) and no other result was signed for the
    /// slot. The record is written before the share is computed.
    pub fn sign<G: RngCore + CryptoRng>(
        &mut self,
        request: &ConsensusRequest,
        own_prestate: &[u8; 32],
        rng: &mut G,
    ) -> Result<WitnessShare> {
        let statement = &request.statement;
        if request.signing.epoch < self.share.epoch() {
            return Err(Refusal::RetiredEpoch.into());
        }
        if statement.prestate != *own_prestate {
            return Err(Refusal::WrongPrestate.into());
        }
        if request.signing.message != statement.message() {
            return Err(Usage::StatementMismatch.into());
        }
        let slot = Slot::from(statement);
        match self.record.recorded(&slot)? {
            Some(op) if op != statement.operation => return Err(Refusal::AlreadySigned.into()),
            Some(_) => {}
            None => self.record.record(slot, statement.operation)?,
        }
        let share = self.nonces.sign(&self.share, &request.signing)?;
        let next_nonce = self
            .nonces
            .precommit(&self.share, 1, rng)?
            .pop()
            .ok_or_else(|| Error::Crypto("no nonce produced".into()))?;
        Ok(WitnessShare {
            request: request.clone(),
            share,
            next_nonce,
        })
    }

    /// A reshare or refresh committed: switch to the new share.
    ///
    /// `commit` must certify, under the unchanged group key, the operation
    /// [`epoch_operation`](crate::reshare::epoch_operation) of the new
    /// share's epoch and public key package. The old share is dropped here
    /// (frost zeroizes a `KeyPackage` on drop), every nonce of the old
    /// epoch with it, and from now on requests for the old epoch are
    /// refused ([`Refusal::RetiredEpoch`]).
    pub fn commit_epoch(
        &mut self,
        new: AuthorityKeyShare,
        commit: &CommitCertificate,
    ) -> Result<()> {
        if new.group_key() != self.share.group_key()
            || commit.group_key() != &self.share.group_key()
        {
            return Err(Usage::WrongAuthority.into());
        }
        if new.epoch() <= self.share.epoch() {
            return Err(Usage::EpochMismatch {
                requested: new.epoch().0,
                current: self.share.epoch().0,
            }
            .into());
        }
        let operation = crate::reshare::epoch_operation(new.epoch(), new.public_key_package())?;
        if commit.statement().operation != operation {
            return Err(Usage::StatementMismatch.into());
        }
        self.nonces.advance_epoch(new.epoch());
        self.share = new;
        Ok(())
    }
}

/// Check one witness's share against the signing package it answers and
/// the witness's public verifying share.
pub fn verify_share(
    public: &PublicKeyPackage,
    witness: ParticipantId,
    share: &WitnessShare,
) -> Result<()> {
    let request = &share.request;
    if request.signing.message != request.statement.message()
        || !request.signing.signers.contains_key(&witness)
    {
        return Err(Error::violation(witness, Violation::InvalidSignatureShare));
    }
    let id = group::identifier(witness)?;
    let verifying_share = public
        .verifying_shares()
        .get(&id)
        .ok_or_else(|| Error::violation(witness, Violation::Unexpected))?;
    let package = request.signing.signing_package()?;
    frost_core::verify_signature_share(
        id,
        verifying_share,
        &share.share,
        &package,
        public.verifying_key(),
    )
    .map_err(|_| Error::violation(witness, Violation::InvalidSignatureShare))
}

/// Two valid shares of one witness over different operations for one
/// (consensus id, prestate): a fact anyone with the authority's public key
/// package can check. It excludes the witness from every threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationProof {
    /// The witness that signed both.
    pub witness: ParticipantId,
    /// One signed result.
    pub first: WitnessShare,
    /// Another signed result for the same slot.
    pub second: WitnessShare,
}

/// Proof that an [`EquivocationProof`] checked out. Zero-sized; only
/// [`EquivocationProof::verify`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct EquivocationVerified(());

impl EquivocationProof {
    /// Check both shares and that they answer different operations for one
    /// slot in one key epoch. Returns the equivocator.
    pub fn verify(
        &self,
        public: &PublicKeyPackage,
    ) -> Result<(ParticipantId, EquivocationVerified)> {
        let (a, b) = (&self.first.request, &self.second.request);
        let conflicting = Slot::from(&a.statement) == Slot::from(&b.statement)
            && a.statement.operation != b.statement.operation
            && a.signing.epoch == b.signing.epoch;
        if !conflicting {
            return Err(Error::violation(self.witness, Violation::Unexpected));
        }
        verify_share(public, self.witness, &self.first)?;
        verify_share(public, self.witness, &self.second)?;
        Ok((self.witness, EquivocationVerified(())))
    }
}

/// What adding a share to a [`ShareCollector`] led to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Collected {
    /// Counted; the bucket is not complete yet.
    Pending,
    /// The share completed its bucket: the verified certificate.
    Committed(Box<CommitCertificate>),
    /// The sender signed two results for one slot: here is the proof. The
    /// sender is excluded from now on.
    Equivocation(Box<EquivocationProof>),
    /// The sender is a proven equivocator; its share does not count.
    Excluded,
}

/// A bucket: one statement, one signing package, the shares for it.
#[derive(Debug)]
struct Bucket {
    request: ConsensusRequest,
    shares: BTreeMap<ParticipantId, WitnessShare>,
}

/// Gathers shares (fast path at the initiator, or any witness in the
/// fallback), verifies each on arrival, and aggregates a signing package
/// once every signer it names answered. Shares are bucketed by (statement,
/// package), so shares of different packages never mix.
#[derive(Debug)]
pub struct ShareCollector {
    public: PublicKeyPackage,
    epoch: KeyEpoch,
    excluded: BTreeSet<ParticipantId>,
    /// First share of each witness per slot, to catch equivocation.
    first: BTreeMap<(ParticipantId, Slot), WitnessShare>,
    buckets: BTreeMap<[u8; 32], Bucket>,
}

fn bucket_key(request: &ConsensusRequest) -> Result<[u8; 32]> {
    let bytes = postcard::to_allocvec(request).map_err(Error::crypto)?;
    let mut h = Sha256::new();
    h.update(b"aura/consensus/bucket/v1");
    h.update(&bytes);
    Ok(h.finalize().into())
}

impl ShareCollector {
    /// A collector for the authority's public package in key epoch `epoch`.
    pub fn new(public: PublicKeyPackage, epoch: KeyEpoch) -> Self {
        ShareCollector {
            public,
            epoch,
            excluded: BTreeSet::new(),
            first: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// Proven equivocators.
    pub fn excluded(&self) -> &BTreeSet<ParticipantId> {
        &self.excluded
    }

    /// The first share of each witness per slot that this collector
    /// verified: evidence to forward, so that a witness that signs two
    /// results for one slot is caught wherever its second share lands.
    pub fn held(&self) -> impl Iterator<Item = (ParticipantId, &WitnessShare)> + '_ {
        self.first.iter().map(|((p, _), share)| (*p, share))
    }

    /// Exclude the witness a verified proof names (e.g. a proof fact read
    /// from the journal).
    pub fn exclude(&mut self, proof: &EquivocationProof) -> Result<()> {
        let (who, _verified) = proof.verify(&self.public)?;
        self.excluded.insert(who);
        Ok(())
    }

    /// The shares of every package held, fullest package first (evidence
    /// to forward: a witness that holds the rest of a package aggregates it,
    /// so shares made in an attempt whose votes came too late still count
    /// in the next one), at most `limit`.
    pub fn package_shares(&self, limit: usize) -> Vec<(ParticipantId, WitnessShare)> {
        let mut buckets: Vec<&Bucket> = self.buckets.values().collect();
        buckets.sort_by_key(|b| std::cmp::Reverse(b.shares.len()));
        buckets
            .into_iter()
            .flat_map(|b| b.shares.iter().map(|(p, s)| (*p, s.clone())))
            .take(limit)
            .collect()
    }

    /// Add a share from `sender` (the participant its link is
    /// authenticated to). An invalid share is a violation naming `sender`.
    pub fn add(&mut self, sender: ParticipantId, share: WitnessShare) -> Result<Collected> {
        if self.excluded.contains(&sender) {
            return Ok(Collected::Excluded);
        }
        if share.request.signing.epoch != self.epoch {
            return Err(Error::violation(sender, Violation::Unexpected));
        }
        let key = bucket_key(&share.request)?;
        if self
            .buckets
            .get(&key)
            .and_then(|b| b.shares.get(&sender))
            .is_some_and(|held| held.share == share.share)
        {
            // Already verified and counted (forwarded evidence repeats).
            return Ok(Collected::Pending);
        }
        verify_share(&self.public, sender, &share)?;
        let slot = Slot::from(&share.request.statement);
        match self.first.get(&(sender, slot)) {
            Some(prev) if prev.request.statement != share.request.statement => {
                let proof = EquivocationProof {
                    witness: sender,
                    first: prev.clone(),
                    second: share,
                };
                self.excluded.insert(sender);
                for bucket in self.buckets.values_mut() {
                    bucket.shares.remove(&sender);
                }
                return Ok(Collected::Equivocation(Box::new(proof)));
            }
            Some(_) => {}
            None => {
                self.first.insert((sender, slot), share.clone());
            }
        }
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket {
            request: share.request.clone(),
            shares: BTreeMap::new(),
        });
        bucket.shares.insert(sender, share);
        let named: BTreeSet<ParticipantId> =
            bucket.request.signing.signers.keys().copied().collect();
        if named.iter().any(|p| self.excluded.contains(p))
            || !named.iter().all(|p| bucket.shares.contains_key(p))
        {
            return Ok(Collected::Pending);
        }
        let shares: BTreeMap<ParticipantId, SignatureShare> =
            bucket.shares.iter().map(|(p, s)| (*p, s.share)).collect();
        let certificate = aggregate(
            &self.public,
            &bucket.request.signing,
            bucket.request.statement,
            &shares,
        )?;
        Ok(Collected::Committed(Box::new(certificate)))
    }
}

/// A witness's answer to a signing request (fast path or fallback): its
/// share if the request names it, otherwise a fresh nonce commitment so
/// the next request can name it, or why it refused. Only named signers are
/// ever asked for a share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum WitnessVote {
    /// Named in the request: its share (which carries its next nonce).
    Share(WitnessShare),
    /// Not named: a fresh nonce commitment for the next request.
    NotNamed {
        /// The witness's next pre-committed nonce.
        next_nonce: Precommitment,
    },
    /// It declined (wrong prestate, already signed another result); it
    /// starts the fallback at once.
    Refused {
        /// Why, for the log.
        reason: String,
    },
}

/// What a witness contributes to a fallback attempt: the statement it
/// holds, a fresh nonce commitment for this attempt's package, a commit
/// certificate if it already holds one, and the shares of other witnesses
/// it holds for this slot (evidence: each verifies under its signer's
/// verifying share, so relaying it cannot frame anyone, and two of one
/// witness over different results make an [`EquivocationProof`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackProposal {
    /// Attempt number (0 for the first fallback session).
    pub attempt: u32,
    /// The statement this witness would sign, if it learned one.
    pub statement: Option<CommitStatement>,
    /// Key epoch of the nonce.
    pub epoch: KeyEpoch,
    /// A fresh nonce commitment.
    pub nonce: Precommitment,
    /// A certificate this witness already holds for the slot.
    pub commit: Option<crate::signing::UnverifiedCertificate>,
    /// Shares of other witnesses it holds for the slot, with the witness
    /// each claims to be from (checked by share verification; receivers
    /// read at most the committee size).
    pub evidence: Vec<(ParticipantId, WitnessShare)>,
}

/// What the aggregator of a fallback attempt tells every witness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackOutcome {
    /// The verified certificate (re-verified by every receiver), or none:
    /// the attempt failed and the next one starts.
    pub commit: Option<crate::signing::UnverifiedCertificate>,
    /// Equivocation proofs the aggregator holds: every receiver verifies
    /// them and excludes the witnesses they name.
    pub proofs: Vec<EquivocationProof>,
}

/// The signing package of fallback attempt `attempt`, chosen
/// deterministically from the proposals held (keyed by the participant
/// each arrived authenticated from), so that witnesses holding the same
/// proposals choose the same package regardless of arrival order:
///
/// 1. drop proposals of other attempts or key epochs and of `excluded`
///    witnesses (proven equivocators);
/// 2. the statement with most supporters wins, ties broken by the smaller
///    statement (byte order);
/// 3. its supporters, sorted by id, rotated left by `attempt`; the first
///    `threshold` are the signers, each with the nonce it proposed.
///
/// `None` if fewer than `threshold` witnesses support any statement.
pub fn choose_package(
    attempt: u32,
    proposals: &BTreeMap<ParticipantId, FallbackProposal>,
    excluded: &BTreeSet<ParticipantId>,
    threshold: u16,
    epoch: KeyEpoch,
) -> Option<ConsensusRequest> {
    let mut support: BTreeMap<CommitStatement, Vec<(ParticipantId, Precommitment)>> =
        BTreeMap::new();
    for (p, proposal) in proposals {
        let Some(statement) = proposal.statement else {
            continue;
        };
        if proposal.attempt == attempt
            && proposal.epoch == epoch
            && proposal.nonce.id.epoch == epoch
            && !excluded.contains(p)
        {
            support
                .entry(statement)
                .or_default()
                .push((*p, proposal.nonce));
        }
    }
    // `max_by_key` keeps the last maximum; iterate in reverse so ties go
    // to the smallest statement.
    let (statement, mut supporters) = support.into_iter().rev().max_by_key(|(_, s)| s.len())?;
    let t = usize::from(threshold);
    if supporters.len() < t {
        return None;
    }
    let shift = usize::try_from(attempt).unwrap_or(0) % supporters.len();
    supporters.rotate_left(shift);
    supporters.truncate(t);
    Some(ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch,
            message: statement.message(),
            signers: supporters.into_iter().collect(),
        },
    })
}
