//! The AMP channel root: a threshold Diffie–Hellman of two authorities'
//! group keys, with DLEQ-proven partials.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use aura_protocols::amp::root::{self, RootPartial};
use aura_protocols::{Error, ParticipantId, Violation};
use common::*;

#[test]
fn both_authorities_derive_the_same_root() {
    let a = run_dkg(3, 2, 201);
    let b = run_dkg(5, 3, 202);
    let from_a = root_between(&a, &[1, 3], &b[0], 1);
    let from_b = root_between(&b, &[2, 4, 5], &a[0], 2);
    assert_eq!(from_a.fingerprint(), from_b.fingerprint());
    assert_eq!(from_a, from_b);
    // A third authority gets a different root with either of them.
    let c = run_dkg(3, 2, 203);
    assert_ne!(root_between(&a, &[1, 2], &c[0], 3), from_a);
}

#[test]
fn any_threshold_of_holders_gives_the_same_root() {
    let a = run_dkg(5, 3, 211);
    let b = run_dkg(3, 2, 212);
    let reference = root_between(&a, &[1, 2, 3], &b[0], 1);
    for (i, holders) in [[1, 2, 4], [2, 3, 5], [1, 4, 5], [3, 4, 5]]
        .iter()
        .enumerate()
    {
        assert_eq!(
            root_between(&a, holders, &b[0], i as u64 + 2),
            reference,
            "{holders:?}"
        );
    }
    // More than t partials combine to the same point too.
    assert_eq!(root_between(&a, &[1, 2, 3, 4, 5], &b[0], 9), reference);
}

fn partials(
    a: &[aura_protocols::AuthorityKeyShare],
    holders: &[u16],
    peer: &frost_ed25519::VerifyingKey,
) -> BTreeMap<ParticipantId, RootPartial> {
    let mut r = rng(5);
    holders
        .iter()
        .map(|h| {
            let s = &a[usize::from(*h) - 1];
            (s.participant(), root::partial(s, peer, &mut r).unwrap())
        })
        .collect()
}

fn assert_blames(result: aura_protocols::Result<root::ChannelRoot>, holder: u16) {
    match result {
        Err(Error::ProtocolViolation {
            participant,
            violation: Violation::InvalidRootPartial,
        }) => assert_eq!(participant, ParticipantId(holder)),
        other => panic!("expected holder {holder} blamed, got {other:?}"),
    }
}

#[test]
fn a_bad_partial_is_rejected_naming_its_holder() {
    let a = run_dkg(5, 3, 221);
    let b = run_dkg(3, 2, 222);
    let peer = b[0].group_key();
    let public = a[0].public_key_package();
    let good = partials(&a, &[1, 2, 3], &peer);

    // A wrong point with the honest proof.
    let mut bad = good.clone();
    let other = partials(&a, &[4], &peer)[&ParticipantId(4)];
    bad.get_mut(&ParticipantId(2)).unwrap().point = other.point;
    assert_blames(root::combine(public, &peer, &bad), 2);

    // Holder 4's valid partial presented as holder 3's.
    let mut swapped = good.clone();
    swapped.insert(ParticipantId(3), other);
    assert_blames(root::combine(public, &peer, &swapped), 3);

    // A partial toward another authority's key.
    let c = run_dkg(3, 2, 223);
    let mut elsewhere = good.clone();
    let toward_c = partials(&a, &[1], &c[0].group_key())[&ParticipantId(1)];
    elsewhere.insert(ParticipantId(1), toward_c);
    assert_blames(root::combine(public, &peer, &elsewhere), 1);

    // A flipped response bit.
    let mut flipped = good.clone();
    flipped.get_mut(&ParticipantId(3)).unwrap().response[0] ^= 1;
    assert_blames(root::combine(public, &peer, &flipped), 3);

    // Bytes that are not a point.
    let mut garbage = good.clone();
    garbage.get_mut(&ParticipantId(1)).unwrap().point = [0xff; 32];
    assert_blames(root::combine(public, &peer, &garbage), 1);

    // Too few partials is the caller's mistake.
    let mut two = good.clone();
    two.remove(&ParticipantId(3));
    assert!(matches!(
        root::combine(public, &peer, &two),
        Err(Error::Usage(_))
    ));
    root::combine(public, &peer, &good).unwrap();
}

#[test]
fn resharing_does_not_change_the_root() {
    let a = run_dkg(5, 3, 231);
    let b = run_dkg(3, 2, 232);
    let before = root_between(&a, &[1, 2, 3], &b[0], 1);
    // 3-of-5 → 4-of-7 with two new members; then a refresh of B.
    let new_a = reshare_ok(&reshare_config(20, [2, 4, 5], 1..=7, 4), &a, 233);
    let new_b = reshare_ok(
        &aura_protocols::reshare::ReshareConfig::refresh([21; 32], &b[0], roster(1..=3)),
        &b,
        234,
    );
    assert_eq!(root_between(&new_a, &[4, 6, 7, 1], &new_b[0], 2), before);
    assert_eq!(root_between(&new_b, &[1, 3], &new_a[0], 3), before);
    // An old share's partial does not verify against the new package.
    let peer = b[0].group_key();
    let mut mixed = partials(&new_a, &[1, 2, 3], &peer);
    mixed.insert(
        ParticipantId(4),
        partials(&a, &[4], &peer)[&ParticipantId(4)],
    );
    assert_blames(
        root::combine(new_a[0].public_key_package(), &peer, &mixed),
        4,
    );
}

/// B's device accepts messages from A and journals an `Accepted` fact for
/// each. B then loses every device; the recovered device, rebuilt from the
/// journal and the root recomputed with new shares, refuses a replay of a
/// message accepted before the loss and still opens new ones.
#[test]
fn recovered_device_refuses_a_replay_of_a_message_accepted_before_the_loss() {
    use aura_protocols::amp::{
        recovery::recover, reduce, AmpFact, ChannelId, ChannelSender, ContextId, DeviceId,
    };
    use aura_protocols::Rejection;

    const CTX: ContextId = ContextId([3; 32]);
    const CHAN: ChannelId = ChannelId([4; 32]);
    let a = run_dkg(3, 2, 241);
    let b = run_dkg(3, 2, 242);
    let key = b[0].group_key();
    let root_a = root_between(&a, &[1, 2], &b[0], 1);
    let root_b = root_between(&b, &[2, 3], &a[0], 2);
    let mut journal = Vec::new();
    let state = reduce(&journal, CTX, CHAN, 8, &key).unwrap();
    let mut tx = ChannelSender::new(DeviceId(1));
    let mut rx = aura_protocols::amp::ChannelReceiver::new();
    let mut r = rng(3);
    let sent: Vec<_> = (0..4)
        .map(|i| tx.seal(&state, &root_a, &[i], &mut r).unwrap().message)
        .collect();
    for m in &sent[..3] {
        rx.open(&state, &root_b, m).unwrap();
        journal.push(AmpFact::Accepted(m.header));
    }
    drop((rx, root_b));

    // Every device of B lost; B's key is reshared to new holders.
    let new_b = reshare_ok(&reshare_config(40, [1, 3], 1..=4, 3), &b, 243);
    let root = root_between(&new_b, &[2, 3, 4], &a[0], 4);
    let recovered = recover(&journal, &root, &key, CTX, CHAN, 8).unwrap();
    let mut rx = recovered.receiver();
    let err = rx.open(recovered.state(), &root, &sent[1]).unwrap_err();
    assert!(matches!(err, Error::Rejected(Rejection::Replay)), "{err}");
    assert_eq!(
        rx.open(recovered.state(), &root, &sent[3]).unwrap(),
        vec![3]
    );
}
