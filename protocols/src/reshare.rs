//! Resharing: a new committee and/or threshold for the *same* group key,
//! and plain refresh (same committee and threshold, fresh shares).
//!
//! With old shares `s_i` (threshold `t`), any `t` old holders `D` can
//! write the group secret as `s = Σ_{i∈D} λ_i s_i`. Each dealer `i ∈ D`
//! picks a random polynomial `f_i` of degree `t' − 1` with
//! `f_i(0) = λ_i s_i`, broadcasts the VSS commitment `C_ik = a_ik·B`, and
//! sends `f_i(j)` to every new holder `j`. A new holder checks, per dealer,
//!
//! * `C_i0 = λ_i·Y_i` where `Y_i` is the dealer's *old* public verifying
//!   share — the dealer really dealt its own weighted share;
//! * `f_i(j)·B = Σ_k j^k C_ik` — its sub-share matches the commitment;
//!
//! then sums: `s'_j = Σ_i f_i(j)`, `C'_k = Σ_i C_ik`, and checks
//! `C'_0 = Y` (the group key is unchanged). The result is an ordinary frost
//! [`KeyPackage`]/[`PublicKeyPackage`], so new shares sign with plain frost.
//!
//! Messages and states:
//!
//! ```text
//! new holder: join ─JoinMessage─▶ ExpectJoins ─JoinEcho─▶ ExpectDealings
//!             ─ReshareEcho─▶ ExpectConfirmations ─▶ AuthorityKeyShare
//! dealer:     deal(joins, join echoes) ─▶ DealerCommitment (broadcast)
//!             + EncryptedShare (one per new holder)
//! ```
//!
//! Sub-shares are encrypted exactly like DKG round 2 (see `pairwise.rs`):
//! each new holder publishes an ephemeral DH value when joining, each
//! dealer one inside its commitment.
//!
//! Authentication: every message is taken as [`Authenticated`] and its
//! sender is the participant the [`Roster`] binds to the authenticated
//! node; no message carries a sender field. The join keys are what the
//! sub-shares are encrypted to, so they are agreed before anything is
//! dealt: every join is signed with its holder's node identity key, every
//! new holder echoes the signed joins it accepted (its own included,
//! [`JoinEcho`]), and a dealer deals only if every new holder's echo
//! equals its own view of the joins. A holder that shows peers two join
//! keys is named by both of its signatures; an echo carrying a join its
//! holder did not sign names the echoer (see `signed.rs`). No share is
//! ever encrypted to a key outside the agreed transcript. Dealer
//! commitments are signed the same way; new holders echo the join
//! transcript and the signed commitments they accepted ([`ReshareEcho`])
//! and only use the new share once every other new holder reported the
//! same, so the committee cannot end up with inconsistent public key
//! packages, and a dealer that showed holders different commitments is
//! named.
//!
//! Nothing here mutates an old share: an aborted reshare leaves the old
//! epoch fully usable.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::keys::{
    KeyPackage, PublicKeyPackage, SecretShare, SigningShare, VerifiableSecretSharingCommitment,
};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group::{self, Point, Scalar};
use crate::pairwise::{self, EphemeralSecret};
use crate::roster::{collect_from_others, Authenticated, Roster};
use crate::share::{AuthorityKeyShare, KeyEpoch};
use crate::signed::{self, EchoedDigests, IdentitySignature, NodeIdentity, SignedDigest};

/// What every dealer and new holder agrees on before a reshare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareConfig {
    /// Run id.
    pub session: [u8; 32],
    /// Epoch of the shares being reshared; the result is `old_epoch + 1`.
    pub old_epoch: KeyEpoch,
    /// Exactly `t_old` members of the old committee.
    pub dealers: BTreeSet<ParticipantId>,
    /// The new committee.
    pub new_committee: BTreeSet<ParticipantId>,
    /// The new threshold.
    pub new_threshold: u16,
    /// Node identity of every dealer and new holder.
    pub roster: Roster,
}

impl ReshareConfig {
    /// A refresh: same committee and threshold, the first `t` members deal.
    pub fn refresh(session: [u8; 32], share: &AuthorityKeyShare, roster: Roster) -> Self {
        let t = share.threshold();
        ReshareConfig {
            roster,
            session,
            old_epoch: share.epoch(),
            dealers: share
                .committee()
                .iter()
                .take(usize::from(t))
                .copied()
                .collect(),
            new_committee: share.committee().clone(),
            new_threshold: t,
        }
    }

    fn validate_new(&self) -> Result<()> {
        let n = self.new_committee.len();
        if self.new_threshold < 2 || usize::from(self.new_threshold) > n {
            return Err(Usage::InvalidThreshold {
                threshold: self.new_threshold,
                participants: n,
            }
            .into());
        }
        if self.new_committee.contains(&ParticipantId(0)) {
            return Err(Usage::ZeroParticipant.into());
        }
        if let Some(p) = self
            .new_committee
            .iter()
            .chain(&self.dealers)
            .find(|p| !self.roster.contains(**p))
        {
            return Err(Usage::NotInRoster(*p).into());
        }
        Ok(())
    }

    fn validate_dealers(
        &self,
        old_threshold: u16,
        old_committee: &BTreeSet<ParticipantId>,
    ) -> Result<()> {
        if self.dealers.len() != usize::from(old_threshold) {
            return Err(Usage::WrongDealerCount {
                needed: old_threshold,
                got: self.dealers.len(),
            }
            .into());
        }
        if let Some(d) = self.dealers.iter().find(|d| !old_committee.contains(d)) {
            return Err(Usage::NotAMember(*d).into());
        }
        Ok(())
    }
}

const SHARE_LABEL: &[u8] = b"aura/reshare/share/v1";
const TRANSCRIPT_LABEL: &[u8] = b"aura/reshare/transcript/v1";
const JOINS_LABEL: &[u8] = b"aura/reshare/joins/v1";
const JOIN_LABEL: &[u8] = b"aura/reshare/join/v1";
const DEALING_LABEL: &[u8] = b"aura/reshare/dealing/v1";

impl ReshareConfig {
    /// Hash binding every key and transcript of this run to its parameters.
    fn digest(&self) -> Result<[u8; 32]> {
        let bytes = postcard::to_allocvec(self).map_err(Error::crypto)?;
        let mut h = Sha256::new();
        h.update(b"aura/reshare/config/v1");
        h.update(&bytes);
        Ok(h.finalize().into())
    }
}

/// The operation a consensus commit of a new key epoch certifies:
/// `SHA-256("aura/reshare/epoch/v1" ‖ epoch ‖ postcard(public key package))`.
/// Witnesses switch to the new share only with a certificate over it.
pub fn epoch_operation(epoch: KeyEpoch, public: &PublicKeyPackage) -> Result<[u8; 32]> {
    let bytes = public.serialize().map_err(Error::crypto)?;
    let mut h = Sha256::new();
    h.update(b"aura/reshare/epoch/v1");
    h.update(epoch.0.to_be_bytes());
    h.update(&bytes);
    Ok(h.finalize().into())
}

/// A new holder announces its ephemeral DH value (broadcast to every
/// dealer and every other new holder).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMessage {
    /// Run id.
    pub session: [u8; 32],
    /// Ephemeral DH public value for receiving sub-shares.
    pub dh_public: [u8; 32],
    /// The holder's node identity signature over [`join_digest`].
    pub signature: IdentitySignature,
}

/// The join set a new holder accepted, its own join included (broadcast
/// to every member; dealers deal only when every echo matches their own
/// view): each holder's signed join digest, in ascending order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinEcho {
    /// Run id.
    pub session: [u8; 32],
    /// One signed join digest per new holder.
    pub joins: EchoedDigests,
}

/// What new holder `holder` signs when joining: the run's config digest,
/// the holder and its DH key.
pub fn join_digest(
    config: &ReshareConfig,
    holder: ParticipantId,
    dh_public: &[u8; 32],
) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(JOIN_LABEL);
    h.update(config.digest()?);
    h.update(holder.0.to_be_bytes());
    h.update(dh_public);
    Ok(h.finalize().into())
}

/// What dealer `dealer` signs with its commitment: the run's config
/// digest, the dealer, every commitment point and its DH key.
pub fn dealing_digest(
    config: &ReshareConfig,
    dealer: ParticipantId,
    commitment: &VerifiableSecretSharingCommitment,
    dh_public: &[u8; 32],
) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(DEALING_LABEL);
    h.update(config.digest()?);
    h.update(dealer.0.to_be_bytes());
    let points = group::commitment_points(commitment)
        .map_err(|e| Error::violation(dealer, Violation::Malformed(e.to_string())))?;
    h.update((points.len() as u64).to_be_bytes());
    for p in &points {
        h.update(group::point_bytes(p)?);
    }
    h.update(dh_public);
    Ok(h.finalize().into())
}

/// A dealer's broadcast commitment to its polynomial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealerCommitment {
    /// Run id.
    pub session: [u8; 32],
    /// `C_i0 .. C_i(t'-1)`.
    pub commitment: VerifiableSecretSharingCommitment,
    /// Ephemeral DH public value the sub-shares are encrypted under.
    pub dh_public: [u8; 32],
    /// The dealer's node identity signature over [`dealing_digest`].
    pub signature: IdentitySignature,
}

/// One sub-share `f_i(j)`, encrypted from its (authenticated) dealer to new
/// holder `j`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedShare {
    /// Run id.
    pub session: [u8; 32],
    /// Recipient (new holder).
    pub to: ParticipantId,
    /// ChaCha20-Poly1305 of the serialized `f_i(j)`.
    pub ciphertext: Vec<u8>,
}

/// The join transcript and the signed dealer commitments a new holder
/// accepted (broadcast to the other new holders).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareEcho {
    /// Run id.
    pub session: [u8; 32],
    /// The agreed join transcript (`join_transcript`).
    pub joins: [u8; 32],
    /// One signed dealing digest per dealer, in ascending order.
    pub dealings: EchoedDigests,
}

fn share_aad(
    session: &[u8; 32],
    joins: &[u8; 32],
    dealer: ParticipantId,
    to: ParticipantId,
) -> Vec<u8> {
    let mut aad = SHARE_LABEL.to_vec();
    aad.extend_from_slice(session);
    aad.extend_from_slice(joins);
    aad.extend_from_slice(&dealer.0.to_be_bytes());
    aad.extend_from_slice(&to.0.to_be_bytes());
    aad
}

/// `SHA-256(JOINS_LABEL ‖ config digest ‖ roster ‖ (holder ‖ dh_public)*)`
/// over the join set sorted by holder: every value a sub-share will be
/// encrypted to, and who it belongs to.
fn join_transcript(
    config: &ReshareConfig,
    joins: &BTreeMap<ParticipantId, [u8; 32]>,
) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(JOINS_LABEL);
    h.update(config.digest()?);
    config.roster.hash_into(&mut h);
    for (p, key) in joins {
        h.update(p.0.to_be_bytes());
        h.update(key);
    }
    Ok(h.finalize().into())
}

/// Accept the joins received directly: one per new holder, each signed by
/// its holder. Returns the signed view and the join keys.
#[allow(clippy::type_complexity)]
fn accept_joins(
    config: &ReshareConfig,
    joins: &BTreeMap<ParticipantId, &JoinMessage>,
) -> Result<(
    BTreeMap<ParticipantId, SignedDigest>,
    BTreeMap<ParticipantId, [u8; 32]>,
)> {
    let mut view = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for (holder, join) in joins {
        let digest = join_digest(config, *holder, &join.dh_public)?;
        view.insert(
            *holder,
            signed::accept_direct(&config.roster, *holder, digest, join.signature)?,
        );
        group::decode_point(&join.dh_public).map_err(|_| {
            Error::violation(*holder, Violation::Malformed("DH public value".into()))
        })?;
        keys.insert(*holder, join.dh_public);
    }
    Ok((view, keys))
}

/// Deal this old holder's Lagrange-weighted share to the new committee,
/// signing the commitment with `identity` (the key the roster binds this
/// dealer to). The old share is only read.
///
/// `joins` must hold one [`JoinMessage`] per new committee member (a
/// holder that is also this dealer included) and `echoes` one
/// [`JoinEcho`] per new committee member; nothing is dealt unless every
/// echo equals this dealer's view of the signed joins, so every sub-share
/// goes to a key the whole new committee agreed on.
pub fn deal<R: RngCore + CryptoRng>(
    config: &ReshareConfig,
    old: &AuthorityKeyShare,
    identity: &NodeIdentity,
    joins: &[Authenticated<JoinMessage>],
    echoes: &[Authenticated<JoinEcho>],
    rng: &mut R,
) -> Result<(DealerCommitment, Vec<EncryptedShare>)> {
    config.validate_new()?;
    config.validate_dealers(old.threshold(), old.committee())?;
    let me = old.participant();
    if !config.dealers.contains(&me) {
        return Err(Usage::NotAMember(me).into());
    }
    if config.roster.node(me) != Some(identity.node_id()) {
        return Err(Usage::WrongIdentity(me).into());
    }
    if old.epoch() != config.old_epoch {
        return Err(Usage::EpochMismatch {
            requested: config.old_epoch.0,
            current: old.epoch().0,
        }
        .into());
    }
    let joins = collect_from_others(
        &config.roster,
        &config.session,
        &config.new_committee,
        None,
        joins,
        |j| j.session,
    )?;
    let (view, keys) = accept_joins(config, &joins)?;
    let agreed = join_transcript(config, &keys)?;
    let echoes = collect_from_others(
        &config.roster,
        &config.session,
        &config.new_committee,
        None,
        echoes,
        |e| e.session,
    )?;
    signed::check_echoes(
        &config.roster,
        &view,
        echoes.iter().map(|(p, e)| (*p, e.joins.as_slice())),
    )?;
    let digest = config.digest()?;
    let (dh, dh_public) = EphemeralSecret::generate(rng)?;
    let lambda = group::lagrange_at_zero(me, &config.dealers)?;
    // Secret scalars live in `Zeroizing` so every exit path wipes them.
    let secret = Zeroizing::new(group::share_scalar(old.key_package().signing_share())?);
    let mut coefficients: Zeroizing<Vec<Scalar>> =
        Zeroizing::new(Vec::with_capacity(usize::from(config.new_threshold)));
    coefficients.push(lambda * *secret);
    for _ in 1..config.new_threshold {
        coefficients.push(group::random_scalar(rng));
    }
    let points: Vec<Point> = coefficients.iter().map(group::base_mul).collect();
    let commitment = group::commitment_from_points(&points)?;
    let signed = identity.sign(dealing_digest(config, me, &commitment, &dh_public)?);
    let mut shares = Vec::with_capacity(config.new_committee.len());
    for (to, key) in &keys {
        let value = Zeroizing::new(group::evaluate(&coefficients, &group::scalar_of(*to)?));
        let plaintext = Zeroizing::new(group::signing_share(&value)?.serialize());
        let key = dh.directional_key(key, &digest, SHARE_LABEL, me, *to)?;
        shares.push(EncryptedShare {
            session: config.session,
            to: *to,
            ciphertext: pairwise::seal(
                &key,
                &share_aad(&config.session, &agreed, me, *to),
                &plaintext,
            )?,
        });
    }
    Ok((
        DealerCommitment {
            session: config.session,
            commitment,
            dh_public,
            signature: signed.signature,
        },
        shares,
    ))
}

/// A new holder waiting for the other new holders' join keys.
#[derive(Debug)]
pub struct ExpectJoins {
    config: ReshareConfig,
    me: ParticipantId,
    old_public: PublicKeyPackage,
    dh: EphemeralSecret,
    own: [u8; 32],
    own_signed: SignedDigest,
}

/// Join a reshare as new holder `me`, signing the join with `identity`
/// (the key the roster binds `me` to). `old_public` is the old epoch's
/// public key package (public; from the journal). Broadcast the returned
/// [`JoinMessage`] to the dealers and the other new holders.
pub fn join<R: RngCore + CryptoRng>(
    config: ReshareConfig,
    me: ParticipantId,
    identity: &NodeIdentity,
    old_public: &PublicKeyPackage,
    rng: &mut R,
) -> Result<(ExpectJoins, JoinMessage)> {
    config.validate_new()?;
    if !config.new_committee.contains(&me) {
        return Err(Usage::NotAMember(me).into());
    }
    if config.roster.node(me) != Some(identity.node_id()) {
        return Err(Usage::WrongIdentity(me).into());
    }
    let old_threshold = old_public
        .min_signers()
        .ok_or_else(|| Error::Crypto("old public key package has no threshold".into()))?;
    let old_committee = config
        .dealers
        .iter()
        .filter(|d| {
            group::identifier(**d)
                .map(|id| old_public.verifying_shares().contains_key(&id))
                .unwrap_or(false)
        })
        .copied()
        .collect();
    config.validate_dealers(old_threshold, &old_committee)?;
    let (dh, dh_public) = EphemeralSecret::generate(rng)?;
    let own_signed = identity.sign(join_digest(&config, me, &dh_public)?);
    let message = JoinMessage {
        session: config.session,
        dh_public,
        signature: own_signed.signature,
    };
    Ok((
        ExpectJoins {
            config,
            me,
            old_public: old_public.clone(),
            dh,
            own: dh_public,
            own_signed,
        },
        message,
    ))
}

impl ExpectJoins {
    /// Take the other new holders' joins (ours may be included), check
    /// their signatures and echo the whole signed join set, our own
    /// included, to the dealers.
    pub fn receive_joins(
        self,
        joins: &[Authenticated<JoinMessage>],
    ) -> Result<(ExpectDealings, JoinEcho)> {
        let others = collect_from_others(
            &self.config.roster,
            &self.config.session,
            &self.config.new_committee,
            Some(self.me),
            joins,
            |j| j.session,
        )?;
        let (mut view, mut keys) = accept_joins(&self.config, &others)?;
        keys.insert(self.me, self.own);
        view.insert(self.me, self.own_signed);
        let joins = join_transcript(&self.config, &keys)?;
        let echo = JoinEcho {
            session: self.config.session,
            joins: signed::echo_of(&view),
        };
        Ok((
            ExpectDealings {
                config: self.config,
                me: self.me,
                old_public: self.old_public,
                dh: self.dh,
                join_view: view,
                joins,
            },
            echo,
        ))
    }
}

/// A new holder waiting for every dealer's commitment and sub-share.
#[derive(Debug)]
pub struct ExpectDealings {
    config: ReshareConfig,
    me: ParticipantId,
    old_public: PublicKeyPackage,
    dh: EphemeralSecret,
    /// The signed joins we accepted and echoed.
    join_view: BTreeMap<ParticipantId, SignedDigest>,
    /// The join transcript we echoed.
    joins: [u8; 32],
}

impl ExpectDealings {
    /// Compare the other new holders' join echoes with ours (ours may be
    /// included): a holder that showed peers two join keys is named by
    /// its two signatures, an echo carrying an unsigned join names the
    /// echoer.
    pub fn check_join_echoes(&self, echoes: &[Authenticated<JoinEcho>]) -> Result<()> {
        let echoes = collect_from_others(
            &self.config.roster,
            &self.config.session,
            &self.config.new_committee,
            Some(self.me),
            echoes,
            |e| e.session,
        )?;
        signed::check_echoes(
            &self.config.roster,
            &self.join_view,
            echoes.iter().map(|(p, e)| (*p, e.joins.as_slice())),
        )
    }

    /// Decrypt and verify every dealing and derive the new share, held back
    /// until [`ExpectConfirmations::confirm`]. Sub-shares addressed to other
    /// holders are ignored.
    pub fn receive(
        self,
        commitments: &[Authenticated<DealerCommitment>],
        shares: &[Authenticated<EncryptedShare>],
    ) -> Result<(ExpectConfirmations, ReshareEcho)> {
        let session = self.config.session;
        let dealers = &self.config.dealers;
        let roster = &self.config.roster;
        let digest = self.config.digest()?;
        let commitments =
            collect_from_others(roster, &session, dealers, None, commitments, |c| c.session)?;
        let mine: Vec<Authenticated<EncryptedShare>> = shares
            .iter()
            .filter(|s| s.message.to == self.me)
            .cloned()
            .collect();
        let mine = collect_from_others(roster, &session, dealers, None, &mine, |s| s.session)?;
        let mut transcript = Sha256::new();
        transcript.update(TRANSCRIPT_LABEL);
        transcript.update(digest);
        transcript.update(self.joins);
        let my_id = group::identifier(self.me)?;
        let t_new = usize::from(self.config.new_threshold);

        let mut sum_share =
            Zeroizing::new(<frost_ed25519::Ed25519ScalarField as frost_ed25519::Field>::zero());
        let mut sum_points: Vec<Option<Point>> = vec![None; t_new];
        let mut dealing_view = BTreeMap::new();
        for (dealer, c) in &commitments {
            let signed_digest = dealing_digest(&self.config, *dealer, &c.commitment, &c.dh_public)?;
            dealing_view.insert(
                *dealer,
                signed::accept_direct(roster, *dealer, signed_digest, c.signature)?,
            );
            let points = group::commitment_points(&c.commitment)
                .map_err(|e| Error::violation(*dealer, Violation::Malformed(e.to_string())))?;
            if points.len() != t_new {
                return Err(Error::violation(
                    *dealer,
                    Violation::WrongCommitmentLength {
                        expected: t_new,
                        got: points.len(),
                    },
                ));
            }
            let old_share = self
                .old_public
                .verifying_shares()
                .get(&group::identifier(*dealer)?)
                .ok_or(Usage::NotAMember(*dealer))?;
            let lambda = group::lagrange_at_zero(*dealer, dealers)?;
            let expected = group::verifying_share_point(old_share)? * lambda;
            if points.first() != Some(&expected) {
                return Err(Error::violation(*dealer, Violation::WrongDealtSecret));
            }
            let sub = mine
                .get(dealer)
                .ok_or_else(|| Error::violation(*dealer, Violation::Missing))?;
            let key = self
                .dh
                .directional_key(&c.dh_public, &digest, SHARE_LABEL, *dealer, self.me)
                .map_err(|_| {
                    Error::violation(*dealer, Violation::Malformed("DH public value".into()))
                })?;
            let plaintext = pairwise::open(
                &key,
                &share_aad(&session, &self.joins, *dealer, self.me),
                &sub.ciphertext,
            )
            .ok_or_else(|| Error::violation(*dealer, Violation::UndecryptablePackage))?;
            let sub_share = SigningShare::deserialize(&plaintext)
                .map_err(|e| Error::violation(*dealer, Violation::Malformed(e.to_string())))?;
            transcript.update(dealer.0.to_be_bytes());
            for p in &points {
                transcript.update(group::point_bytes(p)?);
            }
            transcript.update(c.dh_public);
            SecretShare::new(my_id, sub_share, c.commitment.clone())
                .verify()
                .map_err(|_| Error::violation(*dealer, Violation::InvalidShare))?;
            *sum_share += group::share_scalar(&sub_share)?;
            for (acc, p) in sum_points.iter_mut().zip(points) {
                *acc = Some(match acc.take() {
                    Some(a) => a + p,
                    None => p,
                });
            }
        }
        let sum_points: Vec<Point> = sum_points.into_iter().flatten().collect();
        let group_commitment = group::commitment_from_points(&sum_points)?;
        let ids = self
            .config
            .new_committee
            .iter()
            .map(|p| group::identifier(*p))
            .collect::<Result<BTreeSet<_>>>()?;
        let public =
            PublicKeyPackage::from_commitment(&ids, &group_commitment).map_err(Error::crypto)?;
        if public.verifying_key() != self.old_public.verifying_key() {
            return Err(Error::Crypto(
                "reshare changed the group key; dealings are inconsistent".into(),
            ));
        }
        let signing_share = group::signing_share(&sum_share)?;
        let verifying_share = *public
            .verifying_shares()
            .get(&my_id)
            .ok_or(Usage::NotAMember(self.me))?;
        if group::verifying_share_point(&verifying_share)?
            != group::base_mul(&group::share_scalar(&signing_share)?)
        {
            return Err(Error::Crypto(
                "new share does not match the summed commitment".into(),
            ));
        }
        let key_package = KeyPackage::new(
            my_id,
            signing_share,
            verifying_share,
            *public.verifying_key(),
            self.config.new_threshold,
        );
        let hash: [u8; 32] = transcript.finalize().into();
        let echo = ReshareEcho {
            session,
            joins: self.joins,
            dealings: signed::echo_of(&dealing_view),
        };
        Ok((
            ExpectConfirmations {
                transcript: hash,
                joins: self.joins,
                dealing_view,
                share: AuthorityKeyShare {
                    epoch: KeyEpoch(self.config.old_epoch.0.saturating_add(1)),
                    me: self.me,
                    committee: self.config.new_committee.clone(),
                    key_package,
                    public,
                },
                config: self.config,
            },
            echo,
        ))
    }
}

/// The new share is ready but held back until every other new holder
/// confirms it saw the same dealer commitments.
#[derive(Debug)]
pub struct ExpectConfirmations {
    config: ReshareConfig,
    transcript: [u8; 32],
    /// The join transcript we dealt on.
    joins: [u8; 32],
    /// The signed dealer commitments we accepted.
    dealing_view: BTreeMap<ParticipantId, SignedDigest>,
    share: AuthorityKeyShare,
}

impl ExpectConfirmations {
    /// Our transcript hash.
    pub fn transcript(&self) -> [u8; 32] {
        self.transcript
    }

    /// Check every other new holder's echo; release the new share. A
    /// dealer that showed holders different commitments is named by its
    /// two signatures; an echo of another join transcript or an unsigned
    /// commitment names the echoer.
    pub fn confirm(self, echoes: &[Authenticated<ReshareEcho>]) -> Result<AuthorityKeyShare> {
        let echoes = collect_from_others(
            &self.config.roster,
            &self.config.session,
            &self.config.new_committee,
            Some(self.share.participant()),
            echoes,
            |e| e.session,
        )?;
        if let Some((from, _)) = echoes.iter().find(|(_, e)| e.joins != self.joins) {
            return Err(Error::violation(*from, Violation::TranscriptMismatch));
        }
        signed::check_echoes(
            &self.config.roster,
            &self.dealing_view,
            echoes.iter().map(|(p, e)| (*p, e.dealings.as_slice())),
        )?;
        Ok(self.share)
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
    use crate::dkg::{self, DkgConfig};
    use crate::roster::NodeId;

    fn identity(p: ParticipantId) -> NodeIdentity {
        NodeIdentity::from_secret([p.0 as u8; 32])
    }

    fn node(p: ParticipantId) -> NodeId {
        identity(p).node_id()
    }

    fn tag<M: Clone>(from: ParticipantId, m: &M) -> Authenticated<M> {
        Authenticated::new(node(from), m.clone())
    }

    fn roster(n: u16) -> Roster {
        Roster::new((1..=n).map(|p| (ParticipantId(p), node(ParticipantId(p))))).unwrap()
    }

    fn dkg_2_of_3(rng: &mut ChaCha20Rng) -> Vec<AuthorityKeyShare> {
        let config = DkgConfig {
            session: [2; 32],
            threshold: 2,
            roster: roster(3),
        };
        let mut round1 = Vec::new();
        let mut states = Vec::new();
        for p in config.participants() {
            let (s, m) = dkg::start(config.clone(), p, &identity(p), rng).unwrap();
            states.push((p, s));
            round1.push(tag(p, &m));
        }
        let (states, echoes): (Vec<_>, Vec<_>) = states
            .into_iter()
            .map(|(p, s)| {
                let (s, e) = s.receive_round1(&round1).unwrap();
                ((p, s), tag(p, &e))
            })
            .unzip();
        let mut round2 = Vec::new();
        let mut last = Vec::new();
        for (p, s) in states {
            let (s, m) = s.confirm_transcripts(&echoes).unwrap();
            round2.extend(m.iter().map(|m| tag(p, m)));
            last.push(s);
        }
        last.into_iter()
            .map(|s| s.finish(&round2).unwrap())
            .collect()
    }

    /// A dealer whose encrypted sub-shares are well formed but do not lie
    /// on its committed polynomial is named by every recipient.
    #[test]
    fn sub_share_off_the_committed_polynomial_names_the_dealer() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let old = dkg_2_of_3(&mut rng);
        let config = ReshareConfig {
            session: [3; 32],
            old_epoch: KeyEpoch(0),
            dealers: [ParticipantId(1), ParticipantId(2)].into_iter().collect(),
            new_committee: (1..=3).map(ParticipantId).collect(),
            new_threshold: 2,
            roster: roster(3),
        };
        let mut states = Vec::new();
        let mut joins = Vec::new();
        for p in config.new_committee.clone() {
            let (s, j) = join(
                config.clone(),
                p,
                &identity(p),
                old[0].public_key_package(),
                &mut rng,
            )
            .unwrap();
            states.push((p, s));
            joins.push(tag(p, &j));
        }
        let mut echoes = Vec::new();
        let mut waiting = Vec::new();
        for (p, s) in states {
            let (s, e) = s.receive_joins(&joins).unwrap();
            echoes.push(tag(p, &e));
            waiting.push(s);
        }
        let agreed = waiting[0].joins;
        let (c1, s1) = deal(
            &config,
            &old[0],
            &identity(ParticipantId(1)),
            &joins,
            &echoes,
            &mut rng,
        )
        .unwrap();
        let (mut c2, _) = deal(
            &config,
            &old[1],
            &identity(ParticipantId(2)),
            &joins,
            &echoes,
            &mut rng,
        )
        .unwrap();
        // Dealer 2 keeps its honest commitment but encrypts random values.
        let (dh, dh_public) = EphemeralSecret::generate(&mut rng).unwrap();
        c2.dh_public = dh_public;
        c2.signature = identity(ParticipantId(2))
            .sign(dealing_digest(&config, ParticipantId(2), &c2.commitment, &dh_public).unwrap())
            .signature;
        let digest = config.digest().unwrap();
        let two = ParticipantId(2);
        let s2: Vec<_> = joins
            .iter()
            .map(|j| {
                let to = config.roster.participant(&j.sender).unwrap();
                let bogus = group::signing_share(&group::random_scalar(&mut rng)).unwrap();
                let key = dh
                    .directional_key(&j.message.dh_public, &digest, SHARE_LABEL, two, to)
                    .unwrap();
                let share = EncryptedShare {
                    session: config.session,
                    to,
                    ciphertext: pairwise::seal(
                        &key,
                        &share_aad(&config.session, &agreed, two, to),
                        &bogus.serialize(),
                    )
                    .unwrap(),
                };
                tag(two, &share)
            })
            .collect();
        let mut shares: Vec<_> = s1.iter().map(|s| tag(ParticipantId(1), s)).collect();
        shares.extend(s2);
        let commitments = [tag(ParticipantId(1), &c1), tag(two, &c2)];
        for s in waiting {
            match s.receive(&commitments, &shares) {
                Err(Error::ProtocolViolation {
                    participant,
                    violation: Violation::InvalidShare,
                }) => assert_eq!(participant, two),
                other => panic!("expected dealer 2 blamed, got {other:?}"),
            }
        }
    }
}
