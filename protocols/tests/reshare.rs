#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use aura_protocols::reshare::ReshareConfig;
use aura_protocols::{AuthorityKeyShare, Error, KeyEpoch, ParticipantId, Violation};
use common::*;

fn two_of_three_to_three_of_five() -> (Vec<AuthorityKeyShare>, Vec<AuthorityKeyShare>) {
    let old = run_dkg(3, 2, 21);
    let config = ReshareConfig {
        session: [9; 32],
        old_epoch: KeyEpoch(0),
        dealers: committee([1, 3]),
        new_committee: committee(1..=5),
        new_threshold: 3,
    };
    let dealt = deal_all(&config, &old, 22);
    let new: Vec<_> = receive_all(&config, &old[0], &dealt)
        .into_values()
        .map(|r| r.unwrap())
        .collect();
    (old, new)
}

#[test]
fn reshare_2_of_3_to_3_of_5_keeps_the_group_key_and_signs() {
    let (old, new) = two_of_three_to_three_of_five();
    assert_eq!(new.len(), 5);
    for s in &new {
        assert_eq!(s.group_key(), old[0].group_key());
        assert_eq!(s.threshold(), 3);
        assert_eq!(s.epoch(), KeyEpoch(1));
    }
    // Any 3 of the 5 new holders sign, through our fast path …
    let signers = [&new[4], &new[1], &new[2]];
    let cert = sign(&signers, &new[0], statement(3), 1).unwrap();
    old[0]
        .group_key()
        .verify(&statement(3).message(), cert.signature())
        .unwrap();
    // … and through plain frost, so the packages are ordinary frost keys.
    let mut r = rng(2);
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for s in &new[..3] {
        let (n, c) = frost_ed25519::round1::commit(s.key_package().signing_share(), &mut r);
        nonces.insert(*s.key_package().identifier(), n);
        commitments.insert(*s.key_package().identifier(), c);
    }
    let package = frost_ed25519::SigningPackage::new(commitments, b"plain frost");
    let shares = new[..3]
        .iter()
        .map(|s| {
            let id = *s.key_package().identifier();
            (
                id,
                frost_ed25519::round2::sign(&package, &nonces[&id], s.key_package()).unwrap(),
            )
        })
        .collect();
    let sig = frost_ed25519::aggregate(&package, &shares, new[0].public_key_package()).unwrap();
    old[0].group_key().verify(b"plain frost", &sig).unwrap();
    // Two new shares are no longer enough.
    assert!(sign(&[&new[0], &new[1]], &new[0], statement(3), 3).is_err());
}

#[test]
fn mixing_old_and_new_shares_fails() {
    let (old, new) = two_of_three_to_three_of_five();
    // Old share of participant 1 with new shares of 2 and 3, aggregated
    // against the new public package: the old share is blamed.
    let err = sign(&[&old[0], &new[1], &new[2]], &new[0], statement(4), 5).unwrap_err();
    assert_eq!(err.culprit(), Some(ParticipantId(1)), "{err}");
    // Against the old package (threshold 2) the new share refuses to sign
    // with too few commitments, and with enough signers it is blamed.
    assert!(sign(&[&old[0], &new[1]], &old[0], statement(4), 6).is_err());
    let err = sign(&[&old[0], &new[1], &new[2]], &old[0], statement(4), 7).unwrap_err();
    assert!(
        err.culprit().is_some_and(|p| p != ParticipantId(1)),
        "{err}"
    );
}

#[test]
fn refresh_keeps_committee_threshold_and_key_with_fresh_shares() {
    let old = run_dkg(5, 3, 31);
    let config = ReshareConfig::refresh([4; 32], &old[0]);
    let dealt = deal_all(&config, &old, 32);
    let new: Vec<_> = receive_all(&config, &old[0], &dealt)
        .into_values()
        .map(|r| r.unwrap())
        .collect();
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(n.group_key(), o.group_key());
        assert_eq!(n.threshold(), 3);
        assert_eq!(n.committee(), o.committee());
        assert_ne!(
            n.key_package().signing_share(),
            o.key_package().signing_share()
        );
    }
    sign(&[&new[0], &new[2], &new[4]], &new[0], statement(5), 7).unwrap();
}

#[test]
fn aborted_reshare_leaves_old_shares_signing() {
    let old = run_dkg(3, 2, 41);
    let config = ReshareConfig {
        session: [5; 32],
        old_epoch: KeyEpoch(0),
        dealers: committee([1, 2]),
        new_committee: committee(1..=4),
        new_threshold: 3,
    };
    let mut dealt = deal_all(&config, &old, 42);
    // Dealer 2 sends a bad sub-share to new holder 4.
    let bad = dealt
        .shares
        .iter()
        .position(|s| s.dealer == ParticipantId(2) && s.to == ParticipantId(4))
        .unwrap();
    let good = dealt
        .shares
        .iter()
        .position(|s| s.dealer == ParticipantId(2) && s.to == ParticipantId(3))
        .unwrap();
    dealt.shares[bad].share = dealt.shares[good].share;
    let results = receive_all(&config, &old[0], &dealt);
    match &results[&ParticipantId(4)] {
        Err(Error::ProtocolViolation {
            participant,
            violation: Violation::InvalidShare,
        }) => assert_eq!(*participant, ParticipantId(2)),
        other => panic!("expected dealer 2 blamed, got {other:?}"),
    }
    // The run is abandoned; the old epoch still signs.
    sign(&[&old[1], &old[2]], &old[0], statement(6), 8).unwrap();
}

#[test]
fn dealer_that_deals_someone_elses_weight_is_named() {
    let old = run_dkg(3, 2, 51);
    let config = ReshareConfig {
        session: [6; 32],
        old_epoch: KeyEpoch(0),
        dealers: committee([2, 3]),
        new_committee: committee(1..=3),
        new_threshold: 2,
    };
    let mut dealt = deal_all(&config, &old, 52);
    // Dealer 2 republishes dealer 3's commitment as its own.
    let three = dealt
        .commitments
        .iter()
        .find(|c| c.dealer == ParticipantId(3))
        .unwrap()
        .commitment
        .clone();
    dealt
        .commitments
        .iter_mut()
        .find(|c| c.dealer == ParticipantId(2))
        .unwrap()
        .commitment = three;
    for r in receive_all(&config, &old[0], &dealt).values() {
        match r {
            Err(Error::ProtocolViolation {
                participant,
                violation: Violation::WrongDealtSecret,
            }) => {
                assert_eq!(*participant, ParticipantId(2))
            }
            other => panic!("expected dealer 2 blamed, got {other:?}"),
        }
    }
}

#[test]
fn reshare_needs_exactly_old_threshold_dealers() {
    let old = run_dkg(3, 2, 61);
    let config = ReshareConfig {
        session: [6; 32],
        old_epoch: KeyEpoch(0),
        dealers: committee([1]),
        new_committee: committee(1..=3),
        new_threshold: 2,
    };
    let err = aura_protocols::reshare::deal(&config, &old[0], &mut rng(1)).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}
