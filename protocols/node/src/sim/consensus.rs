//! Consensus among the witnesses of one authority on the simulated node
//! host, with faults.
//!
//! Per seed: the committee's keys come from a DKG (run once per committee
//! shape and thread, on the simulator); every witness holds the same
//! prestate; the initiator proposes an operation, with pre-committed
//! nonces (half the seeds) or without. Faults: the network ones, and at
//! most `f = n - t` faulty witnesses among an initiator crash, a witness
//! crash and one equivocating witness. Witnesses that committed answer the
//! fallback attempts of laggards ([`serve_fallback`]), as a host does when
//! its node reports a session request.
//!
//! Invariants: never two different commits for one prestate; every commit
//! verifies under the group key, and the witness that aggregated it used
//! exactly `t` shares from witnesses it held no equivocation proof
//! against; with at most `f` faulty witnesses every live honest witness
//! commits once the network heals; an equivocator whose two shares met at
//! an honest witness is named in a verified proof there.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_protocols::roles::consensus::{
    run_consensus, serve_fallback, Behaviour, Committed, ConsensusConfig, WitnessState,
};
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, ParticipantId};
use choreo_runtime::node::NodeEvent;
use choreo_runtime::sim::{Sim, TaskHandle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{network, Fault, Faults, SeedReport, SimOptions};

type State = Arc<Mutex<WitnessState<MemorySigningRecord>>>;
type Outcome = Result<Committed, String>;

/// Key shares per (n, t) committee shape.
type KeyCache = BTreeMap<(u16, u16), Rc<Vec<AuthorityKeyShare>>>;

thread_local! {
    /// Key shares per (n, t): a DKG is run once per committee shape.
    static KEYS: RefCell<KeyCache> = const { RefCell::new(BTreeMap::new()) };
}

/// The committee's key shares (participant i + 1 on sim node i): a DKG on
/// a fault-free simulated network, cached per thread.
pub fn committee_keys(n: u16, t: u16) -> Result<Rc<Vec<AuthorityKeyShare>>, String> {
    if let Some(k) = KEYS.with(|k| k.borrow().get(&(n, t)).cloned()) {
        return Ok(k);
    }
    let (mut sim, _) = network(&Faults::none(), 1, usize::from(n));
    let config = super::dkg::committee(&sim, usize::from(n), t, [7; 32]).ok_or("no committee")?;
    let tasks = super::dkg::spawn_dkg(&mut sim, &config, 1)?;
    sim.run().map_err(|e| e.to_string())?;
    let shares = tasks
        .iter()
        .map(|t| t.take().ok_or("unfinished DKG".to_string())?)
        .collect::<Result<Vec<_>, _>>()?;
    let shares = Rc::new(shares);
    KEYS.with(|k| k.borrow_mut().insert((n, t), shares.clone()));
    Ok(shares)
}

/// One consensus instance on a fault-free simulated network with zero
/// latency among `keys.len()` witnesses (participant 1 initiates): with
/// `precommitted`, the initiator already holds a nonce of every witness.
/// Returns every witness's result.
pub fn fault_free(
    keys: &[AuthorityKeyShare],
    threshold: u16,
    precommitted: bool,
    seed: u64,
) -> Result<Vec<Committed>, String> {
    let config = choreo_runtime::sim::SimConfig {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        ..Default::default()
    };
    run_together(keys, threshold, precommitted, seed, config, None)?
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// One consensus instance on a fault-free simulated network (default
/// 10–15 ms links) where witness `diverged` (a sim node index, not the
/// initiator) holds another reduced state than the others, so it refuses
/// the initiator's request. Returns every witness's result and the virtual
/// time at which it ended.
pub fn with_diverged_witness(
    keys: &[AuthorityKeyShare],
    threshold: u16,
    diverged: usize,
    seed: u64,
) -> Result<Vec<(Outcome, Duration)>, String> {
    let config = choreo_runtime::sim::SimConfig::default();
    run_together(keys, threshold, true, seed, config, Some(diverged))
}

fn run_together(
    keys: &[AuthorityKeyShare],
    threshold: u16,
    precommitted: bool,
    seed: u64,
    sim_config: choreo_runtime::sim::SimConfig,
    diverged: Option<usize>,
) -> Result<Vec<(Outcome, Duration)>, String> {
    let mut sim = Sim::new(seed, sim_config);
    super::add_nodes(&mut sim, keys.len());
    let dkg = super::dkg::committee(&sim, keys.len(), threshold, [7; 32]).ok_or("no committee")?;
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let config = ConsensusConfig::new(id, dkg.roster, threshold, ParticipantId(1));
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let states: Vec<State> = keys
        .iter()
        .map(|k| {
            Arc::new(Mutex::new(WitnessState::new(Witness::new(
                k.clone(),
                MemorySigningRecord::default(),
            ))))
        })
        .collect();
    if precommitted {
        for (i, s) in states.iter().enumerate().skip(1) {
            let pre = lock(s)?.precommit(1, &mut rng).map_err(|e| e.to_string())?;
            let p = ParticipantId(u16::try_from(i + 1).map_err(|e| e.to_string())?);
            if let (Some(first), Some(nonce)) = (states.first(), pre.first()) {
                lock(first)?.learn_nonce(p, *nonce);
            }
        }
    }
    let operation: [u8; 32] = rng.gen();
    let tasks: Vec<TaskHandle<(Outcome, Duration)>> = states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let node = sim.node(i).cloned();
            let guard = super::dkg::node_guard(i, id).ok();
            let (config, s) = (config.clone(), s.clone());
            let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_add(i as u64 + 1));
            let prestate = if diverged == Some(i) {
                [2; 32]
            } else {
                [1; 32]
            };
            sim.spawn(i, async move {
                let (Some(node), Some(guard)) = (node, guard) else {
                    return (Err("no node or guard".to_string()), Duration::ZERO);
                };
                let result = run_consensus(
                    &node,
                    &guard,
                    &config,
                    &s,
                    prestate,
                    (i == 0).then_some(operation),
                    &mut rng,
                )
                .await
                .map_err(|e| e.to_string());
                (result, node.now().since_epoch())
            })
        })
        .collect();
    sim.run().map_err(|e| e.to_string())?;
    tasks
        .iter()
        .map(|t| t.take().ok_or_else(|| "unfinished".to_string()))
        .collect()
}

/// Who misbehaves in one seed.
#[derive(Clone, Debug, Default)]
struct Plan {
    initiator_crash: Option<u64>,
    witness_crash: Option<(usize, u64)>,
    equivocator: Option<usize>,
    precommitted: bool,
}

fn plan(faults: &Faults, rng: &mut ChaCha20Rng, n: usize, f: usize) -> Plan {
    let mut p = Plan {
        precommitted: rng.gen_bool(0.5),
        ..Plan::default()
    };
    let mut kinds = Vec::new();
    if faults.has(Fault::InitiatorCrash) {
        kinds.push(Fault::InitiatorCrash);
    }
    if faults.has(Fault::WitnessCrash) {
        kinds.push(Fault::WitnessCrash);
    }
    if faults.has(Fault::Equivocate) {
        kinds.push(Fault::Equivocate);
    }
    let mut others: Vec<usize> = (1..n).collect();
    let mut budget = f;
    for kind in kinds {
        if budget == 0 || others.is_empty() || !rng.gen_bool(0.6) {
            continue;
        }
        budget -= 1;
        match kind {
            // Anywhere from before its request leaves to mid-fallback.
            Fault::InitiatorCrash => p.initiator_crash = Some(rng.gen_range(0..3000)),
            Fault::WitnessCrash => {
                let w = others.remove(rng.gen_range(0..others.len()));
                p.witness_crash = Some((w, rng.gen_range(0..3000)));
            }
            _ => {
                let w = others.remove(rng.gen_range(0..others.len()));
                p.equivocator = Some(w);
            }
        }
    }
    p
}

/// One seeded consensus run.
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

fn run(options: &SimOptions, seed: u64, report: &mut SeedReport) -> Result<(), String> {
    let n = usize::from(options.nodes);
    let t = options.threshold;
    let f = n - usize::from(t);
    let keys = committee_keys(options.nodes, t)?;
    let (mut sim, mut rng) = network(&options.faults, seed, n);
    let plan = plan(&options.faults, &mut rng, n, f);
    let dkg = super::dkg::committee(&sim, n, t, [7; 32]).ok_or("no committee")?;
    let mut consensus_id = [0u8; 32];
    consensus_id[..8].copy_from_slice(&seed.to_le_bytes());
    let initiator = ParticipantId(1);
    let config = ConsensusConfig::new(consensus_id, dkg.roster.clone(), t, initiator);
    let prestate: [u8; 32] = rng.gen();
    let operation: [u8; 32] = rng.gen();

    let states: Vec<State> = keys
        .iter()
        .enumerate()
        .map(|(i, share)| {
            let behaviour = if plan.equivocator == Some(i) {
                Behaviour::Equivocate
            } else {
                Behaviour::Honest
            };
            Arc::new(Mutex::new(
                WitnessState::new(Witness::new(share.clone(), MemorySigningRecord::default()))
                    .with_behaviour(behaviour),
            ))
        })
        .collect();
    if plan.precommitted {
        // Every witness published a nonce ahead of time (an earlier run's
        // votes carry them); the initiator holds them.
        for (i, state) in states.iter().enumerate().skip(1) {
            let pre = lock(state)?
                .precommit(1, &mut rng)
                .map_err(|e| e.to_string())?;
            let p = ParticipantId(u16::try_from(i + 1).map_err(|e| e.to_string())?);
            if let (Some(first), Some(nonce)) = (states.first(), pre.first()) {
                lock(first)?.learn_nonce(p, *nonce);
            }
        }
    }

    let guards = (0..n)
        .map(|i| super::dkg::node_guard(i, consensus_id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tasks: Vec<TaskHandle<Outcome>> = Vec::new();
    for (i, state) in states.iter().enumerate() {
        let node = sim.node(i).ok_or("no node")?.clone();
        let guard = guards.get(i).ok_or("no guard")?.clone();
        let (config, state) = (config.clone(), state.clone());
        let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_mul(7919).wrapping_add(i as u64));
        let op = (i == 0).then_some(operation);
        tasks.push(sim.spawn(i, async move {
            run_consensus(&node, &guard, &config, &state, prestate, op, &mut rng)
                .await
                .map_err(|e| e.to_string())
        }));
    }

    let mut results: Vec<Option<Outcome>> = vec![None; n];
    let mut crashed = BTreeSet::new();
    let mut served: BTreeSet<(usize, u32)> = BTreeSet::new();
    let mut seen_events = 0;
    let mut healed = false;
    let partition = options.faults.has(Fault::Partition).then(|| {
        let side: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.5)).collect();
        let at = rng.gen_range(0..300u64);
        let len = rng.gen_range(100..4000u64);
        (side, at, len)
    });
    let step = Duration::from_millis(20);
    let limit = sim.now() + Duration::from_secs(600);
    loop {
        let now_ms = sim.now().as_micros() / 1000;
        if let Some(at) = plan.initiator_crash {
            if now_ms >= at && crashed.insert(0) {
                sim.crash(0);
            }
        }
        if let Some((w, at)) = plan.witness_crash {
            if now_ms >= at && crashed.insert(w) {
                sim.crash(w);
            }
        }
        if let Some((side, at, len)) = &partition {
            if now_ms >= *at && now_ms < at + len && !healed {
                let a: Vec<usize> = (0..n).filter(|&k| side.get(k) == Some(&true)).collect();
                let b: Vec<usize> = (0..n).filter(|&k| side.get(k) != Some(&true)).collect();
                if !a.is_empty() && !b.is_empty() {
                    sim.partition(&a, &b);
                }
            } else if now_ms >= at + len && !healed {
                sim.heal();
                healed = true;
            }
        }
        // Committed witnesses answer the fallback sessions laggards open.
        let events: Vec<(usize, choreo_runtime::SessionId)> = sim
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
        for (i, session) in events {
            let Some(attempt) = config.attempt_of(session) else {
                continue;
            };
            if crashed.contains(&i) || served.contains(&(i, attempt)) {
                continue;
            }
            let Some(Some(Ok(done))) = results.get(i) else {
                continue;
            };
            served.insert((i, attempt));
            let node = sim.node(i).ok_or("no node")?.clone();
            let guard = guards.get(i).ok_or("no guard")?.clone();
            let (config, state) = (config.clone(), states.get(i).ok_or("no state")?.clone());
            let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (u64::from(attempt) << 32) ^ i as u64);
            let cert = done.certificate.clone();
            // Its outcome is not needed: it only helps the laggard.
            drop(sim.spawn(i, async move {
                let _ =
                    serve_fallback(&node, &guard, &config, &state, &cert, attempt, &mut rng).await;
            }));
        }
        let deadline = sim.now() + step;
        let finished = sim.run_until(deadline);
        for (slot, task) in results.iter_mut().zip(&tasks) {
            if slot.is_none() {
                *slot = task.take();
            }
        }
        let all_main_done = results
            .iter()
            .enumerate()
            .all(|(i, r)| crashed.contains(&i) || r.is_some());
        if finished || all_main_done || sim.now() >= limit {
            if !all_main_done {
                return Err(format!("witnesses still running at {}", sim.now()));
            }
            break;
        }
    }

    // Results of the live witnesses.
    let group_key = keys.first().ok_or("no keys")?.group_key();
    let mut statements = BTreeSet::new();
    let mut live_uncommitted = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        if crashed.contains(&i) {
            continue;
        }
        match result {
            Some(Ok(done)) => {
                if *done.certificate.group_key() != group_key {
                    return Err(format!("node {i}: a certificate under another key"));
                }
                statements.insert(*done.certificate.statement());
                if let Some(signers) = &done.signers {
                    // Proofs held when it aggregated (one learned later, in
                    // the same attempt's outcomes, cannot un-count a share).
                    let excluded = &done.excluded_when_aggregated;
                    if signers.len() != usize::from(t)
                        || signers.iter().any(|s| excluded.contains(s))
                    {
                        return Err(format!(
                            "node {i} aggregated from signers {signers:?} (excluded: {excluded:?})"
                        ));
                    }
                }
                let liar = plan.equivocator.map(|e| ParticipantId(e as u16 + 1));
                if done.proofs.iter().any(|p| Some(p.witness) != liar) {
                    return Err(format!("node {i} holds a proof against an honest witness"));
                }
                if liar.is_some() && Some(i) != plan.equivocator && !done.proofs.is_empty() {
                    report.equivocator_caught = true;
                }
            }
            Some(Err(e)) => live_uncommitted.push(format!("node {i}: {e}")),
            None => live_uncommitted.push(format!("node {i}: unfinished")),
        }
    }
    if statements.len() > 1 {
        return Err(format!(
            "{} different commits for one prestate",
            statements.len()
        ));
    }
    if let Some(s) = statements.first() {
        if s.prestate != prestate {
            return Err("a commit for another prestate".into());
        }
    }
    let faulty = crashed.len() + usize::from(plan.equivocator.is_some());
    // If the initiator crashed before its request reached anyone, there is
    // nothing to commit: every live witness must say so (and none commit).
    let nothing = "no operation was proposed";
    if crashed.contains(&0)
        && statements.is_empty()
        && live_uncommitted.iter().all(|m| m.contains(nothing))
    {
        report.unproposed = true;
        return Ok(());
    }
    if faulty <= f && !live_uncommitted.is_empty() {
        // An equivocator is faulty: it need not commit.
        let honest_failures: Vec<&String> = live_uncommitted
            .iter()
            .filter(|m| {
                plan.equivocator
                    .is_none_or(|e| !m.starts_with(&format!("node {e}:")))
            })
            .collect();
        if !honest_failures.is_empty() {
            return Err(format!(
                "{faulty} faulty of {n} (f = {f}), network healed, yet: {}",
                honest_failures
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    report.committed = !statements.is_empty();
    Ok(())
}

fn lock(
    state: &State,
) -> Result<std::sync::MutexGuard<'_, WitnessState<MemorySigningRecord>>, String> {
    state.lock().map_err(|_| "poisoned".to_string())
}
