//! The generated DKG endpoints (from `choreo/dkg.choreo`) carry the real
//! DKG: every participant drives `aura_protocols::dkg` over its endpoint,
//! in memory, and all end with the same group key. The sender of every
//! message is the peer the session reports (the transport's authenticated
//! sender), never a field the sender wrote. The `.choreo` file guards the
//! round-1 exchange (`@guard("dkg:participate") @journal("dkg:round1")`)
//! and the confirmation (`@journal("dkg:outcome")`), so every participant
//! runs on a guarded transport and its journal records each guarded frame.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use aura_protocols::dkg::{self as core, DkgConfig};
use aura_protocols::generated::dkg;
use aura_protocols::wire::DkgOutcome;
use aura_protocols::{Authenticated, NodeId, ParticipantId, Roster};
use choreo_runtime::guard::{
    CapabilitySet, ContextId, Denial, Guard, GuardConfig, ManualClock, PeerKey, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::{memory, Error, MemoryConfig, Session, SessionConfig, SessionId};
use rand::SeedableRng;
use std::sync::{Arc, Mutex};

/// Family member `index` of the session is participant `index + 1`, bound
/// to this node identity.
fn identity(index: u32) -> aura_protocols::NodeIdentity {
    aura_protocols::NodeIdentity::from_secret([index as u8 + 1; 32])
}

fn node(index: u32) -> NodeId {
    identity(index).node_id()
}

fn tagged<M>(received: Vec<(u32, M)>) -> Vec<Authenticated<M>> {
    received
        .into_iter()
        .map(|(from, m)| Authenticated::new(node(from), m))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_dkg_endpoints_run_the_real_dkg_among_all_participants() {
    let (n, t) = (4u32, 3u16);
    let params = dkg::Params { n, t: u32::from(t) };
    let config = DkgConfig {
        session: [42; 32],
        threshold: t,
        roster: Roster::new((0..n).map(|i| (ParticipantId(i as u16 + 1), node(i)))).unwrap(),
    };
    let journals: Vec<_> = (0..n)
        .map(|_| {
            Arc::new(Mutex::new(
                Journal::open(SCOPE, MemoryStore::new()).unwrap(),
            ))
        })
        .collect();
    let tasks: Vec<_> = guarded_sessions(params, &journals, "dkg:participate")
        .into_iter()
        .map(|s| {
            let config = config.clone();
            tokio::spawn(async move {
                let ep = dkg::participant::open(s, params).unwrap();
                let index = ep.session().me().index.unwrap();
                let me = ParticipantId(index as u16 + 1);
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(index as u64);
                let (state, round1) = core::start(config, me, &identity(index), &mut rng).unwrap();
                let (got, ep) = ep.exchange(|_| dkg::Round1(round1.clone())).await.unwrap();
                let got = tagged(got.into_iter().map(|(j, dkg::Round1(m))| (j, m)).collect());
                let (state, echo) = state.receive_round1(&got).unwrap();
                let (got, ep) = ep
                    .exchange(|_| dkg::Transcript(echo.clone()))
                    .await
                    .unwrap();
                let got = tagged(
                    got.into_iter()
                        .map(|(j, dkg::Transcript(m))| (j, m))
                        .collect(),
                );
                let (state, round2) = state.confirm_transcripts(&got).unwrap();
                let (got, ep) = ep
                    .exchange(|j| {
                        // The exchange also asks for our own slot (kept
                        // locally); no package is addressed to us, and the
                        // core ignores packages not addressed to it.
                        let to = ParticipantId(j as u16 + 1);
                        let m = round2.iter().find(|m| m.to == to).unwrap_or(&round2[0]);
                        dkg::Round2(m.clone())
                    })
                    .await
                    .unwrap();
                let got = tagged(got.into_iter().map(|(j, dkg::Round2(m))| (j, m)).collect());
                let share = state.finish(&got).unwrap();
                let key = share.group_key().serialize().unwrap();
                let (outcomes, ep) = ep
                    .exchange(|_| {
                        dkg::Confirm(DkgOutcome::Success {
                            group_key: key.clone(),
                        })
                    })
                    .await
                    .unwrap();
                ep.finish().unwrap();
                for (_, dkg::Confirm(o)) in outcomes {
                    assert_eq!(
                        o,
                        DkgOutcome::Success {
                            group_key: key.clone()
                        }
                    );
                }
                key
            })
        })
        .collect();
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap());
    }
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "group keys differ");
    for journal in &journals {
        // One `dkg:round1` and one `dkg:outcome` fact per other participant.
        assert_eq!(journal.lock().unwrap().facts().len(), 2 * (n as usize - 1));
    }
}

const SCOPE: ScopeId = ScopeId([7; 32]);

/// One session per participant, each on its own node's guard (journal,
/// capability set `caps`).
fn guarded_sessions(
    params: dkg::Params,
    journals: &[Arc<Mutex<Journal>>],
    cap: &str,
) -> Vec<Session<choreo_runtime::guard::GuardedTransport<choreo_runtime::MemoryTransport>>> {
    let roster = dkg::roster(&params).unwrap();
    let peers: Vec<PeerKey> = (0..params.n).map(|i| PeerKey(node(i).0)).collect();
    memory::network(roster.len(), MemoryConfig::default())
        .into_iter()
        .zip(journals)
        .enumerate()
        .map(|(i, (t, journal))| {
            let key = SigningKey::from_bytes(&node(i as u32).0);
            let guard = Guard::new(GuardConfig::default(), Arc::new(ManualClock::default()))
                .with_journal(journal.clone(), RecordSends { key, scope: SCOPE });
            let t = guard.wrap(
                t,
                ContextId([42; 32]),
                peers.clone(),
                CapabilitySet::grant([cap]),
            );
            let config = SessionConfig {
                id: SessionId([42; 16]),
                protocol: &dkg::PROTOCOL,
                me: roster.instances()[i],
                roster: roster.clone(),
            };
            Session::new(config, t).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_participant_without_the_dkg_capability_is_refused_before_round_one() {
    let params = dkg::Params { n: 3, t: 2 };
    let journals: Vec<_> = (0..3)
        .map(|_| {
            Arc::new(Mutex::new(
                Journal::open(SCOPE, MemoryStore::new()).unwrap(),
            ))
        })
        .collect();
    let config = DkgConfig {
        session: [43; 32],
        threshold: 2,
        roster: Roster::new((0..3).map(|i| (ParticipantId(i as u16 + 1), node(i)))).unwrap(),
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let (_, round1) = core::start(config, ParticipantId(1), &identity(0), &mut rng).unwrap();
    let mut sessions = guarded_sessions(params, &journals, "dkg:observe");
    let ep = dkg::participant::open(sessions.remove(0), params).unwrap();
    let err = match ep.exchange(|_| dkg::Round1(round1.clone())).await {
        Err(e) => e,
        Ok(_) => panic!("an unentitled participant sent round 1"),
    };
    assert!(
        matches!(&err, Error::Denied(d) if matches!(**d, Denial::Capability { .. })),
        "{err}"
    );
    assert_eq!(journals[0].lock().unwrap().facts().len(), 0);
}
