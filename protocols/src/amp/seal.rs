//! Sealing and opening AMP messages.
//!
//! Wire form: `header (88 bytes) ‖ nonce (24) ‖ ciphertext+tag`. The header
//! `(context, channel, epoch, generation, sender)` is the AEAD associated
//! data, so any change to it fails authentication.
//!
//! Nonce safety for two devices of one authority sending at the same
//! generation: the message key is derived per `(epoch, generation, device)`
//! (see [`message_key`]), so the devices never share a key; within one
//! device [`ChannelSender`] never reuses a generation. As a second,
//! independent guard the nonce is 192 random bits (XChaCha20-Poly1305), so
//! even a device that lost its counter (crash, restore from backup) reuses
//! a (key, nonce) pair only with negligible probability.

use std::collections::{BTreeMap, BTreeSet};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};

use super::facts::ChannelState;
use super::keys::{
    channel_base_key, message_key, ChannelBaseKey, ChannelEpoch, ChannelId, ContextId, DeviceId,
    MessageKey,
};
use super::root::ChannelRoot;
use crate::error::{Error, Rejection, Result, Usage};

/// Length of the encoded header.
pub const HEADER_LEN: usize = 32 + 32 + 8 + 8 + 8;
const NONCE_LEN: usize = 24;

/// The authenticated header of an AMP message.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AmpHeader {
    /// Context.
    pub context: ContextId,
    /// Channel.
    pub channel: ChannelId,
    /// Channel epoch.
    pub epoch: ChannelEpoch,
    /// Generation.
    pub generation: u64,
    /// Sending device.
    pub sender: DeviceId,
}

impl AmpHeader {
    /// Fixed-layout encoding (also the AEAD associated data).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (ctx, rest) = out.split_at_mut(32);
        ctx.copy_from_slice(&self.context.0);
        let (chan, rest) = rest.split_at_mut(32);
        chan.copy_from_slice(&self.channel.0);
        let (e, rest) = rest.split_at_mut(8);
        e.copy_from_slice(&self.epoch.0.to_be_bytes());
        let (g, d) = rest.split_at_mut(8);
        g.copy_from_slice(&self.generation.to_be_bytes());
        d.copy_from_slice(&self.sender.0.to_be_bytes());
        out
    }

    /// Decode; `None` if `bytes` is not exactly [`HEADER_LEN`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().ok()?;
        let (ctx, rest) = bytes.split_at(32);
        let (chan, rest) = rest.split_at(32);
        let (e, rest) = rest.split_at(8);
        let (g, d) = rest.split_at(8);
        Some(AmpHeader {
            context: ContextId(ctx.try_into().ok()?),
            channel: ChannelId(chan.try_into().ok()?),
            epoch: ChannelEpoch(u64::from_be_bytes(e.try_into().ok()?)),
            generation: u64::from_be_bytes(g.try_into().ok()?),
            sender: DeviceId(u64::from_be_bytes(d.try_into().ok()?)),
        })
    }
}

/// A sealed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmpMessage {
    /// Authenticated header.
    pub header: AmpHeader,
    /// Random XChaCha20 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext with tag.
    pub ciphertext: Vec<u8>,
}

impl AmpMessage {
    /// Wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + self.ciphertext.len());
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parse the wire encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Rejection> {
        let header = bytes.get(..HEADER_LEN).and_then(AmpHeader::from_bytes);
        let nonce = bytes
            .get(HEADER_LEN..HEADER_LEN + NONCE_LEN)
            .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok());
        let ciphertext = bytes.get(HEADER_LEN + NONCE_LEN..);
        match (header, nonce, ciphertext) {
            (Some(header), Some(nonce), Some(ct)) => Ok(AmpMessage {
                header,
                nonce,
                ciphertext: ct.to_vec(),
            }),
            _ => Err(Rejection::Malformed),
        }
    }
}

/// Seal `plaintext` under `key` for `header` (no window logic; the
/// building block, also used by benchmarks).
pub fn seal_with_key<R: RngCore + CryptoRng>(
    key: &MessageKey,
    header: AmpHeader,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<AmpMessage> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.bytes()));
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &header.to_bytes(),
            },
        )
        .map_err(Error::crypto_msg)?;
    Ok(AmpMessage {
        header,
        nonce,
        ciphertext,
    })
}

/// Open a message under `key` (no window or replay logic).
pub fn open_with_key(key: &MessageKey, message: &AmpMessage) -> Result<Vec<u8>, Rejection> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.bytes()));
    cipher
        .decrypt(
            XNonce::from_slice(&message.nonce),
            Payload {
                msg: &message.ciphertext,
                aad: &message.header.to_bytes(),
            },
        )
        .map_err(|_| Rejection::Tampered)
}

/// Caches channel base keys per epoch (derivable at any time; a cache only).
#[derive(Debug, Default)]
struct BaseKeys(BTreeMap<ChannelEpoch, ChannelBaseKey>);

impl BaseKeys {
    fn key(
        &mut self,
        root: &ChannelRoot,
        context: &ContextId,
        channel: &ChannelId,
        epoch: ChannelEpoch,
        generation: u64,
        sender: DeviceId,
    ) -> Result<MessageKey> {
        if let Some(base) = self.0.get(&epoch) {
            return message_key(base, generation, sender);
        }
        let base = channel_base_key(root, context, channel, epoch)?;
        let key = message_key(&base, generation, sender);
        self.0.insert(epoch, base);
        key
    }

    fn retain(&mut self, state: &ChannelState) {
        let accepted = state.accepted_epochs();
        self.0.retain(|e, _| accepted.contains(e));
    }
}

/// A sealed message and the fingerprint of the key that sealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The message.
    pub message: AmpMessage,
    /// [`MessageKey::fingerprint`] of the key used.
    pub key_fingerprint: [u8; 32],
}

/// One device's sending side of a channel.
#[derive(Debug)]
pub struct ChannelSender {
    device: DeviceId,
    next: BTreeMap<ChannelEpoch, u64>,
    keys: BaseKeys,
}

impl ChannelSender {
    /// A sender for `device`.
    pub fn new(device: DeviceId) -> Self {
        ChannelSender {
            device,
            next: BTreeMap::new(),
            keys: BaseKeys::default(),
        }
    }

    /// The next generation this device would use in `epoch` under `state`.
    pub fn next_generation(&self, state: &ChannelState, epoch: ChannelEpoch) -> Result<u64> {
        let window = state.window(epoch)?;
        Ok(self.next.get(&epoch).copied().unwrap_or(0).max(window.base))
    }

    /// Seal in the state's sending epoch at this device's next generation.
    pub fn seal<R: RngCore + CryptoRng>(
        &mut self,
        state: &ChannelState,
        root: &ChannelRoot,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Sealed> {
        let epoch = state.send_epoch();
        let generation = self.next_generation(state, epoch)?;
        if state.accepts(epoch, generation).is_err() {
            return Err(Usage::WindowExhausted {
                epoch: epoch.0,
                generation,
            }
            .into());
        }
        self.next.insert(epoch, generation.saturating_add(1));
        self.keys.retain(state);
        let header = AmpHeader {
            context: state.context,
            channel: state.channel,
            epoch,
            generation,
            sender: self.device,
        };
        let key = self.keys.key(
            root,
            &state.context,
            &state.channel,
            epoch,
            generation,
            self.device,
        )?;
        Ok(Sealed {
            message: seal_with_key(&key, header, plaintext, rng)?,
            key_fingerprint: key.fingerprint(),
        })
    }
}

/// The receiving side of a channel: window check, replay detection, open.
#[derive(Debug, Default)]
pub struct ChannelReceiver {
    seen: BTreeSet<(ChannelEpoch, DeviceId, u64)>,
    keys: BaseKeys,
    /// Accepted epochs and their bases at the last prune; pruning only
    /// runs when this changes, so steady-state opens stay O(log n).
    pruned_for: Vec<(ChannelEpoch, u64)>,
}

impl ChannelReceiver {
    /// A receiver with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver that refuses the messages already accepted: the headers
    /// come from the journal's [`AmpFact::Accepted`](super::AmpFact::Accepted) facts.
    pub fn with_accepted<'a>(accepted: impl IntoIterator<Item = &'a AmpHeader>) -> Self {
        ChannelReceiver {
            seen: accepted
                .into_iter()
                .map(|h| (h.epoch, h.sender, h.generation))
                .collect(),
            ..Self::default()
        }
    }

    /// Parse and open wire bytes.
    pub fn open_bytes(
        &mut self,
        state: &ChannelState,
        root: &ChannelRoot,
        bytes: &[u8],
    ) -> Result<Vec<u8>> {
        let message = AmpMessage::from_bytes(bytes)?;
        self.open(state, root, &message)
    }

    /// Open a message accepted by `state`, refusing replays.
    pub fn open(
        &mut self,
        state: &ChannelState,
        root: &ChannelRoot,
        message: &AmpMessage,
    ) -> Result<Vec<u8>> {
        let h = &message.header;
        if h.context != state.context || h.channel != state.channel {
            return Err(Rejection::WrongChannel.into());
        }
        state.accepts(h.epoch, h.generation)?;
        let slot = (h.epoch, h.sender, h.generation);
        if self.seen.contains(&slot) {
            return Err(Rejection::Replay.into());
        }
        self.prune(state);
        let key = self.keys.key(
            root,
            &h.context,
            &h.channel,
            h.epoch,
            h.generation,
            h.sender,
        )?;
        let plaintext = open_with_key(&key, message)?;
        self.seen.insert(slot);
        Ok(plaintext)
    }

    /// Forget replay state and keys that the window no longer admits.
    pub fn prune(&mut self, state: &ChannelState) {
        let windows: Vec<(ChannelEpoch, u64)> = state
            .accepted_epochs()
            .into_iter()
            .map(|e| (e, state.window(e).map_or(0, |w| w.base)))
            .collect();
        if windows == self.pruned_for {
            return;
        }
        self.seen.retain(|(e, _, g)| state.accepts(*e, *g).is_ok());
        self.keys.retain(state);
        self.pruned_for = windows;
    }
}
