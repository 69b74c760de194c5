//! Recovery from facts: a fresh device with the journal and the channel
//! root (recomputed by threshold DH from the authority's current shares,
//! see [`super::root`]) rederives every message key in the window. There is
//! no device-local ratchet state to restore — the original device's key
//! cache is exactly what [`recover`] recomputes, and its replay set is the
//! set of [`AmpFact::Accepted`] headers in the journal.

use std::collections::BTreeMap;

use frost_ed25519::VerifyingKey;

use super::facts::{reduce, AmpFact, ChannelState};
use super::keys::{
    channel_base_key, message_key, ChannelBaseKey, ChannelEpoch, ChannelId, ContextId, DeviceId,
    MessageKey,
};
use super::root::ChannelRoot;
use super::seal::{AmpHeader, ChannelReceiver};
use crate::error::Result;

/// A channel rebuilt from the journal.
#[derive(Debug)]
pub struct RecoveredChannel {
    state: ChannelState,
    accepted: Vec<AmpHeader>,
    bases: BTreeMap<ChannelEpoch, ChannelBaseKey>,
}

/// Reduce the facts and derive the base key of every accepted epoch.
pub fn recover<'a, I>(
    facts: I,
    root: &ChannelRoot,
    authority: &VerifyingKey,
    context: ContextId,
    channel: ChannelId,
    width: u64,
) -> Result<RecoveredChannel>
where
    I: IntoIterator<Item = &'a AmpFact>,
{
    let facts: Vec<&AmpFact> = facts.into_iter().collect();
    let state = reduce(facts.iter().copied(), context, channel, width, authority)?;
    let accepted = facts
        .iter()
        .filter_map(|f| match f {
            AmpFact::Accepted(h) if h.context == context && h.channel == channel => Some(*h),
            _ => None,
        })
        .collect();
    let bases = state
        .accepted_epochs()
        .into_iter()
        .map(|e| Ok((e, channel_base_key(root, &context, &channel, e)?)))
        .collect::<Result<_>>()?;
    Ok(RecoveredChannel {
        state,
        accepted,
        bases,
    })
}

impl RecoveredChannel {
    /// A receiver whose replay set holds every message the authority
    /// accepted before (from the journal), so a replay of one is refused.
    pub fn receiver(&self) -> ChannelReceiver {
        ChannelReceiver::with_accepted(&self.accepted)
    }

    /// The reduced state.
    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// The key for one accepted `(epoch, generation, sender)`.
    pub fn message_key(
        &self,
        epoch: ChannelEpoch,
        generation: u64,
        sender: DeviceId,
    ) -> Result<MessageKey> {
        self.state.accepts(epoch, generation)?;
        let base = self
            .bases
            .get(&epoch)
            .ok_or(crate::error::Rejection::EpochNotAccepted(epoch.0))?;
        message_key(base, generation, sender)
    }

    /// Every key in every accepted window for the given senders:
    /// `|epochs| × (2W + 1) × |senders|` keys.
    pub fn keys_in_window(
        &self,
        senders: &[DeviceId],
    ) -> Result<BTreeMap<(ChannelEpoch, u64, DeviceId), MessageKey>> {
        let mut out = BTreeMap::new();
        for (epoch, base) in &self.bases {
            let window = self.state.window(*epoch)?;
            for generation in window.base..=window.top() {
                for sender in senders {
                    out.insert(
                        (*epoch, generation, *sender),
                        message_key(base, generation, *sender)?,
                    );
                }
            }
        }
        Ok(out)
    }
}
