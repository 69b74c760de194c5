//! The guard chain and the guard-wrapped transport.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::budget::{
    BudgetPolicy, Clock, ContextId, FlowBudgets, LeakageBudgets, ObserverClass, PeerKey,
};
use super::capability::CapabilitySet;
use crate::envelope::{Frame, Header, Message};
use crate::error::{Error, TransportError};
use crate::ids::{Label, PeerId, RoleId};
use crate::journal::{
    author_of, Fact, FactBody, Journal, JournalError, ScopeId, SigningKey, VerifiedFact,
};
use crate::session::Session;
use crate::transport::Transport;

/// The annotations of one message statement, as the code generator emits
/// them (one `const` per annotated statement):
///
/// | annotation | field |
/// |---|---|
/// | `@guard("cap")` | `guard: Some("cap")` |
/// | `@cost(n)` | `cost: n` |
/// | `@journal("fact")` | `journal: Some("fact")` |
/// | `@leak(class, bits)` | `leak: &[(ObserverClass::Class, bits)]` (one entry per `@leak`) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annotations<'a> {
    /// Capability the sender must hold.
    pub guard: Option<&'a str>,
    /// Flow-budget units charged to (context, receiver).
    pub cost: u64,
    /// Name of the fact appended atomically with the send.
    pub journal: Option<&'a str>,
    /// Bits of metadata charged per observer class.
    pub leak: &'a [(ObserverClass, u64)],
}

impl Annotations<'static> {
    /// A message statement without annotations.
    pub const NONE: Annotations<'static> = Annotations {
        guard: None,
        cost: 0,
        journal: None,
        leak: &[],
    };
}

/// Why the guard chain refused a send. Nothing was sent, appended or
/// charged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// `@guard`: the sender's capability set lacks the capability.
    #[error("capability `{cap}` is not in the sender's capability set")]
    Capability {
        /// The capability asked for.
        cap: String,
    },
    /// `@cost`: the flow budget toward this peer in this context is too low.
    #[error("flow budget exhausted: the send costs {cost}, {available} left for this context and peer; wait for the refill")]
    FlowBudget {
        /// The send's cost.
        cost: u64,
        /// What was left.
        available: u64,
    },
    /// `@journal`: the fact could not be built or appended.
    #[error("journal coupling failed for fact `{fact}`: {reason}")]
    Journal {
        /// The annotation's fact name.
        fact: String,
        /// What failed.
        reason: String,
    },
    /// `@leak`: the leakage budget of an observer class is too low.
    #[error("leakage budget for {class:?} observers exhausted: the send leaks {bits} bits, {available} left")]
    Leakage {
        /// The observer class.
        class: ObserverClass,
        /// Bits the send would leak to that class.
        bits: u64,
        /// What was left.
        available: u64,
    },
    /// The guarded transport has no identity for the receiving peer.
    #[error("no peer identity is bound to roster peer {0}; build the guarded transport with one PeerKey per roster instance")]
    UnknownPeer(u32),
}

/// What a `@journal("fact")` send records: the node builds the fact from
/// the annotation's name and the message.
pub trait FactMaker: Send + std::fmt::Debug {
    /// Build (and sign) the fact for a send.
    fn make(&self, name: &str, send: &SendInfo<'_>) -> Result<VerifiedFact, JournalError>;
}

/// The message a guarded send is about.
#[derive(Debug)]
pub struct SendInfo<'a> {
    /// The session's envelope header (session id, fingerprint, sender).
    pub header: &'a Header,
    /// The flow context.
    pub context: ContextId,
    /// The receiver's identity.
    pub to: PeerKey,
    /// The message label.
    pub label: Label,
    /// The encoded payload.
    pub payload: &'a [u8],
}

/// The body of the facts [`RecordSends`] writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRecord {
    /// The `@journal` annotation's fact name.
    pub name: String,
    /// Session id.
    pub session: [u8; 16],
    /// Protocol fingerprint.
    pub fingerprint: [u8; 32],
    /// Flow context.
    pub context: [u8; 32],
    /// Receiver.
    pub to: [u8; 32],
    /// Label number.
    pub label: u16,
    /// SHA-256 of the encoded payload.
    pub payload_hash: [u8; 32],
}

impl FactBody for SendRecord {
    const KIND: &'static str = "choreo.send-record";
    const VERSION: u16 = 1;
}

/// The default [`FactMaker`]: a [`SendRecord`] signed by the node's key.
#[derive(Debug)]
pub struct RecordSends {
    /// The node's identity key.
    pub key: SigningKey,
    /// The journal scope the records go to.
    pub scope: ScopeId,
}

impl FactMaker for RecordSends {
    fn make(&self, name: &str, send: &SendInfo<'_>) -> Result<VerifiedFact, JournalError> {
        let body = SendRecord {
            name: name.to_owned(),
            session: send.header.session.0,
            fingerprint: send.header.fingerprint,
            context: send.context.0,
            to: send.to.0,
            label: send.label.0,
            payload_hash: Sha256::digest(send.payload).into(),
        };
        Ok(Fact::new(self.scope, author_of(&self.key), &body)?.sign(&self.key)?)
    }
}

/// Budget policies of a node's guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Default flow budget per (context, peer). Default: 1,000,000 units,
    /// refilling 100,000 per second.
    pub flow: BudgetPolicy,
    /// Leakage budget per observer class, in the order of
    /// [`ObserverClass::ALL`]. Default: 4,096 bits each, refilling 64 bits
    /// per second.
    pub leakage: [BudgetPolicy; 4],
}

impl Default for GuardConfig {
    fn default() -> Self {
        let leak = BudgetPolicy {
            capacity: 4096,
            refill_per_sec: 64,
        };
        GuardConfig {
            flow: BudgetPolicy {
                capacity: 1_000_000,
                refill_per_sec: 100_000,
            },
            leakage: [leak; 4],
        }
    }
}

#[derive(Debug)]
struct Shared {
    flow: FlowBudgets,
    leakage: LeakageBudgets,
    journal: Option<Coupling>,
}

/// The journal `@journal` sends append to, and how their facts are made.
#[derive(Debug)]
struct Coupling {
    journal: Arc<Mutex<Journal>>,
    facts: Box<dyn FactMaker>,
}

/// A node's guard: budgets and journal shared by every session it guards.
/// Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct Guard {
    shared: Arc<Mutex<Shared>>,
    clock: Arc<dyn Clock>,
}

impl Guard {
    /// A guard with `config`'s budgets on `clock`, without a journal
    /// (`@journal` sends are then denied).
    pub fn new(config: GuardConfig, clock: Arc<dyn Clock>) -> Self {
        let leakage = LeakageBudgets::new(|c| {
            let i = ObserverClass::ALL.iter().position(|x| *x == c).unwrap_or(0);
            config
                .leakage
                .get(i)
                .copied()
                .unwrap_or(BudgetPolicy::UNLIMITED)
        });
        Guard {
            shared: Arc::new(Mutex::new(Shared {
                flow: FlowBudgets::new(config.flow),
                leakage,
                journal: None,
            })),
            clock,
        }
    }

    /// Couple `@journal` sends to `journal`, with facts built by `facts`.
    pub fn with_journal(
        self,
        journal: Arc<Mutex<Journal>>,
        facts: impl FactMaker + 'static,
    ) -> Self {
        if let Ok(mut s) = self.shared.lock() {
            s.journal = Some(Coupling {
                journal,
                facts: Box::new(facts),
            });
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave a half-charged
        // budget (charges are single assignments), so the state is usable.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Set the flow policy of one (context, peer).
    pub fn set_flow_policy(&self, context: ContextId, peer: PeerKey, policy: BudgetPolicy) {
        self.lock().flow.set_policy(context, peer, policy);
    }

    /// Flow budget left for (context, peer) now.
    pub fn flow_available(&self, context: ContextId, peer: PeerKey) -> u64 {
        let now = self.clock.now_micros();
        self.lock().flow.available(context, peer, now)
    }

    /// Leakage budget left for `class` now.
    pub fn leakage_available(&self, class: ObserverClass) -> u64 {
        let now = self.clock.now_micros();
        self.lock().leakage.available(class, now)
    }

    /// Wrap one session's transport. `peers[i]` is the identity of roster
    /// peer `i`; `caps` is the sender's capability set in this session.
    pub fn wrap<T: Transport>(
        &self,
        inner: T,
        context: ContextId,
        peers: Vec<PeerKey>,
        caps: CapabilitySet,
    ) -> GuardedTransport<T> {
        GuardedTransport {
            inner,
            guard: self.clone(),
            context,
            peers,
            caps,
            armed: None,
            denial: None,
        }
    }
}

/// A transport whose every send passes the guard chain first. Sends
/// without annotations (plain [`Session::send`]) pass with
/// [`Annotations::NONE`]; annotated sends go through
/// [`Session::send_guarded`].
#[derive(Debug)]
pub struct GuardedTransport<T> {
    inner: T,
    guard: Guard,
    context: ContextId,
    peers: Vec<PeerKey>,
    caps: CapabilitySet,
    armed: Option<Annotations<'static>>,
    denial: Option<Denial>,
}

enum Refused {
    Denied(Denial),
    Transport(TransportError),
}

impl<T: Transport> GuardedTransport<T> {
    /// The sender's capability set.
    pub fn capabilities(&self) -> &CapabilitySet {
        &self.caps
    }

    /// Narrow the sender's capability set (meet). There is no way back.
    pub fn attenuate(&mut self, other: &CapabilitySet) {
        self.caps.attenuate(other);
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn chain(&mut self, to: PeerId, header: &Header, message: Message) -> Result<(), Refused> {
        let ann = self.armed.take().unwrap_or(Annotations::NONE);
        let now = self.guard.clock.now_micros();
        let guard = self.guard.clone();
        let mut shared = guard.lock();
        let shared = &mut *shared;

        // Evaluate every guard, whatever the earlier ones said, so that a
        // denial does the same work as an allowed send up to this point.
        let peer = self.peers.get(to.as_usize()).copied();
        let capability = match ann.guard {
            Some(cap) if !self.caps.allows(cap) => Some(Denial::Capability {
                cap: cap.to_owned(),
            }),
            _ => None,
        };
        let flow = match peer {
            None => Some(Denial::UnknownPeer(to.0)),
            Some(p) => {
                let available = shared.flow.available(self.context, p, now);
                (available < ann.cost).then_some(Denial::FlowBudget {
                    cost: ann.cost,
                    available,
                })
            }
        };
        let fact = match (ann.journal, &shared.journal, peer) {
            (None, _, _) => Ok(None),
            (Some(name), None, _) => Err(Denial::Journal {
                fact: name.to_owned(),
                reason: "this guard has no journal (Guard::with_journal)".into(),
            }),
            (Some(_), Some(_), None) => Ok(None), // already denied as UnknownPeer
            (Some(name), Some(coupling), Some(p)) => {
                let info = SendInfo {
                    header,
                    context: self.context,
                    to: p,
                    label: message.label,
                    payload: message.payload.as_bytes(),
                };
                coupling
                    .facts
                    .make(name, &info)
                    .map(Some)
                    .map_err(|e| Denial::Journal {
                        fact: name.to_owned(),
                        reason: e.to_string(),
                    })
            }
        };
        let mut leak = None;
        for class in ObserverClass::ALL {
            let bits = ann
                .leak
                .iter()
                .filter(|(c, _)| *c == class)
                .fold(0u64, |s, (_, b)| s.saturating_add(*b));
            let available = shared.leakage.available(class, now);
            if bits > available && leak.is_none() {
                leak = Some(Denial::Leakage {
                    class,
                    bits,
                    available,
                });
            }
        }
        let (fact, fact_denial) = match fact {
            Ok(f) => (f, None),
            Err(d) => (None, Some(d)),
        };
        if let Some(denial) = capability.or(flow).or(fact_denial).or(leak) {
            return Err(Refused::Denied(denial));
        }
        let Some(peer) = peer else {
            return Err(Refused::Denied(Denial::UnknownPeer(to.0)));
        };

        // Allowed: charge, then hand over (appending the fact first, so
        // the message never leaves without it). Every failure refunds.
        shared.flow.charge(self.context, peer, ann.cost, now);
        for (class, bits) in ann.leak {
            shared.leakage.charge(*class, *bits);
        }
        let inner = &mut self.inner;
        let sent = match (fact, &shared.journal) {
            (Some(fact), Some(coupling)) => {
                let mut journal = coupling.journal.lock().unwrap_or_else(|p| p.into_inner());
                let name = ann.journal.unwrap_or_default();
                journal
                    .append_coupled(fact, || inner.start_send(to, header, message))
                    .map_err(|e| {
                        Refused::Denied(Denial::Journal {
                            fact: name.to_owned(),
                            reason: e.to_string(),
                        })
                    })
                    .and_then(|sent| sent.map_err(Refused::Transport))
            }
            _ => inner
                .start_send(to, header, message)
                .map_err(Refused::Transport),
        };
        if sent.is_err() {
            shared.flow.refund(self.context, peer, ann.cost, now);
            for (class, bits) in ann.leak {
                shared.leakage.refund(*class, *bits);
            }
        }
        sent
    }
}

impl<T: Transport> Transport for GuardedTransport<T> {
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
        match self.chain(to, header, message) {
            Ok(()) => Ok(()),
            Err(Refused::Transport(e)) => Err(e),
            Err(Refused::Denied(d)) => {
                tracing::debug!(denial = %d, "guard chain refused a send");
                self.denial = Some(d);
                Err(TransportError::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "send refused by the guard chain",
                )))
            }
        }
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

impl<T: Transport> Session<GuardedTransport<T>> {
    /// `A -> B : L(T)` with annotations: the guard chain runs (capability,
    /// flow budget, journal coupling, leakage, in that order) and the
    /// message is handed to the transport only if every guard allows it.
    /// The first denial is returned as [`Error::Denied`]; then nothing was
    /// sent, appended or charged.
    ///
    /// Not for `par` branches (they share one transport; a branch's
    /// annotations could be taken by another branch's send).
    pub async fn send_guarded<M: Serialize + ?Sized>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: &M,
        annotations: &Annotations<'static>,
    ) -> Result<(), Error> {
        self.transport_mut().armed = Some(*annotations);
        let sent = self.send(to, label, payload).await;
        let transport = self.transport_mut();
        transport.armed = None;
        match transport.denial.take() {
            Some(denial) => Err(Error::Denied(Box::new(denial))),
            None => sent,
        }
    }
}
