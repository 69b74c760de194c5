//! Channel epoch bump through consensus (`choreo/epoch_bump.choreo`).
//!
//! The receiving authority's devices run it: the proposer derives a
//! [`BumpProposal`] from its journal ([`proposal`]); every signer and
//! witness checks it against *its own* journal
//! ([`ChannelState::check_bump`](crate::amp::ChannelState::check_bump):
//! the same parent, checkpoint and width, nothing pending, and for a
//! routine bump `h − G ≥ W/2` with `h` the highest generation the journal
//! shows accepted). A signer that refuses answers with its reason instead
//! of a nonce. The statement is [`bump_statement`]: one consensus instance
//! per (context, channel, parent), the prestate from (parent, checkpoint),
//! so a signer's witness core signs at most one successor per parent and
//! two conflicting proposals cannot both gather `t` shares when `2t > n`.
//!
//! The result, [`BumpCommitted`], is recorded by the proposer and every
//! witness as a certified-bump fact and sent to the members (the sending
//! authority's devices), who record it too; senders switch to the
//! successor at once, receivers accept both epochs until the first message
//! in the successor arrives (then the transition is finalized,
//! [`super::channel::receive_messages`]).

use choreo_runtime::guard::GuardedTransport;
use std::sync::Mutex;

use choreo_runtime::journal::{Journal, SigningKey};
use choreo_runtime::{Session, Transport};
use frost_ed25519::keys::PublicKeyPackage;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::channel::{finalize_transition_to, record, state, ChannelFact, ChannelSpec};
use super::fast_path::{self, SignerIds};
use super::recovery::NonceAnswer;
use super::{LResult, LifecycleError};
use crate::amp::{bump_statement, AmpFact, BumpProposal, BumpReason, DeviceId};
use crate::generated::epoch_bump::{
    member, proposer, signer, witness, Abort, Commit, Emergency, Execute, NewEpoch, Nonces, Params,
    Propose, Share, Stay,
};
use crate::share::KeyEpoch;
use crate::signing::UnverifiedCertificate;
use crate::wire::{AbortReason, EpochStable};
use crate::witness::{SigningRecord, Witness};

/// A certified bump: the proposal and the receiving authority's threshold
/// signature over its [`bump_statement`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BumpCommitted {
    /// The proposal.
    pub proposal: BumpProposal,
    /// The certificate.
    pub certificate: UnverifiedCertificate,
}

impl BumpCommitted {
    /// Check the certificate covers exactly this proposal under `spec`'s
    /// authority, then record it in `journal`.
    fn check_and_record(
        &self,
        spec: &ChannelSpec,
        journal: &Mutex<Journal>,
        device: &SigningKey,
    ) -> LResult<()> {
        let expected = bump_statement(&self.proposal)?;
        fast_path::check_commit(&self.certificate, &expected, &spec.authority)?;
        // A certified bump of parent `p` was signed only by signers that
        // saw `p` stable: so the transition into `p` is over. Record that
        // here too, or a member that never receives on the channel would
        // stay in the transition and never follow a second bump.
        let st = state(journal, spec)?;
        finalize_transition_to(journal, device, spec, &st, self.proposal.parent)?;
        record(
            journal,
            device,
            &ChannelFact(AmpFact::BumpCertified {
                proposal: self.proposal.clone(),
                certificate: self.certificate.clone(),
            }),
        )?;
        Ok(())
    }
}

/// The bump this device would propose now, from its own journal (routine
/// bumps are refused below `G + W/2`).
pub fn proposal(
    journal: &Mutex<Journal>,
    spec: &ChannelSpec,
    device: DeviceId,
    reason: BumpReason,
) -> LResult<BumpProposal> {
    let st = state(journal, spec)?;
    let seen = st.highest_accepted.get(&st.stable).copied().unwrap_or(0);
    Ok(st.propose_bump(device, seen, reason)?)
}

/// How a bump ended for the proposer.
#[derive(Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum BumpOutcome {
    /// Certified: recorded here, sent to witnesses and members.
    Committed(BumpCommitted),
    /// Signers refused (by index, with their reasons); aborted.
    Refused(Vec<(u32, String)>),
}

/// What the proposing device needs.
pub struct ProposerSide<'a> {
    /// The receiving authority's public key package.
    pub public: &'a PublicKeyPackage,
    /// Its key epoch.
    pub epoch: KeyEpoch,
    /// `Signer[i]` is participant `signers.0[i]`.
    pub signers: SignerIds,
    /// The channel.
    pub spec: ChannelSpec,
    /// This device's journal.
    pub journal: &'a Mutex<Journal>,
    /// This device's node key.
    pub device: &'a SigningKey,
}

impl std::fmt::Debug for ProposerSide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProposerSide")
            .field("signers", &self.signers)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The proposer runs the bump of `proposal`.
pub async fn propose<T: Transport>(
    session: Session<GuardedTransport<T>>,
    params: Params,
    side: ProposerSide<'_>,
    proposal: BumpProposal,
) -> LResult<BumpOutcome> {
    let statement = bump_statement(&proposal)?;
    let s = proposer::open(session, params)?.body();
    let s = match proposal.reason {
        BumpReason::Routine => {
            s.select_routine()
                .send_all(Propose(proposal.clone()))
                .await?
                .into_done()?
                .send_all(Propose(proposal.clone()))
                .await?
        }
        BumpReason::SuspectedCompromise => {
            s.select_compromise()
                .send_all(Emergency(proposal.clone()))
                .await?
                .into_done()?
                .send_all(Emergency(proposal.clone()))
                .await?
        }
    };
    let (answers, s) = s.into_done()?.recv_all().await?.into_done()?;
    let mut nonces = Vec::new();
    let mut refused = Vec::new();
    for (i, Nonces(a)) in answers {
        match a {
            NonceAnswer::Nonce(n) => nonces.push((i, n)),
            NonceAnswer::Refused(why) => refused.push((i, why)),
            NonceAnswer::NotNamed => refused.push((i, "answered not named".into())),
        }
    }
    if !refused.is_empty() {
        let reason = AbortReason {
            code: 20,
            detail: format!("{} signer(s) refused the bump", refused.len()),
        };
        s.select_abort()
            .send_all(Abort(reason.clone()))
            .await?
            .into_done()?
            .send_all(Abort(reason))
            .await?
            .into_done()?
            .send_all(Stay(EpochStable {
                channel: side.spec.channel.0,
                epoch: proposal.parent.0,
            }))
            .await?
            .into_done()?
            .finish()?;
        return Ok(BumpOutcome::Refused(refused));
    }
    let request = fast_path::request_from_nonces(statement, side.epoch, nonces, &side.signers)?;
    let (shares, s) = s
        .select_commit()
        .send_all(Execute(request.clone()))
        .await?
        .into_done()?
        .recv_all()
        .await?
        .into_done()?;
    let shares = shares.into_iter().map(|(i, Share(x))| (i, x)).collect();
    let certificate = fast_path::certify(side.public, &request, shares, &side.signers)?;
    let committed = BumpCommitted {
        proposal,
        certificate: certificate.to_unverified()?,
    };
    committed.check_and_record(&side.spec, side.journal, side.device)?;
    s.send_all(Commit(committed.clone()))
        .await?
        .into_done()?
        .send_all(NewEpoch(committed.clone()))
        .await?
        .into_done()?
        .finish()?;
    Ok(BumpOutcome::Committed(committed))
}

/// What a signer, witness or member needs: the channel, its journal and
/// node key.
pub struct PeerSide<'a> {
    /// The channel.
    pub spec: ChannelSpec,
    /// This device's journal.
    pub journal: &'a Mutex<Journal>,
    /// This device's node key.
    pub device: &'a SigningKey,
}

impl std::fmt::Debug for PeerSide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSide")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

fn label_matches(proposal: &BumpProposal, emergency: bool) -> bool {
    (proposal.reason == BumpReason::SuspectedCompromise) == emergency
}

/// A signer: checks the proposal against its own journal, answers with a
/// nonce or its refusal, and signs only that proposal's statement. The
/// witness core is behind a lock (taken for one step at a time) because
/// one device may sign in several concurrent bump sessions; its record
/// makes the second of two conflicting proposals refused.
pub async fn sign<T: Transport, R: SigningRecord, G: RngCore + CryptoRng>(
    session: Session<T>,
    params: Params,
    side: PeerSide<'_>,
    core: &Mutex<Witness<R>>,
    rng: &mut G,
) -> LResult<Result<(), String>> {
    let (proposal, emergency, s) = match signer::open(session, params)?
        .body()
        .branch()
        .await?
        .into_done()?
    {
        signer::ProposeOrEmergency::Propose(Propose(p), s) => (p, false, s),
        signer::ProposeOrEmergency::Emergency(Emergency(p), s) => (p, true, s),
    };
    let statement = bump_statement(&proposal)?;
    let verdict = if label_matches(&proposal, emergency) {
        state(side.journal, &side.spec)?
            .check_bump(&proposal)
            .map_err(|e| e.to_string())
    } else {
        Err("the label and the proposal's reason differ".into())
    };
    let answer = match &verdict {
        Ok(()) => NonceAnswer::Nonce(
            lock_core(core)?
                .precommit(1, rng)?
                .pop()
                .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?,
        ),
        Err(why) => NonceAnswer::Refused(why.clone()),
    };
    match s
        .send(Nonces(answer))
        .await?
        .into_done()?
        .branch()
        .await?
        .into_done()?
    {
        signer::ExecuteOrAbort::Abort(_, end) => {
            end.finish()?;
            Ok(verdict.and(Err("the bump was aborted".into())))
        }
        signer::ExecuteOrAbort::Execute(Execute(request), s) => {
            if let Err(why) = verdict {
                return Ok(Err(why));
            }
            let share = {
                let mut core = lock_core(core)?;
                fast_path::sign_agreed(&mut core, &request, &statement, &statement.prestate, rng)?
            };
            s.send(Share(share)).await?.into_done()?.finish()?;
            Ok(Ok(()))
        }
    }
}

fn lock_core<R: SigningRecord>(
    core: &Mutex<Witness<R>>,
) -> LResult<std::sync::MutexGuard<'_, Witness<R>>> {
    core.lock()
        .map_err(|_| crate::Error::Crypto("the witness core lock is poisoned".into()).into())
}

/// A witness: on a commit for the proposal it was shown, verified under
/// the authority key, it records the certified bump.
pub async fn watch<T: Transport>(
    session: Session<T>,
    params: Params,
    side: PeerSide<'_>,
) -> LResult<Option<BumpCommitted>> {
    let (proposal, s) = match witness::open(session, params)?
        .body()
        .branch()
        .await?
        .into_done()?
    {
        witness::ProposeOrEmergency::Propose(Propose(p), s) => (p, s),
        witness::ProposeOrEmergency::Emergency(Emergency(p), s) => (p, s),
    };
    match s.branch().await?.into_done()? {
        witness::CommitOrAbort::Abort(_, end) => {
            end.finish()?;
            Ok(None)
        }
        witness::CommitOrAbort::Commit(Commit(committed), end) => {
            if committed.proposal != proposal {
                return Err(LifecycleError::Invalid {
                    peer: "the proposer".into(),
                    what: "bump commit (for another proposal than the one shown)",
                });
            }
            committed.check_and_record(&side.spec, side.journal, side.device)?;
            end.finish()?;
            Ok(Some(committed))
        }
    }
}

/// A member (a device of the sending authority) learns the outcome and
/// records a certified successor, verified under the receiving authority's
/// key; its senders switch to it.
pub async fn learn<T: Transport>(
    session: Session<T>,
    params: Params,
    side: PeerSide<'_>,
) -> LResult<Option<BumpCommitted>> {
    match member::open(session, params)?
        .body()
        .branch()
        .await?
        .into_done()?
    {
        member::NewEpochOrStay::Stay(_, end) => {
            end.finish()?;
            Ok(None)
        }
        member::NewEpochOrStay::NewEpoch(NewEpoch(committed), end) => {
            committed.check_and_record(&side.spec, side.journal, side.device)?;
            end.finish()?;
            Ok(Some(committed))
        }
    }
}
