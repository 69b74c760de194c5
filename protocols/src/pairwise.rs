//! Point-to-point confidentiality for DKG round 2.
//!
//! Choice: an ephemeral Diffie–Hellman on the Ed25519 group itself (the
//! group frost already gives us), not X25519. Each participant draws an
//! ephemeral scalar `e_i` and broadcasts `E_i = e_i·B` inside its round-1
//! message, so the ephemeral key is covered by the agreed transcript hash.
//! The key for `i → j` is
//! `HKDF-SHA256(salt = transcript, ikm = e_i·E_j, info = label ‖ i ‖ j)`;
//! the direction in `info` makes the two directions use different keys.
//! Each key encrypts exactly one package, so a fixed all-zero nonce is
//! safe. Authenticity of `E_i` rests on the round-1 broadcast being
//! authenticated: every message is attributed to the node its link is
//! authenticated to (`roster.rs`), exactly as frost assumes for its packages.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{ParticipantId, Result};
use crate::group::{self, Scalar};

/// An ephemeral DH secret, wiped on drop.
pub(crate) struct EphemeralSecret(Scalar);

impl Drop for EphemeralSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralSecret(..)")
    }
}

impl EphemeralSecret {
    pub(crate) fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Result<(Self, [u8; 32])> {
        let s = group::random_scalar(rng);
        let public = group::point_bytes(&group::base_mul(&s))?;
        Ok((EphemeralSecret(s), public))
    }

    /// The raw DH secret `e·E_peer` with a peer (symmetric). Fails if the
    /// peer's value is not a valid point of the prime-order group.
    pub(crate) fn agree(&self, peer_public: &[u8; 32]) -> Result<SharedSecret> {
        let peer = group::decode_point(peer_public)?;
        Ok(SharedSecret(Zeroizing::new(group::point_bytes(
            &(peer * self.0),
        )?)))
    }

    /// The key for messages `from → to`, given the peer's public value.
    pub(crate) fn directional_key(
        &self,
        peer_public: &[u8; 32],
        salt: &[u8; 32],
        label: &[u8],
        from: ParticipantId,
        to: ParticipantId,
    ) -> Result<Zeroizing<[u8; 32]>> {
        self.agree(peer_public)?
            .directional_key(salt, label, from, to)
    }
}

/// A DH secret shared with one peer, wiped on drop.
pub(crate) struct SharedSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

impl SharedSecret {
    /// `HKDF-SHA256(salt, shared, label ‖ from ‖ to)`.
    pub(crate) fn directional_key(
        &self,
        salt: &[u8; 32],
        label: &[u8],
        from: ParticipantId,
        to: ParticipantId,
    ) -> Result<Zeroizing<[u8; 32]>> {
        let hk = Hkdf::<Sha256>::new(Some(salt), self.0.as_slice());
        let mut info = Vec::with_capacity(label.len() + 4);
        info.extend_from_slice(label);
        info.extend_from_slice(&from.0.to_be_bytes());
        info.extend_from_slice(&to.0.to_be_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(&info, key.as_mut_slice())
            .map_err(crate::error::Error::crypto_msg)?;
        Ok(key)
    }
}

pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(crate::error::Error::crypto_msg)
}

pub(crate) fn open(key: &[u8; 32], aad: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}
