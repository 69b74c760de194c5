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
//! For an annotated message statement the generator emits one constant
//! and calls [`Session::send_guarded`](crate::Session::send_guarded)
//! instead of `send`:
//!
//! ```text
//! const ANN_INVITE: choreo_runtime::guard::Annotations<'static> = choreo_runtime::guard::Annotations {
//!     guard: Some("guardian:invite"),
//!     cost: 1,
//!     journal: None,
//!     leak: &[(choreo_runtime::guard::ObserverClass::Relationship, 8)],
//! };
//! s.send_guarded(GUARDIAN, INVITE, &proposal, &ANN_INVITE).await?;
//! ```
//!
//! The session's transport must then be a [`GuardedTransport`] (the node
//! wraps each session's transport with [`Guard::wrap`]); unannotated
//! statements keep calling `send`, which passes the chain with
//! [`Annotations::NONE`].

mod budget;
mod capability;
mod chain;

pub use budget::{
    BudgetPolicy, Clock, ContextId, FlowBudgets, LeakageBudgets, ManualClock, ObserverClass,
    PeerKey, SystemClock,
};
pub use capability::CapabilitySet;
pub use chain::{
    Annotations, Denial, FactMaker, Guard, GuardConfig, GuardedTransport, RecordSends, SendInfo,
    SendRecord,
};
