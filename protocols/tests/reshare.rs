#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use aura_protocols::reshare::{epoch_operation, ReshareConfig};
use aura_protocols::signing::{CommitStatement, SigningRequest};
use aura_protocols::witness::{
    Collected, ConsensusRequest, MemorySigningRecord, Refusal, ShareCollector, Witness,
};
use aura_protocols::{AuthorityKeyShare, Error, KeyEpoch, ParticipantId, Violation};
use common::*;

fn two_of_three_to_three_of_five() -> (Vec<AuthorityKeyShare>, Vec<AuthorityKeyShare>) {
    let old = run_dkg(3, 2, 21);
    let config = reshare_config(9, [1, 3], 1..=5, 3);
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
    let config = ReshareConfig::refresh([4; 32], &old[0], roster(1..=5));
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
    let config = reshare_config(5, [1, 2], 1..=4, 3);
    // Dealer 2's sub-share for new holder 4 is corrupted in flight.
    let results = run_reshare(&config, &old, 42, |dealt| {
        let bad = dealt
            .shares
            .iter_mut()
            .find(|s| s.sender == node(2) && s.message.to == ParticipantId(4))
            .unwrap();
        bad.message.ciphertext[3] ^= 0x40;
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

fn config6() -> ReshareConfig {
    reshare_config(6, [2, 3], 1..=3, 2)
}

#[test]
fn dealer_that_deals_someone_elses_weight_is_named() {
    let old = run_dkg(3, 2, 51);
    let config = config6();
    // Dealer 2 republishes dealer 3's commitment as its own (and signs it).
    let results = run_reshare(&config, &old, 52, |dealt| {
        let three = dealt
            .commitments
            .iter()
            .find(|c| c.sender == node(3))
            .unwrap()
            .message
            .commitment
            .clone();
        let two = &mut dealt
            .commitments
            .iter_mut()
            .find(|c| c.sender == node(2))
            .unwrap()
            .message;
        two.commitment = three;
        resign_dealing(&config6(), 2, two);
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
    let config = reshare_config(8, [1, 2], 1..=3, 2);
    let mut r = rng(82);
    let old_public = old[0].public_key_package();
    let mut joined = Vec::new();
    let mut joins = Vec::new();
    for p in &config.new_committee {
        let (s, j) =
            aura_protocols::reshare::join(config.clone(), *p, &identity(p.0), old_public, &mut r)
                .unwrap();
        joined.push((*p, s));
        joins.push(from(*p, &j));
    }
    let mut echoed = Vec::new();
    let mut join_echoes = Vec::new();
    for (p, s) in joined {
        let (s, e) = s.receive_joins(&joins).unwrap();
        echoed.push((p, s));
        join_echoes.push(from(p, &e));
    }
    let deal = |d: usize, r: &mut rand_chacha::ChaCha20Rng| {
        let who = old[d].participant();
        let (c, sh) = aura_protocols::reshare::deal(
            &config,
            &old[d],
            &identity(who.0),
            &joins,
            &join_echoes,
            r,
        )
        .unwrap();
        (
            from(who, &c),
            sh.iter().map(|m| from(who, m)).collect::<Vec<_>>(),
        )
    };
    // Dealer 1 deals twice and shows holder 3 the second dealing.
    let (c1, s1) = deal(0, &mut r);
    let (c1b, s1b) = deal(0, &mut r);
    let (c2, s2) = deal(1, &mut r);
    let mut echoes = Vec::new();
    let mut waiting = Vec::new();
    for (p, s) in echoed {
        let (commitments, shares) = if p == ParticipantId(3) {
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
        echoes.push(from(p, &e));
    }
    // Its two signed commitments name dealer 1 at every holder.
    for s in waiting {
        let result = s.confirm(&echoes);
        assert!(
            matches!(
                result,
                Err(Error::ProtocolViolation {
                    participant: ParticipantId(1),
                    violation: Violation::Equivocated,
                })
            ),
            "{result:?}"
        );
    }
}

#[test]
fn reshare_needs_exactly_old_threshold_dealers() {
    let old = run_dkg(3, 2, 61);
    let config = reshare_config(6, [1], 1..=3, 2);
    let err = aura_protocols::reshare::deal(&config, &old[0], &identity(1), &[], &[], &mut rng(1))
        .unwrap_err();
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

/// A relay on the path from new holder 5 to the dealers swaps 5's join key
/// for its own, so that 5's sub-shares of the unchanged group secret would
/// be encrypted to it. The dealers' links authenticate the relay (a node
/// outside the roster): every dealer refuses to deal, naming it, and no
/// sub-share is ever encrypted.
#[test]
fn relay_swapping_a_join_key_is_named_and_nothing_is_dealt() {
    let old = run_dkg(3, 2, 91);
    let config = reshare_config(10, [1, 2], 1..=5, 3);
    let relay = node(66);
    let mut attacker = rng(666);
    let (_, forged) = aura_protocols::reshare::join(
        config.clone(),
        ParticipantId(5),
        &identity(5),
        old[0].public_key_package(),
        &mut attacker,
    )
    .unwrap();
    let transit = ReshareTamper {
        joins_to_dealers: Some(Box::new(move |joins| {
            for j in joins.iter_mut().filter(|j| j.sender == node(5)) {
                j.message.dh_public = forged.dh_public;
                j.sender = relay;
            }
        })),
        ..ReshareTamper::default()
    };
    let run = run_reshare_traced(&config, &old, 92, &transit, |_| {});
    assert_eq!(run.refused.len(), 2, "every dealer must refuse");
    for (dealer, e) in &run.refused {
        match e {
            Error::UnknownSender { node } => assert_eq!(*node, relay, "{dealer}"),
            other => panic!("{dealer}: expected the relay named, got {other:?}"),
        }
    }
    assert!(run.dealt.shares.is_empty(), "a sub-share was encrypted");
    assert!(run.results.values().all(|r| r.is_err()));
}

/// New holder 4 shows the dealers a different join key than it showed the
/// other new holders, signed with its own key (an authenticated
/// equivocation). The holders' echoes carry its other signed join, so both
/// dealers deal nothing and name holder 4: no sub-share goes to a key
/// outside the agreed join transcript.
#[test]
fn dealer_deals_nothing_to_a_join_key_the_holders_did_not_echo() {
    let old = run_dkg(3, 2, 93);
    let config = reshare_config(11, [1, 2], 1..=4, 2);
    let mut other = rng(777);
    let (_, second) = aura_protocols::reshare::join(
        config.clone(),
        ParticipantId(4),
        &identity(4),
        old[0].public_key_package(),
        &mut other,
    )
    .unwrap();
    let transit = ReshareTamper {
        joins_to_dealers: Some(Box::new(move |joins| {
            for j in joins.iter_mut().filter(|j| j.sender == node(4)) {
                j.message = second.clone();
            }
        })),
        ..ReshareTamper::default()
    };
    let run = run_reshare_traced(&config, &old, 94, &transit, |_| {});
    assert_eq!(run.refused.len(), 2, "both dealers saw the equivocated key");
    for e in run.refused.values() {
        assert!(
            matches!(
                e,
                Error::ProtocolViolation {
                    participant: ParticipantId(4),
                    violation: Violation::Equivocated,
                }
            ),
            "{e}"
        );
    }
    assert!(run.dealt.shares.is_empty());
}

/// A relay rewriting a holder's join echo towards the dealers is named.
#[test]
fn relay_rewriting_a_join_echo_is_named() {
    let old = run_dkg(3, 2, 95);
    let config = reshare_config(12, [1, 2], 1..=3, 2);
    let relay = node(77);
    let transit = ReshareTamper {
        echoes_to_dealers: Some(Box::new(move |echoes| {
            for e in echoes.iter_mut().filter(|e| e.sender == node(3)) {
                e.message.joins[0].1.digest[0] ^= 1;
                e.sender = relay;
            }
        })),
        ..ReshareTamper::default()
    };
    let run = run_reshare_traced(&config, &old, 96, &transit, |_| {});
    assert_eq!(run.refused.len(), 2);
    assert!(run
        .refused
        .values()
        .all(|e| matches!(e, Error::UnknownSender { node } if *node == relay)));
    assert!(run.dealt.shares.is_empty());
}

/// Certify `statement` with the witnesses `signers` (fast path through the
/// share collector).
fn certify(
    witnesses: &mut BTreeMap<u16, Witness<MemorySigningRecord>>,
    signers: &[u16],
    statement: CommitStatement,
    seed: u64,
) -> aura_protocols::signing::CommitCertificate {
    let mut r = rng(seed);
    let chosen = signers
        .iter()
        .map(|p| {
            let w = witnesses.get_mut(p).unwrap();
            (ParticipantId(*p), w.precommit(1, &mut r).unwrap()[0])
        })
        .collect();
    let first = witnesses.get(&signers[0]).unwrap().share().clone();
    let request = ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch: first.epoch(),
            message: statement.message(),
            signers: chosen,
        },
    };
    let mut collector = ShareCollector::new(first.public_key_package().clone(), first.epoch());
    let mut cert = None;
    for p in signers {
        let share = witnesses
            .get_mut(p)
            .unwrap()
            .sign(&request, &statement.prestate, &mut r)
            .unwrap();
        if let Collected::Committed(c) = collector.add(ParticipantId(*p), share).unwrap() {
            cert = Some(*c);
        }
    }
    cert.unwrap()
}

/// 3-of-5 → 4-of-7 with two new members: the group key is unchanged, the
/// new epoch commits through consensus of the old witnesses, and from then
/// on the old shares are gone and requests for the old epoch are refused.
#[test]
fn reshare_3_of_5_to_4_of_7_keeps_the_key_and_retires_the_old_epoch_on_commit() {
    let old = run_dkg(5, 3, 111);
    let config = reshare_config(13, [2, 4, 5], 1..=7, 4);
    let new = reshare_ok(&config, &old, 112);
    assert_eq!(new.len(), 7);
    assert!(new.iter().all(|s| s.group_key() == old[0].group_key()
        && s.threshold() == 4
        && s.epoch() == KeyEpoch(1)));
    // Any 4 new holders, including both new members, sign under the old key.
    let cert = sign(
        &[&new[5], &new[6], &new[0], &new[3]],
        &new[0],
        statement(20),
        1,
    )
    .unwrap();
    old[0]
        .group_key()
        .verify(&statement(20).message(), cert.signature())
        .unwrap();

    // The old committee commits the new epoch by consensus.
    let mut witnesses: BTreeMap<u16, _> = old
        .iter()
        .map(|s| {
            (
                s.participant().0,
                Witness::new(s.clone(), MemorySigningRecord::default()),
            )
        })
        .collect();
    let epoch_statement = CommitStatement {
        consensus_id: [13; 32],
        prestate: [3; 32],
        operation: epoch_operation(KeyEpoch(1), new[0].public_key_package()).unwrap(),
    };
    let commit = certify(&mut witnesses, &[1, 3, 5], epoch_statement, 2);
    // Before switching, an old-epoch request is still served.
    let before = certify(&mut witnesses, &[1, 2, 3], statement(21), 3);
    assert_eq!(before.group_key(), &old[0].group_key());
    for (p, w) in witnesses.iter_mut() {
        w.commit_epoch(new[usize::from(*p) - 1].clone(), &commit)
            .unwrap();
        assert_eq!(w.share().epoch(), KeyEpoch(1));
    }
    // An old-epoch request is refused by every witness: the old share is gone.
    let stale = ConsensusRequest {
        statement: statement(22),
        signing: SigningRequest {
            epoch: KeyEpoch(0),
            message: statement(22).message(),
            signers: BTreeMap::new(),
        },
    };
    for w in witnesses.values_mut() {
        let err = w.sign(&stale, &[1; 32], &mut rng(4)).unwrap_err();
        assert!(
            matches!(err, Error::Refused(Refusal::RetiredEpoch)),
            "{err}"
        );
    }
}

/// A commit certificate over anything but the new epoch's package does
/// not switch a witness; an aborted reshare leaves it signing in the old
/// epoch.
#[test]
fn witness_keeps_the_old_epoch_without_a_commit_of_the_new_one() {
    let old = run_dkg(3, 2, 121);
    let config = reshare_config(14, [1, 2], 1..=3, 2);
    let new = reshare_ok(&config, &old, 122);
    let mut witnesses: BTreeMap<u16, _> = old
        .iter()
        .map(|s| {
            (
                s.participant().0,
                Witness::new(s.clone(), MemorySigningRecord::default()),
            )
        })
        .collect();
    // A certificate for some other operation is not a commit of epoch 1.
    let unrelated = certify(&mut witnesses, &[1, 2], statement(30), 1);
    let w = witnesses.get_mut(&1).unwrap();
    assert!(w.commit_epoch(new[0].clone(), &unrelated).is_err());
    assert_eq!(w.share().epoch(), KeyEpoch(0));
    // The old epoch still certifies.
    certify(&mut witnesses, &[1, 3], statement(31), 2);
}
