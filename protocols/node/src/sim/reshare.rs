//! Resharing `t`-of-`n` to `(t+1)`-of-`(n+2)` with two new members, as
//! nodes, on the simulated node host.
//!
//! Per seed: `t` old holders deal; the old committee commits the new epoch
//! through consensus; every member takes the certificate. Invariants: no
//! member hangs; when the reshare completes, every new holder has the same
//! (unchanged) group key, `t + 1` new shares sign together, and every old
//! witness refuses old-epoch requests; when a crash aborts it, the old
//! epoch is untouched: every live old witness still holds its old share
//! and `t` old shares still sign together.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use aura_protocols::reshare::ReshareConfig;
use aura_protocols::roles::consensus::{
    run_consensus, serve_fallback, ConsensusConfig, WitnessState,
};
use aura_protocols::roles::reshare::{epoch_prestate, run_reshare, session_spec};
use aura_protocols::roles::{from_host, RoleError};
use aura_protocols::signing::CommitCertificate;
use aura_protocols::signing::{CommitStatement, SigningRequest};
use aura_protocols::witness::{ConsensusRequest, MemorySigningRecord, Refusal, Witness};
use aura_protocols::{AuthorityKeyShare, KeyEpoch, ParticipantId, Roster};
use choreo_runtime::guard::{CapabilitySet, ContextId, Grant};
use choreo_runtime::node::NodeEvent;
use choreo_runtime::sim::TaskHandle;
use choreo_runtime::SessionId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{network, partition_and_heal, Fault, SeedReport, SimOptions};

type State = Arc<Mutex<WitnessState<MemorySigningRecord>>>;

/// What one member ends with.
#[derive(Debug)]
enum Ended {
    /// The new epoch committed: the new share (if a new holder).
    Committed(Option<Box<AuthorityKeyShare>>),
    /// The run failed (an abort): why.
    Aborted(String),
}

/// One seeded reshare run.
pub fn run_seed(options: &SimOptions, seed: u64) -> SeedReport {
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    if let Err(e) = run(options, seed, &mut report) {
        report.violations.push(e);
    }
    report
}

/// Ask old witness `state` to sign an old-epoch request: must be refused
/// once the new epoch committed.
fn old_epoch_refused(
    state: &State,
    old: &AuthorityKeyShare,
    rng: &mut ChaCha20Rng,
) -> Result<bool, String> {
    let mut s = state.lock().map_err(|_| "poisoned")?;
    let me = old.participant();
    let statement = CommitStatement {
        consensus_id: rng.gen(),
        prestate: [3; 32],
        operation: [4; 32],
    };
    // Any commitment will do: the epoch check comes first.
    let mut scratch = Witness::new(old.clone(), MemorySigningRecord::default());
    let nonce = *scratch
        .precommit(1, rng)
        .map_err(|e| e.to_string())?
        .first()
        .ok_or("no nonce")?;
    let request = ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch: old.epoch(),
            message: statement.message(),
            signers: BTreeMap::from([(me, nonce)]),
        },
    };
    Ok(matches!(
        s.witness_mut().sign(&request, &[3; 32], rng),
        Err(aura_protocols::Error::Refused(Refusal::RetiredEpoch))
    ))
}

fn run(options: &SimOptions, seed: u64, report: &mut SeedReport) -> Result<(), String> {
    let (n_old, t_old) = (usize::from(options.nodes), options.threshold);
    let (n_new, t_new) = (n_old + 2, t_old + 1);
    let old_keys = super::consensus::committee_keys(options.nodes, t_old)?;
    let (mut sim, mut rng) = network(&options.faults, seed, n_new);
    let participant = |i: usize| ParticipantId(u16::try_from(i + 1).unwrap_or(u16::MAX));
    let roster = Roster::new(
        (0..n_new)
            .map(|i| Ok((participant(i), from_host(sim.node_id(i).ok_or("no node")?))))
            .collect::<Result<Vec<_>, String>>()?,
    )
    .map_err(|e| e.to_string())?;
    let old_public = old_keys
        .first()
        .ok_or("no keys")?
        .public_key_package()
        .clone();
    let old_epoch = KeyEpoch(0);
    // Any t old holders deal.
    let mut old_ids: Vec<usize> = (0..n_old).collect();
    for i in (1..old_ids.len()).rev() {
        old_ids.swap(i, rng.gen_range(0..=i));
    }
    let dealers: BTreeSet<ParticipantId> = old_ids
        .iter()
        .take(usize::from(t_old))
        .map(|i| participant(*i))
        .collect();
    let mut session = [0u8; 32];
    session[..8].copy_from_slice(&seed.to_le_bytes());
    session[8..16].copy_from_slice(b"reshare!");
    let config = ReshareConfig {
        session,
        old_epoch,
        dealers: dealers.clone(),
        new_committee: (0..n_new).map(participant).collect(),
        new_threshold: t_new,
        roster,
    };
    let old_roster = Roster::new(
        (0..n_old).filter_map(|i| Some((participant(i), config.roster.node(participant(i))?))),
    )
    .map_err(|e| e.to_string())?;
    let initiator = *dealers.first().ok_or("no dealer")?;
    let mut consensus_id = [0u8; 32];
    consensus_id[..8].copy_from_slice(&seed.to_le_bytes());
    consensus_id[8..16].copy_from_slice(b"epoch+1!");
    let consensus = ConsensusConfig::new(consensus_id, old_roster, t_old, initiator);
    let prestate = epoch_prestate(old_epoch, &old_public).map_err(|e| e.to_string())?;
    let states: Vec<State> = old_keys
        .iter()
        .map(|s| {
            Arc::new(Mutex::new(WitnessState::new(Witness::new(
                s.clone(),
                MemorySigningRecord::default(),
            ))))
        })
        .collect();

    let mut id = [0u8; 16];
    id.copy_from_slice(&session[..16]);
    let mut tasks: Vec<TaskHandle<Ended>> = Vec::new();
    // Each witness's certificate once it committed: it answers laggards'
    // fallback attempts with it (below), as a host does.
    let certificates: Vec<Rc<RefCell<Option<CommitCertificate>>>> =
        (0..n_new).map(|_| Rc::default()).collect();
    let mut guards = Vec::new();
    for i in 0..n_new {
        let p = participant(i);
        let spec = session_spec(SessionId(id), &config, p).map_err(|e| e.to_string())?;
        let node = sim.node(i).ok_or("no node")?.clone();
        // One guard per node for both sessions: `reshare:join` for the
        // reshare's `@guard`, its journal for both protocols' `@journal`s.
        let guard = super::dkg::node_guard(i, consensus_id)?;
        guards.push(guard.clone());
        let grant = Grant {
            context: ContextId(session),
            capabilities: CapabilitySet::grant(["reshare:join"]),
        };
        let reshare_session = node
            .open_guarded_session(spec, &guard, grant)
            .map_err(|e| e.to_string())?;
        let old_share = old_keys.get(i).filter(|_| dealers.contains(&p)).cloned();
        let state = states.get(i).cloned();
        let (config, consensus, old_public) =
            (config.clone(), consensus.clone(), old_public.clone());
        let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(i as u64));
        let identity = super::node_identity(i);
        let held = certificates.get(i).cloned().unwrap_or_default();
        tasks.push(sim.spawn(i, async move {
            let run = async {
                let dealt = run_reshare(
                    reshare_session,
                    &config,
                    &identity,
                    &old_public,
                    old_share.as_ref(),
                    &mut rng,
                )
                .await?;
                let certificate = match &state {
                    Some(state) => {
                        let op = if p == consensus.initiator {
                            dealt.operation()?
                        } else {
                            None
                        };
                        let certificate =
                            run_consensus(&node, &guard, &consensus, state, prestate, op, &mut rng)
                                .await?
                                .certificate;
                        *held.borrow_mut() = Some(certificate.clone());
                        Some(certificate)
                    }
                    None => None,
                };
                let done = dealt.finish(certificate.as_ref()).await?;
                if let (Some(state), Some((share, cert))) = (&state, &done) {
                    state
                        .lock()
                        .map_err(|_| RoleError::Usage("poisoned".into()))?
                        .commit_epoch(share.clone(), cert)?;
                }
                Ok::<_, RoleError>(done.map(|(s, _)| s))
            };
            match run.await {
                Ok(share) => Ended::Committed(share.map(Box::new)),
                Err(e) => Ended::Aborted(e.to_string()),
            }
        }));
    }
    let crash = if options.faults.has(Fault::InitiatorCrash) && rng.gen_bool(0.3) {
        // A dealer.
        old_ids.first().copied()
    } else if options.faults.has(Fault::WitnessCrash) && rng.gen_bool(0.3) {
        Some(n_old + rng.gen_range(0..2))
    } else {
        None
    };
    if let Some(victim) = crash {
        sim.run_for(std::time::Duration::from_millis(rng.gen_range(0..100)));
        sim.crash(victim);
    }
    partition_and_heal(&mut sim, &options.faults, &mut rng, n_new);
    // Committed witnesses answer the fallback attempts laggards open (a
    // witness that missed the commit would otherwise try all its attempts
    // alone, and every member would wait for it in `Committed`).
    let mut seen_events = 0;
    let mut served = BTreeSet::new();
    let step = std::time::Duration::from_millis(20);
    let limit = sim.now() + std::time::Duration::from_secs(600);
    loop {
        let requests: Vec<(usize, SessionId)> = sim
            .events()
            .get(seen_events..)
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, i, e)| match e {
                NodeEvent::SessionRequested { session, .. } => Some((*i, *session)),
                _ => None,
            })
            .collect();
        seen_events = sim.events().len();
        for (i, session) in requests {
            let Some(attempt) = consensus.attempt_of(session) else {
                continue;
            };
            let Some(certificate) = certificates.get(i).and_then(|c| c.borrow().clone()) else {
                continue;
            };
            if Some(i) == crash || !served.insert((i, attempt)) {
                continue;
            }
            let (Some(node), Some(guard), Some(state)) = (
                sim.node(i).cloned(),
                guards.get(i).cloned(),
                states.get(i).cloned(),
            ) else {
                continue;
            };
            let consensus = consensus.clone();
            let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (u64::from(attempt) << 32) ^ i as u64);
            // Its outcome is not needed: it only helps the laggard.
            drop(sim.spawn(i, async move {
                let _ = serve_fallback(
                    &node,
                    &guard,
                    &consensus,
                    &state,
                    &certificate,
                    attempt,
                    &mut rng,
                )
                .await;
            }));
        }
        let all_done = tasks
            .iter()
            .enumerate()
            .all(|(i, t)| Some(i) == crash || t.is_done());
        if sim.run_until(sim.now() + step) || all_done {
            break;
        }
        if sim.now() >= limit {
            return Err("a member hangs: still running after 600 s".into());
        }
    }

    let mut new_shares = Vec::new();
    let mut aborted = Vec::new();
    let mut committed_members = 0;
    for (i, task) in tasks.iter().enumerate() {
        if Some(i) == crash {
            continue;
        }
        match task.take() {
            Some(Ended::Committed(share)) => {
                committed_members += 1;
                new_shares.extend(share.map(|s| *s));
            }
            Some(Ended::Aborted(e)) => aborted.push(format!("node {i}: {e}")),
            None => aborted.push(format!("node {i}: no result")),
        }
    }
    let group_key = old_public.verifying_key();
    if new_shares.iter().any(|s| s.group_key() != *group_key) {
        return Err("a new share has another group key".into());
    }
    if crash.is_none() && !aborted.is_empty() {
        return Err(format!(
            "no crash, network healed, yet: {}",
            aborted.join("; ")
        ));
    }
    let live_old: Vec<usize> = (0..n_old).filter(|i| Some(*i) != crash).collect();
    if committed_members > 0 {
        // The new epoch committed somewhere: old witnesses that finished
        // must refuse old-epoch requests.
        for &i in &live_old {
            let state = states.get(i).ok_or("no state")?;
            let epoch = state
                .lock()
                .map_err(|_| "poisoned")?
                .witness()
                .share()
                .epoch();
            if epoch == KeyEpoch(1) {
                let old = old_keys.get(i).ok_or("no key")?;
                if !old_epoch_refused(state, old, &mut rng)? {
                    return Err(format!("node {i} still signs for the retired epoch"));
                }
            }
        }
    }
    if new_shares.len() == n_new {
        let refs: Vec<&AuthorityKeyShare> = new_shares.iter().collect();
        super::dkg::sign_together(&refs, &mut rng)
            .map_err(|e| format!("new shares cannot sign: {e}"))?;
        if refs
            .iter()
            .any(|s| s.threshold() != t_new || s.epoch() != KeyEpoch(1))
        {
            return Err("a new share has the wrong threshold or epoch".into());
        }
        report.committed = true;
    } else if committed_members == 0 {
        // Aborted everywhere: the old epoch must still work.
        for &i in &live_old {
            let epoch = states
                .get(i)
                .ok_or("no state")?
                .lock()
                .map_err(|_| "poisoned")?
                .witness()
                .share()
                .epoch();
            if epoch != old_epoch {
                return Err(format!(
                    "node {i} left the old epoch although the reshare aborted"
                ));
            }
        }
        let old: Vec<&AuthorityKeyShare> =
            live_old.iter().filter_map(|i| old_keys.get(*i)).collect();
        super::dkg::sign_together(&old, &mut rng)
            .map_err(|e| format!("after an aborted reshare the old shares cannot sign: {e}"))?;
    }
    Ok(())
}
