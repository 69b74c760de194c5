//! AMP: the channel ratchet.
//!
//! ```text
//! AuthorityRoot (authority epoch a)               — held by the authority's devices
//!   └─ channel base key  K(c, e) = HKDF-SHA256(root_a; context ‖ channel ‖ a ‖ e)
//!        └─ message key  k(g, d) = HKDF-Expand(K(c, e); "msg" ‖ g ‖ d)
//! ```
//!
//! `e` is the channel epoch, `g` the generation, `d` the sending device.
//! A checkpoint at generation `G` with window `W` accepts `G ..= G + 2W`
//! ([`Window`]). Epoch bumps go through facts (proposed → certified →
//! finalized) that a pure reducer ([`reduce`]) turns into a
//! [`ChannelState`]; while a unique certified successor is not yet
//! finalized both epochs are accepted. Every key is a pure function of the
//! root and the facts, so a fresh device recovers by reducing the journal
//! ([`recovery`]).

mod facts;
mod keys;
pub mod recovery;
mod seal;
mod window;

pub use facts::{
    bump_statement, reduce, AmpFact, BumpProposal, BumpReason, ChannelState, ProposalId,
};
pub use keys::{
    channel_base_key, message_key, AuthorityRoot, ChannelBaseKey, ChannelEpoch, ChannelId,
    ContextId, DeviceId, MessageKey,
};
pub use seal::{
    open_with_key, seal_with_key, AmpHeader, AmpMessage, ChannelReceiver, ChannelSender, Sealed,
    HEADER_LEN,
};
pub use window::{Window, DEFAULT_WINDOW};
