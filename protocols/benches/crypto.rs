//! Crypto benchmarks, each paired with its floor measured in the same run:
//!
//! * `dkg_n10_t7/aura` (our state machines: signed round 1, echo of the
//!   signed digests, encrypted round 2) vs `dkg_n10_t7/frost_floor` (bare `part1/2/3` calls);
//! * `sign_t7/aura` (pre-committed nonces, requests, aggregate + certificate)
//!   vs `sign_t7/frost_floor` (bare `commit/sign/aggregate`);
//! * `seal_open_1KiB/aura` (window, replay set, key derivation, XChaCha) vs
//!   `seal_open_1KiB/chacha20poly1305_floor` (raw AEAD, fixed key and nonce)
//!   and `xchacha20poly1305` (the raw AEAD we actually use).
//!
//! Criterion gives the absolute times. Because CI and dev machines are
//! shared, the ratios are also measured *paired*: after the criterion
//! groups, each pair is run in alternating blocks (A, B, A, B, …) and the
//! median of the per-round ratios is printed (`paired ratio …`). Load that
//! changes during the run then hits both sides of a ratio alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use aura_protocols::amp::{reduce, ChannelId, ChannelReceiver, ChannelSender, ContextId, DeviceId};
use aura_protocols::dkg::{self, DkgConfig};
use aura_protocols::signing::{self, CommitStatement, NonceStore, SigningRequest};
use aura_protocols::{
    Authenticated, AuthorityKeyShare, NodeId, NodeIdentity, ParticipantId, Roster,
};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use criterion::{criterion_group, Criterion};
use frost_ed25519 as frost;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const N: u16 = 10;
const T: u16 = 7;

/// Node identity keys, made once (outside the measured part).
fn identity(p: ParticipantId) -> &'static NodeIdentity {
    static KEYS: std::sync::OnceLock<Vec<NodeIdentity>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        (0..=N)
            .map(|p| NodeIdentity::from_secret([p as u8; 32]))
            .collect()
    });
    &keys[usize::from(p.0)]
}

fn node(p: ParticipantId) -> NodeId {
    identity(p).node_id()
}

fn config() -> DkgConfig {
    DkgConfig {
        session: [1; 32],
        threshold: T,
        roster: Roster::new((1..=N).map(|p| (ParticipantId(p), node(ParticipantId(p))))).unwrap(),
    }
}

fn aura_dkg(rng: &mut ChaCha20Rng) -> Vec<AuthorityKeyShare> {
    let config = config();
    let mut states = Vec::new();
    let mut round1 = Vec::new();
    for p in config.participants() {
        let (s, m) = dkg::start(config.clone(), p, identity(p), rng).unwrap();
        states.push((p, s));
        round1.push(Authenticated::new(node(p), m));
    }
    let mut echoes = Vec::new();
    let mut next = Vec::new();
    for (p, s) in states {
        let (s, e) = s.receive_round1(&round1).unwrap();
        next.push((p, s));
        echoes.push(Authenticated::new(node(p), e));
    }
    let mut round2 = Vec::new();
    let mut last = Vec::new();
    for (p, s) in next {
        let (s, m) = s.confirm_transcripts(&echoes).unwrap();
        last.push(s);
        round2.extend(m.into_iter().map(|m| Authenticated::new(node(p), m)));
    }
    last.into_iter()
        .map(|s| s.finish(&round2).unwrap())
        .collect()
}

/// A channel root from this benchmark's 7-of-10 authority (toward itself:
/// which peer does not matter for seal/open).
fn channel_root(rng: &mut ChaCha20Rng) -> aura_protocols::amp::ChannelRoot {
    let shares = aura_dkg(rng);
    let peer = shares[0].group_key();
    let partials = shares[..usize::from(T)]
        .iter()
        .map(|s| {
            let p = aura_protocols::amp::root::partial(s, &peer, rng).unwrap();
            (s.participant(), p)
        })
        .collect();
    aura_protocols::amp::root::combine(shares[0].public_key_package(), &peer, &partials).unwrap()
}

fn frost_dkg(rng: &mut ChaCha20Rng) -> Vec<frost::keys::KeyPackage> {
    let ids: Vec<frost::Identifier> = (1..=N).map(|i| i.try_into().unwrap()).collect();
    let mut secrets1 = BTreeMap::new();
    let mut packages1 = BTreeMap::new();
    for id in &ids {
        let (s, p) = frost::keys::dkg::part1(*id, N, T, &mut *rng).unwrap();
        secrets1.insert(*id, s);
        packages1.insert(*id, p);
    }
    let mut secrets2 = BTreeMap::new();
    let mut inbox: BTreeMap<frost::Identifier, BTreeMap<frost::Identifier, _>> = BTreeMap::new();
    for (id, secret) in secrets1 {
        let mut others = packages1.clone();
        others.remove(&id);
        let (s, out) = frost::keys::dkg::part2(secret, &others).unwrap();
        secrets2.insert(id, (s, others));
        for (to, p) in out {
            inbox.entry(to).or_default().insert(id, p);
        }
    }
    secrets2
        .iter()
        .map(|(id, (s, others))| frost::keys::dkg::part3(s, others, &inbox[id]).unwrap().0)
        .collect()
}

fn bench_dkg(c: &mut Criterion) {
    let mut g = c.benchmark_group("dkg_n10_t7");
    g.sample_size(10);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    g.bench_function("aura", |b| b.iter(|| black_box(aura_dkg(&mut rng))));
    g.bench_function("frost_floor", |b| b.iter(|| black_box(frost_dkg(&mut rng))));
    g.finish();
}

fn bench_sign(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let shares = aura_dkg(&mut rng);
    let signers: Vec<&AuthorityKeyShare> = shares.iter().take(usize::from(T)).collect();
    let statement = CommitStatement {
        consensus_id: [1; 32],
        prestate: [2; 32],
        operation: [3; 32],
    };
    let mut stores: Vec<NonceStore> = signers.iter().map(|s| NonceStore::new(s)).collect();
    let public = shares[0].public_key_package().clone();

    let mut g = c.benchmark_group("sign_t7");
    g.bench_function("aura", |b| {
        b.iter(|| {
            // Pre-commitment happens ahead of time in the fast path, but we
            // count it here so both sides do the same work.
            let mut chosen = BTreeMap::new();
            for (s, store) in signers.iter().zip(stores.iter_mut()) {
                chosen.insert(s.participant(), store.precommit(s, 1, &mut rng).unwrap()[0]);
            }
            let request = SigningRequest {
                epoch: shares[0].epoch(),
                message: statement.message(),
                signers: chosen,
            };
            let mut out = BTreeMap::new();
            for (s, store) in signers.iter().zip(stores.iter_mut()) {
                out.insert(s.participant(), store.sign(s, &request).unwrap());
            }
            black_box(signing::aggregate(&public, &request, statement, &out).unwrap())
        })
    });
    let message = statement.message();
    g.bench_function("frost_floor", |b| {
        b.iter(|| {
            let mut nonces = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for s in &signers {
                let id = *s.key_package().identifier();
                let (n, c) = frost::round1::commit(s.key_package().signing_share(), &mut rng);
                nonces.insert(id, n);
                commitments.insert(id, c);
            }
            let package = frost::SigningPackage::new(commitments, &message);
            let mut out = BTreeMap::new();
            for s in &signers {
                let id = *s.key_package().identifier();
                out.insert(
                    id,
                    frost::round2::sign(&package, &nonces[&id], s.key_package()).unwrap(),
                );
            }
            black_box(frost::aggregate(&package, &out, &public).unwrap())
        })
    });
    g.finish();
}

fn bench_seal(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let root = channel_root(&mut rng);
    let key = frost::VerifyingKey::from(&frost::SigningKey::new(&mut rng));
    // A window wide enough that a long benchmark never needs a checkpoint.
    let state = reduce(&[], ContextId([1; 32]), ChannelId([2; 32]), 1 << 40, &key).unwrap();
    let plaintext = vec![0x5a_u8; 1024];
    let mut tx = ChannelSender::new(DeviceId(1));
    let mut rx = ChannelReceiver::new();

    let mut g = c.benchmark_group("seal_open_1KiB");
    g.bench_function("aura", |b| {
        b.iter(|| {
            let sealed = tx.seal(&state, &root, &plaintext, &mut rng).unwrap();
            black_box(rx.open(&state, &root, &sealed.message).unwrap())
        })
    });
    let raw = ChaCha20Poly1305::new(&[7u8; 32].into());
    let nonce = [0u8; 12].into();
    g.bench_function("chacha20poly1305_floor", |b| {
        b.iter(|| {
            let ct = raw.encrypt(&nonce, plaintext.as_slice()).unwrap();
            black_box(raw.decrypt(&nonce, ct.as_slice()).unwrap())
        })
    });
    let xraw = XChaCha20Poly1305::new(&[7u8; 32].into());
    let xnonce = [0u8; 24].into();
    g.bench_function("xchacha20poly1305", |b| {
        b.iter(|| {
            let ct = xraw.encrypt(&xnonce, plaintext.as_slice()).unwrap();
            black_box(xraw.decrypt(&xnonce, ct.as_slice()).unwrap())
        })
    });
    g.finish();
}

/// Alternate `rounds` blocks of `a` and `b` (`per_block` calls each) and
/// return the median and quartiles of the per-round time ratios a/b.
fn paired(
    rounds: usize,
    per_block: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (f64, f64, f64) {
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..per_block {
            a();
        }
        let ta = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for _ in 0..per_block {
            b();
        }
        let tb = start.elapsed().as_secs_f64();
        ratios.push(ta / tb);
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

fn paired_ratios() {
    let report = |name: &str, (median, q1, q3): (f64, f64, f64)| {
        println!("paired ratio {name}: {median:.2}x (IQR {q1:.2}x – {q3:.2}x)");
    };
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let mut rng2 = ChaCha20Rng::seed_from_u64(11);
    report(
        "dkg_n10_t7 aura/frost_floor",
        paired(
            15,
            1,
            || drop(black_box(aura_dkg(&mut rng))),
            || drop(black_box(frost_dkg(&mut rng2))),
        ),
    );

    let shares = aura_dkg(&mut rng);
    let signers: Vec<&AuthorityKeyShare> = shares.iter().take(usize::from(T)).collect();
    let statement = CommitStatement {
        consensus_id: [1; 32],
        prestate: [2; 32],
        operation: [3; 32],
    };
    let message = statement.message();
    let public = shares[0].public_key_package().clone();
    let mut stores: Vec<NonceStore> = signers.iter().map(|s| NonceStore::new(s)).collect();
    report(
        "sign_t7 aura/frost_floor",
        paired(
            31,
            4,
            || {
                let mut chosen = BTreeMap::new();
                for (s, store) in signers.iter().zip(stores.iter_mut()) {
                    chosen.insert(s.participant(), store.precommit(s, 1, &mut rng).unwrap()[0]);
                }
                let request = SigningRequest {
                    epoch: shares[0].epoch(),
                    message: message.clone(),
                    signers: chosen,
                };
                let mut out = BTreeMap::new();
                for (s, store) in signers.iter().zip(stores.iter_mut()) {
                    out.insert(s.participant(), store.sign(s, &request).unwrap());
                }
                black_box(signing::aggregate(&public, &request, statement, &out).unwrap());
            },
            || {
                let mut nonces = BTreeMap::new();
                let mut commitments = BTreeMap::new();
                for s in &signers {
                    let id = *s.key_package().identifier();
                    let (n, c) = frost::round1::commit(s.key_package().signing_share(), &mut rng2);
                    nonces.insert(id, n);
                    commitments.insert(id, c);
                }
                let package = frost::SigningPackage::new(commitments, &message);
                let mut out = BTreeMap::new();
                for s in &signers {
                    let id = *s.key_package().identifier();
                    out.insert(
                        id,
                        frost::round2::sign(&package, &nonces[&id], s.key_package()).unwrap(),
                    );
                }
                black_box(frost::aggregate(&package, &out, &public).unwrap());
            },
        ),
    );

    let root = channel_root(&mut rng);
    let key = frost::VerifyingKey::from(&frost::SigningKey::new(&mut rng));
    let state = reduce(&[], ContextId([1; 32]), ChannelId([2; 32]), 1 << 40, &key).unwrap();
    let plaintext = vec![0x5a_u8; 1024];
    let mut tx = ChannelSender::new(DeviceId(1));
    let mut rx = ChannelReceiver::new();
    let raw = ChaCha20Poly1305::new(&[7u8; 32].into());
    let nonce = [0u8; 12].into();
    let xraw = XChaCha20Poly1305::new(&[7u8; 32].into());
    let xnonce = [0u8; 24].into();
    let mut aura_seal = || {
        let sealed = tx.seal(&state, &root, &plaintext, &mut rng).unwrap();
        black_box(rx.open(&state, &root, &sealed.message).unwrap());
    };
    let mut chacha = || {
        let ct = raw.encrypt(&nonce, plaintext.as_slice()).unwrap();
        black_box(raw.decrypt(&nonce, ct.as_slice()).unwrap());
    };
    report(
        "seal_open_1KiB aura/chacha20poly1305_floor",
        paired(41, 2000, &mut aura_seal, &mut chacha),
    );
    let mut xchacha = || {
        let ct = xraw.encrypt(&xnonce, plaintext.as_slice()).unwrap();
        black_box(xraw.decrypt(&xnonce, ct.as_slice()).unwrap());
    };
    report(
        "seal_open_1KiB aura/xchacha20poly1305",
        paired(41, 2000, &mut aura_seal, &mut xchacha),
    );
}

criterion_group!(benches, bench_dkg, bench_sign, bench_seal);

fn main() {
    benches();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and then criterion only smoke-tests each function once.
    if std::env::args().any(|a| a == "--bench") {
        paired_ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}
