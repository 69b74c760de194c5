//! `aura-node run --config FILE`: one node as its own process over libp2p.
//!
//! The config file (TOML) names the node's key file and listen address,
//! the run (its id and protocol) and every participant: its participant
//! id, PeerId and address. The node finds itself in that list by its own
//! PeerId, so every process can read the same participant list.
//!
//! ```toml
//! key = "node1.key"                   # relative to the config file
//! listen = "/ip4/127.0.0.1/tcp/4101"
//! run = "authority-1 keygen"          # every participant uses the same text
//! protocol = "dkg"
//! threshold = 3
//!
//! [[peers]]
//! participant = 1
//! peer_id = "12D3KooW..."
//! address = "/ip4/127.0.0.1/tcp/4101"
//! ```
//!
//! After the DKG the node prints `group key: <hex>`, then signs a check
//! statement together with the others through consensus (its signing
//! record lives next to its key file, `<key>.record.redb`) and prints
//! `commit: operation <hex> signature <hex> verified`. Every send passes
//! the node's guard; the `@journal` facts of both runs go to the node's
//! encrypted journal, `<key>.journal.redb`. After committing, the node
//! stays to answer laggards: a witness that missed the commit runs
//! fallback attempts, and for each attempt it opens this node answers
//! with the certificate (`serve_fallback`), until `serve_ms` passed
//! without a new request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aura_protocols::dkg::DkgConfig;
use aura_protocols::roles::consensus::{
    run_consensus, serve_fallback, Committed, ConsensusConfig, Path as CommitPath, WitnessState,
};
use aura_protocols::roles::{self, from_host};
use aura_protocols::witness::Witness;
use aura_protocols::{NodeIdentity, ParticipantId, Roster};
use choreo_runtime::guard::{CapabilitySet, ContextId, Grant};
use choreo_runtime::journal::{AuthorKey, Authorship, ScopeId};
use choreo_runtime::net::{
    node_id_of, read_key_file, JournalConfig, Libp2pPeerId as PeerId, Multiaddr, NetNode,
    NetNodeConfig,
};
use choreo_runtime::SessionId;
use rand::SeedableRng;
use serde::Deserialize;

use crate::record::RedbSigningRecord;
use crate::NodeError;

/// One participant as the config lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct PeerEntry {
    /// Its participant id in the authority (from 1).
    pub participant: u16,
    /// Its libp2p PeerId.
    pub peer_id: String,
    /// Where it listens.
    pub address: String,
}

/// The config file.
#[derive(Clone, Debug, Deserialize)]
pub struct RunConfig {
    /// The node's key file (relative paths are relative to the config file).
    pub key: PathBuf,
    /// Where to listen.
    pub listen: String,
    /// The run's id: every participant must use the same text.
    pub run: String,
    /// What to run: `dkg`.
    pub protocol: String,
    /// Signers needed.
    pub threshold: u16,
    /// How long to wait for the others before giving up (seconds, default 60).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// After committing, how long to keep answering laggards' fallback
    /// attempts with the certificate: the node stays until this long has
    /// passed without a new request (milliseconds, default 3000).
    #[serde(default)]
    pub serve_ms: Option<u64>,
    /// Join the consensus this long after the DKG (milliseconds, default
    /// 0): lets a test (or an operator) make this node a laggard.
    #[serde(default)]
    pub consensus_delay_ms: Option<u64>,
    /// Every participant, this node included.
    pub peers: Vec<PeerEntry>,
}

impl RunConfig {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let mut config: RunConfig = toml::from_str(&text)
            .map_err(|e| NodeError::Usage(format!("{}: {e}", path.display())))?;
        if config.key.is_relative() {
            if let Some(dir) = path.parent() {
                config.key = dir.join(&config.key);
            }
        }
        if config.protocol != "dkg" {
            return Err(NodeError::Usage(format!(
                "protocol `{}` cannot run from a config yet; use `dkg`",
                config.protocol
            )));
        }
        Ok(config)
    }
}

/// SHA-256 of a label and the run id: session ids and the DKG's run id
/// come from it, so every participant derives the same ones.
fn digest32(label: &[u8], text: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(label);
    h.update(text.as_bytes());
    h.finalize().into()
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, NodeError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| NodeError::Usage(format!("bad {what} `{s}`: {e}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run the node described by `path` to completion.
pub async fn run(path: &Path) -> Result<(), NodeError> {
    let config = RunConfig::load(path)?;
    let keypair = read_key_file(&config.key).map_err(|e| NodeError::Usage(e.to_string()))?;
    // The same Ed25519 key signs the DKG's round 1 (its public half is
    // the node id every link is authenticated to).
    let identity = {
        let ed = keypair
            .clone()
            .try_into_ed25519()
            .map_err(|e| NodeError::Usage(format!("{}: {e}", config.key.display())))?;
        let mut secret = [0u8; 32];
        secret.copy_from_slice(ed.secret().as_ref());
        NodeIdentity::from_secret(secret)
    };
    let mut net = NetNodeConfig::new(keypair);
    net.net.listen = vec![parse::<Multiaddr>("listen address", &config.listen)?];
    let mut bindings = Vec::new();
    let mut addresses = Vec::new();
    for p in &config.peers {
        let peer: PeerId = parse("PeerId", &p.peer_id)?;
        let node = node_id_of(&peer).map_err(|e| NodeError::Usage(e.to_string()))?;
        bindings.push((ParticipantId(p.participant), from_host(node)));
        addresses.push((peer, parse::<Multiaddr>("address", &p.address)?));
        net.node.peers.push(node);
    }
    // The node's journal (the guard's `@journal` facts: DKG rounds,
    // consensus commits) next to its key file, one scope per run, in which
    // the participants (their node keys) may author facts.
    net.journal = Some(JournalConfig {
        path: config.key.with_extension("journal.redb"),
        scope: ScopeId(digest32(b"aura-node/run/scope/v1", &config.run)),
        authorship: Authorship::members(net.node.peers.iter().map(|n| AuthorKey(n.0))),
    });
    let roster = Roster::new(bindings).map_err(|e| NodeError::Usage(e.to_string()))?;
    let mut node = NetNode::spawn(net)
        .await
        .map_err(|e| NodeError::Transport(e.to_string()))?;
    let me_node = from_host(node.local_node_id());
    let me = roster.participant(&me_node).ok_or_else(|| {
        NodeError::Usage(format!(
            "this node ({}) is not in the config's peer list",
            node.local_peer_id()
        ))
    })?;
    for (peer, address) in addresses {
        if peer != node.local_peer_id() {
            node.add_address(peer, address)
                .await
                .map_err(|e| NodeError::Transport(e.to_string()))?;
        }
    }
    eprintln!(
        "{me}: peer id {}, running {}",
        node.local_peer_id(),
        config.protocol
    );
    let session_key = digest32(b"aura-node/run/dkg/v1", &config.run);
    let dkg_roster = roster.clone();
    let dkg = DkgConfig {
        session: session_key,
        threshold: config.threshold,
        roster,
    };
    let mut id = [0u8; 16];
    id.copy_from_slice(&session_key[..16]);
    let spec = roles::dkg::session_spec(SessionId(id), &dkg, me)
        .map_err(|e| NodeError::Usage(e.to_string()))?;
    let grant = Grant {
        context: ContextId(session_key),
        capabilities: CapabilitySet::grant(["dkg:participate"]),
    };
    let session = node
        .open_guarded_session(spec, grant)
        .map_err(|e| NodeError::Usage(e.to_string()))?;
    let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
    let timeout = Duration::from_secs(config.timeout_secs.unwrap_or(60));
    let share = tokio::time::timeout(
        timeout,
        roles::dkg::run_dkg(session, dkg, &identity, &mut rng),
    )
    .await
    .map_err(|_| NodeError::Protocol(format!("the DKG did not finish within {timeout:?}")))?
    .map_err(|e| NodeError::Protocol(e.to_string()))?;
    let key = share
        .group_key()
        .serialize()
        .map_err(|e| NodeError::Protocol(e.to_string()))?;
    println!("group key: {}", hex(&key));

    // Sign together: the committee commits a check statement through
    // consensus (participant 1 proposes), each witness with its durable
    // signing record next to its key file.
    let record_path = config.key.with_extension("record.redb");
    let record = RedbSigningRecord::open(&record_path)
        .map_err(|e| NodeError::Usage(format!("{}: {e}", record_path.display())))?;
    let state = std::sync::Mutex::new(WitnessState::new(Witness::new(share, record)));
    let initiator = dkg_roster
        .participants()
        .next()
        .ok_or_else(|| NodeError::Usage("no participants".into()))?;
    let consensus = ConsensusConfig::new(
        digest32(b"aura-node/run/check/v1", &config.run),
        dkg_roster,
        config.threshold,
        initiator,
    );
    let prestate = digest32(b"aura-node/run/prestate/v1", &config.run);
    let operation = digest32(b"aura-node/run/operation/v1", &config.run);
    if let Some(ms) = config.consensus_delay_ms.filter(|ms| *ms > 0) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let committed = tokio::time::timeout(
        timeout,
        run_consensus(
            node.shared(),
            node.guard(),
            &consensus,
            &state,
            prestate,
            (me == initiator).then_some(operation),
            &mut rng,
        ),
    )
    .await
    .map_err(|_| NodeError::Protocol(format!("consensus did not finish within {timeout:?}")))?
    .map_err(|e| NodeError::Protocol(e.to_string()))?;
    let signature = committed
        .certificate
        .signature()
        .serialize()
        .map_err(|e| NodeError::Protocol(e.to_string()))?;
    println!(
        "commit: operation {} signature {} verified ({:?})",
        hex(&committed.certificate.statement().operation),
        hex(&signature),
        committed.path
    );
    let serve = Duration::from_millis(config.serve_ms.unwrap_or(3_000));
    let served = serve_laggards(&mut node, &consensus, &state, &committed, serve, &mut rng).await;
    if served > 0 {
        println!("answered {served} fallback attempt(s) of laggards with the certificate");
    }
    node.settle(Duration::from_secs(5)).await;
    node.shutdown().await;
    Ok(())
}

/// Answer the fallback attempts laggards open (sessions this node did not
/// run itself) with `committed`'s certificate, until `quiet` passed
/// without a new request. Returns how many attempts it answered.
async fn serve_laggards<R: aura_protocols::witness::SigningRecord>(
    node: &mut NetNode,
    config: &ConsensusConfig,
    state: &std::sync::Mutex<WitnessState<R>>,
    committed: &Committed,
    quiet: Duration,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> usize {
    // The attempts this node ran itself are over (their sessions closed).
    let ran = match committed.path {
        CommitPath::Fast => None,
        CommitPath::Fallback(k) => Some(k),
    };
    let mut tried = std::collections::BTreeSet::new();
    let mut answered = 0;
    while let Ok(Some((session, _, from))) =
        tokio::time::timeout(quiet, node.incoming_session()).await
    {
        let Some(attempt) = config.attempt_of(session) else {
            continue;
        };
        if ran.is_some_and(|k| attempt <= k) || !tried.insert(attempt) {
            continue;
        }
        tracing::info!(%from, attempt, "answering a laggard's fallback attempt");
        let answer = serve_fallback(
            node.shared(),
            node.guard(),
            config,
            state,
            &committed.certificate,
            attempt,
            rng,
        );
        match tokio::time::timeout(quiet.max(Duration::from_secs(5)), answer).await {
            Ok(Ok(())) => answered += 1,
            Ok(Err(e)) => tracing::info!(attempt, error = %e, "answering a laggard failed"),
            Err(_) => tracing::info!(attempt, "a laggard's attempt did not finish"),
        }
    }
    answered
}
