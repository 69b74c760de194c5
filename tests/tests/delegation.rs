//! `delegate R to S` on generated endpoints: in one process (the session
//! passes to S's task) and between nodes in the deterministic simulator
//! (R's endpoint moves to S's node while the client's next message to R is
//! in flight), and the run-time handoff of any state (`into_handoff` /
//! `resume`) to a new node.
//!
//! CI runs `CI_SEEDS` seeds; set `CHOREO_DELEGATE_SEEDS=N` for more.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_macros::choreography;
use choreo_runtime::node::NodeEvent;
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{Error, SessionId};

choreography! {
    /// The clerk takes a question, briefs the manager and hands the case
    /// over; the client's detail goes to "the clerk", whoever holds it.
    protocol Desk {
        roles Client, Clerk, Manager;
        Client -> Clerk : Ask(u64);
        Clerk -> Manager : Brief(u64);
        delegate Clerk to Manager;
        Client -> Clerk : Detail(u64);
        Clerk -> Client : Answer(u64);
    }
}

use desk::{Answer, Ask, Brief, Detail};

const CI_SEEDS: u64 = 200;

/// The answer for a question and its detail.
fn answer(ask: u64, detail: u64) -> u64 {
    ask * 100 + detail
}

#[tokio::test]
async fn delegation_in_one_process_passes_the_endpoint_to_the_delegates_task() {
    let params = desk::Params::default();
    let mut s = desk::sessions(&params, SessionId([1; 16]))
        .unwrap()
        .into_iter();
    let (c, k, m) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let client = tokio::spawn(async move {
        let ep = desk::client::open(c, params)?;
        let (Answer(a), end) = ep.send(Ask(7)).await?.send(Detail(3)).await?.recv().await?;
        end.finish()?;
        Ok::<u64, Error>(a)
    });
    let clerk = tokio::spawn(async move {
        let ep = desk::clerk::open(k, params)?;
        let (Ask(q), ep) = ep.recv().await?;
        ep.send(Brief(q)).await?.delegate()
    });
    let manager = tokio::spawn(async move {
        let ep = desk::manager::open(m, params)?;
        let (Brief(q), ep) = ep.recv().await?;
        let (Detail(d), ep) = ep.accept().await?.recv().await?;
        ep.send(Answer(answer(q, d))).await?.finish()
    });
    clerk.await.unwrap().unwrap();
    manager.await.unwrap().unwrap();
    assert_eq!(client.await.unwrap().unwrap(), answer(7, 3));
}

/// One run of `Desk` with each role on its own node; the clerk's endpoint
/// moves to the manager's node at the `delegate`.
fn desk_between_nodes(seed: u64, config: SimConfig) -> (Result<u64, String>, Sim) {
    let mut sim = Sim::new(seed, config);
    let nodes = [sim.add_node(), sim.add_node(), sim.add_node()];
    let params = desk::Params::default();
    let roster = desk::roster(&params).unwrap();
    let mut s = sim
        .open_sessions(SessionId([2; 16]), &desk::PROTOCOL, &roster, &nodes)
        .unwrap()
        .into_iter();
    let (c, k, m) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let client = sim.spawn(nodes[0], async move {
        let ep = desk::client::open(c, params)?;
        // Ask and Detail leave back to back: Detail is on its way to the
        // clerk's old node while the clerk delegates.
        let (Answer(a), end) = ep.send(Ask(7)).await?.send(Detail(3)).await?.recv().await?;
        end.finish()?;
        Ok::<u64, Error>(a)
    });
    let clerk = sim.spawn(nodes[1], async move {
        let ep = desk::clerk::open(k, params)?;
        let (Ask(q), ep) = ep.recv().await?;
        ep.send(Brief(q)).await?.delegate()
    });
    let manager = sim.spawn(nodes[2], async move {
        let ep = desk::manager::open(m, params)?;
        let (Brief(q), ep) = ep.recv().await?;
        let (Detail(d), ep) = ep.accept().await?.recv().await?;
        ep.send(Answer(answer(q, d))).await?.finish()
    });
    let outcome = sim.run().map_err(|e| e.to_string()).and_then(|()| {
        clerk.take().unwrap().map_err(|e| format!("clerk: {e}"))?;
        manager
            .take()
            .unwrap()
            .map_err(|e| format!("manager: {e}"))?;
        client.take().unwrap().map_err(|e| format!("client: {e}"))
    });
    (outcome, sim)
}

#[test]
fn delegation_between_nodes_moves_the_endpoint_and_the_client_never_notices() {
    let (r, sim) = desk_between_nodes(1, SimConfig::default());
    assert_eq!(r, Ok(answer(7, 3)));
    let violations: Vec<_> = sim
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, NodeEvent::Violation { .. }))
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn delegation_between_nodes_completes_under_faults_for_many_seeds() {
    let seeds = std::env::var("CHOREO_DELEGATE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    let config = SimConfig {
        drop: 0.15,
        duplicate: 0.1,
        reorder: 0.3,
        ..SimConfig::default()
    };
    for seed in 0..seeds {
        let (r, _) = desk_between_nodes(seed, config.clone());
        assert_eq!(r, Ok(answer(7, 3)), "seed {seed} (rerun it to replay)");
    }
}

#[test]
fn any_state_can_move_to_a_new_node_and_resume_there() {
    let mut sim = Sim::new(3, SimConfig::default());
    let nodes = [sim.add_node(), sim.add_node(), sim.add_node()];
    let phone = sim.add_node();
    let phone_node = sim.node(phone).unwrap().clone();
    let old_node = sim.node(nodes[0]).unwrap().clone();
    let (old_id, phone_id) = (sim.node_id(nodes[0]).unwrap(), sim.node_id(phone).unwrap());
    let params = desk::Params::default();
    let roster = desk::roster(&params).unwrap();
    let mut s = sim
        .open_sessions(SessionId([3; 16]), &desk::PROTOCOL, &roster, &nodes)
        .unwrap()
        .into_iter();
    let (c, k, m) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    // The client asks on its old device, then moves, waiting for Answer.
    let _client_old = sim.spawn(nodes[0], async move {
        let ep = desk::client::open(c, params)?;
        let waiting = ep.send(Ask(5)).await?.send(Detail(1)).await?;
        old_node.hand_off(waiting.into_handoff(), phone_id)
    });
    let client_new = sim.spawn(phone, async move {
        let handoff = phone_node.accept_handoff(&desk::PROTOCOL, old_id).await?;
        let ep = desk::client::S2::resume(handoff)?;
        let (Answer(a), end) = ep.recv().await?;
        end.finish()?;
        Ok::<u64, Error>(a)
    });
    let _clerk = sim.spawn(nodes[1], async move {
        let ep = desk::clerk::open(k, params)?;
        let (Ask(q), ep) = ep.recv().await?;
        ep.send(Brief(q)).await?.delegate()
    });
    let _manager = sim.spawn(nodes[2], async move {
        let ep = desk::manager::open(m, params)?;
        let (Brief(q), ep) = ep.recv().await?;
        let (Detail(d), ep) = ep.accept().await?.recv().await?;
        ep.send(Answer(answer(q, d))).await?.finish()
    });
    sim.run().unwrap();
    assert_eq!(client_new.take().unwrap().unwrap(), answer(5, 1));
}

#[test]
fn resume_refuses_a_handoff_made_in_another_state() {
    let params = desk::Params::default();
    let mut s = desk::sessions(&params, SessionId([4; 16]))
        .unwrap()
        .into_iter();
    let c = s.next().unwrap();
    let ep = desk::client::open(c, params).unwrap();
    let handoff = ep.into_handoff();
    let e = desk::client::S2::resume(handoff).err().unwrap();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    assert!(e.to_string().contains("not in state number 2"), "{e}");
}
