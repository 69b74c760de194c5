//! A node that sat idle (its driver told it no time for a while) opens a
//! session: the session's peers are not "lost" at once, their silence
//! counts from the opening.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

#[test]
fn a_session_opened_after_a_long_idle_spell_does_not_lose_its_peers_at_once() {
    let (me, peer) = (NodeId([1; 32]), NodeId([2; 32]));
    let node = SharedNode::new(Node::new(me, NodeConfig::default()));
    let clock = Arc::new(AtomicU64::new(0));
    let read = clock.clone();
    node.set_clock(Arc::new(move || {
        Time::from_micros(read.load(Ordering::Relaxed))
    }));
    // An hour passes without the driver passing any time in.
    let later = Duration::from_secs(3_600);
    clock.store(Time::from_duration(later).as_micros(), Ordering::Relaxed);
    let _session = node
        .open_session(SessionSpec {
            id: SessionId([3; 16]),
            protocol: &PAIR,
            me: RoleId::single(Role(0)),
            roster: Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap(),
            peers: vec![me, peer],
            patience: Some(Duration::from_secs(10)),
        })
        .unwrap();
    let now = Time::from_duration(later + Duration::from_secs(1));
    node.with(|n| n.handle_timeout(now));
    while let Some(event) = node.with(|n| n.poll_event()) {
        assert!(
            !matches!(event, NodeEvent::PeerLost { .. }),
            "peer lost one second after the session opened: {event:?}"
        );
    }
}
