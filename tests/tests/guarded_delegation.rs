//! `delegate R to S` on generated endpoints behind node guards, in the
//! deterministic simulator: the clerk's endpoint moves to the manager's
//! node and its annotated `Answer` is judged by the manager's node's guard
//! (the new holder's policy), not by the clerk's. Allowed: the protocol
//! completes, the fact and the charge land on the manager's guard. Denied
//! by the new guard (though the clerk's own guard would allow it): the
//! generated `send` fails with `Error::Denied` and the client never gets
//! an answer.
//!
//! In one process (`guard::memory_sessions`, every endpoint behind a guard
//! of its own) the same rule holds: the clerk's endpoint passes to the
//! manager's task and its `Answer` is judged by the manager's guard.
//!
//! CI runs `CI_SEEDS` seeds per case; set `CHOREO_GUARDED_DELEGATE_SEEDS=N`
//! for more.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};

use choreo_macros::choreography;
use choreo_runtime::guard::GuardedTransport;
use choreo_runtime::guard::{
    CapabilitySet, ContextId, Denial, Grant, Guard, GuardConfig, ManualClock, PeerKey, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::memory::{MemoryConfig, MemoryTransport};
use choreo_runtime::node::SessionSpec;
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{Error, Session, SessionId};

choreography! {
    /// The clerk takes a question, briefs the manager and hands the case
    /// over; whoever holds the clerk's part answers, under a guard.
    protocol GuardedDesk {
        roles Client, Clerk, Manager;
        Client -> Clerk : Ask(u64);
        Clerk -> Manager : Brief(u64);
        delegate Clerk to Manager;
        Client -> Clerk : Detail(u64);
        @guard("desk:answer") @cost(3) @journal("answered")
        Clerk -> Client : Answer(u64);
    }
}

use guarded_desk::{Answer, Ask, Brief, Detail};

const CI_SEEDS: u64 = 100;
const CTX: ContextId = ContextId([4; 32]);
const CAP: &str = "desk:answer";

/// A node's guard and its journal.
struct NodeGuard {
    guard: Guard,
    journal: Arc<Mutex<Journal>>,
}

impl NodeGuard {
    fn new(key: u8) -> Self {
        let scope = ScopeId([key; 32]);
        let journal = Arc::new(Mutex::new(
            Journal::open(scope, MemoryStore::new()).unwrap(),
        ));
        let guard = Guard::new(GuardConfig::default(), Arc::new(ManualClock::default()))
            .with_journal(
                journal.clone(),
                RecordSends {
                    key: SigningKey::from_bytes(&[key; 32]),
                    scope,
                },
            );
        NodeGuard { guard, journal }
    }

    fn facts(&self) -> usize {
        self.journal.lock().unwrap().facts().len()
    }
}

fn grant(caps: &[&str]) -> Grant {
    Grant {
        context: CTX,
        capabilities: CapabilitySet::grant(caps.iter().copied()),
    }
}

struct Outcome {
    client: Option<Result<u64, Error>>,
    manager: Option<Result<(), Error>>,
    clerk_guard: NodeGuard,
    manager_guard: NodeGuard,
    client_node: PeerKey,
}

/// One run: every role on its own node behind that node's guard; the
/// clerk's guard grants `desk:answer`, the manager's `manager_caps`.
fn run(seed: u64, config: SimConfig, manager_caps: &'static [&'static str]) -> Outcome {
    let mut sim = Sim::new(seed, config);
    let nodes = [sim.add_node(), sim.add_node(), sim.add_node()];
    let ids: Vec<_> = nodes.iter().map(|n| sim.node_id(*n).unwrap()).collect();
    let params = guarded_desk::Params::default();
    let roster = guarded_desk::roster(&params).unwrap();
    let guards = [NodeGuard::new(1), NodeGuard::new(2), NodeGuard::new(3)];
    let caps: [&[&str]; 3] = [&[], &[CAP], manager_caps];
    let mut sessions = roster.instances().iter().enumerate().map(|(i, &me)| {
        sim.node(nodes[i])
            .unwrap()
            .open_guarded_session(
                SessionSpec {
                    id: SessionId([6; 16]),
                    protocol: &guarded_desk::PROTOCOL,
                    me,
                    roster: roster.clone(),
                    peers: ids.clone(),
                    patience: None,
                },
                &guards[i].guard,
                grant(caps[i]),
            )
            .unwrap()
    });
    let (c, k, m) = (
        sessions.next().unwrap(),
        sessions.next().unwrap(),
        sessions.next().unwrap(),
    );
    let client = sim.spawn(nodes[0], async move {
        let ep = guarded_desk::client::open(c, params)?;
        // Detail is on its way to the clerk's old node while it delegates.
        let (Answer(a), end) = ep.send(Ask(7)).await?.send(Detail(3)).await?.recv().await?;
        end.finish()?;
        Ok::<u64, Error>(a)
    });
    let clerk = sim.spawn(nodes[1], async move {
        let ep = guarded_desk::clerk::open(k, params)?;
        let (Ask(q), ep) = ep.recv().await?;
        ep.send(Brief(q)).await?.delegate()
    });
    let manager = sim.spawn(nodes[2], async move {
        let ep = guarded_desk::manager::open(m, params)?;
        let (Brief(q), ep) = ep.recv().await?;
        let (Detail(d), ep) = ep.accept().await?.recv().await?;
        ep.send(Answer(q * 100 + d)).await?.finish()
    });
    let _ = sim.run();
    if let Some(Err(e)) = clerk.take() {
        panic!("seed {seed}: the clerk failed to delegate: {e}");
    }
    let [_, clerk_guard, manager_guard] = guards;
    Outcome {
        client: client.take(),
        manager: manager.take(),
        clerk_guard,
        manager_guard,
        client_node: PeerKey(ids[0].0),
    }
}

fn lossy() -> SimConfig {
    SimConfig {
        drop: 0.15,
        duplicate: 0.1,
        reorder: 0.3,
        ..SimConfig::default()
    }
}

fn check_allowed(seed: u64, out: &Outcome) {
    assert_eq!(
        out.client
            .as_ref()
            .map(|r| r.as_ref().map_err(ToString::to_string).copied()),
        Some(Ok(703)),
        "seed {seed}: the client's answer (rerun the seed to replay)"
    );
    assert!(matches!(out.manager, Some(Ok(()))), "seed {seed}");
    // The answer was the manager's node's send: its fact, its charge.
    assert_eq!(out.manager_guard.facts(), 1, "seed {seed}");
    let full = GuardConfig::default().flow.capacity;
    let spent = full - out.manager_guard.guard.flow_available(CTX, out.client_node);
    assert_eq!(spent, 3, "seed {seed}");
    assert_eq!(out.clerk_guard.facts(), 0, "seed {seed}");
}

fn check_denied(seed: u64, out: &Outcome) {
    match &out.manager {
        Some(Err(Error::Denied(d))) => {
            assert!(matches!(**d, Denial::Capability { .. }), "seed {seed}: {d}");
        }
        other => panic!("seed {seed}: expected the manager's guard to deny, got {other:?}"),
    }
    // No Answer reached the client: it is still waiting (the simulation
    // stopped with it blocked) or saw the manager's endpoint close.
    assert!(
        !matches!(out.client, Some(Ok(_))),
        "seed {seed}: the client got an answer the guard denied: {:?}",
        out.client
    );
    assert_eq!(out.manager_guard.facts(), 0, "seed {seed}");
    assert_eq!(out.clerk_guard.facts(), 0, "seed {seed}");
}

#[test]
fn a_delegated_guarded_endpoint_answers_to_the_delegates_guard() {
    check_allowed(1, &run(1, SimConfig::default(), &[CAP]));
    check_denied(1, &run(1, SimConfig::default(), &[]));
}

#[test]
fn guarded_delegation_holds_under_faults_for_many_seeds() {
    let seeds = std::env::var("CHOREO_GUARDED_DELEGATE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    for seed in 0..seeds {
        check_allowed(seed, &run(seed, lossy(), &[CAP]));
        check_denied(seed, &run(seed, lossy(), &["other"]));
    }
}

/// Facts in the journal of `session`'s guard.
fn guard_facts(session: &mut Session<GuardedTransport<MemoryTransport>>) -> Arc<Mutex<Journal>> {
    session.transport_mut().guard().journal().unwrap()
}

/// One in-memory run: `memory_sessions` grants every endpoint `desk:answer`
/// under a guard of its own; the manager's endpoint is first narrowed to
/// `manager_caps`. Returns the client's and the manager's results and the
/// clerk's and the manager's journal sizes.
async fn run_in_memory(
    manager_caps: &[&str],
) -> (Result<u64, Error>, Result<(), Error>, usize, usize) {
    let params = guarded_desk::Params::default();
    let roster = guarded_desk::roster(&params).unwrap();
    let mut s = choreo_runtime::guard::memory_sessions(
        SessionId([8; 16]),
        &guarded_desk::PROTOCOL,
        &roster,
        MemoryConfig::default(),
        &[CAP],
    )
    .unwrap()
    .into_iter();
    let (c, mut k, mut m) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    m.transport_mut()
        .attenuate(&CapabilitySet::grant(manager_caps.iter().copied()));
    let (clerk_journal, manager_journal) = (guard_facts(&mut k), guard_facts(&mut m));
    let client = tokio::spawn(async move {
        let ep = guarded_desk::client::open(c, params)?;
        // Detail waits in the clerk's queue while the endpoint moves.
        let (Answer(a), end) = ep.send(Ask(7)).await?.send(Detail(3)).await?.recv().await?;
        end.finish()?;
        Ok::<u64, Error>(a)
    });
    let clerk = tokio::spawn(async move {
        let ep = guarded_desk::clerk::open(k, params)?;
        let (Ask(q), ep) = ep.recv().await?;
        ep.send(Brief(q)).await?.delegate()
    });
    let manager = tokio::spawn(async move {
        let ep = guarded_desk::manager::open(m, params)?;
        let (Brief(q), ep) = ep.recv().await?;
        let (Detail(d), ep) = ep.accept().await?.recv().await?;
        ep.send(Answer(q * 100 + d)).await?.finish()
    });
    clerk.await.unwrap().unwrap();
    let manager = manager.await.unwrap();
    let client = client.await.unwrap();
    let facts = |j: &Arc<Mutex<Journal>>| j.lock().unwrap().facts().len();
    (
        client,
        manager,
        facts(&clerk_journal),
        facts(&manager_journal),
    )
}

#[tokio::test]
async fn in_one_process_a_delegated_guarded_endpoint_answers_to_the_delegates_guard() {
    let (client, manager, clerk_facts, manager_facts) = run_in_memory(&[CAP]).await;
    assert_eq!(client.unwrap(), 703, "the client's answer");
    manager.unwrap();
    // The Answer was sent behind the manager's guard: its fact is there.
    assert_eq!((clerk_facts, manager_facts), (0, 1));
}

#[tokio::test]
async fn in_one_process_the_delegates_guard_denies_what_the_delegators_would_allow() {
    let (client, manager, clerk_facts, manager_facts) = run_in_memory(&[]).await;
    match manager {
        Err(Error::Denied(d)) => assert!(matches!(*d, Denial::Capability { .. }), "{d}"),
        other => panic!("expected the manager's guard to deny, got {other:?}"),
    }
    // The manager's endpoint closed without an Answer: the client fails
    // instead of hanging, and nothing was journaled anywhere.
    assert!(
        client.is_err(),
        "the client got an answer the guard denied: {client:?}"
    );
    assert_eq!((clerk_facts, manager_facts), (0, 0));
}
