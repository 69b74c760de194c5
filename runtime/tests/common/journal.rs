//! Facts for journal tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use choreo_runtime::journal::{
    author_of, AuthorKey, Fact, FactBody, ScopeId, SignedFact, VerifiedFact,
};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

pub const SCOPE: ScopeId = ScopeId([7; 32]);

/// A test payload: a counter and some text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub n: u64,
    pub text: String,
}

impl FactBody for Note {
    const KIND: &'static str = "test.note";
    const VERSION: u16 = 1;
}

pub fn device(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn note(key: &SigningKey, n: u64, text: &str) -> VerifiedFact {
    Fact::new(
        SCOPE,
        author_of(key),
        &Note {
            n,
            text: text.to_owned(),
        },
    )
    .unwrap()
    .sign(key)
    .unwrap()
}

/// `count` distinct facts from three devices.
pub fn notes(count: u64) -> Vec<VerifiedFact> {
    let keys = [device(1), device(2), device(3)];
    (0..count)
        .map(|i| note(&keys[(i % 3) as usize], i, &format!("note {i}")))
        .collect()
}

/// A 2-of-3 FROST group (keys from a trusted dealer): its aggregated
/// signatures verify as plain Ed25519 under the group key, which is how a
/// journal sees a threshold-signed (commit) fact.
pub struct FrostGroup {
    packages:
        std::collections::BTreeMap<frost_ed25519::Identifier, frost_ed25519::keys::KeyPackage>,
    public: frost_ed25519::keys::PublicKeyPackage,
    rng: rand_chacha::ChaCha20Rng,
}

impl FrostGroup {
    pub fn new(seed: u64) -> Self {
        use frost_ed25519 as frost;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let (shares, public) =
            frost::keys::generate_with_dealer(3, 2, frost::keys::IdentifierList::Default, &mut rng)
                .unwrap();
        let packages = shares
            .into_iter()
            .take(2)
            .map(|(id, s)| (id, frost::keys::KeyPackage::try_from(s).unwrap()))
            .collect();
        FrostGroup {
            packages,
            public,
            rng,
        }
    }

    /// The group's verifying key, as a fact author.
    pub fn key(&self) -> AuthorKey {
        AuthorKey(
            self.public
                .verifying_key()
                .serialize()
                .unwrap()
                .try_into()
                .unwrap(),
        )
    }

    /// Two of the three shares sign `fact` (fresh nonces: every call gives
    /// another valid signature).
    pub fn sign(&mut self, fact: &Fact) -> VerifiedFact {
        use frost_ed25519 as frost;
        use std::collections::BTreeMap;
        let message = fact.signing_message().unwrap();
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for (id, kp) in &self.packages {
            let (n, c) = frost::round1::commit(kp.signing_share(), &mut self.rng);
            nonces.insert(*id, n);
            commitments.insert(*id, c);
        }
        let package = frost::SigningPackage::new(commitments, &message);
        let shares: BTreeMap<_, _> = self
            .packages
            .iter()
            .map(|(id, kp)| (*id, frost::round2::sign(&package, &nonces[id], kp).unwrap()))
            .collect();
        let sig = frost::aggregate(&package, &shares, &self.public).unwrap();
        let sig: [u8; 64] = sig.serialize().unwrap().try_into().unwrap();
        SignedFact::new(fact.encode().unwrap(), sig)
            .verify()
            .unwrap()
    }
}
