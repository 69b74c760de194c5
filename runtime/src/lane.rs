//! Typed per-pair lanes: the in-memory fast lane of generated endpoints.
//!
//! Inside one process, a session's envelope machinery (labels checked
//! against a table, phases, payloads as type-erased values or bytes) does
//! work the types have already done. For a protocol that only sends,
//! receives, selects and branches between single roles (no `timeout`,
//! collective, guard annotation, `link` or `delegate`), the generated
//! `sessions()` therefore also gives every ordered pair of roles a lane: an
//! unbounded queue of one generated enum whose variants are the labels
//! that pair carries, payloads by value. The typestates take their role's
//! lanes when they open ([`crate::Session::take_lanes`]) and send and
//! receive on them directly: the variant is the label, and the receiving
//! state matches on it.
//!
//! Everything else stays as on any transport: the [`Session`] is still
//! there (identity, roster, `finish`), a peer that goes away is a
//! transport error, a message nobody receives is an orphan at `finish`,
//! and a handoff puts the lanes back into the session so the endpoint's
//! next holder takes them over. A session made any other way (a node,
//! the simulator, a guard, a wire-encoded or hand-built memory network)
//! has no lanes, and the same typestates run the session operations.
//!
//! All endpoints of a network with lanes must run the generated
//! typestates: a session whose lanes are still attached refuses the
//! session operations ([`crate::MemoryTransport`]), so a hand-written
//! peer fails at once instead of waiting on the other channel. Build such
//! a peer's network with [`crate::memory::sessions`].
//!
//! # The queue under a lane
//!
//! A lane has exactly one sender and one receiver, so it does not sit on
//! tokio's multi-producer channel (a semaphore, a linked list of blocks
//! claimed with atomics, an atomic waker, per message). It is a
//! single-producer single-consumer unbounded queue in safe code: a
//! [`Mutex`] around a [`VecDeque`], one waker slot and two liveness flags,
//! shared by the two ends. The sender pushes under the lock (uncontended:
//! one compare-and-swap to take it, one swap to release it) and wakes the
//! receiver only if it is parked. The receiver keeps a private
//! [`VecDeque`]: when that is empty it takes the lock once and *swaps* the
//! whole shared queue for it, then pops messages that have already arrived
//! without touching the lock again; the two buffers trade places and keep
//! their capacity, so a long-running lane stops allocating. Order is
//! preserved (the private buffer is drained before the next swap).
//!
//! Fairness: a tokio channel charges every receive to tokio's cooperative
//! budget, so a receive loop that always finds a message still yields to
//! the scheduler (every 128 messages). A lane keeps the same promise with
//! its own count instead of tokio's thread-local budget (whose look-up
//! cost about a sixth of a lane message): after [`YIELD_EVERY`] messages
//! received in a row without the receiver having to wait, the next receive
//! yields once (wakes its own task and returns `Pending`) before it goes
//! on. The count is per lane, not per task: a task that also works other
//! tokio resources is not forced to yield earlier by the lane's receives,
//! and the lane works the same under any executor.
//!
//! Closing: dropping the sender marks the lane closed and wakes the
//! receiver, which still gets everything sent before and then `None`;
//! dropping the receiver discards what is queued and every later send.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, TransportError};
use crate::ids::{Label, RoleId};
use crate::session::Session;
use crate::transport::Transport;

/// What the two ends of a lane share.
struct Shared<E> {
    state: Mutex<State<E>>,
}

struct State<E> {
    /// Sent, not yet taken by the receiver (in order).
    queue: VecDeque<E>,
    /// The receiver's waker while it waits on an empty queue.
    waker: Option<Waker>,
    /// The sender has been dropped: once `queue` is drained, `recv` is `None`.
    closed: bool,
    /// The receiver has been dropped: sends are discarded.
    discarding: bool,
}

impl<E> Shared<E> {
    /// The state. No code that can panic runs under the lock except
    /// `VecDeque` growth and a waker clone; either leaves the state
    /// consistent, so a poisoned lock is simply taken over.
    #[inline(always)]
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending end of a lane.
pub struct LaneTx<E>(Arc<Shared<E>>);

/// Messages a receiver takes in a row without waiting before it yields to
/// the scheduler once (tokio's cooperative budget per task is also 128).
pub const YIELD_EVERY: u32 = 128;

/// The receiving end of a lane.
pub struct LaneRx<E> {
    shared: Arc<Shared<E>>,
    /// Messages already taken from the shared queue, in order.
    buffer: VecDeque<E>,
    /// Receives left before the next forced yield.
    budget: u32,
}

impl<E> fmt::Debug for LaneTx<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaneTx").finish_non_exhaustive()
    }
}

impl<E> fmt::Debug for LaneRx<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaneRx")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

/// A new lane carrying messages of type `E` (a generated enum of labels).
pub fn lane<E>() -> (LaneTx<E>, LaneRx<E>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            waker: None,
            closed: false,
            discarding: false,
        }),
    });
    (
        LaneTx(Arc::clone(&shared)),
        LaneRx {
            shared,
            buffer: VecDeque::new(),
            budget: YIELD_EVERY,
        },
    )
}

impl<E> LaneTx<E> {
    /// Hand `message` to the peer. Never waits. A peer that has gone away
    /// is not an error here (as on a network, absence is detected by whoever
    /// waits on it).
    #[inline(always)]
    pub fn send(&self, message: E) {
        let mut state = self.0.lock();
        if state.discarding {
            // The receiver is gone; `message` is dropped after the lock.
            drop(state);
            drop(message);
            return;
        }
        state.queue.push_back(message);
        let waker = state.waker.take();
        drop(state);
        // Woken outside the lock: a waker may run arbitrary code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<E> Drop for LaneTx<E> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<E> LaneRx<E> {
    /// The next message, or `None` once the peer is gone and everything it
    /// sent has been received.
    #[inline(always)]
    pub async fn recv(&mut self) -> Option<E> {
        // A `poll_fn` rather than a nested `async fn`: one state machine
        // less in every generated receive.
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    #[inline(always)]
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        if self.budget == 0 {
            // A long run of ready messages: let the other tasks run once.
            self.budget = YIELD_EVERY;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(message) = self.buffer.pop_front() {
            self.budget -= 1;
            return Poll::Ready(Some(message));
        }
        self.poll_shared(cx)
    }

    /// The private buffer is empty: take what the sender has queued, or park.
    #[inline(never)]
    fn poll_shared(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let mut state = self.shared.lock();
        if state.queue.is_empty() {
            if state.closed {
                return Poll::Ready(None);
            }
            // Parked under the same lock the sender pushes under, so a send
            // either is seen above or finds this waker: no lost wake-up.
            match &mut state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            drop(state);
            // Waiting is yielding: the run of ready messages starts again.
            self.budget = YIELD_EVERY;
            return Poll::Pending;
        }
        std::mem::swap(&mut state.queue, &mut self.buffer);
        drop(state);
        self.budget -= 1;
        Poll::Ready(self.buffer.pop_front())
    }

    /// A message that has already arrived, if any (without waiting).
    pub fn try_recv(&mut self) -> Option<E> {
        if let Some(message) = self.buffer.pop_front() {
            return Some(message);
        }
        let mut state = self.shared.lock();
        std::mem::swap(&mut state.queue, &mut self.buffer);
        drop(state);
        self.buffer.pop_front()
    }
}

impl<E> Drop for LaneRx<E> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.discarding = true;
        state.waker = None;
        let queued = std::mem::take(&mut state.queue);
        drop(state);
        // Payloads are dropped outside the lock.
        drop(queued);
    }
}

/// The error of a lane receive that got `got` where the local type expects
/// one of `expected` from `from` (a [`Error::ProtocolViolation`], as on the
/// session path).
#[cold]
#[inline(never)]
pub fn unexpected<T: Transport>(
    session: &Session<T>,
    from: RoleId,
    expected: &[Label],
    got: Label,
) -> Error {
    let protocol = session.protocol();
    Error::ProtocolViolation {
        role: protocol.role_name(from),
        expected: protocol.label_set(expected),
        got: format!("label {}", protocol.label_name(got)),
    }
}

/// The error of a lane receive whose peer `from` went away before sending
/// one of `expected` (an [`Error::Transport`], as on the session path).
#[cold]
#[inline(never)]
pub fn closed<T: Transport>(session: &Session<T>, from: RoleId, expected: &[Label]) -> Error {
    let protocol = session.protocol();
    Error::Transport {
        role: protocol.role_name(from),
        expected: protocol.label_set(expected),
        source: TransportError::Closed,
    }
}

/// The error of `finish` when `from` sent `got`, which the protocol does
/// not account for (an orphan message).
#[cold]
#[inline(never)]
pub fn orphan<T: Transport>(session: &Session<T>, from: RoleId, got: Label) -> Error {
    unexpected(session, from, &[], got)
}
