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
    a.finish().unwrap();
    b.finish().unwrap();
    finish_all(ws);
}
