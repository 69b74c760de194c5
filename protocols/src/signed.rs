//! Accountable echoes: first-round values signed with the sender's node
//! identity key, so a split view names the node that caused it.
//!
//! DKG round 1 and the reshare joins and dealer commitments carry values
//! that later secrets are sealed to (DH keys) or checked against
//! (commitments). Each sender signs the digest of its value — a digest
//! that binds the run, the step and the sender — with the Ed25519 key its
//! links are authenticated to. Receivers verify the signature against the
//! node the roster binds the authenticated sender to, and then echo every
//! signed digest they accepted. Comparing an echo with one's own view:
//!
//! * equal digests: agreement (no signature check on the happy path);
//! * a different digest whose signature verifies under the named
//!   participant's node key: that participant signed two values for one
//!   step — [`Violation::Equivocated`], a proof anyone can check;
//! * a different digest whose signature does not verify: the echoer
//!   rewrote or forged it — [`Violation::ForgedEcho`] names the echoer.
//!
//! A hostile node that shows one peer another DH key is thus named by
//! every honest node, and an honest node can never be framed: nobody can
//! produce its signature on a value it did not send.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ParticipantId, Result, Violation};
use crate::roster::{NodeId, Roster};

/// A node's long-term identity key: the Ed25519 key whose public half is
/// its [`NodeId`] (the key behind its libp2p PeerId). Signs the values a
/// run's echo must agree on. The secret never leaves this type.
pub struct NodeIdentity {
    key: SigningKey,
}

impl NodeIdentity {
    /// The identity with Ed25519 secret key `secret` (32 bytes, as in a
    /// key file).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        NodeIdentity {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The node id (public key) of this identity.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }

    /// Sign `digest` (a value's digest, already bound to its run and step:
    /// [`crate::dkg::round1_digest`], [`crate::reshare::join_digest`],
    /// [`crate::reshare::dealing_digest`]).
    pub fn sign(&self, digest: [u8; 32]) -> SignedDigest {
        let bytes = self.key.sign(&digest).to_bytes();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        let (a, b) = bytes.split_at(32);
        r.copy_from_slice(a);
        s.copy_from_slice(b);
        SignedDigest {
            digest,
            signature: IdentitySignature([r, s]),
        }
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeIdentity({})", self.node_id())
    }
}

/// An Ed25519 signature by a node identity key (R and s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySignature(pub [[u8; 32]; 2]);

/// A value's digest and its sender's identity signature over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDigest {
    /// Digest of the value (bound to run, step and sender).
    pub digest: [u8; 32],
    /// The sender's signature over `digest`.
    pub signature: IdentitySignature,
}

impl SignedDigest {
    /// Whether the signature verifies under `node`'s key (strict: no
    /// malleable or small-order encodings).
    pub fn verifies_under(&self, node: &NodeId) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&node.0) else {
            return false;
        };
        let [r, s] = self.signature.0;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r);
        bytes[32..].copy_from_slice(&s);
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        key.verify_strict(&self.digest, &signature).is_ok()
    }
}

/// What an echo carries: every participant's signed digest as the echoer
/// accepted it, in ascending participant order.
pub type EchoedDigests = Vec<(ParticipantId, SignedDigest)>;

/// Check `signature` on a value received directly from `from` (the
/// participant its authenticated link is bound to), whose digest we
/// computed ourselves. A bad signature names `from`.
pub(crate) fn accept_direct(
    roster: &Roster,
    from: ParticipantId,
    digest: [u8; 32],
    signature: IdentitySignature,
) -> Result<SignedDigest> {
    let signed = SignedDigest { digest, signature };
    match roster.node(from) {
        Some(node) if signed.verifies_under(&node) => Ok(signed),
        _ => Err(Error::violation(from, Violation::InvalidSignature)),
    }
}

/// Our view as an echo.
pub(crate) fn echo_of(view: &BTreeMap<ParticipantId, SignedDigest>) -> EchoedDigests {
    view.iter().map(|(p, s)| (*p, *s)).collect()
}

/// Compare `echoer`'s echo with our `view` (one signed digest per
/// participant). Names the echoer for a malformed echo or a value its
/// named signer did not sign, and the signer for two signed values.
pub(crate) fn check_echo(
    roster: &Roster,
    view: &BTreeMap<ParticipantId, SignedDigest>,
    echoer: ParticipantId,
    echoed: &[(ParticipantId, SignedDigest)],
) -> Result<()> {
    if echoed.len() != view.len() {
        return Err(Error::violation(
            echoer,
            Violation::Malformed(format!(
                "echo lists {} values, expected {}",
                echoed.len(),
                view.len()
            )),
        ));
    }
    for ((named, theirs), (p, ours)) in echoed.iter().zip(view) {
        if named != p {
            return Err(Error::violation(
                echoer,
                Violation::Malformed("echo does not list the participants in order".into()),
            ));
        }
        if theirs.digest == ours.digest {
            continue;
        }
        let signed_by_named = roster
            .node(*p)
            .is_some_and(|node| theirs.verifies_under(&node));
        return Err(if signed_by_named {
            Error::violation(*p, Violation::Equivocated)
        } else {
            Error::violation(echoer, Violation::ForgedEcho)
        });
    }
    Ok(())
}

/// Check every echo in `echoes` (echoer, echo) against `view`, in
/// ascending echoer order.
pub(crate) fn check_echoes<'a>(
    roster: &Roster,
    view: &BTreeMap<ParticipantId, SignedDigest>,
    echoes: impl IntoIterator<Item = (ParticipantId, &'a [(ParticipantId, SignedDigest)])>,
) -> Result<()> {
    echoes
        .into_iter()
        .try_for_each(|(echoer, echoed)| check_echo(roster, view, echoer, echoed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn identity(p: u16) -> NodeIdentity {
        NodeIdentity::from_secret([p as u8; 32])
    }

    fn roster() -> Roster {
        Roster::new((1..=3).map(|p| (ParticipantId(p), identity(p).node_id()))).unwrap()
    }

    fn view(digests: [[u8; 32]; 3]) -> BTreeMap<ParticipantId, SignedDigest> {
        (1..=3u16)
            .map(|p| {
                (
                    ParticipantId(p),
                    identity(p).sign(digests[usize::from(p - 1)]),
                )
            })
            .collect()
    }

    #[test]
    fn two_signed_values_name_their_signer_not_the_echoer() {
        let ours = view([[1; 32], [2; 32], [3; 32]]);
        let theirs = echo_of(&view([[1; 32], [9; 32], [3; 32]]));
        let e = check_echo(&roster(), &ours, ParticipantId(3), &theirs).unwrap_err();
        assert_eq!(e.culprit(), Some(ParticipantId(2)));
        assert!(e.to_string().contains("two different values"), "{e}");
    }

    #[test]
    fn a_rewritten_echoed_value_names_the_echoer() {
        let ours = view([[1; 32], [2; 32], [3; 32]]);
        let mut theirs = echo_of(&ours);
        theirs[1].1.digest = [9; 32];
        let e = check_echo(&roster(), &ours, ParticipantId(3), &theirs).unwrap_err();
        assert_eq!(e.culprit(), Some(ParticipantId(3)));
        assert!(matches!(
            e,
            Error::ProtocolViolation {
                violation: Violation::ForgedEcho,
                ..
            }
        ));
    }

    #[test]
    fn a_direct_value_with_another_nodes_signature_names_its_sender() {
        let signed = identity(1).sign([5; 32]);
        let e = accept_direct(&roster(), ParticipantId(2), [5; 32], signed.signature).unwrap_err();
        assert_eq!(e.culprit(), Some(ParticipantId(2)));
        assert!(accept_direct(&roster(), ParticipantId(1), [5; 32], signed.signature).is_ok());
        // The same signature over another digest does not verify either.
        assert!(accept_direct(&roster(), ParticipantId(1), [6; 32], signed.signature).is_err());
    }

    #[test]
    fn an_echo_of_the_wrong_shape_names_the_echoer() {
        let ours = view([[1; 32], [2; 32], [3; 32]]);
        let mut short = echo_of(&ours);
        short.pop();
        let e = check_echo(&roster(), &ours, ParticipantId(1), &short).unwrap_err();
        assert_eq!(e.culprit(), Some(ParticipantId(1)));
        let mut swapped = echo_of(&ours);
        swapped.swap(0, 1);
        let e = check_echo(&roster(), &ours, ParticipantId(1), &swapped).unwrap_err();
        assert_eq!(e.culprit(), Some(ParticipantId(1)));
    }
}
