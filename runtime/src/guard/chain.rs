//! The guard chain and the guard-wrapped transport.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::budget::{BudgetPolicy, Clock, ContextId, FlowBudgets, LeakageBudgets, PeerKey};
use super::capability::CapabilitySet;
use super::transport::GuardedTransport;
use crate::denial::ObserverClass;
use crate::envelope::Header;
use crate::ids::Label;
use crate::journal::{
    author_of, Fact, FactBody, Journal, JournalError, ScopeId, SigningKey, VerifiedFact,
};
use crate::transport::Transport;

/// The annotations of one message statement, as the code generator emits
/// them (one constant per annotated statement):
///
/// | annotation | field |
/// |---|---|
/// | `@guard("cap")` | `guard: &["cap"]` (every `@guard` must be held) |
/// | `@cost(n)` | `cost: n` (several `@cost`s add up) |
/// | `@journal("fact")` | `journal: &["fact"]` (one fact per name and frame) |
/// | `@leak(class, bits)` | `leak: &[(ObserverClass::Class, bits)]` (one entry per `@leak`) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annotations<'a> {
    /// Capabilities the sender must hold.
    pub guard: &'a [&'a str],
    /// Flow-budget units charged to (context, receiver) per frame.
    pub cost: u64,
    /// Names of the facts appended atomically with each frame.
    pub journal: &'a [&'a str],
    /// Bits of metadata charged per observer class per frame.
    pub leak: &'a [(ObserverClass, u64)],
}

impl Annotations<'static> {
    /// A message statement without annotations.
    pub const NONE: Annotations<'static> = Annotations {
        guard: &[],
        cost: 0,
        journal: &[],
        leak: &[],
    };
}

impl Annotations<'_> {
    /// Bits one frame leaks to `class` (several `@leak`s of one class add up).
    pub fn leak_bits(&self, class: ObserverClass) -> u64 {
        self.leak
            .iter()
            .filter(|(c, _)| *c == class)
            .fold(0u64, |sum, (_, bits)| sum.saturating_add(*bits))
    }
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

/// What one session may do under a node's [`Guard`]: the flow context its
/// `@cost`s are charged in, and the sender's capability set (`@guard`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The flow context (a channel, a relationship, a home).
    pub context: ContextId,
    /// The capabilities this session's sends may use; attenuate with
    /// [`CapabilitySet::meet`] before granting, never widen.
    pub capabilities: CapabilitySet,
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
pub(super) struct Shared {
    pub(super) flow: FlowBudgets,
    pub(super) leakage: LeakageBudgets,
    pub(super) journal: Option<Coupling>,
}

/// The journal `@journal` sends append to, and how their facts are made.
#[derive(Debug)]
pub(super) struct Coupling {
    pub(super) journal: Arc<Mutex<Journal>>,
    pub(super) facts: Box<dyn FactMaker>,
}

/// A node's guard: budgets and journal shared by every session it guards.
/// Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct Guard {
    shared: Arc<Mutex<Shared>>,
    pub(super) clock: Arc<dyn Clock>,
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave a half-charged
        // budget (charges are single assignments), so the state is usable.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The journal `@journal` sends append to, if any.
    pub fn journal(&self) -> Option<Arc<Mutex<Journal>>> {
        self.lock().journal.as_ref().map(|c| c.journal.clone())
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
        GuardedTransport::new(inner, self.clone(), context, peers, caps)
    }
}
