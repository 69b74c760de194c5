//! Threshold signing with pre-committed nonces, and commit certificates
//! that cannot exist without a verified aggregate signature.
//!
//! Fast path (1 round trip): each witness publishes nonce commitments ahead
//! of time ([`NonceStore::precommit`]). The initiator picks one pre-committed
//! nonce per signer and sends a [`SigningRequest`]; each signer answers with
//! a share ([`NonceStore::sign`]); the initiator aggregates
//! ([`aggregate`]) and gets a [`CommitCertificate`].
//!
//! Nonce rules: a nonce is removed from the store *before* it is used, so
//! it can never sign twice, even if signing fails. Nonces carry the key
//! epoch they were made for; [`NonceStore::advance_epoch`] drops them all.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::round1::{SigningCommitments, SigningNonces};
use frost_ed25519::round2::SignatureShare;
use frost_ed25519::{Signature, SigningPackage, VerifyingKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group;
use crate::share::{identifier_index, AuthorityKeyShare, KeyEpoch};

/// Names one pre-committed nonce of one signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NonceId {
    /// Key epoch the nonce belongs to.
    pub epoch: KeyEpoch,
    /// Sequence number within the signer's store.
    pub index: u64,
}

/// A published nonce commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precommitment {
    /// Which nonce.
    pub id: NonceId,
    /// Its public commitments.
    pub commitments: SigningCommitments,
}

/// A signer's secret nonces, keyed by index, all for one key epoch.
#[derive(Debug)]
pub struct NonceStore {
    epoch: KeyEpoch,
    next: u64,
    nonces: BTreeMap<u64, SigningNonces>,
}

impl NonceStore {
    /// An empty store for the share's key epoch.
    pub fn new(share: &AuthorityKeyShare) -> Self {
        NonceStore {
            epoch: share.epoch(),
            next: 0,
            nonces: BTreeMap::new(),
        }
    }

    /// Key epoch of the stored nonces.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }

    /// Unused nonces held.
    pub fn len(&self) -> usize {
        self.nonces.len()
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.nonces.is_empty()
    }

    /// Make `count` fresh nonces and return their commitments to publish.
    pub fn precommit<R: RngCore + CryptoRng>(
        &mut self,
        share: &AuthorityKeyShare,
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<Precommitment>> {
        if share.epoch() != self.epoch {
            return Err(Usage::EpochMismatch {
                requested: share.epoch().0,
                current: self.epoch.0,
            }
            .into());
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let (nonces, commitments) =
                frost_ed25519::round1::commit(share.key_package().signing_share(), rng);
            let index = self.next;
            self.next = self.next.saturating_add(1);
            self.nonces.insert(index, nonces);
            out.push(Precommitment {
                id: NonceId {
                    epoch: self.epoch,
                    index,
                },
                commitments,
            });
        }
        Ok(out)
    }

    /// A new key epoch began (reshare or refresh committed): every nonce
    /// of the old epoch is dropped and can never be used.
    pub fn advance_epoch(&mut self, epoch: KeyEpoch) {
        self.nonces.clear();
        self.epoch = epoch;
        self.next = 0;
    }

    fn take(&mut self, id: NonceId) -> Result<SigningNonces> {
        if id.epoch != self.epoch {
            return Err(Usage::NonceUnavailable {
                epoch: id.epoch.0,
                index: id.index,
            }
            .into());
        }
        self.nonces.remove(&id.index).ok_or_else(|| {
            Usage::NonceUnavailable {
                epoch: id.epoch.0,
                index: id.index,
            }
            .into()
        })
    }

    /// Produce this signer's share for `request`. The nonce is consumed
    /// whether or not signing succeeds.
    pub fn sign(
        &mut self,
        share: &AuthorityKeyShare,
        request: &SigningRequest,
    ) -> Result<SignatureShare> {
        if request.epoch != share.epoch() {
            return Err(Usage::EpochMismatch {
                requested: request.epoch.0,
                current: share.epoch().0,
            }
            .into());
        }
        let me = share.participant();
        let pre = request.signers.get(&me).ok_or(Usage::NotASigner(me))?;
        let nonces = self.take(pre.id)?;
        if *nonces.commitments() != pre.commitments {
            return Err(Usage::NonceUnavailable {
                epoch: pre.id.epoch.0,
                index: pre.id.index,
            }
            .into());
        }
        let package = request.signing_package()?;
        frost_ed25519::round2::sign(&package, &nonces, share.key_package()).map_err(Error::crypto)
    }
}

/// What the initiator sends to every chosen signer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRequest {
    /// Key epoch the signers must be in.
    pub epoch: KeyEpoch,
    /// The message (already domain separated, e.g. [`CommitStatement::message`]).
    pub message: Vec<u8>,
    /// One pre-committed nonce per signer.
    pub signers: BTreeMap<ParticipantId, Precommitment>,
}

impl SigningRequest {
    pub(crate) fn signing_package(&self) -> Result<SigningPackage> {
        let commitments = self
            .signers
            .iter()
            .map(|(p, pre)| Ok((group::identifier(*p)?, pre.commitments)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(SigningPackage::new(commitments, &self.message))
    }
}

/// What a consensus commit signs: one operation bound to one prestate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommitStatement {
    /// Consensus instance.
    pub consensus_id: [u8; 32],
    /// Hash of the state the operation applies to.
    pub prestate: [u8; 32],
    /// Hash of the operation.
    pub operation: [u8; 32],
}

impl CommitStatement {
    /// Domain-separated bytes to sign.
    pub fn message(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"aura/consensus/commit/v1");
        h.update(self.consensus_id);
        h.update(self.prestate);
        h.update(self.operation);
        let mut m = b"aura/consensus/commit/v1:".to_vec();
        m.extend_from_slice(&h.finalize());
        m
    }
}

/// Proof that an aggregate signature verified under a group key.
/// Zero-sized; only [`verify_signature`] can create one:
///
/// ```compile_fail,E0603
/// let forged = aura_protocols::signing::SignatureVerified(());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SignatureVerified(());

/// Check `signature` on `message` under `key`; the returned token is the
/// only way to build a [`CommitCertificate`].
pub fn verify_signature(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<SignatureVerified> {
    key.verify(message, signature)
        .map(|()| SignatureVerified(()))
        .map_err(Error::crypto)
}

/// A commit whose signature has been checked under the authority key.
///
/// It cannot be assembled by hand — the fields are private and the only
/// constructors ([`CommitCertificate::certify`], [`aggregate`],
/// [`UnverifiedCertificate::verify`]) verify the signature first:
///
/// ```compile_fail,E0451
/// use aura_protocols::signing::{CommitCertificate, CommitStatement};
/// fn forge(statement: CommitStatement, signature: frost_ed25519::Signature, group_key: frost_ed25519::VerifyingKey) -> CommitCertificate {
///     CommitCertificate { statement, signature, group_key }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitCertificate {
    statement: CommitStatement,
    signature: Signature,
    group_key: VerifyingKey,
}

impl CommitCertificate {
    fn new(
        statement: CommitStatement,
        signature: Signature,
        group_key: VerifyingKey,
        _proof: SignatureVerified,
    ) -> Self {
        CommitCertificate {
            statement,
            signature,
            group_key,
        }
    }

    /// Verify and wrap a signature over `statement`.
    pub fn certify(
        statement: CommitStatement,
        signature: Signature,
        group_key: &VerifyingKey,
    ) -> Result<Self> {
        let proof = verify_signature(group_key, &statement.message(), &signature)?;
        Ok(Self::new(statement, signature, *group_key, proof))
    }

    /// What was committed.
    pub fn statement(&self) -> &CommitStatement {
        &self.statement
    }
    /// The aggregate signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The key it verified under.
    pub fn group_key(&self) -> &VerifyingKey {
        &self.group_key
    }
    /// Wire form, to be verified again by whoever receives it.
    pub fn to_unverified(&self) -> Result<UnverifiedCertificate> {
        Ok(UnverifiedCertificate {
            statement: self.statement,
            signature: self.signature.serialize().map_err(Error::crypto)?,
        })
    }
}

/// A certificate as it travels or sits in the journal: nothing is trusted
/// until [`UnverifiedCertificate::verify`] turns it into a
/// [`CommitCertificate`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnverifiedCertificate {
    /// Claimed statement.
    pub statement: CommitStatement,
    /// Serialized Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
}

impl UnverifiedCertificate {
    /// Check the signature under the authority key.
    pub fn verify(&self, group_key: &VerifyingKey) -> Result<CommitCertificate> {
        let signature = Signature::deserialize(&self.signature).map_err(Error::crypto)?;
        CommitCertificate::certify(self.statement, signature, group_key)
    }
}

/// Aggregate the shares for `request`, verify the result and return the
/// certificate. A bad share is blamed on its signer.
pub fn aggregate(
    public: &PublicKeyPackage,
    request: &SigningRequest,
    statement: CommitStatement,
    shares: &BTreeMap<ParticipantId, SignatureShare>,
) -> Result<CommitCertificate> {
    if request.message != statement.message() {
        return Err(Usage::StatementMismatch.into());
    }
    let package = request.signing_package()?;
    let frost_shares = shares
        .iter()
        .map(|(p, s)| Ok((group::identifier(*p)?, *s)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let signers: BTreeSet<ParticipantId> = request.signers.keys().copied().collect();
    let ids = identifier_index(&signers)?;
    let signature =
        frost_ed25519::aggregate(&package, &frost_shares, public).map_err(|e| {
            match e.culprits().first().and_then(|c| ids.get(c)) {
                Some(p) => Error::violation(*p, Violation::InvalidSignatureShare),
                None => Error::crypto(e),
            }
        })?;
    CommitCertificate::certify(statement, signature, public.verifying_key())
}
