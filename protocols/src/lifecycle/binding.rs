//! Guardian binding (`choreo/guardian_binding.choreo`): an account and a
//! guardian agree on a binding that both sign.
//!
//! 1. The account's device sends the [`BindingProposal`]: the account's
//!    group key, the guardian's key, the recovery delay (default 24 h,
//!    allowed 1 h to 30 days) and whether the guardian is notified.
//! 2. The guardian accepts by signing the proposal with its own Ed25519 key
//!    ([`GuardianAcceptance`]), or declines.
//! 3. The account's witnesses run the consensus fast path on the statement
//!    [`binding_statement`]: consensus id from (account, guardian, nonce),
//!    the prestate each witness computes from its *own* journal (the
//!    bindings it holds, [`GuardianSet::prestate`]), and the operation
//!    hashing the proposal *and* the guardian's signature. The threshold
//!    signature therefore covers the guardian's acceptance.
//! 4. The result is the journal fact [`GuardianBound`]: proposal, the
//!    guardian's signature and the account's certificate.
//!    [`GuardianBound::verify`] checks both signatures; the reducer
//!    ([`Bindings`]) admits nothing else, so the recovery delay a guardian
//!    later enforces is one both parties signed.

use choreo_runtime::guard::GuardedTransport;
use std::collections::BTreeMap;
use std::sync::Mutex;

use choreo_runtime::journal::{
    author_of, Fact, FactBody, Journal, Reducer, SigningKey, VerifiedFact,
};
use choreo_runtime::{Session, Transport};
use ed25519_dalek::{Signer as _, Verifier as _};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::fast_path::{self, SignerIds};
use super::handoff::{verify_handoff, GuardianHandedOff};
use super::{digest, lock, LResult, LifecycleError};
use crate::generated::guardian_binding::{
    account, guardian, signer, witness, Abort, Accept, Bind, Commit, Decline, Dismiss, Execute,
    Invite, Nonces, Outcome, Params, Prepare, Share,
};
use crate::recovery::RecoveryDelay;
use crate::share::KeyEpoch;
use crate::signing::{CommitStatement, UnverifiedCertificate};
use crate::wire::AbortReason;
use crate::witness::{SigningRecord, Witness};

const ACCEPT_TAG: &[u8] = b"aura/guardian-binding/v1/accept";

/// What the account proposes to a guardian.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BindingProposal {
    /// The account's group verifying key (its commitment).
    pub account: [u8; 32],
    /// The guardian's Ed25519 key, which signs the acceptance.
    pub guardian: [u8; 32],
    /// Recovery delay in seconds; must be within [1 h, 30 days]
    /// ([`RecoveryDelay`]). Checked by everyone, never trusted.
    pub recovery_delay_secs: u64,
    /// Whether the guardian must be told about recoveries.
    pub notify_guardian: bool,
    /// Fresh per proposal: names the consensus instance.
    pub nonce: [u8; 32],
}

impl BindingProposal {
    /// A proposal with the default delay (24 h) and notification on.
    pub fn new(account: &VerifyingKey, guardian: &SigningKey, nonce: [u8; 32]) -> LResult<Self> {
        Ok(BindingProposal {
            account: key_bytes(account)?,
            guardian: guardian.verifying_key().to_bytes(),
            recovery_delay_secs: RecoveryDelay::DEFAULT.secs(),
            notify_guardian: true,
            nonce,
        })
    }

    /// The delay, if within the allowed range.
    pub fn recovery_delay(&self) -> LResult<RecoveryDelay> {
        Ok(RecoveryDelay::from_secs(self.recovery_delay_secs)?)
    }

    fn encoded(&self) -> LResult<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| crate::Error::Crypto(e.to_string()).into())
    }

    fn acceptance_message(&self) -> LResult<[u8; 32]> {
        Ok(digest(ACCEPT_TAG, &[&self.encoded()?]))
    }
}

/// The guardian's side of the agreement: its Ed25519 signature over the
/// proposal (by the key the proposal names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GuardianAcceptance {
    /// 64-byte Ed25519 signature.
    pub signature: Vec<u8>,
}

impl GuardianAcceptance {
    /// The guardian signs `proposal`.
    pub fn sign(proposal: &BindingProposal, key: &SigningKey) -> LResult<Self> {
        let message = proposal.acceptance_message()?;
        Ok(GuardianAcceptance {
            signature: key.sign(&message).to_bytes().to_vec(),
        })
    }

    /// Whether the guardian the proposal names signed it.
    pub fn verify(&self, proposal: &BindingProposal) -> LResult<()> {
        let invalid = || LifecycleError::Invalid {
            peer: "the guardian".into(),
            what: "acceptance signature",
        };
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&proposal.guardian).map_err(|_| invalid())?;
        let signature =
            ed25519_dalek::Signature::from_slice(&self.signature).map_err(|_| invalid())?;
        key.verify(&proposal.acceptance_message()?, &signature)
            .map_err(|_| invalid())
    }
}

/// What the account's witnesses and signers are asked to agree on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRequest {
    /// The proposal.
    pub proposal: BindingProposal,
    /// The guardian's signature over it.
    pub acceptance: GuardianAcceptance,
}

impl BindingRequest {
    /// Every check that needs no journal: the delay is allowed, the
    /// proposal names `account`, and the guardian signed it.
    pub fn check(&self, account: &VerifyingKey) -> LResult<()> {
        self.proposal.recovery_delay()?;
        if self.proposal.account != key_bytes(account)? {
            return Err(crate::Error::from(crate::Usage::WrongAuthority).into());
        }
        self.acceptance.verify(&self.proposal)
    }
}

/// How a binding run ended, as the guardian learns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum BindingOutcome {
    /// Bound: the fact both parties signed.
    Bound(GuardianBound),
    /// The account's witnesses did not certify it.
    Aborted(AbortReason),
}

/// The binding fact: the proposal, the guardian's signature and the
/// account's threshold signature over [`binding_statement`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianBound {
    /// The proposal (delay, notification, keys).
    pub proposal: BindingProposal,
    /// The guardian's signature.
    pub acceptance: GuardianAcceptance,
    /// The account's consensus certificate.
    pub certificate: UnverifiedCertificate,
}

impl FactBody for GuardianBound {
    const KIND: &'static str = "aura.guardian-bound";
    const VERSION: u16 = 1;
}

impl GuardianBound {
    /// Check both signatures: the guardian's over the proposal, and the
    /// account's threshold signature over the binding statement (whatever
    /// prestate it was agreed at).
    pub fn verify(&self, account: &VerifyingKey) -> LResult<RecoveryDelay> {
        let request = BindingRequest {
            proposal: self.proposal.clone(),
            acceptance: self.acceptance.clone(),
        };
        request.check(account)?;
        let expected = binding_statement(&request, &self.certificate.statement.prestate)?;
        fast_path::check_commit(&self.certificate, &expected, account)?;
        self.proposal.recovery_delay()
    }
}

/// The consensus statement of a binding at `prestate`.
pub fn binding_statement(
    request: &BindingRequest,
    prestate: &[u8; 32],
) -> LResult<CommitStatement> {
    let p = &request.proposal;
    Ok(CommitStatement {
        consensus_id: digest(
            b"aura/guardian-binding/v1/consensus",
            &[&p.account, &p.guardian, &p.nonce],
        ),
        prestate: *prestate,
        operation: digest(
            b"aura/guardian-binding/v1/operation",
            &[&p.encoded()?, &request.acceptance.signature],
        ),
    })
}

/// The guardians an account's journal shows bound (verified facts only),
/// by the key that holds each binding now. Two bindings of one guardian:
/// the one with the smaller operation hash counts (a rule on the set, not
/// on arrival order). A verified handoff ([`super::handoff`]) moves a
/// binding from the old device's key to the successor's; two handoffs
/// from one key: the one to the smaller key counts. Handoffs are resolved
/// when the set is read, so the order the facts arrived in does not
/// matter either.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuardianSet {
    /// By the key the binding was made with.
    bound: BTreeMap<[u8; 32], (GuardianBound, RecoveryDelay)>,
    /// Verified handoffs: old key → new key.
    handoffs: BTreeMap<[u8; 32], [u8; 32]>,
}

impl GuardianSet {
    /// The key that holds the binding made with `original` now: follow
    /// its handoffs (a chain is at most as long as there are handoffs; a
    /// cycle holds nothing).
    fn holder(&self, original: &[u8; 32]) -> Option<[u8; 32]> {
        let mut key = *original;
        for _ in 0..=self.handoffs.len() {
            match self.handoffs.get(&key) {
                Some(next) => key = *next,
                None => return Some(key),
            }
        }
        None
    }

    /// Every binding with the key holding it now.
    fn held(&self) -> impl Iterator<Item = ([u8; 32], &(GuardianBound, RecoveryDelay))> {
        self.bound
            .iter()
            .filter_map(|(original, b)| Some((self.holder(original)?, b)))
    }

    /// The binding `guardian` holds now and its verified delay (`None` for
    /// a key that handed its binding on).
    pub fn get(&self, guardian: &[u8; 32]) -> Option<&(GuardianBound, RecoveryDelay)> {
        self.held()
            .find(|(holder, _)| holder == guardian)
            .map(|(_, b)| b)
    }

    /// How many guardians are bound.
    pub fn len(&self) -> usize {
        self.held().count()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys holding the bindings now, sorted.
    pub fn guardians(&self) -> Vec<[u8; 32]> {
        let mut keys: Vec<[u8; 32]> = self.held().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    }

    /// The prestate a binding consensus runs on: a hash of the bindings
    /// held and who holds them (content, not fact ids, so replicas whose
    /// copies of a binding were authored by different devices agree).
    pub fn prestate(&self, account: &VerifyingKey) -> LResult<[u8; 32]> {
        let account = key_bytes(account)?;
        let held: Vec<([u8; 32], [u8; 32])> = self
            .bound
            .iter()
            .map(|(original, (b, _))| {
                (
                    self.holder(original).unwrap_or(*original),
                    b.certificate.statement.operation,
                )
            })
            .collect();
        let mut parts: Vec<&[u8]> = vec![&account];
        for (holder, operation) in &held {
            parts.push(holder);
            parts.push(operation);
        }
        Ok(digest(b"aura/guardian-binding/v1/prestate", &parts))
    }

    fn insert(&mut self, b: GuardianBound, delay: RecoveryDelay) {
        let keep_old = self
            .bound
            .get(&b.proposal.guardian)
            .is_some_and(|(old, _)| {
                old.certificate.statement.operation <= b.certificate.statement.operation
            });
        if !keep_old {
            self.bound.insert(b.proposal.guardian, (b, delay));
        }
    }

    fn hand_off(&mut self, from: [u8; 32], to: [u8; 32]) {
        let keep_old = self.handoffs.get(&from).is_some_and(|old| *old <= to);
        if !keep_old {
            self.handoffs.insert(from, to);
        }
    }
}

/// The journal reducer of one account's guardian bindings: every
/// [`GuardianBound`] fact whose two signatures verify under `account`.
#[derive(Debug)]
pub struct Bindings {
    /// The account's group key.
    pub account: VerifyingKey,
}

impl Reducer for Bindings {
    type State = GuardianSet;

    fn initial(&self) -> GuardianSet {
        GuardianSet::default()
    }

    fn apply(&self, state: &mut GuardianSet, fact: &VerifiedFact) {
        let kind = &fact.fact().kind;
        if *kind == GuardianBound::KIND {
            let Ok(bound) = fact.body::<GuardianBound>() else {
                return;
            };
            if let Ok(delay) = bound.verify(&self.account) {
                state.insert(bound, delay);
            }
        } else if *kind == GuardianHandedOff::KIND {
            let Ok(GuardianHandedOff(cert)) = fact.body::<GuardianHandedOff>() else {
                return;
            };
            if key_bytes(&self.account).is_ok_and(|a| a == cert.account) && verify_handoff(&cert) {
                state.hand_off(cert.from_device, cert.to_device);
            }
        }
    }
}

/// The guardians `journal` shows bound to `account`.
pub fn guardians(journal: &Mutex<Journal>, account: &VerifyingKey) -> LResult<GuardianSet> {
    Ok(lock(journal)?.reduce(&Bindings { account: *account }))
}

fn key_bytes(key: &VerifyingKey) -> LResult<[u8; 32]> {
    let bytes = key.serialize().map_err(crate::Error::crypto)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| crate::Error::Crypto("a group key is not 32 bytes".into()).into())
}

/// Append `bound` to `journal`, authored and signed by this device.
fn record(journal: &Mutex<Journal>, device: &SigningKey, bound: &GuardianBound) -> LResult<()> {
    let mut journal = lock(journal)?;
    let fact = Fact::new(journal.scope(), author_of(device), bound)?.sign(device)?;
    journal.append(fact)?;
    Ok(())
}

/// One device of the account running the `Account` role.
pub struct AccountSide<'a> {
    /// The authority's public key package (for verifying shares).
    pub public: &'a PublicKeyPackage,
    /// The key epoch the signers are in.
    pub epoch: KeyEpoch,
    /// `Signer[i]` is participant `signers.0[i]`.
    pub signers: SignerIds,
    /// This device's replica of the account journal.
    pub journal: &'a Mutex<Journal>,
    /// This device's node key (authors the fact).
    pub device: &'a SigningKey,
}

impl std::fmt::Debug for AccountSide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSide")
            .field("epoch", &self.epoch)
            .field("signers", &self.signers)
            .finish_non_exhaustive()
    }
}

/// The account proposes `proposal`. `Ok(Some(_))`: bound, and the fact is
/// in this device's journal; `Ok(None)`: the guardian declined.
pub async fn propose<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: Params,
    side: AccountSide<'_>,
    proposal: BindingProposal,
) -> LResult<Option<GuardianBound>> {
    let authority = *side.public.verifying_key();
    let s = account::open(session, params)?
        .send(Invite(proposal.clone()))
        .await?;
    let (acceptance, s) = match s.branch().await? {
        account::AcceptOrDecline::Decline(Decline(reason), s) => {
            s.send_all(Dismiss(reason.clone()))
                .await?
                .send_all(Dismiss(reason))
                .await?
                .finish()?;
            return Ok(None);
        }
        account::AcceptOrDecline::Accept(Accept(acceptance), s) => (acceptance, s),
    };
    let request = BindingRequest {
        proposal,
        acceptance,
    };
    request.check(&authority)?;
    let prestate = guardians(side.journal, &authority)?.prestate(&authority)?;
    let statement = binding_statement(&request, &prestate)?;
    let s = s
        .send_all(Bind(request.clone()))
        .await?
        .send_all(Bind(request.clone()))
        .await?
        .body()
        .select_fresh_nonces()
        .send_all(Prepare(statement))
        .await?;
    let (nonces, s) = s.into_done()?.recv_all().await?.into_done()?;
    let nonces = nonces.into_iter().map(|(i, Nonces(n))| (i, n)).collect();
    let consensus = fast_path::request_from_nonces(statement, side.epoch, nonces, &side.signers)?;
    let s = s.send_all(Execute(consensus.clone())).await?;
    let (shares, s) = s.into_done()?.recv_all().await?.into_done()?;
    let shares = shares.into_iter().map(|(i, Share(x))| (i, x)).collect();
    let certificate = match fast_path::certify(side.public, &consensus, shares, &side.signers) {
        Ok(c) => c.to_unverified()?,
        Err(e) => {
            let reason = AbortReason {
                code: 1,
                detail: e.to_string(),
            };
            s.select_abort()
                .send_all(Abort(reason.clone()))
                .await?
                .into_done()?
                .send(Outcome(BindingOutcome::Aborted(reason)))
                .await?
                .into_done()?
                .finish()?;
            return Err(e);
        }
    };
    let bound = GuardianBound {
        proposal: request.proposal,
        acceptance: request.acceptance,
        certificate: certificate.clone(),
    };
    record(side.journal, side.device, &bound)?;
    s.select_commit()
        .send_all(Commit(certificate))
        .await?
        .into_done()?
        .send(Outcome(BindingOutcome::Bound(bound.clone())))
        .await?
        .into_done()?
        .finish()?;
    Ok(Some(bound))
}

/// The guardian: answers an invitation. `decide` returns `Err(reason)` to
/// decline. On `Ok(Some(_))` the binding fact (checked: both signatures)
/// is in the guardian's own journal, so it can enforce the delay later.
pub async fn guard<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: Params,
    key: &SigningKey,
    journal: &Mutex<Journal>,
    decide: impl FnOnce(&BindingProposal) -> Result<(), AbortReason>,
) -> LResult<Option<GuardianBound>> {
    let (Invite(proposal), s) = guardian::open(session, params)?.recv().await?;
    let verdict = if proposal.guardian != key.verifying_key().to_bytes() {
        Err(AbortReason {
            code: 2,
            detail: "the proposal names another guardian key".into(),
        })
    } else if let Err(e) = proposal.recovery_delay() {
        Err(AbortReason {
            code: 3,
            detail: e.to_string(),
        })
    } else {
        decide(&proposal)
    };
    if let Err(reason) = verdict {
        s.select_decline().send(Decline(reason)).await?.finish()?;
        return Ok(None);
    }
    let acceptance = GuardianAcceptance::sign(&proposal, key)?;
    let (Outcome(outcome), s) = s
        .select_accept()
        .send(Accept(acceptance.clone()))
        .await?
        .body()
        .recv()
        .await?
        .into_done()?;
    s.finish()?;
    match outcome {
        BindingOutcome::Aborted(_) => Ok(None),
        BindingOutcome::Bound(bound) => {
            let account =
                VerifyingKey::deserialize(&proposal.account).map_err(crate::Error::crypto)?;
            if bound.proposal != proposal || bound.acceptance != acceptance {
                return Err(LifecycleError::Invalid {
                    peer: "the account".into(),
                    what: "binding outcome (not the binding this guardian signed)",
                });
            }
            bound.verify(&account)?;
            record(journal, key, &bound)?;
            Ok(Some(bound))
        }
    }
}

/// What a witness or signer of the account needs.
pub struct WitnessSide<'a> {
    /// The account's group key.
    pub authority: VerifyingKey,
    /// This device's replica of the account journal.
    pub journal: &'a Mutex<Journal>,
    /// This device's node key (authors the fact).
    pub device: &'a SigningKey,
}

impl std::fmt::Debug for WitnessSide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessSide")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// A witness of the account: checks the request, and on a commit for the
/// statement it derived from its own journal, records the binding fact.
pub async fn watch<T: Transport>(
    session: Session<T>,
    params: Params,
    side: WitnessSide<'_>,
) -> LResult<Option<GuardianBound>> {
    let s = match witness::open(session, params)?.branch().await? {
        witness::BindOrDismiss::Dismiss(Dismiss(_), end) => {
            end.finish()?;
            return Ok(None);
        }
        witness::BindOrDismiss::Bind(Bind(request), s) => {
            request.check(&side.authority)?;
            let prestate = guardians(side.journal, &side.authority)?.prestate(&side.authority)?;
            let expected = binding_statement(&request, &prestate)?;
            match s.body().branch().await?.into_done()? {
                witness::CommitOrAbort::Abort(Abort(_), end) => {
                    end.finish()?;
                    return Ok(None);
                }
                witness::CommitOrAbort::Commit(Commit(certificate), end) => {
                    fast_path::check_commit(&certificate, &expected, &side.authority)?;
                    let bound = GuardianBound {
                        proposal: request.proposal,
                        acceptance: request.acceptance,
                        certificate,
                    };
                    record(side.journal, side.device, &bound)?;
                    end.finish()
                        .map(|()| Some(bound))
                        .map_err(LifecycleError::from)?
                }
            }
        }
    };
    Ok(s)
}

/// A signer of the account: signs only the statement it derived itself,
/// at its own prestate, through its witness core (which records the slot
/// before it signs and never signs a second result for it).
pub async fn sign<T: Transport, R: SigningRecord, G: RngCore + CryptoRng>(
    session: Session<T>,
    params: Params,
    side: WitnessSide<'_>,
    core: &mut Witness<R>,
    rng: &mut G,
) -> LResult<bool> {
    let (request, s) = match signer::open(session, params)?.branch().await? {
        signer::BindOrDismiss::Dismiss(Dismiss(_), end) => {
            end.finish()?;
            return Ok(false);
        }
        signer::BindOrDismiss::Bind(Bind(request), s) => (request, s),
    };
    request.check(&side.authority)?;
    let prestate = guardians(side.journal, &side.authority)?.prestate(&side.authority)?;
    let expected = binding_statement(&request, &prestate)?;
    let (Execute(consensus), s) = match s.body().branch().await?.into_done()? {
        signer::ExecuteOrPrepare::Execute(m, s) => (m, s),
        signer::ExecuteOrPrepare::Prepare(Prepare(statement), s) => {
            if statement != expected {
                return Err(LifecycleError::Invalid {
                    peer: "the account".into(),
                    what: "statement to prepare (not the binding this signer derived)",
                });
            }
            let nonce = core
                .precommit(1, rng)?
                .pop()
                .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?;
            s.send(Nonces(nonce))
                .await?
                .into_done()?
                .recv()
                .await?
                .into_done()?
        }
    };
    let share = fast_path::sign_agreed(core, &consensus, &expected, &prestate, rng)?;
    s.send(Share(share)).await?.into_done()?.finish()?;
    Ok(true)
}
