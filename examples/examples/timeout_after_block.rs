//! A `timeout` whose block is followed by more, in the deterministic
//! network simulator: `cargo run --example timeout_after_block -- --seeds
//! 100 --abandon`.
//!
//! `P[0]` pings `P[1]` inside a timeout in one branch of a `choice`; after
//! the `choice`, `P[1]` says it is done. `P[0]` completes its body with
//! the ping and waits for `Done` after the block; when `P[1]` starts the
//! handler instead (`--abandon`: it gives up on the body at once, as a
//! member that saw something wrong would; or its deadline passes before
//! the ping arrives), `P[0]`'s receive hands over the handler
//! (`Timed::Expired`), both resync, and `Done` follows. `P[1]` starts
//! `--late-ms` late (virtual time). Every run must end with both sides
//! agreeing; a failing run prints its seed, and `--first-seed S --seeds 1`
//! replays it. `choreo verify` accepts this protocol only because a
//! participant that has not acted since its body answers the handler, and
//! the workspace test `verify_agrees_with_runtime` runs it under faults.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::node::{NodeTransport, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::Timed;
use choreo_runtime::{Error, Interrupt, Session, SessionId};
use clap::Parser;

choreography! {
    /// `P[0]` pings inside a timeout, or halts; either way `P[1]` then
    /// says it is done.
    protocol AfterBlock {
        roles P[2];
        choice at P[0] {
            Go => {
                P[0] -> P[1] : Go;
                timeout 1s {
                    P[0] -> P[1] : Ping(u64);
                } else {
                    P[*] -> P[*] : Resync(u64);
                }
            }
            Stop => {
                P[0] -> P[1] : Halt;
            }
        }
        P[1] -> P[0] : Done(u64);
    }
}

use after_block::{Done, Go, Ping, Resync};

/// What one side saw: the resync values if the handler ran, and the
/// value of `Done`.
type Seen = (Option<Vec<u64>>, u64);

/// `P[0]`: pings in the body, then waits for `Done`, answering the
/// handler if `P[1]` starts it before `Done` arrives.
async fn pinger(s: Session<NodeTransport>) -> Result<Seen, Error> {
    let ep = after_block::p_0::open(s, after_block::Params {})?;
    let body = ep.select_go().send(Go).await?.body();
    let mut resynced = None;
    let mut wait = match body.send(Ping(1)).await? {
        Timed::Done(wait) => wait,
        Timed::Expired(h) => {
            let (got, wait) = h.exchange(|_| Resync(10)).await?;
            resynced = Some(got.into_iter().map(|(_, Resync(v))| v).collect());
            wait
        }
    };
    loop {
        match wait.recv().await? {
            Timed::Done((Done(v), end)) => {
                end.finish()?;
                return Ok((resynced, v));
            }
            Timed::Expired(h) => {
                let (got, next) = h.exchange(|_| Resync(10)).await?;
                resynced = Some(got.into_iter().map(|(_, Resync(v))| v).collect());
                wait = next;
            }
        }
    }
}

/// `P[1]`: waits for the ping (or, with `abandon`, gives up on the body at
/// once, as a member that saw something wrong would), then says done.
async fn ponger(s: Session<NodeTransport>, abandon: bool) -> Result<Seen, Error> {
    let ep = after_block::p_1::open(s, after_block::Params {})?;
    let body = match ep.branch().await? {
        after_block::p_1::GoOrHalt::Go(Go, timeout) => timeout.body(),
        after_block::p_1::GoOrHalt::Halt(..) => {
            return Err(Error::Interrupted(Interrupt::Deadline))
        }
    };
    let handler = if abandon {
        Err(body.abandon())
    } else {
        match body.recv().await? {
            Timed::Done((Ping(_), done)) => Ok(done),
            Timed::Expired(h) => Err(h),
        }
    };
    let mut resynced = None;
    let mut done = match handler {
        Ok(done) => done,
        Err(h) => {
            let (got, done) = h.exchange(|_| Resync(11)).await?;
            resynced = Some(got.into_iter().map(|(_, Resync(v))| v).collect());
            done
        }
    };
    loop {
        match done.send(Done(7)).await? {
            Timed::Done(end) => {
                end.finish()?;
                return Ok((resynced, 7));
            }
            Timed::Expired(h) => {
                let (got, next) = h.exchange(|_| Resync(11)).await?;
                resynced = Some(got.into_iter().map(|(_, Resync(v))| v).collect());
                done = next;
            }
        }
    }
}

/// Run seeded simulations of a timeout followed by more after its block.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    runs: choreo_examples::SeedRuns,
    /// Probability that a frame is lost.
    #[arg(long, default_value_t = 0.1)]
    drop: f64,
    /// How late `P[1]` starts, in virtual milliseconds.
    #[arg(long, default_value_t = 200)]
    late_ms: u64,
    /// `P[1]` abandons the body as soon as it starts.
    #[arg(long)]
    abandon: bool,
}

/// One seeded run: what both sides saw, if they agree.
fn run(seed: u64, args: &Args) -> Result<Seen, String> {
    let config = SimConfig {
        drop: args.drop,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(seed, config);
    let (a, b) = (sim.add_node(), sim.add_node());
    let roster = after_block::roster(&after_block::Params {}).map_err(|e| e.to_string())?;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let mut sessions = sim
        .open_sessions(SessionId(id), &after_block::PROTOCOL, &roster, &[a, b])
        .map_err(|e| e.to_string())?
        .into_iter();
    let mut next = || sessions.next().ok_or("a session is missing");
    let (s0, s1) = (next()?, next()?);
    let t0 = sim.spawn(a, pinger(s0));
    sim.run_until(Time::ZERO + Duration::from_millis(args.late_ms));
    let t1 = sim.spawn(b, ponger(s1, args.abandon));
    sim.run().map_err(|stuck| format!("stuck: {stuck}"))?;
    let p0 = t0
        .take()
        .ok_or("P[0] did not finish")?
        .map_err(|e| format!("P[0]: {e}"))?;
    let p1 = t1
        .take()
        .ok_or("P[1] did not finish")?
        .map_err(|e| format!("P[1]: {e}"))?;
    if p0 == p1 {
        Ok(p0)
    } else {
        Err(format!("the sides disagree: P[0] {p0:?}, P[1] {p1:?}"))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let mut resynced = 0;
    let failed = args.runs.each(|seed| {
        match run(seed, &args)? {
            (Some(values), 7) if values == [10, 11] => resynced += 1,
            (None, 7) => {}
            other => return Err(format!("wrong values: {other:?}")),
        }
        Ok(())
    });
    println!(
        "{} (P[1] {} ms late{}, drop {}): {resynced} ran the handler after P[0] had completed its body, in {:.2?}",
        args.runs.completed(&failed),
        args.late_ms,
        if args.abandon { ", abandoning the body" } else { "" },
        args.drop,
        started.elapsed()
    );
    choreo_examples::seeds_exit(&failed)
}
