//! The owned API (`send_owned`/`recv_owned`/`Branch::take`): values pass
//! without serialization in memory, and behave exactly like the
//! by-reference API otherwise (mixing the two, wire encoding, errors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use choreo_runtime::Error;
use common::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    item: String,
    qty: u32,
}

#[tokio::test]
async fn owned_values_round_trip_with_and_without_wire_encoding() {
    for config in BOTH {
        let (mut a, mut b, ws) = parts(0, config);
        let order = Order {
            item: "book".into(),
            qty: 3,
        };
        a.send_owned(B, PING, 41u64).await.unwrap();
        a.send_owned(B, SHARE, order.clone()).await.unwrap();
        a.send_owned(B, DONE, ()).await.unwrap();
        assert_eq!(guard(b.recv_owned::<u64>(A, PING)).await.unwrap(), 41);
        assert_eq!(guard(b.recv_owned::<Order>(A, SHARE)).await.unwrap(), order);
        guard(b.recv_owned::<()>(A, DONE)).await.unwrap();
        a.finish().unwrap();
        b.finish().unwrap();
        finish_all(ws);
    }
}

#[tokio::test]
async fn owned_and_by_reference_calls_mix_freely() {
    for config in BOTH {
        let (mut a, mut b, ws) = parts(0, config);
        // value sent, decoded by `recv`; bytes sent, taken by `recv_owned`
        a.send_owned(B, PING, String::from("x")).await.unwrap();
        a.send(B, PONG, &7u16).await.unwrap();
        assert_eq!(guard(b.recv::<String>(A, PING)).await.unwrap(), "x");
        assert_eq!(guard(b.recv_owned::<u16>(A, PONG)).await.unwrap(), 7);
        // wire-compatible types are accepted as on a byte transport
        a.send_owned(B, PING, 9u32).await.unwrap();
        assert_eq!(guard(b.recv_owned::<u64>(A, PING)).await.unwrap(), 9);
        a.finish().unwrap();
        b.finish().unwrap();
        finish_all(ws);
    }
}

#[tokio::test]
async fn owned_branch_takes_the_chosen_value() {
    for config in BOTH {
        let (mut a, mut b, ws) = parts(0, config);
        a.send_owned(B, ABORT, vec![1u8, 2, 3]).await.unwrap();
        let br = guard(b.recv_branch(A, &[COMMIT, ABORT])).await.unwrap();
        assert_eq!((br.index, br.label), (1, ABORT));
        assert_eq!(br.decode::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(br.take::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        a.finish().unwrap();
        b.finish().unwrap();
        finish_all(ws);
    }
}

#[tokio::test]
async fn owned_value_of_the_wrong_type_is_a_protocol_violation() {
    for config in BOTH {
        let (mut a, mut b, _ws) = parts(0, config);
        a.send_owned(B, PING, String::from("not a number"))
            .await
            .unwrap();
        match guard(b.recv_owned::<u64>(A, PING)).await {
            Err(Error::ProtocolViolation { role, expected, .. }) => {
                assert_eq!(role, "A");
                assert!(expected.contains("u64"), "{expected}");
            }
            other => panic!("expected a violation, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn owned_value_with_the_wrong_label_is_a_protocol_violation() {
    for config in BOTH {
        let (mut a, mut b, _ws) = parts(0, config);
        a.send_owned(B, PONG, 1u64).await.unwrap();
        match guard(b.recv_owned::<u64>(A, PING)).await {
            Err(Error::ProtocolViolation { got, .. }) => assert!(got.contains("Pong"), "{got}"),
            other => panic!("expected a violation, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn owned_receive_from_a_dropped_peer_is_a_transport_error() {
    let (a, mut b, _ws) = parts(0, Default::default());
    drop(a);
    assert!(matches!(
        guard(b.recv_owned::<u64>(A, PING)).await,
        Err(Error::Transport { .. })
    ));
}

#[tokio::test]
async fn owned_values_are_fifo_per_pair_and_late_phases_are_dropped() {
    let (mut a, mut b, ws) = parts(0, Default::default());
    for i in 0..100u64 {
        a.send_owned(B, PING, i).await.unwrap();
    }
    for i in 0..100u64 {
        assert_eq!(guard(b.recv_owned::<u64>(A, PING)).await.unwrap(), i);
    }
    // a message of phase 0 arriving after B entered phase 1 is late
    a.send_owned(B, PING, 5u64).await.unwrap();
    b.enter_phase(1);
    a.enter_phase(1);
    a.send_owned(B, PONG, 6u64).await.unwrap();
    assert_eq!(guard(b.recv_owned::<u64>(A, PONG)).await.unwrap(), 6);
    assert_eq!(
        b.late_messages_dropped(),
        1,
        "the phase-0 PING was dropped, and counted"
    );
    assert_eq!(a.late_messages_dropped(), 0);
    a.finish().unwrap();
    b.finish().unwrap();
    finish_all(ws);
}

#[tokio::test]
async fn owned_quorum_stragglers_are_dropped_before_the_next_receive() {
    for config in BOTH {
        let (mut a, b, mut ws) = parts(3, config);
        ws[0].send_owned(A, VOTE, 10u32).await.unwrap();
        ws[1].send_owned(A, VOTE, 11u32).await.unwrap();
        let r1: Vec<(u32, u32)> = guard(a.recv_all(common::W, VOTE, Some(2))).await.unwrap();
        assert_eq!(r1, [(0, 10), (1, 11)]);
        // W[2]'s late round-1 vote is dropped by the owned fast path's
        // fallback, not taken as its next message.
        ws[2].send_owned(A, VOTE, 12u32).await.unwrap();
        ws[2].send_owned(A, DONE, 22u32).await.unwrap();
        assert_eq!(
            guard(a.recv_owned::<u32>(common::w(2), DONE))
                .await
                .unwrap(),
            22
        );
        a.finish().unwrap();
        finish_all(ws);
        b.finish().unwrap();
    }
}

#[tokio::test]
async fn owned_sends_inside_par_branches_reach_their_peers() {
    let (mut a, mut b, mut ws) = parts(1, Default::default());
    let mut w0 = ws.pop().unwrap();
    let peers = tokio::spawn(async move {
        let v: u64 = w0.recv_owned(A, SHARE).await.unwrap();
        let s: String = b.recv_owned(A, PING).await.unwrap();
        assert_eq!((v, s.as_str()), (5, "hi"));
        b.finish().unwrap();
        w0.finish().unwrap();
    });
    {
        let scope = a.par();
        let (mut x, mut y) = (scope.branch(), scope.branch());
        choreo_runtime::try_join(
            async { x.send_owned(common::w(0), SHARE, 5u64).await },
            async { y.send_owned(B, PING, String::from("hi")).await },
        )
        .await
        .unwrap();
    }
    guard(peers).await.unwrap();
    a.finish().unwrap();
}
