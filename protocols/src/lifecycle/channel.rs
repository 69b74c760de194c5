//! AMP channel messaging between two authorities (`choreo/amp_channel.choreo`).
//!
//! A channel here is one direction: devices of the sending authority seal
//! with their own [`ChannelSender`] (the device id is in every message key,
//! so two devices sending at once never share a key, and each nonce is
//! random under its key), and devices of the receiving authority open with
//! a [`ChannelReceiver`] and record, in their journal, the accepted header
//! ([`AmpFact::Accepted`]) and the sealed bytes ([`Inbox`]). The
//! receiving authority's journal is therefore the channel's evidence: its
//! witnesses check the bump spacing rule against it, and its recovered
//! devices rebuild the replay set and read the history from it.
//!
//! Epochs are governed by the receiving authority ([`ChannelSpec::authority`]
//! certifies bumps, [`super::epoch`]). The root comes from any `t` holders
//! of an authority's key ([`ask_root`], [`give_root_partial`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use choreo_runtime::journal::{author_of, Fact, FactBody, Journal, SigningKey};
use choreo_runtime::{Session, Transport};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::fast_path::SignerIds;
use super::{lock, LResult, LifecycleError};
use crate::amp::{
    self, channel_base_key, message_key, open_with_key, AmpFact, AmpHeader, AmpMessage,
    ChannelEpoch, ChannelId, ChannelReceiver, ChannelRoot, ChannelSender, ChannelState, ContextId,
};
use crate::generated::{channel_root, channel_stream};
use crate::share::AuthorityKeyShare;
use crate::wire::AbortReason;

/// A device asks its authority's holders for their root partials toward
/// `peer` (the other authority's group key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootAsk {
    /// The other authority's group verifying key.
    pub peer: Vec<u8>,
}

/// An AMP message on the wire ([`AmpMessage::to_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMessage(pub Vec<u8>);

/// Journal fact carrying an [`AmpFact`] (checkpoints, bumps, accepted
/// headers). Like every journal fact it is signed by its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelFact(pub AmpFact);

impl FactBody for ChannelFact {
    const KIND: &'static str = "aura.amp";
    const VERSION: u16 = 1;
}

/// Journal fact: the sealed bytes of a message this authority accepted,
/// so a recovered device can read the history (still sealed at rest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox(pub SealedMessage);

impl FactBody for Inbox {
    const KIND: &'static str = "aura.amp-inbox";
    const VERSION: u16 = 1;
}

/// Which channel, and whose key certifies its epoch bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Context.
    pub context: ContextId,
    /// Channel (one direction).
    pub channel: ChannelId,
    /// Window width `W`.
    pub width: u64,
    /// The receiving authority's group key (certifies bumps).
    pub authority: VerifyingKey,
}

/// Append `body` to `journal`, signed by `author`.
pub fn record<B: FactBody>(
    journal: &Mutex<Journal>,
    author: &SigningKey,
    body: &B,
) -> LResult<bool> {
    let mut journal = lock(journal)?;
    let fact = Fact::new(journal.scope(), author_of(author), body)?.sign(author)?;
    Ok(journal.append(fact)?)
}

/// If `st` is in the transition to epoch `successor`, record that the
/// transition is final (its parent epoch stops being accepted).
pub fn finalize_transition_to(
    journal: &Mutex<Journal>,
    device: &SigningKey,
    spec: &ChannelSpec,
    st: &ChannelState,
    successor: ChannelEpoch,
) -> LResult<()> {
    if let Some(fact) = transition_to(spec, st, successor) {
        record(journal, device, &ChannelFact(fact))?;
    }
    Ok(())
}

/// The fact finalizing `st`'s transition, if it is the one to `successor`.
fn transition_to(
    spec: &ChannelSpec,
    st: &ChannelState,
    successor: ChannelEpoch,
) -> Option<AmpFact> {
    let (pending, proposal) = st.pending?;
    (pending == successor).then_some(AmpFact::BumpFinalized {
        context: spec.context,
        channel: spec.channel,
        parent: st.stable,
        proposal,
    })
}

/// Every [`AmpFact`] in `journal` (facts that do not decode are skipped:
/// they verified as signed facts but are not ours to read).
pub fn amp_facts(journal: &Mutex<Journal>) -> LResult<Vec<AmpFact>> {
    let j = lock(journal)?;
    Ok(j.facts()
        .iter()
        .filter(|f| f.fact().kind == ChannelFact::KIND)
        .filter_map(|f| f.body::<ChannelFact>().ok())
        .map(|ChannelFact(a)| a)
        .collect())
}

/// The channel's state as `journal` shows it.
pub fn state(journal: &Mutex<Journal>, spec: &ChannelSpec) -> LResult<ChannelState> {
    let facts = amp_facts(journal)?;
    Ok(amp::reduce(
        &facts,
        spec.context,
        spec.channel,
        spec.width,
        &spec.authority,
    )?)
}

/// The channel's state as a journal shows it, kept up to date across a
/// stream without reading the whole journal for every message: the facts
/// a stream role appends itself are folded in as it appends them, and the
/// journal is read again only when it holds facts this view has not
/// folded (another task of the node appended some).
struct JournalView {
    fold: amp::ChannelFold,
    /// Facts of the journal folded in so far.
    facts: usize,
}

impl JournalView {
    fn read(journal: &Mutex<Journal>, spec: &ChannelSpec) -> LResult<Self> {
        let j = lock(journal)?;
        let mut fold =
            amp::ChannelFold::new(spec.context, spec.channel, spec.width, &spec.authority)?;
        for f in j
            .facts()
            .iter()
            .filter(|f| f.fact().kind == ChannelFact::KIND)
        {
            if let Ok(ChannelFact(fact)) = f.body::<ChannelFact>() {
                fold.apply(&fact);
            }
        }
        Ok(JournalView {
            fold,
            facts: j.facts().len(),
        })
    }

    /// The state now (the journal re-read if it grew behind this view).
    fn state(&mut self, journal: &Mutex<Journal>, spec: &ChannelSpec) -> LResult<ChannelState> {
        if lock(journal)?.facts().len() != self.facts {
            *self = Self::read(journal, spec)?;
        }
        Ok(self.fold.state())
    }

    /// Append `body` to the journal as this device's fact and fold it in.
    fn record<B: FactBody>(
        &mut self,
        journal: &Mutex<Journal>,
        author: &SigningKey,
        body: &B,
        fact: Option<&AmpFact>,
    ) -> LResult<()> {
        if record(journal, author, body)? {
            self.facts += 1;
        }
        if let Some(fact) = fact {
            self.fold.apply(fact);
        }
        Ok(())
    }
}

/// A device gets the channel root toward `peer` from `t` holders of its
/// authority (`holders` maps `Holder[i]` to its participant id); every
/// partial's DLEQ proof is checked against the holder's verifying share.
pub async fn ask_root<T: Transport>(
    session: Session<T>,
    params: channel_root::Params,
    public: &PublicKeyPackage,
    peer: &VerifyingKey,
    holders: &SignerIds,
) -> LResult<ChannelRoot> {
    let peer_bytes = peer.serialize().map_err(crate::Error::crypto)?;
    let (partials, end) = channel_root::device::open(session, params)?
        .send_all(channel_root::Ask(RootAsk { peer: peer_bytes }))
        .await?
        .recv_all()
        .await?;
    end.finish()?;
    let mut by_holder = BTreeMap::new();
    for (i, channel_root::Partial(p)) in partials {
        by_holder.insert(holders.get(i)?, p);
    }
    Ok(amp::root::combine(public, peer, &by_holder)?)
}

/// A holder answers with its partial `s_i · Y_peer` and DLEQ proof.
pub async fn give_root_partial<T: Transport, G: RngCore + CryptoRng>(
    session: Session<T>,
    params: channel_root::Params,
    share: &AuthorityKeyShare,
    rng: &mut G,
) -> LResult<()> {
    let (channel_root::Ask(ask), s) = channel_root::holder::open(session, params)?.recv().await?;
    let peer = VerifyingKey::deserialize(&ask.peer).map_err(|_| LifecycleError::Invalid {
        peer: "the asking device".into(),
        what: "peer group key",
    })?;
    let partial = amp::root::partial(share, &peer, rng)?;
    s.send(channel_root::Partial(partial)).await?.finish()?;
    Ok(())
}

/// What a sender used for one message: the key's fingerprint and the nonce
/// (so tests can check that no (key, nonce) pair is ever used twice).
pub type KeyUse = ([u8; 32], [u8; 24]);

/// One device sends `messages` on the stream, each sealed in the sending
/// epoch its journal shows (the successor as soon as it is certified).
pub async fn send_messages<T: Transport, G: RngCore + CryptoRng>(
    session: Session<T>,
    sender: &mut ChannelSender,
    spec: &ChannelSpec,
    journal: &Mutex<Journal>,
    root: &ChannelRoot,
    messages: &[Vec<u8>],
    rng: &mut G,
) -> LResult<Vec<KeyUse>> {
    let mut s = channel_stream::sender::open(session, channel_stream::Params {})?;
    let mut used = Vec::with_capacity(messages.len());
    let mut view = JournalView::read(journal, spec)?;
    for m in messages {
        let st = view.state(journal, spec)?;
        let sealed = sender.seal(&st, root, m, rng)?;
        used.push((sealed.key_fingerprint, sealed.message.nonce));
        s = s
            .select_more()
            .send(channel_stream::Message(SealedMessage(
                sealed.message.to_bytes(),
            )))
            .await?;
    }
    s.select_close()
        .send(channel_stream::Close(AbortReason {
            code: 0,
            detail: "done".into(),
        }))
        .await?
        .finish()?;
    Ok(used)
}

/// What a receiving device made of a stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Opened messages, in arrival order.
    pub opened: Vec<(AmpHeader, Vec<u8>)>,
    /// Messages refused (replay, outside the window, tampered), with why.
    pub refused: Vec<String>,
}

/// A receiving device opens every message of the stream against the state
/// its journal shows, and records each accepted one (header and sealed
/// bytes). The first message it accepts in a certified successor epoch
/// ends the transition (it records the finalization).
pub async fn receive_messages<T: Transport>(
    session: Session<T>,
    receiver: &mut ChannelReceiver,
    spec: &ChannelSpec,
    journal: &Mutex<Journal>,
    device: &SigningKey,
    root: &ChannelRoot,
) -> LResult<Received> {
    let mut out = Received::default();
    let mut s = channel_stream::receiver::open(session, channel_stream::Params {})?;
    let mut view = JournalView::read(journal, spec)?;
    loop {
        match s.branch().await? {
            channel_stream::receiver::MessageOrClose::Close(_, end) => {
                end.finish()?;
                return Ok(out);
            }
            channel_stream::receiver::MessageOrClose::Message(
                channel_stream::Message(bytes),
                next,
            ) => {
                s = next;
                let st = view.state(journal, spec)?;
                match accept(receiver, &st, root, &bytes) {
                    Ok((header, plaintext)) => {
                        let accepted = AmpFact::Accepted(header);
                        view.record(
                            journal,
                            device,
                            &ChannelFact(accepted.clone()),
                            Some(&accepted),
                        )?;
                        view.record(journal, device, &Inbox(bytes), None)?;
                        if let Some(finalized) = transition_to(spec, &st, header.epoch) {
                            view.record(
                                journal,
                                device,
                                &ChannelFact(finalized.clone()),
                                Some(&finalized),
                            )?;
                        }
                        out.opened.push((header, plaintext));
                    }
                    Err(e) => out.refused.push(e.to_string()),
                }
            }
        }
    }
}

fn accept(
    receiver: &mut ChannelReceiver,
    state: &ChannelState,
    root: &ChannelRoot,
    bytes: &SealedMessage,
) -> crate::Result<(AmpHeader, Vec<u8>)> {
    let message = AmpMessage::from_bytes(&bytes.0)?;
    let plaintext = receiver.open(state, root, &message)?;
    Ok((message.header, plaintext))
}

/// A receiver for a device that lost everything but the journal: its
/// replay set is every header the journal shows accepted, so a replay of a
/// message accepted before the loss is refused.
pub fn recovered_receiver(
    journal: &Mutex<Journal>,
    spec: &ChannelSpec,
    root: &ChannelRoot,
) -> LResult<ChannelReceiver> {
    let facts = amp_facts(journal)?;
    let recovered = amp::recovery::recover(
        &facts,
        root,
        &spec.authority,
        spec.context,
        spec.channel,
        spec.width,
    )?;
    Ok(recovered.receiver())
}

/// Read every message the journal holds for this channel, rederiving each
/// key from the root (any epoch up to the latest certified one), in
/// (epoch, generation, sender) order.
pub fn read_history(
    journal: &Mutex<Journal>,
    spec: &ChannelSpec,
    root: &ChannelRoot,
) -> LResult<Vec<(AmpHeader, Vec<u8>)>> {
    let newest = state(journal, spec)?.send_epoch();
    let sealed: Vec<SealedMessage> = {
        let j = lock(journal)?;
        j.facts()
            .iter()
            .filter(|f| f.fact().kind == Inbox::KIND)
            .filter_map(|f| f.body::<Inbox>().ok())
            .map(|Inbox(m)| m)
            .collect()
    };
    let mut bases = BTreeMap::new();
    let mut out = BTreeMap::new();
    for bytes in sealed {
        let message = AmpMessage::from_bytes(&bytes.0).map_err(crate::Error::from)?;
        let h = message.header;
        if h.context != spec.context || h.channel != spec.channel || h.epoch > newest {
            continue;
        }
        let base = match bases.entry(h.epoch) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(channel_base_key(
                root,
                &spec.context,
                &spec.channel,
                h.epoch,
            )?),
        };
        let key = message_key(base, h.generation, h.sender)?;
        let plaintext = open_with_key(&key, &message).map_err(crate::Error::from)?;
        out.insert((h.epoch, h.generation, h.sender), (h, plaintext));
    }
    Ok(out.into_values().collect())
}
