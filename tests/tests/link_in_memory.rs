//! `link Sub(…)` on the in-memory transport: the join handshake, then
//! `Sub` on the channels the linking session used (taken over by the
//! linked session), including a join inside a timeout body that a peer's
//! handler interrupts, a family that joins inside a body, and a peer's
//! first message of the linked protocol that the linking session read
//! ahead while its join waited.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::link::LinkedSession;
use choreo_runtime::typestate::Timed;
use choreo_runtime::{
    memory, Error, Frame, Header, Interrupt, MemoryConfig, MemoryTransport, Message, PeerId,
    Session, SessionConfig, SessionId, Time, Transport, TransportError, TypedMessage,
};

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

async fn member<T: Transport>(s: Session<T>, me: u32) -> Result<Vec<u64>, Error> {
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

/// A member's run, polled by hand.
type Member = Pin<Box<dyn Future<Output = Result<Vec<u64>, Error>>>>;

/// A test double around the in-memory transport: the frames of peer
/// `hidden` stay out of sight (their receive is pending) until `release`
/// is set, as a slow link would hold them back. The linked session it
/// opens hides nothing.
struct Slow {
    inner: MemoryTransport,
    hidden: Option<PeerId>,
    release: Arc<AtomicBool>,
}

impl Transport for Slow {
    fn local(&self) -> PeerId {
        self.inner.local()
    }
    fn peer_count(&self) -> usize {
        self.inner.peer_count()
    }
    fn poll_ready(&mut self, cx: &mut Context<'_>, to: PeerId) -> Poll<Result<(), TransportError>> {
        self.inner.poll_ready(cx, to)
    }
    fn start_send(
        &mut self,
        to: PeerId,
        header: &Header,
        message: Message,
    ) -> Result<(), TransportError> {
        self.inner.start_send(to, header, message)
    }
    fn carries_values(&self) -> bool {
        self.inner.carries_values()
    }
    fn start_send_value(
        &mut self,
        to: PeerId,
        header: &Header,
        message: TypedMessage,
    ) -> Result<(), TransportError> {
        self.inner.start_send_value(to, header, message)
    }
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        if self.hidden == Some(from) && !self.release.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        self.inner.poll_recv(cx, from)
    }
    fn close(&mut self) {
        self.inner.close();
    }
    fn now(&self) -> Time {
        self.inner.now()
    }
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        self.inner.poll_deadline(cx, deadline)
    }
    fn open_linked(&mut self, linked: &LinkedSession) -> Result<Self, Error> {
        Ok(Slow {
            inner: self.inner.open_linked(linked)?,
            hidden: None,
            release: self.release.clone(),
        })
    }
}

#[test]
fn a_linked_message_read_ahead_by_the_linking_session_reaches_the_linked_one() {
    // Three members; Member[0] cannot see Member[2]'s frames yet, so its
    // join (inside the body) waits for Member[2]'s handshake. Meanwhile
    // Member[1] and Member[2] complete their joins and send their votes of
    // `Tally` on the same channels; Member[0]'s body, looking at every
    // stream for a handler message while it waits, reads Member[1]'s
    // handshake and vote ahead into the linking session. Once Member[2]'s
    // frames show, Member[0] joins, and the vote it read ahead must move
    // to `Tally`'s session: left behind, Member[0] would wait for it
    // forever.
    let n = 3u32;
    let params = poll::Params { n };
    let roster = poll::roster(&params).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let transports = memory::network(roster.len(), MemoryConfig::default());
    let mut tasks: Vec<Member> = Vec::new();
    for (i, (inner, &me)) in transports.into_iter().zip(roster.instances()).enumerate() {
        let transport = Slow {
            inner,
            hidden: (i == 0).then_some(PeerId(2)),
            release: release.clone(),
        };
        let config = SessionConfig {
            id: SessionId([9; 16]),
            protocol: &poll::PROTOCOL,
            me,
            roster: roster.clone(),
        };
        let session = Session::new(config, transport).unwrap();
        tasks.push(Box::pin(member(session, i as u32)));
    }
    // Round-robin polling (a wake-up is not needed: every task is polled
    // every round), releasing Member[2]'s frames once the others have had
    // ample rounds to join and vote.
    let mut cx = Context::from_waker(Waker::noop());
    let mut results: Vec<Option<Result<Vec<u64>, Error>>> = (0..n).map(|_| None).collect();
    for round in 0..1000 {
        if round == 50 {
            release.store(true, Ordering::SeqCst);
        }
        for (task, result) in tasks.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                if let Poll::Ready(r) = task.as_mut().poll(&mut cx) {
                    *result = Some(r);
                }
            }
        }
        if results.iter().all(Option::is_some) {
            break;
        }
    }
    for (i, r) in results.into_iter().enumerate() {
        let votes = r
            .unwrap_or_else(|| panic!("member {i} never completed: a vote was lost"))
            .unwrap_or_else(|e| panic!("member {i}: {e}"));
        let mut expected: Vec<u64> = (0..u64::from(n)).filter(|&v| v != i as u64).collect();
        let mut votes: Vec<u64> = votes.into_iter().filter(|&v| v != i as u64).collect();
        votes.sort_unstable();
        expected.sort_unstable();
        assert_eq!(votes, expected, "member {i}");
    }
}
