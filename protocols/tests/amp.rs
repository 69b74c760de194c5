#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aura_protocols::amp::ChannelRoot;
use aura_protocols::amp::{
    bump_statement, channel_base_key, message_key, reduce, seal_with_key, AmpFact, AmpHeader,
    BumpProposal, BumpReason, ChannelEpoch, ChannelId, ChannelReceiver, ChannelSender,
    ChannelState, ContextId, DeviceId, Window, DEFAULT_WINDOW,
};
use aura_protocols::signing::UnverifiedCertificate;
use aura_protocols::{Error, Rejection, Usage};
use common::{rng, some_root};
use frost_ed25519::{SigningKey, VerifyingKey};

const CTX: ContextId = ContextId([3; 32]);
const CHAN: ChannelId = ChannelId([4; 32]);
const W: u64 = 8;

struct Authority {
    signing: SigningKey,
    key: VerifyingKey,
    root: ChannelRoot,
}

fn authority(seed: u64) -> Authority {
    let mut r = rng(seed);
    let signing = SigningKey::new(&mut r);
    Authority {
        key: VerifyingKey::from(&signing),
        signing,
        root: some_root(seed),
    }
}

impl Authority {
    /// What consensus would produce: a certificate over the bump statement.
    /// (A single-party key stands in for the threshold key: verification is
    /// identical, and it keeps these tests fast.)
    fn certify(&self, proposal: &BumpProposal) -> AmpFact {
        let statement = bump_statement(proposal).unwrap();
        let signature = self.signing.sign(rng(5), &statement.message());
        AmpFact::BumpCertified {
            proposal: proposal.clone(),
            certificate: UnverifiedCertificate {
                statement,
                signature: signature.serialize().unwrap(),
            },
        }
    }

    fn state(&self, facts: &[AmpFact]) -> ChannelState {
        reduce(facts, CTX, CHAN, W, &self.key).unwrap()
    }
}

fn finalize(state: &ChannelState) -> AmpFact {
    let (_, proposal) = state.pending.unwrap();
    AmpFact::BumpFinalized {
        context: CTX,
        channel: CHAN,
        parent: state.stable,
        proposal,
    }
}

fn sealed_at(
    a: &Authority,
    epoch: u64,
    generation: u64,
    sender: u64,
) -> aura_protocols::amp::AmpMessage {
    let base = channel_base_key(&a.root, &CTX, &CHAN, ChannelEpoch(epoch)).unwrap();
    let key = message_key(&base, generation, DeviceId(sender)).unwrap();
    let header = AmpHeader {
        context: CTX,
        channel: CHAN,
        epoch: ChannelEpoch(epoch),
        generation,
        sender: DeviceId(sender),
    };
    seal_with_key(&key, header, b"hello", &mut rng(generation)).unwrap()
}

#[test]
fn window_arithmetic_edges() {
    let w = Window::new(100, DEFAULT_WINDOW).unwrap();
    assert!(w.contains(100));
    assert!(w.contains(100 + 2 * DEFAULT_WINDOW));
    assert!(!w.contains(100 + 2 * DEFAULT_WINDOW + 1));
    assert!(!w.contains(99));
    assert!(!w.routine_bump_allowed(100 + DEFAULT_WINDOW / 2 - 1));
    assert!(w.routine_bump_allowed(100 + DEFAULT_WINDOW / 2));
    let top = Window::new(u64::MAX - 3, DEFAULT_WINDOW).unwrap();
    assert!(top.contains(u64::MAX));
    assert!(Window::new(0, 0).is_err());
    assert!(Window::new(0, 7).is_err());
}

#[test]
fn receiver_accepts_g_to_g_plus_2w_and_rejects_the_rest() {
    let a = authority(1);
    let g = 20;
    let facts = vec![a.state(&[]).checkpoint(ChannelEpoch(0), g)];
    let state = a.state(&facts);
    let mut rx = ChannelReceiver::new();
    for generation in [g, g + 1, g + W, g + 2 * W] {
        rx.open(&state, &a.root, &sealed_at(&a, 0, generation, 1))
            .unwrap();
    }
    for generation in [g - 1, 0, g + 2 * W + 1] {
        let err = rx
            .open(&state, &a.root, &sealed_at(&a, 0, generation, 1))
            .unwrap_err();
        assert!(
            matches!(err, Error::Rejected(Rejection::OutsideWindow { .. })),
            "{generation}: {err}"
        );
    }
    let err = rx
        .open(&state, &a.root, &sealed_at(&a, 1, g, 1))
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected(Rejection::EpochNotAccepted(1))),
        "{err}"
    );
}

#[test]
fn replays_are_rejected() {
    let a = authority(2);
    let state = a.state(&[]);
    let mut tx = ChannelSender::new(DeviceId(1));
    let mut rx = ChannelReceiver::new();
    let m = tx
        .seal(&state, &a.root, b"once", &mut rng(1))
        .unwrap()
        .message;
    assert_eq!(rx.open(&state, &a.root, &m).unwrap(), b"once");
    let err = rx.open(&state, &a.root, &m).unwrap_err();
    assert!(matches!(err, Error::Rejected(Rejection::Replay)), "{err}");
}

#[test]
fn sender_stops_at_the_window_edge_until_a_checkpoint() {
    let a = authority(3);
    let mut facts = Vec::new();
    let state = a.state(&facts);
    let mut tx = ChannelSender::new(DeviceId(1));
    let mut r = rng(3);
    for expected in 0..=2 * W {
        let s = tx.seal(&state, &a.root, b"x", &mut r).unwrap();
        assert_eq!(s.message.header.generation, expected);
    }
    let err = tx.seal(&state, &a.root, b"x", &mut r).unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::WindowExhausted { .. })),
        "{err}"
    );
    facts.push(state.checkpoint(ChannelEpoch(0), W));
    let state = a.state(&facts);
    assert_eq!(
        tx.seal(&state, &a.root, b"x", &mut r)
            .unwrap()
            .message
            .header
            .generation,
        2 * W + 1
    );
}

#[test]
fn two_devices_at_one_generation_never_share_a_key() {
    let a = authority(4);
    let state = a.state(&[]);
    let mut one = ChannelSender::new(DeviceId(1));
    let mut two = ChannelSender::new(DeviceId(2));
    let s1 = one.seal(&state, &a.root, b"same", &mut rng(9)).unwrap();
    // Same rng seed: even the random nonce collides, the key does not.
    let s2 = two.seal(&state, &a.root, b"same", &mut rng(9)).unwrap();
    assert_eq!(s1.message.header.generation, s2.message.header.generation);
    assert_eq!(s1.message.nonce, s2.message.nonce);
    assert_ne!(s1.key_fingerprint, s2.key_fingerprint);
    assert_ne!(s1.message.ciphertext, s2.message.ciphertext);
    let mut rx = ChannelReceiver::new();
    rx.open(&state, &a.root, &s1.message).unwrap();
    rx.open(&state, &a.root, &s2.message).unwrap();
}

#[test]
fn routine_bump_waits_for_half_a_window_compromise_does_not() {
    let a = authority(5);
    let facts = vec![a.state(&[]).checkpoint(ChannelEpoch(0), 10)];
    let state = a.state(&facts);
    let err = state
        .propose_bump(DeviceId(1), 10 + W / 2 - 1, BumpReason::Routine)
        .unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::BumpTooEarly { .. })),
        "{err}"
    );
    state
        .propose_bump(DeviceId(1), 10 + W / 2, BumpReason::Routine)
        .unwrap();
    state
        .propose_bump(DeviceId(1), 10, BumpReason::SuspectedCompromise)
        .unwrap();
}

#[test]
fn the_reducer_ignores_certificates_for_too_early_bumps() {
    let a = authority(6);
    let state = a.state(&[]);
    let mut early = state
        .propose_bump(DeviceId(1), W / 2, BumpReason::Routine)
        .unwrap();
    early.observed_generation = 1; // forged past the local check
    let after = a.state(&[a.certify(&early)]);
    assert_eq!(after.pending, None);
}

#[test]
fn certificates_under_another_key_are_ignored() {
    let a = authority(7);
    let mallory = authority(8);
    let proposal = a
        .state(&[])
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    let state = a.state(&[mallory.certify(&proposal)]);
    assert_eq!((state.stable, state.pending), (ChannelEpoch(0), None));
}

#[test]
fn during_a_transition_both_epochs_are_accepted_then_only_the_new_one() {
    let a = authority(9);
    let mut facts = Vec::new();
    let proposal = a
        .state(&facts)
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    facts.push(AmpFact::BumpProposed(proposal.clone()));
    assert_eq!(a.state(&facts).accepted_epochs(), vec![ChannelEpoch(0)]);
    facts.push(a.certify(&proposal));
    let transition = a.state(&facts);
    assert_eq!(
        transition.accepted_epochs(),
        vec![ChannelEpoch(0), ChannelEpoch(1)]
    );
    assert_eq!(transition.send_epoch(), ChannelEpoch(1));
    let mut rx = ChannelReceiver::new();
    rx.open(&transition, &a.root, &sealed_at(&a, 0, 3, 1))
        .unwrap();
    rx.open(&transition, &a.root, &sealed_at(&a, 1, 3, 1))
        .unwrap();
    facts.push(finalize(&transition));
    let done = a.state(&facts);
    assert_eq!((done.stable, done.pending), (ChannelEpoch(1), None));
    assert!(rx.open(&done, &a.root, &sealed_at(&a, 0, 4, 1)).is_err());
    rx.open(&done, &a.root, &sealed_at(&a, 1, 4, 1)).unwrap();
}

#[test]
fn conflicting_certificates_keep_everyone_on_the_stable_epoch() {
    let a = authority(10);
    let state = a.state(&[]);
    let p1 = state
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    let p2 = state
        .propose_bump(DeviceId(2), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    let c1 = a.certify(&p1);
    let c2 = a.certify(&p2);
    let fin1 = AmpFact::BumpFinalized {
        context: CTX,
        channel: CHAN,
        parent: ChannelEpoch(0),
        proposal: p1.id().unwrap(),
    };
    // Device A saw c1 (and its finalization) first, device B saw c2 first.
    let device_a = a.state(&[c1.clone(), fin1.clone(), c2.clone()]);
    let device_b = a.state(&[c2, fin1, c1]);
    assert_eq!(device_a, device_b);
    assert_eq!(device_a.stable, ChannelEpoch(0));
    assert_eq!(device_a.pending, None);
    assert!(device_a.conflict);
    assert_eq!(device_a.accepted_epochs(), vec![ChannelEpoch(0)]);
    let err = device_a
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::BumpConflict { .. })),
        "{err}"
    );
}

#[test]
fn messages_for_another_channel_are_rejected() {
    let a = authority(11);
    let state = a.state(&[]);
    let mut m = sealed_at(&a, 0, 1, 1);
    m.header.channel = ChannelId([9; 32]);
    let err = ChannelReceiver::new()
        .open(&state, &a.root, &m)
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected(Rejection::WrongChannel)),
        "{err}"
    );
}

fn accepted(epoch: u64, generation: u64) -> AmpFact {
    AmpFact::Accepted(aura_protocols::amp::AmpHeader {
        context: CTX,
        channel: CHAN,
        epoch: ChannelEpoch(epoch),
        generation,
        sender: DeviceId(9),
    })
}

/// The proposer claims half a window has passed; the witness's own
/// journal (checkpoint and accepted-message facts) says otherwise, so the
/// witness refuses the routine bump. A compromise bump is always allowed;
/// once the journal shows the traffic, the same proposal passes; after a
/// new checkpoint it names a stale `G` and is refused.
#[test]
fn witness_checks_the_spacing_rule_against_its_journal_not_the_proposers_figures() {
    use aura_protocols::witness::Refusal;

    let a = authority(61);
    let mut facts = vec![accepted(0, 2)];
    let state = a.state(&facts);
    let lying = state
        .propose_bump(DeviceId(1), 6, BumpReason::Routine)
        .unwrap();
    match state.check_bump(&lying) {
        Err(Error::Refused(Refusal::BumpTooEarly { generation, .. })) => assert_eq!(generation, 2),
        other => panic!("expected the witness to refuse, got {other:?}"),
    }
    let urgent = state
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    state.check_bump(&urgent).unwrap();
    facts.push(accepted(0, 4));
    let state = a.state(&facts);
    state.check_bump(&lying).unwrap();
    facts.push(state.checkpoint(ChannelEpoch(0), 3));
    let moved = a.state(&facts);
    assert!(matches!(
        moved.check_bump(&lying),
        Err(Error::Refused(Refusal::WrongPrestate))
    ));
}

/// Folding facts in one at a time (as a stream keeps its view of the
/// journal) gives the state `reduce` gives for the same set, after every
/// fact, in any order and with duplicates.
#[test]
fn folding_facts_one_at_a_time_agrees_with_reducing_the_set() {
    use aura_protocols::amp::ChannelFold;
    let a = authority(14);
    let other = authority(15);
    let mut facts = Vec::new();
    let accepted = |epoch: u64, generation: u64| {
        AmpFact::Accepted(AmpHeader {
            context: CTX,
            channel: CHAN,
            epoch: ChannelEpoch(epoch),
            generation,
            sender: DeviceId(1),
        })
    };
    for g in 0..5 {
        facts.push(accepted(0, g));
    }
    let first = a
        .state(&facts)
        .propose_bump(DeviceId(1), 0, BumpReason::SuspectedCompromise)
        .unwrap();
    facts.push(a.certify(&first));
    // A certificate under another key changes nothing, in a fold too.
    facts.push(other.certify(&first));
    facts.push(finalize(&a.state(&facts)));
    facts.push(accepted(1, 2));
    facts.push(AmpFact::Checkpoint {
        context: CTX,
        channel: CHAN,
        epoch: ChannelEpoch(1),
        base: 2,
    });
    let second = a
        .state(&facts)
        .propose_bump(DeviceId(1), 2, BumpReason::SuspectedCompromise)
        .unwrap();
    facts.push(a.certify(&second));
    for order in 0..4u64 {
        let mut shuffled = facts.clone();
        // A few fixed permutations: as is, reversed, rotated, and with
        // every fact twice.
        match order {
            1 => shuffled.reverse(),
            2 => shuffled.rotate_left(4),
            3 => shuffled = facts.iter().chain(&facts).cloned().collect(),
            _ => {}
        }
        let mut fold = ChannelFold::new(CTX, CHAN, W, &a.key).unwrap();
        for (i, fact) in shuffled.iter().enumerate() {
            fold.apply(fact);
            assert_eq!(
                fold.state(),
                a.state(&shuffled[..=i]),
                "order {order}, fact {i}"
            );
        }
    }
    let end = a.state(&facts);
    assert_eq!(
        (end.stable, end.pending.map(|p| p.0)),
        (ChannelEpoch(1), Some(ChannelEpoch(2)))
    );
}
