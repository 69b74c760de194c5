//! Flow and leakage budgets: token buckets on an injected clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::denial::ObserverClass;

/// How a budget refills.
///
/// **Refill policy** (token bucket): a budget holds at most `capacity`
/// units and starts full; it regains `refill_per_sec` units per second of
/// the guard's [`Clock`], continuously (credit accrues in whole units; the
/// fractional remainder is kept, not lost), up to `capacity`. A charge
/// needs the whole cost available at once; a denied charge takes nothing.
/// `refill_per_sec = 0` makes a one-shot allowance that never refills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPolicy {
    /// Largest balance (and the starting balance).
    pub capacity: u64,
    /// Units regained per second.
    pub refill_per_sec: u64,
}

impl BudgetPolicy {
    /// A budget that never runs out (for contexts without limits).
    pub const UNLIMITED: BudgetPolicy = BudgetPolicy {
        capacity: u64::MAX,
        refill_per_sec: 0,
    };
}

/// Monotonic time for refills, in microseconds. Injected, so tests and the
/// simulator control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since an arbitrary fixed origin; never decreases.
    fn now_micros(&self) -> u64;
}

/// The process's monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// A clock the caller moves by hand (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    /// Move time forward by `micros`.
    pub fn advance(&self, micros: u64) {
        self.now
            .fetch_add(micros, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One token bucket. The balance is a `u64` and every charge is checked
/// first, so it can never go below zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bucket {
    policy: BudgetPolicy,
    available: u64,
    last: u64,
}

impl Bucket {
    fn new(policy: BudgetPolicy, now: u64) -> Self {
        Bucket {
            policy,
            available: policy.capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: u64) {
        let rate = self.policy.refill_per_sec;
        if rate == 0 || now <= self.last {
            return;
        }
        let elapsed = u128::from(now - self.last);
        let gained = elapsed * u128::from(rate) / 1_000_000;
        if gained == 0 {
            return;
        }
        let room = self.policy.capacity - self.available;
        if gained >= u128::from(room) {
            self.available = self.policy.capacity;
            self.last = now;
        } else {
            // Keep the fraction of a unit not yet earned.
            self.available += gained as u64;
            self.last += u64::try_from(gained * 1_000_000 / u128::from(rate)).unwrap_or(u64::MAX);
        }
    }

    fn available(&mut self, now: u64) -> u64 {
        self.refill(now);
        self.available
    }

    fn charge(&mut self, cost: u64) {
        self.available = self.available.saturating_sub(cost);
    }

    fn refund(&mut self, cost: u64) {
        self.available = self
            .available
            .saturating_add(cost)
            .min(self.policy.capacity);
    }
}

/// A protocol context (a channel, a relationship, a home): flow budgets
/// are kept per context and peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContextId(pub [u8; 32]);

/// A peer's stable identity (its node key), not its place in one roster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerKey(pub [u8; 32]);

/// Flow budgets (`@cost`) per (context, peer), created on first use with
/// the default policy or a per-pair override.
#[derive(Debug)]
pub struct FlowBudgets {
    default: BudgetPolicy,
    overrides: BTreeMap<(ContextId, PeerKey), BudgetPolicy>,
    buckets: BTreeMap<(ContextId, PeerKey), Bucket>,
}

impl FlowBudgets {
    /// Every (context, peer) gets `default` unless overridden.
    pub fn new(default: BudgetPolicy) -> Self {
        FlowBudgets {
            default,
            overrides: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// Use `policy` for this pair (resets its bucket to full).
    pub fn set_policy(&mut self, context: ContextId, peer: PeerKey, policy: BudgetPolicy) {
        self.overrides.insert((context, peer), policy);
        self.buckets.remove(&(context, peer));
    }

    fn bucket(&mut self, context: ContextId, peer: PeerKey, now: u64) -> &mut Bucket {
        let policy = self
            .overrides
            .get(&(context, peer))
            .copied()
            .unwrap_or(self.default);
        self.buckets
            .entry((context, peer))
            .or_insert_with(|| Bucket::new(policy, now))
    }

    /// The balance now.
    pub fn available(&mut self, context: ContextId, peer: PeerKey, now: u64) -> u64 {
        self.bucket(context, peer, now).available(now)
    }

    pub(crate) fn charge(&mut self, context: ContextId, peer: PeerKey, cost: u64, now: u64) {
        self.bucket(context, peer, now).charge(cost);
    }

    pub(crate) fn refund(&mut self, context: ContextId, peer: PeerKey, cost: u64, now: u64) {
        self.bucket(context, peer, now).refund(cost);
    }
}

/// Leakage budgets, in bits, one per observer class (same refill policy
/// shape as flow budgets).
#[derive(Debug)]
pub struct LeakageBudgets {
    buckets: [Bucket; 4],
}

impl LeakageBudgets {
    /// `policy(class)` for each class.
    pub fn new(policy: impl Fn(ObserverClass) -> BudgetPolicy) -> Self {
        LeakageBudgets {
            buckets: ObserverClass::ALL.map(|c| Bucket::new(policy(c), 0)),
        }
    }

    fn bucket(&mut self, class: ObserverClass) -> Option<&mut Bucket> {
        self.buckets.get_mut(class.index())
    }

    /// Bits still allowed for `class` now.
    pub fn available(&mut self, class: ObserverClass, now: u64) -> u64 {
        self.bucket(class).map_or(0, |b| b.available(now))
    }

    pub(crate) fn charge(&mut self, class: ObserverClass, bits: u64) {
        if let Some(b) = self.bucket(class) {
            b.charge(bits);
        }
    }

    pub(crate) fn refund(&mut self, class: ObserverClass, bits: u64) {
        if let Some(b) = self.bucket(class) {
            b.refund(bits);
        }
    }
}
