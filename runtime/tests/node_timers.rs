//! The node core's timers with many sessions hosted, driven only at the
//! times `poll_timeout` names (as the network driver and the simulator
//! drive it): every session's silent peer is reported unresponsive at
//! exactly `suspect_after`, each once, whatever the other sessions do;
//! and closed sessions are all forgotten in the end. Guards the deadline
//! index (`node/table.rs`), which lets `handle_timeout` visit only the
//! sessions it names as due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use choreo_runtime::node::{Node, NodeConfig, NodeEvent, NodeId, SessionSpec, SharedNode, Time};
use choreo_runtime::{ProtocolInfo, Role, RoleId, RoleShape, Roster, SessionId};

static PAIR: ProtocolInfo = ProtocolInfo {
    name: "Pair",
    fingerprint: [7; 32],
    roles: &["A", "B"],
    labels: &["M"],
};

const SESSIONS: u64 = 300;

fn id(i: u64) -> SessionId {
    let mut id = [0u8; 16];
    // Key order differs from opening order, so the index's time order and
    // the map's key order disagree.
    id[..8].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
    SessionId(id)
}

#[test]
fn every_session_of_many_gets_its_timers_on_time_and_is_forgotten() {
    let (me, peer) = (NodeId([1; 32]), NodeId([2; 32]));
    let node = SharedNode::new(Node::new(me, NodeConfig::default()));
    let config = node.with(|n| n.config().link);
    let clock = Arc::new(AtomicU64::new(0));
    let read = clock.clone();
    node.set_clock(Arc::new(move || {
        Time::from_micros(read.load(Ordering::Relaxed))
    }));
    // Opened 7 ms apart, each with a peer that never answers.
    let mut opened = BTreeMap::new();
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let at = Time::from_micros(i * 7_000);
        clock.store(at.as_micros(), Ordering::Relaxed);
        node.with(|n| n.handle_timeout(at));
        sessions.push(
            node.open_session(SessionSpec {
                id: id(i),
                protocol: &PAIR,
                me: RoleId::single(Role(0)),
                roster: Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap(),
                peers: vec![me, peer],
                patience: Some(Duration::from_secs(30)),
            })
            .unwrap(),
        );
        opened.insert(id(i), at);
    }
    let mut reported = BTreeMap::new();
    let mut steps = 0;
    let mut closed = false;
    while let Some(t) = node.with(|n| n.poll_timeout()) {
        steps += 1;
        assert!(steps < 1_000_000, "the timers never stop");
        assert!(
            t <= Time::from_duration(Duration::from_secs(300)),
            "a timer at {t:?}"
        );
        clock.store(t.as_micros(), Ordering::Relaxed);
        node.with(|n| {
            n.handle_timeout(t);
            while n.poll_transmit(t).is_some() {}
        });
        while let Some(event) = node.with(|n| n.poll_event()) {
            if let NodeEvent::PeerUnresponsive { session, .. } = event {
                assert!(
                    reported.insert(session, t).is_none(),
                    "{session} reported unresponsive twice"
                );
            }
        }
        if !closed && reported.len() as u64 == SESSIONS {
            // Close them all: the closes go unacknowledged until the
            // patience, then each session lingers and is forgotten.
            closed = true;
            sessions.clear();
        }
    }
    assert_eq!(reported.len() as u64, SESSIONS);
    for (session, at) in &opened {
        assert_eq!(
            reported[session],
            *at + config.suspect_after,
            "{session}: reported at the wrong time"
        );
    }
    assert_eq!(node.with(|n| n.stats().sessions), 0, "sessions left hosted");
}
