//! Hostile peers against the node host: every bad frame is a violation or
//! a counted drop, never a panic, never a hang of the honest session
//! running beside it, and the node's memory stays within its stated
//! bounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use choreo_runtime::node::wire::{FrameKind, NodeFrame};
use choreo_runtime::node::{NodeConfig, NodeEvent, NodeId, Time};
use choreo_runtime::sim::{Sim, SimConfig, TaskHandle};
use choreo_runtime::{
    Error, Header, Label, Message, Payload, ProtocolInfo, Role, RoleId, RoleShape, Roster,
    SessionId,
};

static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Rounds",
    fingerprint: [9; 32],
    roles: &["A", "B"],
    labels: &["Ping", "Pong"],
};
const A: RoleId = RoleId::single(Role(0));
const B: RoleId = RoleId::single(Role(1));
const PING: Label = Label(0);
const PONG: Label = Label(1);
const SID: SessionId = SessionId([3; 16]);
const ROUNDS: u64 = 20;
const EXPECTED: u64 = ROUNDS * (ROUNDS - 1);
const HOSTILE: NodeId = NodeId([0xEE; 32]);

/// Node 0 plays A, node 1 plays B (the target of the attacks).
struct World {
    sim: Sim,
    a_result: TaskHandle<Result<u64, Error>>,
    b_result: TaskHandle<Result<(), Error>>,
}

fn world(config: NodeConfig) -> World {
    let mut sim = Sim::new(
        11,
        SimConfig {
            node: config,
            ..SimConfig::default()
        },
    );
    let (na, nb) = (sim.add_node(), sim.add_node());
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let mut s = sim
        .open_sessions(SID, &PROTO, &roster, &[na, nb])
        .unwrap()
        .into_iter();
    let (mut a, mut b) = (s.next().unwrap(), s.next().unwrap());
    let a_result = sim.spawn(na, async move {
        let mut sum = 0;
        for i in 0..ROUNDS {
            a.send(B, PING, &i).await?;
            sum += a.recv::<u64>(B, PONG).await?;
        }
        a.finish()?;
        Ok(sum)
    });
    let b_result = sim.spawn(nb, async move {
        for _ in 0..ROUNDS {
            let n: u64 = b.recv(A, PING).await?;
            b.send(A, PONG, &(n * 2)).await?;
        }
        b.finish()
    });
    // Let a few rounds run before the attacks.
    sim.run_until(Time::ZERO + Duration::from_millis(60));
    World {
        sim,
        a_result,
        b_result,
    }
}

impl World {
    fn a(&self) -> NodeId {
        self.sim.node_id(0).unwrap()
    }

    /// The honest session still completes with the right result.
    fn finish(mut self) -> Sim {
        self.sim.run().unwrap();
        self.b_result.take().unwrap().unwrap();
        assert_eq!(self.a_result.take().unwrap().unwrap(), EXPECTED);
        self.sim
    }

    fn stats(&self) -> choreo_runtime::node::NodeStats {
        self.sim.node(1).unwrap().with(|n| n.stats())
    }
}

fn header(session: SessionId, fingerprint: [u8; 32], sender: RoleId) -> Header {
    Header {
        session,
        fingerprint,
        sender,
    }
}

fn data(h: &Header, seq: u64, ack: u64, label: Label, value: u64) -> Vec<u8> {
    let m = Message {
        label,
        phase: 0,
        payload: Payload::encode(&value).unwrap(),
    };
    NodeFrame::encode_data(h, seq, ack, &m)
}

/// The violations node 1 reported against `peer`, as their text.
fn violations(sim: &Sim, peer: NodeId) -> Vec<String> {
    sim.events()
        .iter()
        .filter_map(|(_, n, e)| match e {
            NodeEvent::Violation { peer: p, error, .. } if *n == 1 && *p == peer => {
                Some(error.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn random_bytes_are_violations_naming_the_sender() {
    let mut w = world(NodeConfig::default());
    let mut x: u64 = 0x1234_5678;
    for len in 0..300usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        w.sim.inject(HOSTILE, 1, &bytes);
    }
    let a = w.a();
    w.sim.inject(a, 1, &[1, 2, 3]);
    let sim = w.finish();
    assert_eq!(violations(&sim, HOSTILE).len(), 300);
    let from_a = violations(&sim, a);
    assert_eq!(from_a.len(), 1);
    assert!(from_a[0].contains(&a.to_string()), "{}", from_a[0]);
}

#[test]
fn truncated_frames_are_violations() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    let frame = data(&header(SID, PROTO.fingerprint, A), 1, 0, PING, 5);
    for n in [0, 1, 10, 21, 22, 50, 83, frame.len() - 1] {
        w.sim.inject(a, 1, &frame[..n]);
    }
    let sim = w.finish();
    let v = violations(&sim, a);
    assert_eq!(v.len(), 8, "{v:#?}");
    assert!(
        v.iter()
            .all(|e| e.contains("truncated") || e.contains("payload")),
        "{v:#?}"
    );
}

#[test]
fn oversized_frames_are_violations_and_never_buffered() {
    let config = NodeConfig {
        max_frame_len: 4096,
        ..NodeConfig::default()
    };
    let mut w = world(config);
    let a = w.a();
    let big = vec![0u8; 4097];
    w.sim.inject(a, 1, &big);
    let unknown = SessionId([0x55; 16]);
    let m = Message {
        label: PING,
        phase: 0,
        payload: Payload::from_bytes(&vec![1u8; 5000]),
    };
    let big_valid = NodeFrame::encode_data(&header(unknown, PROTO.fingerprint, A), 1, 0, &m);
    w.sim.inject(a, 1, &big_valid);
    assert_eq!(w.stats().pending_frames, 0);
    let sim = w.finish();
    let v = violations(&sim, a);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|e| e.contains("at most 4096 bytes")), "{v:#?}");
}

#[test]
fn a_wrong_session_id_is_held_announced_and_expires() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    let other = SessionId([0x77; 16]);
    w.sim.inject(
        a,
        1,
        &data(&header(other, PROTO.fingerprint, A), 1, 0, PING, 1),
    );
    assert_eq!(w.stats().pending_frames, 1);
    let sim = w.finish();
    assert!(sim.events().iter().any(|(_, n, e)| *n == 1
        && matches!(e, NodeEvent::SessionRequested { session, from, .. } if *session == other && *from == a)));
    let mut sim = sim;
    sim.run_for(Duration::from_secs(11));
    let stats = sim.node(1).unwrap().with(|n| n.stats());
    assert_eq!((stats.pending_frames, stats.pending_dropped), (0, 1));
}

#[test]
fn an_unknown_node_cannot_open_sessions() {
    let mut w = world(NodeConfig::default());
    let other = SessionId([0x78; 16]);
    w.sim.inject(
        HOSTILE,
        1,
        &data(&header(other, PROTO.fingerprint, A), 1, 0, PING, 1),
    );
    assert_eq!(w.stats().pending_frames, 0);
    let sim = w.finish();
    let v = violations(&sim, HOSTILE);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("does not know"), "{}", v[0]);
}

#[test]
fn a_wrong_fingerprint_is_a_violation() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    w.sim
        .inject(a, 1, &data(&header(SID, [1; 32], A), 50, 0, PING, 1));
    let sim = w.finish();
    let v = violations(&sim, a);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("another protocol"), "{}", v[0]);
}

#[test]
fn a_sender_the_roster_does_not_bind_to_that_node_is_a_violation() {
    let config = NodeConfig {
        peers: vec![HOSTILE],
        ..NodeConfig::default()
    };
    let mut w = world(config);
    let a = w.a();
    // The hostile node claims to be A; node 0 claims to be B (node 1 itself)
    // and a role that does not exist.
    w.sim.inject(
        HOSTILE,
        1,
        &data(&header(SID, PROTO.fingerprint, A), 3, 0, PING, 1),
    );
    w.sim.inject(
        a,
        1,
        &data(&header(SID, PROTO.fingerprint, B), 3, 0, PONG, 1),
    );
    w.sim.inject(
        a,
        1,
        &data(
            &header(SID, PROTO.fingerprint, RoleId::single(Role(9))),
            3,
            0,
            PING,
            1,
        ),
    );
    let sim = w.finish();
    let v = violations(&sim, HOSTILE);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].contains(&HOSTILE.to_string()) && v[0].contains("claiming sender A"),
        "{}",
        v[0]
    );
    assert_eq!(violations(&sim, a).len(), 2);
}

#[test]
fn a_label_outside_the_protocol_is_a_violation() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    w.sim.inject(
        a,
        1,
        &data(&header(SID, PROTO.fingerprint, A), 60, 0, Label(40), 1),
    );
    let sim = w.finish();
    let v = violations(&sim, a);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("label number 40"), "{}", v[0]);
}

#[test]
fn an_unexpected_label_fails_the_receive_with_a_protocol_violation() {
    let mut sim = Sim::new(3, SimConfig::default());
    let (na, nb) = (sim.add_node(), sim.add_node());
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let mut s = sim
        .open_sessions(SID, &PROTO, &roster, &[na, nb])
        .unwrap()
        .into_iter();
    let (a, mut b) = (s.next().unwrap(), s.next().unwrap());
    let hb = sim.spawn(nb, async move { b.recv::<u64>(A, PING).await });
    let a_id = sim.node_id(na).unwrap();
    // Seq 1 from A, well-formed, but Pong where B expects Ping.
    sim.inject(
        a_id,
        nb,
        &data(&header(SID, PROTO.fingerprint, A), 1, 0, PONG, 1),
    );
    sim.run().unwrap();
    match hb.take().unwrap() {
        Err(Error::ProtocolViolation { role, got, .. }) => {
            assert_eq!(role, "A");
            assert!(got.contains("Pong"), "{got}");
        }
        other => panic!("expected a violation, got {other:?}"),
    }
    drop(a);
}

#[test]
fn sequence_numbers_beyond_the_window_are_dropped_and_bogus_acks_are_violations() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    let h = header(SID, PROTO.fingerprint, A);
    w.sim.inject(a, 1, &data(&h, 1 << 40, 0, PING, 1));
    w.sim.inject(a, 1, &data(&h, u64::MAX, 0, PING, 1));
    assert_eq!(w.stats().over_window, 2);
    w.sim.inject(
        a,
        1,
        &NodeFrame::encode_control(FrameKind::Ack, &h, 0, 1 << 50),
    );
    let sim = w.finish();
    let v = violations(&sim, a);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("acknowledgement of frame"), "{}", v[0]);
}

#[test]
fn replayed_old_frames_are_dropped_as_duplicates_not_delivered_twice() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    let h = header(SID, PROTO.fingerprint, A);
    let before = w.stats().duplicates;
    // A's first Ping was seq 1 with value 0; replay it (and a forged
    // variant with the same seq) many times. If any were delivered again,
    // B would answer twice and the session would end in a violation.
    for _ in 0..50 {
        w.sim.inject(a, 1, &data(&h, 1, 0, PING, 0));
        w.sim.inject(a, 1, &data(&h, 1, 0, PING, 999));
    }
    assert_eq!(w.stats().duplicates - before, 100);
    w.finish();
}

#[test]
fn a_flood_of_unknown_sessions_stays_within_the_pending_bounds() {
    let config = NodeConfig::default();
    let limits = config.pending;
    let max_events = config.max_events;
    let mut w = world(config);
    let a = w.a();
    let frames = 20_000u32;
    for i in 0..frames {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_le_bytes());
        id[15] = 0xF0;
        w.sim.inject(
            a,
            1,
            &data(&header(SessionId(id), PROTO.fingerprint, A), 1, 0, PING, 1),
        );
    }
    let stats = w.stats();
    assert_eq!(stats.pending_frames, limits.max_frames as u64);
    assert_eq!(
        stats.pending_dropped,
        u64::from(frames) - limits.max_frames as u64
    );
    let queued = w.sim.node(1).unwrap().with(|n| {
        let mut k = 0;
        while n.poll_event().is_some() {
            k += 1;
        }
        k
    });
    assert!(queued <= max_events, "{queued} events queued");
    let mut sim = w.finish();
    sim.run_for(limits.max_age + Duration::from_secs(1));
    assert_eq!(sim.node(1).unwrap().with(|n| n.stats()).pending_frames, 0);
}

#[test]
fn a_peer_flooding_an_open_session_is_bounded_by_the_receive_buffer() {
    let mut w = world(NodeConfig::default());
    let a = w.a();
    let recv_buffer = NodeConfig::default().link.recv_buffer;
    let h = header(SID, PROTO.fingerprint, A);
    // In-window sequence numbers far ahead of what B reads, 64 KiB each.
    let m = Message {
        label: PING,
        phase: 0,
        payload: Payload::from_bytes(&vec![7u8; 64 << 10]),
    };
    for seq in 100..1100 {
        w.sim.inject(a, 1, &NodeFrame::encode_data(&h, seq, 0, &m));
    }
    let stats = w.stats();
    assert!(
        stats.buffered_bytes as usize <= recv_buffer,
        "{} bytes buffered",
        stats.buffered_bytes
    );
    assert!(stats.over_window > 0);
    // The forged frames sit beyond what the honest A ever sends, so they
    // are never delivered and the honest session completes.
    w.finish();
}
