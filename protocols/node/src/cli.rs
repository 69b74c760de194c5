//! The `aura-node` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use std::time::Instant;

use crate::sim::{self, Faults, SimOptions, SimProtocol};
use crate::NodeError;

/// `aura-node keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the key (libp2p protobuf encoding); an existing file
    /// is never overwritten.
    #[arg(long)]
    pub out: PathBuf,
}

/// `aura-node run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The node's config file: its key file, listen address, the peers
    /// (PeerId + address) and its role in each run.
    #[arg(long)]
    pub config: PathBuf,
}

/// `aura-node sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The protocol to simulate.
    #[arg(long, value_enum)]
    pub protocol: SimProtocol,
    /// How many seeds (runs) to simulate: seeds 0..N, or FIRST..FIRST+N with --first-seed.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// First seed (replay one failing seed with --first-seed S --seeds 1).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Number of nodes (committee size).
    #[arg(long, default_value_t = 5)]
    pub nodes: u16,
    /// Threshold (signers needed); default: a two-thirds majority.
    #[arg(long)]
    pub threshold: Option<u16>,
    /// Faults, comma separated: drop, delay, reorder, duplicate, partition,
    /// initiator-crash, witness-crash, equivocate, or `all`.
    #[arg(long, value_delimiter = ',', default_value = "")]
    pub faults: Vec<String>,
    /// Threads to run seeds on (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Write a fresh node key and print its PeerId.
pub fn keygen(args: &KeygenArgs) -> Result<ExitCode, NodeError> {
    let key = choreo_runtime::net::generate_keypair();
    choreo_runtime::net::write_key_file(&args.out, &key)
        .map_err(|e| NodeError::Usage(e.to_string()))?;
    println!("peer id: {}", key.public().to_peer_id());
    Ok(ExitCode::SUCCESS)
}

/// Run one node from its config file.
pub fn run(args: &RunArgs) -> Result<ExitCode, NodeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(crate::net::run(&args.config))?;
    Ok(ExitCode::SUCCESS)
}

/// Run the simulations and print the summary line last.
pub fn sim(args: &SimArgs) -> Result<ExitCode, NodeError> {
    let options = SimOptions {
        protocol: args.protocol,
        nodes: args.nodes,
        threshold: args
            .threshold
            .unwrap_or_else(|| sim::default_threshold(args.nodes)),
        faults: Faults::parse(&args.faults)?,
    };
    options.validate()?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    eprintln!(
        "simulating {:?}: {} nodes, threshold {}, faults {}, seeds {}..{} on {jobs} thread(s)",
        options.protocol,
        options.nodes,
        options.threshold,
        options.faults,
        args.first_seed,
        args.first_seed.saturating_add(args.seeds)
    );
    let started = Instant::now();
    let total = args.seeds;
    let step = (total / 100).max(1);
    let progress = move |done: u64, bad: u64| {
        if done.is_multiple_of(step) || done == total {
            eprint!("\r  {done}/{total} seeds, {bad} with violations");
            if done == total {
                eprintln!();
            }
        }
    };
    let summary = sim::run_seeds(
        &options,
        args.first_seed..args.first_seed.saturating_add(total),
        jobs,
        &progress,
    );
    for failure in &summary.failures {
        println!(
            "seed {}: {} (replay: aura-node sim --protocol {} --nodes {} --threshold {} --faults {} --first-seed {} --seeds 1)",
            failure.seed,
            failure.violations.join("; "),
            options.protocol.name(),
            options.nodes,
            options.threshold,
            options.faults,
            failure.seed
        );
    }
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
    if summary.unproposed > 0 {
        println!(
            "not proposed: {} (the initiator crashed before its request left it; every live witness reported that, none committed)",
            summary.unproposed
        );
    }
    if summary.caught > 0 {
        println!(
            "equivocator caught (named in a verified proof held by an honest witness): {}",
            summary.caught
        );
    }
    println!(
        "seeds: {}, violations: {}, committed: {}/{}",
        summary.seeds, summary.violations, summary.committed, summary.seeds
    );
    Ok(if summary.violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
