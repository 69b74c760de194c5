//! Guardian handoff (`GuardianHandoff` in `choreo/recovery.choreo`): a
//! guardian moves its part to a new device of its own (it replaced its
//! phone), through the choreography's `delegate Guardian to Successor`.
//!
//! * [`account`] (a device of the account) asks the guardian to confirm
//!   its part ([`HandoffCheck`]).
//! * [`guardian`] (the old device) signs a [`HandoffCertificate`] with its
//!   identity key, naming the successor's identity key, sends it to the
//!   successor and *delegates* its endpoint: from here the successor plays
//!   the guardian's part of the session.
//! * [`successor`] checks that the certificate names it and is signed by
//!   the guardian, accepts the guardian's endpoint, and — now answering as
//!   the guardian — acknowledges to the account with the certificate.
//!
//! The account checks the certificate against the guardian the session
//! binds and the successor it expected, and records it as a
//! [`GuardianHandedOff`] journal fact. The guardian set the journal
//! reduces to ([`super::binding::GuardianSet`]) follows the fact: from
//! then on the *successor's* key holds the binding (with its delay) and
//! the old key holds nothing, so a replica counts the successor's recovery
//! approvals — and no longer the old device's — exactly once the fact is
//! in its journal. The old device drops its key material after the
//! delegation (the caller's part; the successor gets a share of its own by
//! the next reshare).

use std::sync::Mutex;

use choreo_runtime::journal::{author_of, Fact, FactBody, Journal, SigningKey};
use choreo_runtime::{Handover, Session, Transport};
use ed25519_dalek::{Signer as _, Verifier as _};
use frost_ed25519::VerifyingKey;

use super::binding::guardians;
use super::{digest, lock, LResult, LifecycleError};
use crate::generated::guardian_handoff;
use crate::wire::{HandoffCertificate, HandoffCheck};

/// Journal fact: a guardian of the account handed its part to a new
/// device. Valid with the old device's signature; reduced by
/// [`super::binding::Bindings`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuardianHandedOff(pub HandoffCertificate);

impl FactBody for GuardianHandedOff {
    const KIND: &'static str = "aura.guardian-handoff";
    const VERSION: u16 = 1;
}

fn handoff_message(account: &[u8; 32], from: &[u8; 32], to: &[u8; 32]) -> [u8; 32] {
    digest(b"aura/guardian-handoff/v1", &[account, from, to])
}

/// The old device `from` hands its part for `account` to `to`.
pub fn sign_handoff(account: [u8; 32], from: &SigningKey, to: [u8; 32]) -> HandoffCertificate {
    let from_device = from.verifying_key().to_bytes();
    HandoffCertificate {
        account,
        from_device,
        to_device: to,
        signature: from
            .sign(&handoff_message(&account, &from_device, &to))
            .to_bytes()
            .to_vec(),
    }
}

/// Whether `from_device`'s signature over the certificate verifies.
pub fn verify_handoff(certificate: &HandoffCertificate) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&certificate.from_device) else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&certificate.signature) else {
        return false;
    };
    certificate.from_device != certificate.to_device
        && key
            .verify(
                &handoff_message(
                    &certificate.account,
                    &certificate.from_device,
                    &certificate.to_device,
                ),
                &signature,
            )
            .is_ok()
}

fn account_bytes(account: &VerifyingKey) -> LResult<[u8; 32]> {
    let bytes = account.serialize().map_err(crate::Error::crypto)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| crate::Error::Crypto("a group key is not 32 bytes".into()).into())
}

fn record(journal: &Mutex<Journal>, author: &SigningKey, cert: &HandoffCertificate) -> LResult<()> {
    let mut journal = lock(journal)?;
    let fact = Fact::new(
        journal.scope(),
        author_of(author),
        &GuardianHandedOff(cert.clone()),
    )?
    .sign(author)?;
    journal.append(fact)?;
    Ok(())
}

/// The account's side: ask `guardian` (its key, as the session binds the
/// `Guardian` role) to confirm; accept the acknowledgement only with a
/// certificate from that guardian, for this account, naming `successor`
/// (the key the session binds the `Successor` role to), and only if the
/// guardian is bound in this device's journal. Records the fact.
pub async fn account<T: Transport>(
    session: Session<T>,
    params: guardian_handoff::Params,
    account: &VerifyingKey,
    guardian: [u8; 32],
    successor: [u8; 32],
    journal: &Mutex<Journal>,
    device: &SigningKey,
) -> LResult<HandoffCertificate> {
    let account = account_bytes(account)?;
    let s = guardian_handoff::account::open(session, params)?
        .send(guardian_handoff::Check(HandoffCheck { account }))
        .await?;
    let (guardian_handoff::Acknowledge(cert), end) = s.recv().await?;
    end.finish()?;
    let bound = guardians(journal, &{
        VerifyingKey::deserialize(&account).map_err(crate::Error::crypto)?
    })?;
    if cert.account != account
        || cert.from_device != guardian
        || cert.to_device != successor
        || !verify_handoff(&cert)
    {
        return Err(LifecycleError::Invalid {
            peer: "the guardian's successor".into(),
            what: "handoff certificate",
        });
    }
    if bound.get(&guardian).is_none() {
        return Err(LifecycleError::Invalid {
            peer: "the guardian".into(),
            what: "handoff (it is not a bound guardian of this account)",
        });
    }
    record(journal, device, &cert)?;
    Ok(cert)
}

/// The old device's side: answer the check by handing the guardian's part
/// to `successor` (its identity key) and delegating the endpoint to it.
/// Returns the certificate it signed; the caller then drops this device's
/// key material for the account.
pub async fn guardian<T: Transport + Handover>(
    session: Session<T>,
    params: guardian_handoff::Params,
    key: &SigningKey,
    successor: [u8; 32],
) -> LResult<HandoffCertificate> {
    let (guardian_handoff::Check(check), s) = guardian_handoff::guardian::open(session, params)?
        .recv()
        .await?;
    let cert = sign_handoff(check.account, key, successor);
    s.send(guardian_handoff::Handoff(cert.clone()))
        .await?
        .delegate()?;
    Ok(cert)
}

/// The new device's side: take the certificate (it must name this device
/// and carry the guardian's signature — the link authenticates the sender
/// as the node the session binds the `Guardian` role to), accept the
/// guardian's endpoint, acknowledge to the account as the guardian, and
/// record the fact in this device's journal.
pub async fn successor<T: Transport + Handover>(
    session: Session<T>,
    params: guardian_handoff::Params,
    key: &SigningKey,
    journal: &Mutex<Journal>,
) -> LResult<HandoffCertificate> {
    let (guardian_handoff::Handoff(cert), s) = guardian_handoff::successor::open(session, params)?
        .recv()
        .await?;
    if cert.to_device != key.verifying_key().to_bytes() || !verify_handoff(&cert) {
        return Err(LifecycleError::Invalid {
            peer: "the guardian".into(),
            what: "handoff certificate",
        });
    }
    s.accept()
        .await?
        .send(guardian_handoff::Acknowledge(cert.clone()))
        .await?
        .finish()?;
    record(journal, key, &cert)?;
    Ok(cert)
}
