//! Helpers the generated typestates call (owned by code generation; the
//! session core does not use them).
//!
//! `timeout d { body } else { handler }`: every receive inside a body also
//! has a `*_until(deadline)` form that races the deadline and, when it
//! passes first, hands back the handler's state instead of the message.

use std::future::Future;

/// The clock deadlines are measured on (tokio's, so paused test time works).
pub use tokio::time::Instant;

/// The outcome of a receive raced against a `timeout` deadline.
#[derive(Debug)]
#[must_use = "either the message arrived or the handler must run"]
pub enum Timed<T, H> {
    /// The message arrived before the deadline.
    Done(T),
    /// The deadline passed first: run the handler (already in its phase).
    Expired(H),
}

/// Runs `f` until `deadline`; `None` if the deadline passed first. The
/// session's receives are cancel-safe: a message is consumed only in the
/// poll that returns it.
pub async fn until<F: Future>(deadline: Instant, f: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline, f).await.ok()
}
