//! Social recovery (`choreo/recovery.choreo`): request, approvals, the
//! delay window, cancels, declines, and the grant through consensus.
//!
//! * [`request`] (new device) and [`answer`] (guardian) run `Recovery`:
//!   every guardian approves (an Ed25519 signature bound to the request
//!   and to the account prestate it holds) or declines; with enough
//!   approvals the new device opens the window; every guardian checks the
//!   approvals, opens its [`GuardianWindow`] with the delay from *its own*
//!   binding fact, waits it out on its [`Clock`], and says whether it will
//!   sign.
//! * [`cancel`] (any account device or guardian) and [`take_cancel`]
//!   (guardian) run `RecoveryCancel`, straight to every guardian, on their
//!   own sessions — a cancel never passes through the requesting device.
//! * [`grant`] (new device) and [`serve_grant`] (every guardian) run
//!   `RecoveryGrant`: a named signer answers with a nonce only if its window allows the grant (so an
//!   approval before the delay is refused), signs only the statement it
//!   derived itself, and every guardian records the grant and sends the
//!   journal facts the new device rebuilds its state from.
//!
//! The new device then gets shares of the account key by resharing from
//! the signing guardians (the reshare role logic of `aura-node`); this
//! module ends with the committed grant and the rebuilt journal.

use choreo_runtime::guard::GuardedTransport;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use choreo_runtime::journal::{
    author_of, Fact, FactBody, Journal, SignedFact, SigningKey, VerifiedFact,
};
use choreo_runtime::{Session, Transport};
use ed25519_dalek::{Signer as _, Verifier as _};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::binding::guardians;
use super::fast_path::{self, SignerIds};
use super::{digest, lock, Clock, LResult, LifecycleError};
use crate::error::ParticipantId;
use crate::generated::{recovery, recovery_cancel, recovery_grant};
use crate::recovery::{Canceller, GrantRefusal, GuardianAnswer, GuardianWindow};
use crate::roster::NodeId;
use crate::signing::{CommitCertificate, CommitStatement, Precommitment, UnverifiedCertificate};
use crate::wire::{AbortReason, JournalDelta, RecoveryApproval, RecoveryNotice};
use crate::witness::{ConsensusRequest, SigningRecord, Witness, WitnessShare};

/// Most cancels a guardian remembers for requests it has not seen yet.
pub const MAX_EARLY_CANCELS: usize = 1024;

/// A new device asks to take over an account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecoveryRequest {
    /// The account's group key.
    pub account: [u8; 32],
    /// The new device's Ed25519 key.
    pub new_device: [u8; 32],
    /// Fresh per request.
    pub nonce: [u8; 32],
}

impl RecoveryRequest {
    /// Content hash: names the request in approvals, cancels and the grant.
    pub fn hash(&self) -> LResult<[u8; 32]> {
        let bytes = postcard::to_allocvec(self).map_err(|e| crate::Error::Crypto(e.to_string()))?;
        Ok(digest(b"aura/recovery/v1/request", &[&bytes]))
    }
}

/// The approvals the new device gathered, sent to every guardian to open
/// the window: `(guardian key, approval)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvals {
    /// The request approved.
    pub request: RecoveryRequest,
    /// One approval per approving guardian.
    pub approvals: Vec<([u8; 32], RecoveryApproval)>,
}

/// A guardian's word at the end of its window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowVerdict {
    /// The delay passed without a cancel: it will sign the grant.
    Ready {
        /// When its window closed (its clock, seconds).
        closed_at: u64,
    },
    /// It will not sign, and why.
    Refused(String),
}

/// A signed cancel of one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The request cancelled.
    pub request_hash: [u8; 32],
    /// The canceller's Ed25519 key (an account device or a guardian).
    pub canceller: [u8; 32],
    /// Its signature over the request hash.
    pub signature: Vec<u8>,
}

/// A signer's answer to the grant's prepare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum NonceAnswer {
    /// Its window allows the grant: a fresh nonce commitment.
    Nonce(Precommitment),
    /// It refuses (delay not over, cancelled, declined, no window).
    Refused(String),
    /// It is not a signer of this run.
    NotNamed,
}

/// Journal fact: consensus granted the recovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryGranted {
    /// The request.
    pub request: RecoveryRequest,
    /// The account's threshold signature over [`grant_statement`].
    pub certificate: UnverifiedCertificate,
}

impl FactBody for RecoveryGranted {
    const KIND: &'static str = "aura.recovery-granted";
    const VERSION: u16 = 1;
}

/// Journal fact: a guardian received a valid cancel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCancelled(pub Cancellation);

impl FactBody for RecoveryCancelled {
    const KIND: &'static str = "aura.recovery-cancelled";
    const VERSION: u16 = 1;
}

/// The grant's consensus statement: one per (account, request).
pub fn grant_statement(request: &RecoveryRequest, prestate: &[u8; 32]) -> LResult<CommitStatement> {
    let hash = request.hash()?;
    Ok(CommitStatement {
        consensus_id: digest(b"aura/recovery/v1/consensus", &[&request.account, &hash]),
        prestate: *prestate,
        operation: hash,
    })
}

fn approval_message(request_hash: &[u8; 32], prestate: &[u8; 32]) -> [u8; 32] {
    digest(b"aura/recovery/v1/approve", &[request_hash, prestate])
}

fn cancel_message(request_hash: &[u8; 32]) -> [u8; 32] {
    digest(b"aura/recovery/v1/cancel", &[request_hash])
}

fn verify_ed25519(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

fn key_of(key: &VerifyingKey) -> LResult<[u8; 32]> {
    let bytes = key.serialize().map_err(crate::Error::crypto)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| crate::Error::Crypto("a group key is not 32 bytes".into()).into())
}

#[derive(Debug, Default)]
struct Windows {
    requests: BTreeMap<[u8; 32], RecoveryRequest>,
    open: BTreeMap<[u8; 32], GuardianWindow>,
    /// Cancels for requests whose window is not open here (yet).
    early: BTreeMap<[u8; 32], Canceller>,
}

/// One guardian's standing for one account: who may cancel, how many
/// approvals open a window, and the windows it holds.
#[derive(Debug)]
pub struct GuardianDesk {
    key: SigningKey,
    account: VerifyingKey,
    devices: BTreeSet<[u8; 32]>,
    guardians: BTreeMap<[u8; 32], ParticipantId>,
    approvals_needed: usize,
    windows: Mutex<Windows>,
}

impl GuardianDesk {
    /// A desk for the guardian with node key `key` of `account`.
    /// `devices` are the account's device keys (entitled to cancel);
    /// `guardians` maps every guardian's key to the participant id of its
    /// share (they may cancel, and their approvals count once they are
    /// bound in the journal); `approvals_needed` approvals open a window.
    pub fn new(
        key: SigningKey,
        account: VerifyingKey,
        devices: BTreeSet<[u8; 32]>,
        guardians: BTreeMap<[u8; 32], ParticipantId>,
        approvals_needed: usize,
    ) -> Self {
        GuardianDesk {
            key,
            account,
            devices,
            guardians,
            approvals_needed: approvals_needed.max(1),
            windows: Mutex::new(Windows::default()),
        }
    }

    /// This guardian's key.
    pub fn key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    fn windows(&self) -> LResult<std::sync::MutexGuard<'_, Windows>> {
        self.windows.lock().map_err(|_| {
            crate::Error::Crypto("the guardian's window lock is poisoned".into()).into()
        })
    }

    /// Whether this guardian would sign the grant of `request_hash` at
    /// `now` (seconds on its clock).
    pub fn may_sign(&self, request_hash: &[u8; 32], now: u64) -> LResult<Result<(), String>> {
        let w = self.windows()?;
        Ok(match w.open.get(request_hash) {
            None => Err("no recovery window is open for this request here".into()),
            Some(window) => window.may_sign_grant(now).map_err(|e| e.to_string()),
        })
    }

    /// Whether this guardian opened a window for `request_hash`.
    pub fn has_window(&self, request_hash: &[u8; 32]) -> bool {
        self.windows()
            .is_ok_and(|w| w.open.contains_key(request_hash))
    }

    /// The canceller of `request_hash`, if one reached this guardian.
    pub fn cancelled_by(&self, request_hash: &[u8; 32]) -> LResult<Option<Canceller>> {
        let w = self.windows()?;
        Ok(match w.open.get(request_hash) {
            Some(window) => match window.may_sign_grant(u64::MAX) {
                Err(GrantRefusal::Cancelled(by)) => Some(by),
                _ => None,
            },
            None => w.early.get(request_hash).copied(),
        })
    }

    fn prestate(&self, journal: &Mutex<Journal>) -> LResult<[u8; 32]> {
        guardians(journal, &self.account)?.prestate(&self.account)
    }
}

fn record<B: FactBody>(journal: &Mutex<Journal>, author: &SigningKey, body: &B) -> LResult<()> {
    let mut journal = lock(journal)?;
    let fact = Fact::new(journal.scope(), author_of(author), body)?.sign(author)?;
    journal.append(fact)?;
    Ok(())
}

/// How the `Recovery` session ended for the new device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Too few approvals: withdrawn. The declines, by guardian index.
    Declined(Vec<(u32, AbortReason)>),
    /// The window ran: every guardian's verdict, by index, and the
    /// prestate the approvals were bound to.
    Verdicts {
        /// The verdicts.
        verdicts: Vec<(u32, WindowVerdict)>,
        /// The approvals' prestate (the grant's).
        prestate: [u8; 32],
    },
}

/// The new device's side of `Recovery`. `guardian_keys[i]` is the key of
/// `Guardian[i]` as the session roster binds it; an approval counts only
/// with that key's valid signature.
pub async fn request<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: recovery::Params,
    request: RecoveryRequest,
    guardian_keys: &[[u8; 32]],
    approvals_needed: usize,
) -> LResult<RequestOutcome> {
    let hash = request.hash()?;
    let s = recovery::new_device::open(session, params)?
        .send_all(recovery::Request(request.clone()))
        .await?;
    let (answers, s) = s.recv_all().await?;
    let mut approvals = Vec::new();
    let mut declines = Vec::new();
    let mut prestates = BTreeSet::new();
    for (i, recovery::Answer(answer)) in answers {
        let key = usize::try_from(i)
            .ok()
            .and_then(|i| guardian_keys.get(i))
            .copied();
        match (answer, key) {
            (GuardianAnswer::Approve(a), Some(key))
                if verify_ed25519(
                    &key,
                    &approval_message(&hash, &a.prestate_hash),
                    &a.signature,
                ) =>
            {
                prestates.insert(a.prestate_hash);
                approvals.push((key, a));
            }
            (GuardianAnswer::Decline(reason), _) => declines.push((i, reason)),
            (GuardianAnswer::Approve(_), _) => declines.push((
                i,
                AbortReason {
                    code: 10,
                    detail: "approval with an invalid signature".into(),
                },
            )),
        }
    }
    // All approvals must be bound to one prestate (the grant's).
    let prestate = match (prestates.len(), prestates.first()) {
        (1, Some(p)) => Some(*p),
        _ => None,
    };
    let Some(prestate) = prestate.filter(|_| approvals.len() >= approvals_needed) else {
        s.select_withdraw()
            .send_all(recovery::Withdraw(AbortReason {
                code: 11,
                detail: format!(
                    "{} of {approvals_needed} approvals (on one prestate)",
                    approvals.len()
                ),
            }))
            .await?
            .finish()?;
        return Ok(RequestOutcome::Declined(declines));
    };
    let (verdicts, end) = s
        .select_open()
        .send_all(recovery::Open(Approvals { request, approvals }))
        .await?
        .recv_all()
        .await?;
    end.finish()?;
    Ok(RequestOutcome::Verdicts {
        verdicts: verdicts
            .into_iter()
            .map(|(i, recovery::Verdict(v))| (i, v))
            .collect(),
        prestate,
    })
}

/// A guardian's side of `Recovery`: approve (if `approve`) or decline;
/// on `Open`, check the approvals, open the window with this guardian's
/// own binding delay, wait it out on `clock`, and send its verdict.
pub async fn answer<T: Transport, C: Clock>(
    session: Session<T>,
    params: recovery::Params,
    desk: &GuardianDesk,
    journal: &Mutex<Journal>,
    clock: &C,
    approve: bool,
) -> LResult<WindowVerdict> {
    let (recovery::Request(req), s) = recovery::guardian::open(session, params)?.recv().await?;
    let hash = req.hash()?;
    let prestate = desk.prestate(journal)?;
    let bound = guardians(journal, &desk.account)?;
    let my_binding = bound.get(&desk.key()).map(|(_, delay)| *delay);
    let approve = approve && req.account == key_of(&desk.account)? && my_binding.is_some();
    let answer = if approve {
        GuardianAnswer::Approve(RecoveryApproval {
            guardian: desk
                .guardians
                .get(&desk.key())
                .copied()
                .unwrap_or(ParticipantId(0)),
            prestate_hash: prestate,
            signature: desk
                .key
                .sign(&approval_message(&hash, &prestate))
                .to_bytes()
                .to_vec(),
        })
    } else {
        GuardianAnswer::Decline(AbortReason {
            code: 12,
            detail: "this guardian declines the recovery".into(),
        })
    };
    let s = s.send(recovery::Answer(answer)).await?;
    let (approvals, s) = match s.branch().await? {
        recovery::guardian::OpenOrWithdraw::Withdraw(recovery::Withdraw(reason), end) => {
            end.finish()?;
            return Ok(WindowVerdict::Refused(format!(
                "withdrawn: {}",
                reason.detail
            )));
        }
        recovery::guardian::OpenOrWithdraw::Open(recovery::Open(a), s) => (a, s),
    };
    // Count approvals from distinct guardians bound in this guardian's own
    // journal, each signed over this request and this guardian's prestate.
    let valid: BTreeSet<[u8; 32]> = approvals
        .approvals
        .iter()
        .filter(|(key, a)| {
            bound.get(key).is_some()
                && a.prestate_hash == prestate
                && verify_ed25519(key, &approval_message(&hash, &prestate), &a.signature)
        })
        .map(|(key, _)| *key)
        .collect();
    if approvals.request != req || valid.len() < desk.approvals_needed {
        let verdict = WindowVerdict::Refused(format!(
            "{} valid approvals, {} needed",
            valid.len(),
            desk.approvals_needed
        ));
        s.send(recovery::Verdict(verdict.clone())).await?.finish()?;
        return Ok(verdict);
    }
    let Some(delay) = my_binding else {
        let verdict = WindowVerdict::Refused("this guardian is not bound to the account".into());
        s.send(recovery::Verdict(verdict.clone())).await?.finish()?;
        return Ok(verdict);
    };
    let opened = clock.now_secs();
    let closes = {
        let mut w = desk.windows()?;
        let mut window = GuardianWindow::open(opened, delay, approve);
        if let Some(by) = w.early.remove(&hash) {
            window.cancel(by);
        }
        let closes = window.closes_at();
        w.open.insert(hash, window);
        w.requests.insert(hash, req.clone());
        closes
    };
    tracing::debug!(guardian = ?desk.key(), opened, closes, "recovery window open");
    clock.sleep_until(closes).await;
    let now = clock.now_secs();
    let verdict = match desk.may_sign(&hash, now)? {
        Ok(()) => WindowVerdict::Ready { closed_at: now },
        Err(why) => WindowVerdict::Refused(why),
    };
    s.send(recovery::Verdict(verdict.clone())).await?.finish()?;
    Ok(verdict)
}

/// Cancel `request_hash`, straight to every guardian of the session
/// (`key` is an account device's or a guardian's). Returns how many
/// guardians acknowledged.
pub async fn cancel<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: recovery_cancel::Params,
    key: &SigningKey,
    request_hash: [u8; 32],
) -> LResult<usize> {
    let cancellation = Cancellation {
        request_hash,
        canceller: key.verifying_key().to_bytes(),
        signature: key.sign(&cancel_message(&request_hash)).to_bytes().to_vec(),
    };
    let (noted, end) = recovery_cancel::canceller::open(session, params)?
        .send_all(recovery_cancel::Cancel(cancellation))
        .await?
        .recv_all()
        .await?;
    end.finish()?;
    Ok(noted.len())
}

/// A guardian receives a cancel: it counts only if signed by an account
/// device or a guardian of this account; then no grant is signed here.
pub async fn take_cancel<T: Transport, C: Clock>(
    session: Session<T>,
    params: recovery_cancel::Params,
    desk: &GuardianDesk,
    journal: &Mutex<Journal>,
    clock: &C,
) -> LResult<Canceller> {
    let (recovery_cancel::Cancel(c), s) = recovery_cancel::guardian::open(session, params)?
        .recv()
        .await?;
    let by = if desk.devices.contains(&c.canceller) {
        Canceller::AccountDevice(NodeId(c.canceller))
    } else if let Some(p) = desk.guardians.get(&c.canceller) {
        Canceller::Guardian(*p)
    } else {
        return Err(LifecycleError::Invalid {
            peer: "the canceller".into(),
            what: "cancel (its key is neither an account device nor a guardian)",
        });
    };
    if !verify_ed25519(&c.canceller, &cancel_message(&c.request_hash), &c.signature) {
        return Err(LifecycleError::Invalid {
            peer: "the canceller".into(),
            what: "cancel signature",
        });
    }
    let notice = {
        let mut w = desk.windows()?;
        match w.open.get_mut(&c.request_hash) {
            Some(window) => {
                window.cancel(by);
                RecoveryNotice {
                    request_hash: c.request_hash,
                    opens_at_secs: clock.now_secs(),
                    closes_at_secs: window.closes_at(),
                }
            }
            None => {
                if w.early.len() < MAX_EARLY_CANCELS {
                    w.early.entry(c.request_hash).or_insert(by);
                }
                RecoveryNotice {
                    request_hash: c.request_hash,
                    opens_at_secs: clock.now_secs(),
                    closes_at_secs: clock.now_secs(),
                }
            }
        }
    };
    record(journal, &desk.key, &RecoveryCancelled(c))?;
    s.send(recovery_cancel::Noted(notice)).await?.finish()?;
    Ok(by)
}

/// The grant's prepare: the request and the guardians named to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantPrepare {
    /// The request.
    pub request: RecoveryRequest,
    /// The signers the package will name.
    pub signers: Vec<ParticipantId>,
}

/// The grant's execute: the signing request for a named signer, nothing
/// to sign for the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum GrantExecute {
    /// Sign this.
    Sign(ConsensusRequest),
    /// Not named: only witness the commit.
    Witness,
}

/// A guardian's answer to the execute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum GrantShare {
    /// The named signer's share.
    Share(WitnessShare),
    /// Not named (or refused since the prepare): no share.
    NotNamed,
}

/// How the grant ended for the new device.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum GrantOutcome {
    /// Committed: the certificate, and how many journal facts the new
    /// device took in.
    Granted {
        /// The verified grant.
        certificate: CommitCertificate,
        /// New facts stored in the new device's journal.
        facts: usize,
    },
    /// A named signer refused (by index) and the run was aborted.
    Refused(Vec<(u32, String)>),
}

/// The new device runs the grant. `public` is the account's public key
/// package (as the guardians hold it; the certificate must verify under
/// the account key), `prestate` the approvals', `guardians` maps
/// `Guardian[i]` to its participant id, `named` are the signers. On commit
/// the facts the guardians send go through [`Journal::accept`] (each
/// verified) into `journal`.
#[allow(clippy::too_many_arguments)]
pub async fn grant<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: recovery_grant::Params,
    request: RecoveryRequest,
    prestate: [u8; 32],
    public: &PublicKeyPackage,
    guardians: &SignerIds,
    named: &BTreeSet<ParticipantId>,
    epoch: crate::share::KeyEpoch,
    journal: &Mutex<Journal>,
) -> LResult<GrantOutcome> {
    let statement = grant_statement(&request, &prestate)?;
    let (answers, s) = recovery_grant::new_device::open(session, params)?
        .send_all(recovery_grant::Prepare(GrantPrepare {
            request,
            signers: named.iter().copied().collect(),
        }))
        .await?
        .recv_all()
        .await?;
    let mut nonces = Vec::new();
    let mut refused = Vec::new();
    for (i, recovery_grant::Nonces(a)) in answers {
        let named_here = named.contains(&guardians.get(i)?);
        match a {
            NonceAnswer::Nonce(n) if named_here => nonces.push((i, n)),
            NonceAnswer::Refused(why) if named_here => refused.push((i, why)),
            NonceAnswer::NotNamed if !named_here => {}
            _ => refused.push((i, "answered out of turn".into())),
        }
    }
    if !refused.is_empty() || nonces.len() != named.len() {
        let reason = AbortReason {
            code: 13,
            detail: format!("{} named signer(s) refused", refused.len()),
        };
        s.select_abort()
            .send_all(recovery_grant::Abort(reason))
            .await?
            .finish()?;
        return Ok(GrantOutcome::Refused(refused));
    }
    let signer_index: BTreeSet<u32> = nonces.iter().map(|(i, _)| *i).collect();
    let consensus = fast_path::request_from_nonces(statement, epoch, nonces, guardians)?;
    let (answers, s) = s
        .select_sign()
        .send_each(|i| {
            recovery_grant::Execute(if signer_index.contains(&i) {
                GrantExecute::Sign(consensus.clone())
            } else {
                GrantExecute::Witness
            })
        })
        .await?
        .recv_all()
        .await?;
    let shares = answers
        .into_iter()
        .filter_map(|(i, recovery_grant::Share(x))| match x {
            GrantShare::Share(share) => Some((i, share)),
            GrantShare::NotNamed => None,
        })
        .collect();
    let certificate = fast_path::certify(public, &consensus, shares, guardians)?;
    let (deltas, end) = s
        .send_all(recovery_grant::Commit(certificate.to_unverified()?))
        .await?
        .recv_all()
        .await?;
    end.finish()?;
    let mut facts = 0;
    let mut j = lock(journal)?;
    for (_, recovery_grant::Facts(delta)) in deltas {
        for bytes in delta.facts {
            if j.accept(SignedFact::decode(&bytes)?)? {
                facts += 1;
            }
        }
    }
    Ok(GrantOutcome::Granted { certificate, facts })
}

/// What one guardian did in a grant run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantServed {
    /// It signed (named), and recorded the committed grant.
    Signed,
    /// Not named; it recorded the committed grant.
    Witnessed,
    /// It refused to sign (named, but its window does not allow it).
    Refused(String),
    /// The new device aborted.
    Aborted,
}

/// A guardian's side of the grant. `core` is its witness core (its share
/// of the account key), `me` its participant id. Named, it answers with a
/// nonce only if its window allows the grant now and signs only the
/// statement it derived (request, own prestate), checked again at signing
/// time (a cancel may have arrived meanwhile). On the commit, checked
/// against the same statement, it records the grant and sends the journal
/// facts (signed, as stored) to the new device.
#[allow(clippy::too_many_arguments)]
pub async fn serve_grant<T: Transport, R: SigningRecord, G: RngCore + CryptoRng, C: Clock>(
    session: Session<T>,
    params: recovery_grant::Params,
    desk: &GuardianDesk,
    journal: &Mutex<Journal>,
    core: &mut Witness<R>,
    me: ParticipantId,
    clock: &C,
    rng: &mut G,
) -> LResult<GrantServed> {
    let (recovery_grant::Prepare(prepare), s) = recovery_grant::guardian::open(session, params)?
        .recv()
        .await?;
    let hash = prepare.request.hash()?;
    let prestate = desk.prestate(journal)?;
    let expected = grant_statement(&prepare.request, &prestate)?;
    let named = prepare.signers.contains(&me);
    let verdict = desk.may_sign(&hash, clock.now_secs())?;
    let answer = match (&verdict, named) {
        (_, false) => NonceAnswer::NotNamed,
        (Ok(()), true) => NonceAnswer::Nonce(
            core.precommit(1, rng)?
                .pop()
                .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?,
        ),
        (Err(why), true) => NonceAnswer::Refused(why.clone()),
    };
    let s = s.send(recovery_grant::Nonces(answer)).await?;
    let (execute, s) = match s.branch().await? {
        recovery_grant::guardian::ExecuteOrAbort::Abort(_, end) => {
            end.finish()?;
            return Ok(match verdict {
                Err(why) if named => GrantServed::Refused(why),
                _ => GrantServed::Aborted,
            });
        }
        recovery_grant::guardian::ExecuteOrAbort::Execute(recovery_grant::Execute(e), s) => (e, s),
    };
    let share = match execute {
        GrantExecute::Sign(consensus) if named => {
            if let Err(why) = desk.may_sign(&hash, clock.now_secs())? {
                return Ok(GrantServed::Refused(why));
            }
            GrantShare::Share(fast_path::sign_agreed(
                core, &consensus, &expected, &prestate, rng,
            )?)
        }
        _ => GrantShare::NotNamed,
    };
    let (recovery_grant::Commit(commit), s) =
        s.send(recovery_grant::Share(share)).await?.recv().await?;
    fast_path::check_commit(&commit, &expected, &desk.account)?;
    record(
        journal,
        &desk.key,
        &RecoveryGranted {
            request: prepare.request,
            certificate: commit,
        },
    )?;
    let facts = lock(journal)?
        .facts()
        .iter()
        .map(|f: &VerifiedFact| f.signed().encode())
        .collect::<Result<Vec<_>, _>>()?;
    s.send(recovery_grant::Facts(JournalDelta { facts }))
        .await?
        .finish()?;
    Ok(if named {
        GrantServed::Signed
    } else {
        GrantServed::Witnessed
    })
}
