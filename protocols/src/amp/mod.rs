//! AMP: the channel ratchet.
//!
//! ```text
//! ChannelRoot  R = s_A·Y_B = s_B·Y_A              — threshold DH of the two group keys
//!   └─ channel base key  K(c, e) = HKDF-SHA256(R; Y_low ‖ Y_high ‖ context ‖ channel ‖ e)
//!        └─ message key  k(g, d) = HKDF-Expand(K(c, e); "msg" ‖ g ‖ d)
//! ```
//!
//! `e` is the channel epoch, `g` the generation, `d` the sending device.
//! A checkpoint at generation `G` with window `W` accepts `G ..= G + 2W`
//! ([`Window`]). Epoch bumps go through facts (proposed → certified →
//! finalized) that a pure reducer ([`reduce`]) turns into a
//! [`ChannelState`]; while a unique certified successor is not yet
//! finalized both epochs are accepted. Every key is a pure function of the
//! root and the facts; the root is recomputed by any `t` holders of the
//! authority's current shares ([`root`]), so a fresh device recovers by
//! recomputing the root and reducing the journal ([`recovery`]).

mod facts;
mod keys;
pub mod recovery;
pub mod root;
mod seal;
mod window;

pub use facts::{
    bump_statement, reduce, AmpFact, BumpProposal, BumpReason, ChannelFold, ChannelState,
    ProposalId,
};
pub use keys::{
    channel_base_key, message_key, ChannelBaseKey, ChannelEpoch, ChannelId, ContextId, DeviceId,
    MessageKey,
};
pub use root::ChannelRoot;
pub use seal::{
    open_with_key, seal_with_key, AmpHeader, AmpMessage, ChannelReceiver, ChannelSender, Sealed,
    HEADER_LEN,
};
pub use window::{Window, DEFAULT_WINDOW};
