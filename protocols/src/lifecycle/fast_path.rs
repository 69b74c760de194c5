//! The consensus fast path as the lifecycle protocols inline it (`call
//! FastPath(…)` in guardian binding, the recovery grant and the epoch
//! bump): the steps between receiving a message and sending the next one,
//! over the witness core ([`crate::witness`]). The message moves are the
//! generated endpoints' own (each protocol has its own typestates); what
//! is checked and signed is here, once.
//!
//! Every step compares what arrives with the statement this party derived
//! itself from its own journal, never with figures a peer wrote: a signer
//! signs only the statement it computed, a witness accepts a commit only
//! for it.

use std::collections::BTreeMap;

use frost_ed25519::keys::PublicKeyPackage;
use rand::{CryptoRng, RngCore};

use super::{LResult, LifecycleError};
use crate::error::ParticipantId;
use crate::share::KeyEpoch;
use crate::signing::{
    CommitCertificate, CommitStatement, Precommitment, SigningRequest, UnverifiedCertificate,
};
use crate::witness::{
    Collected, ConsensusRequest, ShareCollector, SigningRecord, Witness, WitnessShare,
};

/// The participant id of each member of a `Signer[t]` (or `Witness[n]`)
/// family, by family index: the session roster binds member `i` to the
/// node of participant `ids[i]`. Blame uses it, never a sender field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerIds(pub Vec<ParticipantId>);

impl SignerIds {
    /// The participant bound to family member `index`.
    pub fn get(&self, index: u32) -> LResult<ParticipantId> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .ok_or_else(|| LifecycleError::Invalid {
                peer: format!("family member {index}"),
                what: "message (no participant is bound to that member)",
            })
    }
}

/// The initiator's signing request from the fresh nonces its signers sent
/// (`(member index, nonce)` as the session reported them).
pub fn request_from_nonces(
    statement: CommitStatement,
    epoch: KeyEpoch,
    nonces: Vec<(u32, Precommitment)>,
    ids: &SignerIds,
) -> LResult<ConsensusRequest> {
    let mut signers = BTreeMap::new();
    for (index, nonce) in nonces {
        let who = ids.get(index)?;
        if nonce.id.epoch != epoch {
            return Err(LifecycleError::Invalid {
                peer: who.to_string(),
                what: "nonce commitment (wrong key epoch)",
            });
        }
        signers.insert(who, nonce);
    }
    Ok(ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch,
            message: statement.message(),
            signers,
        },
    })
}

/// The initiator turns the signers' shares into a verified certificate. A
/// share for another request, or one that does not verify, is blamed on
/// the member that sent it.
pub fn certify(
    public: &PublicKeyPackage,
    request: &ConsensusRequest,
    shares: Vec<(u32, WitnessShare)>,
    ids: &SignerIds,
) -> LResult<CommitCertificate> {
    let mut collector = ShareCollector::new(public.clone(), request.signing.epoch);
    for (index, share) in shares {
        let who = ids.get(index)?;
        if share.request != *request {
            return Err(LifecycleError::Invalid {
                peer: who.to_string(),
                what: "signature share (it answers another request)",
            });
        }
        match collector.add(who, share)? {
            Collected::Committed(certificate) => return Ok(*certificate),
            Collected::Pending | Collected::Excluded => {}
            Collected::Equivocation(proof) => {
                return Err(LifecycleError::Invalid {
                    peer: proof.witness.to_string(),
                    what: "pair of signature shares (it signed two results for one prestate)",
                })
            }
        }
    }
    Err(LifecycleError::Invalid {
        peer: "the signers".into(),
        what: "set of shares (not every signer the package names answered)",
    })
}

/// A signer signs `request` only if it certifies `expected`, the statement
/// this signer derived itself, and its prestate is this signer's own
/// (`own_prestate`); the witness core records the slot before signing.
pub fn sign_agreed<R: SigningRecord, G: RngCore + CryptoRng>(
    witness: &mut Witness<R>,
    request: &ConsensusRequest,
    expected: &CommitStatement,
    own_prestate: &[u8; 32],
    rng: &mut G,
) -> LResult<WitnessShare> {
    if request.statement != *expected {
        return Err(LifecycleError::Invalid {
            peer: "the initiator".into(),
            what: "signing request (another statement than the one agreed)",
        });
    }
    Ok(witness.sign(request, own_prestate, rng)?)
}

/// A witness accepts a commit only for the statement it derived itself and
/// only with a threshold signature that verifies under the authority key.
pub fn check_commit(
    commit: &UnverifiedCertificate,
    expected: &CommitStatement,
    authority: &frost_ed25519::VerifyingKey,
) -> LResult<CommitCertificate> {
    if commit.statement != *expected {
        return Err(LifecycleError::Invalid {
            peer: "the initiator".into(),
            what: "commit (another statement than the one agreed)",
        });
    }
    Ok(commit.verify(authority)?)
}
