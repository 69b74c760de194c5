//! Recovery from facts: a fresh device with the journal and the authority
//! root rederives every message key in the window. There is no device-local
//! ratchet state to restore — the original device's key cache is exactly
//! what [`recover`] recomputes.

use std::collections::BTreeMap;

use frost_ed25519::VerifyingKey;

use super::facts::{reduce, AmpFact, ChannelState};
use super::keys::{
    channel_base_key, message_key, AuthorityRoot, ChannelBaseKey, ChannelEpoch, ChannelId,
    ContextId, DeviceId, MessageKey,
};
use crate::error::Result;

/// A channel rebuilt from the journal.
#[derive(Debug)]
pub struct RecoveredChannel {
    state: ChannelState,
    bases: BTreeMap<ChannelEpoch, ChannelBaseKey>,
}

/// Reduce the facts and derive the base key of every accepted epoch.
pub fn recover<'a, I>(
    facts: I,
    root: &AuthorityRoot,
    authority: &VerifyingKey,
    context: ContextId,
    channel: ChannelId,
    width: u64,
) -> Result<RecoveredChannel>
where
    I: IntoIterator<Item = &'a AmpFact>,
{
    let state = reduce(facts, context, channel, width, authority)?;
    let bases = state
        .accepted_epochs()
        .into_iter()
        .map(|e| Ok((e, channel_base_key(root, &context, &channel, e)?)))
        .collect::<Result<_>>()?;
    Ok(RecoveredChannel { state, bases })
}

impl RecoveredChannel {
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
