//! Errors, grouped by who is at fault.
//!
//! * [`Error::Usage`] — the local caller asked for something impossible
//!   (wrong threshold, a nonce that was already used, a bump too early).
//!   Fix the calling code.
//! * [`Error::ProtocolViolation`] — a named remote participant sent
//!   something invalid. Abort the run and exclude or report that participant.
//! * [`Error::Rejected`] — an AMP message was refused (outside the window,
//!   replayed, tampered). The sender or the network is at fault; drop it.
//! * [`Error::Crypto`] — a cryptographic library failed on values we
//!   produced ourselves; this indicates a bug or corrupted local state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A participant in a threshold protocol (device or guardian), numbered
/// from 1 within one authority. Maps one-to-one onto a FROST identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParticipantId(pub u16);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

/// A node's long-term identity: the 32-byte Ed25519 public key its
/// transport authenticates (the key behind a libp2p PeerId).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 32]);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().take(6) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

/// Why a witness declined to sign. Not a fault of the witness: the caller
/// starts the fallback (`abandon()`) at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request's prestate is not the witness's own reduced state.
    #[error("prestate differs from this witness's reduced state")]
    WrongPrestate,
    /// The witness already signed another operation for this slot.
    #[error("already signed another operation for this consensus id and prestate")]
    AlreadySigned,
    /// A routine channel-epoch bump before half a window has passed, by
    /// this witness's own journal.
    #[error("routine bump refused: the journal shows generation {generation}, less than half a window ({half}) past checkpoint {checkpoint}")]
    BumpTooEarly {
        /// Highest generation the witness's journal shows accepted.
        generation: u64,
        /// Checkpoint `G`.
        checkpoint: u64,
        /// `W/2`.
        half: u64,
    },
    /// The request is for a key epoch that a later reshare retired; the
    /// old share is gone.
    #[error("the request is for a retired key epoch")]
    RetiredEpoch,
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local caller misused the API.
    #[error("usage error: {0}")]
    Usage(#[from] Usage),
    /// A remote participant sent an invalid message; the run must abort.
    #[error("{participant} violated the protocol: {violation}")]
    ProtocolViolation {
        /// Who is to blame.
        participant: ParticipantId,
        /// What they did.
        violation: Violation,
    },
    /// A message arrived from a node the session's roster does not bind
    /// (an outsider, or a relay rewriting traffic in transit).
    #[error("message from node {node}, which this session's roster does not bind; drop the link")]
    UnknownSender {
        /// The node the transport authenticated.
        node: NodeId,
    },
    /// A consensus witness declined to sign; start the fallback.
    #[error("witness refused to sign: {0}")]
    Refused(Refusal),
    /// An AMP message was refused.
    #[error("message rejected: {0}")]
    Rejected(#[from] Rejection),
    /// A cryptographic operation failed on locally produced values.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// The local durable store (e.g. a witness's signing record) failed;
    /// nothing was signed.
    #[error("local storage failure: {0}")]
    Storage(String),
}

impl Error {
    /// The participant blamed by this error, if any.
    pub fn culprit(&self) -> Option<ParticipantId> {
        match self {
            Error::ProtocolViolation { participant, .. } => Some(*participant),
            _ => None,
        }
    }

    pub(crate) fn crypto(e: impl fmt::Display) -> Self {
        Error::Crypto(e.to_string())
    }

    /// For library errors that only implement `Debug` (hkdf, aead).
    pub(crate) fn crypto_msg<E: fmt::Debug>(e: E) -> Self {
        Error::Crypto(format!("{e:?}"))
    }

    pub(crate) fn violation(participant: ParticipantId, violation: Violation) -> Self {
        Error::ProtocolViolation {
            participant,
            violation,
        }
    }
}

/// Local misuse of the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Usage {
    /// Threshold must satisfy `2 <= t <= n`.
    #[error("threshold {threshold} is invalid for {participants} participants (need 2 <= t <= n)")]
    InvalidThreshold {
        /// Requested threshold.
        threshold: u16,
        /// Committee size.
        participants: usize,
    },
    /// The local participant is not in the committee it tries to act in.
    #[error("{0} is not a member of this committee")]
    NotAMember(ParticipantId),
    /// A roster binds one participant twice, or one node to two participants.
    #[error(
        "{0} or its node is bound twice in the roster; bind each participant to one distinct node"
    )]
    DuplicateBinding(ParticipantId),
    /// A participant of the run has no node identity in the roster.
    #[error("{0} takes part in the run but the roster binds no node to it; add it to the roster")]
    NotInRoster(ParticipantId),
    /// A key or certificate of another authority.
    #[error("the new share or its commit certificate belongs to another group key")]
    WrongAuthority,
    /// A binding's recovery delay outside [1 h, 30 days].
    #[error("recovery delay {secs} s is outside the allowed range of 1 hour to 30 days")]
    RecoveryDelayOutOfRange {
        /// Requested delay.
        secs: u64,
    },
    /// The identity key given to a run is not the key the roster binds
    /// the participant to.
    #[error("{0}'s identity key is not the node key the roster binds it to")]
    WrongIdentity(ParticipantId),
    /// Participant ids start at 1.
    #[error("participant id 0 is reserved; number participants from 1")]
    ZeroParticipant,
    /// Not enough old holders to deal a reshare.
    #[error("resharing needs exactly {needed} dealers from the old committee, got {got}")]
    WrongDealerCount {
        /// Old threshold.
        needed: u16,
        /// Dealers supplied.
        got: usize,
    },
    /// The nonce was already consumed, never created, or belongs to an
    /// old key epoch.
    #[error("nonce {index} of key epoch {epoch} is not available (used, unknown or stale)")]
    NonceUnavailable {
        /// Key epoch named by the request.
        epoch: u64,
        /// Nonce index named by the request.
        index: u64,
    },
    /// The signing request is for a different key epoch than the share.
    #[error("signing request is for key epoch {requested} but this share is epoch {current}")]
    EpochMismatch {
        /// Epoch of the request.
        requested: u64,
        /// Epoch of the local share.
        current: u64,
    },
    /// The local participant was not asked to sign.
    #[error("the signing request has no commitment for {0}")]
    NotASigner(ParticipantId),
    /// The signing request does not carry the statement being certified.
    #[error("the signing request's message is not this statement's message; build it with CommitStatement::message")]
    StatementMismatch,
    /// A routine bump before half a window has passed.
    #[error("bump refused: generation {generation} is less than half a window ({half}) past checkpoint {checkpoint}; wait, or bump for suspected compromise")]
    BumpTooEarly {
        /// Generation observed by the proposer.
        generation: u64,
        /// Checkpoint base generation.
        checkpoint: u64,
        /// W/2.
        half: u64,
    },
    /// The sender ran past the window; a checkpoint fact must be added first.
    #[error("generation {generation} is beyond the window of epoch {epoch}; append a checkpoint fact first")]
    WindowExhausted {
        /// Channel epoch.
        epoch: u64,
        /// Next generation.
        generation: u64,
    },
    /// A bump is already certified and waiting for finalization.
    #[error("epoch {parent} already has a certified successor; finalize it before proposing another bump")]
    BumpInProgress {
        /// Stable epoch.
        parent: u64,
    },
    /// The channel is blocked by conflicting certificates for one parent.
    #[error(
        "epoch {parent} has conflicting bump certificates; the channel stays on it until resolved"
    )]
    BumpConflict {
        /// Stable epoch.
        parent: u64,
    },
    /// Window width must be a positive even number.
    #[error("window width {0} must be a positive even number")]
    InvalidWindow(u64),
}

/// What a remote participant did wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// Its round-1 package has an invalid proof of knowledge.
    #[error("invalid proof of knowledge in round-1 package")]
    InvalidProofOfKnowledge,
    /// Its commitment has the wrong number of coefficients.
    #[error("commitment has {got} coefficients, expected {expected}")]
    WrongCommitmentLength {
        /// Threshold.
        expected: usize,
        /// Received.
        got: usize,
    },
    /// A share it sent does not match its public commitment.
    #[error("secret share does not match its commitment")]
    InvalidShare,
    /// Its dealt commitment does not commit to its Lagrange-weighted share.
    #[error("reshare commitment does not commit to the dealer's weighted share")]
    WrongDealtSecret,
    /// It reported a different transcript than ours. This proves the
    /// broadcast was split, not that this participant caused the split.
    #[error("transcript hash differs from ours: the round-1 broadcast was not consistent")]
    TranscriptMismatch,
    /// An encrypted package failed to decrypt or authenticate.
    #[error("encrypted package failed authentication")]
    UndecryptablePackage,
    /// A package could not be decoded.
    #[error("malformed package: {0}")]
    Malformed(String),
    /// A package from this participant is missing.
    #[error("no package received")]
    Missing,
    /// More than one package from this participant.
    #[error("sent more than one package in one round")]
    Duplicate,
    /// A package from a participant outside the committee or for another session.
    #[error("package does not belong to this session or committee")]
    Unexpected,
    /// Its channel-root partial's DLEQ proof does not verify against its
    /// verifying share.
    #[error("channel-root partial with an invalid DLEQ proof")]
    InvalidRootPartial,
    /// Its signature share is invalid.
    #[error("invalid signature share")]
    InvalidSignatureShare,
    /// The node-identity signature on its message does not verify under
    /// the node key the roster binds it to.
    #[error("identity signature on its message does not verify")]
    InvalidSignature,
    /// It signed two different values for one step of this run (two
    /// validly signed digests, one shown to us and one echoed by a peer):
    /// a proof that it showed peers different views.
    #[error("signed two different values for one step of this run")]
    Equivocated,
    /// Its echo carries a value under another participant's name whose
    /// signature does not verify: it forged or rewrote what it echoes.
    #[error("echoed a value its named signer did not sign")]
    ForgedEcho,
}

/// Why an AMP message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The message is for another context or channel.
    #[error("message is for another context or channel")]
    WrongChannel,
    /// The epoch is neither the stable epoch nor the pending successor.
    #[error("epoch {0} is not accepted on this channel")]
    EpochNotAccepted(u64),
    /// The generation is outside `[G, G + 2W]`.
    #[error("generation {generation} outside the window [{base}, {top}]")]
    OutsideWindow {
        /// Offending generation.
        generation: u64,
        /// G.
        base: u64,
        /// G + 2W.
        top: u64,
    },
    /// This (epoch, sender, generation) was already opened.
    #[error("replayed message")]
    Replay,
    /// AEAD authentication failed: header or ciphertext were modified.
    #[error("authentication failed")]
    Tampered,
    /// The bytes do not parse as an AMP message.
    #[error("malformed message")]
    Malformed,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
