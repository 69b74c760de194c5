//! The typed lanes' queue (`choreo_runtime::lane`): one sender, one
//! receiver, unbounded, in order; closed once the sender is gone and
//! everything it sent has been received; sends discarded once the receiver
//! is gone; no lost wake-up with the two ends on different threads; a hot
//! receive loop still lets other tasks run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use choreo_runtime::lane::{lane, LaneRx, YIELD_EVERY};

/// Rounds of the cross-thread tests (each a different interleaving; the
/// failing round is printed).
const ROUNDS: u64 = 40;

/// Generous bound on one round: only a lost wake-up (a hang) reaches it.
const HANG: Duration = Duration::from_secs(60);

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Receives `0..n` in order, then `None`.
async fn expect_sequence(rx: &mut LaneRx<u64>, n: u64, round: u64) {
    for i in 0..n {
        assert_eq!(rx.recv().await, Some(i), "round {round}: message {i}");
    }
    assert_eq!(rx.recv().await, None, "round {round}: closed after drain");
    assert_eq!(rx.try_recv(), None, "round {round}: nothing after close");
}

#[test]
fn the_ends_are_send() {
    fn send<T: Send>(_: &T) {}
    let (tx, mut rx) = lane::<u64>();
    send(&tx);
    send(&rx.recv());
    send(&rx);
}

#[test]
fn stream_from_another_os_thread_arrives_in_order_then_closes() {
    const N: u64 = 20_000;
    for round in 0..ROUNDS {
        let (tx, mut rx) = lane::<u64>();
        // The sender is a plain OS thread (no runtime): the receiver parks
        // and is woken from another thread, in bursts of varying length.
        let sender = std::thread::spawn(move || {
            let burst = 1 + (round * 37) % 500;
            for i in 0..N {
                tx.send(i);
                if i % burst == 0 {
                    std::thread::yield_now();
                }
            }
        });
        current_thread().block_on(async {
            tokio::time::timeout(HANG, expect_sequence(&mut rx, N, round))
                .await
                .unwrap_or_else(|_| panic!("round {round}: receiver hung (lost wake-up)"));
        });
        sender.join().unwrap();
    }
}

#[test]
fn stream_between_tasks_of_a_multi_thread_runtime() {
    const N: u64 = 20_000;
    let rt = multi_thread();
    for round in 0..ROUNDS {
        let (tx, mut rx) = lane::<u64>();
        let receiver = rt.spawn(async move {
            tokio::time::timeout(HANG, expect_sequence(&mut rx, N, round))
                .await
                .is_ok()
        });
        let sender = rt.spawn(async move {
            let burst = 1 + (round * 53) % 300;
            for i in 0..N {
                tx.send(i);
                if i % burst == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        rt.block_on(sender).unwrap();
        let finished = rt.block_on(receiver).unwrap();
        assert!(finished, "round {round}: receiver hung (lost wake-up)");
    }
}

#[test]
fn ping_pong_across_os_threads_never_loses_a_wake_up() {
    const TRIPS: u64 = 5_000;
    for round in 0..ROUNDS {
        let (to_b, mut at_b) = lane::<u64>();
        let (to_a, mut at_a) = lane::<u64>();
        // Every message finds its receiver parked or about to park: the
        // window a lost wake-up would fall into, hit twice per round trip.
        let echo = std::thread::spawn(move || {
            current_thread().block_on(async move {
                tokio::time::timeout(HANG, async {
                    while let Some(v) = at_b.recv().await {
                        to_a.send(v + 1);
                    }
                })
                .await
                .is_ok()
            })
        });
        current_thread().block_on(async {
            let trips = async {
                for i in 0..TRIPS {
                    to_b.send(i);
                    assert_eq!(at_a.recv().await, Some(i + 1), "round {round}: trip {i}");
                }
            };
            tokio::time::timeout(HANG, trips)
                .await
                .unwrap_or_else(|_| panic!("round {round}: client hung (lost wake-up)"));
            drop(to_b);
            // The echo side's sender goes with its thread: closed.
            assert_eq!(at_a.recv().await, None, "round {round}");
        });
        assert!(echo.join().unwrap(), "round {round}: echo hung");
    }
}

#[test]
fn sender_gone_closes_the_lane_after_what_it_sent() {
    let (tx, mut rx) = lane::<u64>();
    tx.send(1);
    tx.send(2);
    assert_eq!(rx.try_recv(), Some(1));
    tx.send(3);
    drop(tx);
    current_thread().block_on(async {
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn parked_receiver_is_woken_by_the_sender_going_away() {
    let rt = multi_thread();
    let (tx, mut rx) = lane::<u64>();
    let receiver = rt.spawn(async move { tokio::time::timeout(HANG, rx.recv()).await });
    std::thread::sleep(Duration::from_millis(20));
    drop(tx);
    assert_eq!(rt.block_on(receiver).unwrap(), Ok(None));
}

#[test]
fn try_recv_only_returns_what_has_arrived_in_order() {
    let (tx, mut rx) = lane::<u64>();
    assert_eq!(rx.try_recv(), None);
    for i in 0..10 {
        tx.send(i);
    }
    let rt = current_thread();
    for i in 0..10 {
        // Alternate the two ways of receiving: one order.
        let got = if i % 2 == 0 {
            rx.try_recv()
        } else {
            rt.block_on(rx.recv())
        };
        assert_eq!(got, Some(i));
    }
    assert_eq!(rx.try_recv(), None, "empty but open");
    drop(tx);
    assert_eq!(rx.try_recv(), None, "empty and closed");
}

#[test]
fn receiver_gone_discards_queued_and_later_messages() {
    let payload = Arc::new(());
    let (tx, mut rx) = lane::<Arc<()>>();
    for _ in 0..5 {
        tx.send(Arc::clone(&payload));
    }
    // Two in the receiver's own buffer, three still shared.
    assert!(rx.try_recv().is_some());
    tx.send(Arc::clone(&payload));
    tx.send(Arc::clone(&payload));
    assert_eq!(Arc::strong_count(&payload), 7);
    drop(rx);
    assert_eq!(Arc::strong_count(&payload), 1, "queued messages dropped");
    tx.send(Arc::clone(&payload));
    assert_eq!(Arc::strong_count(&payload), 1, "a late send is dropped");
}

#[test]
fn a_hot_receive_loop_lets_other_tasks_run() {
    // Everything has arrived before the receiver starts, so it never has
    // to wait: only the lane's own yield lets the other task run.
    let total = 10 * u64::from(YIELD_EVERY);
    let rt = current_thread();
    let (tx, mut rx) = lane::<u64>();
    for i in 0..total {
        tx.send(i);
    }
    drop(tx);
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    let received_before_other_task_ran = rt.block_on(async move {
        let receiver = tokio::spawn(async move {
            let mut before = None;
            let mut n = 0u64;
            while let Some(v) = rx.recv().await {
                assert_eq!(v, n);
                n += 1;
                if before.is_none() && seen.load(Ordering::SeqCst) {
                    before = Some(n - 1);
                }
            }
            assert_eq!(n, total);
            before
        });
        // Queued behind the receiver on the one worker.
        let other = tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        let before = receiver.await.unwrap();
        other.await.unwrap();
        before
    });
    assert_eq!(
        received_before_other_task_ran,
        Some(u64::from(YIELD_EVERY)),
        "the receiver yields after {YIELD_EVERY} ready messages"
    );
}
