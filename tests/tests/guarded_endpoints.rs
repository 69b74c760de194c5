//! The guard chain on generated endpoints: `@guard`/`@cost`/`@journal`/
//! `@leak` on a message statement make the generated `send` run the chain
//! before anything reaches the transport. Each kind of denial returns
//! `Error::Denied` with zero bytes on the wire (a counting transport under
//! the guard), the journal unchanged and no budget charged; a broadcast is
//! all or nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use choreo_macros::choreography;
use choreo_runtime::guard::{
    BudgetPolicy, CapabilitySet, ContextId, Denial, Guard, GuardConfig, GuardedTransport,
    ManualClock, ObserverClass, PeerKey, RecordSends, SendRecord,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::{
    memory, Error, Frame, Header, MemoryConfig, MemoryTransport, Message, PeerId, Session,
    SessionConfig, SessionId, Transport, TransportError, TypedMessage,
};

choreography! {
    protocol Invitation {
        roles Account, Guardian;
        @guard("guardian:invite") @cost(4) @journal("invited") @leak(relationship, 8)
        Account -> Guardian : Invite(u64);
        Guardian -> Account : Accepted;
    }
}

choreography! {
    protocol Announcement(n) {
        roles Account, Guardian[n];
        @cost(3) @journal("announced") @leak(group, 2)
        Account -> Guardian[*] : Announce(String);
        Guardian[*] -> Account : Ack;
    }
}

const CTX: ContextId = ContextId([3; 32]);
const SCOPE: ScopeId = ScopeId([9; 32]);

/// Roster instance `i`'s node key.
fn key(i: usize) -> PeerKey {
    PeerKey([i as u8 + 1; 32])
}

/// Counts every byte handed to it (under the guard: what would reach the
/// wire).
#[derive(Debug)]
struct Counting {
    inner: MemoryTransport,
    bytes: Arc<AtomicU64>,
}

impl Transport for Counting {
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
        let n = message.payload.as_bytes().len() as u64 + 1;
        self.bytes.fetch_add(n, Ordering::SeqCst);
        self.inner.start_send(to, header, message)
    }
    fn start_send_value(
        &mut self,
        to: PeerId,
        header: &Header,
        message: TypedMessage,
    ) -> Result<(), TransportError> {
        self.bytes.fetch_add(1, Ordering::SeqCst);
        self.inner.start_send_value(to, header, message)
    }
    fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        from: PeerId,
    ) -> Poll<Result<Frame, TransportError>> {
        self.inner.poll_recv(cx, from)
    }
    fn close(&mut self) {
        self.inner.close();
    }
}

/// One node's guard (budgets, journal) and what a denial must not move.
struct Node {
    guard: Guard,
    journal: Arc<Mutex<Journal>>,
    bytes: Arc<AtomicU64>,
}

impl Node {
    fn new(config: GuardConfig, with_journal: bool) -> Node {
        let journal = Arc::new(Mutex::new(
            Journal::open(SCOPE, MemoryStore::new()).unwrap(),
        ));
        let mut guard = Guard::new(config, Arc::new(ManualClock::default()));
        if with_journal {
            let facts = RecordSends {
                key: SigningKey::from_bytes(&[0xA; 32]),
                scope: SCOPE,
            };
            guard = guard.with_journal(journal.clone(), facts);
        }
        Node {
            guard,
            journal,
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes handed to the transport, facts in the journal, flow budget
    /// toward every receiver, leakage budget of every class.
    fn observable(&self, receivers: usize) -> (u64, usize, Vec<u64>, [u64; 4]) {
        (
            self.bytes.load(Ordering::SeqCst),
            self.journal.lock().unwrap().facts().len(),
            (1..=receivers)
                .map(|i| self.guard.flow_available(CTX, key(i)))
                .collect(),
            ObserverClass::ALL.map(|c| self.guard.leakage_available(c)),
        )
    }

    /// Instance 0's session on a guarded counting transport, and the others'
    /// plain sessions, over one in-memory network.
    fn sessions(
        &self,
        protocol: &'static choreo_runtime::ProtocolInfo,
        roster: choreo_runtime::Roster,
        caps: CapabilitySet,
    ) -> (
        Session<GuardedTransport<Counting>>,
        Vec<Session<MemoryTransport>>,
    ) {
        let count = roster.len();
        let ids = roster.instances().to_vec();
        let mut net = memory::network(count, MemoryConfig::default()).into_iter();
        let config = |i: usize| SessionConfig {
            id: SessionId([5; 16]),
            protocol,
            me: ids[i],
            roster: roster.clone(),
        };
        let first = Counting {
            inner: net.next().unwrap(),
            bytes: self.bytes.clone(),
        };
        let peers = (0..count).map(key).collect();
        let guarded = self.guard.wrap(first, CTX, peers, caps);
        let guarded = Session::new(config(0), guarded).unwrap();
        let others = net
            .enumerate()
            .map(|(i, t)| Session::new(config(i + 1), t).unwrap())
            .collect();
        (guarded, others)
    }
}

fn budgets(flow: u64, leak: u64) -> GuardConfig {
    GuardConfig {
        flow: BudgetPolicy {
            capacity: flow,
            refill_per_sec: 0,
        },
        leakage: [BudgetPolicy {
            capacity: leak,
            refill_per_sec: 0,
        }; 4],
    }
}

fn denied(err: &Error) -> &Denial {
    match err {
        Error::Denied(d) => d,
        other => panic!("expected a denial, got {other}"),
    }
}

const INVITE_CAP: &str = "guardian:invite";

#[tokio::test]
async fn each_kind_of_denial_on_a_generated_send_sends_zero_bytes_and_leaves_journal_and_budgets() {
    // (what, node, capabilities, the denial expected)
    type Case = (&'static str, Node, CapabilitySet, fn(&Denial) -> bool);
    let cases: [Case; 5] = [
        (
            "capability",
            Node::new(budgets(100, 100), true),
            CapabilitySet::grant(["guardian:remove"]),
            |d| matches!(d, Denial::Capability { cap } if cap == INVITE_CAP),
        ),
        (
            "flow budget",
            Node::new(budgets(3, 100), true),
            CapabilitySet::grant([INVITE_CAP]),
            |d| {
                matches!(
                    d,
                    Denial::FlowBudget {
                        cost: 4,
                        available: 3
                    }
                )
            },
        ),
        (
            "journal coupling",
            Node::new(budgets(100, 100), false),
            CapabilitySet::grant([INVITE_CAP]),
            |d| matches!(d, Denial::Journal { fact, .. } if fact == "invited"),
        ),
        (
            "leakage",
            Node::new(budgets(100, 7), true),
            CapabilitySet::grant([INVITE_CAP]),
            |d| {
                matches!(
                    d,
                    Denial::Leakage {
                        class: ObserverClass::Relationship,
                        bits: 8,
                        available: 7
                    }
                )
            },
        ),
        // Every guard fails: the first in chain order is the one reported.
        (
            "chain order",
            Node::new(budgets(3, 7), false),
            CapabilitySet::none(),
            |d| matches!(d, Denial::Capability { .. }),
        ),
    ];
    for (what, node, caps, expected) in cases {
        let before = node.observable(1);
        let roster = invitation::roster(&invitation::Params {}).unwrap();
        let (account, mut others) = node.sessions(&invitation::PROTOCOL, roster, caps);
        let guardian = invitation::guardian::open(others.remove(0), invitation::Params {}).unwrap();
        let account = invitation::account::open(account, invitation::Params {}).unwrap();

        let err = match account.send(invitation::Invite(7)).await {
            Err(e) => e,
            Ok(_) => panic!("{what}: the send was allowed"),
        };
        assert!(expected(denied(&err)), "{what}: wrong denial: {err}");
        assert_eq!(
            node.observable(1),
            before,
            "{what}: bytes reached the transport, or a fact was appended, or a budget was charged"
        );
        // The guardian never sees the invitation: the denied endpoint is
        // gone, and its peer learns only that (a transport error).
        match guardian.recv().await {
            Err(Error::Transport { .. }) => {}
            Err(other) => panic!("{what}: guardian got {other}"),
            Ok(_) => panic!("{what}: the denied message arrived"),
        }
    }
}

#[tokio::test]
async fn an_allowed_generated_send_charges_once_and_appends_its_fact() {
    let node = Node::new(budgets(100, 100), true);
    let roster = invitation::roster(&invitation::Params {}).unwrap();
    let (account, mut others) = node.sessions(
        &invitation::PROTOCOL,
        roster,
        CapabilitySet::grant([INVITE_CAP]),
    );
    let guardian = invitation::guardian::open(others.remove(0), invitation::Params {}).unwrap();
    let account = invitation::account::open(account, invitation::Params {}).unwrap();
    let guardian = tokio::spawn(async move {
        let (invitation::Invite(n), s) = guardian.recv().await?;
        s.send(invitation::Accepted).await?.finish()?;
        Ok::<_, Error>(n)
    });
    let account = account.send(invitation::Invite(7)).await.unwrap();
    let (_, end) = account.recv().await.unwrap();
    end.finish().unwrap();
    assert_eq!(guardian.await.unwrap().unwrap(), 7);

    let (bytes, facts, flow, leak) = node.observable(1);
    assert!(bytes > 0);
    assert_eq!(facts, 1);
    assert_eq!(flow, vec![96]);
    assert_eq!(leak, [92, 100, 100, 100]);
    let journal = node.journal.lock().unwrap();
    let record: SendRecord = journal.facts().iter().next().unwrap().body().unwrap();
    assert_eq!(record.name, "invited");
    assert_eq!(record.to, key(1).0);
    assert_eq!(record.fingerprint, invitation::FINGERPRINT);
}

#[tokio::test]
async fn a_guarded_broadcast_is_all_or_nothing() {
    let params = announcement::Params { n: 3 };
    let node = Node::new(budgets(100, 100), true);
    // Guardian[2] (roster instance 3) has room for less than one announcement.
    node.guard.set_flow_policy(
        CTX,
        key(3),
        BudgetPolicy {
            capacity: 2,
            refill_per_sec: 0,
        },
    );
    let before = node.observable(3);
    let (account, others) = node.sessions(
        &announcement::PROTOCOL,
        announcement::roster(&params).unwrap(),
        CapabilitySet::none(),
    );
    let account = announcement::account::open(account, params).unwrap();
    let err = match account.send_all(announcement::Announce("hi".into())).await {
        Err(e) => e,
        Ok(_) => panic!("the broadcast was allowed"),
    };
    assert!(
        matches!(
            denied(&err),
            Denial::FlowBudget {
                cost: 3,
                available: 2
            }
        ),
        "{err}"
    );
    assert_eq!(
        node.observable(3),
        before,
        "no frame of a denied broadcast leaves, not even to the guardians with budget"
    );
    for s in others {
        let g = announcement::guardian::open(s, params).unwrap();
        assert!(matches!(g.recv().await, Err(Error::Transport { .. })));
    }

    // With the budget, every guardian gets it, charged and recorded per receiver.
    node.guard.set_flow_policy(
        CTX,
        key(3),
        BudgetPolicy {
            capacity: 100,
            refill_per_sec: 0,
        },
    );
    let (account, others) = node.sessions(
        &announcement::PROTOCOL,
        announcement::roster(&params).unwrap(),
        CapabilitySet::none(),
    );
    let guardians: Vec<_> = others
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let g = announcement::guardian::open(s, params)?;
                let (announcement::Announce(text), g) = g.recv().await?;
                g.send(announcement::Ack).await?.finish()?;
                Ok::<_, Error>(text)
            })
        })
        .collect();
    let account = announcement::account::open(account, params).unwrap();
    let account = account
        .send_all(announcement::Announce("hi".into()))
        .await
        .unwrap();
    let (acks, end) = account.recv_all().await.unwrap();
    assert_eq!(acks.len(), 3);
    end.finish().unwrap();
    for g in guardians {
        assert_eq!(g.await.unwrap().unwrap(), "hi");
    }
    let (_, facts, flow, leak) = node.observable(3);
    assert_eq!(facts, 3, "one fact per frame");
    assert_eq!(flow, vec![97, 97, 97]);
    assert_eq!(leak[1], 100 - 3 * 2);
}

choreography! {
    protocol GiveUp {
        roles A, B;
        A -> B : Bye;
    }

    /// A guarded question under a deadline; the handler hands over to
    /// `GiveUp` when no reply comes.
    protocol Deadline {
        roles Asker, Answerer;
        timeout 500ms {
            @guard("ask") @cost(1)
            Asker -> Answerer : Question(u64);
            Answerer -> Asker : Reply(u64);
        } else {
            link GiveUp(Asker, Answerer);
        }
    }
}

/// Poll `f` once with a no-op waker (the manual timer decides when it can
/// make progress, so the test polls again after moving it).
fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}

#[test]
fn a_timeout_body_behind_a_guard_runs_its_handler_at_the_deadline() {
    use choreo_runtime::typestate::Timed;
    use choreo_runtime::{ManualTimer, Time, Timer};
    use std::time::Duration;

    let params = deadline::Params {};
    let roster = deadline::roster(&params).unwrap();
    let ids = roster.instances().to_vec();
    let timer = Arc::new(ManualTimer::new());
    let mut net = memory::network(2, MemoryConfig::default()).into_iter();
    let config = |i: usize| SessionConfig {
        id: SessionId([8; 16]),
        protocol: &deadline::PROTOCOL,
        me: ids[i],
        roster: roster.clone(),
    };
    let node = Node::new(budgets(100, 100), true);
    let mut asker_transport = net.next().unwrap();
    asker_transport.set_timer(timer.clone());
    let guarded = node.guard.wrap(
        asker_transport,
        CTX,
        vec![key(0), key(1)],
        CapabilitySet::grant(["ask"]),
    );
    let asker = Session::new(config(0), guarded).unwrap();
    let mut answerer_transport = net.next().unwrap();
    answerer_transport.set_timer(timer.clone());
    let answerer = Session::new(config(1), answerer_transport).unwrap();

    // The asker's guarded question passes the chain; the answerer never
    // replies (it goes straight to its handler part).
    let mut asker = Box::pin(async move {
        let ep = deadline::asker::open(asker, params)?.body();
        let Timed::Done(ep) = ep.send(deadline::Question(7)).await? else {
            panic!("the deadline passed before the question");
        };
        match ep.recv().await? {
            Timed::Done(_) => panic!("no reply was sent"),
            Timed::Expired(handler) => {
                let link = handler.link();
                link.check(&give_up::FINGERPRINT)?;
                let expired_at = link.session.now();
                link.session.finish()?;
                Ok::<_, Error>(expired_at)
            }
        }
    });
    let mut answerer = Box::pin(async move {
        let ep = deadline::answerer::open(answerer, params)?.body();
        let Timed::Done((deadline::Question(q), ep)) = ep.recv().await? else {
            panic!("the answerer's deadline passed first");
        };
        // The answerer never replies: it abandons its part of the body
        // (and keeps its session open until the asker is done).
        Ok::<_, Error>((q, ep.abandon().link()))
    });

    assert!(poll_once(&mut asker).is_pending());
    let Poll::Ready(Ok((7, answerer))) = poll_once(&mut answerer) else {
        panic!("the answerer did not get the question");
    };
    assert_eq!(node.observable(1).1, 0, "no @journal on this send");
    assert_eq!(
        node.guard.flow_available(CTX, key(1)),
        99,
        "the question was charged"
    );
    timer.advance(Duration::from_millis(499));
    assert!(
        poll_once(&mut asker).is_pending(),
        "the handler ran before the deadline"
    );
    timer.advance(Duration::from_millis(1));
    // A guard that hid the inner transport's clock would leave the asker
    // waiting forever here.
    let Poll::Ready(expired_at) = poll_once(&mut asker) else {
        panic!("the deadline passed but the guarded body is still waiting");
    };
    assert_eq!(expired_at.unwrap(), Time::ZERO + Duration::from_millis(500));
    assert_eq!(timer.now(), Time::ZERO + Duration::from_millis(500));
    answerer.session.finish().unwrap();
}
