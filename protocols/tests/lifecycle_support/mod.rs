//! Shared setup of the lifecycle tests: an account whose devices and
//! guardians hold shares of one key, guardians bound through the binding
//! protocol, journals, and a virtual clock on tokio's paused time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use aura_protocols::generated::guardian_binding;
use aura_protocols::lifecycle::binding::{self, AccountSide, BindingProposal, WitnessSide};
use aura_protocols::lifecycle::recovery::GuardianDesk;
use aura_protocols::lifecycle::SignerIds;
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, ParticipantId};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::SessionId;

pub const SCOPE: ScopeId = ScopeId([3; 32]);

pub fn journal() -> Mutex<Journal> {
    Mutex::new(Journal::open(SCOPE, MemoryStore::new()).unwrap())
}

/// Let the other futures of a `join!` run until `done()` holds.
pub async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the protocol did not reach the expected point");
}

/// Three devices (participants 1–3) and three guardians (participants
/// 4–6) hold shares of one 2-of-6 account key; every guardian is bound
/// through the binding protocol and every journal holds every binding.
pub struct World {
    pub shares: Vec<AuthorityKeyShare>,
    pub devices: Vec<SigningKey>,
    pub guardians: Vec<SigningKey>,
    pub device_journals: Vec<Mutex<Journal>>,
    pub guardian_journals: Vec<Mutex<Journal>>,
}

impl World {
    pub fn account(&self) -> frost_ed25519::VerifyingKey {
        self.shares[0].group_key()
    }

    pub fn guardian_keys(&self) -> Vec<[u8; 32]> {
        self.guardians
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect()
    }

    /// Guardian `g`'s desk (2 approvals open a window).
    pub fn desk(&self, g: usize) -> GuardianDesk {
        let devices: BTreeSet<[u8; 32]> = self
            .devices
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect();
        let guardians: BTreeMap<[u8; 32], ParticipantId> = self
            .guardian_keys()
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, ParticipantId(4 + i as u16)))
            .collect();
        GuardianDesk::new(
            self.guardians[g].clone(),
            self.account(),
            devices,
            guardians,
            2,
        )
    }

    /// A witness core for the share of participant `p`.
    pub fn core(&self, p: u16) -> Witness<MemorySigningRecord> {
        Witness::new(
            self.shares[usize::from(p) - 1].clone(),
            MemorySigningRecord::default(),
        )
    }
}

/// Bind guardian `g` with `delay_secs`: device 1 proposes, devices 1 and 2
/// sign, all three witness.
async fn bind(w: &World, g: usize, delay_secs: u64) {
    let params = guardian_binding::Params { t: 2, n: 3 };
    let mut s = guardian_binding::sessions(&params, SessionId([g as u8 + 1; 16]))
        .unwrap()
        .into_iter();
    let (sa, sg, s0, s1) = (
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
    );
    let (w0, w1, w2) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let authority = w.account();
    let side = |k: usize| WitnessSide {
        authority,
        journal: &w.device_journals[k],
        device: &w.devices[k],
    };
    let (mut c0, mut c1) = (w.core(1), w.core(2));
    let (mut r0, mut r1) = (super::common::rng(20), super::common::rng(21));
    let mut proposal = BindingProposal::new(&authority, &w.guardians[g], [g as u8; 32]).unwrap();
    proposal.recovery_delay_secs = delay_secs;
    let (a, gr, x0, x1, y0, y1, y2) = tokio::join!(
        binding::propose(
            sa,
            params,
            AccountSide {
                public: w.shares[0].public_key_package(),
                epoch: w.shares[0].epoch(),
                signers: SignerIds(vec![ParticipantId(1), ParticipantId(2)]),
                journal: &w.device_journals[0],
                device: &w.devices[0],
            },
            proposal,
        ),
        binding::guard(
            sg,
            params,
            &w.guardians[g],
            &w.guardian_journals[g],
            |_| Ok(())
        ),
        binding::sign(s0, params, side(0), &mut c0, &mut r0),
        binding::sign(s1, params, side(1), &mut c1, &mut r1),
        binding::watch(w0, params, side(0)),
        binding::watch(w1, params, side(1)),
        binding::watch(w2, params, side(2)),
    );
    assert!(a.unwrap().is_some());
    assert!(gr.unwrap().is_some());
    assert!(x0.unwrap() && x1.unwrap());
    for y in [y0, y1, y2] {
        assert!(y.unwrap().is_some());
    }
}

/// The world with every guardian bound (delay `delay_secs`) and every
/// journal holding device 1's facts (as journal sync would leave them).
pub async fn world(seed: u64, delay_secs: u64) -> World {
    let w = World {
        shares: super::common::run_dkg(6, 2, seed),
        devices: (1..=3u8)
            .map(|k| SigningKey::from_bytes(&[k; 32]))
            .collect(),
        guardians: (40..=42u8)
            .map(|k| SigningKey::from_bytes(&[k; 32]))
            .collect(),
        device_journals: (0..3).map(|_| journal()).collect(),
        guardian_journals: (0..3).map(|_| journal()).collect(),
    };
    for g in 0..3 {
        bind(&w, g, delay_secs).await;
    }
    let facts: Vec<_> = w.device_journals[0]
        .lock()
        .unwrap()
        .facts()
        .iter()
        .map(|f| f.signed().clone())
        .collect();
    for j in w.device_journals.iter().chain(&w.guardian_journals) {
        let mut j = j.lock().unwrap();
        for f in &facts {
            j.accept(f.clone()).unwrap();
        }
    }
    w
}
