//! A heartbeat: a `timeout` inside a loop, in the deterministic network
//! simulator: `cargo run --example heartbeat -- --seeds 100 --peers 3 --drop 0.05`.
//!
//! `Peer[0]` ticks every other peer and waits for their tocks, beat after
//! beat, each beat a fresh instance of the `timeout`. A beat that does not
//! complete within its deadline (a peer cut off, a tick or tock lost for
//! too long) ends in the handler: every peer sends every other a resync,
//! and the loop goes on. Early in each run one peer is cut off from the
//! others for `--cut-ms` (virtual time), so some beats resync. Every run
//! must complete; a failing run prints its seed, and `--first-seed S
//! --seeds 1` replays it exactly. `choreo verify` explores this protocol to
//! the end (with 2 and 3 peers) and the workspace test
//! `verify_agrees_with_runtime` runs it under faults.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::node::{NodeTransport, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{Error, Session, SessionId};
use clap::Parser;

choreography! {
    /// Beats led by `Peer[0]`; a beat that misses its deadline resyncs.
    protocol Heartbeat(n) {
        roles Peer[n];
        rec Loop {
            timeout 2s {
                choice at Peer[0] {
                    Beat => {
                        Peer[0] -> Peer[*] : Tick(u64);
                        Peer[*] -> Peer[0] : Tock(u64);
                        continue Loop;
                    }
                    Stop => {
                        Peer[0] -> Peer[*] : Halt;
                    }
                }
            } else {
                Peer[*] -> Peer[*] : Resync(u64);
                continue Loop;
            }
        }
    }
}

use heartbeat::{Halt, Resync, Tick, Tock};

/// Run seeded simulations of a heartbeat loop with a timeout per beat.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    runs: choreo_examples::SeedRuns,
    /// Peers in the heartbeat (the leader and the others).
    #[arg(long, default_value_t = 3)]
    peers: u32,
    /// Beats the leader completes before it stops.
    #[arg(long, default_value_t = 5)]
    beats: u64,
    /// Probability that a frame is lost.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// How long the last peer is cut off from the others, from 1 ms on (ms
    /// of virtual time; the deadline of a beat is 2 s).
    #[arg(long, default_value_t = 3000)]
    cut_ms: u64,
}

/// What one peer saw.
#[derive(Debug, Default)]
struct Seen {
    /// Beats whose body completed.
    beats: u64,
    /// Beats that ended in the handler.
    resyncs: u64,
    /// Late body messages dropped (a tick or tock of a beat already resynced).
    late: u64,
}

/// How long a peer that has nothing left to do waits for a handler a
/// slower peer may still start (virtual time).
const LINGER: Duration = Duration::from_secs(5);

async fn leader(
    s: Session<NodeTransport>,
    params: heartbeat::Params,
    beats: u64,
) -> Result<Seen, Error> {
    let mut seen = Seen::default();
    let mut ep = heartbeat::peer_0::open(s, params)?;
    let mut beat = 0;
    loop {
        let body = ep.body();
        if seen.beats == beats {
            let after = match body.select_stop().send_all(Halt).await? {
                Timed::Done(after) => after,
                Timed::Expired(h) => {
                    seen.resyncs += 1;
                    let (_, head) = h.exchange(|_| Resync(beat)).await?;
                    ep = head;
                    continue;
                }
            };
            seen.late = after.session().late_messages_dropped();
            match after.linger(LINGER).await? {
                Lingered::Closed => return Ok(seen),
                Lingered::Handler(h) => {
                    seen.resyncs += 1;
                    let (_, head) = h.exchange(|_| Resync(beat)).await?;
                    ep = head;
                    continue;
                }
            }
        }
        beat += 1;
        let handler = match body.select_beat().send_all(Tick(beat)).await? {
            Timed::Done(sent) => match sent.recv_all().await? {
                Timed::Done((_tocks, head)) => {
                    seen.beats += 1;
                    ep = head;
                    continue;
                }
                Timed::Expired(h) => h,
            },
            Timed::Expired(h) => h,
        };
        seen.resyncs += 1;
        let (_, head) = handler.exchange(|_| Resync(beat)).await?;
        ep = head;
    }
}

async fn follower(s: Session<NodeTransport>, params: heartbeat::Params) -> Result<Seen, Error> {
    use heartbeat::peer::TickOrHalt;
    let mut seen = Seen::default();
    let mut ep = heartbeat::peer::open(s, params)?;
    loop {
        let handler = match ep.body().branch().await? {
            Timed::Done(TickOrHalt::Tick(Tick(beat), next)) => match next.send(Tock(beat)).await? {
                Timed::Done(head) => {
                    seen.beats += 1;
                    ep = head;
                    continue;
                }
                Timed::Expired(h) => h,
            },
            Timed::Done(TickOrHalt::Halt(Halt, after)) => {
                seen.late = after.session().late_messages_dropped();
                match after.linger(LINGER).await? {
                    Lingered::Closed => return Ok(seen),
                    Lingered::Handler(h) => h,
                }
            }
            Timed::Expired(h) => h,
        };
        seen.resyncs += 1;
        let (_, head) = handler.exchange(|_| Resync(0)).await?;
        ep = head;
    }
}

/// One run: what every peer saw, the leader first.
fn run(seed: u64, args: &Args) -> Result<Vec<Seen>, String> {
    let mut sim = Sim::new(
        seed,
        SimConfig {
            drop: args.drop,
            duplicate: 0.02,
            reorder: 0.1,
            ..SimConfig::default()
        },
    );
    let nodes: Vec<usize> = (0..args.peers).map(|_| sim.add_node()).collect();
    let params = heartbeat::Params { n: args.peers };
    let roster = heartbeat::roster(&params).map_err(|e| e.to_string())?;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let sessions = sim
        .open_sessions(SessionId(id), &heartbeat::PROTOCOL, &roster, &nodes)
        .map_err(|e| e.to_string())?;
    let mut tasks = Vec::new();
    for (i, (s, &node)) in sessions.into_iter().zip(&nodes).enumerate() {
        tasks.push(if i == 0 {
            sim.spawn(node, leader(s, params, args.beats))
        } else {
            sim.spawn(node, follower(s, params))
        });
    }
    if let Some((&last, others)) = nodes.split_last() {
        if args.cut_ms > 0 && !others.is_empty() {
            sim.run_until(Time::ZERO + Duration::from_millis(1));
            sim.partition(&[last], others);
            sim.run_until(Time::ZERO + Duration::from_millis(1 + args.cut_ms));
            sim.heal();
        }
    }
    sim.run().map_err(|stuck| format!("stuck: {stuck}"))?;
    tasks
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.take()
                .ok_or_else(|| format!("Peer[{i}] did not finish"))?
                .map_err(|e| format!("Peer[{i}]: {e}"))
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.peers < 2 {
        eprintln!("--peers must be at least 2");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let (mut resyncs, mut late) = (0, 0);
    let failed = args.runs.each(|seed| {
        let seen = run(seed, &args)?;
        resyncs += seen.iter().map(|s| s.resyncs).max().unwrap_or(0);
        late += seen.iter().map(|s| s.late).sum::<u64>();
        if seen.first().is_some_and(|l| l.beats != args.beats) {
            return Err(format!("the leader stopped after {seen:?} beats"));
        }
        Ok(())
    });
    println!(
        "{} ({} peers, {} beats each, drop {}, one peer cut off for {} ms): {resyncs} beats resynced, {late} late messages dropped, in {:.2?}",
        args.runs.completed(&failed),
        args.peers,
        args.beats,
        args.drop,
        args.cut_ms,
        started.elapsed()
    );
    choreo_examples::seeds_exit(&failed)
}
