//! DKG among all nodes of the simulated network.
//!
//! Invariants checked per seed: no participant hangs (a crash makes the
//! others abort, never wait forever); every participant that finishes
//! holds the same group key; with no crash, every participant finishes
//! (the network faults heal), and any `t` of them sign a message that
//! verifies under the group key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aura_protocols::dkg::DkgConfig;
use aura_protocols::roles::{self, from_host};
use aura_protocols::signing::{self, CommitStatement, NonceStore, SigningRequest};
use aura_protocols::{AuthorityKeyShare, ParticipantId, Roster};
use choreo_runtime::guard::{
    CapabilitySet, ContextId, Grant, Guard, GuardConfig, ManualClock, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::sim::Sim;
use choreo_runtime::SessionId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{network, partition_and_heal, Fault, SeedReport, SimOptions};

/// The DKG config of a simulated committee: participant `i + 1` on node
/// `i`.
pub fn committee(sim: &Sim, n: usize, threshold: u16, session: [u8; 32]) -> Option<DkgConfig> {
    let bindings = (0..n)
        .map(|i| {
            let p = ParticipantId(u16::try_from(i + 1).ok()?);
            Some((p, from_host(sim.node_id(i)?)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(DkgConfig {
        session,
        threshold,
        roster: Roster::new(bindings).ok()?,
    })
}

/// Run a DKG on nodes `0..n` of `sim` (spawned, not yet run). Each task
/// yields its share or its error text.
pub fn spawn_dkg(
    sim: &mut Sim,
    config: &DkgConfig,
    seed: u64,
) -> Result<Vec<choreo_runtime::sim::TaskHandle<Result<AuthorityKeyShare, String>>>, String> {
    let mut id = [0u8; 16];
    id.copy_from_slice(config.session.get(..16).ok_or("short session id")?);
    let mut tasks = Vec::new();
    for (i, p) in config.participants().into_iter().enumerate() {
        let spec = roles::dkg::session_spec(SessionId(id), config, p).map_err(|e| e.to_string())?;
        let grant = dkg_grant(config);
        let session = sim
            .node(i)
            .ok_or("no such node")?
            .open_guarded_session(spec, &node_guard(i, config.session)?, grant)
            .map_err(|e| e.to_string())?;
        let config = config.clone();
        let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_mul(1009).wrapping_add(i as u64));
        let identity = super::node_identity(i);
        tasks.push(sim.spawn(i, async move {
            roles::dkg::run_dkg(session, config, &identity, &mut rng)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    Ok(tasks)
}

/// What a DKG participant's session may do: `dkg:participate` (the
/// round-1 `@guard`), flow charged in the DKG run's context.
pub fn dkg_grant(config: &DkgConfig) -> Grant {
    Grant {
        context: ContextId(config.session),
        capabilities: CapabilitySet::grant(["dkg:participate"]),
    }
}

/// Node `i`'s guard: default budgets on a manual clock (the simulation's
/// time does not move it), coupled to an in-memory journal whose facts
/// (`dkg:round1`, `consensus:commit`, …) a key of this simulation signs.
pub fn node_guard(i: usize, session: [u8; 32]) -> Result<Guard, String> {
    let scope = ScopeId(session);
    let journal = Journal::open(scope, MemoryStore::new()).map_err(|e| e.to_string())?;
    let key = SigningKey::from_bytes(&[u8::try_from(i).unwrap_or(u8::MAX).wrapping_add(1); 32]);
    Ok(
        Guard::new(GuardConfig::default(), Arc::new(ManualClock::default()))
            .with_journal(Arc::new(Mutex::new(journal)), RecordSends { key, scope }),
    )
}

/// Sign one statement with the first `t` shares (fast-path signing with
/// pre-committed nonces) and check the aggregate under the group key.
pub fn sign_together(shares: &[&AuthorityKeyShare], rng: &mut ChaCha20Rng) -> Result<(), String> {
    let first = shares.first().ok_or("no shares")?;
    let t = usize::from(first.threshold());
    let signers: Vec<&AuthorityKeyShare> = shares.iter().take(t).copied().collect();
    let statement = CommitStatement {
        consensus_id: rng.gen(),
        prestate: rng.gen(),
        operation: rng.gen(),
    };
    let mut stores: Vec<NonceStore> = signers.iter().map(|s| NonceStore::new(s)).collect();
    let mut nonces = BTreeMap::new();
    for (share, store) in signers.iter().zip(&mut stores) {
        let pre = store.precommit(share, 1, rng).map_err(|e| e.to_string())?;
        nonces.insert(share.participant(), *pre.first().ok_or("no nonce")?);
    }
    let request = SigningRequest {
        epoch: first.epoch(),
        message: statement.message(),
        signers: nonces,
    };
    let mut sigs = BTreeMap::new();
    for (share, store) in signers.iter().zip(&mut stores) {
        sigs.insert(
            share.participant(),
            store.sign(share, &request).map_err(|e| e.to_string())?,
        );
    }
    let certificate = signing::aggregate(first.public_key_package(), &request, statement, &sigs)
        .map_err(|e| e.to_string())?;
    if *certificate.group_key() != first.group_key() {
        return Err("the aggregate verified under another key".into());
    }
    Ok(())
}

/// One seeded DKG run.
pub fn run_seed(options: &SimOptions, seed: u64) -> SeedReport {
    let mut report = SeedReport {
        seed,
        ..SeedReport::default()
    };
    let n = usize::from(options.nodes);
    let faults = &options.faults;
    let (mut sim, mut rng) = network(faults, seed, n);
    let mut session = [0u8; 32];
    session[..8].copy_from_slice(&seed.to_le_bytes());
    session[8..12].copy_from_slice(b"dkg!");
    let Some(config) = committee(&sim, n, options.threshold, session) else {
        report
            .violations
            .push("could not build the committee".into());
        return report;
    };
    let tasks = match spawn_dkg(&mut sim, &config, seed) {
        Ok(t) => t,
        Err(e) => {
            report.violations.push(format!("could not start: {e}"));
            return report;
        }
    };
    let crashed = if faults.has(Fault::InitiatorCrash) || faults.has(Fault::WitnessCrash) {
        // A DKG has no initiator: crash participant 1 for the one and a
        // random other for the other; at most one crash per run.
        let victim = if faults.has(Fault::InitiatorCrash) && rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(0..n)
        };
        if rng.gen_bool(0.5) {
            sim.run_for(std::time::Duration::from_millis(rng.gen_range(0..150)));
            sim.crash(victim);
            Some(victim)
        } else {
            None
        }
    } else {
        None
    };
    partition_and_heal(&mut sim, faults, &mut rng, n);
    if let Err(stuck) = sim.run() {
        report
            .violations
            .push(format!("a participant hangs: {stuck}"));
        return report;
    }
    let mut shares = Vec::new();
    let mut failures = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        if Some(i) == crashed {
            continue;
        }
        match task.take() {
            Some(Ok(share)) => shares.push(share),
            Some(Err(e)) => failures.push(format!("node {i}: {e}")),
            None => failures.push(format!("node {i}: no result")),
        }
    }
    if let Some(first) = shares.first() {
        if shares.iter().any(|s| s.group_key() != first.group_key()) {
            report
                .violations
                .push("participants finished with different group keys".into());
        }
    }
    if crashed.is_none() && !failures.is_empty() {
        report.violations.push(format!(
            "no participant crashed and the network healed, yet the DKG failed: {}",
            failures.join("; ")
        ));
    }
    if shares.len() == n {
        let refs: Vec<&AuthorityKeyShare> = shares.iter().collect();
        match sign_together(&refs, &mut rng) {
            Ok(()) => report.committed = true,
            Err(e) => report
                .violations
                .push(format!("the new key cannot sign: {e}")),
        }
    }
    report
}
