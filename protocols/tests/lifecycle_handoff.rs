//! Guardian handoff through `delegate`, in memory: guardian 1 replaces its
//! phone; the old device signs a certificate naming the new one and
//! delegates its part of `GuardianHandoff`; the new device acknowledges to
//! the account as the guardian, and the account records the handoff fact.
//! A replica counts the new holder's recovery approval only once the fact
//! is in its journal, and the old device's approval no longer after; a
//! certificate not signed by the guardian moves nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod lifecycle_support;

use std::sync::Mutex;

use aura_protocols::generated::{guardian_handoff, recovery};
use aura_protocols::lifecycle::binding;
use aura_protocols::lifecycle::handoff::{self, sign_handoff, GuardianHandedOff};
use aura_protocols::lifecycle::recovery::{
    self as rec, GuardianDesk, RecoveryRequest, WindowVerdict,
};
use aura_protocols::lifecycle::ManualClock;
use aura_protocols::wire::HandoffCertificate;
use aura_protocols::ParticipantId;
use choreo_runtime::journal::{author_of, Fact, Journal, SigningKey};
use choreo_runtime::SessionId;
use lifecycle_support::{journal, world, World};

const DAY: u64 = 24 * 3600;

fn new_phone() -> SigningKey {
    SigningKey::from_bytes(&[90; 32])
}

fn key(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

fn account_bytes(w: &World) -> [u8; 32] {
    w.account().serialize().unwrap().try_into().unwrap()
}

/// Copy every fact of `from` into `to` (what journal sync does).
fn sync(from: &Mutex<Journal>, to: &Mutex<Journal>) {
    let facts: Vec<_> = from
        .lock()
        .unwrap()
        .facts()
        .iter()
        .map(|f| f.signed().clone())
        .collect();
    let mut to = to.lock().unwrap();
    for f in facts {
        let _ = to.accept(f);
    }
}

/// Run `GuardianHandoff`: device 1 (account), guardian 1's old phone,
/// its new phone. Returns the certificate each side ended with.
async fn hand_off(w: &World, phone_journal: &Mutex<Journal>) -> [HandoffCertificate; 3] {
    let params = guardian_handoff::Params::default();
    let mut s = guardian_handoff::sessions(&params, SessionId([80; 16]))
        .unwrap()
        .into_iter();
    let (sa, sg, ss) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let phone = new_phone();
    let account = w.account();
    let (a, g, n) = tokio::join!(
        handoff::account(
            sa,
            params,
            &account,
            key(&w.guardians[0]),
            key(&phone),
            &w.device_journals[0],
            &w.devices[0],
        ),
        handoff::guardian(sg, params, &w.guardians[0], key(&phone)),
        handoff::successor(ss, params, &phone, phone_journal),
    );
    [a.unwrap(), g.unwrap(), n.unwrap()]
}

/// Guardian `holder` (a key bound in the journals, or about to be) and
/// guardians 2 and 3 answer a recovery request; the holder and guardian 2
/// approve, guardian 3 declines. Returns guardian 2's and 3's verdicts.
async fn window_with(
    w: &World,
    holder: &SigningKey,
    holder_journal: &Mutex<Journal>,
) -> (WindowVerdict, WindowVerdict) {
    let keys = vec![key(holder), key(&w.guardians[1]), key(&w.guardians[2])];
    let desk = |k: &SigningKey| {
        GuardianDesk::new(
            k.clone(),
            w.account(),
            w.devices.iter().map(key).collect(),
            keys.iter()
                .enumerate()
                .map(|(i, k)| (*k, ParticipantId(4 + i as u16)))
                .collect(),
            2,
        )
    };
    let desks = [desk(holder), desk(&w.guardians[1]), desk(&w.guardians[2])];
    let clock = ManualClock::default();
    let params = recovery::Params { g: 3 };
    let mut s = recovery::sessions(&params, SessionId([81; 16]))
        .unwrap()
        .into_iter();
    let (sn, s0, s1, s2) = (
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
    );
    let request = RecoveryRequest {
        account: account_bytes(w),
        new_device: [77; 32],
        nonce: [5; 32],
    };
    let hash = request.hash().unwrap();
    let (out, _v0, v1, v2, ()) = tokio::join!(
        rec::request(sn, params, request, &keys, 2),
        rec::answer(s0, params, &desks[0], holder_journal, &clock, true),
        rec::answer(s1, params, &desks[1], &w.guardian_journals[1], &clock, true),
        rec::answer(
            s2,
            params,
            &desks[2],
            &w.guardian_journals[2],
            &clock,
            false
        ),
        async {
            // Let every guardian open its window if it will, then pass
            // the delay (a refused window does not wait for the clock).
            for _ in 0..10_000 {
                if desks.iter().all(|d| d.has_window(&hash)) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            clock.advance_to(DAY);
        },
    );
    out.unwrap();
    (v1.unwrap(), v2.unwrap())
}

#[tokio::test]
async fn the_new_phone_answers_for_the_guardian_and_every_side_holds_the_same_certificate() {
    let w = world(11, DAY).await;
    let phone_journal = journal();
    let [a, g, n] = hand_off(&w, &phone_journal).await;
    assert_eq!(a, g);
    assert_eq!(g, n);
    assert_eq!(a.from_device, key(&w.guardians[0]));
    assert_eq!(a.to_device, key(&new_phone()));
    // The account's journal now shows the binding held by the new phone.
    let set = binding::guardians(&w.device_journals[0], &w.account()).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.get(&key(&new_phone())).is_some());
    assert!(set.get(&key(&w.guardians[0])).is_none());
}

#[tokio::test]
async fn a_replica_counts_the_new_holders_approval_only_after_the_handoff_fact() {
    let w = world(12, DAY).await;
    let phone_journal = journal();
    hand_off(&w, &phone_journal).await;
    // The new phone has the account journal (bindings + the handoff).
    sync(&w.device_journals[0], &phone_journal);

    // Guardians 2 and 3 have not seen the handoff yet: the guardian set
    // their prestate hashes still has guardian 1's old key, so the new
    // phone's approval (bound to the prestate with the handoff) never
    // combines with theirs, and no window opens.
    let (v1, v2) = window_with(&w, &new_phone(), &phone_journal).await;
    assert!(matches!(v1, WindowVerdict::Refused(_)), "{v1:?}");
    assert!(matches!(v2, WindowVerdict::Refused(_)), "{v2:?}");

    // After journal sync it does, and the window opens and passes.
    for g in 1..3 {
        sync(&w.device_journals[0], &w.guardian_journals[g]);
    }
    let (v1, _) = window_with(&w, &new_phone(), &phone_journal).await;
    assert_eq!(v1, WindowVerdict::Ready { closed_at: DAY });
}

#[tokio::test]
async fn after_the_handoff_a_replica_no_longer_counts_the_old_phones_approval() {
    let w = world(13, DAY).await;
    // The old phone keeps a journal from before the handoff (say it was
    // stolen): it still thinks it is bound, and approves.
    let stale = journal();
    sync(&w.guardian_journals[0], &stale);
    let phone_journal = journal();
    hand_off(&w, &phone_journal).await;
    for g in 1..3 {
        sync(&w.device_journals[0], &w.guardian_journals[g]);
    }
    let old = w.guardians[0].clone();
    let (v1, _) = window_with(&w, &old, &stale).await;
    assert!(matches!(v1, WindowVerdict::Refused(_)), "{v1:?}");
}

#[tokio::test]
async fn a_certificate_the_guardian_did_not_sign_moves_nothing() {
    let w = world(14, DAY).await;
    let thief = SigningKey::from_bytes(&[66; 32]);
    // Signed by the thief, claiming to come from guardian 1.
    let mut forged = sign_handoff(account_bytes(&w), &thief, key(&thief));
    forged.from_device = key(&w.guardians[0]);
    assert!(!handoff::verify_handoff(&forged));
    {
        let mut j = w.guardian_journals[1].lock().unwrap();
        let fact = Fact::new(j.scope(), author_of(&thief), &GuardianHandedOff(forged))
            .unwrap()
            .sign(&thief)
            .unwrap();
        j.append(fact).unwrap();
    }
    let set = binding::guardians(&w.guardian_journals[1], &w.account()).unwrap();
    assert!(set.get(&key(&w.guardians[0])).is_some());
    assert!(set.get(&key(&thief)).is_none());
    // A handoff the guardian did sign, but for another account, neither.
    let other = sign_handoff([9; 32], &w.guardians[0], key(&thief));
    {
        let mut j = w.guardian_journals[1].lock().unwrap();
        let fact = Fact::new(
            j.scope(),
            author_of(&w.guardians[0]),
            &GuardianHandedOff(other),
        )
        .unwrap()
        .sign(&w.guardians[0])
        .unwrap();
        j.append(fact).unwrap();
    }
    let set = binding::guardians(&w.guardian_journals[1], &w.account()).unwrap();
    assert!(set.get(&key(&w.guardians[0])).is_some());
}
