//! The dual window: a checkpoint at `G` with width `W` accepts
//! generations `G ..= G + 2W`; a routine bump may be proposed once
//! `gen − G ≥ W/2`.

use serde::{Deserialize, Serialize};

use crate::error::{Rejection, Result, Usage};

/// Default window width `W`.
pub const DEFAULT_WINDOW: u64 = 1024;

/// A checkpoint and its window width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Checkpoint base generation `G`.
    pub base: u64,
    /// Width `W` (positive, even).
    pub width: u64,
}

impl Window {
    /// A window at `base`; `width` must be positive and even.
    pub fn new(base: u64, width: u64) -> Result<Self> {
        if width == 0 || !width.is_multiple_of(2) {
            return Err(Usage::InvalidWindow(width).into());
        }
        Ok(Window { base, width })
    }

    /// `G + 2W`, saturating.
    pub fn top(&self) -> u64 {
        self.base.saturating_add(self.width.saturating_mul(2))
    }

    /// Whether `generation` lies in `G ..= G + 2W`.
    pub fn contains(&self, generation: u64) -> bool {
        generation >= self.base && generation <= self.top()
    }

    /// Accept or explain.
    pub fn check(&self, generation: u64) -> Result<(), Rejection> {
        if self.contains(generation) {
            Ok(())
        } else {
            Err(Rejection::OutsideWindow {
                generation,
                base: self.base,
                top: self.top(),
            })
        }
    }

    /// Whether a routine bump may be proposed having seen `generation`.
    pub fn routine_bump_allowed(&self, generation: u64) -> bool {
        generation
            .checked_sub(self.base)
            .is_some_and(|d| d >= self.width / 2)
    }
}
