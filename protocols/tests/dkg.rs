#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aura_protocols::{Authenticated, Error, ParticipantId, Violation};
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
                .find(|m| m.sender == node(2))
                .unwrap()
                .message
                .package
                .clone();
            let four = &mut msgs
                .iter_mut()
                .find(|m| m.sender == node(4))
                .unwrap()
                .message;
            four.package = two;
            resign_round1(&config(5, 3), 4, four);
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
        aura_protocols::dkg::start(config(3, 2), ParticipantId(3), &identity(3), &mut small)
            .unwrap();
    let tamper = Tamper {
        round1: Some(Box::new(move |msgs| {
            let three = &mut msgs
                .iter_mut()
                .find(|m| m.sender == node(3))
                .unwrap()
                .message;
            three.package = foreign.package.clone();
            resign_round1(&config(5, 3), 3, three);
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
                .find(|m| m.sender == node(2) && m.message.to == ParticipantId(1))
                .unwrap();
            m.message.ciphertext[5] ^= 0x10;
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
fn equivocated_round1_broadcast_names_the_equivocator_before_part3() {
    // Participant 3 shows participant 1 a different DH key than everyone
    // else, signed with its own key (an authenticated equivocation). The
    // echo exposes the split view and its two signatures name 3 at every
    // participant: nobody releases a round-2 share.
    let cfg = config(4, 2);
    let mut r = rng(4);
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for p in cfg.participants() {
        let (s, m) = aura_protocols::dkg::start(cfg.clone(), p, &identity(p.0), &mut r).unwrap();
        states.push((p, s));
        round1.push(from(p, &m));
    }
    let mut forked = round1.clone();
    let (_, other) =
        aura_protocols::dkg::start(cfg.clone(), ParticipantId(3), &identity(3), &mut r).unwrap();
    let three = &mut forked
        .iter_mut()
        .find(|m| m.sender == node(3))
        .unwrap()
        .message;
    three.dh_public = other.dh_public;
    resign_round1(&cfg, 3, three);
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
        echoes.push(from(p, &e));
    }
    for (p, s) in next {
        if p == ParticipantId(3) {
            continue;
        }
        let err = s.confirm_transcripts(&echoes).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ProtocolViolation {
                    participant: ParticipantId(3),
                    violation: Violation::Equivocated,
                }
            ),
            "{p}: {err}"
        );
    }
}

/// A round-1 value that its sender did not sign (here: participant 2's DH
/// key replaced, the old signature kept) is refused on receipt, naming the
/// sender its link is authenticated to.
#[test]
fn round1_value_without_its_senders_signature_names_the_sender() {
    let tamper = Tamper {
        round1: Some(Box::new(|msgs| {
            let one = msgs.iter().find(|m| m.sender == node(1)).unwrap();
            let key = one.message.dh_public;
            let two = &mut msgs
                .iter_mut()
                .find(|m| m.sender == node(2))
                .unwrap()
                .message;
            two.dh_public = key;
        })),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(3, 2), 21, &tamper);
    assert_all_blame(&results, 2, Violation::InvalidSignature, &[2]);
}

/// Participant 3 rewrites participant 1's digest in its echo (a value 1
/// never signed) to break the run while staying unnamed: every other
/// participant names 3, the echoer, and releases no round-2 share.
#[test]
fn an_echo_carrying_a_value_nobody_signed_names_the_echoer() {
    let tamper = Tamper {
        echoes: Some(Box::new(|msgs| {
            let three = &mut msgs
                .iter_mut()
                .find(|m| m.sender == node(3))
                .unwrap()
                .message;
            three.round1[0].1.digest[0] ^= 1;
        })),
        ..Tamper::default()
    };
    let run = run_dkg_traced(&config(3, 2), 22, &tamper);
    assert_all_blame(&run.results, 3, Violation::ForgedEcho, &[3]);
    // Only the echoer itself (which skips its own echo) sealed anything.
    assert!(
        run.round2.iter().all(|m| m.sender == node(3)),
        "an honest participant released a round-2 share"
    );
}

#[test]
fn missing_round1_package_names_the_silent_participant() {
    let tamper = Tamper {
        round1: Some(Box::new(|msgs| msgs.retain(|m| m.sender != node(2)))),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(3, 2), 5, &tamper);
    assert_all_blame(&results, 2, Violation::Missing, &[2]);
}

#[test]
fn invalid_threshold_is_a_usage_error() {
    let mut r = rng(1);
    let e = aura_protocols::dkg::start(config(3, 4), ParticipantId(1), &identity(1), &mut r)
        .unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    let e = aura_protocols::dkg::start(config(3, 2), ParticipantId(9), &identity(9), &mut r)
        .unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    // Another node's key cannot start the run as participant 1.
    let e = aura_protocols::dkg::start(config(3, 2), ParticipantId(1), &identity(2), &mut r)
        .unwrap_err();
    assert!(
        matches!(e, Error::Usage(aura_protocols::Usage::WrongIdentity(_))),
        "{e}"
    );
}

#[test]
fn delivery_order_does_not_change_the_result() {
    use rand::seq::SliceRandom;

    let cfg = config(5, 3);
    let mut r = rng(12);
    let mut order = rng(13);
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for p in cfg.participants() {
        let (s, m) = aura_protocols::dkg::start(cfg.clone(), p, &identity(p.0), &mut r).unwrap();
        states.push((p, s));
        round1.push(from(p, &m));
    }
    let mut echoes = Vec::new();
    let mut next = Vec::new();
    for (p, s) in states {
        let mut view = round1.clone();
        view.shuffle(&mut order);
        let (s, e) = s.receive_round1(&view).unwrap();
        next.push((p, s));
        echoes.push(from(p, &e));
    }
    let mut round2 = Vec::new();
    let mut last = Vec::new();
    for (p, s) in next {
        let mut view = echoes.clone();
        view.shuffle(&mut order);
        let (s, m) = s.confirm_transcripts(&view).unwrap();
        last.push(s);
        round2.extend(m.iter().map(|m| from(p, m)));
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

/// A node on the path from participant 2 to everyone else (here the
/// insider participant 4) swaps 2's DH key for its own in transit, so that
/// round-2 shares for 2 would be encrypted to it. The link authenticates the
/// relay, not 2: every receiver sees a second round-1 package from 4 and
/// aborts naming 4, and nobody releases a single round-2 package, so the
/// relay has no ciphertext to decrypt.
#[test]
fn relay_swapping_a_dh_key_is_named_and_learns_no_share() {
    let cfg = config(4, 3);
    let mut attacker = rng(1234);
    let (_, forged) =
        aura_protocols::dkg::start(cfg.clone(), ParticipantId(4), &identity(4), &mut attacker)
            .unwrap();
    let tamper = Tamper {
        round1: Some(Box::new(move |msgs| {
            for m in msgs.iter_mut().filter(|m| m.sender == node(2)) {
                m.message.dh_public = forged.dh_public;
                m.sender = node(4); // what the receiver's link reports
            }
        })),
        ..Tamper::default()
    };
    let run = run_dkg_traced(&cfg, 6, &tamper);
    assert_all_blame(&run.results, 4, Violation::Duplicate, &[2, 4]);
    assert!(run.round2.is_empty(), "a round-2 share was released");
}

/// A relay outside the committee rewrites participant 3's transcript echo
/// so a split view would go unnoticed. The echo arrives authenticated to
/// the relay's node, which the roster does not bind: the run aborts naming
/// that node before any round-2 share is released.
#[test]
fn relay_rewriting_an_echo_is_named_and_round2_is_never_released() {
    let outsider = node(99);
    let tamper = Tamper {
        echoes: Some(Box::new(move |msgs| {
            for m in msgs.iter_mut().filter(|m| m.sender == node(3)) {
                m.message.round1[0].1.digest[0] ^= 1;
                m.sender = outsider;
            }
        })),
        ..Tamper::default()
    };
    let run = run_dkg_traced(&config(3, 2), 8, &tamper);
    for (p, r) in &run.results {
        if *p == ParticipantId(3) {
            continue;
        }
        match r {
            Err(Error::UnknownSender { node }) => assert_eq!(*node, outsider, "{p}"),
            other => panic!("{p}: expected the relay named, got {other:?}"),
        }
    }
    assert!(run.round2.is_empty(), "a round-2 share was released");
}

/// Blame follows the link, not the message: participant 2's package
/// arriving on participant 3's link counts as 3 sending twice.
#[test]
fn blame_names_the_authenticated_sender_not_the_author() {
    let tamper = Tamper {
        round1: Some(Box::new(|msgs| {
            let two = msgs.iter().find(|m| m.sender == node(2)).unwrap().clone();
            msgs.push(Authenticated::new(node(3), two.message));
        })),
        ..Tamper::default()
    };
    let results = run_dkg_with(&config(3, 2), 9, &tamper);
    assert_all_blame(&results, 3, Violation::Duplicate, &[3]);
}
