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
//! dealt: every new holder hashes the join set it received (its own key
//! included) with the roster and echoes the hash ([`JoinEcho`]); a dealer
//! deals only if every new holder's echo equals its own hash of the joins
//! it received. A relay that swaps a holder's join key makes that holder's
//! echo differ (or is itself named as the sender of a second join), so no
//! share is ever encrypted to a key outside the agreed transcript. New
//! holders then echo a hash of the join transcript and the dealer
//! commitments they accepted ([`ReshareEcho`]) and only use the new share
//! once every other new holder reported the same, so the committee cannot
//! end up with inconsistent public key packages.
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
}

/// A new holder's hash of the join set it received, its own key included
/// (broadcast to the dealers). Dealers deal only when every echo matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinEcho {
    /// Run id.
    pub session: [u8; 32],
    /// [`join_transcript`] of what the holder received.
    pub hash: [u8; 32],
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

/// A new holder's hash of the join transcript and the dealer commitments
/// it accepted (broadcast to the other new holders).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareEcho {
    /// Run id.
    pub session: [u8; 32],
    /// Transcript hash.
    pub hash: [u8; 32],
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

/// Deal this old holder's Lagrange-weighted share to the new committee.
/// The old share is only read.
///
/// `joins` must hold one [`JoinMessage`] per new committee member (a
/// holder that is also this dealer included) and `echoes` one
/// [`JoinEcho`] per new committee member; nothing is dealt unless every
/// echo equals this dealer's hash of the joins, so every sub-share goes to
/// a key the whole new committee agreed on.
pub fn deal<R: RngCore + CryptoRng>(
    config: &ReshareConfig,
    old: &AuthorityKeyShare,
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
    let mut keys = BTreeMap::new();
    for (to, join) in &joins {
        group::decode_point(&join.dh_public)
            .map_err(|_| Error::violation(*to, Violation::Malformed("DH public value".into())))?;
        keys.insert(*to, join.dh_public);
    }
    let agreed = join_transcript(config, &keys)?;
    let echoes = collect_from_others(
        &config.roster,
        &config.session,
        &config.new_committee,
        None,
        echoes,
        |e| e.session,
    )?;
    if let Some((holder, _)) = echoes.iter().find(|(_, e)| e.hash != agreed) {
        return Err(Error::violation(*holder, Violation::TranscriptMismatch));
    }
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
}

/// Join a reshare as a new holder. `old_public` is the old epoch's public
/// key package (public; from the journal). Broadcast the returned
/// [`JoinMessage`] to the dealers and the other new holders.
pub fn join<R: RngCore + CryptoRng>(
    config: ReshareConfig,
    me: ParticipantId,
    old_public: &PublicKeyPackage,
    rng: &mut R,
) -> Result<(ExpectJoins, JoinMessage)> {
    config.validate_new()?;
    if !config.new_committee.contains(&me) {
        return Err(Usage::NotAMember(me).into());
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
    let message = JoinMessage {
        session: config.session,
        dh_public,
    };
    Ok((
        ExpectJoins {
            config,
            me,
            old_public: old_public.clone(),
            dh,
            own: dh_public,
        },
        message,
    ))
}

impl ExpectJoins {
    /// Take the other new holders' joins (ours may be included) and echo
    /// the hash of the whole join set, our own key included, to the dealers.
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
        let mut keys: BTreeMap<ParticipantId, [u8; 32]> =
            others.iter().map(|(p, j)| (*p, j.dh_public)).collect();
        keys.insert(self.me, self.own);
        let joins = join_transcript(&self.config, &keys)?;
        let echo = JoinEcho {
            session: self.config.session,
            hash: joins,
        };
        Ok((
            ExpectDealings {
                config: self.config,
                me: self.me,
                old_public: self.old_public,
                dh: self.dh,
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
    /// The join transcript we echoed.
    joins: [u8; 32],
}

impl ExpectDealings {
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
        for (dealer, c) in &commitments {
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
        let echo = ReshareEcho { session, hash };
        Ok((
            ExpectConfirmations {
                transcript: hash,
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
    share: AuthorityKeyShare,
}

impl ExpectConfirmations {
    /// Our transcript hash.
    pub fn transcript(&self) -> [u8; 32] {
        self.transcript
    }

    /// Check every other new holder's echo; release the new share.
    pub fn confirm(self, echoes: &[Authenticated<ReshareEcho>]) -> Result<AuthorityKeyShare> {
        let echoes = collect_from_others(
            &self.config.roster,
            &self.config.session,
            &self.config.new_committee,
            Some(self.share.participant()),
            echoes,
            |e| e.session,
        )?;
        if let Some((from, _)) = echoes.iter().find(|(_, e)| e.hash != self.transcript) {
            return Err(Error::violation(*from, Violation::TranscriptMismatch));
        }
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

    fn node(p: ParticipantId) -> NodeId {
        NodeId([p.0 as u8; 32])
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
            let (s, m) = dkg::start(config.clone(), p, rng).unwrap();
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
            let (s, j) = join(config.clone(), p, old[0].public_key_package(), &mut rng).unwrap();
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
        let (c1, s1) = deal(&config, &old[0], &joins, &echoes, &mut rng).unwrap();
        let (mut c2, _) = deal(&config, &old[1], &joins, &echoes, &mut rng).unwrap();
        // Dealer 2 keeps its honest commitment but encrypts random values.
        let (dh, dh_public) = EphemeralSecret::generate(&mut rng).unwrap();
        c2.dh_public = dh_public;
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
