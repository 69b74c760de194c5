//! The generated DKG endpoints (from `choreo/dkg.choreo`) carry the real
//! DKG: every participant drives `aura_protocols::dkg` over its endpoint,
//! in memory, and all end with the same group key. The sender of every
//! message is the peer the session reports (the transport's authenticated
//! sender), never a field the sender wrote.

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
use choreo_runtime::SessionId;
use rand::SeedableRng;

/// Family member `index` of the session is participant `index + 1`, bound
/// to this node identity.
fn node(index: u32) -> NodeId {
    NodeId([index as u8 + 1; 32])
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
    let tasks: Vec<_> = dkg::sessions(&params, SessionId([42; 16]))
        .unwrap()
        .into_iter()
        .map(|s| {
            let config = config.clone();
            tokio::spawn(async move {
                let ep = dkg::participant::open(s, params).unwrap();
                let index = ep.session().me().index.unwrap();
                let me = ParticipantId(index as u16 + 1);
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(index as u64);
                let (state, round1) = core::start(config, me, &mut rng).unwrap();
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
}
