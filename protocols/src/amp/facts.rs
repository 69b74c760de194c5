//! Epoch-transition facts and the pure reducer that turns a set of facts
//! into a [`ChannelState`].
//!
//! Rules (all decided from the fact *set*, never from arrival order):
//! * A checkpoint for an epoch is the maximum `base` among its checkpoint
//!   facts.
//! * A certification counts only if its proposal is admissible (routine
//!   bumps need `gen − G ≥ W/2`; compromise bumps are always admissible),
//!   its statement is [`bump_statement`] of that proposal and its signature
//!   verifies under the authority key.
//! * Starting from epoch 0: if the stable epoch has exactly one certified
//!   successor proposal, that successor is *pending* (both epochs are
//!   accepted); if it is also finalized, it becomes stable and we continue.
//!   Two or more distinct certified proposals for one parent are a conflict:
//!   everyone stays on the stable epoch, with no pending successor.

use std::collections::{BTreeMap, BTreeSet};

use frost_ed25519::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{ChannelEpoch, ChannelId, ContextId, DeviceId};
use super::seal::AmpHeader;
use super::window::Window;
use crate::error::{Error, Rejection, Result, Usage};
use crate::signing::{CommitStatement, UnverifiedCertificate};

/// Why a bump is proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BumpReason {
    /// Half a window has passed.
    Routine,
    /// A device may be compromised: bump now, whatever the generation.
    SuspectedCompromise,
}

/// A proposal to move a channel from `parent` to `parent + 1`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BumpProposal {
    /// Context.
    pub context: ContextId,
    /// Channel.
    pub channel: ChannelId,
    /// Epoch being replaced.
    pub parent: ChannelEpoch,
    /// Checkpoint `G` of the parent the proposer saw.
    pub checkpoint: u64,
    /// Highest generation the proposer saw.
    pub observed_generation: u64,
    /// Window width `W`.
    pub window: u64,
    /// Why.
    pub reason: BumpReason,
    /// Who proposes.
    pub proposer: DeviceId,
}

/// Content hash of a proposal; ties are broken by it, never by arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProposalId(pub [u8; 32]);

impl BumpProposal {
    /// Content hash.
    pub fn id(&self) -> Result<ProposalId> {
        let bytes = postcard::to_allocvec(self).map_err(Error::crypto)?;
        let mut h = Sha256::new();
        h.update(b"aura/amp/v1/bump-proposal");
        h.update(&bytes);
        Ok(ProposalId(h.finalize().into()))
    }

    /// The bump rule, checkable from the proposal alone.
    pub fn admissible(&self) -> bool {
        match self.reason {
            BumpReason::SuspectedCompromise => true,
            BumpReason::Routine => Window::new(self.checkpoint, self.window)
                .map(|w| w.routine_bump_allowed(self.observed_generation))
                .unwrap_or(false),
        }
    }
}

/// The statement consensus signs to certify a bump: one successor per
/// (context, channel, parent) consensus instance.
pub fn bump_statement(proposal: &BumpProposal) -> Result<CommitStatement> {
    let mut consensus = Sha256::new();
    consensus.update(b"aura/amp/v1/bump-consensus");
    consensus.update(proposal.context.0);
    consensus.update(proposal.channel.0);
    consensus.update(proposal.parent.0.to_be_bytes());
    let mut prestate = Sha256::new();
    prestate.update(b"aura/amp/v1/bump-prestate");
    prestate.update(proposal.parent.0.to_be_bytes());
    prestate.update(proposal.checkpoint.to_be_bytes());
    Ok(CommitStatement {
        consensus_id: consensus.finalize().into(),
        prestate: prestate.finalize().into(),
        operation: proposal.id()?.0,
    })
}

/// Journal facts about a channel. Plain data; joined by set union.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AmpFact {
    /// The window of `epoch` moves to `base`.
    Checkpoint {
        /// Context.
        context: ContextId,
        /// Channel.
        channel: ChannelId,
        /// Epoch.
        epoch: ChannelEpoch,
        /// New `G`.
        base: u64,
    },
    /// A bump was proposed (informational; certification decides).
    BumpProposed(BumpProposal),
    /// Consensus certified a bump.
    BumpCertified {
        /// The proposal.
        proposal: BumpProposal,
        /// Threshold signature over [`bump_statement`].
        certificate: UnverifiedCertificate,
    },
    /// The certified successor replaces its parent.
    BumpFinalized {
        /// Context.
        context: ContextId,
        /// Channel.
        channel: ChannelId,
        /// Parent epoch.
        parent: ChannelEpoch,
        /// Which certified proposal.
        proposal: ProposalId,
    },
    /// A device of the receiving authority accepted (opened) the message
    /// with this header. Appended together with the open, so a device that
    /// recovers after losing every device rebuilds the replay set from the
    /// journal and refuses replays of messages accepted before the loss.
    Accepted(AmpHeader),
}

/// What the facts say about one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelState {
    /// Context.
    pub context: ContextId,
    /// Channel.
    pub channel: ChannelId,
    /// Window width `W`.
    pub width: u64,
    /// The stable epoch.
    pub stable: ChannelEpoch,
    /// The certified, not yet finalized successor, if any.
    pub pending: Option<(ChannelEpoch, ProposalId)>,
    /// Set when the stable epoch has conflicting certificates.
    pub conflict: bool,
    /// `G` per epoch (absent = 0).
    pub checkpoints: BTreeMap<ChannelEpoch, u64>,
    /// Highest generation accepted per epoch, from `Accepted` facts.
    pub highest_accepted: BTreeMap<ChannelEpoch, u64>,
}

impl ChannelState {
    /// Epochs currently accepted: the stable one and, during a
    /// transition, its successor.
    pub fn accepted_epochs(&self) -> Vec<ChannelEpoch> {
        let mut v = vec![self.stable];
        if let Some((p, _)) = self.pending {
            v.push(p);
        }
        v
    }

    /// The window of an accepted epoch.
    pub fn window(&self, epoch: ChannelEpoch) -> Result<Window, Rejection> {
        if !self.accepted_epochs().contains(&epoch) {
            return Err(Rejection::EpochNotAccepted(epoch.0));
        }
        Ok(Window {
            base: self.checkpoints.get(&epoch).copied().unwrap_or(0),
            width: self.width,
        })
    }

    /// Accept or explain an `(epoch, generation)`.
    pub fn accepts(&self, epoch: ChannelEpoch, generation: u64) -> Result<(), Rejection> {
        self.window(epoch)?.check(generation)
    }

    /// Senders move to the successor as soon as it is certified.
    pub fn send_epoch(&self) -> ChannelEpoch {
        self.pending.map_or(self.stable, |(p, _)| p)
    }

    /// Propose a bump of the stable epoch having seen `observed_generation`.
    /// Routine bumps are refused below `G + W/2`.
    pub fn propose_bump(
        &self,
        proposer: DeviceId,
        observed_generation: u64,
        reason: BumpReason,
    ) -> Result<BumpProposal> {
        if self.pending.is_some() {
            return Err(Usage::BumpInProgress {
                parent: self.stable.0,
            }
            .into());
        }
        if self.conflict {
            return Err(Usage::BumpConflict {
                parent: self.stable.0,
            }
            .into());
        }
        let window = self.window(self.stable)?;
        let proposal = BumpProposal {
            context: self.context,
            channel: self.channel,
            parent: self.stable,
            checkpoint: window.base,
            observed_generation,
            window: self.width,
            reason,
            proposer,
        };
        if !proposal.admissible() {
            return Err(Usage::BumpTooEarly {
                generation: observed_generation,
                checkpoint: window.base,
                half: self.width / 2,
            }
            .into());
        }
        Ok(proposal)
    }

    /// A witness's check of a bump proposal against its *own* reduced
    /// journal (checkpoint and `Accepted` facts, each of which the journal
    /// admitted only with a valid signature), never against the figures
    /// the proposer wrote: the proposal must name this state's stable epoch,
    /// its checkpoint `G` and width, no successor may be pending or in
    /// conflict, and a routine bump needs `h − G ≥ W/2`, `h` being the
    /// highest generation the journal shows accepted in the stable epoch.
    /// A bump for suspected compromise is allowed at any generation.
    pub fn check_bump(&self, proposal: &BumpProposal) -> Result<()> {
        let window = self.window(self.stable)?;
        let same = proposal.context == self.context
            && proposal.channel == self.channel
            && proposal.parent == self.stable
            && proposal.checkpoint == window.base
            && proposal.window == self.width
            && self.pending.is_none()
            && !self.conflict;
        if !same {
            return Err(crate::witness::Refusal::WrongPrestate.into());
        }
        if proposal.reason == BumpReason::Routine {
            let seen = self
                .highest_accepted
                .get(&self.stable)
                .copied()
                .unwrap_or(0);
            if !window.routine_bump_allowed(seen) {
                return Err(crate::witness::Refusal::BumpTooEarly {
                    generation: seen,
                    checkpoint: window.base,
                    half: self.width / 2,
                }
                .into());
            }
        }
        Ok(())
    }

    /// A checkpoint fact moving `epoch`'s window to `base`.
    pub fn checkpoint(&self, epoch: ChannelEpoch, base: u64) -> AmpFact {
        AmpFact::Checkpoint {
            context: self.context,
            channel: self.channel,
            epoch,
            base,
        }
    }
}

/// The channel's facts folded in one at a time: the state [`reduce`]
/// computes, kept up to date as a journal grows, without reading the
/// journal again (each fact is decoded and each certificate verified
/// once). Folding is idempotent and order-free, so folding a fact twice or
/// in another order gives the same state.
#[derive(Clone, Debug)]
pub struct ChannelFold {
    context: ContextId,
    channel: ChannelId,
    width: u64,
    authority: VerifyingKey,
    checkpoints: BTreeMap<ChannelEpoch, u64>,
    certified: BTreeMap<ChannelEpoch, BTreeSet<ProposalId>>,
    finalized: BTreeSet<(ChannelEpoch, ProposalId)>,
    highest_accepted: BTreeMap<ChannelEpoch, u64>,
}

impl ChannelFold {
    /// No facts yet, for one channel whose bumps `authority` certifies.
    pub fn new(
        context: ContextId,
        channel: ChannelId,
        width: u64,
        authority: &VerifyingKey,
    ) -> Result<Self> {
        Window::new(0, width)?;
        Ok(ChannelFold {
            context,
            channel,
            width,
            authority: *authority,
            checkpoints: BTreeMap::new(),
            certified: BTreeMap::new(),
            finalized: BTreeSet::new(),
            highest_accepted: BTreeMap::new(),
        })
    }

    fn ours(&self, c: &ContextId, ch: &ChannelId) -> bool {
        *c == self.context && *ch == self.channel
    }

    /// Fold one fact in (facts of other channels, and certificates that
    /// do not verify, change nothing).
    pub fn apply(&mut self, fact: &AmpFact) {
        match fact {
            AmpFact::Accepted(h) if self.ours(&h.context, &h.channel) => {
                let e = self.highest_accepted.entry(h.epoch).or_insert(0);
                *e = (*e).max(h.generation);
            }
            AmpFact::Checkpoint {
                context: c,
                channel: ch,
                epoch,
                base,
            } if self.ours(c, ch) => {
                let e = self.checkpoints.entry(*epoch).or_insert(0);
                *e = (*e).max(*base);
            }
            AmpFact::BumpCertified {
                proposal,
                certificate,
            } if self.ours(&proposal.context, &proposal.channel)
                && proposal.window == self.width
                && proposal.admissible() =>
            {
                let Ok(statement) = bump_statement(proposal) else {
                    return;
                };
                let id = ProposalId(statement.operation);
                let known = self
                    .certified
                    .get(&proposal.parent)
                    .is_some_and(|ids| ids.contains(&id));
                if !known
                    && certificate.statement == statement
                    && certificate.verify(&self.authority).is_ok()
                {
                    self.certified
                        .entry(proposal.parent)
                        .or_default()
                        .insert(id);
                }
            }
            AmpFact::BumpFinalized {
                context: c,
                channel: ch,
                parent,
                proposal,
            } if self.ours(c, ch) => {
                self.finalized.insert((*parent, *proposal));
            }
            _ => {}
        }
    }

    /// The state of every fact folded in so far.
    pub fn state(&self) -> ChannelState {
        let mut stable = ChannelEpoch(0);
        let mut pending = None;
        let mut conflict = false;
        while let Some(candidates) = self.certified.get(&stable) {
            let mut iter = candidates.iter();
            match (iter.next(), iter.next()) {
                (Some(only), None) => {
                    let successor = ChannelEpoch(stable.0.saturating_add(1));
                    if self.finalized.contains(&(stable, *only)) && successor != stable {
                        stable = successor;
                        continue;
                    }
                    pending = Some((successor, *only));
                }
                (Some(_), Some(_)) => conflict = true,
                (None, _) => {}
            }
            break;
        }
        ChannelState {
            context: self.context,
            channel: self.channel,
            width: self.width,
            stable,
            pending,
            conflict,
            checkpoints: self.checkpoints.clone(),
            highest_accepted: self.highest_accepted.clone(),
        }
    }
}

/// Reduce a fact set to the channel's state. Pure: the result depends only
/// on the *set* of facts (order and duplicates are irrelevant) and the
/// authority key that certificates must verify under.
pub fn reduce<'a, I>(
    facts: I,
    context: ContextId,
    channel: ChannelId,
    width: u64,
    authority: &VerifyingKey,
) -> Result<ChannelState>
where
    I: IntoIterator<Item = &'a AmpFact>,
{
    let mut fold = ChannelFold::new(context, channel, width, authority)?;
    for fact in facts {
        fold.apply(fact);
    }
    Ok(fold.state())
}
