//! A man in the middle of a DKG, at the node level: a hostile participant
//! on the simulated node host, running the generated DKG endpoints with
//! its own frames rewritten per recipient, among honest nodes running
//! `roles::dkg::run_dkg`. Links are authenticated to node identities, so
//! the only frames a hostile node can rewrite are its own — per recipient,
//! which is what a man in the middle of its links would do.
//!
//! * rewriting its transcript echo: every honest node aborts naming the
//!   hostile node (the participant its authenticated link is bound to —
//!   the echo carries no sender field at all), and no honest node sends
//!   it a round-2 package;
//! * showing one peer another Diffie–Hellman key: the echo exposes the
//!   split view, every honest node aborts before round 2, and the hostile
//!   node receives no round-2 package (so no share is ever sealed to the
//!   key it substituted).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aura_node::sim::dkg::{committee, dkg_grant, node_guard};
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
    /// Send another transcript hash to every peer.
    RewriteEcho,
    /// Send one peer (family index `victim`) another DH public value.
    RewriteDhKey { victim: u32 },
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
    let order: Vec<ParticipantId> = config.participants().into_iter().collect();
    let params = roles::dkg::params(&config).map_err(|e| e.to_string())?;
    let endpoint = ep::participant::open(session, params).map_err(|e| e.to_string())?;
    let (state, round1) = core::start(config.clone(), me, &mut rng).map_err(|e| e.to_string())?;
    // A second ephemeral DH value the hostile node also controls.
    let (_, other) = core::start(config.clone(), me, &mut rng).map_err(|e| e.to_string())?;
    let forged = Round1Message {
        dh_public: other.dh_public,
        ..round1.clone()
    };
    let (got, endpoint) = endpoint
        .exchange(|j| match attack {
            Attack::RewriteDhKey { victim } if j == victim => ep::Round1(forged.clone()),
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
    let rewritten = TranscriptEcho {
        hash: [0xee; 32],
        ..echo.clone()
    };
    let (_, endpoint) = endpoint
        .exchange(|_| match attack {
            Attack::RewriteEcho => ep::Transcript(rewritten.clone()),
            Attack::RewriteDhKey { .. } => ep::Transcript(echo.clone()),
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
    for _ in 0..N {
        sim.add_node();
    }
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
            honest.push(sim.spawn(i, async move {
                roles::dkg::run_dkg(session, config, &mut rng).await
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

fn is_transcript_mismatch(e: &RoleError) -> bool {
    matches!(
        e,
        RoleError::Protocol(Error::ProtocolViolation {
            violation: Violation::TranscriptMismatch,
            ..
        })
    )
}

#[test]
fn a_node_that_rewrites_its_echo_is_named_by_every_honest_node_and_gets_no_share() {
    for seed in 0..3 {
        let run = run(Attack::RewriteEcho, seed);
        let hostile = ParticipantId(HOSTILE as u16 + 1);
        for (i, result) in run.honest.iter().enumerate() {
            let e = result
                .as_ref()
                .expect_err("an honest node finished a forged run");
            assert!(is_transcript_mismatch(e), "node {i}: {e}");
            assert_eq!(e.culprit(), Some(hostile), "node {i}: {e}");
        }
        let loot = run.loot.unwrap();
        assert_eq!(loot.round2_packages, 0, "seed {seed}: {loot:?}");
    }
}

#[test]
fn a_node_that_shows_one_peer_another_dh_key_learns_no_share() {
    for (seed, victim) in [(0, 0), (1, 1), (2, 2)] {
        let run = run(Attack::RewriteDhKey { victim }, seed);
        for (i, result) in run.honest.iter().enumerate() {
            let e = result
                .as_ref()
                .expect_err("an honest node finished a split view");
            // The echo exposes the split view before any share is sealed.
            assert!(is_transcript_mismatch(e), "node {i}: {e}");
            // Blame comes from authenticated links only: an honest node
            // outside the victim names the victim (whose echo differs from
            // its own view), never itself.
            let culprit = e.culprit().unwrap();
            assert_ne!(
                culprit,
                ParticipantId(i as u16 + 1),
                "node {i} blames itself"
            );
            if i as u32 != victim {
                assert_eq!(culprit, ParticipantId(victim as u16 + 1), "node {i}");
            }
        }
        // Nobody released round 2: no share was sealed to either of the
        // hostile node's keys, let alone the substituted one.
        let loot = run.loot.unwrap();
        assert_eq!(loot.round2_packages, 0, "seed {seed}: {loot:?}");
    }
}
