//! The channel root between two authorities: a threshold Diffie–Hellman
//! of their group keys.
//!
//! Authority A has group secret `s_A` (shared, threshold `t`) and group
//! key `Y_A = s_A·B`; likewise B. The root point is
//! `s_A·Y_B = s_A·s_B·B = s_B·Y_A`, computed by either side without either
//! secret ever being assembled:
//!
//! * each of `t` holders `i` of A publishes the partial `P_i = s_i·Y_B`
//!   with a DLEQ proof (Chaum–Pedersen, made non-interactive by
//!   Fiat–Shamir) that `log_B(Y_i) = log_{Y_B}(P_i)`, where `Y_i = s_i·B`
//!   is the holder's public verifying share;
//! * whoever combines checks every proof (a bad partial is rejected naming
//!   its holder) and computes `Σ λ_i·P_i = s_A·Y_B` (Lagrange at zero over
//!   the holders used).
//!
//! Any `t` holders give the same point, and resharing (new shares, same
//! group secret) does not change it, so an authority that lost every device
//! recomputes the root with the shares its recovery reshared to it.
//!
//! DLEQ transcript (SHA-512, reduced mod ℓ from 64 bytes):
//! `c = H("aura/amp/v1/root-dleq" ‖ Y_A ‖ Y_B ‖ i ‖ Y_i ‖ P_i ‖ R_1 ‖ R_2)`
//! with `R_1 = k·B`, `R_2 = k·Y_B`, response `z = k + c·s_i`. The verifier
//! recomputes `R_1 = z·B − c·Y_i`, `R_2 = z·Y_B − c·P_i` and checks `c`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, ParticipantId, Result, Usage, Violation};
use crate::group;
use crate::share::AuthorityKeyShare;

const DLEQ_LABEL: &[u8] = b"aura/amp/v1/root-dleq";

/// One holder's contribution `P_i = s_i·Y_B` with its DLEQ proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootPartial {
    /// `P_i`, compressed.
    pub point: [u8; 32],
    /// Fiat–Shamir challenge `c`.
    pub challenge: [u8; 32],
    /// Response `z = k + c·s_i`.
    pub response: [u8; 32],
}

/// The shared root point of a channel between two authorities. Only
/// [`combine`] makes one, from verified partials.
pub struct ChannelRoot {
    point: Zeroizing<[u8; 32]>,
    /// The two group keys, sorted, so both sides derive the same keys.
    pair: ([u8; 32], [u8; 32]),
}

impl fmt::Debug for ChannelRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelRoot(..)")
    }
}

impl PartialEq for ChannelRoot {
    fn eq(&self, other: &Self) -> bool {
        *self.point == *other.point && self.pair == other.pair
    }
}

impl ChannelRoot {
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.point
    }

    pub(crate) fn pair(&self) -> &([u8; 32], [u8; 32]) {
        &self.pair
    }

    /// A one-way fingerprint, safe to log and compare.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(b"aura/amp/v1/root-fingerprint");
        h.update(self.point.as_slice());
        h.finalize().into()
    }
}

fn decode(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*bytes)
        .decompress()
        .filter(|p| p.is_torsion_free() && !p.is_identity())
}

fn key_bytes(key: &VerifyingKey) -> Result<[u8; 32]> {
    let bytes = key.serialize().map_err(Error::crypto)?;
    bytes.as_slice().try_into().map_err(Error::crypto_msg)
}

fn peer_point(peer: &VerifyingKey) -> Result<EdwardsPoint> {
    decode(&key_bytes(peer)?)
        .ok_or_else(|| Error::Crypto("peer group key is not a valid point".into()))
}

fn challenge(
    own_key: &[u8; 32],
    peer_key: &[u8; 32],
    holder: ParticipantId,
    verifying_share: &EdwardsPoint,
    partial: &EdwardsPoint,
    r1: &EdwardsPoint,
    r2: &EdwardsPoint,
) -> Scalar {
    let mut h = Sha512::new();
    h.update(DLEQ_LABEL);
    h.update(own_key);
    h.update(peer_key);
    h.update(holder.0.to_be_bytes());
    for p in [verifying_share, partial, r1, r2] {
        h.update(p.compress().as_bytes());
    }
    let wide: [u8; 64] = h.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Holder `share` of authority A computes its partial toward authority B
/// (group key `peer`), with its DLEQ proof.
pub fn partial<R: RngCore + CryptoRng>(
    share: &AuthorityKeyShare,
    peer: &VerifyingKey,
    rng: &mut R,
) -> Result<RootPartial> {
    let y_b = peer_point(peer)?;
    let secret_bytes = Zeroizing::new(share.key_package().signing_share().serialize());
    let arr: Zeroizing<[u8; 32]> = Zeroizing::new(
        secret_bytes
            .as_slice()
            .try_into()
            .map_err(Error::crypto_msg)?,
    );
    let mut s_i = Option::<Scalar>::from(Scalar::from_canonical_bytes(*arr))
        .ok_or_else(|| Error::Crypto("signing share is not a canonical scalar".into()))?;
    let y_i = EdwardsPoint::mul_base(&s_i);
    let p_i = s_i * y_b;
    let mut wide = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(wide.as_mut_slice());
    let mut k = Scalar::from_bytes_mod_order_wide(&wide);
    let (r1, r2) = (EdwardsPoint::mul_base(&k), k * y_b);
    let c = challenge(
        &key_bytes(&share.group_key())?,
        &key_bytes(peer)?,
        share.participant(),
        &y_i,
        &p_i,
        &r1,
        &r2,
    );
    let z = k + c * s_i;
    k.zeroize();
    s_i.zeroize();
    Ok(RootPartial {
        point: p_i.compress().to_bytes(),
        challenge: c.to_bytes(),
        response: z.to_bytes(),
    })
}

/// Check one partial of `holder` against its verifying share in `public`.
pub fn verify_partial(
    public: &PublicKeyPackage,
    peer: &VerifyingKey,
    holder: ParticipantId,
    partial: &RootPartial,
) -> Result<()> {
    let bad = || Error::violation(holder, Violation::InvalidRootPartial);
    let y_b = peer_point(peer)?;
    let share = public
        .verifying_shares()
        .get(&group::identifier(holder)?)
        .ok_or_else(|| Error::violation(holder, Violation::Unexpected))?;
    let y_i = decode(&key_bytes_of_share(share)?).ok_or_else(bad)?;
    let p_i = decode(&partial.point).ok_or_else(bad)?;
    let c =
        Option::<Scalar>::from(Scalar::from_canonical_bytes(partial.challenge)).ok_or_else(bad)?;
    let z =
        Option::<Scalar>::from(Scalar::from_canonical_bytes(partial.response)).ok_or_else(bad)?;
    let r1 = EdwardsPoint::mul_base(&z) - c * y_i;
    let r2 = z * y_b - c * p_i;
    let expected = challenge(
        &key_bytes(public.verifying_key())?,
        &key_bytes(peer)?,
        holder,
        &y_i,
        &p_i,
        &r1,
        &r2,
    );
    if expected == c {
        Ok(())
    } else {
        Err(bad())
    }
}

fn key_bytes_of_share(share: &frost_ed25519::keys::VerifyingShare) -> Result<[u8; 32]> {
    let bytes = share.serialize().map_err(Error::crypto)?;
    bytes.as_slice().try_into().map_err(Error::crypto_msg)
}

/// Verify the partials of authority A's holders (keyed by the participant
/// each arrived authenticated from) and combine them into the root. Needs
/// at least A's threshold of partials; every partial given must verify.
pub fn combine(
    public: &PublicKeyPackage,
    peer: &VerifyingKey,
    partials: &BTreeMap<ParticipantId, RootPartial>,
) -> Result<ChannelRoot> {
    let threshold = public
        .min_signers()
        .ok_or_else(|| Error::Crypto("public key package has no threshold".into()))?;
    if partials.len() < usize::from(threshold) {
        return Err(Usage::WrongDealerCount {
            needed: threshold,
            got: partials.len(),
        }
        .into());
    }
    let holders: BTreeSet<ParticipantId> = partials.keys().copied().collect();
    let mut sum = EdwardsPoint::identity();
    for (holder, p) in partials {
        verify_partial(public, peer, *holder, p)?;
        let point = decode(&p.point)
            .ok_or_else(|| Error::violation(*holder, Violation::InvalidRootPartial))?;
        let lambda = group::lagrange_at_zero(*holder, &holders)?;
        sum += lambda * point;
    }
    let own = key_bytes(public.verifying_key())?;
    let other = key_bytes(peer)?;
    Ok(ChannelRoot {
        point: Zeroizing::new(sum.compress().to_bytes()),
        pair: if own <= other {
            (own, other)
        } else {
            (other, own)
        },
    })
}
