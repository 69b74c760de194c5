//! The guard chain: every kind of denial sends nothing, appends nothing and
//! charges nothing; allowed sends charge exactly; capabilities only
//! narrow; concurrent sends never overdraw a budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use choreo_runtime::guard::{
    Annotations, BudgetPolicy, CapabilitySet, ContextId, Denial, Guard, GuardConfig,
    GuardedTransport, ManualClock, ObserverClass, PeerKey, RecordSends, SendRecord,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::{
    memory, Error, Frame, Header, Label, MemoryConfig, MemoryTransport, Message, PeerId,
    ProtocolInfo, Role, RoleId, RoleShape, Roster, Session, SessionConfig, SessionId, Transport,
    TransportError,
};

static PROTO: ProtocolInfo = ProtocolInfo {
    name: "Guarded",
    fingerprint: [1; 32],
    roles: &["A", "B"],
    labels: &["Msg"],
};
const B: RoleId = RoleId::single(Role(1));
const MSG: Label = Label(0);
const CTX: ContextId = ContextId([3; 32]);
const PEER_A: PeerKey = PeerKey([0xA; 32]);
const PEER_B: PeerKey = PeerKey([0xB; 32]);
const SCOPE: ScopeId = ScopeId([9; 32]);

/// A transport that counts what reaches it, and can be told to fail.
#[derive(Debug)]
struct Counting {
    inner: MemoryTransport,
    bytes: Arc<AtomicU64>,
    fail: bool,
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
        if self.fail {
            return Err(TransportError::Closed);
        }
        self.bytes.fetch_add(
            message.payload.as_bytes().len() as u64 + 1,
            Ordering::SeqCst,
        );
        self.inner.start_send(to, header, message)
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

struct Fixture {
    guard: Guard,
    clock: Arc<ManualClock>,
    journal: Arc<Mutex<Journal>>,
    bytes: Arc<AtomicU64>,
}

impl Fixture {
    fn new(config: GuardConfig) -> Self {
        let clock = Arc::new(ManualClock::default());
        let journal = Arc::new(Mutex::new(
            Journal::open(SCOPE, MemoryStore::new()).unwrap(),
        ));
        let key = SigningKey::from_bytes(&[0xA; 32]);
        let guard = Guard::new(config, clock.clone())
            .with_journal(journal.clone(), RecordSends { key, scope: SCOPE });
        Fixture {
            guard,
            clock,
            journal,
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A's guarded session and B's plain one.
    fn sessions(
        &self,
        caps: CapabilitySet,
        fail: bool,
    ) -> (
        Session<GuardedTransport<Counting>>,
        Session<MemoryTransport>,
    ) {
        let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
        let mut net = memory::network(2, MemoryConfig::default());
        let (tb, ta) = (net.pop().unwrap(), net.pop().unwrap());
        let counting = Counting {
            inner: ta,
            bytes: self.bytes.clone(),
            fail,
        };
        let guarded = self.guard.wrap(counting, CTX, vec![PEER_A, PEER_B], caps);
        let config = |me| SessionConfig {
            id: SessionId([5; 16]),
            protocol: &PROTO,
            me,
            roster: roster.clone(),
        };
        (
            Session::new(config(RoleId::single(Role(0))), guarded).unwrap(),
            Session::new(config(B), tb).unwrap(),
        )
    }

    /// Everything a denial must leave untouched.
    fn observable(&self) -> (u64, usize, u64, [u64; 4]) {
        (
            self.bytes.load(Ordering::SeqCst),
            self.journal.lock().unwrap().facts().len(),
            self.guard.flow_available(CTX, PEER_B),
            ObserverClass::ALL.map(|c| self.guard.leakage_available(c)),
        )
    }
}

fn small_budgets() -> GuardConfig {
    GuardConfig {
        flow: BudgetPolicy {
            capacity: 10,
            refill_per_sec: 0,
        },
        leakage: [BudgetPolicy {
            capacity: 16,
            refill_per_sec: 0,
        }; 4],
    }
}

const JOURNALED: Annotations<'static> = Annotations {
    guard: &["send"],
    cost: 3,
    journal: &["sent"],
    leak: &[(ObserverClass::Group, 4)],
};

#[tokio::test]
async fn every_kind_of_denial_sends_nothing_appends_nothing_and_charges_nothing() {
    let f = Fixture::new(small_budgets());
    type Case = (
        &'static str,
        Annotations<'static>,
        CapabilitySet,
        fn(&Denial) -> bool,
    );
    let cases: [Case; 4] = [
        (
            "capability",
            JOURNALED,
            CapabilitySet::grant(["other"]),
            |d| matches!(d, Denial::Capability { .. }),
        ),
        (
            "flow",
            Annotations {
                cost: 11,
                ..JOURNALED
            },
            CapabilitySet::grant(["send"]),
            |d| {
                matches!(
                    d,
                    Denial::FlowBudget {
                        cost: 11,
                        available: 10
                    }
                )
            },
        ),
        (
            "leakage",
            Annotations {
                leak: &[(ObserverClass::Group, 10), (ObserverClass::Group, 7)],
                ..JOURNALED
            },
            CapabilitySet::grant(["send"]),
            |d| {
                matches!(
                    d,
                    Denial::Leakage {
                        class: ObserverClass::Group,
                        bits: 17,
                        available: 16
                    }
                )
            },
        ),
        // Capability and flow both fail: the first in chain order is reported.
        (
            "order",
            Annotations {
                cost: 11,
                ..JOURNALED
            },
            CapabilitySet::none(),
            |d| matches!(d, Denial::Capability { .. }),
        ),
    ];
    let before = f.observable();
    for (what, ann, caps, expected) in cases {
        let (mut a, _b) = f.sessions(caps, false);
        let err = a.send_guarded(B, MSG, &42u64, &ann).await.unwrap_err();
        match &err {
            Error::Denied(d) => assert!(expected(d), "{what}: wrong denial {d}"),
            other => panic!("{what}: expected a denial, got {other}"),
        }
        assert_eq!(
            f.observable(),
            before,
            "{what}: something was sent, appended or charged"
        );
    }
    // A guard without a journal refuses @journal sends the same way.
    let clock = Arc::new(ManualClock::default());
    let bare = Guard::new(small_budgets(), clock);
    let mut net = memory::network(2, MemoryConfig::default());
    let (_tb, ta) = (net.pop().unwrap(), net.pop().unwrap());
    let bytes = Arc::new(AtomicU64::new(0));
    let t = bare.wrap(
        Counting {
            inner: ta,
            bytes: bytes.clone(),
            fail: false,
        },
        CTX,
        vec![PEER_A, PEER_B],
        CapabilitySet::grant(["send"]),
    );
    let roster = Roster::new(&[RoleShape::Single, RoleShape::Single]).unwrap();
    let mut a = Session::new(
        SessionConfig {
            id: SessionId([6; 16]),
            protocol: &PROTO,
            me: RoleId::single(Role(0)),
            roster,
        },
        t,
    )
    .unwrap();
    let err = a.send_guarded(B, MSG, &1u8, &JOURNALED).await.unwrap_err();
    assert!(
        matches!(&err, Error::Denied(d) if matches!(**d, Denial::Journal { .. })),
        "{err}"
    );
    assert_eq!(bytes.load(Ordering::SeqCst), 0);
    assert_eq!(bare.flow_available(CTX, PEER_B), 10);
}

#[tokio::test]
async fn an_allowed_send_charges_exactly_and_appends_its_fact_with_it() {
    let f = Fixture::new(small_budgets());
    let (mut a, mut b) = f.sessions(CapabilitySet::grant(["send"]), false);
    a.send_guarded(B, MSG, &42u64, &JOURNALED).await.unwrap();
    assert_eq!(
        b.recv::<u64>(RoleId::single(Role(0)), MSG).await.unwrap(),
        42
    );
    let (bytes, facts, flow, leak) = f.observable();
    assert!(bytes > 0);
    assert_eq!(facts, 1);
    assert_eq!(flow, 7);
    assert_eq!(leak, [16, 12, 16, 16]);
    let record: SendRecord = {
        let journal = f.journal.lock().unwrap();
        let record = journal.facts().iter().next().unwrap().body().unwrap();
        record
    };
    assert_eq!(record.name, "sent");
    assert_eq!(record.to, PEER_B.0);
    // Unannotated sends pass the chain free of charge.
    a.send(B, MSG, &1u64).await.unwrap();
    assert_eq!(f.guard.flow_available(CTX, PEER_B), 7);
}

#[tokio::test]
async fn a_refused_hand_over_takes_the_fact_and_the_charges_back() {
    let f = Fixture::new(small_budgets());
    let before = f.observable();
    let (mut a, _b) = f.sessions(CapabilitySet::grant(["send"]), true);
    let err = a
        .send_guarded(B, MSG, &42u64, &JOURNALED)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(
        f.observable(),
        before,
        "both or neither: the fact must not stay without the message"
    );
}

#[tokio::test]
async fn an_attenuated_capability_set_cannot_regain_a_capability() {
    let f = Fixture::new(GuardConfig::default());
    let (mut a, _b) = f.sessions(CapabilitySet::grant(["send", "admin"]), false);
    a.transport_mut()
        .attenuate(&CapabilitySet::grant(["admin"]));
    a.transport_mut()
        .attenuate(&CapabilitySet::grant(["admin", "send", "everything"]));
    assert_eq!(
        a.transport_mut().capabilities(),
        &CapabilitySet::grant(["admin"])
    );
    let ann = Annotations {
        guard: &["send"],
        ..Annotations::NONE
    };
    let err = a.send_guarded(B, MSG, &1u8, &ann).await.unwrap_err();
    assert!(
        matches!(&err, Error::Denied(d) if matches!(**d, Denial::Capability { .. })),
        "{err}"
    );
    // Meet laws.
    let (x, y, z) = (
        CapabilitySet::grant(["a", "b"]),
        CapabilitySet::grant(["b", "c"]),
        CapabilitySet::grant(["b"]),
    );
    assert_eq!(x.meet(&y), y.meet(&x));
    assert_eq!(x.meet(&y).meet(&z), x.meet(&y.meet(&z)));
    assert_eq!(x.meet(&x), x);
}

#[test]
fn budgets_never_go_negative_under_concurrent_sends() {
    let f = Arc::new(Fixture::new(GuardConfig {
        flow: BudgetPolicy {
            capacity: 100,
            refill_per_sec: 0,
        },
        leakage: [BudgetPolicy::UNLIMITED; 4],
    }));
    let allowed = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (f, allowed) = (f.clone(), allowed.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for _ in 0..20 {
                        let (mut a, _b) = f.sessions(CapabilitySet::none(), false);
                        let ann = Annotations {
                            cost: 7,
                            ..Annotations::NONE
                        };
                        match a.send_guarded(B, MSG, &0u8, &ann).await {
                            Ok(()) => {
                                allowed.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(Error::Denied(d)) => {
                                assert!(matches!(*d, Denial::FlowBudget { .. }))
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let allowed = allowed.load(Ordering::SeqCst);
    assert_eq!(
        allowed,
        100 / 7,
        "exactly as many sends as the budget covers"
    );
    assert_eq!(f.guard.flow_available(CTX, PEER_B), 100 - 7 * allowed);
}

#[test]
fn budgets_refill_at_the_policy_rate_up_to_capacity() {
    let f = Fixture::new(GuardConfig {
        flow: BudgetPolicy {
            capacity: 10,
            refill_per_sec: 4,
        },
        leakage: [BudgetPolicy::UNLIMITED; 4],
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut a, _b) = f.sessions(CapabilitySet::none(), false);
        a.send_guarded(
            B,
            MSG,
            &0u8,
            &Annotations {
                cost: 10,
                ..Annotations::NONE
            },
        )
        .await
        .unwrap();
    });
    assert_eq!(f.guard.flow_available(CTX, PEER_B), 0);
    f.clock.advance(600_000); // 0.6 s: 2.4 units earned, 2 credited
    assert_eq!(f.guard.flow_available(CTX, PEER_B), 2);
    f.clock.advance(150_000); // 0.75 s in total: 3 units
    assert_eq!(f.guard.flow_available(CTX, PEER_B), 3);
    f.clock.advance(60_000_000);
    assert_eq!(
        f.guard.flow_available(CTX, PEER_B),
        10,
        "never above capacity"
    );
}
