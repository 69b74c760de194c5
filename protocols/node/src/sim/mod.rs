//! Seeded simulations of the aura protocols on `choreo_runtime::sim`.
//!
//! Every seed builds a fresh simulated network of nodes, runs one
//! protocol instance with the chosen [`Faults`], and checks the
//! protocol's invariants ([`SeedReport::violations`]). A run is a pure
//! function of its seed: a failing seed replays exactly with
//! `aura-node sim --protocol P --first-seed S --seeds 1`.

pub mod consensus;
pub mod dkg;
mod faults;
pub mod reshare;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use aura_protocols::NodeIdentity;
use choreo_runtime::sim::{Sim, SimConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

pub use faults::{Fault, Faults};

use crate::NodeError;

/// Which protocol `aura-node sim` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimProtocol {
    /// Distributed key generation among all nodes.
    Dkg,
    /// Resharing to a new committee and threshold.
    Reshare,
    /// Single-shot consensus (fast path + fallback).
    Consensus,
}

impl SimProtocol {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SimProtocol::Dkg => "dkg",
            SimProtocol::Reshare => "reshare",
            SimProtocol::Consensus => "consensus",
        }
    }
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The protocol.
    pub protocol: SimProtocol,
    /// Committee size.
    pub nodes: u16,
    /// Threshold.
    pub threshold: u16,
    /// Faults to inject.
    pub faults: Faults,
}

impl SimOptions {
    /// Check the sizes: `2 <= t <= n`, and for consensus `2t - n > f`
    /// (two commits need an honest witness to sign twice) where `f` is
    /// the number of faulty witnesses the faults make.
    pub fn validate(&self) -> Result<(), NodeError> {
        let (n, t) = (self.nodes, self.threshold);
        if n < 2 || t < 2 || t > n {
            return Err(NodeError::Usage(format!(
                "threshold {t} is invalid for {n} nodes (need 2 <= t <= n)"
            )));
        }
        Ok(())
    }
}

/// The default threshold for `n` nodes: a two-thirds majority,
/// `floor(2n/3) + 1` (n = 5: 4, n = 7: 5).
pub fn default_threshold(n: u16) -> u16 {
    (2 * n / 3 + 1).min(n)
}

/// What one seed did.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// The run produced its result (a group key everyone holds and can
    /// sign with; a new epoch; a commit).
    pub committed: bool,
    /// Broken invariants (empty when the run was correct).
    pub violations: Vec<String>,
    /// Consensus: an equivocating witness was named in a verified proof
    /// held by an honest witness.
    pub equivocator_caught: bool,
    /// Consensus: the initiator crashed before its request reached any
    /// other witness, so there was nothing to commit (every live witness
    /// said so; checked).
    pub unproposed: bool,
}

/// The totals over many seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds with at least one violation.
    pub violations: u64,
    /// Seeds that committed.
    pub committed: u64,
    /// The first failing seeds with what broke (at most 10).
    pub failures: Vec<SeedReport>,
    /// Seeds whose equivocating witness was caught.
    pub caught: u64,
    /// Seeds where nothing was proposed (the initiator crashed before its
    /// request left it).
    pub unproposed: u64,
}

/// Run one seed.
pub fn run_seed(options: &SimOptions, seed: u64) -> SeedReport {
    match options.protocol {
        SimProtocol::Dkg => dkg::run_seed(options, seed),
        SimProtocol::Consensus => consensus::run_seed(options, seed),
        SimProtocol::Reshare => reshare::run_seed(options, seed),
    }
}

/// Run `seeds` on `jobs` threads; `progress(done, violations)` is called
/// after every seed.
pub fn run_seeds(
    options: &SimOptions,
    seeds: Range<u64>,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Summary {
    let next = AtomicU64::new(seeds.start);
    let done = AtomicU64::new(0);
    let bad = AtomicU64::new(0);
    let committed = AtomicUsize::new(0);
    let caught = AtomicUsize::new(0);
    let unproposed = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let report = run_seed(options, seed);
                if report.committed {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
                if report.equivocator_caught {
                    caught.fetch_add(1, Ordering::Relaxed);
                }
                if report.unproposed {
                    unproposed.fetch_add(1, Ordering::Relaxed);
                }
                if !report.violations.is_empty() {
                    bad.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut f) = failures.lock() {
                        if f.len() < 10 {
                            f.push(report);
                        }
                    }
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                progress(d, bad.load(Ordering::Relaxed));
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.sort_by_key(|r| r.seed);
    Summary {
        seeds: done.into_inner(),
        violations: bad.into_inner(),
        committed: committed.into_inner() as u64,
        failures,
        caught: caught.into_inner() as u64,
        unproposed: unproposed.into_inner() as u64,
    }
}

/// A fresh simulated network of `n` nodes with the network faults of
/// `faults` (drop, delay, reorder, duplicate), and the seed's own RNG for
/// the harness's choices (when to partition or crash whom).
pub(crate) fn network(faults: &Faults, seed: u64, n: usize) -> (Sim, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6175_7261_2d6e_6f64);
    let mut config = SimConfig::default();
    if faults.has(Fault::Drop) {
        config.drop = rng.gen_range(0.0..0.15);
    }
    if faults.has(Fault::Duplicate) {
        config.duplicate = rng.gen_range(0.0..0.1);
    }
    if faults.has(Fault::Reorder) {
        config.reorder = rng.gen_range(0.0..0.2);
    }
    if faults.has(Fault::Delay) {
        config.latency = std::time::Duration::from_millis(rng.gen_range(1..200));
        config.jitter = std::time::Duration::from_millis(rng.gen_range(0..200));
    }
    let mut sim = Sim::new(seed, config);
    add_nodes(&mut sim, n);
    (sim, rng)
}

/// The identity key of simulated node `index`: a fixed Ed25519 key per
/// index, so protocols that sign with the node's identity (DKG round 1,
/// reshare joins and dealings) can, and runs stay a function of the seed.
pub fn node_identity(index: usize) -> NodeIdentity {
    let mut h = Sha256::new();
    h.update(b"aura-node/sim/identity/v1");
    h.update((index as u64).to_be_bytes());
    NodeIdentity::from_secret(h.finalize().into())
}

/// Add `n` nodes to `sim`, node `i` with the public key of
/// [`node_identity`]`(i)` as its id (its links are authenticated to it).
pub fn add_nodes(sim: &mut Sim, n: usize) {
    for i in 0..n {
        let id = node_identity(i).node_id();
        sim.add_node_with_id(choreo_runtime::node::NodeId(id.0));
    }
}

/// If `faults` has a partition: split the nodes in two random groups for
/// a while, then heal (well within the links' patience).
pub(crate) fn partition_and_heal(sim: &mut Sim, faults: &Faults, rng: &mut ChaCha20Rng, n: usize) {
    if !faults.has(Fault::Partition) {
        return;
    }
    sim.run_for(std::time::Duration::from_millis(rng.gen_range(0..300)));
    let side: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.5)).collect();
    let a: Vec<usize> = (0..n).filter(|&k| side.get(k) == Some(&true)).collect();
    let b: Vec<usize> = (0..n).filter(|&k| side.get(k) != Some(&true)).collect();
    if !a.is_empty() && !b.is_empty() {
        sim.partition(&a, &b);
        sim.run_for(std::time::Duration::from_millis(rng.gen_range(100..4000)));
        sim.heal();
    }
}
