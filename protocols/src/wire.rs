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

pub use crate::error::ParticipantId;

// ---------- DKG ----------
//
// Rounds 1–3 carry the core's own messages (`dkg::Round1Message`,
// `dkg::TranscriptEcho`, `dkg::Round2Message`); only the outcome lives here.

/// What a participant concluded from part 3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DkgOutcome {
    /// The group verifying key (serialized).
    Success { group_key: Vec<u8> },
    /// The participant whose package failed verification; no key kept.
    Blame {
        culprit: ParticipantId,
        reason: String,
    },
}

// ---------- Resharing and consensus ----------
//
// Reshare carries `reshare::{JoinMessage, JoinEcho, DealerCommitment,
// EncryptedShare, ReshareEcho}`; consensus carries
// `signing::{CommitStatement, Precommitment, UnverifiedCertificate}` and
// `witness::{ConsensusRequest, WitnessShare, FallbackProposal,
// FallbackVote, FallbackOutcome}`.

/// Why a run was abandoned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortReason {
    pub code: u16,
    pub detail: String,
}

// ---------- Guardians and recovery ----------

// Guardian binding carries `lifecycle::binding::{BindingProposal,
// GuardianAcceptance, BindingRequest, BindingOutcome}`.

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
    pub guardian: ParticipantId,
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

/// The account asks one of its guardians to confirm its part (and, if
/// the guardian moves to a new device, to hand it over).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffCheck {
    pub account: Hash32,
}

/// A guardian's handoff of its part to a successor device: signed by the
/// old device's identity key (`from_device`), naming the new one
/// (`to_device`), for one account (`lifecycle::handoff`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HandoffCertificate {
    pub account: Hash32,
    pub from_device: Hash32,
    pub to_device: Hash32,
    pub signature: Vec<u8>,
}

// ---------- AMP epoch bump ----------
//
// Proposals are `amp::BumpProposal`.

/// The successor epoch is final (with its commit fact).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochFinalized {
    pub channel: Hash32,
    pub epoch: u64,
    pub commit: crate::signing::UnverifiedCertificate,
}

/// The bump was abandoned; the parent epoch stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochStable {
    pub channel: Hash32,
    pub epoch: u64,
}
