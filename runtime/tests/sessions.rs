//! Hand-written two- and three-party runs over the in-memory transport.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use choreo_runtime::memory::MemoryConfig;
use common::*;

#[tokio::test]
async fn ping_pong_runs_to_completion_with_and_without_wire_encoding() {
    for config in BOTH {
        let (a, b, ws) = parts(0, config);
        let (mut a, mut b) = (a, b);
        let alice = async move {
            for i in 0..100u64 {
                a.send(B, PING, &i).await.unwrap();
                let r: u64 = a.recv(B, PONG).await.unwrap();
                assert_eq!(r, i + 1);
            }
            a.send(B, DONE, &()).await.unwrap();
            a.finish().unwrap();
        };
        let bob = async move {
            loop {
                let br = b.recv_branch(A, &[PING, DONE]).await.unwrap();
                match br.index {
                    0 => {
                        let i: u64 = br.decode().unwrap();
                        b.send(A, PONG, &(i + 1)).await.unwrap();
                    }
                    1 => {
                        br.decode::<()>().unwrap();
                        break;
                    }
                    _ => return Err(br.unexpected()),
                }
            }
            b.finish()
        };
        let ((), r) = guard(async { tokio::join!(alice, bob) }).await;
        r.unwrap();
        finish_all(ws);
    }
}

#[tokio::test]
async fn broadcast_gives_each_recipient_its_own_value() {
    for config in BOTH {
        let (mut a, b, ws) = parts(3, config);
        a.send_each(common::W, SHARE, |i| format!("share for {i}"))
            .await
            .unwrap();
        a.send_all(common::W, COMMIT, &vec![9u8; 64]).await.unwrap();
        let mut got = Vec::new();
        for mut s in ws {
            let share: String = s.recv(A, SHARE).await.unwrap();
            let commit: Vec<u8> = s.recv(A, COMMIT).await.unwrap();
            assert_eq!(commit, [9u8; 64]);
            got.push(share);
            s.finish().unwrap();
        }
        assert_eq!(got, ["share for 0", "share for 1", "share for 2"]);
        a.finish().unwrap();
        b.finish().unwrap();
    }
}

#[tokio::test]
async fn broadcast_from_a_family_member_skips_the_sender() {
    let (a, b, mut ws) = parts(3, MemoryConfig::default());
    ws[1].send_all(common::W, VOTE, &11u32).await.unwrap();
    for i in [0usize, 2] {
        let v: u32 = ws[i].recv(w(1), VOTE).await.unwrap();
        assert_eq!(v, 11);
    }
    finish_all(ws);
    finish_all(vec![a, b]);
}

#[tokio::test]
async fn gather_with_quorum_drops_late_messages_without_confusing_later_rounds() {
    for config in BOTH {
        let (mut a, b, mut ws) = parts(3, config);
        // Round 1: only W[0] and W[1] have voted when A proceeds.
        ws[0].send(A, VOTE, &10u32).await.unwrap();
        ws[1].send(A, VOTE, &11u32).await.unwrap();
        let r1: Vec<(u32, u32)> = guard(a.recv_all(common::W, VOTE, Some(2))).await.unwrap();
        assert_eq!(r1, [(0, 10), (1, 11)]);
        // W[2]'s round-1 vote arrives late, then everybody's round-2 vote,
        // with the same label.
        ws[2].send(A, VOTE, &12u32).await.unwrap();
        ws[2].send(A, VOTE, &22u32).await.unwrap();
        ws[0].send(A, VOTE, &20u32).await.unwrap();
        ws[1].send(A, VOTE, &21u32).await.unwrap();
        let r2: Vec<(u32, u32)> = guard(a.recv_all(common::W, VOTE, None)).await.unwrap();
        assert_eq!(r2, [(0, 20), (1, 21), (2, 22)]);
        a.finish().unwrap();
        finish_all(ws);
        b.finish().unwrap();
    }
}

#[tokio::test]
async fn gather_with_quorum_drops_stragglers_already_queued() {
    let (mut a, b, mut ws) = parts(3, MemoryConfig::default());
    for (i, s) in ws.iter_mut().enumerate() {
        s.send(A, VOTE, &(i as u32)).await.unwrap();
    }
    let r1: Vec<(u32, u32)> = guard(a.recv_all(common::W, VOTE, Some(2))).await.unwrap();
    assert_eq!(r1.len(), 2);
    for (i, s) in ws.iter_mut().enumerate() {
        s.send(A, DONE, &(100 + i as u32)).await.unwrap();
    }
    // The straggler's VOTE is dropped, not reported as a violation.
    let r2: Vec<(u32, u32)> = guard(a.recv_all(common::W, DONE, None)).await.unwrap();
    assert_eq!(r2, [(0, 100), (1, 101), (2, 102)]);
    a.finish().unwrap();
    finish_all(ws);
    b.finish().unwrap();
}

#[tokio::test]
async fn exchange_with_quorum_counts_own_value_and_drops_late_ones() {
    for config in BOTH {
        let (a, b, ws) = parts(3, config);
        let runs = ws.into_iter().map(|mut s| async move {
            let me = s.me().index.unwrap();
            // Per-recipient values: member j gets me*10 + j.
            let r1: Vec<(u32, u32)> = s
                .exchange(common::W, SHARE, |j| me * 10 + j, Some(2))
                .await
                .unwrap();
            assert_eq!(r1.len(), 2);
            assert!(r1.contains(&(me, me * 10 + me)));
            for &(j, v) in &r1 {
                assert_eq!(v, j * 10 + me);
            }
            let r2: Vec<(u32, u64)> = s
                .exchange(common::W, SHARE, |_| 1000 + u64::from(me), None)
                .await
                .unwrap();
            assert_eq!(r2, [(0, 1000), (1, 1001), (2, 1002)]);
            s.finish().unwrap();
        });
        guard(futures_join_all(runs.collect())).await;
        finish_all(vec![a, b]);
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(fs: Vec<F>) {
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_as_tasks_on_a_multi_threaded_runtime() {
    let (mut a, mut b, ws) = parts(2, MemoryConfig::default());
    let ta = tokio::spawn(async move {
        a.send_all(common::W, PING, &1u8).await?;
        let v: Vec<(u32, u8)> = a.recv_all(common::W, PONG, None).await?;
        a.send(B, DONE, &v.len()).await?;
        a.finish()
    });
    let tb = tokio::spawn(async move {
        let n: usize = b.recv(A, DONE).await?;
        assert_eq!(n, 2);
        b.finish()
    });
    let tws: Vec<_> = ws
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let x: u8 = s.recv(A, PING).await?;
                s.send(A, PONG, &(x + 1)).await?;
                s.finish()
            })
        })
        .collect();
    guard(async {
        ta.await.unwrap().unwrap();
        tb.await.unwrap().unwrap();
        for t in tws {
            t.await.unwrap().unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn interleaved_senders_are_buffered_per_sender_in_order() {
    for config in BOTH {
        let (mut a, mut b, mut ws) = parts(1, config);
        ws[0].send(B, SHARE, &1u8).await.unwrap();
        a.send(B, PING, &10u8).await.unwrap();
        ws[0].send(B, SHARE, &2u8).await.unwrap();
        a.send(B, PING, &20u8).await.unwrap();
        assert_eq!(b.recv::<u8>(A, PING).await.unwrap(), 10);
        assert_eq!(b.recv::<u8>(A, PING).await.unwrap(), 20);
        assert_eq!(b.recv::<u8>(w(0), SHARE).await.unwrap(), 1);
        assert_eq!(b.recv::<u8>(w(0), SHARE).await.unwrap(), 2);
        finish_all(vec![a, b]);
        finish_all(ws);
    }
}

#[tokio::test]
async fn branch_reports_which_label_arrived() {
    let (mut a, mut b, ws) = parts(0, MemoryConfig::default());
    a.send(B, ABORT, &"no quorum".to_owned()).await.unwrap();
    let br = b.recv_branch(A, &[COMMIT, ABORT]).await.unwrap();
    assert_eq!((br.index, br.label), (1, ABORT));
    assert_eq!(br.decode::<String>().unwrap(), "no quorum");
    finish_all(vec![a, b]);
    finish_all(ws);
}

#[tokio::test]
async fn later_phase_drops_messages_of_earlier_phases() {
    let (mut a, mut b, ws) = parts(0, MemoryConfig::default());
    a.send(B, PING, &1u8).await.unwrap(); // body message, phase 0
    a.enter_phase(1);
    b.enter_phase(1);
    a.send(B, ABORT, &2u8).await.unwrap(); // handler message, phase 1
    assert_eq!(guard(b.recv::<u8>(A, ABORT)).await.unwrap(), 2);
    finish_all(vec![a, b]);
    finish_all(ws);
}

#[tokio::test]
async fn par_branches_run_concurrently_on_one_session() {
    // A: par { recv B Ping } and { send W[0] Share }
    // W[0]: recv A Share; send B Vote.   B: recv W[0] Vote; send A Ping.
    // Running A's first branch to completion before the second would
    // deadlock; the branches must interleave.
    for config in BOTH {
        let (mut a, mut b, mut ws) = parts(1, config);
        let mut w0 = ws.pop().unwrap();
        let alice = async move {
            let (ping, ()) = {
                let scope = a.par();
                let (mut left, mut right) = (scope.branch(), scope.branch());
                choreo_runtime::try_join(
                    async move { left.recv::<u32>(B, PING).await },
                    async move { right.send(w(0), SHARE, &5u32).await },
                )
                .await?
            };
            a.finish()?;
            Ok::<u32, choreo_runtime::Error>(ping)
        };
        let witness = async move {
            let x: u32 = w0.recv(A, SHARE).await?;
            w0.send(B, VOTE, &(x + 1)).await?;
            w0.finish()
        };
        let bob = async move {
            let x: u32 = b.recv(w(0), VOTE).await?;
            b.send(A, PING, &(x + 1)).await?;
            b.finish()
        };
        let (ping, rw, rb) = guard(async { tokio::join!(alice, witness, bob) }).await;
        assert_eq!(ping.unwrap(), 7);
        rw.unwrap();
        rb.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn par_endpoints_are_send() {
    let (mut a, mut b, _ws) = parts(0, MemoryConfig::default());
    let t = tokio::spawn(async move {
        let (x, y) = {
            let scope = a.par();
            let mut one = scope.branch();
            choreo_runtime::join(one.recv::<u8>(B, PING), async { 1u8 }).await
        };
        (x.unwrap(), y, a.finish().is_ok())
    });
    b.send(A, PING, &3u8).await.unwrap();
    assert_eq!(guard(t).await.unwrap(), (3, 1, true));
    b.finish().unwrap();
}
