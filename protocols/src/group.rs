//! Scalar and point arithmetic on the Ed25519 group, through the types
//! frost-ed25519 already exposes (so we share its curve25519-dalek version
//! and never depend on the curve crate directly).

use std::collections::BTreeSet;

use frost_ed25519::keys::{SigningShare, VerifiableSecretSharingCommitment, VerifyingShare};
use frost_ed25519::{Ed25519Group, Ed25519ScalarField, Field, Group, Identifier};
use rand::{CryptoRng, RngCore};

use crate::error::{Error, ParticipantId, Result, Usage};

/// A scalar mod the group order.
pub(crate) type Scalar = <Ed25519ScalarField as Field>::Scalar;
/// A point of the prime-order subgroup.
pub(crate) type Point = <Ed25519Group as Group>::Element;

pub(crate) fn identifier(id: ParticipantId) -> Result<Identifier> {
    Identifier::try_from(id.0).map_err(|_| Error::Usage(Usage::ZeroParticipant))
}

pub(crate) fn scalar_of(id: ParticipantId) -> Result<Scalar> {
    let bytes = identifier(id)?.serialize();
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(Error::crypto_msg)?;
    Ed25519ScalarField::deserialize(&arr).map_err(Error::crypto)
}

pub(crate) fn random_scalar<R: RngCore + CryptoRng>(rng: &mut R) -> Scalar {
    <Ed25519ScalarField as Field>::random(rng)
}

pub(crate) fn base_mul(s: &Scalar) -> Point {
    Ed25519Group::generator() * *s
}

pub(crate) fn point_bytes(p: &Point) -> Result<[u8; 32]> {
    Ed25519Group::serialize(p).map_err(Error::crypto)
}

/// Lagrange coefficient at zero of `me` within `set`.
pub(crate) fn lagrange_at_zero(me: ParticipantId, set: &BTreeSet<ParticipantId>) -> Result<Scalar> {
    let xi = scalar_of(me)?;
    let mut num = <Ed25519ScalarField as Field>::one();
    let mut den = <Ed25519ScalarField as Field>::one();
    for j in set.iter().filter(|j| **j != me) {
        let xj = scalar_of(*j)?;
        num *= xj;
        den *= xj - xi;
    }
    let inv = <Ed25519ScalarField as Field>::invert(&den).map_err(Error::crypto)?;
    Ok(num * inv)
}

/// Evaluate a polynomial (constant term first) at `x` (Horner).
pub(crate) fn evaluate(coefficients: &[Scalar], x: &Scalar) -> Scalar {
    coefficients
        .iter()
        .rev()
        .fold(<Ed25519ScalarField as Field>::zero(), |acc, c| acc * x + c)
}

pub(crate) fn signing_share(s: &Scalar) -> Result<SigningShare> {
    SigningShare::deserialize(&Ed25519ScalarField::serialize(s)).map_err(Error::crypto)
}

pub(crate) fn share_scalar(share: &SigningShare) -> Result<Scalar> {
    let bytes = share.serialize();
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(Error::crypto_msg)?;
    Ed25519ScalarField::deserialize(&arr).map_err(Error::crypto)
}

pub(crate) fn verifying_share_point(share: &VerifyingShare) -> Result<Point> {
    let bytes = share.serialize().map_err(Error::crypto)?;
    decode_point(&bytes)
}

pub(crate) fn decode_point(bytes: &[u8]) -> Result<Point> {
    let arr: [u8; 32] = bytes.try_into().map_err(Error::crypto_msg)?;
    Ed25519Group::deserialize(&arr).map_err(Error::crypto)
}

/// The coefficient commitments of a VSS commitment, as points.
pub(crate) fn commitment_points(c: &VerifiableSecretSharingCommitment) -> Result<Vec<Point>> {
    c.serialize()
        .map_err(Error::crypto)?
        .iter()
        .map(|b| decode_point(b))
        .collect()
}

pub(crate) fn commitment_from_points(
    points: &[Point],
) -> Result<VerifiableSecretSharingCommitment> {
    let bytes = points.iter().map(point_bytes).collect::<Result<Vec<_>>>()?;
    VerifiableSecretSharingCommitment::deserialize(bytes).map_err(Error::crypto)
}
