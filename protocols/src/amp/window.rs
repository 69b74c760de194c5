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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edges_of_the_default_window() {
        let w = Window::new(5000, DEFAULT_WINDOW).unwrap();
        assert!(w.contains(5000) && w.contains(5000 + 2048));
        assert!(!w.contains(4999) && !w.contains(5000 + 2049));
        assert!(!w.routine_bump_allowed(5511) && w.routine_bump_allowed(5512));
        assert!(
            !w.routine_bump_allowed(4000),
            "below G is never past half a window"
        );
    }

    proptest! {
        /// The window is exactly `[G, G + 2W]` (computed without overflow)
        /// and the bump rule is exactly `gen − G ≥ W/2`.
        #[test]
        fn window_matches_its_definition(base in any::<u64>(), half in 1..=u64::MAX / 4, generation in any::<u64>()) {
            let width = half * 2;
            let w = Window::new(base, width).unwrap();
            let (b, g, wd) = (u128::from(base), u128::from(generation), u128::from(width));
            let top = (b + 2 * wd).min(u128::from(u64::MAX));
            prop_assert_eq!(w.contains(generation), b <= g && g <= top);
            prop_assert_eq!(w.check(generation).is_ok(), w.contains(generation));
            prop_assert_eq!(w.routine_bump_allowed(generation), g >= b && g - b >= wd / 2);
        }

        #[test]
        fn window_near_the_base(base in 0..1u64 << 40, half in 1..4096u64, offset in 0..20_000u64) {
            let width = half * 2;
            let w = Window::new(base, width).unwrap();
            prop_assert_eq!(w.contains(base + offset), offset <= 2 * width);
            prop_assert!(!w.contains(base.wrapping_sub(1)) || base == 0);
        }
    }
}
