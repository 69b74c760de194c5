//! The long-lived result of DKG or resharing: one participant's share of
//! an authority's threshold key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use frost_ed25519::keys::{KeyPackage, PublicKeyPackage};
use frost_ed25519::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::error::ParticipantId;

/// Key epoch of an authority: 0 after DKG, +1 per reshare or refresh.
/// Nonces and signing requests are bound to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyEpoch(pub u64);

/// One participant's share of an authority key, as produced by a finished
/// DKG or reshare. There is no public constructor: the only way to get one
/// is to run a protocol whose checks passed:
///
/// ```compile_fail,E0451
/// use aura_protocols::{AuthorityKeyShare, KeyEpoch, ParticipantId};
/// fn forge(key_package: frost_ed25519::keys::KeyPackage, public: frost_ed25519::keys::PublicKeyPackage) -> AuthorityKeyShare {
///     AuthorityKeyShare { epoch: KeyEpoch(0), me: ParticipantId(1), committee: Default::default(), key_package, public }
/// }
/// ```
#[derive(Clone)]
pub struct AuthorityKeyShare {
    pub(crate) epoch: KeyEpoch,
    pub(crate) me: ParticipantId,
    pub(crate) committee: BTreeSet<ParticipantId>,
    pub(crate) key_package: KeyPackage,
    pub(crate) public: PublicKeyPackage,
}

impl fmt::Debug for AuthorityKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityKeyShare")
            .field("epoch", &self.epoch)
            .field("me", &self.me)
            .field("committee", &self.committee)
            .field("threshold", &self.threshold())
            .finish_non_exhaustive()
    }
}

impl AuthorityKeyShare {
    /// Key epoch.
    pub fn epoch(&self) -> KeyEpoch {
        self.epoch
    }
    /// Holder of this share.
    pub fn participant(&self) -> ParticipantId {
        self.me
    }
    /// Every holder in this epoch.
    pub fn committee(&self) -> &BTreeSet<ParticipantId> {
        &self.committee
    }
    /// Signers needed.
    pub fn threshold(&self) -> u16 {
        *self.key_package.min_signers()
    }
    /// The authority's public identity; the only thing outsiders see.
    pub fn group_key(&self) -> VerifyingKey {
        *self.public.verifying_key()
    }
    /// The frost key package (secret), for signing with ordinary frost.
    pub fn key_package(&self) -> &KeyPackage {
        &self.key_package
    }
    /// Public verifying shares of the whole committee.
    pub fn public_key_package(&self) -> &PublicKeyPackage {
        &self.public
    }
}

/// Map frost identifiers back to participant ids for a committee.
pub(crate) fn identifier_index(
    committee: &BTreeSet<ParticipantId>,
) -> crate::error::Result<BTreeMap<frost_ed25519::Identifier, ParticipantId>> {
    committee
        .iter()
        .map(|p| Ok((crate::group::identifier(*p)?, *p)))
        .collect()
}
