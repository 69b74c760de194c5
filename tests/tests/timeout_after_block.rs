//! A `timeout` whose block is followed by more (a `choice` branch ending in
//! the timeout, then a statement after the `choice`), between nodes in the
//! deterministic simulator. A participant that completed the body and
//! waits in the statement after the block still answers a peer that
//! starts the handler, until it acts (`Timed::Expired` from that state's
//! operation), as the model checker assumes: `choreo verify` accepts this
//! protocol only because of that.
//!
//! CI runs [`CI_SEEDS`] seeds per test; set `CHOREO_SIM_SEEDS=N` for a
//! bigger sweep. A failure names its seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::node::{NodeTransport, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::Timed;
use choreo_runtime::{Error, Session, SessionId};

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

const CI_SEEDS: u64 = 50;

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

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
        after_block::p_1::GoOrHalt::Halt(..) => panic!("P[0] always goes"),
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

/// Runs `AfterBlock`, `P[1]` starting `late` (virtual time); both sides'
/// outcomes.
fn run(seed: u64, late: Duration, abandon: bool) -> [Result<Seen, String>; 2] {
    let config = SimConfig {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(seed, config);
    let (a, b) = (sim.add_node(), sim.add_node());
    let roster = after_block::roster(&after_block::Params {}).unwrap();
    let mut s = sim
        .open_sessions(
            SessionId([41; 16]),
            &after_block::PROTOCOL,
            &roster,
            &[a, b],
        )
        .unwrap()
        .into_iter();
    let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
    let t0 = sim.spawn(a, pinger(s0));
    sim.run_until(Time::ZERO + late);
    let t1 = sim.spawn(b, ponger(s1, abandon));
    if let Err(stuck) = sim.run() {
        panic!("seed {seed}: run stuck: {stuck:?}");
    }
    [t0, t1].map(|t| t.take().unwrap().map_err(|e| e.to_string()))
}

#[test]
fn a_participant_waiting_after_the_block_answers_the_handler() {
    // P[1] starts 200 ms late: P[0] has sent the ping, completed its body
    // and waits for `Done` after the choice. P[1] gives up on the body at
    // once and starts the handler: P[0] must leave its receive for the
    // resync, and both then finish with `Done`. Before, P[0] dropped the
    // resync as a message of a body it had left, and both waited for ever.
    for seed in 0..seeds() {
        let [p0, p1] = run(seed, Duration::from_millis(200), true);
        assert_eq!(p0, Ok((Some(vec![10, 11]), 7)), "seed {seed}: P[0]");
        assert_eq!(p1, Ok((Some(vec![10, 11]), 7)), "seed {seed}: P[1]");
    }
}

#[test]
fn without_a_handler_the_statement_after_the_block_runs_as_usual() {
    for seed in 0..seeds() {
        let [p0, p1] = run(seed, Duration::ZERO, false);
        // Under losses a late ping may let P[1]'s deadline pass: then both
        // resync first; either way both agree and finish.
        assert_eq!(p0, p1, "seed {seed}");
        assert!(matches!(p0, Ok((_, 7))), "seed {seed}: {p0:?}");
    }
}
