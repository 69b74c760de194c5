//! A generated ping-pong protocol in the deterministic network simulator:
//! `cargo run --example sim_ping_pong -- --seeds 1000 --drop 0.2 --dup 0.1 --reorder --partition`.
//!
//! Each seed is one simulated run of two nodes hosting the protocol over
//! reliable links on a lossy network (virtual time, so a run takes
//! microseconds of real time). Every run must complete with the same
//! result; a failing run prints its seed, and `--first-seed S --seeds 1`
//! replays it exactly.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::node::Time;
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{Error, SessionId};
use clap::Parser;

choreography! {
    /// Rounds of ping-pong until the pinger says stop.
    protocol PingPong {
        roles Pinger, Ponger;
        rec Loop {
            choice at Pinger {
                More => {
                    Pinger -> Ponger : Ping(u64);
                    Ponger -> Pinger : Pong(u64);
                    continue Loop;
                }
                Done => {
                    Pinger -> Ponger : Stop;
                }
            }
        }
    }
}

use ping_pong::{Ping, Pong, Stop};

/// Run seeded simulations of a generated ping-pong protocol over a faulty network.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Number of seeded runs.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed (runs use first-seed .. first-seed + seeds).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Probability that a frame is lost.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Probability that a frame is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    dup: f64,
    /// Hold back 20% of the frames by up to 100 ms, so later ones overtake them.
    #[arg(long)]
    reorder: bool,
    /// Cut the two nodes apart for 2 s (below the 10 s patience) early in each run.
    #[arg(long)]
    partition: bool,
    /// Ping-pong rounds per run.
    #[arg(long, default_value_t = 10)]
    rounds: u64,
}

/// One run; returns the pinger's sum of pongs.
fn run(seed: u64, args: &Args) -> Result<u64, String> {
    let mut sim = Sim::new(
        seed,
        SimConfig {
            drop: args.drop,
            duplicate: args.dup,
            reorder: if args.reorder { 0.2 } else { 0.0 },
            ..SimConfig::default()
        },
    );
    let (n0, n1) = (sim.add_node(), sim.add_node());
    let params = ping_pong::Params::default();
    let roster = ping_pong::roster(&params).map_err(|e| e.to_string())?;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let sessions = sim
        .open_sessions(SessionId(id), &ping_pong::PROTOCOL, &roster, &[n0, n1])
        .map_err(|e| e.to_string())?;
    let [p, q]: [_; 2] = sessions
        .try_into()
        .map_err(|_| "the roster has two roles".to_owned())?;
    let rounds = args.rounds;
    let pinger = sim.spawn(n0, async move {
        let mut ep = ping_pong::pinger::open(p, params)?;
        let mut sum = 0;
        for i in 0..rounds {
            let (Pong(n), next) = ep.select_more().send(Ping(i)).await?.recv().await?;
            sum += n;
            ep = next;
        }
        ep.select_done().send(Stop).await?.finish()?;
        Ok::<u64, Error>(sum)
    });
    let ponger = sim.spawn(n1, async move {
        let mut ep = ping_pong::ponger::open(q, params)?;
        loop {
            match ep.branch().await? {
                ping_pong::ponger::PingOrStop::Ping(Ping(i), next) => {
                    ep = next.send(Pong(i + 1)).await?;
                }
                ping_pong::ponger::PingOrStop::Stop(Stop, end) => return end.finish(),
            }
        }
    });
    if args.partition {
        let start = Time::ZERO + Duration::from_millis(30);
        sim.run_until(start);
        sim.partition(&[n0], &[n1]);
        sim.run_until(start + Duration::from_secs(2));
        sim.heal();
    }
    let outcome = sim.run().map_err(|e| e.to_string()).and_then(|()| {
        ponger
            .take()
            .ok_or("the ponger did not finish")?
            .map_err(|e| format!("ponger: {e}"))?;
        pinger
            .take()
            .ok_or("the pinger did not finish")?
            .map_err(|e| format!("pinger: {e}"))
    });
    outcome.map_err(|e| {
        // What the nodes noticed, for the failure report.
        let events: Vec<String> = sim
            .events()
            .iter()
            .map(|(t, node, e)| format!("    {t} node {node}: {e:?}"))
            .collect();
        format!("{e}\n  node events:\n{}", events.join("\n"))
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let expected: u64 = (0..args.rounds).map(|i| i + 1).sum();
    let started = Instant::now();
    let mut completed = 0u64;
    let failed = choreo_examples::for_each_seed(args.first_seed, args.seeds, |seed| {
        match run(seed, &args)? {
            sum if sum == expected => {
                completed += 1;
                Ok(())
            }
            sum => Err(format!("finished with sum {sum}, expected {expected}")),
        }
    });
    println!(
        "{completed} of {} runs completed ({} rounds each, drop {}, dup {}, reorder {}, partition {}) in {:.2?}",
        args.seeds,
        args.rounds,
        args.drop,
        args.dup,
        args.reorder,
        args.partition,
        started.elapsed()
    );
    choreo_examples::seeds_exit(&failed)
}
