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
//! Nothing here mutates an old share: an aborted reshare leaves the old
//! epoch fully usable. New holders must agree on the set of dealer
//! commitments (same transcript rule as DKG) before using the new epoch;
//! sub-shares must travel over a confidential channel.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::keys::{
    KeyPackage, PublicKeyPackage, SecretShare, SigningShare, VerifiableSecretSharingCommitment,
};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group::{self, Point, Scalar};
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

/// A dealer's broadcast commitment to its polynomial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealerCommitment {
    /// Run id.
    pub session: [u8; 32],
    /// Dealer (old holder).
    pub dealer: ParticipantId,
    /// `C_i0 .. C_i(t'-1)`.
    pub commitment: VerifiableSecretSharingCommitment,
}

/// One sub-share `f_i(j)`, sent confidentially from dealer `i` to `j`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealtShare {
    /// Run id.
    pub session: [u8; 32],
    /// Dealer.
    pub dealer: ParticipantId,
    /// Recipient (new holder).
    pub to: ParticipantId,
    /// `f_i(j)`.
    pub share: SigningShare,
}

/// Deal this old holder's Lagrange-weighted share to the new committee.
/// The old share is only read.
pub fn deal<R: RngCore + CryptoRng>(
    config: &ReshareConfig,
    old: &AuthorityKeyShare,
    rng: &mut R,
) -> Result<(DealerCommitment, Vec<DealtShare>)> {
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
    let lambda = group::lagrange_at_zero(me, &config.dealers)?;
    let secret = group::share_scalar(old.key_package().signing_share())?;
    let mut coefficients: Vec<Scalar> = Vec::with_capacity(usize::from(config.new_threshold));
    coefficients.push(lambda * secret);
    for _ in 1..config.new_threshold {
        coefficients.push(group::random_scalar(rng));
    }
    let points: Vec<Point> = coefficients.iter().map(group::base_mul).collect();
    let commitment = group::commitment_from_points(&points)?;
    let mut shares = Vec::with_capacity(config.new_committee.len());
    for to in &config.new_committee {
        let value = group::evaluate(&coefficients, &group::scalar_of(*to)?);
        shares.push(DealtShare {
            session: config.session,
            dealer: me,
            to: *to,
            share: group::signing_share(&value)?,
        });
    }
    for c in &mut coefficients {
        zeroize::Zeroize::zeroize(c);
    }
    Ok((
        DealerCommitment {
            session: config.session,
            dealer: me,
            commitment,
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
}

/// Join a reshare as a new holder. `old_public` is the old epoch's public
/// key package (public; from the journal).
pub fn join(
    config: ReshareConfig,
    me: ParticipantId,
    old_public: &PublicKeyPackage,
) -> Result<ExpectDealings> {
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
    Ok(ExpectDealings {
        config,
        me,
        old_public: old_public.clone(),
    })
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
    /// Verify every dealing and derive the new share. Sub-shares addressed
    /// to other holders are ignored.
    pub fn finish(
        self,
        commitments: &[DealerCommitment],
        shares: &[DealtShare],
    ) -> Result<AuthorityKeyShare> {
        let session = self.config.session;
        let dealers = &self.config.dealers;
        let commitments = pick(commitments, dealers, |c| (c.session, c.dealer), &session)?;
        let mine: Vec<DealtShare> = shares.iter().filter(|s| s.to == self.me).cloned().collect();
        let mine = pick(&mine, dealers, |s| (s.session, s.dealer), &session)?;
        let my_id = group::identifier(self.me)?;
        let t_new = usize::from(self.config.new_threshold);

        let mut sum_share = <frost_ed25519::Ed25519ScalarField as frost_ed25519::Field>::zero();
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
            SecretShare::new(my_id, sub.share, c.commitment.clone())
                .verify()
                .map_err(|_| Error::violation(*dealer, Violation::InvalidShare))?;
            sum_share += group::share_scalar(&sub.share)?;
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
        zeroize::Zeroize::zeroize(&mut sum_share);
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
        Ok(AuthorityKeyShare {
            epoch: KeyEpoch(self.config.old_epoch.0.saturating_add(1)),
            me: self.me,
            committee: self.config.new_committee,
            key_package,
            public,
        })
    }
}
