//! The guard chain: nothing leaves a node unless it passes, in order,
//!
//! 1. **capability** (`@guard("cap")`): the sender's [`CapabilitySet`]
//!    must hold `cap`. Sets change only by attenuation (meet), so a
//!    capability once dropped cannot come back;
//! 2. **flow budget** (`@cost(n)`): `n` units charged to (context,
//!    receiver) ([`FlowBudgets`], token buckets refilled on the guard's
//!    [`Clock`] — the refill policy is documented on [`BudgetPolicy`]);
//! 3. **journal coupling** (`@journal("fact")`): the node's [`FactMaker`]
//!    builds the fact, and the fact is appended durably *before* the
//!    message is handed to the transport; if the hand-over fails the fact
//!    is taken back (see [`Journal::append_coupled`](crate::journal::Journal::append_coupled));
//! 4. **leakage** (`@leak(class, bits)`): bits charged per
//!    [`ObserverClass`] ([`LeakageBudgets`]).
//!
//! The first denial is returned as [`Error::Denied`](crate::Error::Denied):
//! nothing reaches the transport, nothing is appended, nothing is charged.
//! Budget checks and charges happen under one lock, so concurrent sends
//! can never overdraw a budget (balances are unsigned and checked before
//! every charge).
//!
//! **What an observer can still see.** On the network a denied send is
//! exactly a send never attempted: no frame, no retransmission, no change
//! to link sequence numbers. Locally, every guard is evaluated on every
//! send (including building and signing the `@journal` fact) before the
//! decision, so allow and deny do the same work up to that point; after it
//! an allowed send also appends (an fsync with the durable store), charges
//! and hands the frame over, so a process that can time the caller sees a
//! denied send return sooner. The caller itself learns which guard refused.
//!
//! ## Contract for generated code
//!
//! For an annotated message statement the generator emits the guarded
//! form of the send with the statement's [`Annotations`]:
//!
//! ```text
//! chan.session.send_guarded(GUARDIAN, INVITE, &m.0, &rt::guard::Annotations {
//!     guard: &["guardian:invite"],
//!     cost: 1,
//!     journal: &[],
//!     leak: &[(rt::guard::ObserverClass::Relationship, 8)],
//! }).await?;
//! ```
//!
//! (`send_all_guarded`, `send_each_guarded`, `exchange_guarded` for the
//! collective forms; a statement's frames pass or fail together). These
//! exist on `Session<GuardedTransport<T>>` only, and a role with annotated
//! sends opens only on such a session, so the chain cannot be skipped.
//! The session's transport is wrapped by [`Guard::wrap`] (or a node's
//! `open_guarded_session`); unannotated statements keep calling `send`,
//! which passes straight through.

mod budget;
mod capability;
mod chain;
mod memory_handover;
mod send;
mod transport;

pub use crate::denial::{Denial, ObserverClass};
pub use budget::{
    BudgetPolicy, Clock, ContextId, FlowBudgets, LeakageBudgets, ManualClock, PeerKey, SystemClock,
};
pub use capability::CapabilitySet;
pub use chain::{
    Annotations, FactMaker, Grant, Guard, GuardConfig, RecordSends, SendInfo, SendRecord,
};
pub use send::memory_sessions;
pub use transport::GuardedTransport;
