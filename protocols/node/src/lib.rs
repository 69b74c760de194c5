//! # aura-node: the aura protocols as running nodes
//!
//! The role logic itself (DKG, resharing, consensus on the generated
//! endpoints) lives in `aura_protocols::roles`; this crate hosts it:
//!
//! * [`cli`] — the `aura-node` subcommands (`keygen`, `run`, `sim`);
//! * [`sim`] — seeded simulations of N nodes on `choreo_runtime::sim`,
//!   with faults and the invariants each protocol must keep;
//! * [`memory`] — node hosts wired together in process (benchmarks, the
//!   demo's `--transport memory`).

pub mod cli;
pub mod demo;
pub mod memory;
pub mod net;
pub mod record;
pub mod sim;
pub mod trace;

/// Errors of the binary, by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The command line or a config file asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a local file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The network (libp2p) failed.
    #[error("network: {0}")]
    Transport(String),
    /// A protocol run failed (a peer misbehaved, or it did not finish).
    #[error("protocol: {0}")]
    Protocol(String),
}
