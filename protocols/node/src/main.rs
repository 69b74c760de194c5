//! `aura-node`: the aura protocols (DKG, resharing, consensus) as running
//! nodes. See `aura-node --help` and the book's protocol chapters.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aura_node::cli::{KeygenArgs, RunArgs, SimArgs};

#[derive(Parser, Debug)]
#[command(
    name = "aura-node",
    about = "Threshold key generation, resharing and consensus as running nodes",
    long_about = "Threshold key generation, resharing and consensus as running nodes.\n\n\
        keygen  writes a node's Ed25519 identity key and prints its PeerId.\n\
        run     runs one node as its own process over libp2p (config file lists the peers).\n\
        sim     runs many seeded simulations with faults and checks the protocol invariants.\n\
        demo    the whole account lifecycle, ten nodes over libp2p on 127.0.0.1 (or --processes,\n\
                one OS process per node; or --transport sim).\n\
        trace   the sequence diagram of a simulated lifecycle run.\n\n\
        Logs go to stderr; set RUST_LOG=debug for more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new Ed25519 node key and print its PeerId.
    Keygen(KeygenArgs),
    /// Run one node (its own process) over libp2p, as the config file says.
    Run(RunArgs),
    /// Run N seeded simulations of a protocol with faults; print
    /// `seeds: N, violations: V, committed: C/N` last (exit 1 if V > 0).
    Sim(SimArgs),
    /// The whole account lifecycle over libp2p on 127.0.0.1 (or the
    /// simulator): DKG, guardians, an AMP channel with epoch bumps, loss of
    /// every device, recovery; ends with `lifecycle complete: …` (exit 0)
    /// or the first failure (exit 1).
    Demo(aura_node::demo::DemoArgs),
    /// Print the sequence diagram of a simulated lifecycle run.
    Trace(aura_node::trace::TraceArgs),
    /// One node of `demo --processes`, driven by its parent over
    /// stdin/stdout (internal).
    #[command(hide = true)]
    DemoNode(aura_node::demo::processes::NodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Simulations inject faults on purpose: the runtime's warnings about
    // lost peers are expected there, so only errors are shown by default.
    let default_filter = match cli.command {
        Command::Sim(_) | Command::Demo(_) | Command::Trace(_) | Command::DemoNode(_) => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Keygen(args) => aura_node::cli::keygen(&args),
        Command::Run(args) => aura_node::cli::run(&args),
        Command::Sim(args) => aura_node::cli::sim(&args),
        Command::Demo(args) => aura_node::demo::demo(&args),
        Command::Trace(args) => aura_node::trace::trace(&args),
        Command::DemoNode(args) => aura_node::demo::processes::node_main(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
