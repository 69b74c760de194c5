//! Fact envelopes: typed, versioned, signed; verified at the door.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::FactError;

/// Version of the fact envelope format ([`Fact::format`]).
pub const FACT_FORMAT: u16 = 1;

/// Largest encoded [`SignedFact`] accepted, in bytes. Bigger input is
/// refused before it is decoded.
pub const MAX_FACT_LEN: usize = 64 * 1024;

/// Longest fact kind name, in bytes.
pub const MAX_KIND_LEN: usize = 64;

/// What a fact's signature covers: this prefix, then the encoded [`Fact`].
/// The prefix separates fact signatures from every other use of the same
/// key (a FROST group key also signs consensus statements).
const SIGNING_DOMAIN: &[u8] = b"choreo/journal/fact/v1\0";
const ID_DOMAIN: &[u8] = b"choreo/journal/fact-id/v1\0";

/// A fact's identity: SHA-256 over a domain tag and the signed bytes (the
/// encoded [`Fact`]). Two signatures over the same content are one fact.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FactId(pub [u8; 32]);

impl FactId {
    /// The id of the fact whose signed bytes are `content`.
    pub fn of_content(content: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(ID_DOMAIN);
        h.update(content);
        FactId(h.finalize().into())
    }

    /// Lowercase hex, as printed in logs and errors.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for FactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight bytes are plenty to tell facts apart in a log.
        write!(f, "FactId({}…)", hex(self.0.get(..8).unwrap_or(&self.0)))
    }
}

impl fmt::Display for FactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The journal a fact belongs to (an authority's devices, a home). Facts of
/// one scope never enter another scope's journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScopeId(pub [u8; 32]);

/// The Ed25519 public key that signs a fact: the authoring device's node
/// identity, or a threshold group's verifying key (commit facts).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuthorKey(pub [u8; 32]);

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorKey({}…)", hex(self.0.get(..8).unwrap_or(&self.0)))
    }
}

/// A payload type that can travel in a fact. `KIND` names it (stable, at
/// most [`MAX_KIND_LEN`] bytes, e.g. `"aura.epoch-bump"`), `VERSION` is its
/// schema version: a reader decodes a body only when both match.
pub trait FactBody: Serialize + DeserializeOwned {
    /// Stable name of the payload type.
    const KIND: &'static str;
    /// Schema version of the payload type.
    const VERSION: u16;
}

/// The signed content of a fact. Its postcard encoding is what the author
/// signs and what [`FactId`] hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Envelope format, [`FACT_FORMAT`].
    pub format: u16,
    /// The journal this fact belongs to.
    pub scope: ScopeId,
    /// [`FactBody::KIND`] of the body.
    pub kind: String,
    /// [`FactBody::VERSION`] of the body.
    pub kind_version: u16,
    /// Who signs: the device key or the threshold group key.
    pub author: AuthorKey,
    /// The postcard-encoded body.
    pub body: Vec<u8>,
}

impl Fact {
    /// A fact carrying `body`, to be signed by `author`.
    pub fn new<B: FactBody>(
        scope: ScopeId,
        author: AuthorKey,
        body: &B,
    ) -> Result<Self, FactError> {
        let body = postcard::to_stdvec(body).map_err(FactError::Encode)?;
        Ok(Fact {
            format: FACT_FORMAT,
            scope,
            kind: B::KIND.to_owned(),
            kind_version: B::VERSION,
            author,
            body,
        })
    }

    /// The bytes a signer signs (domain tag + encoded fact). A threshold
    /// signer (FROST) signs exactly these bytes with the group key named in
    /// [`author`](Self::author), then calls [`SignedFact::new`].
    pub fn signing_message(&self) -> Result<Vec<u8>, FactError> {
        let content = self.encode()?;
        Ok(signing_message(&content))
    }

    /// The encoded fact (the signed bytes, without the domain tag).
    pub fn encode(&self) -> Result<Vec<u8>, FactError> {
        postcard::to_stdvec(self).map_err(FactError::Encode)
    }

    /// Sign with a device key; `author` must be that key's public half.
    pub fn sign(self, key: &SigningKey) -> Result<VerifiedFact, FactError> {
        if key.verifying_key().to_bytes() != self.author.0 {
            return Err(FactError::AuthorMismatch);
        }
        let content = self.encode()?;
        let signature = key.sign(&signing_message(&content)).to_bytes();
        SignedFact { content, signature }.verify()
    }

    /// Decode the body as `B`, checking kind and version.
    pub fn decode_body<B: FactBody>(&self) -> Result<B, FactError> {
        if self.kind != B::KIND || self.kind_version != B::VERSION {
            return Err(FactError::WrongKind {
                expected: format!("{} v{}", B::KIND, B::VERSION),
                got: format!("{} v{}", self.kind, self.kind_version),
            });
        }
        let (body, rest) = postcard::take_from_bytes(&self.body).map_err(FactError::Malformed)?;
        if !rest.is_empty() {
            return Err(FactError::TrailingBytes(rest.len()));
        }
        Ok(body)
    }
}

fn signing_message(content: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_DOMAIN.len() + content.len());
    m.extend_from_slice(SIGNING_DOMAIN);
    m.extend_from_slice(content);
    m
}

/// A fact as it travels and is stored: the signed bytes and the signature.
/// Not trusted until [`verify`](Self::verify) turns it into a
/// [`VerifiedFact`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedFact {
    /// The encoded [`Fact`].
    pub content: Vec<u8>,
    /// Ed25519 signature over the domain tag and `content`.
    #[serde(with = "signature_bytes")]
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedFact")
            .field("id", &FactId::of_content(&self.content))
            .field("content_len", &self.content.len())
            .finish_non_exhaustive()
    }
}

mod signature_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(sig)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let bytes: &[u8] = <&[u8]>::deserialize(d)?;
        <[u8; 64]>::try_from(bytes)
            .map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"64 bytes"))
    }
}

impl SignedFact {
    /// Content signed elsewhere (e.g. an aggregated FROST signature).
    pub fn new(content: Vec<u8>, signature: [u8; 64]) -> Self {
        SignedFact { content, signature }
    }

    /// Decode the wire form, refusing anything over [`MAX_FACT_LEN`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FactError> {
        if bytes.len() > MAX_FACT_LEN {
            return Err(FactError::TooLarge {
                len: bytes.len(),
                max: MAX_FACT_LEN,
            });
        }
        let (fact, rest) = postcard::take_from_bytes(bytes).map_err(FactError::Malformed)?;
        if !rest.is_empty() {
            return Err(FactError::TrailingBytes(rest.len()));
        }
        Ok(fact)
    }

    /// The wire form.
    pub fn encode(&self) -> Result<Vec<u8>, FactError> {
        postcard::to_stdvec(self).map_err(FactError::Encode)
    }

    /// Length of the wire form without encoding it.
    pub fn encoded_len(&self) -> usize {
        varint_len(self.content.len()) + self.content.len() + 1 + 64
    }

    /// Check size, format and signature (`verify_strict`: no small-order
    /// keys, canonical signatures). The only way to a [`VerifiedFact`], so
    /// an unverified fact can never be stored.
    pub fn verify(self) -> Result<VerifiedFact, FactError> {
        if self.encoded_len() > MAX_FACT_LEN {
            return Err(FactError::TooLarge {
                len: self.encoded_len(),
                max: MAX_FACT_LEN,
            });
        }
        let (fact, rest): (Fact, &[u8]) =
            postcard::take_from_bytes(&self.content).map_err(FactError::Malformed)?;
        if !rest.is_empty() {
            return Err(FactError::TrailingBytes(rest.len()));
        }
        if fact.format != FACT_FORMAT {
            return Err(FactError::UnsupportedFormat(fact.format));
        }
        if fact.kind.len() > MAX_KIND_LEN {
            return Err(FactError::KindTooLong(fact.kind.len()));
        }
        let key = VerifyingKey::from_bytes(&fact.author.0).map_err(|_| FactError::BadAuthorKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signing_message(&self.content), &signature)
            .map_err(|_| FactError::BadSignature {
                author: fact.author,
            })?;
        Ok(VerifiedFact {
            id: FactId::of_content(&self.content),
            fact,
            signed: self,
        })
    }
}

fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// A fact whose signature verified. Fields are private: the only
/// constructor is [`SignedFact::verify`] (or [`Fact::sign`], which
/// verifies), so holding one proves the check ran.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedFact {
    id: FactId,
    fact: Fact,
    signed: SignedFact,
}

impl fmt::Debug for VerifiedFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedFact")
            .field("id", &self.id)
            .field("kind", &self.fact.kind)
            .finish_non_exhaustive()
    }
}

impl VerifiedFact {
    /// The fact's id.
    pub fn id(&self) -> FactId {
        self.id
    }

    /// The decoded content.
    pub fn fact(&self) -> &Fact {
        &self.fact
    }

    /// The wire form (content + signature).
    pub fn signed(&self) -> &SignedFact {
        &self.signed
    }

    /// Decode the body as `B`, checking kind and version.
    pub fn body<B: FactBody>(&self) -> Result<B, FactError> {
        self.fact.decode_body()
    }

    /// The lattice join of two verified copies of one fact (same id, maybe
    /// different signatures: FROST signatures are randomized). The smaller
    /// signature wins, so the choice depends on neither order nor arrival.
    pub(crate) fn join_signature(&mut self, other: &VerifiedFact) {
        if other.id == self.id && other.signed.signature < self.signed.signature {
            self.signed.signature = other.signed.signature;
        }
    }
}

/// A device's signing identity (its node key), for authoring facts.
pub fn author_of(key: &SigningKey) -> AuthorKey {
    AuthorKey(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Note(String);
    impl FactBody for Note {
        const KIND: &'static str = "test.note";
        const VERSION: u16 = 1;
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn encoded_len_matches_the_encoding() {
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let f = SignedFact {
                content: vec![7; n],
                signature: [1; 64],
            };
            assert_eq!(f.encoded_len(), f.encode().unwrap().len(), "content {n}");
        }
    }

    #[test]
    fn signed_fact_round_trips_and_keeps_its_body() {
        let k = key(1);
        let f = Fact::new(ScopeId([9; 32]), author_of(&k), &Note("hi".into()))
            .unwrap()
            .sign(&k)
            .unwrap();
        let wire = f.signed().encode().unwrap();
        let back = SignedFact::decode(&wire).unwrap().verify().unwrap();
        assert_eq!(back.id(), f.id());
        assert_eq!(back.body::<Note>().unwrap(), Note("hi".into()));
    }

    #[test]
    fn a_flipped_content_bit_is_a_bad_signature() {
        let k = key(1);
        let f = Fact::new(ScopeId([9; 32]), author_of(&k), &Note("pay 10".into()))
            .unwrap()
            .sign(&k)
            .unwrap();
        let mut s = f.signed().clone();
        let last = s.content.len() - 1;
        s.content[last] ^= 1;
        assert!(matches!(s.verify(), Err(FactError::BadSignature { .. })));
    }

    #[test]
    fn signing_for_another_author_is_refused() {
        let f = Fact::new(ScopeId([9; 32]), author_of(&key(2)), &Note("x".into())).unwrap();
        assert!(matches!(f.sign(&key(1)), Err(FactError::AuthorMismatch)));
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let bytes = vec![0u8; MAX_FACT_LEN + 1];
        assert!(matches!(
            SignedFact::decode(&bytes),
            Err(FactError::TooLarge { .. })
        ));
    }
}
