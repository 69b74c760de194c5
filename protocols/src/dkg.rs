//! Distributed key generation without a trusted dealer, as a sans-I/O
//! state machine per participant over frost's `keys::dkg` part1/2/3.
//!
//! ```text
//! start ──Round1Message──▶ ExpectRound1 ──TranscriptEcho──▶ ExpectTranscripts
//!       ──Round2Message(s)──▶ ExpectRound2 ──▶ AuthorityKeyShare
//! ```
//!
//! * Round 1 is an authenticated broadcast of the frost package plus an
//!   ephemeral Diffie–Hellman public value on the Ed25519 group itself (not
//!   X25519: no extra dependency, and the DH values sit inside the agreed
//!   transcript; see `pairwise.rs`). The DH secret with every peer is
//!   computed on receipt and the ephemeral scalar is dropped right away.
//! * Every round-1 message is signed with its sender's node identity key
//!   (over a digest binding the run, the sender and every value in it, DH
//!   key included). Everyone echoes the signed digests it accepted (its
//!   own included, see `signed.rs`); nobody releases a round-2 share until
//!   every echo equals its own view. A participant that showed peers two
//!   different round-1 values is named by everyone (two valid signatures
//!   are the proof); an echo carrying an unsigned value names the echoer.
//! * Round-2 packages travel encrypted point to point, to the DH values
//!   inside the agreed transcript and nowhere else.
//! * Senders are never taken from the messages: every transition takes
//!   [`Authenticated`] messages and maps the transport-authenticated node to
//!   a participant through the [`Roster`] in [`DkgConfig`]. The roster
//!   binding itself is part of the transcript hash. A node that relays a
//!   peer's package with a swapped DH key sends it as itself, so the run
//!   aborts naming it (a second package from one sender, a signature that
//!   is not the sender's, or a sender the roster does not bind) before
//!   anyone releases a round-2 share.
//! * Every transition consumes the state. On error the state is dropped:
//!   frost's secret packages and our DH secret are zeroized, so an aborted
//!   run keeps no key material.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::keys::dkg::{self, round1, round2};
use frost_ed25519::Identifier;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group;
use crate::pairwise::{self, EphemeralSecret, SharedSecret};
use crate::roster::{collect_from_others, Authenticated, Roster};
use crate::share::{identifier_index, AuthorityKeyShare, KeyEpoch};
use crate::signed::{self, EchoedDigests, IdentitySignature, NodeIdentity, SignedDigest};

const TRANSCRIPT_LABEL: &[u8] = b"aura/dkg/transcript/v2";
const ROUND1_LABEL: &[u8] = b"aura/dkg/round1/v1";
const ROUND2_LABEL: &[u8] = b"aura/dkg/round2/v1";

/// Parameters every participant of one DKG run agrees on beforehand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkgConfig {
    /// Unique id of this run (binds all messages to it).
    pub session: [u8; 32],
    /// Signers needed (t).
    pub threshold: u16,
    /// The committee (n members), each bound to its node identity.
    pub roster: Roster,
}

impl DkgConfig {
    /// The committee.
    pub fn participants(&self) -> BTreeSet<ParticipantId> {
        self.roster.participants().collect()
    }

    fn validate(&self, me: ParticipantId) -> Result<u16> {
        let n = self.roster.participants().count();
        let max = u16::try_from(n).map_err(|_| Usage::InvalidThreshold {
            threshold: self.threshold,
            participants: n,
        })?;
        if self.threshold < 2 || self.threshold > max {
            return Err(Usage::InvalidThreshold {
                threshold: self.threshold,
                participants: n,
            }
            .into());
        }
        if !self.roster.contains(me) {
            return Err(Usage::NotAMember(me).into());
        }
        Ok(max)
    }
}

/// Round 1, broadcast to everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round1Message {
    /// Run id.
    pub session: [u8; 32],
    /// frost commitment and proof of knowledge.
    pub package: round1::Package,
    /// Ephemeral DH public value for round-2 encryption.
    pub dh_public: [u8; 32],
    /// The sender's node identity signature over [`round1_digest`] of
    /// this message.
    pub signature: IdentitySignature,
}

/// The round-1 set as the sender accepted it, broadcast to everyone:
/// every participant's signed round-1 digest (the sender's own included),
/// in ascending participant order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEcho {
    /// Run id.
    pub session: [u8; 32],
    /// One signed digest per participant.
    pub round1: EchoedDigests,
}

/// What participant `from` signs in round 1: SHA-256 over a label, the
/// run, the threshold, the sender, the frost package and the DH value.
pub fn round1_digest(
    config: &DkgConfig,
    from: ParticipantId,
    package: &round1::Package,
    dh_public: &[u8; 32],
) -> Result<[u8; 32]> {
    let bytes = package.serialize().map_err(Error::crypto)?;
    let mut h = Sha256::new();
    h.update(ROUND1_LABEL);
    h.update(config.session);
    h.update(config.threshold.to_be_bytes());
    h.update(from.0.to_be_bytes());
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(&bytes);
    h.update(dh_public);
    Ok(h.finalize().into())
}

/// Round 2, one per ordered pair, encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round2Message {
    /// Run id.
    pub session: [u8; 32],
    /// Recipient.
    pub to: ParticipantId,
    /// ChaCha20-Poly1305 of the frost round-2 package.
    pub ciphertext: Vec<u8>,
}

/// Begin a DKG run as `me`, signing round 1 with `identity` (the key the
/// roster binds `me` to): returns the first state and the message to
/// broadcast.
pub fn start<R: RngCore + CryptoRng>(
    config: DkgConfig,
    me: ParticipantId,
    identity: &NodeIdentity,
    rng: &mut R,
) -> Result<(ExpectRound1, Round1Message)> {
    let max = config.validate(me)?;
    if config.roster.node(me) != Some(identity.node_id()) {
        return Err(Usage::WrongIdentity(me).into());
    }
    let (secret, package) = dkg::part1(group::identifier(me)?, max, config.threshold, &mut *rng)
        .map_err(Error::crypto)?;
    let (dh, dh_public) = EphemeralSecret::generate(rng)?;
    let signed = identity.sign(round1_digest(&config, me, &package, &dh_public)?);
    let own = Round1Message {
        session: config.session,
        package,
        dh_public,
        signature: signed.signature,
    };
    let ids = identifier_index(&config.participants())?;
    Ok((
        ExpectRound1 {
            config,
            me,
            ids,
            secret,
            dh,
            own: signed,
        },
        own,
    ))
}

/// Waiting for every other participant's round-1 broadcast.
#[derive(Debug)]
pub struct ExpectRound1 {
    config: DkgConfig,
    me: ParticipantId,
    ids: BTreeMap<Identifier, ParticipantId>,
    secret: round1::SecretPackage,
    dh: EphemeralSecret,
    /// Our own signed round-1 digest.
    own: SignedDigest,
}

/// Name the first participant whose commitment does not have `threshold`
/// coefficients.
fn wrong_degree(others: &BTreeMap<ParticipantId, &Round1Message>, threshold: u16) -> Option<Error> {
    let expected = usize::from(threshold);
    others
        .iter()
        .find_map(|(id, m)| match m.package.commitment().serialize() {
            Ok(c) if c.len() == expected => None,
            Ok(c) => Some(Error::violation(
                *id,
                Violation::WrongCommitmentLength {
                    expected,
                    got: c.len(),
                },
            )),
            Err(e) => Some(Error::violation(*id, Violation::Malformed(e.to_string()))),
        })
}

/// The transcript round-2 keys and associated data are bound to: the run,
/// the roster and every participant's round-1 digest (which covers its
/// package and DH value).
fn transcript_hash(config: &DkgConfig, view: &BTreeMap<ParticipantId, SignedDigest>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update(config.session);
    h.update(config.threshold.to_be_bytes());
    config.roster.hash_into(&mut h);
    for (id, signed) in view {
        h.update(id.0.to_be_bytes());
        h.update(signed.digest);
    }
    h.finalize().into()
}

/// The shared plumbing of every DKG state: collect one authenticated
/// message per other participant.
macro_rules! collect_method {
    ($state:ty) => {
        impl $state {
            fn collect<'a, M: PartialEq>(
                &self,
                messages: &'a [Authenticated<M>],
                meta: impl Fn(&M) -> [u8; 32],
            ) -> Result<BTreeMap<ParticipantId, &'a M>> {
                collect_from_others(
                    &self.config.roster,
                    &self.config.session,
                    &self.config.participants(),
                    Some(self.me),
                    messages,
                    meta,
                )
            }
        }
    };
}
collect_method!(ExpectRound1);
collect_method!(ExpectTranscripts);
collect_method!(ExpectRound2);

impl ExpectRound1 {
    /// Take the round-1 broadcasts (our own may be included), verify their
    /// identity signatures and packages, and return the signed set to
    /// echo.
    pub fn receive_round1(
        self,
        messages: &[Authenticated<Round1Message>],
    ) -> Result<(ExpectTranscripts, TranscriptEcho)> {
        let others = self.collect(messages, |m| m.session)?;
        let mut view = BTreeMap::new();
        for (id, m) in &others {
            let digest = round1_digest(&self.config, *id, &m.package, &m.dh_public)?;
            view.insert(
                *id,
                signed::accept_direct(&self.config.roster, *id, digest, m.signature)?,
            );
        }
        view.insert(self.me, self.own);
        let mut frost_round1 = BTreeMap::new();
        let mut shared = BTreeMap::new();
        for (id, m) in &others {
            let secret = self.dh.agree(&m.dh_public).map_err(|_| {
                Error::violation(*id, Violation::Malformed("DH public value".into()))
            })?;
            shared.insert(*id, secret);
            frost_round1.insert(group::identifier(*id)?, m.package.clone());
        }
        let (secret2, outgoing) = dkg::part2(self.secret, &frost_round1).map_err(|e| match e {
            frost_ed25519::Error::InvalidProofOfKnowledge { culprit } => {
                match self.ids.get(&culprit) {
                    Some(p) => Error::violation(*p, Violation::InvalidProofOfKnowledge),
                    None => Error::crypto(e),
                }
            }
            // frost does not say whose commitment has the wrong degree;
            // find out (off the happy path, so the extra work is free).
            frost_ed25519::Error::IncorrectNumberOfCommitments => {
                wrong_degree(&others, self.config.threshold).unwrap_or(Error::crypto(e))
            }
            other => Error::crypto(other),
        })?;
        let transcript = transcript_hash(&self.config, &view);
        let echo = TranscriptEcho {
            session: self.config.session,
            round1: signed::echo_of(&view),
        };
        Ok((
            ExpectTranscripts {
                config: self.config,
                me: self.me,
                ids: self.ids,
                shared,
                frost_round1,
                secret: secret2,
                outgoing,
                view,
                transcript,
            },
            echo,
        ))
    }
}

/// Waiting for everyone's transcript hash. Round-2 shares are computed but
/// not released until every hash matches ours.
#[derive(Debug)]
pub struct ExpectTranscripts {
    config: DkgConfig,
    me: ParticipantId,
    ids: BTreeMap<Identifier, ParticipantId>,
    /// DH secrets with each peer; the ephemeral scalar itself is gone.
    shared: BTreeMap<ParticipantId, SharedSecret>,
    frost_round1: BTreeMap<Identifier, round1::Package>,
    secret: round2::SecretPackage,
    outgoing: BTreeMap<Identifier, round2::Package>,
    /// Every participant's signed round-1 digest as we accepted it.
    view: BTreeMap<ParticipantId, SignedDigest>,
    transcript: [u8; 32],
}

fn round2_aad(
    session: &[u8; 32],
    from: ParticipantId,
    to: ParticipantId,
    transcript: &[u8; 32],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + 4 + 32 + ROUND2_LABEL.len());
    aad.extend_from_slice(ROUND2_LABEL);
    aad.extend_from_slice(session);
    aad.extend_from_slice(&from.0.to_be_bytes());
    aad.extend_from_slice(&to.0.to_be_bytes());
    aad.extend_from_slice(transcript);
    aad
}

impl ExpectTranscripts {
    /// Our transcript hash.
    pub fn transcript(&self) -> [u8; 32] {
        self.transcript
    }

    /// Compare everyone's echo with our view; on agreement release the
    /// encrypted round-2 packages (one per other participant). A split
    /// view names whoever signed two round-1 values, or the echoer that
    /// carried a value nobody signed.
    pub fn confirm_transcripts(
        self,
        echoes: &[Authenticated<TranscriptEcho>],
    ) -> Result<(ExpectRound2, Vec<Round2Message>)> {
        let others = self.collect(echoes, |m| m.session)?;
        signed::check_echoes(
            &self.config.roster,
            &self.view,
            others.iter().map(|(p, e)| (*p, e.round1.as_slice())),
        )?;
        let mut messages = Vec::with_capacity(self.outgoing.len());
        for (to, shared) in &self.shared {
            let package = self
                .outgoing
                .get(&group::identifier(*to)?)
                .ok_or_else(|| Error::Crypto(format!("frost produced no share for {to}")))?;
            let plaintext = zeroize::Zeroizing::new(package.serialize().map_err(Error::crypto)?);
            let key = shared.directional_key(&self.transcript, ROUND2_LABEL, self.me, *to)?;
            let aad = round2_aad(&self.config.session, self.me, *to, &self.transcript);
            messages.push(Round2Message {
                session: self.config.session,
                to: *to,
                ciphertext: pairwise::seal(&key, &aad, &plaintext)?,
            });
        }
        Ok((
            ExpectRound2 {
                config: self.config,
                me: self.me,
                ids: self.ids,
                shared: self.shared,
                frost_round1: self.frost_round1,
                secret: self.secret,
                transcript: self.transcript,
            },
            messages,
        ))
    }
}

/// Waiting for the round-2 packages addressed to us.
#[derive(Debug)]
pub struct ExpectRound2 {
    config: DkgConfig,
    me: ParticipantId,
    ids: BTreeMap<Identifier, ParticipantId>,
    shared: BTreeMap<ParticipantId, SharedSecret>,
    frost_round1: BTreeMap<Identifier, round1::Package>,
    secret: round2::SecretPackage,
    transcript: [u8; 32],
}

impl ExpectRound2 {
    /// Decrypt and verify our shares and derive the long-lived key share.
    /// Messages addressed to others are ignored.
    pub fn finish(self, messages: &[Authenticated<Round2Message>]) -> Result<AuthorityKeyShare> {
        let mine: Vec<Authenticated<Round2Message>> = messages
            .iter()
            .filter(|m| m.message.to == self.me)
            .cloned()
            .collect();
        let others = self.collect(&mine, |m| m.session)?;
        let mut frost_round2 = BTreeMap::new();
        for (from, m) in &others {
            let shared = self
                .shared
                .get(from)
                .ok_or_else(|| Error::violation(*from, Violation::Unexpected))?;
            let key = shared.directional_key(&self.transcript, ROUND2_LABEL, *from, self.me)?;
            let aad = round2_aad(&self.config.session, *from, self.me, &self.transcript);
            let plaintext = pairwise::open(&key, &aad, &m.ciphertext)
                .ok_or_else(|| Error::violation(*from, Violation::UndecryptablePackage))?;
            let package = round2::Package::deserialize(&plaintext)
                .map_err(|e| Error::violation(*from, Violation::Malformed(e.to_string())))?;
            frost_round2.insert(group::identifier(*from)?, package);
        }
        let (key_package, public) = dkg::part3(&self.secret, &self.frost_round1, &frost_round2)
            .map_err(|e| match e {
                frost_ed25519::Error::InvalidSecretShare { culprit: Some(c) } => {
                    match self.ids.get(&c) {
                        Some(p) => Error::violation(*p, Violation::InvalidShare),
                        None => Error::crypto(e),
                    }
                }
                other => Error::crypto(other),
            })?;
        Ok(AuthorityKeyShare {
            epoch: KeyEpoch(0),
            me: self.me,
            committee: self.config.participants(),
            key_package,
            public,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn identity(p: ParticipantId) -> NodeIdentity {
        NodeIdentity::from_secret([p.0 as u8; 32])
    }

    fn node(p: ParticipantId) -> crate::roster::NodeId {
        identity(p).node_id()
    }

    fn tag<M: Clone>(from: ParticipantId, m: &M) -> Authenticated<M> {
        Authenticated::new(node(from), m.clone())
    }

    /// A participant that encrypts correctly but deals a share that does
    /// not match its commitment is named by the recipient.
    #[test]
    fn share_not_matching_commitment_names_the_dealer() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let config = DkgConfig {
            session: [1; 32],
            threshold: 2,
            roster: Roster::new((1..=3).map(|p| (ParticipantId(p), node(ParticipantId(p)))))
                .unwrap(),
        };
        let mut states = Vec::new();
        let mut round1 = Vec::new();
        for p in config.participants() {
            let (s, m) = start(config.clone(), p, &identity(p), &mut rng).unwrap();
            states.push(s);
            round1.push(tag(p, &m));
        }
        let mut echoes = Vec::new();
        let mut next = Vec::new();
        for s in states {
            let me = s.me;
            let (s, e) = s.receive_round1(&round1).unwrap();
            next.push(s);
            echoes.push(tag(me, &e));
        }
        // Participant 2 cheats towards participant 1.
        if let Some(s) = next.iter_mut().find(|s| s.me == ParticipantId(2)) {
            let bogus = group::signing_share(&group::random_scalar(&mut rng)).unwrap();
            s.outgoing.insert(
                group::identifier(ParticipantId(1)).unwrap(),
                round2::Package::new(bogus),
            );
        }
        let mut round2 = Vec::new();
        let mut last = Vec::new();
        for s in next {
            let me = s.me;
            let (s, m) = s.confirm_transcripts(&echoes).unwrap();
            last.push(s);
            round2.extend(m.iter().map(|m| tag(me, m)));
        }
        let mut results = last.into_iter().map(|s| (s.me, s.finish(&round2)));
        let (me, first) = results.next().unwrap();
        assert_eq!(me, ParticipantId(1));
        match first {
            Err(Error::ProtocolViolation {
                participant,
                violation: Violation::InvalidShare,
            }) => assert_eq!(participant, ParticipantId(2)),
            other => panic!("expected participant 2 blamed for an invalid share, got {other:?}"),
        }
        assert!(results.all(|(_, r)| r.is_ok()));
    }
}
