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
//! * [`recovery`] — a guardian's side of social recovery: the delay from
//!   the binding, cancels, declines, and when it may sign the grant.
//! * [`witness`] — what a consensus witness checks before signing, its
//!   durable signing record, equivocation proofs, and the share collector.
//! * [`lifecycle`] — role logic of guardian binding, recovery, AMP
//!   channel messaging and epoch bumps on the generated endpoints.
//! * [`amp`] — the channel ratchet: key hierarchy, dual window, epoch bump
//!   facts and their reducer, seal/open, and recovery from facts.
//!
//! An *authority* is one threshold Ed25519 group key; devices and guardians
//! hold shares ([`AuthorityKeyShare`]); outsiders only ever see the group
//! key.
//!
//! ## A whole run, in memory
//!
//! ```
//! use std::collections::BTreeMap;
//! use aura_protocols::{dkg, signing, Authenticated, NodeIdentity, ParticipantId, Roster};
//! use aura_protocols::amp::{self, ChannelId, ContextId, DeviceId};
//! use rand::SeedableRng;
//!
//! # fn main() -> aura_protocols::Result<()> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! // Each participant is bound to the node identity its links authenticate
//! // (an Ed25519 key; round-1 values are signed with it).
//! let identity = |p: ParticipantId| NodeIdentity::from_secret([p.0 as u8; 32]);
//! let node = |p: ParticipantId| identity(p).node_id();
//! let config = dkg::DkgConfig {
//!     session: [1; 32],
//!     threshold: 2,
//!     roster: Roster::new((1..=3).map(|p| (ParticipantId(p), node(ParticipantId(p)))))?,
//! };
//! // DKG: every participant runs the same three transitions; the transport
//! // tags every message with the node it came from.
//! let (mut states, mut round1) = (Vec::new(), Vec::new());
//! for p in config.participants() {
//!     let (s, m) = dkg::start(config.clone(), p, &identity(p), &mut rng)?;
//!     states.push((p, s));
//!     round1.push(Authenticated::new(node(p), m));
//! }
//! let (mut next, mut echoes) = (Vec::new(), Vec::new());
//! for (p, s) in states {
//!     let (s, e) = s.receive_round1(&round1)?;
//!     next.push((p, s));
//!     echoes.push(Authenticated::new(node(p), e));
//! }
//! let (mut last, mut round2) = (Vec::new(), Vec::new());
//! for (p, s) in next {
//!     let (s, m) = s.confirm_transcripts(&echoes)?;
//!     last.push(s);
//!     round2.extend(m.into_iter().map(|m| Authenticated::new(node(p), m)));
//! }
//! let shares = last.into_iter().map(|s| s.finish(&round2)).collect::<Result<Vec<_>, _>>()?;
//!
//! // Fast-path signing with pre-committed nonces → a verified certificate.
//! let statement = signing::CommitStatement { consensus_id: [2; 32], prestate: [3; 32], operation: [4; 32] };
//! let mut stores: Vec<_> = shares.iter().map(signing::NonceStore::new).collect();
//! let mut signers = BTreeMap::new();
//! for (share, store) in shares.iter().zip(&mut stores).take(2) {
//!     signers.insert(share.participant(), store.precommit(share, 1, &mut rng)?[0]);
//! }
//! let request = signing::SigningRequest { epoch: shares[0].epoch(), message: statement.message(), signers };
//! let mut sigs = BTreeMap::new();
//! for (share, store) in shares.iter().zip(&mut stores).take(2) {
//!     sigs.insert(share.participant(), store.sign(share, &request)?);
//! }
//! let certificate = signing::aggregate(shares[0].public_key_package(), &request, statement, &sigs)?;
//! assert_eq!(certificate.group_key(), &shares[0].group_key());
//!
//! // AMP: the channel root is a threshold DH of two authorities' group keys
//! // (here, for brevity, a channel of the authority with itself): t holders
//! // send DLEQ-proven partials, anyone combines them.
//! let peer = shares[0].group_key();
//! let partials = shares[..2]
//!     .iter()
//!     .map(|s| Ok((s.participant(), amp::root::partial(s, &peer, &mut rng)?)))
//!     .collect::<aura_protocols::Result<BTreeMap<_, _>>>()?;
//! let root = amp::root::combine(shares[0].public_key_package(), &peer, &partials)?;
//! // Reduce the (empty) journal, seal and open.
//! let state = amp::reduce(&[], ContextId([5; 32]), ChannelId([6; 32]), amp::DEFAULT_WINDOW, &shares[0].group_key())?;
//! let sealed = amp::ChannelSender::new(DeviceId(1)).seal(&state, &root, b"hi", &mut rng)?;
//! let opened = amp::ChannelReceiver::new().open(&state, &root, &sealed.message)?;
//! assert_eq!(opened, b"hi");
//! # Ok(())
//! # }
//! ```
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
/// Endpoints generated from `choreo/*.choreo` (see [`generated`]).
pub mod generated;
mod group;
pub mod journal_sync;
pub mod lifecycle;
mod pairwise;
pub mod recovery;
pub mod reshare;
pub mod roles;
mod roster;
mod share;
mod signed;
pub mod signing;
pub mod wire;
pub mod witness;

pub use error::{Error, ParticipantId, Rejection, Result, Usage, Violation};
pub use roster::{Authenticated, NodeId, Roster};
pub use share::{AuthorityKeyShare, KeyEpoch};
pub use signed::{EchoedDigests, IdentitySignature, NodeIdentity, SignedDigest};
