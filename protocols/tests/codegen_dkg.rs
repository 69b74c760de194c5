//! The generated DKG endpoints (from `choreo/dkg.choreo`) run all four
//! exchanges among the participants in memory. Payloads are placeholders:
//! this pins the choreography's plumbing, not the crypto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use aura_protocols::generated::dkg;
use aura_protocols::wire::{DkgOutcome, DkgRound1, SealedDkgRound2, TranscriptHash};
use choreo_runtime::{Error, SessionId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_dkg_endpoints_run_every_round_among_all_participants() {
    let params = dkg::Params { n: 4, t: 3 };
    let tasks: Vec<_> = dkg::sessions(&params, SessionId([42; 16]))
        .unwrap()
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let ep = dkg::participant::open(s, params)?;
                let me = ep.session().me().index.unwrap() as u16 + 1;
                let (round1, ep) = ep
                    .exchange(|_| {
                        dkg::Round1(DkgRound1 {
                            from: me,
                            package: vec![me as u8; 8],
                            ephemeral_key: [me as u8; 32],
                        })
                    })
                    .await?;
                let seen: Vec<u16> = round1.iter().map(|(_, dkg::Round1(r))| r.from).collect();
                let mut digest = [0u8; 32];
                for (i, from) in seen.iter().enumerate() {
                    digest[i] = *from as u8;
                }
                let (transcripts, ep) = ep
                    .exchange(|_| dkg::Transcript(TranscriptHash(digest)))
                    .await?;
                assert!(transcripts
                    .iter()
                    .all(|(_, dkg::Transcript(h))| *h == TranscriptHash(digest)));
                let (sealed, ep) = ep
                    .exchange(|j| {
                        dkg::Round2(SealedDkgRound2 {
                            from: me,
                            to: j as u16 + 1,
                            nonce: [0; 12],
                            ciphertext: vec![me as u8, j as u8],
                        })
                    })
                    .await?;
                for (j, dkg::Round2(p)) in &sealed {
                    if p.from != me {
                        assert_eq!(p.to, me, "round-2 package from {j} addressed to us");
                    }
                }
                let (outcomes, ep) = ep
                    .exchange(|_| {
                        dkg::Confirm(DkgOutcome::Success {
                            group_key: digest.to_vec(),
                        })
                    })
                    .await?;
                ep.finish()?;
                Ok::<_, Error>((seen, outcomes.len()))
            })
        })
        .collect();
    for t in tasks {
        let (seen, outcomes) = t.await.unwrap().unwrap();
        assert_eq!(seen, vec![1, 2, 3, 4]);
        assert_eq!(outcomes, 4);
    }
}
