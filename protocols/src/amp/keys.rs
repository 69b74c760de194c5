//! The AMP key hierarchy: channel root → channel base key → message key.

use std::fmt;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::root::ChannelRoot;
use crate::error::{Error, Result};

const CHANNEL_SALT: &[u8] = b"aura/amp/v1/channel";
const MESSAGE_INFO: &[u8] = b"aura/amp/v1/message";

/// The relationship context a channel lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContextId(pub [u8; 32]);

/// A channel within a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelId(pub [u8; 32]);

/// A device of the sending authority. Unique per authority; a recovered
/// device gets a new id (it never inherits an old device's counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceId(pub u64);

/// A channel epoch; bumps go from `e` to `e + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelEpoch(pub u64);

/// `K(c, e)`: one per channel epoch.
pub struct ChannelBaseKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for ChannelBaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelBaseKey(..)")
    }
}

/// `k(g, d)`: the AEAD key for one generation from one device.
#[derive(Clone)]
pub struct MessageKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(..)")
    }
}

impl MessageKey {
    /// A one-way fingerprint, safe to log and compare in tests.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"aura/amp/v1/fingerprint");
        h.update(self.0.as_slice());
        h.finalize().into()
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// `K(c, e) = HKDF-SHA256(salt = "aura/amp/v1/channel", ikm = root point,
/// info = Y_low ‖ Y_high ‖ context ‖ channel ‖ e)`, where `Y_low ≤ Y_high`
/// are the two authorities' group keys (so both sides derive the same key)
/// and `e` is the channel epoch (big-endian u64).
pub fn channel_base_key(
    root: &ChannelRoot,
    context: &ContextId,
    channel: &ChannelId,
    epoch: ChannelEpoch,
) -> Result<ChannelBaseKey> {
    let hk = Hkdf::<Sha256>::new(Some(CHANNEL_SALT), root.secret().as_slice());
    let (low, high) = root.pair();
    let mut info = [0u8; 136];
    let (l, rest) = info.split_at_mut(32);
    l.copy_from_slice(low);
    let (h, rest) = rest.split_at_mut(32);
    h.copy_from_slice(high);
    let (ctx, rest) = rest.split_at_mut(32);
    ctx.copy_from_slice(&context.0);
    let (chan, e) = rest.split_at_mut(32);
    chan.copy_from_slice(&channel.0);
    e.copy_from_slice(&epoch.0.to_be_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(&info, okm.as_mut_slice())
        .map_err(Error::crypto_msg)?;
    Ok(ChannelBaseKey(okm))
}

/// `k(g, d) = HKDF-Expand(K(c, e), "msg" ‖ g ‖ d)`. The device id in the
/// derivation gives each device its own key per generation, so two devices
/// of one authority sending at the same generation never share a key.
pub fn message_key(base: &ChannelBaseKey, generation: u64, device: DeviceId) -> Result<MessageKey> {
    let hk = Hkdf::<Sha256>::from_prk(base.0.as_slice()).map_err(Error::crypto_msg)?;
    let mut info = [0u8; MESSAGE_INFO.len() + 16];
    let (label, rest) = info.split_at_mut(MESSAGE_INFO.len());
    label.copy_from_slice(MESSAGE_INFO);
    let (g, d) = rest.split_at_mut(8);
    g.copy_from_slice(&generation.to_be_bytes());
    d.copy_from_slice(&device.0.to_be_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(&info, okm.as_mut_slice())
        .map_err(Error::crypto_msg)?;
    Ok(MessageKey(okm))
}
