//! Guardian binding on the generated endpoints, in memory: the guardian
//! signs the proposal, the account's signers certify it by threshold
//! signature, and every party ends with the same binding fact — carrying
//! the recovery delay both signed — in its own journal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Mutex;

use aura_protocols::generated::guardian_binding::{sessions, Params};
use aura_protocols::lifecycle::binding::{
    self, AccountSide, BindingProposal, GuardianAcceptance, GuardianBound, WitnessSide,
};
use aura_protocols::lifecycle::SignerIds;
use aura_protocols::recovery::RecoveryDelay;
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, ParticipantId};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::SessionId;

const SCOPE: ScopeId = ScopeId([3; 32]);

fn journal() -> Mutex<Journal> {
    Mutex::new(Journal::open(SCOPE, MemoryStore::new()).unwrap())
}

struct Account {
    shares: Vec<AuthorityKeyShare>,
    devices: Vec<SigningKey>,
    journals: Vec<Mutex<Journal>>,
}

fn account(seed: u64) -> Account {
    Account {
        shares: common::run_dkg(3, 2, seed),
        devices: (1..=3u8)
            .map(|k| SigningKey::from_bytes(&[k; 32]))
            .collect(),
        journals: (0..3).map(|_| journal()).collect(),
    }
}

/// Run one binding: device 0 is the account role, devices 0 and 1 sign,
/// all three witness. `guardian_key` answers; `decide` is its policy.
/// Returns (account, guardian, signers, witnesses) results.
async fn bind(
    a: &Account,
    proposal: BindingProposal,
    guardian_key: &SigningKey,
    guardian_journal: &Mutex<Journal>,
    accept: bool,
) -> (
    Result<Option<GuardianBound>, String>,
    Result<Option<GuardianBound>, String>,
    Vec<Result<bool, String>>,
    Vec<Result<Option<GuardianBound>, String>>,
) {
    let params = Params { t: 2, n: 3 };
    let mut s = sessions(&params, SessionId([7; 16])).unwrap().into_iter();
    let (sa, sg) = (s.next().unwrap(), s.next().unwrap());
    let (ss0, ss1) = (s.next().unwrap(), s.next().unwrap());
    let (sw0, sw1, sw2) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let authority = a.shares[0].group_key();
    let side = |k: usize| WitnessSide {
        authority,
        journal: &a.journals[k],
        device: &a.devices[k],
    };
    let mut cores: Vec<_> = a.shares[..2]
        .iter()
        .map(|s| Witness::new(s.clone(), MemorySigningRecord::default()))
        .collect();
    let (c0, c1) = cores.split_at_mut(1);
    let (mut r0, mut r1) = (common::rng(10), common::rng(11));
    let account = binding::propose(
        sa,
        params,
        AccountSide {
            public: a.shares[0].public_key_package(),
            epoch: a.shares[0].epoch(),
            signers: SignerIds(vec![ParticipantId(1), ParticipantId(2)]),
            journal: &a.journals[0],
            device: &a.devices[0],
        },
        proposal,
    );
    let guardian = binding::guard(sg, params, guardian_key, guardian_journal, |_| {
        if accept {
            Ok(())
        } else {
            Err(aura_protocols::wire::AbortReason {
                code: 9,
                detail: "not my friend".into(),
            })
        }
    });
    let (ra, rg, s0, s1, w0, w1, w2) = tokio::join!(
        account,
        guardian,
        binding::sign(ss0, params, side(0), &mut c0[0], &mut r0),
        binding::sign(ss1, params, side(1), &mut c1[0], &mut r1),
        binding::watch(sw0, params, side(0)),
        binding::watch(sw1, params, side(1)),
        binding::watch(sw2, params, side(2)),
    );
    let e = |e: aura_protocols::lifecycle::LifecycleError| e.to_string();
    (
        ra.map_err(e),
        rg.map_err(e),
        vec![s0.map_err(e), s1.map_err(e)],
        vec![w0.map_err(e), w1.map_err(e), w2.map_err(e)],
    )
}

#[tokio::test]
async fn both_parties_sign_and_every_journal_holds_the_binding_with_its_delay() {
    let a = account(1);
    let guardian = SigningKey::from_bytes(&[40; 32]);
    let gj = journal();
    let authority = a.shares[0].group_key();
    let mut proposal = BindingProposal::new(&authority, &guardian, [1; 32]).unwrap();
    proposal.recovery_delay_secs = 2 * 3600;
    let (ra, rg, signers, witnesses) = bind(&a, proposal.clone(), &guardian, &gj, true).await;
    let bound = ra.unwrap().expect("bound");
    assert_eq!(rg.unwrap().as_ref(), Some(&bound));
    assert!(signers.into_iter().all(|s| s.unwrap()));
    for w in witnesses {
        assert_eq!(w.unwrap().as_ref(), Some(&bound));
    }
    // Both signatures check out, and the delay both signed is the one the
    // journal reducer reports, in every replica and at the guardian.
    assert_eq!(bound.verify(&authority).unwrap().secs(), 2 * 3600);
    let key = guardian.verifying_key().to_bytes();
    for j in a.journals.iter().chain([&gj]) {
        let set = binding::guardians(j, &authority).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(
            set.get(&key).unwrap().1,
            RecoveryDelay::from_secs(7200).unwrap()
        );
    }
    // Every replica agrees on the next binding's prestate.
    let p: Vec<_> = a
        .journals
        .iter()
        .map(|j| {
            binding::guardians(j, &authority)
                .unwrap()
                .prestate(&authority)
                .unwrap()
        })
        .collect();
    assert!(p.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn a_declined_invitation_binds_nothing() {
    let a = account(2);
    let guardian = SigningKey::from_bytes(&[41; 32]);
    let gj = journal();
    let authority = a.shares[0].group_key();
    let proposal = BindingProposal::new(&authority, &guardian, [2; 32]).unwrap();
    let (ra, rg, signers, witnesses) = bind(&a, proposal, &guardian, &gj, false).await;
    assert_eq!(ra.unwrap(), None);
    assert_eq!(rg.unwrap(), None);
    assert!(signers.into_iter().all(|s| !s.unwrap()));
    assert!(witnesses.into_iter().all(|w| w.unwrap().is_none()));
    for j in a.journals.iter().chain([&gj]) {
        assert!(binding::guardians(j, &authority).unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_guardian_declines_a_delay_outside_one_hour_to_thirty_days() {
    let a = account(3);
    let guardian = SigningKey::from_bytes(&[42; 32]);
    let gj = journal();
    let authority = a.shares[0].group_key();
    let mut proposal = BindingProposal::new(&authority, &guardian, [3; 32]).unwrap();
    proposal.recovery_delay_secs = 600;
    let (ra, rg, _, _) = bind(&a, proposal, &guardian, &gj, true).await;
    assert_eq!(ra.unwrap(), None);
    assert_eq!(rg.unwrap(), None);
}

#[test]
fn a_binding_fact_with_a_forged_guardian_signature_or_changed_delay_is_refused() {
    let a = account(4);
    let guardian = SigningKey::from_bytes(&[43; 32]);
    let gj = journal();
    let authority = a.shares[0].group_key();
    let proposal = BindingProposal::new(&authority, &guardian, [4; 32]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (ra, ..) = rt.block_on(bind(&a, proposal, &guardian, &gj, true));
    let bound = ra.unwrap().unwrap();
    assert!(bound.verify(&authority).is_ok());
    // Someone else's key signed the acceptance.
    let mut forged = bound.clone();
    forged.acceptance =
        GuardianAcceptance::sign(&bound.proposal, &SigningKey::from_bytes(&[66; 32])).unwrap();
    assert!(forged.verify(&authority).is_err());
    // The delay was changed after both signed.
    let mut shortened = bound.clone();
    shortened.proposal.recovery_delay_secs = 3600;
    assert!(shortened.verify(&authority).is_err());
    // Another authority's key does not verify the certificate.
    let other = common::run_dkg(3, 2, 99);
    assert!(bound.verify(&other[0].group_key()).is_err());
}
