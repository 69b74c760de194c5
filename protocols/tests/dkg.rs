#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aura_protocols::{Error, ParticipantId, Violation};
use common::*;

fn dkg_keys_sign(n: u16, t: u16) {
    let shares = run_dkg(n, t, u64::from(n) * 100 + u64::from(t));
    assert_eq!(shares.len(), usize::from(n));
    let key = shares[0].group_key();
    assert!(shares
        .iter()
        .all(|s| s.group_key() == key && s.threshold() == t));
    // The last t holders sign; the certificate verifies under the group key.
    let signers: Vec<_> = shares.iter().rev().take(usize::from(t)).collect();
    let cert = sign(&signers, &shares[0], statement(1), 9).unwrap();
    assert_eq!(cert.group_key(), &key);
    key.verify(&statement(1).message(), cert.signature())
        .unwrap();
    // Fewer than t shares cannot sign.
    let too_few: Vec<_> = shares.iter().take(usize::from(t) - 1).collect();
    assert!(sign(&too_few, &shares[0], statement(1), 10).is_err());
}

#[test]
fn dkg_2_of_3_produces_a_signing_key() {
    dkg_keys_sign(3, 2);
}

#[test]
fn dkg_3_of_5_produces_a_signing_key() {
    dkg_keys_sign(5, 3);
}

#[test]
fn dkg_7_of_10_produces_a_signing_key() {
    dkg_keys_sign(10, 7);
}

fn assert_all_blame(
    results: &std::collections::BTreeMap<
        ParticipantId,
        aura_protocols::Result<aura_protocols::AuthorityKeyShare>,
    >,
    culprit: u16,
    violation: Violation,
    skip: &[u16],
) {
    for (p, r) in results {
        if skip.contains(&p.0) {
            continue;
        }
        match r {
            Err(Error::ProtocolViolation {
                participant,
                violation: v,
            }) => {
                assert_eq!(
                    *participant,
                    ParticipantId(culprit),
                    "{p} blamed the wrong participant"
                );
                assert_eq!(*v, violation, "{p}");
            }
            other => panic!("{p}: expected abort blaming {culprit}, got {other:?}"),
        }
    }
}

#[test]
fn corrupted_round1_proof_aborts_naming_the_sender() {
    // Participant 4 sends participant 2's package as its own: the proof of
    // knowledge is bound to the identifier and fails.
    let tamper = Tamper {
        round1: Some(Box::new(|msgs| {
            let two = msgs
                .iter()
                .find(|m| m.from == ParticipantId(2))
                .unwrap()
                .package
                .clone();
            msgs.iter_mut()
                .find(|m| m.from == ParticipantId(4))
                .unwrap()
                .package = two;
        })),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(5, 3), 1, &tamper);
    assert_all_blame(&results, 4, Violation::InvalidProofOfKnowledge, &[4]);
}

#[test]
fn round1_commitment_of_wrong_length_aborts_naming_the_sender() {
    // Participant 3's package comes from a 2-of-3 run: wrong degree.
    let mut small = rng(99);
    let (_, foreign) =
        aura_protocols::dkg::start(config(3, 2), ParticipantId(3), &mut small).unwrap();
    let tamper = Tamper {
        round1: Some(Box::new(move |msgs| {
            msgs.iter_mut()
                .find(|m| m.from == ParticipantId(3))
                .unwrap()
                .package = foreign.package.clone();
        })),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(5, 3), 2, &tamper);
    assert_all_blame(
        &results,
        3,
        Violation::WrongCommitmentLength {
            expected: 3,
            got: 2,
        },
        &[3],
    );
}

#[test]
fn corrupted_round2_package_aborts_naming_the_sender() {
    let tamper = Tamper {
        round2: Some(Box::new(|msgs| {
            let m = msgs
                .iter_mut()
                .find(|m| m.from == ParticipantId(2) && m.to == ParticipantId(1))
                .unwrap();
            m.ciphertext[5] ^= 0x10;
        })),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(3, 2), 3, &tamper);
    match &results[&ParticipantId(1)] {
        Err(e) => assert_eq!(
            e.culprit(),
            Some(ParticipantId(2)),
            "expected participant 2 blamed, got {e}"
        ),
        Ok(_) => panic!("participant 1 accepted a corrupted package"),
    }
    // Participants that received only honest packages finish.
    assert!(results[&ParticipantId(3)].is_ok());
}

#[test]
fn equivocated_round1_broadcast_aborts_everyone_before_part3() {
    // Participant 3 shows participant 1 a different DH key than everyone
    // else. The transcript echo exposes the split view: nobody releases a
    // round-2 share.
    let cfg = config(4, 2);
    let mut r = rng(4);
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for p in &cfg.participants {
        let (s, m) = aura_protocols::dkg::start(cfg.clone(), *p, &mut r).unwrap();
        states.push((*p, s));
        round1.push(m);
    }
    let mut forked = round1.clone();
    let (_, other) = aura_protocols::dkg::start(cfg.clone(), ParticipantId(3), &mut r).unwrap();
    forked
        .iter_mut()
        .find(|m| m.from == ParticipantId(3))
        .unwrap()
        .dh_public = other.dh_public;
    let mut next = Vec::new();
    let mut echoes = Vec::new();
    for (p, s) in states {
        let view = if p == ParticipantId(1) {
            &forked
        } else {
            &round1
        };
        let (s, e) = s.receive_round1(view).unwrap();
        next.push((p, s));
        echoes.push(e);
    }
    for (p, s) in next {
        let err = s.confirm_transcripts(&echoes).unwrap_err();
        let blamed = err.culprit().unwrap();
        if p == ParticipantId(1) {
            assert_ne!(blamed, ParticipantId(1));
        } else {
            assert_eq!(blamed, ParticipantId(1), "{p}");
        }
        assert!(matches!(
            err,
            Error::ProtocolViolation {
                violation: Violation::TranscriptMismatch,
                ..
            }
        ));
    }
}

#[test]
fn missing_round1_package_names_the_silent_participant() {
    let tamper = Tamper {
        round1: Some(Box::new(|msgs| msgs.retain(|m| m.from != ParticipantId(2)))),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(3, 2), 5, &tamper);
    assert_all_blame(&results, 2, Violation::Missing, &[2]);
}

#[test]
fn invalid_threshold_is_a_usage_error() {
    let mut r = rng(1);
    let e = aura_protocols::dkg::start(config(3, 4), ParticipantId(1), &mut r).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    let e = aura_protocols::dkg::start(config(3, 2), ParticipantId(9), &mut r).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
}

#[test]
fn delivery_order_does_not_change_the_result() {
    use rand::seq::SliceRandom;

    let cfg = config(5, 3);
    let mut r = rng(12);
    let mut order = rng(13);
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for p in &cfg.participants {
        let (s, m) = aura_protocols::dkg::start(cfg.clone(), *p, &mut r).unwrap();
        states.push(s);
        round1.push(m);
    }
    let mut echoes = Vec::new();
    let mut next = Vec::new();
    for s in states {
        let mut view = round1.clone();
        view.shuffle(&mut order);
        let (s, e) = s.receive_round1(&view).unwrap();
        next.push(s);
        echoes.push(e);
    }
    let mut round2 = Vec::new();
    let mut last = Vec::new();
    for s in next {
        let mut view = echoes.clone();
        view.shuffle(&mut order);
        let (s, m) = s.confirm_transcripts(&view).unwrap();
        last.push(s);
        round2.extend(m);
    }
    let keys: Vec<_> = last
        .into_iter()
        .map(|s| {
            let mut view = round2.clone();
            view.shuffle(&mut order);
            s.finish(&view).unwrap().group_key()
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
}
