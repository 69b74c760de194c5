//! Looped timeouts whose handlers meet (`session_core::phase::Meeting`):
//! what happens to a quorum gather's stragglers that come from the lower
//! instance of a meeting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use choreo_runtime::{Error, Interrupt};
use common::{guard, parts, w, A, BOTH, DONE, PING, VOTE, W};

/// The `timeout` statement of the loop below (any fixed number).
const SITE: u32 = 3;
const BEAT: Duration = Duration::from_secs(600);

/// `loop { timeout { A -> W[0] : Ping; } else { W[*] -> A : Vote quorum 1;
/// A -> W[1] : Ping; W[1] -> A : Done; } }`, written out by hand over two
/// beats. W[0] completes the first beat's body and gives up on the second;
/// A and W[1] give up on the first. A's handler meets W[0]'s second-beat
/// handler, and its quorum of one is W[0]'s vote: W[1]'s vote, a handler
/// message of the first beat, arrives after the gather as a straggler.
/// It must be discarded as one, not taken for W[1]'s next message (`Done`)
/// of the met handler — which would be a protocol violation between honest
/// peers.
#[test]
fn a_straggler_from_the_lower_instance_of_a_meeting_is_discarded_not_delivered() {
    for config in BOTH {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (mut a, b, mut ws) = parts(2, config);
            b.finish().unwrap();
            let mut w1 = ws.pop().unwrap();
            let mut w0 = ws.pop().unwrap();
            let (gathered, go) = tokio::sync::oneshot::channel::<()>();

            let a_task = tokio::spawn(async move {
                a.start_body_at(BEAT, SITE);
                a.send(w(0), PING, &1u64).await?;
                a.abandon_body();
                let votes: Vec<(u32, u64)> = a.recv_all(W, VOTE, Some(1)).await?;
                let _ = gathered.send(());
                a.send(w(1), PING, &2u64).await?;
                let done: u64 = a.recv(w(1), DONE).await?;
                a.finish()?;
                Ok::<_, Error>((votes, done))
            });
            let w0_task = tokio::spawn(async move {
                w0.start_body_at(BEAT, SITE);
                let _: u64 = w0.recv(A, PING).await?;
                w0.end_body();
                w0.start_body_at(BEAT, SITE);
                w0.abandon_body();
                w0.send(A, VOTE, &20u64).await?;
                w0.finish()?;
                Ok::<_, Error>(())
            });
            let w1_task = tokio::spawn(async move {
                let _ = go.await;
                w1.start_body_at(BEAT, SITE);
                w1.abandon_body();
                assert!(matches!(w1.interrupted_by(), Some(Interrupt::Abandoned)));
                w1.send(A, VOTE, &10u64).await?;
                // A's Ping is of the second beat's handler: the two beats
                // meet here as well.
                let _: u64 = w1.recv(A, PING).await?;
                w1.send(A, DONE, &7u64).await?;
                w1.finish()?;
                Ok::<_, Error>(())
            });
            let (a_out, w0_out, w1_out) = guard(async {
                (
                    a_task.await.unwrap(),
                    w0_task.await.unwrap(),
                    w1_task.await.unwrap(),
                )
            })
            .await;
            let (votes, done) = a_out.expect("A");
            assert_eq!(
                votes,
                vec![(0, 20)],
                "{config:?}: the quorum is W[0]'s vote"
            );
            assert_eq!(done, 7, "{config:?}");
            w0_out.expect("W[0]");
            w1_out.expect("W[1]");
        });
    }
}
