//! Misbehaving and vanishing peers: every case ends in an error, never a
//! hang or a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use choreo_runtime::memory::MemoryConfig;
use choreo_runtime::{
    Envelope, Error, Frame, Label, Payload, PeerId, RoleShape, Roster, Session, SessionConfig,
    SessionId, TransportError, UsageError,
};
use common::*;

const B_PEER: PeerId = PeerId(1);

fn violation(e: Error) -> (String, String, String) {
    match e {
        Error::ProtocolViolation {
            role,
            expected,
            got,
        } => (role, expected, got),
        other => panic!("expected a protocol violation, got {other:?}"),
    }
}

fn good_envelope(label: Label, value: u64) -> Envelope {
    Envelope {
        session: SID,
        fingerprint: PROTO.fingerprint,
        sender: A,
        label,
        phase: 0,
        payload: Payload::encode(&value).unwrap(),
    }
}

#[tokio::test]
async fn wrong_label_is_a_protocol_violation_not_a_hang() {
    for config in BOTH {
        let (mut a, mut b, _ws) = parts(0, config);
        a.send(B, PONG, &1u64).await.unwrap();
        let e = guard(b.recv::<u64>(A, PING)).await.unwrap_err();
        let (role, expected, got) = violation(e);
        assert_eq!(role, "A");
        assert_eq!(expected, "label Ping");
        assert_eq!(got, "label Pong");
    }
}

#[tokio::test]
async fn label_outside_a_branch_is_a_protocol_violation() {
    let (mut a, mut b, _ws) = parts(0, MemoryConfig::default());
    a.send(B, PING, &1u64).await.unwrap();
    let e = guard(b.recv_branch(A, &[COMMIT, ABORT])).await.unwrap_err();
    let (_, expected, got) = violation(e);
    assert_eq!(expected, "one of labels Commit, Abort");
    assert_eq!(got, "label Ping");
}

#[tokio::test]
async fn wrong_payload_type_is_a_protocol_violation() {
    let (mut a, mut b, _ws) = parts(0, MemoryConfig::default());
    a.send(B, PING, &"not a number").await.unwrap();
    let (role, expected, _) = violation(guard(b.recv::<u8>(A, PING)).await.unwrap_err());
    assert_eq!(role, "A");
    assert!(expected.contains("u8"), "{expected}");
}

async fn inject(frame: Frame) -> Error {
    let (mut a, mut b, _ws) = parts(0, MemoryConfig::default());
    a.transport_mut().send_frame(B_PEER, frame).unwrap();
    guard(b.recv::<u64>(A, PING)).await.unwrap_err()
}

#[tokio::test]
async fn garbage_bytes_are_a_protocol_violation() {
    let (role, _, got) = violation(inject(Frame::Encoded(vec![0xde, 0xad, 0xbe, 0xef])).await);
    assert_eq!(role, "A");
    assert!(got.contains("wire version"), "{got}");
}

#[tokio::test]
async fn empty_frame_is_a_protocol_violation() {
    let (_, _, got) = violation(inject(Frame::Encoded(Vec::new())).await);
    assert!(got.contains("truncated"), "{got}");
}

#[tokio::test]
async fn truncated_envelope_is_a_protocol_violation() {
    let bytes = good_envelope(PING, 5).encode();
    for cut in [10, 40, 61] {
        let (_, _, got) = violation(inject(Frame::Encoded(bytes[..cut].to_vec())).await);
        assert!(got.contains("truncated"), "{got}");
    }
}

#[tokio::test]
async fn truncated_payload_is_a_protocol_violation() {
    let mut env = good_envelope(PING, 0);
    env.payload = Payload::encode(&u64::MAX).unwrap();
    let mut bytes = env.encode();
    bytes.pop();
    violation(inject(Frame::Encoded(bytes)).await);
}

#[tokio::test]
async fn wrong_session_id_is_a_protocol_violation() {
    let mut env = good_envelope(PING, 5);
    env.session = SessionId([9; 16]);
    let (_, expected, got) = violation(inject(Frame::Encoded(env.encode())).await);
    assert!(expected.contains("session 0101"), "{expected}");
    assert!(got.contains("session 0909"), "{got}");
}

#[tokio::test]
async fn wrong_fingerprint_is_a_protocol_violation() {
    let mut env = good_envelope(PING, 5);
    env.fingerprint = [8; 32];
    let (_, _, got) = violation(inject(Frame::Envelope(Box::new(env))).await);
    assert!(got.contains("another protocol"), "{got}");
}

#[tokio::test]
async fn forged_sender_is_a_protocol_violation() {
    let mut env = good_envelope(PING, 5);
    env.sender = w(0);
    let (role, _, got) = violation(inject(Frame::Envelope(Box::new(env))).await);
    assert_eq!(role, "A");
    assert!(got.contains("W[0]"), "{got}");
}

#[tokio::test]
async fn dropped_peer_is_a_transport_error_not_a_hang() {
    let (a, mut b, _ws) = parts(0, MemoryConfig::default());
    drop(a); // mid-protocol: B still expects Ping
    match guard(b.recv::<u64>(A, PING)).await.unwrap_err() {
        Error::Transport { role, source, .. } => {
            assert_eq!(role, "A");
            assert!(matches!(source, TransportError::Closed));
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn peer_dropped_while_others_are_alive_is_still_detected() {
    let (mut a, mut b, mut ws) = parts(2, MemoryConfig::default());
    // Three parties alive; W[0] waits on A, which crashes; B keeps running.
    let waiting = async { ws[0].recv::<u8>(A, PING).await };
    let crash = async {
        tokio::task::yield_now().await;
        a.transport_mut().crash();
        b.send(w(1), PING, &1u8).await.unwrap();
    };
    let (r, ()) = guard(async { tokio::join!(waiting, crash) }).await;
    assert!(matches!(r.unwrap_err(), Error::Transport { .. }));
    assert_eq!(ws[1].recv::<u8>(B, PING).await.unwrap(), 1);
}

#[tokio::test]
async fn messages_sent_before_a_crash_are_still_delivered() {
    let (mut a, mut b, _ws) = parts(0, MemoryConfig::default());
    a.send(B, PING, &1u8).await.unwrap();
    drop(a);
    assert_eq!(b.recv::<u8>(A, PING).await.unwrap(), 1);
    assert!(matches!(
        guard(b.recv::<u8>(A, PING)).await.unwrap_err(),
        Error::Transport { .. }
    ));
}

#[tokio::test]
async fn quorum_gather_tolerates_a_crashed_sender() {
    let (mut a, b, mut ws) = parts(3, MemoryConfig::default());
    let w2 = ws.pop().unwrap();
    drop(w2);
    ws[0].send(A, VOTE, &0u8).await.unwrap();
    ws[1].send(A, VOTE, &1u8).await.unwrap();
    let r: Vec<(u32, u8)> = guard(a.recv_all(common::W, VOTE, Some(2))).await.unwrap();
    assert_eq!(r, [(0, 0), (1, 1)]);
    drop(b);
}

#[tokio::test]
async fn full_gather_with_a_crashed_sender_is_a_transport_error() {
    let (mut a, _b, mut ws) = parts(3, MemoryConfig::default());
    drop(ws.pop());
    ws[0].send(A, VOTE, &0u8).await.unwrap();
    ws[1].send(A, VOTE, &1u8).await.unwrap();
    let e = guard(a.recv_all::<u8>(common::W, VOTE, None))
        .await
        .unwrap_err();
    match e {
        Error::Transport { role, .. } => assert_eq!(role, "W[2]"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn quorum_that_can_no_longer_be_reached_is_a_transport_error() {
    let (mut a, _b, mut ws) = parts(3, MemoryConfig::default());
    drop(ws.pop());
    drop(ws.pop());
    ws[0].send(A, VOTE, &0u8).await.unwrap();
    let e = guard(a.recv_all::<u8>(common::W, VOTE, Some(2)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
}

#[tokio::test]
async fn violation_during_a_gather_is_reported() {
    let (mut a, _b, mut ws) = parts(3, MemoryConfig::default());
    ws[0].send(A, VOTE, &0u8).await.unwrap();
    ws[1].send(A, SHARE, &1u8).await.unwrap();
    let (role, _, got) = violation(
        guard(a.recv_all::<u8>(common::W, VOTE, Some(3)))
            .await
            .unwrap_err(),
    );
    assert_eq!((role.as_str(), got.as_str()), ("W[1]", "label Share"));
}

#[tokio::test]
async fn orphan_message_is_reported_at_finish() {
    let (mut a, b, _ws) = parts(0, MemoryConfig::default());
    a.send(B, PING, &1u8).await.unwrap();
    let (role, _, got) = violation(b.finish().unwrap_err());
    assert_eq!((role.as_str(), got.as_str()), ("A", "label Ping"));
}

#[tokio::test]
async fn misuse_is_a_usage_error() {
    let (mut a, mut b, mut ws) = parts(2, MemoryConfig::default());
    let usage = |e: Error| match e {
        Error::Usage(u) => u,
        other => panic!("expected usage error, got {other:?}"),
    };
    assert!(matches!(
        usage(a.send(A, PING, &1u8).await.unwrap_err()),
        UsageError::SelfSend { .. }
    ));
    assert!(matches!(
        usage(a.send(w(5), PING, &1u8).await.unwrap_err()),
        UsageError::UnknownRole { .. }
    ));
    assert!(matches!(
        usage(a.send_all(B_ROLE, PING, &1u8).await.unwrap_err()),
        UsageError::NotAFamily { .. }
    ));
    assert!(matches!(
        usage(
            a.recv_all::<u8>(common::W, VOTE, Some(0))
                .await
                .unwrap_err()
        ),
        UsageError::QuorumOutOfRange { quorum: 0, max: 2 }
    ));
    assert!(matches!(
        usage(
            ws[0]
                .recv_all::<u8>(common::W, VOTE, Some(2))
                .await
                .unwrap_err()
        ),
        UsageError::QuorumOutOfRange { quorum: 2, max: 1 }
    ));
    assert!(matches!(
        usage(
            b.exchange(common::W, SHARE, |_| 1u8, None)
                .await
                .unwrap_err()
        ),
        UsageError::NotAMember { .. }
    ));
    // Roster does not fit the protocol (2 roles instead of 3).
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let t = choreo_runtime::memory::network(2, MemoryConfig::default())
        .pop()
        .unwrap();
    let e = Session::new(
        SessionConfig {
            id: SID,
            protocol: &PROTO,
            me: B,
            roster,
        },
        t,
    )
    .unwrap_err();
    assert!(matches!(usage(e), UsageError::RosterMismatch(_)));
}

#[test]
fn error_messages_say_who_is_at_fault_and_what_to_do() {
    let e = Error::ProtocolViolation {
        role: "Witness[2]".into(),
        expected: "label Share".into(),
        got: "label Commit".into(),
    };
    let text = e.to_string();
    assert!(text
        .starts_with("protocol violation by Witness[2]: expected label Share, got label Commit"));
    assert!(text.contains("abort this session"));
}
