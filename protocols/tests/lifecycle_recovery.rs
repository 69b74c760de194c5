//! Social recovery on the generated endpoints, in memory, with a virtual
//! clock: approvals before the binding's delay are refused, a cancel inside
//! the window (from an account device, or from a guardian without the new
//! device taking part) stops the grant, declines keep the window shut, and
//! after the window the grant commits by consensus of the guardians and
//! the new device rebuilds the account journal from what they send.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod lifecycle_support;

use std::sync::Mutex;

use aura_protocols::generated::{recovery, recovery_cancel, recovery_grant};
use aura_protocols::lifecycle::binding;
use aura_protocols::lifecycle::recovery::{
    self as rec, GrantOutcome, GrantServed, GuardianDesk, RecoveryRequest, RequestOutcome,
    WindowVerdict,
};
use aura_protocols::lifecycle::ManualClock;
use aura_protocols::lifecycle::{Clock, SignerIds};
use aura_protocols::recovery::Canceller;
use aura_protocols::ParticipantId;
use choreo_runtime::journal::{Journal, SigningKey};
use choreo_runtime::SessionId;
use lifecycle_support::{journal, settle, world, World};

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

fn new_device() -> SigningKey {
    SigningKey::from_bytes(&[77; 32])
}

fn request_of(w: &World) -> RecoveryRequest {
    RecoveryRequest {
        account: w.account().serialize().unwrap().try_into().unwrap(),
        new_device: new_device().verifying_key().to_bytes(),
        nonce: [5; 32],
    }
}

/// Run `Recovery` (guardians approve per `approve`) while `during` runs
/// beside it (it sees the desks and the clock). Returns the new device's
/// outcome and each guardian's verdict.
async fn run_window<F: std::future::Future<Output = ()>>(
    w: &World,
    desks: &[GuardianDesk],
    clock: &ManualClock,
    approve: [bool; 3],
    during: F,
) -> (RequestOutcome, Vec<WindowVerdict>) {
    let params = recovery::Params { g: 3 };
    let mut s = recovery::sessions(&params, SessionId([50; 16]))
        .unwrap()
        .into_iter();
    let (sn, s0, s1, s2) = (
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
    );
    let keys = w.guardian_keys();
    let (out, v0, v1, v2, ()) = tokio::join!(
        rec::request(sn, params, request_of(w), &keys, 2),
        rec::answer(
            s0,
            params,
            &desks[0],
            &w.guardian_journals[0],
            clock,
            approve[0]
        ),
        rec::answer(
            s1,
            params,
            &desks[1],
            &w.guardian_journals[1],
            clock,
            approve[1]
        ),
        rec::answer(
            s2,
            params,
            &desks[2],
            &w.guardian_journals[2],
            clock,
            approve[2]
        ),
        during,
    );
    (out.unwrap(), vec![v0.unwrap(), v1.unwrap(), v2.unwrap()])
}

/// `key` cancels, straight to every guardian.
async fn cancel_to_all(w: &World, desks: &[GuardianDesk], clock: &ManualClock, key: &SigningKey) {
    let params = recovery_cancel::Params { g: 3 };
    let mut s = recovery_cancel::sessions(&params, SessionId([60; 16]))
        .unwrap()
        .into_iter();
    let (sc, s0, s1, s2) = (
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
    );
    let hash = request_of(w).hash().unwrap();
    let (noted, a, b, c) = tokio::join!(
        rec::cancel(sc, params, key, hash),
        rec::take_cancel(s0, params, &desks[0], &w.guardian_journals[0], clock),
        rec::take_cancel(s1, params, &desks[1], &w.guardian_journals[1], clock),
        rec::take_cancel(s2, params, &desks[2], &w.guardian_journals[2], clock),
    );
    assert_eq!(noted.unwrap(), 3);
    for by in [a, b, c] {
        by.unwrap();
    }
}

/// The grant with guardians 1 and 2 (participants 4, 5) named as
/// signers; guardian 3 witnesses.
async fn run_grant(
    w: &World,
    desks: &[GuardianDesk],
    clock: &ManualClock,
    prestate: [u8; 32],
    device_journal: &Mutex<Journal>,
) -> (GrantOutcome, Vec<GrantServed>) {
    let params = recovery_grant::Params { g: 3 };
    let mut s = recovery_grant::sessions(&params, SessionId([70; 16]))
        .unwrap()
        .into_iter();
    let sn = s.next().unwrap();
    let (g0, g1, g2) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let mut cores = [w.core(4), w.core(5), w.core(6)];
    let [c0, c1, c2] = &mut cores;
    let (mut r0, mut r1, mut r2) = (common::rng(30), common::rng(31), common::rng(32));
    let ids = SignerIds(vec![ParticipantId(4), ParticipantId(5), ParticipantId(6)]);
    let named = [ParticipantId(4), ParticipantId(5)].into_iter().collect();
    let serve = |k: usize| {
        (
            &desks[k],
            &w.guardian_journals[k],
            ParticipantId(4 + k as u16),
        )
    };
    let ((d0, j0, p0), (d1, j1, p1), (d2, j2, p2)) = (serve(0), serve(1), serve(2));
    let (out, a, b, c) = tokio::join!(
        rec::grant(
            sn,
            params,
            request_of(w),
            prestate,
            w.shares[3].public_key_package(),
            &ids,
            &named,
            w.shares[3].epoch(),
            device_journal,
        ),
        rec::serve_grant(g0, params, d0, j0, c0, p0, clock, &mut r0),
        rec::serve_grant(g1, params, d1, j1, c1, p1, clock, &mut r1),
        rec::serve_grant(g2, params, d2, j2, c2, p2, clock, &mut r2),
    );
    (out.unwrap(), vec![a.unwrap(), b.unwrap(), c.unwrap()])
}

fn prestate_of(out: &RequestOutcome) -> [u8; 32] {
    match out {
        RequestOutcome::Verdicts { prestate, .. } => *prestate,
        RequestOutcome::Declined(d) => panic!("declined: {d:?}"),
    }
}

#[tokio::test]
async fn after_the_window_the_grant_commits_and_the_new_device_rebuilds_the_journal() {
    let w = world(1, DAY).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let hash = request_of(&w).hash().unwrap();
    let (out, verdicts) = run_window(&w, &desks, &clock, [true; 3], async {
        settle(|| desks.iter().all(|d| d.has_window(&hash))).await;
        // One second short of the binding's 24 h nothing is decided…
        clock.advance_to(DAY - 1);
        assert!(desks
            .iter()
            .all(|d| d.may_sign(&hash, clock.now_secs()).unwrap().is_err()));
        clock.advance_to(DAY);
    })
    .await;
    for v in &verdicts {
        assert_eq!(*v, WindowVerdict::Ready { closed_at: DAY });
    }
    let device_journal = journal();
    let (grant, signed) = run_grant(&w, &desks, &clock, prestate_of(&out), &device_journal).await;
    assert_eq!(
        signed,
        [
            GrantServed::Signed,
            GrantServed::Signed,
            GrantServed::Witnessed
        ]
    );
    let GrantOutcome::Granted { certificate, facts } = grant else {
        panic!("grant refused: {grant:?}");
    };
    assert_eq!(certificate.group_key(), &w.account());
    assert!(facts >= 3);
    // The new device holds every binding, verified, from the journal alone.
    assert_eq!(
        binding::guardians(&device_journal, &w.account())
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn approvals_before_the_delay_are_refused() {
    let w = world(2, 2 * HOUR).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let hash = request_of(&w).hash().unwrap();
    let device_journal = journal();
    let mut early = None;
    let (out, verdicts) = run_window(&w, &desks, &clock, [true; 3], async {
        settle(|| desks.iter().all(|d| d.has_window(&hash))).await;
        clock.advance_to(HOUR);
        // An hour in, the grant is attempted: every signer refuses.
        early = Some(run_grant(&w, &desks, &clock, [0; 32], &device_journal).await);
        clock.advance_to(2 * HOUR);
    })
    .await;
    let (grant, signed) = early.unwrap();
    match grant {
        GrantOutcome::Refused(r) => {
            assert_eq!(r.len(), 2);
            assert!(
                r.iter().all(|(_, why)| why.contains("3600 s left")),
                "{r:?}"
            );
        }
        GrantOutcome::Granted { .. } => panic!("granted before the delay"),
    }
    assert!(signed[..2]
        .iter()
        .all(|s| matches!(s, GrantServed::Refused(_))));
    assert!(binding::guardians(&device_journal, &w.account())
        .unwrap()
        .is_empty());
    // The refusal did not cancel anything: after the delay they are ready.
    assert!(matches!(out, RequestOutcome::Verdicts { .. }));
    assert!(verdicts
        .iter()
        .all(|v| matches!(v, WindowVerdict::Ready { .. })));
}

#[tokio::test]
async fn a_cancel_from_an_account_device_inside_the_window_stops_the_grant() {
    let w = world(3, DAY).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let hash = request_of(&w).hash().unwrap();
    let (out, verdicts) = run_window(&w, &desks, &clock, [true; 3], async {
        settle(|| desks.iter().all(|d| d.has_window(&hash))).await;
        clock.advance_to(3 * HOUR);
        cancel_to_all(&w, &desks, &clock, &w.devices[1]).await;
        clock.advance_to(DAY);
    })
    .await;
    let device = w.devices[1].verifying_key().to_bytes();
    for (v, d) in verdicts.iter().zip(&desks) {
        assert!(
            matches!(v, WindowVerdict::Refused(why) if why.contains("cancelled")),
            "{v:?}"
        );
        assert_eq!(
            d.cancelled_by(&hash).unwrap(),
            Some(Canceller::AccountDevice(aura_protocols::NodeId(device)))
        );
    }
    let device_journal = journal();
    let (grant, _) = run_grant(&w, &desks, &clock, prestate_of(&out), &device_journal).await;
    assert!(matches!(grant, GrantOutcome::Refused(_)));
}

#[tokio::test]
async fn a_guardian_cancels_to_every_guardian_without_the_new_device() {
    let w = world(4, DAY).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let hash = request_of(&w).hash().unwrap();
    // The new device takes no part in the cancel: its sessions are the
    // recovery session only (as if partitioned from everything else).
    let (_, verdicts) = run_window(&w, &desks, &clock, [true; 3], async {
        settle(|| desks.iter().all(|d| d.has_window(&hash))).await;
        clock.advance_to(20 * HOUR);
        cancel_to_all(&w, &desks, &clock, &w.guardians[2]).await;
        clock.advance_to(DAY);
    })
    .await;
    for (v, d) in verdicts.iter().zip(&desks) {
        assert!(matches!(v, WindowVerdict::Refused(_)), "{v:?}");
        assert_eq!(
            d.cancelled_by(&hash).unwrap(),
            Some(Canceller::Guardian(ParticipantId(6)))
        );
    }
}

#[tokio::test]
async fn a_cancel_from_a_stranger_is_refused() {
    let w = world(5, DAY).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let params = recovery_cancel::Params { g: 3 };
    let mut s = recovery_cancel::sessions(&params, SessionId([61; 16]))
        .unwrap()
        .into_iter();
    let (sc, s0) = (s.next().unwrap(), s.next().unwrap());
    let stranger = SigningKey::from_bytes(&[99; 32]);
    let hash = request_of(&w).hash().unwrap();
    let (_, taken) = tokio::join!(
        rec::cancel(sc, params, &stranger, hash),
        rec::take_cancel(s0, params, &desks[0], &w.guardian_journals[0], &clock),
    );
    assert!(taken.is_err());
    assert_eq!(desks[0].cancelled_by(&hash).unwrap(), None);
}

#[tokio::test]
async fn guardians_that_decline_keep_the_window_shut() {
    let w = world(6, DAY).await;
    let desks: Vec<_> = (0..3).map(|g| w.desk(g)).collect();
    let clock = ManualClock::default();
    let (out, verdicts) = run_window(&w, &desks, &clock, [true, false, false], async {}).await;
    match out {
        RequestOutcome::Declined(d) => assert_eq!(d.len(), 2),
        other => panic!("window opened with one approval: {other:?}"),
    }
    assert!(verdicts
        .iter()
        .all(|v| matches!(v, WindowVerdict::Refused(_))));
    let hash = request_of(&w).hash().unwrap();
    assert!(desks.iter().all(|d| !d.has_window(&hash)));
    clock.advance_to(2 * DAY);
    let device_journal = journal();
    let (grant, _) = run_grant(&w, &desks, &clock, [0; 32], &device_journal).await;
    assert!(matches!(grant, GrantOutcome::Refused(_)));
}
