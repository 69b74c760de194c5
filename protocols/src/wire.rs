//! Payload types named by the choreographies in `protocols/choreo/`.
//!
//! Plain serde data: identifiers, hashes and opaque encoded bytes. No
//! cryptography happens here; the cores in [`crate::dkg`],
//! [`crate::reshare`], [`crate::signing`] and [`crate::amp`] produce and
//! check the bytes these carry. The generated endpoints
//! ([`crate::generated`]) move them between roles.

use serde::{Deserialize, Serialize};

/// A 32-byte hash (SHA-256 or a domain-separated digest).
pub type Hash32 = [u8; 32];

/// A participant of a threshold group, by its frost identifier (1-based).
pub type Participant = u16;

// ---------- DKG ----------

/// FROST DKG round-1 package (commitments + proof of knowledge) and the
/// participant's ephemeral key for the pairwise channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkgRound1 {
    pub from: Participant,
    /// Serialized `frost::keys::dkg::round1::Package`.
    pub package: Vec<u8>,
    /// X25519 public key for sealing round-2 packages to this participant.
    pub ephemeral_key: Hash32,
}

/// Hash of the round-1 set a participant saw, echoed so no one runs part 3
/// on a different transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptHash(pub Hash32);

/// A round-2 package sealed (AEAD) under the pairwise key of sender and
/// recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedDkgRound2 {
    pub from: Participant,
    pub to: Participant,
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

/// What a participant concluded from part 3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DkgOutcome {
    /// The group verifying key (serialized).
    Success { group_key: Vec<u8> },
    /// The participant whose package failed verification; no key kept.
    Blame {
        culprit: Participant,
        reason: String,
    },
}

// ---------- Resharing ----------

/// Proposal of a new committee and threshold for the same group key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareProposal {
    pub epoch: u64,
    pub group_key: Vec<u8>,
    pub dealers: Vec<Participant>,
    pub new_holders: Vec<Participant>,
    pub new_threshold: u16,
}

/// One dealer's sub-share for one new holder, sealed, with the dealer's
/// VSS commitments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedReshareDeal {
    pub dealer: Participant,
    pub holder: Participant,
    pub commitments: Vec<u8>,
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

/// A new holder's confirmation: its share verified and the group key is
/// unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareAck {
    pub holder: Participant,
    pub epoch: u64,
    pub group_key_hash: Hash32,
}

/// The new epoch is committed; old shares stop signing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareCommit {
    pub epoch: u64,
    pub transcript: Hash32,
}

// ---------- Consensus ----------

/// An operation bound to an explicit prestate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub consensus_id: Hash32,
    pub prestate_hash: Hash32,
    pub operation: Vec<u8>,
}

/// The signing package (proposal + the nonce commitments it uses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRequest {
    pub proposal: Proposal,
    /// Serialized `frost::SigningPackage`.
    pub signing_package: Vec<u8>,
}

/// A witness's fresh nonce commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceCommitment {
    pub witness: Participant,
    pub commitment: Vec<u8>,
}

/// A witness's signature share, with its next pre-committed nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessShare {
    pub witness: Participant,
    pub share: Vec<u8>,
    pub next_nonce: Option<Vec<u8>>,
}

/// The commit fact: a threshold signature over (consensus id, prestate
/// hash, operation hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitFact {
    pub consensus_id: Hash32,
    pub prestate_hash: Hash32,
    pub operation_hash: Hash32,
    pub signature: Vec<u8>,
}

/// Why a run was abandoned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortReason {
    pub code: u16,
    pub detail: String,
}

/// What a fallback witness holds: the proposal plus a fresh nonce commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackProposal {
    pub proposal: Proposal,
    pub nonce: NonceCommitment,
}

// ---------- Guardians and recovery ----------

/// The account's binding proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingProposal {
    pub account_commitment: Hash32,
    /// Recovery delay in seconds (default 24 h, allowed 1 h to 30 days).
    pub recovery_delay_secs: u64,
    pub notify_guardian: bool,
}

/// The guardian's commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianCommitment(pub Hash32);

/// The binding fact with its consensus proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingOutcome {
    pub proposal: BindingProposal,
    pub guardian: GuardianCommitment,
    pub commit: CommitFact,
}

/// A new device asks for recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryRequest {
    pub account: Hash32,
    pub device_key: Hash32,
    pub prestate_hash: Hash32,
}

/// A guardian's signed approval, bound to the prestate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryApproval {
    pub guardian: Participant,
    pub prestate_hash: Hash32,
    pub signature: Vec<u8>,
}

/// The delay window has opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryNotice {
    pub request_hash: Hash32,
    pub opens_at_secs: u64,
    pub closes_at_secs: u64,
}

/// The account cancels a recovery during the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCancellation {
    pub request_hash: Hash32,
    pub signature: Vec<u8>,
}

/// Journal facts a recovered device rebuilds its state from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDelta {
    pub facts: Vec<Vec<u8>>,
}

/// A guardian's handoff of its part to a successor device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffCertificate {
    pub from_device: Hash32,
    pub to_device: Hash32,
    pub signature: Vec<u8>,
}

// ---------- AMP epoch bump ----------

/// A proposed successor of a channel epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BumpProposal {
    pub channel: Hash32,
    pub parent_epoch: u64,
    pub base_generation: u64,
    pub emergency: bool,
}

/// The successor epoch is final (with its commit fact).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochFinalized {
    pub channel: Hash32,
    pub epoch: u64,
    pub commit: CommitFact,
}

/// The bump was abandoned; the parent epoch stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochStable {
    pub channel: Hash32,
    pub epoch: u64,
}
