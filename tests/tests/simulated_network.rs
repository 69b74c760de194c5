//! Generated endpoints over the node host in the deterministic simulator:
//! many seeds of drops, duplicates, reordering and a healing partition,
//! every run completing with the same result; a seed replays exactly.
//!
//! CI runs `CI_SEEDS` seeds; set `CHOREO_SIM_SEEDS=N` for a bigger sweep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::node::{NodeEvent, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{Error, SessionId};

choreography! {
    /// Rounds of ping-pong until the pinger stops.
    protocol Rally {
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

use rally::{Ping, Pong, Stop};

const CI_SEEDS: u64 = 1000;
const ROUNDS: u64 = 8;
/// Pinger's sum of Pong(2i + 1) over the rounds, and Ponger's count.
const EXPECTED: (u64, u64) = (ROUNDS * ROUNDS, ROUNDS);

fn faults() -> SimConfig {
    SimConfig {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    }
}

/// One run: the rally between node 0 and node 1; with `partition`, the
/// nodes are cut apart from 40 ms for that long (less than the patience).
fn rally(
    seed: u64,
    config: SimConfig,
    partition: Option<Duration>,
) -> (Result<(u64, u64), String>, Sim) {
    let mut sim = Sim::new(seed, config);
    let (n0, n1) = (sim.add_node(), sim.add_node());
    let params = rally::Params::default();
    let roster = rally::roster(&params).unwrap();
    let mut s = sim
        .open_sessions(SessionId([5; 16]), &rally::PROTOCOL, &roster, &[n0, n1])
        .unwrap()
        .into_iter();
    let (p, q) = (s.next().unwrap(), s.next().unwrap());
    let pinger = sim.spawn(n0, async move {
        let mut ep = rally::pinger::open(p, params)?;
        let mut sum = 0;
        for i in 0..ROUNDS {
            let (Pong(n), next) = ep.select_more().send(Ping(i)).await?.recv().await?;
            sum += n;
            ep = next;
        }
        ep.select_done().send(Stop).await?.finish()?;
        Ok::<u64, Error>(sum)
    });
    let ponger = sim.spawn(n1, async move {
        let mut ep = rally::ponger::open(q, params)?;
        let mut served = 0;
        loop {
            match ep.branch().await? {
                rally::ponger::PingOrStop::Ping(Ping(i), next) => {
                    served += 1;
                    ep = next.send(Pong(2 * i + 1)).await?;
                }
                rally::ponger::PingOrStop::Stop(Stop, end) => {
                    end.finish()?;
                    return Ok::<u64, Error>(served);
                }
            }
        }
    });
    if let Some(length) = partition {
        let start = Time::ZERO + Duration::from_millis(40);
        sim.run_until(start);
        sim.partition(&[n0], &[n1]);
        sim.run_until(start + length);
        sim.heal();
    }
    let outcome = sim.run().map_err(|e| e.to_string()).and_then(|()| {
        let sum = pinger.take().unwrap().map_err(|e| e.to_string())?;
        let served = ponger.take().unwrap().map_err(|e| e.to_string())?;
        Ok((sum, served))
    });
    (outcome, sim)
}

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

#[test]
fn generated_rally_completes_under_faults_and_a_healing_partition_for_every_seed() {
    let mut failed = Vec::new();
    for seed in 0..seeds() {
        let partition = seed
            .is_multiple_of(2)
            .then_some(Duration::from_millis(1500));
        let (outcome, _) = rally(seed, faults(), partition);
        if outcome != Ok(EXPECTED) {
            eprintln!("seed {seed} failed: {outcome:?} (rerun this seed to replay)");
            failed.push(seed);
        }
    }
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

#[test]
fn a_seed_replays_the_same_trace() {
    let config = SimConfig {
        keep_trace: true,
        ..faults()
    };
    let cut = Some(Duration::from_millis(1500));
    let (r1, s1) = rally(77, config.clone(), cut);
    let (r2, s2) = rally(77, config, cut);
    assert_eq!(r1, Ok(EXPECTED));
    assert_eq!(r1, r2);
    assert_eq!(s1.trace(), s2.trace());
    assert_eq!(s1.trace_digest(), s2.trace_digest());
    assert!(s1.trace().len() > 20);
}

#[test]
fn a_partition_longer_than_the_suspicion_threshold_is_reported_and_the_run_still_completes() {
    // 5 s of partition: past the 3 s suspicion threshold, below the 10 s
    // patience. Both sides report the silent peer; nothing is lost.
    let (outcome, sim) = rally(3, faults(), Some(Duration::from_secs(5)));
    assert_eq!(outcome, Ok(EXPECTED));
    let unresponsive: Vec<usize> = sim
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, NodeEvent::PeerUnresponsive { .. }))
        .map(|(_, n, _)| *n)
        .collect();
    assert!(
        unresponsive.contains(&0) && unresponsive.contains(&1),
        "{unresponsive:?}"
    );
    assert!(sim
        .events()
        .iter()
        .all(|(_, _, e)| !matches!(e, NodeEvent::PeerLost { .. })));
}

choreography! {
    protocol Fallback {
        roles C, S;
        C -> S : Retry;
    }

    /// One question under a deadline; the handler hands over to `Fallback`.
    protocol Lookup {
        roles Client, Server;
        timeout 500ms {
            Client -> Server : Query(u64);
            Server -> Client : Answer(u64);
        } else {
            link Fallback(Client, Server);
        }
    }
}

use choreo_runtime::typestate::Timed;
use lookup::{Answer, Query};

/// How a participant's part of `Lookup` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The body completed (the client got this answer; the server sent it).
    Body(u64),
    /// The handler ran, this long (virtual time) after the body started.
    Handler(Duration),
}

const LOOKUP_DEADLINE: Duration = Duration::from_millis(500);

/// The handler of `Lookup` for either side: the link to `Fallback`, whose
/// fingerprint must match; then the session ends here.
fn handed_over<T: choreo_runtime::Transport>(
    link: lookup::LinkPoint<T>,
    started: Time,
) -> Result<Ended, Error> {
    link.check(&fallback::FINGERPRINT)?;
    let waited = link.session.now() - started;
    link.session.finish()?;
    Ok(Ended::Handler(waited))
}

/// One run of `Lookup` between node 0 (client) and node 1 (server); with
/// `stall`, the nodes are cut apart from 5 ms for that long.
fn lookup_run(seed: u64, stall: Option<Duration>) -> Result<(Ended, Ended), String> {
    let mut sim = Sim::new(seed, faults());
    let (n0, n1) = (sim.add_node(), sim.add_node());
    let params = lookup::Params::default();
    let roster = lookup::roster(&params).unwrap();
    let mut s = sim
        .open_sessions(SessionId([6; 16]), &lookup::PROTOCOL, &roster, &[n0, n1])
        .unwrap()
        .into_iter();
    let (c, v) = (s.next().unwrap(), s.next().unwrap());
    let client = sim.spawn(n0, async move {
        let ep = lookup::client::open(c, params)?.body();
        let started = ep.session().now();
        let ep = match ep.send(Query(7)).await? {
            Timed::Done(ep) => ep,
            Timed::Expired(h) => return handed_over(h.link(), started),
        };
        match ep.recv().await? {
            Timed::Done((Answer(a), end)) => {
                end.finish()?;
                Ok(Ended::Body(a))
            }
            Timed::Expired(h) => handed_over(h.link(), started),
        }
    });
    let server = sim.spawn(n1, async move {
        let ep = lookup::server::open(v, params)?.body();
        let started = ep.session().now();
        let (Query(q), ep) = match ep.recv().await? {
            Timed::Done(got) => got,
            Timed::Expired(h) => return handed_over(h.link(), started),
        };
        match ep.send(Answer(q * 6)).await? {
            Timed::Done(end) => {
                end.finish()?;
                Ok(Ended::Body(q * 6))
            }
            Timed::Expired(h) => handed_over(h.link(), started),
        }
    });
    if let Some(length) = stall {
        let start = Time::ZERO + Duration::from_millis(5);
        sim.run_until(start);
        sim.partition(&[n0], &[n1]);
        sim.run_until(start + length);
        sim.heal();
    }
    sim.run().map_err(|e| e.to_string())?;
    let c = client.take().unwrap().map_err(|e| e.to_string())?;
    let s = server.take().unwrap().map_err(|e| e.to_string())?;
    Ok((c, s))
}

#[test]
fn timeout_deadlines_run_on_the_simulators_clock_for_every_seed() {
    // CI: 300 seeds (well under a second); CHOREO_SIM_SEEDS for more.
    let seeds = std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64);
    let (mut answered, mut handled) = (0, 0);
    for seed in 0..seeds {
        // Every third run the server is cut off for 2 s: far past the
        // deadline, so both sides must run the handler at 500 ms of virtual
        // time, while the test itself takes microseconds.
        let stall = seed.is_multiple_of(3).then_some(Duration::from_secs(2));
        let outcome = lookup_run(seed, stall);
        let ok = match outcome {
            Ok((Ended::Body(42), Ended::Body(42))) => {
                answered += 1;
                stall.is_none()
            }
            // The client may give up while the answer is still being
            // retransmitted; whoever runs the handler does so exactly at
            // its deadline (the simulator wakes it then).
            Ok((Ended::Handler(c), server)) => {
                handled += 1;
                c == LOOKUP_DEADLINE
                    && match server {
                        Ended::Handler(s) => s == LOOKUP_DEADLINE,
                        Ended::Body(a) => a == 42 && stall.is_none(),
                    }
            }
            _ => false,
        };
        assert!(
            ok,
            "seed {seed} (stall {stall:?}): {outcome:?}; rerun the seed to replay"
        );
    }
    eprintln!("{seeds} seeds: {answered} answered in the body, {handled} ran the handler");
    assert!(
        answered > 0 && handled >= seeds / 3,
        "{answered} answered, {handled} handled"
    );
}
