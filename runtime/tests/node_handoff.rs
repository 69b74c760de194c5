//! Handoff of a live endpoint between nodes, in the deterministic
//! simulator: a role moves mid-protocol to another node while a message to
//! it is in flight, and the protocol completes with every message
//! delivered once, in order; the old holder can no longer speak for the
//! role; rebinds by anybody else and bad bundles are refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::future::Future as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use choreo_runtime::node::wire::{FrameKind, NodeFrame};
use choreo_runtime::node::{NodeEvent, NodeId, NodeTransport};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{
    Error, Handoff, Header, Label, Message, Payload, ProtocolInfo, Role, RoleId, RoleShape, Roster,
    Session, SessionId, Time,
};

static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Relay",
    fingerprint: [7; 32],
    roles: &["A", "R"],
    labels: &["Ping", "Pong"],
};
const A: RoleId = RoleId::single(Role(0));
const R: RoleId = RoleId::single(Role(1));
const PING: Label = Label(0);
const PONG: Label = Label(1);
const SID: SessionId = SessionId([4; 16]);
/// Pings in all; R moves after answering `MOVE_AFTER` of them.
const PINGS: u64 = 12;
const MOVE_AFTER: u64 = 4;
/// The generated-state number the test hands off in (any fixed number).
const STATE: u32 = 3;

fn roster() -> Roster {
    Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap()
}

/// What one run produced.
struct Run {
    sim: Sim,
    /// The pongs A received, in order.
    pongs: Result<Vec<u64>, String>,
    /// The pings R's new holder received, in order.
    moved_pings: Result<Vec<u64>, String>,
    /// A's session, still open (to inject into it before finishing).
    a: Option<Session<NodeTransport>>,
    nodes: [usize; 3],
}

/// Before the handoff, something may be injected (`before`, at virtual
/// time zero, with the node indices a, x, y).
fn run(seed: u64, config: SimConfig, before: impl FnOnce(&mut Sim, [usize; 3])) -> Run {
    let mut sim = Sim::new(seed, config);
    let (na, nx, ny) = (sim.add_node(), sim.add_node(), sim.add_node());
    let x_id = sim.node_id(nx).unwrap();
    let y_node = sim.node(ny).unwrap().clone();
    let mut s = sim
        .open_sessions(SID, &PROTO, &roster(), &[na, nx])
        .unwrap()
        .into_iter();
    let (mut a, mut r) = (s.next().unwrap(), s.next().unwrap());

    // A: ping-pong until R moves, then send the rest back to back. The
    // old holder hands off just after the first of them left A, so it is
    // in flight to the old holder.
    let sent = Arc::new(AtomicBool::new(false));
    let sent_a = Arc::clone(&sent);
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let ha = sim.spawn(na, async move {
        let mut pongs = Vec::new();
        for i in 0..MOVE_AFTER {
            a.send(R, PING, &i).await?;
            pongs.push(a.recv::<u64>(R, PONG).await?);
        }
        for i in MOVE_AFTER..PINGS {
            a.send(R, PING, &i).await?;
            sent_a.store(true, Ordering::Relaxed);
        }
        for _ in MOVE_AFTER..PINGS {
            pongs.push(a.recv::<u64>(R, PONG).await?);
        }
        Ok::<_, Error>((pongs, a))
    });
    // R on its first node: answer, then move to the new node.
    let x_shared = sim.node(nx).unwrap().clone();
    let y_id = sim.node_id(ny).unwrap();
    let hx = sim.spawn(nx, async move {
        for _ in 0..MOVE_AFTER {
            let n: u64 = r.recv(A, PING).await?;
            r.send(A, PONG, &(n * 2)).await?;
        }
        let _ = wait.await;
        x_shared.hand_off(Handoff::new(r, STATE, vec![]), y_id)
    });
    // R on its new node: resume where it stopped.
    let hy = sim.spawn(ny, async move {
        let h = y_node.accept_handoff(&PROTO, x_id).await?;
        let (mut r, _) = h.into_state(&PROTO, STATE)?;
        let mut pings = Vec::new();
        for _ in MOVE_AFTER..PINGS {
            let n: u64 = r.recv(A, PING).await?;
            pings.push(n);
            r.send(A, PONG, &(n * 2)).await?;
        }
        r.finish()?;
        Ok::<_, Error>(pings)
    });
    before(&mut sim, [na, nx, ny]);
    while !sent.load(Ordering::Relaxed) && sim.now() < Time::ZERO + Duration::from_secs(60) {
        let step = sim.now() + Duration::from_millis(1);
        sim.run_until(step);
    }
    let _ = go.send(());
    let stuck = sim.run().err().map(|e| e.to_string());
    let fail = |e: Error| e.to_string();
    if let Some(Err(e)) = hx.take() {
        panic!("seed {seed}: the old holder failed to hand off: {e}");
    }
    let (pongs, a) = match (stuck.clone(), ha.take()) {
        (_, Some(Ok((p, a)))) => (Ok(p), Some(a)),
        (_, Some(Err(e))) => (Err(fail(e)), None),
        (s, None) => (Err(s.unwrap_or_default()), None),
    };
    let moved_pings = match (stuck, hy.take()) {
        (_, Some(r)) => r.map_err(fail),
        (s, None) => Err(s.unwrap_or_default()),
    };
    Run {
        sim,
        pongs,
        moved_pings,
        a,
        nodes: [na, nx, ny],
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

fn expected_pongs() -> Vec<u64> {
    (0..PINGS).map(|i| i * 2).collect()
}

fn violations_by(sim: &Sim, node: usize, peer: NodeId) -> Vec<String> {
    sim.events()
        .iter()
        .filter(|(_, n, _)| *n == node)
        .filter_map(|(_, _, e)| match e {
            NodeEvent::Violation { peer: p, error, .. } if *p == peer => Some(error.to_string()),
            _ => None,
        })
        .collect()
}

fn header(sender: RoleId) -> Header {
    Header {
        session: SID,
        fingerprint: PROTO.fingerprint,
        sender,
    }
}

#[test]
fn a_message_in_flight_to_the_old_holder_is_forwarded_and_delivered_once() {
    let mut out = run(1, SimConfig::default(), |_, _| {});
    assert_eq!(out.pongs.as_deref(), Ok(&expected_pongs()[..]));
    assert_eq!(
        out.moved_pings,
        Ok((MOVE_AFTER..PINGS).collect::<Vec<_>>()),
        "the new holder receives every ping after the move, once, in order"
    );
    let [_, nx, _] = out.nodes;
    let forwarded = out.sim.node(nx).unwrap().with(|n| n.stats()).forwarded;
    assert!(
        forwarded >= 1,
        "the ping in flight reached the old holder and was forwarded"
    );
    out.a.take().unwrap().finish().unwrap();
    let violations = out
        .sim
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, NodeEvent::Violation { .. }))
        .count();
    assert_eq!(violations, 0, "a clean handoff raises no violation");
}

#[test]
fn handoffs_complete_under_drops_duplicates_and_reordering_for_many_seeds() {
    // CI runs 300 seeds (well under a second); run more with HANDOFF_SEEDS=N.
    let seeds: u64 = std::env::var("HANDOFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // HANDOFF_FIRST=S starts at seed S (to replay one).
    let first: u64 = std::env::var("HANDOFF_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut forwarded = 0;
    for seed in first..first + seeds {
        let mut out = run(seed, lossy(), |_, _| {});
        if out.pongs.is_err() && std::env::var("HANDOFF_DEBUG").is_ok() {
            for e in out.sim.events() {
                eprintln!("{e:?}");
            }
        }
        assert_eq!(
            out.pongs.as_deref(),
            Ok(&expected_pongs()[..]),
            "seed {seed}: A's pongs (rerun the seed to replay)"
        );
        assert_eq!(
            out.moved_pings,
            Ok((MOVE_AFTER..PINGS).collect::<Vec<_>>()),
            "seed {seed}: the new holder's pings"
        );
        out.a
            .take()
            .unwrap()
            .finish()
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let [_, nx, _] = out.nodes;
        forwarded += out.sim.node(nx).unwrap().with(|n| n.stats()).forwarded;
    }
    assert!(
        seeds < 50 || forwarded > 0,
        "some runs forwarded frames in flight"
    );
}

#[test]
fn the_old_holder_sending_after_the_handoff_is_a_violation_and_nothing_is_delivered() {
    let mut out = run(2, SimConfig::default(), |_, _| {});
    assert_eq!(out.pongs.as_deref(), Ok(&expected_pongs()[..]));
    let [na, nx, _] = out.nodes;
    let x_id = out.sim.node_id(nx).unwrap();
    // The old holder sent MOVE_AFTER frames (its cut); the new holder the
    // rest. A frame numbered past everything, claiming R, from X:
    let late = Message {
        label: PONG,
        phase: 0,
        payload: Payload::encode(&999u64).unwrap(),
    };
    let frame = NodeFrame::encode_data(&header(R), PINGS + 1, 0, &late);
    out.sim.inject(x_id, na, &frame);
    // And a retransmission of something it did send before the handoff:
    // late, dropped quietly.
    let old = Message {
        label: PONG,
        phase: 0,
        payload: Payload::encode(&0u64).unwrap(),
    };
    let frame = NodeFrame::encode_data(&header(R), 1, 0, &old);
    out.sim.inject(x_id, na, &frame);
    out.sim.run_for(Duration::from_millis(500));
    let v = violations_by(&out.sim, na, x_id);
    assert_eq!(
        v.len(),
        1,
        "exactly the frame sent after the handoff: {v:?}"
    );
    assert!(v[0].contains("after its handoff"), "{}", v[0]);
    // Nothing was delivered to A: finishing finds no orphan message.
    out.a.take().unwrap().finish().unwrap();
}

#[test]
fn a_rebind_from_a_node_that_does_not_hold_the_role_is_refused_naming_it() {
    let mut intruder = None;
    let mut out = run(3, SimConfig::default(), |sim, [na, _, _]| {
        let z = sim.add_node();
        let z_id = sim.node_id(z).unwrap();
        intruder = Some(z_id);
        // "R now lives on Z": only R's holder may say that.
        let mut body = z_id.0.to_vec();
        body.extend_from_slice(&[9; 16]);
        body.extend_from_slice(&0u64.to_le_bytes());
        let frame = NodeFrame::encode_handoff(FrameKind::Rebind, &header(R), &body);
        sim.inject(z_id, na, &frame);
    });
    let z_id = intruder.unwrap();
    let [na, _, _] = out.nodes;
    let v = violations_by(&out.sim, na, z_id);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("only from its holder"), "{}", v[0]);
    // A kept talking to the real holders and the protocol completed.
    assert_eq!(out.pongs.as_deref(), Ok(&expected_pongs()[..]));
    assert_eq!(out.moved_pings, Ok((MOVE_AFTER..PINGS).collect::<Vec<_>>()));
    out.a.take().unwrap().finish().unwrap();
}

#[test]
fn bad_bundles_are_refused_naming_the_sender_and_the_real_one_still_lands() {
    let bundles: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 40],
        vec![1, 4, 4, 4],
        // Plausible start, then nonsense.
        [
            vec![1u8],
            vec![4; 16],
            vec![4; 16],
            vec![3, 0],
            vec![2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ]
        .concat(),
    ];
    let count = bundles.len();
    let mut out = run(4, SimConfig::default(), |sim, [_, nx, ny]| {
        let x_id = sim.node_id(nx).unwrap();
        // Let the new holder start waiting first.
        sim.run_until(Time::ZERO + Duration::from_millis(1));
        for b in &bundles {
            let header = Header {
                session: SessionId([8; 16]),
                ..header(R)
            };
            let frame = NodeFrame::encode_handoff(FrameKind::Bundle, &header, b);
            sim.inject(x_id, ny, &frame);
        }
    });
    let [_, nx, ny] = out.nodes;
    let x_id = out.sim.node_id(nx).unwrap();
    let v = violations_by(&out.sim, ny, x_id);
    assert_eq!(v.len(), count, "every bad bundle refused: {v:?}");
    assert!(
        v.iter()
            .all(|e| e.contains("well-formed handoff bundle")
                || e.contains("consistent handoff bundle")),
        "{v:?}"
    );
    assert_eq!(out.pongs.as_deref(), Ok(&expected_pongs()[..]));
    assert_eq!(out.moved_pings, Ok((MOVE_AFTER..PINGS).collect::<Vec<_>>()));
    out.a.take().unwrap().finish().unwrap();
}

#[test]
fn a_bundle_from_a_node_nobody_expects_is_refused() {
    let mut sim = Sim::new(5, SimConfig::default());
    let (n, stranger) = (sim.add_node(), sim.add_node());
    let s_id = sim.node_id(stranger).unwrap();
    let frame = NodeFrame::encode_handoff(FrameKind::Bundle, &header(R), &[1, 2, 3]);
    sim.inject(s_id, n, &frame);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(violations_by(&sim, n, s_id).len(), 1);
}

#[test]
fn resuming_as_another_state_or_protocol_is_a_usage_error() {
    let mut sim = Sim::new(6, SimConfig::default());
    let (na, nr) = (sim.add_node(), sim.add_node());
    let mut s = sim
        .open_sessions(SID, &PROTO, &roster(), &[na, nr])
        .unwrap()
        .into_iter();
    let (_a, r) = (s.next().unwrap(), s.next().unwrap());
    let h = Handoff::new(r, STATE, vec![]);
    let e = h.into_state(&PROTO, STATE + 1).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    assert!(e.to_string().contains("state number 3"), "{e}");
}

#[test]
fn a_bundle_too_large_for_one_frame_moves_nothing_and_the_endpoint_closes_properly() {
    let config = SimConfig {
        node: choreo_runtime::node::NodeConfig {
            max_frame_len: 200,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let mut sim = Sim::new(7, config);
    let (na, nx, ny) = (sim.add_node(), sim.add_node(), sim.add_node());
    let y_id = sim.node_id(ny).unwrap();
    let mut s = sim
        .open_sessions(SID, &PROTO, &roster(), &[na, nx])
        .unwrap()
        .into_iter();
    let (mut a, r) = (s.next().unwrap(), s.next().unwrap());
    let ha = sim.spawn(na, async move {
        for i in 0..PINGS {
            a.send(R, PING, &i).await?;
        }
        a.recv::<u64>(R, PONG).await
    });
    // The pings arrive and wait, unread, at R's node: more than one frame
    // of bundle.
    sim.run_until(Time::ZERO + Duration::from_millis(200));
    let x_node = sim.node(nx).unwrap().clone();
    let e = x_node
        .hand_off(Handoff::new(r, STATE, vec![]), y_id)
        .unwrap_err();
    assert!(e.to_string().contains("maximum frame length"), "{e}");
    sim.run().unwrap();
    // A learns at once that R closed, instead of waiting out its patience.
    match ha.take().unwrap() {
        Err(Error::Transport { .. }) => {}
        other => panic!("expected R's close, got {other:?}"),
    }
    assert!(
        sim.now() < Time::ZERO + Duration::from_secs(2),
        "{}",
        sim.now()
    );
}

static BODY_PROTO: ProtocolInfo = ProtocolInfo {
    name: "Gather",
    fingerprint: [9; 32],
    roles: &["A", "B", "R"],
    labels: &["Ping", "Note"],
};

/// R moves while inside a timeout body, after its wait for A has already
/// read B's message ahead (a body looks at every peer's stream for a
/// handler message): the message moves with the bundle and R's new holder
/// reads it, then A's.
#[test]
fn frames_read_ahead_inside_a_timeout_body_move_with_the_endpoint() {
    let (a_role, b_role, r_role) = (
        RoleId::single(Role(0)),
        RoleId::single(Role(1)),
        RoleId::single(Role(2)),
    );
    let (ping, note) = (Label(0), Label(1));
    for seed in 0..20 {
        let mut sim = Sim::new(seed, SimConfig::default());
        let (na, nb, nx, ny) = (
            sim.add_node(),
            sim.add_node(),
            sim.add_node(),
            sim.add_node(),
        );
        let x_id = sim.node_id(nx).unwrap();
        let y_id = sim.node_id(ny).unwrap();
        let x_node = sim.node(nx).unwrap().clone();
        let y_node = sim.node(ny).unwrap().clone();
        let roster = Roster::new(&[RoleShape::Single; 3]).unwrap();
        let mut s = sim
            .open_sessions(SessionId([6; 16]), &BODY_PROTO, &roster, &[na, nb, nx])
            .unwrap()
            .into_iter();
        let (mut a, mut b, mut r) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
        let (a_go, a_wait) = tokio::sync::oneshot::channel::<()>();
        let (r_go, mut r_wait) = tokio::sync::oneshot::channel::<()>();
        let ha = sim.spawn(na, async move {
            let _ = a_wait.await;
            a.start_body(Duration::from_secs(60));
            a.send(r_role, ping, &7u64).await?;
            a.end_body();
            a.finish()
        });
        let hb = sim.spawn(nb, async move {
            b.start_body(Duration::from_secs(60));
            b.send(r_role, note, &42u64).await?;
            b.end_body();
            b.finish()
        });
        let hx = sim.spawn(nx, async move {
            r.start_body(Duration::from_secs(60));
            {
                let mut waiting = std::pin::pin!(r.recv::<u64>(a_role, ping));
                std::future::poll_fn(|cx| {
                    if std::pin::Pin::new(&mut r_wait).poll(cx).is_ready() {
                        return std::task::Poll::Ready(());
                    }
                    match waiting.as_mut().poll(cx) {
                        std::task::Poll::Ready(got) => panic!("A sent before R moved: {got:?}"),
                        std::task::Poll::Pending => std::task::Poll::Pending,
                    }
                })
                .await;
            }
            x_node.hand_off(Handoff::new(r, STATE, vec![]), y_id)
        });
        let hy = sim.spawn(ny, async move {
            let h = y_node.accept_handoff(&BODY_PROTO, x_id).await?;
            let (mut r, _) = h.into_state(&BODY_PROTO, STATE)?;
            let noted: u64 = r.recv(b_role, note).await?;
            let pinged: u64 = r.recv(a_role, ping).await?;
            r.end_body();
            r.finish()?;
            Ok::<_, Error>((noted, pinged))
        });
        // B's note reaches R (and is read ahead by its wait for A) long
        // before R moves; A pings only after the move.
        sim.run_until(Time::ZERO + Duration::from_millis(200));
        let _ = r_go.send(());
        sim.run_until(Time::ZERO + Duration::from_millis(400));
        let _ = a_go.send(());
        let stuck = sim.run().err().map(|e| e.to_string());
        assert!(
            matches!(hx.take(), Some(Ok(()))),
            "seed {seed}: the handoff failed ({stuck:?})"
        );
        assert!(
            matches!(ha.take(), Some(Ok(()))),
            "seed {seed}: A ({stuck:?})"
        );
        assert!(
            matches!(hb.take(), Some(Ok(()))),
            "seed {seed}: B ({stuck:?})"
        );
        match hy.take() {
            Some(Ok(got)) => assert_eq!(got, (42, 7), "seed {seed}"),
            other => panic!("seed {seed}: R's new holder: {other:?} ({stuck:?})"),
        }
    }
}

static LOOP_PROTO: ProtocolInfo = ProtocolInfo {
    name: "Beat",
    fingerprint: [9; 32],
    roles: &["A", "R"],
    labels: &["Tick", "Ack", "Resync"],
};

/// A looped timeout (`loop { timeout { A -> R : Tick; R -> A : Ack; } else
/// { A -> R : Resync; } }`, statement 7), written out by hand. R completes
/// the first beat and enters the second, then moves to another node before
/// doing anything there; only then does A give up on the first beat (its
/// `Ack` never counted) and send that beat's `Resync`. R's new holder must
/// go back to the first beat (the body it entered is untouched), run the
/// handler with A and meet A in the same second beat, as its old holder
/// would have: the record of the beat completed last travels in the
/// bundle. Without it the new holder drops the `Resync` as late and waits
/// in the second beat for a `Tick` that A only sends after the handler.
#[test]
fn a_moved_endpoint_undoes_its_untouched_next_beat_for_the_handler_of_the_beat_it_completed() {
    const SITE: u32 = 7;
    let (tick, ack, resync) = (Label(0), Label(1), Label(2));
    // Long enough that losses never end a beat (a run takes about 0.6 s
    // of virtual time, one in a few thousand about 5 s): the beats end
    // only by the abandon and the Resync.
    let beat = Duration::from_secs(30);
    let seeds: u64 = std::env::var("CHOREO_HANDOFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    for seed in 0..seeds {
        let mut sim = Sim::new(seed, lossy());
        let (na, nx, ny) = (sim.add_node(), sim.add_node(), sim.add_node());
        let x_id = sim.node_id(nx).unwrap();
        let y_id = sim.node_id(ny).unwrap();
        let x_node = sim.node(nx).unwrap().clone();
        let y_node = sim.node(ny).unwrap().clone();
        let mut s = sim
            .open_sessions(SessionId([8; 16]), &LOOP_PROTO, &roster(), &[na, nx])
            .unwrap()
            .into_iter();
        let (mut a, mut r) = (s.next().unwrap(), s.next().unwrap());
        let (moved_tx, moved) = tokio::sync::oneshot::channel::<()>();
        let ha = sim.spawn(na, async move {
            // Beat 1: tick, then give up once R has moved (its Ack, if it
            // arrives, is late and dropped).
            a.start_body_at(beat, SITE);
            a.send(R, tick, &1u64).await?;
            let _ = moved.await;
            a.abandon_body();
            a.send(R, resync, &1u64).await?;
            // Beat 2, completed.
            a.start_body_at(beat, SITE);
            a.send(R, tick, &2u64).await?;
            let acked: u64 = a.recv(R, ack).await?;
            a.end_body();
            a.finish()?;
            Ok::<_, Error>(acked)
        });
        let hx = sim.spawn(nx, async move {
            r.start_body_at(beat, SITE);
            let t: u64 = r.recv(A, tick).await?;
            r.send(A, ack, &t).await?;
            r.end_body();
            // Beat 2 entered, nothing done in it yet.
            r.start_body_at(beat, SITE);
            x_node.hand_off(Handoff::new(r, STATE, vec![]), y_id)
        });
        let hy = sim.spawn(ny, async move {
            let h = y_node.accept_handoff(&LOOP_PROTO, x_id).await?;
            let (mut r, _) = h.into_state(&LOOP_PROTO, STATE)?;
            let _ = moved_tx.send(());
            let started_at = r.now();
            // Waiting for beat 2's tick, the endpoint is taken back to
            // beat 1's handler by A's Resync.
            match r.recv::<u64>(A, tick).await {
                Err(Error::Interrupted(_)) => {}
                other => panic!("seed {seed}: expected the Resync to interrupt, got {other:?}"),
            }
            assert!(
                r.now() - started_at < beat,
                "seed {seed}: the handler started only at the beat's deadline"
            );
            r.start_handler();
            let resynced: u64 = r.recv(A, resync).await?;
            r.start_body_at(beat, SITE);
            let t: u64 = r.recv(A, tick).await?;
            r.send(A, ack, &t).await?;
            r.end_body();
            r.finish()?;
            Ok::<_, Error>((resynced, t))
        });
        let stuck = sim.run().err().map(|e| e.to_string());
        assert!(
            matches!(hx.take(), Some(Ok(()))),
            "seed {seed}: the handoff failed ({stuck:?})"
        );
        match ha.take() {
            Some(Ok(acked)) => assert_eq!(acked, 2, "seed {seed}"),
            other => panic!("seed {seed}: A: {other:?} ({stuck:?})"),
        }
        match hy.take() {
            Some(Ok(got)) => assert_eq!(got, (1, 2), "seed {seed}"),
            other => panic!("seed {seed}: R's new holder: {other:?} ({stuck:?})"),
        }
    }
}
