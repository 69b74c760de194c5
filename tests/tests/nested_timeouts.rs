//! Nested `timeout`s between nodes in the deterministic simulator. A role
//! whose last action completes an inner body completes the enclosing body
//! with it; it still answers a peer that starts *either* handler
//! afterwards (`AfterS5S4::linger`), as the model checker assumes.
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
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{Error, Session, SessionId};

choreography! {
    /// `P[0]` opens; inside, `P[1]` pings `P[2]`, which answers `P[0]`.
    /// Each timeout has its own all-to-all fallback exchange.
    protocol Nest {
        roles P[3];
        timeout 2s {
            P[0] -> P[1] : Open(u64);
            timeout 1s {
                P[1] -> P[2] : Ping(u64);
                P[2] -> P[0] : Pong(u64);
            } else {
                P[*] -> P[*] : Inner(u64);
            }
        } else {
            P[*] -> P[*] : Outer(u64);
        }
    }
}

const CI_SEEDS: u64 = 50;
const MEMBERS: usize = 3;
/// How long a role that has nothing left to do stays for a peer's handler.
const LINGER: Duration = Duration::from_secs(10);

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

/// How one member's part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// Both bodies completed and nobody started a handler.
    Body,
    /// The inner handler ran (the values exchanged, sorted by member),
    /// then the outer body completed and nobody started its handler.
    Inner(Vec<u64>),
    /// The outer handler ran (the values exchanged).
    Outer(Vec<u64>),
}

/// A member's part of the outer handler.
macro_rules! outer {
    ($h:expr, $me:expr) => {{
        let (got, end) = $h.exchange(|_| nest::Outer(200 + $me)).await?;
        end.finish()?;
        Ok(Ended::Outer(
            got.into_iter().map(|(_, nest::Outer(v))| v).collect(),
        ))
    }};
}

/// A member's part of the inner handler, and what follows it: the outer
/// body is complete again, and a peer may still start the outer handler.
macro_rules! inner {
    ($h:expr, $me:expr) => {{
        match $h.exchange(|_| nest::Inner(100 + $me)).await? {
            Timed::Done((got, after)) => {
                let values = got.into_iter().map(|(_, nest::Inner(v))| v).collect();
                match after.linger(LINGER).await? {
                    Lingered::Closed => Ok(Ended::Inner(values)),
                    Lingered::Handler(h) => outer!(h, $me),
                }
            }
            Timed::Expired(h) => outer!(h, $me),
        }
    }};
}

/// What a member with nothing left to do after both bodies does: stay
/// for either handler.
macro_rules! after_both {
    ($module:ident, $after:expr, $me:expr) => {{
        use nest::$module::LingeredS5S4;
        match $after.linger(LINGER).await? {
            LingeredS5S4::Closed => Ok(Ended::Body),
            LingeredS5S4::S4(h) => inner!(h, $me),
            LingeredS5S4::S5(h) => outer!(h, $me),
        }
    }};
}

/// `P[0]`: opens, then waits for the pong.
async fn opener(s: Session<NodeTransport>) -> Result<Ended, Error> {
    let ep = nest::p_0::open(s, nest::Params {})?.body();
    let ep = match ep.send(nest::Open(1)).await? {
        Timed::Done(ep) => ep.body(),
        Timed::Expired(h) => return outer!(h, 0),
    };
    match ep.recv().await? {
        Timed::Done((nest::Pong(_), after)) => after_both!(p_0, after, 0),
        Timed::Expired(h) => inner!(h, 0),
    }
}

/// `P[1]`: waits for the opening, pings, and then has nothing left to do.
async fn pinger(s: Session<NodeTransport>) -> Result<Ended, Error> {
    let ep = nest::p_1::open(s, nest::Params {})?.body();
    let ep = match ep.recv().await? {
        Timed::Done((nest::Open(_), ep)) => ep.body(),
        Timed::Expired(h) => return outer!(h, 1),
    };
    match ep.send(nest::Ping(1)).await? {
        Timed::Done(after) => after_both!(p_1, after, 1),
        Timed::Expired(h) => inner!(h, 1),
    }
}

/// How `P[2]` behaves.
#[derive(Clone, Copy)]
enum Ponger {
    /// Waits for the ping and answers it.
    Normal,
    /// Gives up on the inner body at once (`abandon()`), as a member that
    /// saw something wrong would: the inner handler starts.
    AbandonsInner,
}

/// `P[2]`: waits for the ping, answers `P[0]`.
async fn ponger(s: Session<NodeTransport>, how: Ponger) -> Result<Ended, Error> {
    let ep = nest::p_2::open(s, nest::Params {})?.body().body();
    if let Ponger::AbandonsInner = how {
        return inner!(ep.abandon(), 2);
    }
    let ep = match ep.recv().await? {
        Timed::Done((nest::Ping(_), ep)) => ep,
        Timed::Expired(h) => return inner!(h, 2),
    };
    match ep.send(nest::Pong(1)).await? {
        Timed::Done(after) => after_both!(p_2, after, 2),
        Timed::Expired(h) => inner!(h, 2),
    }
}

fn faults() -> SimConfig {
    SimConfig {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    }
}

/// Runs `Nest` on a simulated network with `config`, `P[2]` starting
/// `late` (virtual time) and behaving as `how`; every member's outcome.
fn run(seed: u64, config: SimConfig, late: Duration, how: Ponger) -> Vec<Result<Ended, String>> {
    let mut sim = Sim::new(seed, config);
    let nodes: Vec<usize> = (0..MEMBERS).map(|_| sim.add_node()).collect();
    let params = nest::Params {};
    let roster = nest::roster(&params).unwrap();
    let mut sessions = sim
        .open_sessions(SessionId([31; 16]), &nest::PROTOCOL, &roster, &nodes)
        .unwrap()
        .into_iter();
    let (s0, s1, s2) = (
        sessions.next().unwrap(),
        sessions.next().unwrap(),
        sessions.next().unwrap(),
    );
    let t0 = sim.spawn(nodes[0], opener(s0));
    let t1 = sim.spawn(nodes[1], pinger(s1));
    sim.run_until(Time::ZERO + late);
    let t2 = sim.spawn(nodes[2], ponger(s2, how));
    if let Err(stuck) = sim.run() {
        panic!("seed {seed}: run stuck: {stuck:?}");
    }
    [t0, t1, t2]
        .into_iter()
        .map(|t| t.take().unwrap().map_err(|e| e.to_string()))
        .collect()
}

#[test]
fn without_faults_both_bodies_complete() {
    for seed in 0..seeds() {
        let out = run(seed, SimConfig::default(), Duration::ZERO, Ponger::Normal);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(o, &Ok(Ended::Body), "seed {seed}: member {i}");
        }
    }
}

#[test]
fn a_member_that_completed_both_bodies_answers_the_inner_handler() {
    // P[2] starts 500 ms late, by when P[1] has pinged and completed both
    // bodies (it waits in `AfterS5S4::linger`), then abandons the inner
    // body at once. Its inner handler message reaches P[0] inside the
    // inner body and P[1] lingering: all three exchange the inner
    // fallback. Before the nested `linger`, P[1] answered only the outer
    // handler, so every run ended in the outer one. Under drops, the inner
    // exchange may still be retransmitting when P[0]'s outer deadline
    // (2 s) passes: then all three meet in the outer handler instead.
    let mut inner = 0;
    for seed in 0..seeds() {
        let out = run(
            seed,
            faults(),
            Duration::from_millis(500),
            Ponger::AbandonsInner,
        );
        let first = out[0].clone();
        for (i, o) in out.iter().enumerate() {
            assert_eq!(
                o, &first,
                "seed {seed}: members 0 and {i} disagree: {out:?}"
            );
        }
        match first {
            Ok(Ended::Inner(values)) => {
                assert_eq!(values, vec![100, 101, 102], "seed {seed}");
                inner += 1;
            }
            Ok(Ended::Outer(values)) => assert_eq!(values, vec![200, 201, 202], "seed {seed}"),
            other => panic!("seed {seed}: {other:?}"),
        }
    }
    assert!(
        inner * 10 >= seeds() * 9,
        "only {inner} of {} runs ran the inner handler",
        seeds()
    );
}

#[test]
fn a_late_member_meets_the_outer_handler() {
    // P[2] starts 3 s late: P[0]'s inner deadline (1 s) passes first, so
    // it starts the inner handler; P[1] has completed both bodies and
    // answers it; P[2] never joins, so the inner exchange cannot complete
    // before the outer deadline (2 s) passes for P[0] and P[1], which then
    // run the outer handler; P[2], starting inside both bodies, is
    // interrupted by their outer handler messages. Every member ends in
    // the outer exchange with the same three values.
    for seed in 0..seeds() {
        let out = run(seed, faults(), Duration::from_secs(3), Ponger::Normal);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(
                o,
                &Ok(Ended::Outer(vec![200, 201, 202])),
                "seed {seed}: member {i}"
            );
        }
    }
}
