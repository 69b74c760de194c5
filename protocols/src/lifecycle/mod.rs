//! The account lifecycle as role logic on generated endpoints: binding
//! guardians ([`binding`]), social recovery ([`recovery`]), AMP channel
//! messaging ([`channel`]), channel epoch bumps ([`epoch`]), guardian handoff
//! through delegation ([`handoff`]), and the consensus fast path the lifecycle
//! protocols inline ([`fast_path`]).
//!
//! Each protocol's roles are `async fn`s that take a `choreo_runtime`
//! [`Session`](choreo_runtime::Session) (in memory, simulated or over
//! libp2p: the code is the same), open the generated endpoint of their role
//! and drive the crypto cores of this crate ([`crate::witness`],
//! [`crate::signing`], [`crate::recovery`], [`crate::amp`]) with what
//! arrives. Journals are shared as `&Mutex<Journal>`, locked for one
//! synchronous step at a time (never across an `.await`), as in
//! [`crate::journal_sync`].
//!
//! Blame follows the link: a family member's index in the session is
//! mapped to its participant id by the caller's roster binding
//! ([`SignerIds`]), never by a field the sender wrote.

pub mod binding;
pub mod channel;
pub mod epoch;
pub mod fast_path;
pub mod handoff;
pub mod recovery;

use std::sync::{Mutex, MutexGuard};

use choreo_runtime::journal::{FactError, Journal, JournalError};

pub use fast_path::SignerIds;

/// Why a lifecycle role stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The session failed: the peer vanished, or sent something the
    /// protocol does not allow at this point.
    #[error(transparent)]
    Session(#[from] choreo_runtime::Error),
    /// A crypto core refused a message (blaming its sender) or the local
    /// caller misused it.
    #[error(transparent)]
    Protocol(#[from] crate::Error),
    /// The journal refused a fact or failed to store it.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A fact could not be built, signed or decoded.
    #[error(transparent)]
    Fact(#[from] FactError),
    /// A peer's message was well-formed but wrong (bad signature, a
    /// statement that does not match what was agreed); it names the peer.
    #[error("{peer} sent an invalid {what}")]
    Invalid {
        /// Who sent it (as the session authenticated it).
        peer: String,
        /// What was wrong.
        what: &'static str,
    },
}

/// The clock a lifecycle role reads and waits on (seconds). The recovery
/// delay is measured on it: a node uses wall-clock time, a test or the
/// simulated demo a virtual clock that jumps.
pub trait Clock {
    /// Now, in seconds.
    fn now_secs(&self) -> u64;
    /// Resolves once `now_secs() >= secs`.
    fn sleep_until(
        &self,
        secs: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>;
}

/// A virtual [`Clock`] moved by hand: sleepers wake when it passes their
/// deadline. For tests and the simulated demo (no wall clock, no timers).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: std::cell::Cell<u64>,
    sleepers: std::cell::RefCell<Vec<std::task::Waker>>,
}

impl ManualClock {
    /// Move the clock forward to `secs` (never backwards) and wake every
    /// sleeper so it can check its deadline.
    pub fn advance_to(&self, secs: u64) {
        self.now.set(self.now.get().max(secs));
        for w in self.sleepers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> u64 {
        self.now.get()
    }

    fn sleep_until(
        &self,
        secs: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        Box::pin(std::future::poll_fn(move |cx| {
            if self.now.get() >= secs {
                std::task::Poll::Ready(())
            } else {
                self.sleepers.borrow_mut().push(cx.waker().clone());
                std::task::Poll::Pending
            }
        }))
    }
}

/// A shared clock is a clock (the demo hands one `Rc` to every guardian).
impl<C: Clock> Clock for std::rc::Rc<C> {
    fn now_secs(&self) -> u64 {
        (**self).now_secs()
    }

    fn sleep_until(
        &self,
        secs: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        (**self).sleep_until(secs)
    }
}

pub(crate) type LResult<T> = std::result::Result<T, LifecycleError>;

pub(crate) fn lock(journal: &Mutex<Journal>) -> LResult<MutexGuard<'_, Journal>> {
    journal.lock().map_err(|_| {
        JournalError::Usage("the journal lock is poisoned (a thread panicked holding it)".into())
            .into()
    })
}

/// SHA-256 of a domain tag and parts (each length-prefixed, so no two
/// different part lists hash alike).
pub(crate) fn digest(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(tag);
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}
