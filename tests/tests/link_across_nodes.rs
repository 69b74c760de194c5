//! `link Sub(…)` between nodes in the deterministic simulator: the join
//! handshake, `Sub` running on a session of the same nodes through the
//! generated typed entry, a `link` that is a timeout's handler, and a
//! fingerprint mismatch refused on both sides with no frame of `Sub` sent.
//!
//! CI runs [`CI_SEEDS`] seeds per test; `CHOREO_SIM_SEEDS=N` for more.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_runtime::link::{full_hex, linked_session_id};
use choreo_runtime::node::{NodeId, NodeTransport, SessionSpec, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::Timed;
use choreo_runtime::{Error, ProtocolInfo, Role, RoleId, Roster, Session, SessionId};

/// The version both sides of a matching link run.
mod v1 {
    use choreo_macros::choreography;
    choreography! {
        /// A query, then the answer in a separately versioned protocol.
        protocol Lookup {
            roles Client, Server;
            Client -> Server : Query(u64);
            link Answer(Client, Server);
        }
        protocol Answer {
            roles Asker, Teller;
            Teller -> Asker : Reply(u64);
        }

        /// A round with a deadline whose handler links to a rescue.
        protocol Round(n) {
            roles Witness[n];
            timeout 1s {
                Witness[0] -> Witness[*] : Propose(u64);
                Witness[*] -> Witness[0] : Ack(u64);
            } else {
                link Rescue(Witness);
            }
        }
        protocol Rescue(n) {
            roles Member[n];
            Member[*] -> Member[*] : Vote(u64);
        }

        /// A link inside a timeout body: the fast path hands over to
        /// `Work`, the handler to `Help`.
        protocol Job {
            roles Boss, Worker;
            timeout 1s {
                Boss -> Worker : Assign(u64);
                link Work(Boss, Worker);
            } else {
                link Help(Boss, Worker);
            }
        }
        protocol Work {
            roles Giver, Doer;
            Doer -> Giver : Done(u64);
        }
        protocol Help {
            roles Giver, Doer;
            Giver -> Doer : Hint(u64);
        }
    }
}

/// `Lookup` unchanged, `Answer` evolved: its fingerprint differs.
mod v2 {
    use choreo_macros::choreography;
    choreography! {
        protocol Lookup {
            roles Client, Server;
            Client -> Server : Query(u64);
            link Answer(Client, Server);
        }
        protocol Answer {
            roles Asker, Teller;
            Teller -> Asker : Reply(u64);
            Asker -> Teller : Thanks;
        }
    }
}

const CI_SEEDS: u64 = 100;
const LOOKUP: SessionId = SessionId([21; 16]);

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

fn faults() -> SimConfig {
    SimConfig {
        drop: 0.1,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    }
}

fn open(
    sim: &Sim,
    node: usize,
    protocol: &'static ProtocolInfo,
    me: RoleId,
    roster: &Roster,
    peers: &[NodeId],
) -> Session<NodeTransport> {
    sim.node(node)
        .unwrap()
        .open_session(SessionSpec {
            id: LOOKUP,
            protocol,
            me,
            roster: roster.clone(),
            peers: peers.to_vec(),
            patience: None,
        })
        .unwrap()
}

async fn client_v1(s: Session<NodeTransport>) -> Result<u64, Error> {
    let ep = v1::lookup::client::open(s, v1::lookup::Params {})?;
    let ep = ep.send(v1::lookup::Query(6)).await?;
    let ep = ep.join().await?;
    let (v1::answer::Reply(r), end) = ep.recv().await?;
    end.finish()?;
    Ok(r)
}

async fn server_v1(s: Session<NodeTransport>) -> Result<u64, Error> {
    let ep = v1::lookup::server::open(s, v1::lookup::Params {})?;
    let (v1::lookup::Query(q), ep) = ep.recv().await?;
    let ep = ep.join().await?;
    let end = ep.send(v1::answer::Reply(q * 7)).await?;
    end.finish()?;
    Ok(q * 7)
}

async fn server_v2(s: Session<NodeTransport>) -> Result<u64, Error> {
    let ep = v2::lookup::server::open(s, v2::lookup::Params {})?;
    let (v2::lookup::Query(q), ep) = ep.recv().await?;
    let ep = ep.join().await?;
    let end = ep.send(v2::answer::Reply(q * 7)).await?;
    let (v2::answer::Thanks, end) = end.recv().await?;
    end.finish()?;
    Ok(q * 7)
}

/// One `Lookup` between node 0 (client, v1) and node 1 (server, v1 or v2).
fn lookup_run(seed: u64, server_runs_v2: bool) -> (Result<u64, String>, Result<u64, String>, Sim) {
    let mut sim = Sim::new(seed, faults());
    let (a, b) = (sim.add_node(), sim.add_node());
    let peers = [sim.node_id(a).unwrap(), sim.node_id(b).unwrap()];
    let roster = v1::lookup::roster(&v1::lookup::Params {}).unwrap();
    let (client, server) = (RoleId::single(Role(0)), RoleId::single(Role(1)));
    let c = open(&sim, a, &v1::lookup::PROTOCOL, client, &roster, &peers);
    let client = sim.spawn(a, client_v1(c));
    let server = if server_runs_v2 {
        let s = open(&sim, b, &v2::lookup::PROTOCOL, server, &roster, &peers);
        sim.spawn(b, server_v2(s))
    } else {
        let s = open(&sim, b, &v1::lookup::PROTOCOL, server, &roster, &peers);
        sim.spawn(b, server_v1(s))
    };
    if let Err(stuck) = sim.run() {
        panic!("seed {seed}: stuck: {stuck:?}");
    }
    let c = client.take().unwrap().map_err(|e| e.to_string());
    let s = server.take().unwrap().map_err(|e| e.to_string());
    (c, s, sim)
}

#[test]
fn a_link_with_the_same_fingerprint_joins_and_runs_the_linked_protocol() {
    let linked = linked_session_id(LOOKUP, &v1::answer::FINGERPRINT);
    for seed in 0..seeds() {
        let (c, s, sim) = lookup_run(seed, false);
        assert_eq!(c, Ok(42), "seed {seed}: client");
        assert_eq!(s, Ok(42), "seed {seed}: server");
        assert!(
            sim.frames_sent(linked) > 0,
            "seed {seed}: Answer ran on no session of its own"
        );
    }
}

#[test]
fn a_link_with_another_fingerprint_is_refused_on_both_sides_and_nothing_of_it_runs() {
    // Same `Lookup` on both sides (its fingerprint does not cover what a
    // link's target contains), different `Answer`.
    assert_eq!(v1::lookup::FINGERPRINT, v2::lookup::FINGERPRINT);
    assert_ne!(v1::answer::FINGERPRINT, v2::answer::FINGERPRINT);
    let (ours, theirs) = (
        full_hex(&v1::answer::FINGERPRINT),
        full_hex(&v2::answer::FINGERPRINT),
    );
    for seed in 0..seeds() {
        let (c, s, sim) = lookup_run(seed, true);
        let c = c.expect_err("the client joined a mismatched link");
        let s = s.expect_err("the server joined a mismatched link");
        for (side, e, peer) in [("client", &c, "Server"), ("server", &s, "Client")] {
            assert!(
                e.contains(&format!("protocol violation by {peer}"))
                    && e.contains(&ours)
                    && e.contains(&theirs)
                    && e.contains("Answer"),
                "seed {seed}: the {side}'s refusal does not name the protocol and both fingerprints: {e}"
            );
        }
        for fp in [&v1::answer::FINGERPRINT, &v2::answer::FINGERPRINT] {
            let frames = sim.frames_sent(linked_session_id(LOOKUP, fp));
            assert_eq!(
                frames, 0,
                "seed {seed}: {frames} frames of Answer were sent"
            );
        }
        // The lookup itself ran (its frames were sent) up to the refusal.
        assert!(sim.frames_sent(LOOKUP) > 0);
    }
}

const WITNESSES: u32 = 3;

/// A witness of `Round`; the initiator (`Witness[0]`) starts `late`.
async fn witness(s: Session<NodeTransport>, me: u32) -> Result<Vec<u64>, Error> {
    let params = v1::round::Params { n: WITNESSES };
    let handler = if me == 0 {
        let ep = v1::round::witness_0::open(s, params)?.body();
        let ep = match ep.send_all(v1::round::Propose(1)).await? {
            Timed::Done(ep) => ep,
            Timed::Expired(h) => return rescue(h.join().await?, me).await,
        };
        match ep.recv_all().await? {
            Timed::Done((_, after)) => {
                after.finish()?;
                return Ok(Vec::new());
            }
            Timed::Expired(h) => h.join().await?,
        }
    } else {
        let ep = v1::round::witness::open(s, params)?.body();
        let (v1::round::Propose(p), ep) = match ep.recv().await? {
            Timed::Done(got) => got,
            Timed::Expired(h) => return rescue(h.join().await?, me).await,
        };
        match ep.send(v1::round::Ack(p)).await? {
            Timed::Done(after) => {
                after.finish()?;
                return Ok(Vec::new());
            }
            Timed::Expired(h) => h.join().await?,
        }
    };
    rescue(handler, me).await
}

async fn rescue(ep: v1::rescue::member::S0<NodeTransport>, me: u32) -> Result<Vec<u64>, Error> {
    let (votes, end) = ep.exchange(|_| v1::rescue::Vote(u64::from(me))).await?;
    end.finish()?;
    Ok(votes
        .into_iter()
        .map(|(_, v1::rescue::Vote(v))| v)
        .collect())
}

#[test]
fn a_link_as_a_timeout_handler_joins_every_witness_into_the_rescue() {
    // The initiator starts 3 s late: the others' deadlines pass, their
    // handler's join handshakes interrupt the initiator's body as soon as
    // it starts, and all three run `Rescue` on its own session.
    let id = SessionId([22; 16]);
    let rescue = linked_session_id(id, &v1::rescue::FINGERPRINT);
    for seed in 0..seeds() {
        let mut sim = Sim::new(seed, faults());
        let nodes: Vec<usize> = (0..WITNESSES).map(|_| sim.add_node()).collect();
        let params = v1::round::Params { n: WITNESSES };
        let roster = v1::round::roster(&params).unwrap();
        let mut sessions = sim
            .open_sessions(id, &v1::round::PROTOCOL, &roster, &nodes)
            .unwrap()
            .into_iter();
        let late = sessions.next().unwrap();
        let mut tasks = Vec::new();
        for (i, s) in sessions.enumerate() {
            tasks.push((i + 1, sim.spawn(nodes[i + 1], witness(s, i as u32 + 1))));
        }
        sim.run_until(Time::ZERO + Duration::from_secs(3));
        tasks.push((0, sim.spawn(nodes[0], witness(late, 0))));
        if let Err(stuck) = sim.run() {
            panic!("seed {seed}: stuck: {stuck:?}");
        }
        for (i, t) in tasks {
            let votes = t
                .take()
                .unwrap()
                .unwrap_or_else(|e| panic!("seed {seed}: witness {i}: {e}"));
            assert_eq!(votes, vec![0, 1, 2], "seed {seed}: witness {i}");
        }
        assert!(sim.frames_sent(rescue) > 0);
    }
}

/// How a `Job` participant's part ended: the value `Work` or `Help`
/// carried, and why its body ended early (if it did).
type JobEnd = (&'static str, u64, Option<choreo_runtime::Interrupt>);

/// `Boss`: assigns, then gives up on the fast path at once (as if its
/// deadline passed) and joins `Help`.
async fn boss(s: Session<NodeTransport>) -> Result<JobEnd, Error> {
    let ep = v1::job::boss::open(s, v1::job::Params {})?.body();
    let Timed::Done(ep) = ep.send(v1::job::Assign(3)).await? else {
        return Err(Error::Interrupted(choreo_runtime::Interrupt::Deadline));
    };
    let help = ep.abandon().join().await?;
    let end = help.send(v1::help::Hint(9)).await?;
    end.finish()?;
    Ok(("help", 9, Some(choreo_runtime::Interrupt::Abandoned)))
}

/// `Worker`: takes the assignment and joins `Work`, inside the body; the
/// boss's join of `Help` interrupts that join.
async fn worker(s: Session<NodeTransport>) -> Result<JobEnd, Error> {
    let ep = v1::job::worker::open(s, v1::job::Params {})?.body();
    let Timed::Done((v1::job::Assign(a), ep)) = ep.recv().await? else {
        return Err(Error::Interrupted(choreo_runtime::Interrupt::Deadline));
    };
    match ep.join().await? {
        Timed::Done(work) => {
            let end = work.send(v1::work::Done(a)).await?;
            end.finish()?;
            Ok(("work", a, None))
        }
        Timed::Expired(handler) => {
            let why = handler.session().interrupted_by().cloned();
            let help = handler.join().await?;
            let (v1::help::Hint(h), end) = help.recv().await?;
            end.finish()?;
            Ok(("help", h, why))
        }
    }
}

#[test]
fn a_join_inside_a_body_interrupted_by_a_handler_returns_the_handler() {
    // The worker reaches the link inside the body and waits for the boss's
    // join handshake of `Work`; the boss has abandoned the body and sends
    // its join of `Help` instead. The worker's join returns the handler's
    // state (not an error), and both run `Help`; no frame of `Work` is sent.
    // Duplicates and reordering but no losses, so the assignment always
    // reaches the worker well within the deadline.
    let id = SessionId([23; 16]);
    let work = linked_session_id(id, &v1::work::FINGERPRINT);
    let help = linked_session_id(id, &v1::help::FINGERPRINT);
    let config = SimConfig {
        drop: 0.0,
        ..faults()
    };
    for seed in 0..seeds() {
        let mut sim = Sim::new(seed, config.clone());
        let (a, b) = (sim.add_node(), sim.add_node());
        let roster = v1::job::roster(&v1::job::Params {}).unwrap();
        let mut s = sim
            .open_sessions(id, &v1::job::PROTOCOL, &roster, &[a, b])
            .unwrap()
            .into_iter();
        let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
        let boss = sim.spawn(a, boss(s0));
        let worker = sim.spawn(b, worker(s1));
        if let Err(stuck) = sim.run() {
            panic!("seed {seed}: stuck: {stuck:?}");
        }
        let b = boss
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: boss: {e}"));
        let w = worker
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: worker: {e}"));
        assert_eq!(b.1, 9, "seed {seed}");
        assert!(
            matches!(
                w,
                (
                    "help",
                    9,
                    Some(choreo_runtime::Interrupt::HandlerMessage { .. })
                )
            ),
            "seed {seed}: the worker's join did not hand over the handler: {w:?}"
        );
        assert_eq!(sim.frames_sent(work), 0, "seed {seed}: Work ran");
        assert!(sim.frames_sent(help) > 0, "seed {seed}: Help did not run");
    }
}
