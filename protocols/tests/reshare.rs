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
    let new = reshare_ok(&config, &old, 22);
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
    let new = reshare_ok(&config, &old, 32);
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
    // Dealer 2's sub-share for new holder 4 is corrupted in flight.
    let results = run_reshare(&config, &old, 42, |dealt| {
        let bad = dealt
            .shares
            .iter_mut()
            .find(|s| s.dealer == ParticipantId(2) && s.to == ParticipantId(4))
            .unwrap();
        bad.ciphertext[3] ^= 0x40;
    });
    match &results[&ParticipantId(4)] {
        Err(Error::ProtocolViolation {
            participant,
            violation: Violation::UndecryptablePackage,
        }) => assert_eq!(*participant, ParticipantId(2)),
        other => panic!("expected dealer 2 blamed, got {other:?}"),
    }
    // The others cannot confirm without holder 4's echo: nobody switches.
    for p in [1, 2, 3] {
        let err = results[&ParticipantId(p)].as_ref().unwrap_err();
        assert_eq!(err.culprit(), Some(ParticipantId(4)), "{err}");
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
    // Dealer 2 republishes dealer 3's commitment as its own.
    let results = run_reshare(&config, &old, 52, |dealt| {
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
    });
    for r in results.values() {
        match r {
            Err(Error::ProtocolViolation {
                participant,
                violation: Violation::WrongDealtSecret,
            }) => assert_eq!(*participant, ParticipantId(2)),
            other => panic!("expected dealer 2 blamed, got {other:?}"),
        }
    }
}

#[test]
fn new_holders_with_different_views_of_the_dealings_do_not_switch() {
    let old = run_dkg(3, 2, 81);
    let config = ReshareConfig {
        session: [8; 32],
        old_epoch: KeyEpoch(0),
        dealers: committee([1, 2]),
        new_committee: committee(1..=3),
        new_threshold: 2,
    };
    let mut rng = rng(82);
    let old_public = old[0].public_key_package();
    let mut joined = Vec::new();
    let mut joins = Vec::new();
    for p in &config.new_committee {
        let (s, j) =
            aura_protocols::reshare::join(config.clone(), *p, old_public, &mut rng).unwrap();
        joined.push(s);
        joins.push(j);
    }
    // Dealer 1 deals twice and shows holder 3 the second dealing.
    let (c1, s1) = aura_protocols::reshare::deal(&config, &old[0], &joins, &mut rng).unwrap();
    let (c1b, s1b) = aura_protocols::reshare::deal(&config, &old[0], &joins, &mut rng).unwrap();
    let (c2, s2) = aura_protocols::reshare::deal(&config, &old[1], &joins, &mut rng).unwrap();
    let mut echoes = Vec::new();
    let mut waiting = Vec::new();
    for s in joined {
        let forked = waiting.len() == 2;
        let (commitments, shares) = if forked {
            (
                vec![c1b.clone(), c2.clone()],
                [s1b.clone(), s2.clone()].concat(),
            )
        } else {
            (
                vec![c1.clone(), c2.clone()],
                [s1.clone(), s2.clone()].concat(),
            )
        };
        let (s, e) = s.receive(&commitments, &shares).unwrap();
        waiting.push(s);
        echoes.push(e);
    }
    for s in waiting {
        assert!(matches!(
            s.confirm(&echoes),
            Err(Error::ProtocolViolation {
                violation: Violation::TranscriptMismatch,
                ..
            })
        ));
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
    let err = aura_protocols::reshare::deal(&config, &old[0], &[], &mut rng(1)).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn old_shares_stop_signing_once_the_new_epoch_commits() {
    use aura_protocols::signing::{NonceStore, SigningRequest};
    use aura_protocols::Usage;

    let (old, new) = two_of_three_to_three_of_five();
    // Holder 1 precommitted nonces in epoch 0, then the new epoch commits.
    let mut store = NonceStore::new(&old[0]);
    let pre = store.precommit(&old[0], 3, &mut rng(1)).unwrap();
    store.advance_epoch(new[0].epoch());
    assert!(store.is_empty(), "old-epoch nonces must be dropped");
    // A request in the new epoch cannot be served with the old share …
    let fresh = store.precommit(&new[0], 1, &mut rng(2)).unwrap();
    let mut signers: std::collections::BTreeMap<_, _> =
        [(ParticipantId(1), fresh[0])].into_iter().collect();
    for other in &new[1..3] {
        let pre = NonceStore::new(other)
            .precommit(other, 1, &mut rng(3))
            .unwrap();
        signers.insert(other.participant(), pre[0]);
    }
    let request = SigningRequest {
        epoch: new[0].epoch(),
        message: statement(9).message(),
        signers,
    };
    let err = store.sign(&old[0], &request).unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::EpochMismatch { .. })),
        "{err}"
    );
    // … and an old-epoch request finds no nonce.
    let stale = SigningRequest {
        epoch: KeyEpoch(0),
        message: statement(9).message(),
        signers: [(ParticipantId(1), pre[0])].into_iter().collect(),
    };
    let err = store.sign(&old[0], &stale).unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::NonceUnavailable { .. })),
        "{err}"
    );
    // The new share signs the new-epoch request.
    store.sign(&new[0], &request).unwrap();
}
