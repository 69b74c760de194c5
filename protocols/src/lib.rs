//! # aura-protocols: threshold keys and the AMP ratchet
//!
//! The cryptographic cores of the aura protocols, as deterministic state
//! machines that the choreographies drive:
//!
//! * [`dkg`] — dealerless distributed key generation over frost, with an
//!   agreed round-1 transcript and encrypted round-2 packages.
//! * [`reshare`] — change committee and/or threshold (or just refresh)
//!   while keeping the authority's group verifying key.
//! * [`signing`] — threshold signing with pre-committed single-use nonces
//!   and commit certificates that exist only after verification.
//! * [`amp`] — the channel ratchet: key hierarchy, dual window, epoch bump
//!   facts and their reducer, seal/open, and recovery from facts.
//!
//! An *authority* is one threshold Ed25519 group key; devices and guardians
//! hold shares ([`AuthorityKeyShare`]); outsiders only ever see the group
//! key.
//!
//! Architecture invariant: this crate's cores are I/O-free and
//! deterministic. Time and randomness are arguments (`impl RngCore +
//! CryptoRng`); nothing here reads a clock, a socket or a file, and state is
//! kept in ordered maps so results never depend on hash-map iteration order
//! or message arrival order. The crypto cores know nothing about the
//! compiler (`choreo-lang`); generated endpoints call into them.

pub mod amp;
pub mod dkg;
mod error;
mod group;
mod pairwise;
pub mod reshare;
mod share;
pub mod signing;

pub use error::{Error, ParticipantId, Rejection, Result, Usage, Violation};
pub use share::{AuthorityKeyShare, KeyEpoch};
