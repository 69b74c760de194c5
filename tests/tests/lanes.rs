//! The in-memory fast lane: generated endpoints on sessions from a
//! generated `sessions()` send and receive on typed per-pair lanes, and
//! keep the session semantics there — a wrong label is a protocol
//! violation, a vanished peer a transport error, an unreceived message an
//! orphan at `finish`, a handoff carries the lanes to the next holder, and
//! a hand-written peer on such a network fails at once instead of hanging.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::{self as rt, Error, Label, MemoryConfig, Role, RoleId, SessionId};

choreography! {
    protocol Twice {
        roles A, B;
        A -> B : First(u32);
        A -> B : Second(String);
        B -> A : Done;
    }
}

/// Fails the test instead of hanging when a run deadlocks.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the protocol run hung")
}

/// A network without lanes whose B endpoint gets hand-built lanes; returns
/// A's session and the sending end of B's lane from A (the test plays A on
/// the lane).
fn b_with_hand_built_lanes() -> (
    rt::Session<rt::MemoryTransport>,
    rt::Session<rt::MemoryTransport>,
    rt::lane::LaneTx<twice::lanes::AToB>,
) {
    let params = twice::Params::default();
    let mut s = rt::memory::sessions(
        SessionId([1; 16]),
        &twice::PROTOCOL,
        &twice::roster(&params).unwrap(),
        MemoryConfig::default(),
    )
    .unwrap();
    let mut b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let (to_b, from_a) = rt::lane::lane();
    let (to_a, _from_b) = rt::lane::lane();
    b.transport_mut()
        .attach_lanes(Box::new(twice::lanes::Lanes::B(twice::lanes::BLanes {
            to_r0: to_a,
            from_r0: from_a,
        })));
    (a, b, to_b)
}

#[tokio::test]
async fn the_protocol_runs_on_lanes_with_owned_payloads() {
    let params = twice::Params::default();
    let mut s = twice::sessions(&params, SessionId([2; 16])).unwrap();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let a = async {
        let ep = twice::a::open(a, params)?;
        let ep = ep.send(twice::First(7)).await?;
        let ep = ep.send(twice::Second("hello".into())).await?;
        let (twice::Done, end) = ep.recv().await?;
        end.finish()
    };
    let b = async {
        let ep = twice::b::open(b, params)?;
        let (twice::First(n), ep) = ep.recv().await?;
        let (twice::Second(s), ep) = ep.recv().await?;
        ep.send(twice::Done).await?.finish()?;
        Ok::<_, Error>((n, s))
    };
    let (a, b) = bounded(async { tokio::join!(a, b) }).await;
    a.unwrap();
    assert_eq!(b.unwrap(), (7, "hello".to_owned()));
}

#[tokio::test]
async fn a_wrong_label_on_a_lane_is_a_protocol_violation() {
    let (_a, b, to_b) = b_with_hand_built_lanes();
    // `Second` where `First` is due.
    to_b.send(twice::lanes::AToB::Second(twice::Second("early".into())));
    let ep = twice::b::open(b, twice::Params::default()).unwrap();
    match bounded(ep.recv()).await {
        Err(Error::ProtocolViolation {
            role,
            expected,
            got,
        }) => {
            assert_eq!(role, "A");
            assert!(expected.contains("First"), "{expected}");
            assert!(got.contains("Second"), "{got}");
        }
        Err(e) => panic!("expected a protocol violation, got {e}"),
        Ok(_) => panic!("expected a protocol violation, got a message"),
    }
}

#[tokio::test]
async fn a_message_left_on_a_lane_is_an_orphan_at_finish() {
    let (_a, b, to_b) = b_with_hand_built_lanes();
    to_b.send(twice::lanes::AToB::First(twice::First(1)));
    to_b.send(twice::lanes::AToB::Second(twice::Second("x".into())));
    // One more than the protocol has.
    to_b.send(twice::lanes::AToB::First(twice::First(2)));
    let ep = twice::b::open(b, twice::Params::default()).unwrap();
    let (_, ep) = bounded(ep.recv()).await.unwrap();
    let (_, ep) = bounded(ep.recv()).await.unwrap();
    let end = ep.send(twice::Done).await.unwrap();
    match end.finish() {
        Err(Error::ProtocolViolation { role, got, .. }) => {
            assert_eq!(role, "A");
            assert!(got.contains("First"), "{got}");
        }
        other => panic!("expected an orphan message violation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_peer_that_vanishes_from_its_lanes_is_a_transport_error() {
    let params = twice::Params::default();
    let mut s = twice::sessions(&params, SessionId([3; 16])).unwrap();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let ep = twice::b::open(b, params).unwrap();
    drop(a);
    match bounded(ep.recv()).await {
        Err(Error::Transport { role, .. }) => assert_eq!(role, "A"),
        Err(e) => panic!("expected a transport error, got {e}"),
        Ok(_) => panic!("expected a transport error, got a message"),
    }
}

#[tokio::test]
async fn a_handoff_carries_the_lanes_to_the_next_holder() {
    let params = twice::Params::default();
    let mut s = twice::sessions(&params, SessionId([4; 16])).unwrap();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let a = async {
        let ep = twice::a::open(a, params)?;
        let ep = ep.send(twice::First(5)).await?;
        // Detach mid-protocol and go on in another task.
        let handoff = ep.into_handoff();
        let resumed = tokio::spawn(async move {
            let ep = twice::a::S1::resume(handoff)?;
            let ep = ep.send(twice::Second("after".into())).await?;
            let (twice::Done, end) = ep.recv().await?;
            end.finish()
        });
        resumed.await.unwrap()
    };
    let b = async {
        let ep = twice::b::open(b, params)?;
        let (twice::First(n), ep) = ep.recv().await?;
        let (twice::Second(s), ep) = ep.recv().await?;
        ep.send(twice::Done).await?.finish()?;
        Ok::<_, Error>((n, s))
    };
    let (a, b) = bounded(async { tokio::join!(a, b) }).await;
    a.unwrap();
    assert_eq!(b.unwrap(), (5, "after".to_owned()));
}

#[tokio::test]
async fn a_hand_written_peer_on_a_lane_network_fails_at_once() {
    let params = twice::Params::default();
    let mut s = twice::sessions(&params, SessionId([5; 16])).unwrap();
    let mut b = s.pop().unwrap();
    let _a = s.pop().unwrap();
    let got = bounded(b.recv::<u32>(RoleId::single(Role(0)), Label(0))).await;
    match got {
        Err(Error::Transport { source, .. }) => {
            assert!(source.to_string().contains("typed lanes"), "{source}")
        }
        other => panic!("expected the lanes refusal, got {other:?}"),
    }
}
