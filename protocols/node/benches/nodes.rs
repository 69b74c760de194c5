//! The protocols as nodes against their bare-crypto floors, each pair
//! measured in the same run:
//!
//! * `consensus_n7_t5/fast_path` — one consensus instance among 7 witness
//!   nodes (generated endpoints, guard chain with its journal, node hosts
//!   and links, wired together in memory by `aura_node::memory::MemoryNet`,
//!   so only CPU is measured), with nonces pre-committed by the previous
//!   instance's votes as a running committee has them; the nodes, the
//!   witness states and the guards are made outside the timed part — vs
//!   `consensus_n7_t5/frost_floor` — bare frost `commit`/`sign`/`aggregate`
//!   of 5 signers on the same message;
//! * `dkg_n10_t7/runtime` — the DKG role logic of 10 participants over
//!   in-memory sessions vs `dkg_n10_t7/frost_floor` — bare frost
//!   `part1`/`part2`/`part3`;
//! * `consensus_n7_t5_libp2p/commit` — the same consensus among 7 nodes,
//!   each a `NetNode` (libp2p over TCP on 127.0.0.1, one process, one
//!   current-thread runtime): latency per commit, nonces pre-committed by
//!   the previous instance's votes as a running committee has them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use aura_node::memory::MemoryNet;
use aura_node::sim::consensus::committee_keys;
use aura_node::sim::dkg::node_guard;
use aura_node::sim::node_identity;
use aura_protocols::dkg::DkgConfig;
use aura_protocols::generated::dkg as dkg_ep;
use aura_protocols::roles::consensus::{run_consensus, ConsensusConfig, Path, WitnessState};
use aura_protocols::roles::dkg::run_dkg;
use aura_protocols::roles::from_host;
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{NodeIdentity, ParticipantId, Roster};
use choreo_runtime::net::{generate_keypair, local_node_id, NetNode, NetNodeConfig};
use choreo_runtime::SessionId;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use frost_ed25519 as frost;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn frost_sign_floor(keys: &[aura_protocols::AuthorityKeyShare], rng: &mut ChaCha20Rng) {
    let signers = &keys[..5];
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for k in signers {
        let (n, c) = frost::round1::commit(k.key_package().signing_share(), rng);
        let id = *k.key_package().identifier();
        nonces.insert(id, n);
        commitments.insert(id, c);
    }
    let package = frost::SigningPackage::new(commitments, b"aura/consensus/commit/v1:message");
    let mut shares = BTreeMap::new();
    for k in signers {
        let id = *k.key_package().identifier();
        shares.insert(
            id,
            frost::round2::sign(&package, &nonces[&id], k.key_package()).unwrap(),
        );
    }
    black_box(frost::aggregate(&package, &shares, keys[0].public_key_package()).unwrap());
}

/// The ten participants' identity keys (made once, outside the timing).
fn dkg_identities() -> &'static [NodeIdentity] {
    static KEYS: std::sync::OnceLock<Vec<NodeIdentity>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        (1..=10u8)
            .map(|p| NodeIdentity::from_secret([p; 32]))
            .collect()
    })
}

fn dkg_runtime(rt: &tokio::runtime::Runtime, round: u64) {
    let identities = dkg_identities();
    let config = DkgConfig {
        session: [round as u8; 32],
        threshold: 7,
        roster: Roster::new(
            identities
                .iter()
                .enumerate()
                .map(|(i, k)| (ParticipantId(i as u16 + 1), k.node_id())),
        )
        .unwrap(),
    };
    let params = dkg_ep::Params { n: 10, t: 7 };
    let sessions = dkg_ep::sessions(&params, SessionId([round as u8; 16])).unwrap();
    rt.block_on(async {
        let runs = sessions.into_iter().enumerate().map(|(i, s)| {
            let config = config.clone();
            async move {
                let mut rng = ChaCha20Rng::seed_from_u64(round * 100 + i as u64);
                run_dkg(s, config, &identities[i], &mut rng).await.unwrap()
            }
        });
        black_box(futures_join(runs).await);
    });
}

async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = fs.map(|f| Box::pin(f)).collect();
    let mut out = Vec::new();
    // Poll all together on the current thread.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, res) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *res = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

fn frost_dkg_floor(rng: &mut ChaCha20Rng) {
    use frost::keys::dkg;
    let ids: Vec<frost::Identifier> = (1..=10u16).map(|i| i.try_into().unwrap()).collect();
    let mut secrets1 = BTreeMap::new();
    let mut round1 = BTreeMap::new();
    for id in &ids {
        let (s, p) = dkg::part1(*id, 10, 7, &mut *rng).unwrap();
        secrets1.insert(*id, s);
        round1.insert(*id, p);
    }
    let mut secrets2 = BTreeMap::new();
    let mut round2: BTreeMap<frost::Identifier, BTreeMap<frost::Identifier, dkg::round2::Package>> =
        BTreeMap::new();
    for id in &ids {
        let others: BTreeMap<_, _> = round1
            .iter()
            .filter(|(k, _)| *k != id)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let (s, out) = dkg::part2(secrets1.remove(id).unwrap(), &others).unwrap();
        secrets2.insert(*id, s);
        for (to, p) in out {
            round2.entry(to).or_default().insert(*id, p);
        }
    }
    for id in &ids {
        let others: BTreeMap<_, _> = round1
            .iter()
            .filter(|(k, _)| *k != id)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        black_box(dkg::part3(&secrets2[id], &others, &round2[id]).unwrap());
    }
}

/// Seven libp2p nodes on 127.0.0.1 that know each other's addresses.
async fn loopback_committee(n: usize) -> Vec<NetNode> {
    let keypairs: Vec<_> = (0..n).map(|_| generate_keypair()).collect();
    let ids: Vec<_> = keypairs.iter().map(|k| local_node_id(k).unwrap()).collect();
    let mut nodes = Vec::new();
    for k in keypairs {
        let mut config = NetNodeConfig::new(k);
        config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.node.peers = ids.clone();
        nodes.push(NetNode::spawn(config).await.unwrap());
    }
    let mut addresses = Vec::new();
    for node in &nodes {
        let addr = node.listen_addrs().await.unwrap().remove(0);
        addresses.push((node.local_peer_id(), addr));
    }
    for node in &nodes {
        for (peer, addr) in &addresses {
            if *peer != node.local_peer_id() {
                node.add_address(*peer, addr.clone()).await.unwrap();
            }
        }
    }
    nodes
}

/// One consensus instance among `nodes` (participant 1 initiates).
async fn commit_over_libp2p(
    nodes: &[NetNode],
    states: &[Mutex<WitnessState<MemorySigningRecord>>],
    roster: &Roster,
    round: u64,
) {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&round.to_le_bytes());
    let config = ConsensusConfig::new(id, roster.clone(), 5, ParticipantId(1));
    let runs = nodes
        .iter()
        .zip(states)
        .enumerate()
        .map(|(i, (node, state))| {
            let config = config.clone();
            // Each node's guard with an in-memory journal for the
            // `consensus:commit` records (no fsync in the measured path).
            let guard = node_guard(i, id).unwrap();
            async move {
                let mut rng = ChaCha20Rng::seed_from_u64(round * 100 + i as u64);
                let operation = (i == 0).then_some([round as u8; 32]);
                run_consensus(
                    node.shared(),
                    &guard,
                    &config,
                    state,
                    [1; 32],
                    operation,
                    &mut rng,
                )
                .await
                .unwrap()
            }
        });
    black_box(futures_join(runs).await);
}

/// One consensus instance among the in-memory committee; `guards` are
/// fresh per instance (made outside the timing).
async fn commit_in_memory(
    net: &MemoryNet,
    states: &[Mutex<WitnessState<MemorySigningRecord>>],
    guards: &[choreo_runtime::guard::Guard],
    roster: &Roster,
    round: u64,
) {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&round.to_le_bytes());
    let config = ConsensusConfig::new(id, roster.clone(), 5, ParticipantId(1));
    let runs = states
        .iter()
        .zip(guards)
        .enumerate()
        .map(|(i, (state, guard))| {
            let config = config.clone();
            let node = net.node(i).unwrap().clone();
            async move {
                let mut rng = ChaCha20Rng::seed_from_u64(round * 100 + i as u64);
                let operation = (i == 0).then_some([round as u8; 32]);
                let done =
                    run_consensus(&node, guard, &config, state, [1; 32], operation, &mut rng)
                        .await
                        .unwrap();
                assert_eq!(done.path, Path::Fast);
                done
            }
        });
    black_box(net.run(futures_join(runs)).await);
}

fn witness_states(
    keys: &[aura_protocols::AuthorityKeyShare],
) -> Vec<Mutex<WitnessState<MemorySigningRecord>>> {
    keys.iter()
        .map(|k| {
            Mutex::new(WitnessState::new(Witness::new(
                k.clone(),
                MemorySigningRecord::default(),
            )))
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let keys = committee_keys(7, 5).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let net = MemoryNet::new(
        &(0..7)
            .map(|i| choreo_runtime::node::NodeId(node_identity(i).node_id().0))
            .collect::<Vec<_>>(),
    );
    let roster = Roster::new((0..7).map(|i| {
        (
            ParticipantId(i as u16 + 1),
            from_host(net.node_id(i).unwrap()),
        )
    }))
    .unwrap();
    let states = witness_states(&keys);
    let guards_for = |round: u64| -> Vec<_> {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&round.to_le_bytes());
        (0..7).map(|i| node_guard(i, id).unwrap()).collect()
    };
    let mut round = 0u64;
    // The first instance hands the initiator every witness's next nonce.
    rt.block_on(commit_in_memory(
        &net,
        &states,
        &guards_for(0),
        &roster,
        round,
    ));
    let mut g = c.benchmark_group("consensus_n7_t5");
    g.bench_function("fast_path", |b| {
        b.iter_batched(
            || {
                round += 1;
                (round, guards_for(round))
            },
            |(round, guards)| rt.block_on(commit_in_memory(&net, &states, &guards, &roster, round)),
            BatchSize::SmallInput,
        )
    });
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    g.bench_function("frost_floor", |b| {
        b.iter(|| frost_sign_floor(&keys, &mut rng))
    });
    g.finish();

    let mut g = c.benchmark_group("dkg_n10_t7");
    g.sample_size(10);
    let mut round = 0u64;
    g.bench_function("runtime", |b| {
        b.iter(|| {
            round += 1;
            dkg_runtime(&rt, round)
        })
    });
    g.bench_function("frost_floor", |b| b.iter(|| frost_dkg_floor(&mut rng)));
    g.finish();

    // Paired ratios: each side in alternating blocks, the median of the
    // per-round ratios (load that changes during the run hits both sides).
    let report = |name: &str, (median, q1, q3): (f64, f64, f64)| {
        println!("paired ratio {name}: {median:.2}x (IQR {q1:.2}x – {q3:.2}x)");
    };
    let mut consensus_round = 1u64 << 40;
    report(
        "consensus_n7_t5 fast_path/frost_floor",
        paired(
            31,
            20,
            |count| {
                // Guards for the block, made before its timer starts.
                let guards: Vec<_> = (0..count)
                    .map(|k| guards_for(consensus_round + k as u64))
                    .collect();
                let start = Instant::now();
                for guards in &guards {
                    consensus_round += 1;
                    rt.block_on(commit_in_memory(
                        &net,
                        &states,
                        guards,
                        &roster,
                        consensus_round,
                    ));
                }
                start.elapsed()
            },
            |count| {
                let start = Instant::now();
                for _ in 0..count {
                    frost_sign_floor(&keys, &mut rng);
                }
                start.elapsed()
            },
        ),
    );
    let mut dkg_round = 1u64 << 20;
    report(
        "dkg_n10_t7 runtime/frost_floor",
        paired(
            15,
            1,
            |count| {
                let start = Instant::now();
                for _ in 0..count {
                    dkg_round += 1;
                    dkg_runtime(&rt, dkg_round);
                }
                start.elapsed()
            },
            |count| {
                let start = Instant::now();
                for _ in 0..count {
                    frost_dkg_floor(&mut rng);
                }
                start.elapsed()
            },
        ),
    );

    let nodes = rt.block_on(loopback_committee(7));
    let roster = Roster::new(
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (ParticipantId(i as u16 + 1), from_host(n.local_node_id()))),
    )
    .unwrap();
    let states = witness_states(&keys);
    let mut round = 1u64 << 32;
    // The first instance connects the nodes and hands the initiator every
    // witness's next nonce.
    rt.block_on(commit_over_libp2p(&nodes, &states, &roster, round));
    let mut g = c.benchmark_group("consensus_n7_t5_libp2p");
    g.sample_size(20);
    g.bench_function("commit", |b| {
        b.iter(|| {
            round += 1;
            rt.block_on(commit_over_libp2p(&nodes, &states, &roster, round))
        })
    });
    g.finish();
    rt.block_on(async {
        for node in nodes {
            node.shutdown().await;
        }
    });
}

/// `rounds` rounds of a block of `per_block` runs of `a`, then of `b`
/// (each closure times its own block); the median and quartiles of the
/// per-round ratios a/b.
fn paired(
    rounds: usize,
    per_block: usize,
    mut a: impl FnMut(usize) -> Duration,
    mut b: impl FnMut(usize) -> Duration,
) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| a(per_block).as_secs_f64() / b(per_block).as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

criterion_group!(group, benches);
criterion_main!(group);
