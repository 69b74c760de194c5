//! AMP channel messaging and epoch bumps on the generated endpoints, in
//! memory: the root by threshold DH from any `t` holders, two devices
//! sending at once without reusing a (key, nonce) pair, a routine bump
//! refused below the spacing rule (checked by every signer against its own
//! journal) and allowed on compromise, both epochs accepted during the
//! transition, exactly one of two conflicting proposals certified, and a
//! device that lost everything reading the history from the journal while
//! refusing replays of what was accepted before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
mod lifecycle_support;

use std::collections::BTreeSet;
use std::sync::Mutex;

use aura_protocols::amp::{
    BumpReason, ChannelId, ChannelReceiver, ChannelSender, ContextId, DeviceId,
};
use aura_protocols::generated::{channel_root, channel_stream, epoch_bump};
use aura_protocols::lifecycle::channel::{self, ChannelSpec, SealedMessage};
use aura_protocols::lifecycle::epoch::{self, BumpOutcome, PeerSide, ProposerSide};
use aura_protocols::lifecycle::SignerIds;
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, ParticipantId};
use choreo_runtime::journal::{Journal, SigningKey};
use choreo_runtime::SessionId;
use lifecycle_support::journal;

const WIDTH: u64 = 16;

struct Authority {
    shares: Vec<AuthorityKeyShare>,
    keys: Vec<SigningKey>,
    journals: Vec<Mutex<Journal>>,
}

fn authority(seed: u64, n: u16, key_base: u8) -> Authority {
    Authority {
        shares: common::run_dkg(n, 2, seed),
        keys: (0..n)
            .map(|k| SigningKey::from_bytes(&[key_base + k as u8; 32]))
            .collect(),
        journals: (0..n).map(|_| journal()).collect(),
    }
}

fn spec(receiver: &Authority) -> ChannelSpec {
    ChannelSpec {
        context: ContextId([1; 32]),
        channel: ChannelId([2; 32]),
        width: WIDTH,
        authority: receiver.shares[0].group_key(),
    }
}

/// Device 0 of `a` gets the root toward `peer` from holders 2 and 3.
async fn root(
    a: &Authority,
    peer: &AuthorityKeyShare,
    seed: u64,
) -> aura_protocols::amp::ChannelRoot {
    let params = channel_root::Params { t: 2 };
    let mut s = channel_root::sessions(&params, SessionId([seed as u8; 16]))
        .unwrap()
        .into_iter();
    let (sd, h0, h1) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let (mut r0, mut r1) = (common::rng(seed), common::rng(seed + 1));
    let peer_key = peer.group_key();
    let holders = SignerIds(vec![ParticipantId(2), ParticipantId(3)]);
    let (root, x, y) = tokio::join!(
        channel::ask_root(
            sd,
            params,
            a.shares[0].public_key_package(),
            &peer_key,
            &holders,
        ),
        channel::give_root_partial(h0, params, &a.shares[1], &mut r0),
        channel::give_root_partial(h1, params, &a.shares[2], &mut r1),
    );
    x.unwrap();
    y.unwrap();
    root.unwrap()
}

/// Stream `messages` from a sender to `a`'s device `d`.
#[allow(clippy::too_many_arguments)]
async fn stream(
    sender: &mut ChannelSender,
    sender_journal: &Mutex<Journal>,
    a: &Authority,
    d: usize,
    receiver: &mut ChannelReceiver,
    root: &aura_protocols::amp::ChannelRoot,
    messages: &[Vec<u8>],
    id: u8,
) -> (Vec<channel::KeyUse>, channel::Received) {
    let sp = spec(a);
    let mut s = channel_stream::sessions(&channel_stream::Params {}, SessionId([id; 16]))
        .unwrap()
        .into_iter();
    let (ss, sr) = (s.next().unwrap(), s.next().unwrap());
    let mut rng = common::rng(u64::from(id));
    let (sent, got) = tokio::join!(
        channel::send_messages(ss, sender, &sp, sender_journal, root, messages, &mut rng),
        channel::receive_messages(sr, receiver, &sp, &a.journals[d], &a.keys[d], root),
    );
    (sent.unwrap(), got.unwrap())
}

fn texts(from: u32, to: u32, tag: &str) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| format!("{tag} {i}").into_bytes())
        .collect()
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
        to.accept(f).unwrap();
    }
}

/// Run one bump in `a`: `proposer` proposes, devices 1 and 2 sign with
/// `cores`, device 3 witnesses, `member` (of the sender) learns.
async fn bump(
    a: &Authority,
    proposer: usize,
    proposal: aura_protocols::amp::BumpProposal,
    cores: &[Mutex<Witness<MemorySigningRecord>>],
    member: (&Mutex<Journal>, &SigningKey),
    id: u8,
) -> (Result<BumpOutcome, String>, Vec<Result<(), String>>) {
    let params = epoch_bump::Params { t: 2, n: 1, m: 1 };
    let mut s = epoch_bump::sessions(&params, SessionId([id; 16]))
        .unwrap()
        .into_iter();
    let sp = s.next().unwrap();
    let (s1, s2, w, m) = (
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
        s.next().unwrap(),
    );
    let sp_ = spec(a);
    let peer = |k: usize| PeerSide {
        spec: sp_,
        journal: &a.journals[k],
        device: &a.keys[k],
    };
    let (mut r1, mut r2) = (
        common::rng(u64::from(id) + 100),
        common::rng(u64::from(id) + 200),
    );
    let (out, x, y, _, _) = tokio::join!(
        epoch::propose(
            sp,
            params,
            ProposerSide {
                public: a.shares[0].public_key_package(),
                epoch: a.shares[0].epoch(),
                signers: SignerIds(vec![ParticipantId(2), ParticipantId(3)]),
                spec: sp_,
                journal: &a.journals[proposer],
                device: &a.keys[proposer],
            },
            proposal,
        ),
        epoch::sign(s1, params, peer(1), &cores[0], &mut r1),
        epoch::sign(s2, params, peer(2), &cores[1], &mut r2),
        epoch::watch(w, params, peer(3)),
        epoch::learn(
            m,
            params,
            PeerSide {
                spec: sp_,
                journal: member.0,
                device: member.1
            }
        ),
    );
    let e = |e: aura_protocols::lifecycle::LifecycleError| e.to_string();
    (
        out.map_err(e),
        vec![x.map_err(e).and_then(|r| r), y.map_err(e).and_then(|r| r)],
    )
}

fn cores(a: &Authority) -> Vec<Mutex<Witness<MemorySigningRecord>>> {
    a.shares[1..3]
        .iter()
        .map(|s| Mutex::new(Witness::new(s.clone(), MemorySigningRecord::default())))
        .collect()
}

#[tokio::test]
async fn two_devices_send_at_once_without_reusing_a_key_nonce_pair_and_both_roots_agree() {
    let a = authority(1, 4, 10);
    let b = authority(2, 3, 50);
    let root_a = root(&a, &b.shares[0], 1).await;
    let root_b = root(&b, &a.shares[0], 3).await;
    assert_eq!(root_a.fingerprint(), root_b.fingerprint());
    let (mut s0, mut s1) = (
        ChannelSender::new(DeviceId(1)),
        ChannelSender::new(DeviceId(2)),
    );
    let (mut r0, mut r1) = (ChannelReceiver::new(), ChannelReceiver::new());
    let (m1, m2) = (texts(0, 20, "one"), texts(0, 20, "two"));
    let (one, two) = tokio::join!(
        stream(&mut s0, &b.journals[0], &a, 0, &mut r0, &root_b, &m1, 1),
        stream(&mut s1, &b.journals[1], &a, 1, &mut r1, &root_b, &m2, 2),
    );
    assert_eq!(one.1.opened.len(), 20);
    assert_eq!(two.1.opened.len(), 20);
    // Same generations, different devices: 40 distinct keys, 40 distinct pairs.
    let keys: BTreeSet<_> = one.0.iter().chain(&two.0).map(|(k, _)| *k).collect();
    let pairs: BTreeSet<_> = one.0.iter().chain(&two.0).collect();
    assert_eq!((keys.len(), pairs.len()), (40, 40));
}

#[tokio::test]
async fn a_routine_bump_waits_for_half_a_window_and_every_signer_checks_its_own_journal() {
    let a = authority(3, 4, 10);
    let b = authority(4, 3, 50);
    let root_b = root(&b, &a.shares[0], 5).await;
    let mut sender = ChannelSender::new(DeviceId(1));
    let mut receiver = ChannelReceiver::new();
    stream(
        &mut sender,
        &b.journals[0],
        &a,
        0,
        &mut receiver,
        &root_b,
        &texts(0, 5, "m"),
        3,
    )
    .await;
    // Generation 4 < W/2 = 8: the proposer's own journal says no…
    assert!(epoch::proposal(&a.journals[0], &spec(&a), DeviceId(1), BumpReason::Routine).is_err());
    // …and a proposer that claims more is refused by signers whose journals
    // (synced, holding the same accepted facts) say otherwise.
    for k in 1..4 {
        sync(&a.journals[0], &a.journals[k]);
    }
    let st = channel::state(&a.journals[0], &spec(&a)).unwrap();
    let mut lie = st
        .propose_bump(DeviceId(1), 100, BumpReason::Routine)
        .unwrap();
    lie.observed_generation = 100;
    let c = cores(&a);
    let (out, signed) = bump(&a, 0, lie, &c, (&b.journals[0], &b.keys[0]), 4).await;
    match out.unwrap() {
        BumpOutcome::Refused(r) => assert!(
            r.iter().all(|(_, why)| why.contains("half a window")),
            "{r:?}"
        ),
        other => panic!("a bump below the spacing rule was certified: {other:?}"),
    }
    assert!(signed.iter().all(|s| s.is_err()));
    // On suspected compromise the same state allows a bump at once.
    let emergency = epoch::proposal(
        &a.journals[0],
        &spec(&a),
        DeviceId(1),
        BumpReason::SuspectedCompromise,
    )
    .unwrap();
    let (out, signed) = bump(&a, 0, emergency, &c, (&b.journals[0], &b.keys[0]), 5).await;
    assert!(matches!(out.unwrap(), BumpOutcome::Committed(_)));
    assert!(signed.iter().all(|s| s.is_ok()));
    // The proposer, the witness and the member hold the certified successor.
    for j in [&a.journals[0], &a.journals[3], &b.journals[0]] {
        assert_eq!(channel::state(j, &spec(&a)).unwrap().send_epoch().0, 1);
    }
}

#[tokio::test]
async fn after_a_bump_both_epochs_are_accepted_until_the_successor_arrives() {
    let a = authority(5, 4, 10);
    let b = authority(6, 3, 50);
    let root_b = root(&b, &a.shares[0], 7).await;
    let (mut fast, mut slow) = (
        ChannelSender::new(DeviceId(1)),
        ChannelSender::new(DeviceId(2)),
    );
    let mut receiver = ChannelReceiver::new();
    stream(
        &mut fast,
        &b.journals[0],
        &a,
        0,
        &mut receiver,
        &root_b,
        &texts(0, 9, "a"),
        6,
    )
    .await;
    for k in 1..4 {
        sync(&a.journals[0], &a.journals[k]);
    }
    let routine =
        epoch::proposal(&a.journals[0], &spec(&a), DeviceId(1), BumpReason::Routine).unwrap();
    let c = cores(&a);
    // Only B's device 0 learns the new epoch; device 1 has not heard yet.
    let (out, _) = bump(&a, 0, routine, &c, (&b.journals[0], &b.keys[0]), 7).await;
    assert!(matches!(out.unwrap(), BumpOutcome::Committed(_)));
    let (_, old) = stream(
        &mut slow,
        &b.journals[1],
        &a,
        0,
        &mut receiver,
        &root_b,
        &texts(0, 3, "old"),
        8,
    )
    .await;
    assert_eq!(old.opened.len(), 3);
    assert!(old.opened.iter().all(|(h, _)| h.epoch.0 == 0));
    let (_, new) = stream(
        &mut fast,
        &b.journals[0],
        &a,
        0,
        &mut receiver,
        &root_b,
        &texts(0, 3, "new"),
        9,
    )
    .await;
    assert_eq!(new.opened.len(), 3);
    assert!(new.opened.iter().all(|(h, _)| h.epoch.0 == 1));
    // The first successor message ended the transition.
    let st = channel::state(&a.journals[0], &spec(&a)).unwrap();
    assert_eq!((st.stable.0, st.pending), (1, None));
}

#[tokio::test]
async fn of_two_conflicting_proposals_exactly_one_successor_is_certified() {
    let a = authority(7, 4, 10);
    let b = authority(8, 3, 50);
    let root_b = root(&b, &a.shares[0], 9).await;
    let mut sender = ChannelSender::new(DeviceId(1));
    let mut receiver = ChannelReceiver::new();
    stream(
        &mut sender,
        &b.journals[0],
        &a,
        0,
        &mut receiver,
        &root_b,
        &texts(0, 9, "m"),
        10,
    )
    .await;
    for k in 1..4 {
        sync(&a.journals[0], &a.journals[k]);
    }
    let p1 = epoch::proposal(&a.journals[0], &spec(&a), DeviceId(1), BumpReason::Routine).unwrap();
    let p2 = epoch::proposal(
        &a.journals[3],
        &spec(&a),
        DeviceId(4),
        BumpReason::SuspectedCompromise,
    )
    .unwrap();
    assert_ne!(p1, p2);
    let c = cores(&a);
    let member = journal();
    let ((o1, _), (o2, _)) = tokio::join!(
        bump(&a, 0, p1, &c, (&member, &b.keys[0]), 11),
        bump(&a, 3, p2, &c, (&b.journals[0], &b.keys[0]), 12),
    );
    let committed = [&o1, &o2]
        .iter()
        .filter(|o| matches!(o, Ok(BumpOutcome::Committed(_))))
        .count();
    assert_eq!(committed, 1, "{o1:?} / {o2:?}");
    for k in 0..4 {
        let st = channel::state(&a.journals[k], &spec(&a)).unwrap();
        assert!(!st.conflict);
    }
}

#[tokio::test]
async fn a_device_that_lost_everything_reads_the_history_and_refuses_replays() {
    let a = authority(9, 4, 10);
    let b = authority(10, 3, 50);
    let root_b = root(&b, &a.shares[0], 11).await;
    let mut sender = ChannelSender::new(DeviceId(1));
    let mut receiver = ChannelReceiver::new();
    let sent = texts(0, 12, "history");
    stream(
        &mut sender,
        &b.journals[0],
        &a,
        0,
        &mut receiver,
        &root_b,
        &sent,
        13,
    )
    .await;
    // A fresh device: no shares, only a copy of the journal; the root comes
    // from two holders (as guardians would give it).
    let fresh = journal();
    sync(&a.journals[0], &fresh);
    let root_again = root(&a, &b.shares[0], 15).await;
    assert_eq!(root_again.fingerprint(), root_b.fingerprint());
    let read: Vec<Vec<u8>> = channel::read_history(&fresh, &spec(&a), &root_again)
        .unwrap()
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(read, sent);
    // Replaying an old message to the recovered receiver is refused.
    let old = a.journals[0]
        .lock()
        .unwrap()
        .facts()
        .iter()
        .find_map(|f| f.body::<channel::Inbox>().ok())
        .unwrap();
    let mut recovered = channel::recovered_receiver(&fresh, &spec(&a), &root_again).unwrap();
    let st = channel::state(&fresh, &spec(&a)).unwrap();
    let SealedMessage(bytes) = old.0;
    assert!(recovered.open_bytes(&st, &root_again, &bytes).is_err());
}
