//! A man in the middle of a DKG, at the node level: a hostile participant
//! on the simulated node host, running the generated DKG endpoints with
//! its own frames rewritten per recipient, among honest nodes running
//! `roles::dkg::run_dkg`. Links are authenticated to node identities, so
//! the only frames a hostile node can rewrite are its own — per recipient,
//! which is what a man in the middle of its links would do.
//!
//! * rewriting its echo (another participant's signed round-1 digest
//!   replaced): every honest node aborts naming the hostile node — the
//!   echoed value carries no valid signature of its named author, and the
//!   echo arrived on the hostile node's authenticated link — and no honest
//!   node sends it a round-2 package;
//! * showing one peer another Diffie–Hellman key, signed with its own
//!   identity key: the echo exposes the split view and the two signed
//!   round-1 values prove who split it, so every honest node — the victim
//!   included — aborts before round 2 naming the hostile node, and the
//!   hostile node receives no round-2 package (so no share is ever sealed
//!   to the key it substituted);
//! * showing one peer another DH key without a valid signature: the victim
//!   refuses it on receipt naming the hostile node; nobody releases
//!   round 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aura_node::sim::dkg::{committee, dkg_grant, node_guard};
use aura_node::sim::{add_nodes, node_identity};
use aura_protocols::dkg::{self as core, DkgConfig, Round1Message, Round2Message, TranscriptEcho};
use aura_protocols::generated::dkg as ep;
use aura_protocols::roles::{self, RoleError};
use aura_protocols::{Authenticated, Error, ParticipantId, Violation};
use choreo_runtime::guard::GuardedTransport;
use choreo_runtime::node::NodeTransport;
use choreo_runtime::sim::{Sim, SimConfig, TaskHandle};
use choreo_runtime::{Session, SessionId};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    /// Echo participant 1's round-1 digest rewritten, to every peer.
    RewriteEcho,
    /// Send one peer (family index `victim`) another DH public value,
    /// signed with the hostile node's identity key.
    RewriteDhKey { victim: u32 },
    /// Send one peer another DH public value under the old signature.
    UnsignedDhKey { victim: u32 },
}

/// What the hostile node saw.
#[derive(Debug)]
struct Loot {
    /// Round-2 packages addressed to it (non-empty ciphertexts).
    round2_packages: usize,
}

const N: usize = 4;
const T: u16 = 3;
const HOSTILE: usize = 3; // sim node 3 = participant 4 = family index 3

/// The hostile participant: honest frost values, frames rewritten per
/// recipient by `attack`, then it waits for round-2 packages.
async fn hostile(
    session: Session<GuardedTransport<NodeTransport>>,
    config: DkgConfig,
    attack: Attack,
    mut rng: ChaCha20Rng,
) -> Result<Loot, String> {
    let me = ParticipantId(HOSTILE as u16 + 1);
    let identity = node_identity(HOSTILE);
    let order: Vec<ParticipantId> = config.participants().into_iter().collect();
    let params = roles::dkg::params(&config).map_err(|e| e.to_string())?;
    let endpoint = ep::participant::open(session, params).map_err(|e| e.to_string())?;
    let (state, round1) =
        core::start(config.clone(), me, &identity, &mut rng).map_err(|e| e.to_string())?;
    // A second ephemeral DH value the hostile node also controls.
    let (_, other) =
        core::start(config.clone(), me, &identity, &mut rng).map_err(|e| e.to_string())?;
    let unsigned = Round1Message {
        dh_public: other.dh_public,
        ..round1.clone()
    };
    let digest = core::round1_digest(&config, me, &unsigned.package, &unsigned.dh_public)
        .map_err(|e| e.to_string())?;
    let signed = Round1Message {
        signature: identity.sign(digest).signature,
        ..unsigned.clone()
    };
    let (got, endpoint) = endpoint
        .exchange(|j| match attack {
            Attack::RewriteDhKey { victim } if j == victim => ep::Round1(signed.clone()),
            Attack::UnsignedDhKey { victim } if j == victim => ep::Round1(unsigned.clone()),
            _ => ep::Round1(round1.clone()),
        })
        .await
        .map_err(|e| e.to_string())?;
    let nodes = |j: u32| {
        let p = order[j as usize];
        config.roster.node(p).unwrap()
    };
    let view: Vec<Authenticated<Round1Message>> = got
        .into_iter()
        .map(|(j, ep::Round1(m))| Authenticated::new(nodes(j), m))
        .collect();
    let (_, echo) = state.receive_round1(&view).map_err(|e| e.to_string())?;
    let mut rewritten: TranscriptEcho = echo.clone();
    if let Some((_, first)) = rewritten.round1.first_mut() {
        first.digest = [0xee; 32];
    }
    let (_, endpoint) = endpoint
        .exchange(|_| match attack {
            Attack::RewriteEcho => ep::Transcript(rewritten.clone()),
            _ => ep::Transcript(echo.clone()),
        })
        .await
        .map_err(|e| e.to_string())?;
    // Ask for round 2 (sending empty packages): an honest node that
    // aborted closed its session instead of answering.
    let round2 = endpoint
        .exchange(|j| {
            ep::Round2(Round2Message {
                session: config.session,
                to: order[j as usize],
                ciphertext: Vec::new(),
            })
        })
        .await;
    let round2_packages = match round2 {
        Ok((got, _)) => got
            .into_iter()
            .filter(|(_, ep::Round2(m))| m.to == me && !m.ciphertext.is_empty())
            .count(),
        Err(_) => 0,
    };
    Ok(Loot { round2_packages })
}

struct Run {
    honest: Vec<Result<aura_protocols::AuthorityKeyShare, RoleError>>,
    loot: Result<Loot, String>,
}

fn run(attack: Attack, seed: u64) -> Run {
    let mut sim = Sim::new(seed, SimConfig::default());
    add_nodes(&mut sim, N);
    let config = committee(&sim, N, T, [9; 32]).unwrap();
    let id = SessionId([9; 16]);
    let mut honest: Vec<TaskHandle<Result<_, RoleError>>> = Vec::new();
    let mut loot = None;
    for (i, p) in config.participants().into_iter().enumerate() {
        let spec = roles::dkg::session_spec(id, &config, p).unwrap();
        let guard = node_guard(i, config.session).unwrap();
        let session = sim
            .node(i)
            .unwrap()
            .open_guarded_session(spec, &guard, dkg_grant(&config))
            .unwrap();
        let config = config.clone();
        let rng = ChaCha20Rng::seed_from_u64(seed * 31 + i as u64);
        if i == HOSTILE {
            loot = Some(sim.spawn(i, hostile(session, config, attack, rng)));
        } else {
            let mut rng = rng;
            let identity = node_identity(i);
            honest.push(sim.spawn(i, async move {
                roles::dkg::run_dkg(session, config, &identity, &mut rng).await
            }));
        }
    }
    sim.run()
        .expect("every node finishes: nobody waits forever");
    Run {
        honest: honest.iter().map(|t| t.take().unwrap()).collect(),
        loot: loot.unwrap().take().unwrap(),
    }
}

/// Whether `e` names the hostile node for `violation`.
fn names_hostile(e: &RoleError, violation: &Violation) -> bool {
    match e {
        RoleError::Protocol(Error::ProtocolViolation {
            participant,
            violation: v,
        }) => *participant == ParticipantId(HOSTILE as u16 + 1) && v == violation,
        _ => false,
    }
}

#[test]
fn a_node_that_rewrites_its_echo_is_named_by_every_honest_node_and_gets_no_share() {
    for seed in 0..3 {
        let run = run(Attack::RewriteEcho, seed);
        for (i, result) in run.honest.iter().enumerate() {
            let e = result
                .as_ref()
                .expect_err("an honest node finished a forged run");
            assert!(names_hostile(e, &Violation::ForgedEcho), "node {i}: {e}");
        }
        let loot = run.loot.unwrap();
        assert_eq!(loot.round2_packages, 0, "seed {seed}: {loot:?}");
    }
}

#[test]
fn a_node_that_shows_one_peer_another_dh_key_is_named_by_every_honest_node_and_learns_no_share() {
    for (seed, victim) in [(0, 0), (1, 1), (2, 2)] {
        let run = run(Attack::RewriteDhKey { victim }, seed);
        for (i, result) in run.honest.iter().enumerate() {
            let e = result
                .as_ref()
                .expect_err("an honest node finished a split view");
            // Every honest node — the victim, and those that see the
            // victim's echo — holds two round-1 values signed by the
            // hostile node: that proof names it, never the victim.
            assert!(names_hostile(e, &Violation::Equivocated), "node {i}: {e}");
        }
        // Nobody released round 2: no share was sealed to either of the
        // hostile node's keys, let alone the substituted one.
        let loot = run.loot.unwrap();
        assert_eq!(loot.round2_packages, 0, "seed {seed}: {loot:?}");
    }
}

#[test]
fn a_dh_key_without_its_senders_signature_is_refused_by_its_victim() {
    for (seed, victim) in [(3, 0), (4, 2)] {
        let run = run(Attack::UnsignedDhKey { victim }, seed);
        let e = run.honest[victim as usize]
            .as_ref()
            .expect_err("the victim accepted an unsigned DH key");
        assert!(
            names_hostile(e, &Violation::InvalidSignature),
            "victim {victim}: {e}"
        );
        // The others cannot finish without the victim; nobody seals a
        // round-2 share.
        assert!(run.honest.iter().all(Result::is_err));
        // The hostile node itself fails while waiting for the victim's
        // echo, before anyone could send it round 2.
        if let Ok(loot) = run.loot {
            assert_eq!(loot.round2_packages, 0, "seed {seed}: {loot:?}");
        }
    }
}
