//! A guardian's side of social recovery: the delay window taken from the
//! binding, cancels from anyone entitled to send them, and the rule that
//! decides whether the guardian may sign the recovery grant.
//!
//! The choreography (`choreo/recovery.choreo`) bounds the window by the
//! longest allowed delay (30 days) and every participant abandons the
//! window when the binding's delay has elapsed; what makes the delay and a
//! cancel binding is this state machine: a guardian signs the grant only
//! when the delay from the binding has fully passed *and* it has seen no
//! cancel. Cancels travel directly from every account device and every
//! guardian to every guardian, so no single party (in particular not the
//! requesting device, which may be the attacker) can keep a cancel from
//! the guardians.
//!
//! Time is an argument (seconds on the caller's clock); nothing here reads
//! a clock.

use serde::{Deserialize, Serialize};

use crate::error::{Result, Usage};

/// The recovery delay agreed in a guardian binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecoveryDelay(u64);

impl RecoveryDelay {
    /// One hour: the shortest delay a binding may set.
    pub const MIN_SECS: u64 = 3_600;
    /// Thirty days: the longest.
    pub const MAX_SECS: u64 = 30 * 24 * 3_600;
    /// Twenty-four hours: the default.
    pub const DEFAULT: RecoveryDelay = RecoveryDelay(24 * 3_600);

    /// A delay of `secs` seconds, if within [1 h, 30 days].
    pub fn from_secs(secs: u64) -> Result<Self> {
        if (Self::MIN_SECS..=Self::MAX_SECS).contains(&secs) {
            Ok(RecoveryDelay(secs))
        } else {
            Err(Usage::RecoveryDelayOutOfRange { secs }.into())
        }
    }

    /// The delay in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }
}

impl Default for RecoveryDelay {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Who a cancel came from (the participant its link is authenticated to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Canceller {
    /// A device of the account being recovered.
    AccountDevice(crate::roster::NodeId),
    /// A guardian of the account.
    Guardian(crate::error::ParticipantId),
}

/// A guardian's answer to a recovery request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuardianAnswer {
    /// Approve (signed, bound to the prestate).
    Approve(crate::wire::RecoveryApproval),
    /// Decline, with a reason.
    Decline(crate::wire::AbortReason),
}

/// Why a guardian will not sign the grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantRefusal {
    /// The delay window has not passed yet.
    #[error("the recovery delay has {remaining_secs} s left")]
    DelayNotOver {
        /// Seconds until the window closes.
        remaining_secs: u64,
    },
    /// The recovery was cancelled during the window.
    #[error("the recovery was cancelled by {0:?}")]
    Cancelled(Canceller),
    /// This guardian declined the request.
    #[error("this guardian declined the request")]
    Declined,
}

/// One guardian's view of one recovery request, from the moment the
/// delay window opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardianWindow {
    opened_at: u64,
    delay: RecoveryDelay,
    declined: bool,
    cancelled: Option<Canceller>,
}

impl GuardianWindow {
    /// The window opened at `opened_at` (seconds) with the binding's delay.
    pub fn open(opened_at: u64, delay: RecoveryDelay, approved: bool) -> Self {
        GuardianWindow {
            opened_at,
            delay,
            declined: !approved,
            cancelled: None,
        }
    }

    /// When the window closes.
    pub fn closes_at(&self) -> u64 {
        self.opened_at.saturating_add(self.delay.secs())
    }

    /// A cancel arrived (at any time: a cancel after the window is still
    /// honoured until the grant is signed). The first canceller is kept.
    pub fn cancel(&mut self, by: Canceller) {
        self.cancelled.get_or_insert(by);
    }

    /// Whether this guardian may sign the recovery grant at `now`.
    pub fn may_sign_grant(&self, now: u64) -> std::result::Result<(), GrantRefusal> {
        if self.declined {
            return Err(GrantRefusal::Declined);
        }
        if let Some(by) = self.cancelled {
            return Err(GrantRefusal::Cancelled(by));
        }
        let closes = self.closes_at();
        if now < closes {
            return Err(GrantRefusal::DelayNotOver {
                remaining_secs: closes - now,
            });
        }
        Ok(())
    }
}
