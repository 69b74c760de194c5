//! A guardian's recovery window: the delay comes from the binding, a
//! cancel from any account device or any guardian stops the grant, and a
//! guardian that declined never signs it.
#![allow(clippy::unwrap_used, clippy::panic)]

use aura_protocols::recovery::{Canceller, GrantRefusal, GuardianWindow, RecoveryDelay};
use aura_protocols::{Error, NodeId, ParticipantId, Usage};

const HOUR: u64 = 3_600;

#[test]
fn delay_comes_from_the_binding_within_one_hour_to_thirty_days() {
    assert_eq!(RecoveryDelay::default().secs(), 24 * HOUR);
    assert_eq!(RecoveryDelay::from_secs(HOUR).unwrap().secs(), HOUR);
    assert_eq!(
        RecoveryDelay::from_secs(720 * HOUR).unwrap().secs(),
        720 * HOUR
    );
    for bad in [0, HOUR - 1, 720 * HOUR + 1] {
        assert!(matches!(
            RecoveryDelay::from_secs(bad),
            Err(Error::Usage(Usage::RecoveryDelayOutOfRange { .. }))
        ));
    }
}

#[test]
fn grant_before_the_delay_ends_is_refused() {
    let delay = RecoveryDelay::from_secs(2 * HOUR).unwrap();
    let window = GuardianWindow::open(1_000, delay, true);
    assert_eq!(
        window.may_sign_grant(1_000 + 2 * HOUR - 1),
        Err(GrantRefusal::DelayNotOver { remaining_secs: 1 })
    );
    window.may_sign_grant(1_000 + 2 * HOUR).unwrap();
}

#[test]
fn cancel_from_an_account_device_or_a_guardian_stops_the_grant() {
    let delay = RecoveryDelay::default();
    for by in [
        Canceller::AccountDevice(NodeId([7; 32])),
        Canceller::Guardian(ParticipantId(2)),
    ] {
        let mut window = GuardianWindow::open(0, delay, true);
        window.cancel(by);
        // Even long after the window, the cancelled recovery is not granted.
        assert_eq!(
            window.may_sign_grant(delay.secs() * 10),
            Err(GrantRefusal::Cancelled(by))
        );
    }
}

#[test]
fn a_guardian_that_declined_never_signs_the_grant() {
    let window = GuardianWindow::open(0, RecoveryDelay::default(), false);
    assert_eq!(window.may_sign_grant(u64::MAX), Err(GrantRefusal::Declined));
}
