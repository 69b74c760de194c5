//! Property tests: AEAD tamper resistance and recovery from facts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aura_protocols::amp::recovery::recover;
use aura_protocols::amp::{
    bump_statement, reduce, AmpFact, AmpMessage, BumpProposal, BumpReason, ChannelId,
    ChannelReceiver, ChannelRoot, ChannelSender, ChannelState, ContextId, DeviceId,
};
use aura_protocols::signing::UnverifiedCertificate;
use aura_protocols::{Error, Usage};
use std::sync::OnceLock;

use aura_protocols::AuthorityKeyShare;
use common::{reshare_config, reshare_ok, rng, root_between, run_dkg, some_root};
use frost_ed25519::{SigningKey, VerifyingKey};
use proptest::prelude::*;
use rand::seq::SliceRandom;

const CTX: ContextId = ContextId([3; 32]);
const CHAN: ChannelId = ChannelId([4; 32]);
const W: u64 = 8;

/// Some valid channel root, made once (the AEAD properties do not depend
/// on which root).
fn fixed_root() -> &'static ChannelRoot {
    static ROOT: OnceLock<ChannelRoot> = OnceLock::new();
    ROOT.get_or_init(|| some_root(1))
}

/// Authority A before and after losing every device, and its peer B.
/// A is 3-of-6: devices 1–3 and guardians 4–6. After the loss the
/// guardians reshare to themselves and a new device 7 (3-of-4): the group
/// key is the same, every share is new.
struct Lifecycle {
    before: Vec<AuthorityKeyShare>,
    after: Vec<AuthorityKeyShare>,
    peer: Vec<AuthorityKeyShare>,
}

fn lifecycle() -> &'static Lifecycle {
    static LIFE: OnceLock<Lifecycle> = OnceLock::new();
    LIFE.get_or_init(|| {
        let before = run_dkg(6, 3, 301);
        let guardians: Vec<AuthorityKeyShare> = before[3..].to_vec();
        let after = reshare_ok(&reshare_config(30, [4, 5, 6], 4..=7, 3), &guardians, 302);
        Lifecycle {
            before,
            after,
            peer: run_dkg(3, 2, 303),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single bit flip anywhere in the wire bytes (header, nonce,
    /// ciphertext or tag) is rejected.
    #[test]
    fn any_single_bit_flip_is_rejected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..200),
        seed in any::<u64>(),
        bit in any::<proptest::sample::Index>(),
        generation in 0..=2 * W,
    ) {
        let mut r = rng(seed);
        let root = fixed_root();
        let key = VerifyingKey::from(&SigningKey::new(&mut r));
        let state = reduce(&[], CTX, CHAN, W, &key).unwrap();
        let mut tx = ChannelSender::new(DeviceId(seed % 4));
        let mut sealed = None;
        for _ in 0..=generation {
            sealed = Some(tx.seal(&state, root, &plaintext, &mut r).unwrap());
        }
        let bytes = sealed.unwrap().message.to_bytes();
        // Sanity: the untouched message opens.
        prop_assert_eq!(ChannelReceiver::new().open_bytes(&state, root, &bytes).unwrap(), plaintext);
        let i = bit.index(bytes.len() * 8);
        let mut flipped = bytes.clone();
        flipped[i / 8] ^= 1 << (i % 8);
        prop_assert!(ChannelReceiver::new().open_bytes(&state, root, &flipped).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic the decoder or the receiver.
    #[test]
    fn arbitrary_bytes_are_rejected_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut r = rng(1);
        let key = VerifyingKey::from(&SigningKey::new(&mut r));
        let state = reduce(&[], CTX, CHAN, W, &key).unwrap();
        prop_assert!(ChannelReceiver::new().open_bytes(&state, fixed_root(), &bytes).is_err());
    }
}

#[derive(Clone, Debug)]
enum Op {
    Send { device: u64, count: u8 },
    Checkpoint { advance: u64 },
    Propose { compromise: bool, device: u64 },
    Certify,
    CertifyConflicting,
    Finalize,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u64, 1..6u8).prop_map(|(device, count)| Op::Send { device, count }),
        1 => (0..W).prop_map(|advance| Op::Checkpoint { advance }),
        2 => (any::<bool>(), 0..3u64).prop_map(|(compromise, device)| Op::Propose { compromise, device }),
        2 => Just(Op::Certify),
        1 => Just(Op::CertifyConflicting),
        2 => Just(Op::Finalize),
    ]
}

struct Sent {
    message: AmpMessage,
    fingerprint: [u8; 32],
}

fn certify(signing: &SigningKey, proposal: &BumpProposal) -> AmpFact {
    let statement = bump_statement(proposal).unwrap();
    AmpFact::BumpCertified {
        proposal: proposal.clone(),
        certificate: UnverifiedCertificate {
            statement,
            signature: signing
                .sign(rng(0), &statement.message())
                .serialize()
                .unwrap(),
        },
    }
}

/// The original devices: they live through the history, sealing with keys
/// they cache, and append facts as they go.
fn live_history(
    ops: &[Op],
    seed: u64,
    signing: &SigningKey,
    key: &VerifyingKey,
    root: &ChannelRoot,
) -> (Vec<AmpFact>, ChannelState, Vec<Sent>) {
    let mut r = rng(seed);
    let mut facts: Vec<AmpFact> = Vec::new();
    let mut state = reduce(&facts, CTX, CHAN, W, key).unwrap();
    let mut senders: Vec<ChannelSender> = (0..3).map(|d| ChannelSender::new(DeviceId(d))).collect();
    let mut sent = Vec::new();
    let mut proposal: Option<BumpProposal> = None;
    for op in ops {
        match op {
            Op::Send { device, count } => {
                for _ in 0..*count {
                    let tx = &mut senders[*device as usize];
                    let s = match tx.seal(&state, root, b"m", &mut r) {
                        Err(Error::Usage(Usage::WindowExhausted { .. })) => {
                            let epoch = state.send_epoch();
                            let base = state.window(epoch).unwrap().base;
                            facts.push(state.checkpoint(epoch, base + W));
                            state = reduce(&facts, CTX, CHAN, W, key).unwrap();
                            tx.seal(&state, root, b"m", &mut r).unwrap()
                        }
                        other => other.unwrap(),
                    };
                    sent.push(Sent {
                        message: s.message,
                        fingerprint: s.key_fingerprint,
                    });
                }
            }
            Op::Checkpoint { advance } => {
                let epoch = state.send_epoch();
                let base = state.window(epoch).unwrap().base;
                facts.push(state.checkpoint(epoch, base + advance));
            }
            Op::Propose { compromise, device } => {
                let observed = senders
                    .iter()
                    .map(|s| s.next_generation(&state, state.stable).unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                let reason = if *compromise {
                    BumpReason::SuspectedCompromise
                } else {
                    BumpReason::Routine
                };
                if let Ok(p) = state.propose_bump(DeviceId(*device), observed, reason) {
                    facts.push(AmpFact::BumpProposed(p.clone()));
                    proposal = Some(p);
                }
            }
            Op::Certify => {
                if let Some(p) = proposal.take() {
                    facts.push(certify(signing, &p));
                }
            }
            Op::CertifyConflicting => {
                if let Some(p) = proposal.take() {
                    let mut q = p.clone();
                    q.proposer = DeviceId(q.proposer.0 + 100);
                    facts.push(certify(signing, &p));
                    facts.push(certify(signing, &q));
                }
            }
            Op::Finalize => {
                if let Some((_, id)) = state.pending {
                    facts.push(AmpFact::BumpFinalized {
                        context: CTX,
                        channel: CHAN,
                        parent: state.stable,
                        proposal: id,
                    });
                }
            }
        }
        state = reduce(&facts, CTX, CHAN, W, key).unwrap();
    }
    (facts, state, sent)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Authority A loses every device. Its guardians reshare to a new
    /// device; any 3 of the new holders recompute the channel root with
    /// their new shares. The fresh device, holding only that root and the
    /// journal (shuffled, with duplicates), rederives exactly the keys the
    /// original devices used for every message still inside an accepted
    /// window, and opens those messages.
    #[test]
    fn keys_rederived_after_losing_every_device_equal_the_originals(
        ops in proptest::collection::vec(op(), 1..40),
        seed in any::<u64>(),
        holders_before in proptest::sample::subsequence(vec![1u16, 2, 3, 4, 5, 6], 3),
        holders_after in proptest::sample::subsequence(vec![4u16, 5, 6, 7], 3),
    ) {
        let life = lifecycle();
        let mut r = rng(seed);
        let signing = SigningKey::new(&mut r);
        let key = VerifyingKey::from(&signing);
        let root = root_between(&life.before, &holders_before, &life.peer[0], seed);
        let (facts, live_state, sent) = live_history(&ops, seed, &signing, &key, &root);
        drop(root);

        let mut journal = facts.clone();
        journal.extend(facts.iter().step_by(2).cloned());
        journal.shuffle(&mut r);
        let fresh_root = root_between(&life.after, &holders_after, &life.peer[0], !seed);
        let fresh = recover(&journal, &fresh_root, &key, CTX, CHAN, W).unwrap();
        prop_assert_eq!(fresh.state(), &live_state);

        let senders: Vec<DeviceId> = (0..3).map(DeviceId).collect();
        let window_keys = fresh.keys_in_window(&senders).unwrap();
        let mut rx = ChannelReceiver::new();
        for s in &sent {
            let h = s.message.header;
            if live_state.accepts(h.epoch, h.generation).is_err() {
                continue;
            }
            let k = fresh.message_key(h.epoch, h.generation, h.sender).unwrap();
            prop_assert_eq!(k.fingerprint(), s.fingerprint);
            prop_assert_eq!(window_keys[&(h.epoch, h.generation, h.sender)].fingerprint(), s.fingerprint);
            prop_assert_eq!(rx.open(fresh.state(), &fresh_root, &s.message).unwrap(), b"m".to_vec());
        }
    }
}
