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
//! new holder: join ─JoinMessage─▶ ExpectDealings ─ReshareEcho─▶ ExpectConfirmations ─▶ AuthorityKeyShare
//! dealer:     deal(JoinMessages) ─▶ DealerCommitment (broadcast) + EncryptedShare (one per new holder)
//! ```
//!
//! Sub-shares are encrypted exactly like DKG round 2 (see `pairwise.rs`):
//! each new holder publishes an ephemeral DH value when joining, each
//! dealer one inside its commitment. New holders echo a hash of the dealer
//! commitments they accepted and only use the new share once every other
//! new holder reported the same set, so the committee cannot end up with
//! inconsistent public key packages.
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
}

impl ReshareConfig {
    /// A refresh: same committee and threshold, the first `t` members deal.
    pub fn refresh(session: [u8; 32], share: &AuthorityKeyShare) -> Self {
        let t = share.threshold();
        ReshareConfig {
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

/// A new holder announces itself and its ephemeral DH value (broadcast).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinMessage {
    /// Run id.
    pub session: [u8; 32],
    /// New holder.
    pub member: ParticipantId,
    /// Ephemeral DH public value for receiving sub-shares.
    pub dh_public: [u8; 32],
}

/// A dealer's broadcast commitment to its polynomial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealerCommitment {
    /// Run id.
    pub session: [u8; 32],
    /// Dealer (old holder).
    pub dealer: ParticipantId,
    /// `C_i0 .. C_i(t'-1)`.
    pub commitment: VerifiableSecretSharingCommitment,
    /// Ephemeral DH public value the sub-shares are encrypted under.
    pub dh_public: [u8; 32],
}

/// One sub-share `f_i(j)`, encrypted from dealer `i` to new holder `j`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedShare {
    /// Run id.
    pub session: [u8; 32],
    /// Dealer.
    pub dealer: ParticipantId,
    /// Recipient (new holder).
    pub to: ParticipantId,
    /// ChaCha20-Poly1305 of the serialized `f_i(j)`.
    pub ciphertext: Vec<u8>,
}

/// A new holder's hash of the dealer commitments it accepted (broadcast
/// to the other new holders).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReshareEcho {
    /// Run id.
    pub session: [u8; 32],
    /// New holder.
    pub from: ParticipantId,
    /// Transcript hash.
    pub hash: [u8; 32],
}

fn share_aad(session: &[u8; 32], dealer: ParticipantId, to: ParticipantId) -> Vec<u8> {
    let mut aad = SHARE_LABEL.to_vec();
    aad.extend_from_slice(session);
    aad.extend_from_slice(&dealer.0.to_be_bytes());
    aad.extend_from_slice(&to.0.to_be_bytes());
    aad
}

/// Deal this old holder's Lagrange-weighted share to the new committee.
/// The old share is only read.
/// `joins` must hold one [`JoinMessage`] per new committee member.
pub fn deal<R: RngCore + CryptoRng>(
    config: &ReshareConfig,
    old: &AuthorityKeyShare,
    joins: &[JoinMessage],
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
    let joins = pick(
        joins,
        &config.new_committee,
        |j| (j.session, j.member),
        &config.session,
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
    let mut shares = Vec::with_capacity(config.new_committee.len());
    for (to, join) in &joins {
        group::decode_point(&join.dh_public)
            .map_err(|_| Error::violation(*to, Violation::Malformed("DH public value".into())))?;
        let value = Zeroizing::new(group::evaluate(&coefficients, &group::scalar_of(*to)?));
        let plaintext = Zeroizing::new(group::signing_share(&value)?.serialize());
        let key = dh.directional_key(&join.dh_public, &digest, SHARE_LABEL, me, *to)?;
        shares.push(EncryptedShare {
            session: config.session,
            dealer: me,
            to: *to,
            ciphertext: pairwise::seal(&key, &share_aad(&config.session, me, *to), &plaintext)?,
        });
    }
    Ok((
        DealerCommitment {
            session: config.session,
            dealer: me,
            commitment,
            dh_public,
        },
        shares,
    ))
}

/// A new holder waiting for every dealer's commitment and sub-share.
#[derive(Debug)]
pub struct ExpectDealings {
    config: ReshareConfig,
    me: ParticipantId,
    old_public: PublicKeyPackage,
    dh: EphemeralSecret,
}

/// Join a reshare as a new holder. `old_public` is the old epoch's public
/// key package (public; from the journal). Broadcast the returned
/// [`JoinMessage`] to the dealers.
pub fn join<R: RngCore + CryptoRng>(
    config: ReshareConfig,
    me: ParticipantId,
    old_public: &PublicKeyPackage,
    rng: &mut R,
) -> Result<(ExpectDealings, JoinMessage)> {
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
        member: me,
        dh_public,
    };
    Ok((
        ExpectDealings {
            config,
            me,
            old_public: old_public.clone(),
            dh,
        },
        message,
    ))
}

fn pick<'a, T: PartialEq>(
    items: &'a [T],
    dealers: &BTreeSet<ParticipantId>,
    meta: impl Fn(&T) -> ([u8; 32], ParticipantId),
    session: &[u8; 32],
) -> Result<BTreeMap<ParticipantId, &'a T>> {
    let mut got: BTreeMap<ParticipantId, &T> = BTreeMap::new();
    for item in items {
        let (s, dealer) = meta(item);
        if s != *session || !dealers.contains(&dealer) {
            return Err(Error::violation(dealer, Violation::Unexpected));
        }
        match got.get(&dealer) {
            Some(prev) if *prev != item => {
                return Err(Error::violation(dealer, Violation::Duplicate))
            }
            Some(_) => {}
            None => {
                got.insert(dealer, item);
            }
        }
    }
    if let Some(d) = dealers.iter().find(|d| !got.contains_key(d)) {
        return Err(Error::violation(*d, Violation::Missing));
    }
    Ok(got)
}

impl ExpectDealings {
    /// Decrypt and verify every dealing and derive the new share, held back
    /// until [`ExpectConfirmations::confirm`]. Sub-shares addressed to other
    /// holders are ignored.
    pub fn receive(
        self,
        commitments: &[DealerCommitment],
        shares: &[EncryptedShare],
    ) -> Result<(ExpectConfirmations, ReshareEcho)> {
        let session = self.config.session;
        let dealers = &self.config.dealers;
        let digest = self.config.digest()?;
        let commitments = pick(commitments, dealers, |c| (c.session, c.dealer), &session)?;
        let mine: Vec<EncryptedShare> =
            shares.iter().filter(|s| s.to == self.me).cloned().collect();
        let mine = pick(&mine, dealers, |s| (s.session, s.dealer), &session)?;
        let mut transcript = Sha256::new();
        transcript.update(TRANSCRIPT_LABEL);
        transcript.update(digest);
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
                &share_aad(&session, *dealer, self.me),
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
            from: self.me,
            hash,
        };
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
    pub fn confirm(self, echoes: &[ReshareEcho]) -> Result<AuthorityKeyShare> {
        let me = self.share.participant();
        let others: BTreeSet<ParticipantId> = self
            .config
            .new_committee
            .iter()
            .filter(|p| **p != me)
            .copied()
            .collect();
        let echoes: Vec<ReshareEcho> = echoes.iter().filter(|e| e.from != me).cloned().collect();
        let echoes = pick(
            &echoes,
            &others,
            |e| (e.session, e.from),
            &self.config.session,
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

    fn dkg_2_of_3(rng: &mut ChaCha20Rng) -> Vec<AuthorityKeyShare> {
        let config = DkgConfig {
            session: [2; 32],
            threshold: 2,
            participants: (1..=3).map(ParticipantId).collect(),
        };
        let mut round1 = Vec::new();
        let mut states = Vec::new();
        for p in config.participants.clone() {
            let (s, m) = dkg::start(config.clone(), p, rng).unwrap();
            states.push(s);
            round1.push(m);
        }
        let (states, echoes): (Vec<_>, Vec<_>) = states
            .into_iter()
            .map(|s| s.receive_round1(&round1).unwrap())
            .unzip();
        let (states, round2): (Vec<_>, Vec<_>) = states
            .into_iter()
            .map(|s| s.confirm_transcripts(&echoes).unwrap())
            .unzip();
        let round2: Vec<_> = round2.concat();
        states
            .into_iter()
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
        };
        let (states, joins): (Vec<_>, Vec<_>) = config
            .new_committee
            .iter()
            .map(|p| join(config.clone(), *p, old[0].public_key_package(), &mut rng).unwrap())
            .unzip();
        let (c1, s1) = deal(&config, &old[0], &joins, &mut rng).unwrap();
        let (mut c2, _) = deal(&config, &old[1], &joins, &mut rng).unwrap();
        // Dealer 2 keeps its honest commitment but encrypts random values.
        let (dh, dh_public) = EphemeralSecret::generate(&mut rng).unwrap();
        c2.dh_public = dh_public;
        let digest = config.digest().unwrap();
        let s2: Vec<EncryptedShare> = joins
            .iter()
            .map(|j| {
                let bogus = group::signing_share(&group::random_scalar(&mut rng)).unwrap();
                let key = dh
                    .directional_key(
                        &j.dh_public,
                        &digest,
                        SHARE_LABEL,
                        ParticipantId(2),
                        j.member,
                    )
                    .unwrap();
                EncryptedShare {
                    session: config.session,
                    dealer: ParticipantId(2),
                    to: j.member,
                    ciphertext: pairwise::seal(
                        &key,
                        &share_aad(&config.session, ParticipantId(2), j.member),
                        &bogus.serialize(),
                    )
                    .unwrap(),
                }
            })
            .collect();
        let shares = [s1, s2].concat();
        for s in states {
            match s.receive(&[c1.clone(), c2.clone()], &shares) {
                Err(Error::ProtocolViolation {
                    participant,
                    violation: Violation::InvalidShare,
                }) => assert_eq!(participant, ParticipantId(2)),
                other => panic!("expected dealer 2 blamed, got {other:?}"),
            }
        }
    }
}
