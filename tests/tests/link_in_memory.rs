//! `link Sub(…)` on the in-memory transport: the join handshake, then
//! `Sub` on the channels the linking session used (taken over by the
//! linked session), including a join inside a timeout body that a peer's
//! handler interrupts, and a family that joins inside a body.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::typestate::Timed;
use choreo_runtime::{Error, Interrupt, SessionId};

choreography! {
    /// A query, then the answer in a separately versioned protocol.
    protocol Lookup {
        roles Client, Server;
        Client -> Server : Query(u64);
        link Answer(Client, Server);
    }
    protocol Answer {
        roles Asker, Teller;
        Teller -> Asker : Reply(u64);
    }

    /// A link inside a timeout body, and one as its handler.
    protocol Job {
        roles Boss, Worker;
        timeout 10s {
            Boss -> Worker : Assign(u64);
            link Work(Boss, Worker);
        } else {
            link Help(Boss, Worker);
        }
    }
    protocol Work {
        roles Giver, Doer;
        Doer -> Giver : Done(u64);
    }
    protocol Help {
        roles Giver, Doer;
        Giver -> Doer : Hint(u64);
    }

    /// Every member joins `Tally` inside the body.
    protocol Poll(n) {
        roles Member[n];
        timeout 10s {
            Member[0] -> Member[*] : Ask(u64);
            link Tally(Member);
        } else {
            link Tally(Member);
        }
    }
    protocol Tally(n) {
        roles Voter[n];
        Voter[*] -> Voter[*] : Vote(u64);
    }
}

/// Fails the test instead of hanging when a run deadlocks.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the protocol run hung")
}

#[tokio::test]
async fn a_link_joins_and_runs_the_linked_protocol_in_memory() {
    let mut s = lookup::sessions(&lookup::Params {}, SessionId([1; 16])).unwrap();
    let server = s.pop().unwrap();
    let client = s.pop().unwrap();
    let client = async {
        let ep = lookup::client::open(client, lookup::Params {})?;
        let ep = ep.send(lookup::Query(6)).await?.join().await?;
        let (answer::Reply(r), end) = ep.recv().await?;
        end.finish()?;
        Ok::<_, Error>(r)
    };
    let server = async {
        let ep = lookup::server::open(server, lookup::Params {})?;
        let (lookup::Query(q), ep) = ep.recv().await?;
        ep.join().await?.send(answer::Reply(q * 7)).await?.finish()
    };
    let (c, s) = bounded(async { tokio::join!(client, server) }).await;
    s.unwrap();
    assert_eq!(c.unwrap(), 42);
}

#[tokio::test]
async fn a_join_inside_a_body_interrupted_by_a_handler_returns_the_handler_in_memory() {
    let mut s = job::sessions(&job::Params {}, SessionId([2; 16])).unwrap();
    let worker = s.pop().unwrap();
    let boss = s.pop().unwrap();
    let boss = async {
        let ep = job::boss::open(boss, job::Params {})?.body();
        let ep = ep.send(job::Assign(3)).await?.into_done()?;
        let help = ep.abandon().join().await?;
        help.send(help::Hint(9)).await?.finish()
    };
    let worker = async {
        let ep = job::worker::open(worker, job::Params {})?.body();
        let (job::Assign(_), ep) = ep.recv().await?.into_done()?;
        let Timed::Expired(handler) = ep.join().await? else {
            panic!("the worker joined Work, which its boss never joined");
        };
        let why = handler.session().interrupted_by().cloned();
        let (help::Hint(h), end) = handler.join().await?.recv().await?;
        end.finish()?;
        Ok::<_, Error>((h, why))
    };
    let (b, w) = bounded(async { tokio::join!(boss, worker) }).await;
    b.unwrap();
    let (h, why) = w.unwrap();
    assert_eq!(h, 9);
    assert!(
        matches!(why, Some(Interrupt::HandlerMessage { .. })),
        "{why:?}"
    );
}

const MEMBERS: u32 = 4;

async fn member(
    s: choreo_runtime::Session<choreo_runtime::MemoryTransport>,
    me: u32,
) -> Result<Vec<u64>, Error> {
    let params = poll::Params { n: MEMBERS };
    let tally = if me == 0 {
        let ep = poll::member_0::open(s, params)?.body();
        ep.send_all(poll::Ask(1))
            .await?
            .into_done()?
            .join()
            .await?
            .into_done()?
    } else {
        let ep = poll::member::open(s, params)?.body();
        let (poll::Ask(_), ep) = ep.recv().await?.into_done()?;
        ep.join().await?.into_done()?
    };
    let (votes, end) = tally.exchange(|_| tally::Vote(u64::from(me))).await?;
    end.finish()?;
    Ok(votes.into_iter().map(|(_, tally::Vote(v))| v).collect())
}

#[tokio::test]
async fn a_family_joins_inside_a_body_and_runs_the_linked_protocol_in_memory() {
    // Members that completed their joins send their votes on the same
    // channels while the others still read handshakes: each vote must
    // reach the linked session, never the linking one.
    for round in 0..50u8 {
        let params = poll::Params { n: MEMBERS };
        let sessions = poll::sessions(&params, SessionId([round; 16])).unwrap();
        let tasks: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(i, s)| tokio::spawn(member(s, i as u32)))
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let votes = bounded(t).await.unwrap().unwrap();
            let mut expected: Vec<u64> = (0..u64::from(MEMBERS)).collect();
            expected.retain(|&v| v != i as u64);
            let mut votes = votes;
            votes.retain(|&v| v != i as u64);
            assert_eq!(votes, expected, "round {round}: member {i}");
        }
    }
}
