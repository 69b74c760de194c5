//! Session time: [`Time`], the clock every deadline is measured on, and
//! [`Timer`], a clock that can wake a task when a deadline passes.
//!
//! The session core never reads a clock of its own: a timeout body's
//! deadline is `transport.now() + duration`, and a receive inside the body
//! asks its transport to wake it when the deadline passes
//! ([`Transport::poll_deadline`](crate::Transport::poll_deadline)). So
//! whoever drives the transport decides what time it is: the node host's
//! driver (virtual time in the simulator, the process clock on a network),
//! or, in memory, a [`Timer`] (the process clock with a timer thread,
//! [`ThreadTimer`], unless the caller provides another).

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A point in the driver's monotonic time, in microseconds since an epoch
/// the driver chooses (virtual in the simulator, an `Instant` offset in
/// production).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(0);

    /// `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since the epoch.
    pub fn since_epoch(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `d` after the epoch (saturating at the end of time).
    pub fn from_duration(d: Duration) -> Self {
        Time::ZERO + d
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    /// Saturates at the end of time.
    fn add(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    /// Saturating: an earlier minus a later time is zero.
    fn sub(self, earlier: Time) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A clock that can wake a task at a deadline. The in-memory transport
/// takes one ([`MemoryTransport::set_timer`](crate::MemoryTransport::set_timer));
/// node transports get their time from the node's driver instead.
pub trait Timer: Send + Sync + fmt::Debug {
    /// Now, on this timer's clock.
    fn now(&self) -> Time;

    /// Ready once `deadline` has passed; otherwise arrange for `cx`'s
    /// waker to be woken when it does.
    fn poll_until(&self, cx: &mut Context<'_>, deadline: Time) -> Poll<()>;
}

/// A [`Timer`] moved by hand: deterministic tests of deadlines over the
/// in-memory transport.
#[derive(Debug, Default)]
pub struct ManualTimer {
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Time,
    waiting: Vec<(Time, Waker)>,
}

impl ManualTimer {
    /// A timer at [`Time::ZERO`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Move the clock forward by `d` and wake every task whose deadline
    /// passed.
    pub fn advance(&self, d: Duration) {
        let due: Vec<Waker> = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.now = s.now + d;
            let now = s.now;
            let (due, keep) = std::mem::take(&mut s.waiting)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            s.waiting = keep;
            due.into_iter().map(|(_, w)| w).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }
}

impl Timer for ManualTimer {
    fn now(&self) -> Time {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .now
    }

    fn poll_until(&self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.now >= deadline {
            return Poll::Ready(());
        }
        register(&mut s.waiting, deadline, cx.waker());
        Poll::Pending
    }
}

/// The process's monotonic clock with one background thread that wakes
/// deadline waiters: the in-memory transport's default [`Timer`]. It works
/// under any executor (no tokio time driver needed). The thread starts on
/// the first deadline that has to be waited for.
#[derive(Debug)]
pub struct ThreadTimer {
    epoch: std::time::Instant,
    waiting: Mutex<Vec<(Time, Waker)>>,
    changed: Condvar,
}

impl ThreadTimer {
    /// The process-wide instance.
    pub fn global() -> Arc<ThreadTimer> {
        static GLOBAL: OnceLock<Arc<ThreadTimer>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| {
            let timer = Arc::new(ThreadTimer {
                epoch: std::time::Instant::now(),
                waiting: Mutex::new(Vec::new()),
                changed: Condvar::new(),
            });
            let worker = Arc::clone(&timer);
            if let Err(e) = std::thread::Builder::new()
                .name("choreo-timer".into())
                .spawn(move || worker.run())
            {
                tracing::error!(error = %e, "cannot start the timer thread: in-memory deadlines will not pass");
            }
            timer
        }))
    }

    fn run(&self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = self.now();
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut *waiting)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            *waiting = keep;
            due.into_iter().for_each(|(_, w)| w.wake());
            waiting = match waiting.iter().map(|(t, _)| *t).min() {
                None => self
                    .changed
                    .wait(waiting)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(next) => {
                    self.changed
                        .wait_timeout(waiting, next - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl Timer for ThreadTimer {
    fn now(&self) -> Time {
        Time::from_micros(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn poll_until(&self, cx: &mut Context<'_>, deadline: Time) -> Poll<()> {
        if self.now() >= deadline {
            return Poll::Ready(());
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting
            .iter_mut()
            .find(|(t, w)| *t == deadline && w.will_wake(cx.waker()))
        {
            Some(slot) => slot.1.clone_from(cx.waker()),
            None => waiting.push((deadline, cx.waker().clone())),
        }
        self.changed.notify_one();
        Poll::Pending
    }
}

/// Most deadline waiters one clock keeps per session (a `par` with a
/// timeout in each branch needs a few). Beyond it the oldest registration
/// is woken early (a spurious wake-up: it polls again), so memory stays
/// bounded and no task is forgotten.
pub(crate) const MAX_WAITERS: usize = 64;

/// Add (`deadline`, `waker`) to `waiting`, replacing the registration of
/// the same task for the same deadline.
pub(crate) fn register(waiting: &mut Vec<(Time, Waker)>, deadline: Time, waker: &Waker) {
    if let Some(slot) = waiting
        .iter_mut()
        .find(|(t, w)| *t == deadline && w.will_wake(waker))
    {
        slot.1.clone_from(waker);
        return;
    }
    if waiting.len() >= MAX_WAITERS {
        let (_, oldest) = waiting.remove(0);
        oldest.wake();
    }
    waiting.push((deadline, waker.clone()));
}
