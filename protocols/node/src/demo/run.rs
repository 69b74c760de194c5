//! The lifecycle on the deterministic simulator: every role is a task of
//! its own simulated node, every message a frame through the node core
//! (links, retransmission, faults), every protocol step the role logic of
//! `aura_protocols::roles` (DKG) and `aura_protocols::lifecycle` (the
//! rest) on the generated endpoints.
//!
//! Nodes: A's devices 0–2, A's guardians 3–5, B's devices 6–8, the new
//! device 9. A's key is generated 2-of-6 by its devices and its guardians
//! together (so the guardians hold shares of the account key; the book
//! states the policy: any two of the six can sign, so two colluding
//! guardians could sign without the delay window — the window binds honest
//! guardians). Journals are in memory per node; A's journal is replicated
//! with the journal sync protocol.

// Node indices are the constants above, within the ten nodes created at
// setup, and share/core indices follow them.
#![allow(clippy::indexing_slicing)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_protocols::amp::{
    BumpReason, ChannelId, ChannelReceiver, ChannelRoot, ChannelSender, ContextId, DeviceId,
};
use aura_protocols::dkg::DkgConfig;
use aura_protocols::generated::{
    channel_root, channel_stream, epoch_bump, guardian_binding, recovery, recovery_grant,
};
use aura_protocols::journal_sync::{self, SyncConfig};
use aura_protocols::lifecycle::binding::{self, AccountSide, BindingProposal, WitnessSide};
use aura_protocols::lifecycle::channel::{self, ChannelSpec, Inbox, SealedMessage};
use aura_protocols::lifecycle::epoch::{self, BumpOutcome, PeerSide, ProposerSide};
use aura_protocols::lifecycle::recovery::{
    self as rec, GrantOutcome, GuardianDesk, RecoveryRequest, RequestOutcome, WindowVerdict,
};
use aura_protocols::lifecycle::{Clock, ManualClock, SignerIds};

use super::cluster::{Cluster, MemoryCluster, NetCluster, RecoveryClock, SimCluster, Slot};
use super::DemoTransport;
use aura_protocols::roles::{self, from_host};
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, ParticipantId, Roster};
use choreo_runtime::guard::{
    CapabilitySet, ContextId as FlowContext, Grant, Guard, GuardConfig, GuardedTransport,
    ManualClock as GuardClock, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::node::NodeTransport;
use choreo_runtime::node::SessionSpec;
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::{ProtocolInfo, Session, SessionId};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

const A_DEVICES: [usize; 3] = [0, 1, 2];
const GUARDIANS: [usize; 3] = [3, 4, 5];
const B_DEVICES: [usize; 3] = [6, 7, 8];
const NEW_DEVICE: usize = 9;
/// Node names in the timeline and the trace.
pub const NODE_NAMES: [&str; 10] = ["A1", "A2", "A3", "G1", "G2", "G3", "B1", "B2", "B3", "N"];
/// Window width of the demo channel (W/2 = 32 generations per routine
/// bump, so the default 600 messages from three devices see several bumps).
pub const WINDOW: u64 = 64;
const BATCH: u32 = 25;

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Seed of everything random.
    pub seed: u64,
    /// The guardians' recovery delay (seconds; 1 h to 30 d).
    pub recovery_delay_secs: u64,
    /// Messages B sends to A.
    pub messages: u32,
    /// Drop, duplicate and reorder frames.
    pub faults: bool,
    /// Keep the simulator's frame trace (for `aura-node trace`).
    pub keep_trace: bool,
    /// Window width `W` of the channel (even; default [`WINDOW`]).
    pub window: u64,
    /// Where the nodes run.
    pub transport: DemoTransport,
    /// On a real transport, the real time in which the recovery delay
    /// passes on the guardians' sped-up clock ([`RecoveryClock::scaled`]).
    pub real_delay: Duration,
}

impl DemoConfig {
    /// The defaults of `aura-node demo` on `transport`.
    pub fn new(transport: DemoTransport, seed: u64) -> Self {
        DemoConfig {
            seed,
            recovery_delay_secs: 86_400,
            messages: 600,
            faults: false,
            keep_trace: false,
            window: WINDOW,
            transport,
            real_delay: REAL_DELAY,
        }
    }
}

/// Real time in which the recovery delay passes on a real transport.
pub const REAL_DELAY: Duration = Duration::from_secs(2);

/// One line of the timeline.
#[derive(Clone, Debug)]
pub struct Step {
    /// Virtual network time.
    pub at: Duration,
    /// Phase name (for the trace).
    pub phase: &'static str,
    /// What happened.
    pub text: String,
    /// Index into the simulator trace where the phase began.
    pub trace_from: usize,
}

/// What a complete run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Seed.
    pub seed: u64,
    /// Messages sent and later read by the new device.
    pub messages: u32,
    /// Messages the new device read.
    pub read: usize,
    /// Epoch bumps certified.
    pub bumps: u32,
    /// The recovery delay that passed (seconds on the guardians' clock).
    pub delay_secs: u64,
    /// How long that took in real time (`None`: the clock was virtual).
    pub delay_real: Option<Duration>,
    /// Frames delivered by the network.
    pub frames: u64,
    /// The old channel root equals the recomputed one.
    pub root_recovered: bool,
    /// A replay of an old message was refused after recovery.
    pub replay_refused: bool,
    /// The key epoch of the share the new device got by reshare.
    pub new_share_epoch: u64,
}

impl Summary {
    /// The `lifecycle complete: …` text.
    pub fn line(&self) -> String {
        format!(
            "seed {}, 3 devices + 3 guardians, {} messages over {} epoch bump(s), recovery after {} ({}), new device read {}/{} messages, channel root recomputed: {}, replay refused: {}, new device's own share: epoch {}, {} frames",
            self.seed,
            self.messages,
            self.bumps,
            super::show_delay(self.delay_secs),
            match self.delay_real {
                None => "virtual".to_string(),
                Some(real) => format!("scaled clock, {:.1} s real", real.as_secs_f64()),
            },
            self.read,
            self.messages,
            if self.root_recovered { "yes" } else { "no" },
            if self.replay_refused { "yes" } else { "no" },
            self.new_share_epoch,
            self.frames
        )
    }
}

/// The first failure, with the phase it happened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Phase.
    pub phase: &'static str,
    /// What went wrong.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.phase, self.detail)
    }
}

type Shared<T> = Rc<T>;
type Core = Rc<RefCell<Option<Witness<MemorySigningRecord>>>>;

struct World<'a> {
    cluster: Box<dyn Cluster>,
    seed: u64,
    next_session: u64,
    journals: Vec<Shared<Mutex<Journal>>>,
    /// Each node's guard: the capabilities the demo's protocols name,
    /// default budgets, `@journal` records in a journal of its own (so
    /// the authorities' journals hold only their protocol facts).
    guards: Vec<Guard>,
    keys: Vec<SigningKey>,
    log: &'a mut dyn FnMut(&Step),
    phase: &'static str,
    trace_from: usize,
}

fn fail(phase: &'static str, detail: impl fmt::Display) -> Failure {
    Failure {
        phase,
        detail: detail.to_string(),
    }
}

/// Every capability a `@guard` of the demo's protocols names.
const DEMO_CAPABILITIES: [&str; 7] = [
    "amp:bump",
    "amp:emergency-bump",
    "consensus:initiate",
    "dkg:participate",
    "guardian:invite",
    "recovery:request",
    "reshare:join",
];

fn scope_of(tag: &[u8]) -> ScopeId {
    ScopeId(Sha256::digest(tag).into())
}

impl World<'_> {
    fn begin(&mut self, phase: &'static str) {
        self.phase = phase;
        self.trace_from = self.cluster.trace().len();
    }

    fn say(&mut self, text: String) {
        let step = Step {
            at: self.cluster.now(),
            phase: self.phase,
            text,
            trace_from: self.trace_from,
        };
        (self.log)(&step);
    }

    fn err(&self, detail: impl fmt::Display) -> Failure {
        fail(self.phase, detail)
    }

    fn session_id(&mut self) -> SessionId {
        self.next_session += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_session.to_be_bytes());
        id[8..].copy_from_slice(&self.seed.to_be_bytes());
        SessionId(id)
    }

    fn rng(&mut self, salt: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(salt)
                .wrapping_add(self.next_session << 20),
        )
    }

    fn open(
        &mut self,
        protocol: &'static ProtocolInfo,
        roster: Result<choreo_runtime::Roster, choreo_runtime::Error>,
        nodes: &[usize],
    ) -> Result<Vec<Session<GuardedTransport<NodeTransport>>>, Failure> {
        let roster = roster.map_err(|e| self.err(e))?;
        let id = self.session_id();
        let peers = nodes
            .iter()
            .map(|&n| self.cluster.node_id(n))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.err("a roster names a node the cluster does not have"))?;
        // Instance `i` of the roster on node `nodes[i]`.
        let mut sessions = Vec::with_capacity(nodes.len());
        for (&me, &n) in roster.instances().iter().zip(nodes) {
            let node = self
                .cluster
                .node(n)
                .ok_or_else(|| self.err(format!("{} is down", NODE_NAMES[n])))?;
            let spec = SessionSpec {
                id,
                protocol,
                me,
                roster: roster.clone(),
                peers: peers.clone(),
                patience: None,
            };
            let guard = self
                .guards
                .get(n)
                .ok_or_else(|| self.err("missing guard"))?;
            let grant = Grant {
                context: FlowContext(Sha256::digest(id.0).into()),
                capabilities: CapabilitySet::grant(DEMO_CAPABILITIES),
            };
            sessions.push(
                node.open_guarded_session(spec, guard, grant)
                    .map_err(|e| self.err(e))?,
            );
        }
        Ok(sessions)
    }

    /// Run `future` as a task of node `node`; its output is in the slot
    /// after the next settle.
    fn spawn<T: 'static>(
        &mut self,
        node: usize,
        future: impl std::future::Future<Output = T> + 'static,
    ) -> Slot<T> {
        let slot: Slot<T> = Rc::new(RefCell::new(None));
        let out = slot.clone();
        self.cluster.spawn(
            node,
            Box::pin(async move {
                let value = future.await;
                *out.borrow_mut() = Some(value);
            }),
        );
        slot
    }

    /// Run until every task finished; `Stuck` is a failure.
    fn settle(&mut self) -> Result<(), Failure> {
        self.cluster.settle().map_err(|e| self.err(e))
    }

    fn journal(&self, node: usize) -> Shared<Mutex<Journal>> {
        self.journals[node].clone()
    }

    /// Replicate node `from`'s journal to `to` with the journal sync
    /// protocol (one session per pair).
    fn sync(&mut self, from: usize, to: &[usize]) -> Result<usize, Failure> {
        let mut tasks = Vec::new();
        for &t in to {
            let mut s = self.open(
                &journal_sync::PROTOCOL,
                journal_sync::roster(&journal_sync::Params {}),
                &[from, t],
            )?;
            let (sr, si) = (s.pop(), s.pop());
            let (Some(si), Some(sr)) = (si, sr) else {
                return Err(self.err("journal sync roster has two roles"));
            };
            let (ji, jr) = (self.journal(from), self.journal(t));
            let a = self.spawn(from, async move {
                journal_sync::initiate(si, &ji, SyncConfig::default())
                    .await
                    .map(|r| r.sent)
                    .map_err(|e| e.to_string())
            });
            let b = self.spawn(t, async move {
                journal_sync::respond(sr, &jr)
                    .await
                    .map(|_| 0)
                    .map_err(|e| e.to_string())
            });
            tasks.push(a);
            tasks.push(b);
        }
        self.settle()?;
        let mut sent = 0;
        for t in tasks {
            sent += take(t).map_err(|e| self.err(format!("journal sync: {e}")))?;
        }
        Ok(sent)
    }
}

fn take<T>(slot: Slot<Result<T, String>>) -> Result<T, String> {
    let value = slot.borrow_mut().take();
    value.ok_or_else(|| "a task did not finish".to_string())?
}

fn key_bytes(key: &frost_ed25519::VerifyingKey) -> Result<[u8; 32], String> {
    key.serialize()
        .map_err(|e| e.to_string())?
        .as_slice()
        .try_into()
        .map_err(|_| "group key is not 32 bytes".to_string())
}

fn short(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn core_of(share: &AuthorityKeyShare) -> Core {
    Rc::new(RefCell::new(Some(Witness::new(
        share.clone(),
        MemorySigningRecord::default(),
    ))))
}

/// Node `index`'s identity key (the key its links are authenticated to),
/// for the protocols that sign with it.
fn identity_of(keys: &[SigningKey], index: usize) -> Option<aura_protocols::NodeIdentity> {
    keys.get(index)
        .map(|k| aura_protocols::NodeIdentity::from_secret(k.to_bytes()))
}

/// Run the lifecycle; `log` sees every step as it happens.
pub fn run(config: &DemoConfig, log: &mut dyn FnMut(&Step)) -> Result<Summary, Failure> {
    run_inner(config, log, &mut Vec::new())
}

fn run_inner(
    config: &DemoConfig,
    log: &mut dyn FnMut(&Step),
    trace: &mut Vec<choreo_runtime::sim::TraceEvent>,
) -> Result<Summary, Failure> {
    aura_protocols::recovery::RecoveryDelay::from_secs(config.recovery_delay_secs)
        .map_err(|e| fail("setup", e))?;
    // Every node's Ed25519 identity: its journal signing key and, on a
    // real transport, its libp2p identity.
    let secrets: Vec<[u8; 32]> = (0..10u8)
        .map(|i| {
            let mut seed = [0u8; 32];
            let mut rng = ChaCha20Rng::seed_from_u64(config.seed ^ (u64::from(i) << 56));
            rng.fill_bytes(&mut seed);
            seed
        })
        .collect();
    let keys: Vec<SigningKey> = secrets.iter().map(SigningKey::from_bytes).collect();
    let cluster: Box<dyn Cluster> = match config.transport {
        DemoTransport::Sim => {
            let sim_config = SimConfig {
                drop: if config.faults { 0.02 } else { 0.0 },
                duplicate: if config.faults { 0.01 } else { 0.0 },
                reorder: if config.faults { 0.02 } else { 0.0 },
                keep_trace: config.keep_trace,
                time_limit: Duration::from_secs(3_600),
                ..SimConfig::default()
            };
            let mut sim = Sim::new(config.seed, sim_config);
            // Each node's id is its identity key's public half, as on
            // libp2p, so DKG and reshare can sign with the node's key.
            for key in &keys {
                sim.add_node_with_id(choreo_runtime::node::NodeId(key.verifying_key().to_bytes()));
            }
            Box::new(SimCluster(sim))
        }
        DemoTransport::Net => Box::new(NetCluster::start(&secrets).map_err(|e| fail("setup", e))?),
        DemoTransport::Memory => {
            let ids: Vec<_> = keys
                .iter()
                .map(|k| choreo_runtime::node::NodeId(k.verifying_key().to_bytes()))
                .collect();
            Box::new(MemoryCluster::start(&ids).map_err(|e| fail("setup", e))?)
        }
    };
    let journal =
        |scope: ScopeId| Journal::open(scope, MemoryStore::new()).map(|j| Rc::new(Mutex::new(j)));
    let a_scope = scope_of(b"aura demo: authority A");
    let b_scope = scope_of(b"aura demo: authority B");
    let mut journals = Vec::new();
    for node in 0..10 {
        let scope = if B_DEVICES.contains(&node) {
            b_scope
        } else {
            a_scope
        };
        journals.push(journal(scope).map_err(|e| fail("setup", e))?);
    }
    let mut guards = Vec::new();
    for key in &keys {
        let scope = scope_of(b"aura demo: guarded sends");
        let records = Journal::open(scope, MemoryStore::new()).map_err(|e| fail("setup", e))?;
        let facts = RecordSends {
            key: key.clone(),
            scope,
        };
        guards.push(
            Guard::new(GuardConfig::default(), Arc::new(GuardClock::default()))
                .with_journal(Arc::new(Mutex::new(records)), facts),
        );
    }
    let mut w = World {
        cluster,
        seed: config.seed,
        next_session: 0,
        journals,
        guards,
        keys,
        log,
        phase: "setup",
        trace_from: 0,
    };
    let result = lifecycle(&mut w, config, a_scope);
    if config.keep_trace {
        *trace = w.cluster.trace().to_vec();
    }
    result
}

fn lifecycle(w: &mut World<'_>, config: &DemoConfig, a_scope: ScopeId) -> Result<Summary, Failure> {
    let journal =
        |scope: ScopeId| Journal::open(scope, MemoryStore::new()).map(|j| Rc::new(Mutex::new(j)));

    let ports = w.cluster.ports();
    if !ports.is_empty() {
        let listing: Vec<String> = ports
            .iter()
            .zip(NODE_NAMES)
            .map(|(port, name)| format!("{name} :{port}"))
            .collect();
        w.say(format!(
            "{} libp2p nodes on 127.0.0.1 (TCP), each its own Ed25519 identity, allowing only the others, connected pair by pair: {}",
            ports.len(),
            listing.join(" ")
        ));
    }

    // ---------------------------------------------------------------- DKG
    w.begin("dkg");
    let a_shares = dkg(w, &[0, 1, 2, 3, 4, 5], [0xA0; 32])?;
    let b_shares = dkg(w, &B_DEVICES, [0xB0; 32])?;
    let a_key = a_shares[0].group_key();
    let b_key = b_shares[0].group_key();
    let a_key_bytes = key_bytes(&a_key).map_err(|e| w.err(e))?;
    w.say(format!(
        "A1 A2 A3 + G1 G2 G3: DKG 2-of-6 → authority A {} (devices and guardians hold shares)",
        short(&a_key_bytes)
    ));
    w.say(format!(
        "B1 B2 B3: DKG 2-of-3 → authority B {}",
        short(&key_bytes(&b_key).map_err(|e| w.err(e))?)
    ));
    // Witness cores (share + nonces + signing record), one per holder.
    let a_cores: Vec<Core> = a_shares.iter().map(core_of).collect();

    // ---------------------------------------------------- guardian binding
    w.begin("binding");
    for (g, &node) in GUARDIANS.iter().enumerate() {
        bind(w, &a_shares, &a_cores, g, node, config.recovery_delay_secs)?;
        // The signers derive the next binding's prestate from their own
        // journals: bring them up to date first.
        w.sync(0, &[1, 2])?;
        w.say(format!(
            "{} bound as guardian: A1 proposes ({} delay), {} signs, A2+A3 certify (2-of-6 threshold signature)",
            NODE_NAMES[node],
            super::show_delay(config.recovery_delay_secs),
            NODE_NAMES[node]
        ));
    }
    let synced = w.sync(0, &[1, 2, 3, 4, 5])?;
    w.say(format!("A1 → A2 A3 G1 G2 G3: journal sync ({synced} facts sent; every replica holds the 3 bindings)"));

    // -------------------------------------------------------- channel root
    w.begin("channel");
    let root_a = Rc::new(ask_root(w, &a_shares, 0, [1, 2], &b_key)?);
    let root_b = ask_root(w, &b_shares, 6, [7, 8], &a_key)?;
    if root_a.fingerprint() != root_b.fingerprint() {
        return Err(w.err("the two authorities computed different channel roots"));
    }
    w.say(format!(
        "channel root B→A by threshold DH: A1 from A2+A3, B1 from B2+B3 (DLEQ-checked partials) — both {}",
        short(&root_a.fingerprint())
    ));
    let spec = ChannelSpec {
        context: ContextId(Sha256::digest(b"aura demo: context").into()),
        channel: ChannelId(Sha256::digest(b"aura demo: B to A").into()),
        width: config.window,
        authority: a_key,
    };

    // ------------------------------------------------------------ messages
    w.begin("messages");
    let mut senders: Vec<ChannelSender> =
        (1..=3).map(|d| ChannelSender::new(DeviceId(d))).collect();
    let mut receiver = ChannelReceiver::new();
    let mut sent_texts: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut sent = 0u32;
    let mut bumps = 0u32;
    let mut batch = 0usize;
    let mut next_progress = 100u32;
    while sent < config.messages {
        // A batch stays within one window (`W` generations of one device).
        let batch_len = u32::try_from(config.window)
            .unwrap_or(BATCH)
            .clamp(1, BATCH);
        let count = batch_len.min(config.messages - sent);
        let d = batch % 3;
        let texts: Vec<Vec<u8>> = (sent..sent + count)
            .map(|i| format!("message {i} from B{}", d + 1).into_bytes())
            .collect();
        let (taken_sender, taken_receiver, opened) = stream(
            w,
            &spec,
            &root_a,
            std::mem::replace(&mut senders[d], ChannelSender::new(DeviceId(99))),
            B_DEVICES[d],
            std::mem::take(&mut receiver),
            texts.clone(),
        )?;
        senders[d] = taken_sender;
        receiver = taken_receiver;
        if opened != texts.len() {
            return Err(w.err(format!("A1 opened {opened} of {} messages", texts.len())));
        }
        sent_texts.extend(texts);
        sent += count;
        batch += 1;
        if sent >= next_progress || sent == config.messages {
            w.say(format!("  … {sent}/{} messages B → A1 (sealed per device, opened in the window, recorded in A's journal)", config.messages));
            next_progress = (sent / 100 + 1) * 100;
        }
        if let Ok(proposal) =
            epoch::proposal(&w.journal(0), &spec, DeviceId(1), BumpReason::Routine)
        {
            w.sync(0, &[1, 2])?;
            let parent = proposal.parent.0;
            let seen = proposal.observed_generation;
            bump(w, &a_shares, &a_cores, &spec, proposal)?;
            bumps += 1;
            w.say(format!(
                "epoch bump {parent}→{}: A1 proposes (generation {seen} ≥ W/2 = {}), A2+A3 check their journals and sign, G1-G3 record, B1-B3 switch",
                parent + 1,
                config.window / 2
            ));
        }
    }
    let synced = w.sync(0, &GUARDIANS)?;
    w.say(format!("A1 → G1 G2 G3: journal sync ({synced} facts: accepted headers, sealed messages, epoch facts)"));

    // ---------------------------------------------------------------- loss
    w.begin("loss");
    for &d in &A_DEVICES {
        w.cluster.crash(d);
        if let Some(j) = w.journals.get_mut(d) {
            *j = journal(a_scope).map_err(|e| fail("loss", e))?;
        }
    }
    for core in &a_cores[..3] {
        core.borrow_mut().take();
    }
    drop(receiver);
    w.say("A1 A2 A3 lost: devices, journals, shares and channel keys gone".into());

    // ------------------------------------------------------------ recovery
    w.begin("recovery");
    let clock = Rc::new(if w.cluster.is_virtual() {
        RecoveryClock::Virtual(ManualClock::default())
    } else {
        RecoveryClock::scaled(config.recovery_delay_secs, config.real_delay)
    });
    let devices: BTreeSet<[u8; 32]> = A_DEVICES
        .iter()
        .map(|&d| w.keys[d].verifying_key().to_bytes())
        .collect();
    let guardian_ids: BTreeMap<[u8; 32], ParticipantId> = GUARDIANS
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            (
                w.keys[g].verifying_key().to_bytes(),
                ParticipantId(4 + i as u16),
            )
        })
        .collect();
    let desks: Vec<Rc<GuardianDesk>> = GUARDIANS
        .iter()
        .map(|&g| {
            Rc::new(GuardianDesk::new(
                w.keys[g].clone(),
                a_key,
                devices.clone(),
                guardian_ids.clone(),
                2,
            ))
        })
        .collect();
    let request = RecoveryRequest {
        account: a_key_bytes,
        new_device: w.keys[NEW_DEVICE].verifying_key().to_bytes(),
        nonce: Sha256::digest(config.seed.to_be_bytes()).into(),
    };
    let hash = request.hash().map_err(|e| w.err(e))?;
    let prestate = window(
        w,
        &desks,
        &clock,
        &request,
        config.recovery_delay_secs,
        config.real_delay,
        &hash,
    )?;
    let new_journal = w.journal(NEW_DEVICE);
    let facts = grant(
        w,
        &a_shares,
        &a_cores,
        &desks,
        &clock,
        &request,
        prestate,
        new_journal.clone(),
    )?;
    w.say(format!(
        "N: recovery grant committed by consensus (G1+G2 sign, G3 witnesses); N rebuilt A's journal from the guardians ({facts} facts)"
    ));
    let (new_share, new_guardian_shares) = reshare_to_new_device(w, &a_shares)?;
    // From now on the guardians answer with their epoch-1 shares.
    let mut current = a_shares.clone();
    for share in new_guardian_shares {
        let slot = usize::from(share.participant().0).checked_sub(1);
        if let Some(old) = slot.and_then(|slot| current.get_mut(slot)) {
            *old = share;
        }
    }
    let guardians_seen = binding::guardians(&new_journal, &a_key)
        .map_err(|e| w.err(e))?
        .len();
    let root_new = ask_root(w, &current, NEW_DEVICE, [3, 4], &b_key)?;
    let root_recovered = root_new.fingerprint() == root_a.fingerprint();
    w.say(format!(
        "N: channel root recomputed from G1+G2's partials with their epoch-1 shares — {} ({})",
        short(&root_new.fingerprint()),
        if root_recovered {
            "same as before the loss"
        } else {
            "DIFFERENT"
        }
    ));
    let history = channel::read_history(&new_journal, &spec, &root_new).map_err(|e| w.err(e))?;
    let read: BTreeSet<Vec<u8>> = history.iter().map(|(_, m)| m.clone()).collect();
    if read != sent_texts || guardians_seen != 3 || !root_recovered {
        return Err(w.err(format!(
            "the new device read {} of {} messages and sees {guardians_seen} guardians",
            read.len(),
            sent_texts.len()
        )));
    }
    let epochs: BTreeSet<u64> = history.iter().map(|(h, _)| h.epoch.0).collect();
    w.say(format!(
        "N: read {}/{} old messages from the journal (epochs {:?}), keys rederived from the root",
        read.len(),
        sent_texts.len(),
        epochs
    ));
    let replay_refused = replay_refused(&new_journal, &spec, &root_new).map_err(|e| w.err(e))?;
    w.say(format!(
        "N: replay of an old message {}",
        if replay_refused {
            "refused (replay set rebuilt from the journal)"
        } else {
            "ACCEPTED"
        }
    ));
    if !replay_refused {
        return Err(w.err("a replay of an old message was accepted after recovery"));
    }
    Ok(Summary {
        seed: config.seed,
        messages: config.messages,
        read: read.len(),
        bumps,
        delay_secs: config.recovery_delay_secs,
        delay_real: (!w.cluster.is_virtual()).then_some(config.real_delay),
        frames: w.cluster.frames(),
        root_recovered,
        replay_refused,
        new_share_epoch: new_share.epoch().0,
    })
}

/// Run the lifecycle with the simulator's frame trace kept, and hand back
/// the trace with the result (for `aura-node trace`).
pub fn run_traced(
    config: &DemoConfig,
    log: &mut dyn FnMut(&Step),
) -> (
    Result<Summary, Failure>,
    Vec<choreo_runtime::sim::TraceEvent>,
) {
    let mut config = config.clone();
    config.keep_trace = true;
    let mut trace = Vec::new();
    let result = run_inner(&config, log, &mut trace);
    (result, trace)
}

fn dkg(
    w: &mut World<'_>,
    nodes: &[usize],
    session: [u8; 32],
) -> Result<Vec<AuthorityKeyShare>, Failure> {
    let bindings = nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let p = ParticipantId(u16::try_from(i + 1).unwrap_or(u16::MAX));
            w.cluster.node_id(n).map(|id| (p, from_host(id)))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| w.err("missing node"))?;
    let config = DkgConfig {
        session,
        threshold: 2,
        roster: Roster::new(bindings).map_err(|e| w.err(e))?,
    };
    let id = w.session_id();
    let mut tasks = Vec::new();
    for (i, p) in config.participants().into_iter().enumerate() {
        let spec = roles::dkg::session_spec(id, &config, p).map_err(|e| w.err(e))?;
        let node = nodes[i];
        let grant = Grant {
            context: FlowContext(config.session),
            capabilities: CapabilitySet::grant(DEMO_CAPABILITIES),
        };
        let guard = w.guards.get(node).ok_or_else(|| w.err("missing guard"))?;
        let s = w
            .cluster
            .node(node)
            .ok_or_else(|| w.err("missing node"))?
            .open_guarded_session(spec, guard, grant)
            .map_err(|e| w.err(e))?;
        let mut rng = w.rng(i as u64);
        let config = config.clone();
        let identity = identity_of(&w.keys, node).ok_or_else(|| w.err("missing key"))?;
        tasks.push(w.spawn(node, async move {
            roles::dkg::run_dkg(s, config, &identity, &mut rng)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    tasks
        .into_iter()
        .map(|t| take(t).map_err(|e| w.err(format!("DKG: {e}"))))
        .collect()
}

fn bind(
    w: &mut World<'_>,
    shares: &[AuthorityKeyShare],
    cores: &[Core],
    g: usize,
    node: usize,
    delay: u64,
) -> Result<(), Failure> {
    let params = guardian_binding::Params { t: 2, n: 0 };
    let s = w.open(
        &guardian_binding::PROTOCOL,
        guardian_binding::roster(&params),
        &[0, node, 1, 2],
    )?;
    let mut s = s.into_iter();
    let (Some(sa), Some(sg), Some(s1), Some(s2)) = (s.next(), s.next(), s.next(), s.next()) else {
        return Err(w.err("guardian binding roster"));
    };
    let authority = shares[0].group_key();
    let mut proposal =
        BindingProposal::new(&authority, &w.keys[node], [g as u8; 32]).map_err(|e| w.err(e))?;
    proposal.recovery_delay_secs = delay;
    let public = shares[0].public_key_package().clone();
    let epoch = shares[0].epoch();
    let (j0, k0) = (w.journal(0), w.keys[0].clone());
    let a = w.spawn(0, async move {
        binding::propose(
            sa,
            params,
            AccountSide {
                public: &public,
                epoch,
                signers: SignerIds(vec![ParticipantId(2), ParticipantId(3)]),
                journal: &j0,
                device: &k0,
            },
            proposal,
        )
        .await
        .map_err(|e| e.to_string())
    });
    let (jg, kg) = (w.journal(node), w.keys[node].clone());
    let gt = w.spawn(node, async move {
        binding::guard(sg, params, &kg, &jg, |_| Ok(()))
            .await
            .map_err(|e| e.to_string())
    });
    let mut signers = Vec::new();
    for (session, d) in [(s1, 1usize), (s2, 2usize)] {
        let (j, k, core) = (w.journal(d), w.keys[d].clone(), cores[d].clone());
        let mut rng = w.rng(100 + d as u64);
        signers.push(w.spawn(d, async move {
            let mut c = core
                .borrow_mut()
                .take()
                .ok_or("the device lost its share")?;
            let r = binding::sign(
                session,
                params,
                WitnessSide {
                    authority,
                    journal: &j,
                    device: &k,
                },
                &mut c,
                &mut rng,
            )
            .await;
            *core.borrow_mut() = Some(c);
            r.map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    for s in signers {
        take(s).map_err(|e| w.err(format!("signer: {e}")))?;
    }
    let bound = take(a).map_err(|e| w.err(e))?;
    let guardian = take(gt).map_err(|e| w.err(e))?;
    match (bound, guardian) {
        (Some(x), Some(y)) if x == y => Ok(()),
        _ => Err(w.err(format!("{} was not bound", NODE_NAMES[node]))),
    }
}

fn ask_root(
    w: &mut World<'_>,
    shares: &[AuthorityKeyShare],
    device: usize,
    holders: [usize; 2],
    peer: &frost_ed25519::VerifyingKey,
) -> Result<ChannelRoot, Failure> {
    let params = channel_root::Params { t: 2 };
    let s = w.open(
        &channel_root::PROTOCOL,
        channel_root::roster(&params),
        &[device, holders[0], holders[1]],
    )?;
    let mut s = s.into_iter();
    let (Some(sd), Some(h0), Some(h1)) = (s.next(), s.next(), s.next()) else {
        return Err(w.err("channel root roster"));
    };
    // Holder node n of authority A is participant n+1 (A: nodes 0-5, B: 6-8).
    let participant = |n: usize| if B_DEVICES.contains(&n) { n - 6 } else { n };
    // The key package of the holders' epoch: partials are checked against
    // the verifying shares of the epoch they were made in.
    let public = shares
        .get(participant(holders[0]))
        .ok_or_else(|| w.err("no share for the holder"))?
        .public_key_package()
        .clone();
    let peer = *peer;
    let ids = SignerIds(
        holders
            .iter()
            .map(|&n| ParticipantId(participant(n) as u16 + 1))
            .collect(),
    );
    let root = w.spawn(device, async move {
        channel::ask_root(sd, params, &public, &peer, &ids)
            .await
            .map_err(|e| e.to_string())
    });
    let mut gives = Vec::new();
    for (session, n) in [(h0, holders[0]), (h1, holders[1])] {
        let share = shares[participant(n)].clone();
        let mut rng = w.rng(200 + n as u64);
        gives.push(w.spawn(n, async move {
            channel::give_root_partial(session, params, &share, &mut rng)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    for g in gives {
        take(g).map_err(|e| w.err(e))?;
    }
    take(root).map_err(|e| w.err(e))
}

#[allow(clippy::too_many_arguments)]
fn stream(
    w: &mut World<'_>,
    spec: &ChannelSpec,
    root: &Rc<ChannelRoot>,
    sender: ChannelSender,
    from: usize,
    receiver: ChannelReceiver,
    texts: Vec<Vec<u8>>,
) -> Result<(ChannelSender, ChannelReceiver, usize), Failure> {
    let s = w.open(
        &channel_stream::PROTOCOL,
        channel_stream::roster(&channel_stream::Params {}),
        &[from, 0],
    )?;
    let mut s = s.into_iter();
    let (Some(ss), Some(sr)) = (s.next(), s.next()) else {
        return Err(w.err("channel stream roster"));
    };
    let spec = *spec;
    let root_bytes = root.clone();
    let (js, jr, kr) = (w.journal(from), w.journal(0), w.keys[0].clone());
    let mut rng = w.rng(300 + from as u64);
    let r1 = root_bytes.clone();
    let send = w.spawn(from, async move {
        let mut sender = sender;
        let r = channel::send_messages(ss, &mut sender, &spec, &js, &r1, &texts, &mut rng).await;
        r.map(|_| sender).map_err(|e| e.to_string())
    });
    let recv = w.spawn(0, async move {
        let mut rx = receiver;
        channel::receive_messages(sr, &mut rx, &spec, &jr, &kr, &root_bytes)
            .await
            .map(|got| (rx, got.opened.len()))
            .map_err(|e| e.to_string())
    });
    w.settle()?;
    let sender = take(send).map_err(|e| w.err(e))?;
    let (receiver, opened) = take(recv).map_err(|e| w.err(e))?;
    Ok((sender, receiver, opened))
}

fn bump(
    w: &mut World<'_>,
    shares: &[AuthorityKeyShare],
    cores: &[Core],
    spec: &ChannelSpec,
    proposal: aura_protocols::amp::BumpProposal,
) -> Result<(), Failure> {
    let params = epoch_bump::Params { t: 2, n: 3, m: 3 };
    let nodes = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    let s = w.open(&epoch_bump::PROTOCOL, epoch_bump::roster(&params), &nodes)?;
    let mut s = s.into_iter();
    let spec = *spec;
    let sp = s.next().ok_or_else(|| w.err("bump roster"))?;
    let public = shares[0].public_key_package().clone();
    let epoch_ = shares[0].epoch();
    let (j0, k0) = (w.journal(0), w.keys[0].clone());
    let p = w.spawn(0, async move {
        epoch::propose(
            sp,
            params,
            ProposerSide {
                public: &public,
                epoch: epoch_,
                signers: SignerIds(vec![ParticipantId(2), ParticipantId(3)]),
                spec,
                journal: &j0,
                device: &k0,
            },
            proposal,
        )
        .await
        .map_err(|e| e.to_string())
    });
    let mut others = Vec::new();
    for &d in &[1usize, 2] {
        let session = s.next().ok_or_else(|| w.err("bump roster"))?;
        let (j, k, core) = (w.journal(d), w.keys[d].clone(), cores[d].clone());
        let mut rng = w.rng(400 + d as u64);
        others.push(w.spawn(d, async move {
            let c = core
                .borrow_mut()
                .take()
                .ok_or("the device lost its share")?;
            let m = Mutex::new(c);
            let r = epoch::sign(
                session,
                params,
                PeerSide {
                    spec,
                    journal: &j,
                    device: &k,
                },
                &m,
                &mut rng,
            )
            .await;
            *core.borrow_mut() = m.into_inner().ok();
            match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(why)) => Err(why),
                Err(e) => Err(e.to_string()),
            }
        }));
    }
    for &n in &GUARDIANS {
        let session = s.next().ok_or_else(|| w.err("bump roster"))?;
        let (j, k) = (w.journal(n), w.keys[n].clone());
        others.push(w.spawn(n, async move {
            epoch::watch(
                session,
                params,
                PeerSide {
                    spec,
                    journal: &j,
                    device: &k,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }));
    }
    for &n in &B_DEVICES {
        let session = s.next().ok_or_else(|| w.err("bump roster"))?;
        let (j, k) = (w.journal(n), w.keys[n].clone());
        others.push(w.spawn(n, async move {
            epoch::learn(
                session,
                params,
                PeerSide {
                    spec,
                    journal: &j,
                    device: &k,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    for o in others {
        take(o).map_err(|e| w.err(e))?;
    }
    match take(p).map_err(|e| w.err(e))? {
        BumpOutcome::Committed(_) => Ok(()),
        BumpOutcome::Refused(r) => Err(w.err(format!("bump refused: {r:?}"))),
    }
}

fn window(
    w: &mut World<'_>,
    desks: &[Rc<GuardianDesk>],
    clock: &Rc<RecoveryClock>,
    request: &RecoveryRequest,
    delay: u64,
    real_delay: Duration,
    hash: &[u8; 32],
) -> Result<[u8; 32], Failure> {
    let params = recovery::Params { g: 3 };
    let s = w.open(
        &recovery::PROTOCOL,
        recovery::roster(&params),
        &[NEW_DEVICE, 3, 4, 5],
    )?;
    let mut s = s.into_iter();
    let sn = s.next().ok_or_else(|| w.err("recovery roster"))?;
    let keys: Vec<[u8; 32]> = GUARDIANS
        .iter()
        .map(|&g| w.keys[g].verifying_key().to_bytes())
        .collect();
    let req = request.clone();
    let out = w.spawn(NEW_DEVICE, async move {
        rec::request(sn, params, req, &keys, 2)
            .await
            .map_err(|e| e.to_string())
    });
    let mut answers = Vec::new();
    for (i, &g) in GUARDIANS.iter().enumerate() {
        let session = s.next().ok_or_else(|| w.err("recovery roster"))?;
        let (desk, j, c) = (desks[i].clone(), w.journal(g), clock.clone());
        answers.push(w.spawn(g, async move {
            rec::answer(session, params, &desk, &j, &c, true)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    w.cluster.run_while_waiting(Duration::from_secs(2), &|| {
        desks.iter().all(|d| d.has_window(hash))
    });
    if !desks.iter().all(|d| d.has_window(hash)) {
        return Err(w.err("the guardians did not open the recovery window"));
    }
    w.say(format!(
        "N asks G1 G2 G3 to recover A: 3 approvals (signed, bound to A's prestate) → window open, delay {} from each guardian's binding",
        super::show_delay(delay)
    ));
    let early = desks
        .iter()
        .filter(|d| {
            d.may_sign(hash, clock.now_secs())
                .map(|v| v.is_err())
                .unwrap_or(false)
        })
        .count();
    w.say(format!("  … asked now, {early}/3 guardians would refuse to sign the grant (the delay is not over on their clocks); no cancel arrives"));
    clock.advance_to(delay);
    w.settle()?;
    let verdicts: Vec<WindowVerdict> = answers
        .into_iter()
        .map(|a| take(a).map_err(|e| w.err(e)))
        .collect::<Result<_, _>>()?;
    let outcome = take(out).map_err(|e| w.err(e))?;
    w.say(format!(
        "  … {} passed ({}): {}/3 guardians ready to sign",
        super::show_delay(delay),
        match clock.as_ref() {
            RecoveryClock::Virtual(_) => "virtual clock".to_string(),
            RecoveryClock::Scaled { .. } =>
                format!("scaled clock: {:.1} s real", real_delay.as_secs_f64()),
        },
        verdicts
            .iter()
            .filter(|v| matches!(v, WindowVerdict::Ready { .. }))
            .count()
    ));
    match outcome {
        RequestOutcome::Verdicts { prestate, .. } => Ok(prestate),
        RequestOutcome::Declined(d) => Err(w.err(format!("the guardians declined: {d:?}"))),
    }
}

#[allow(clippy::too_many_arguments)]
fn grant(
    w: &mut World<'_>,
    shares: &[AuthorityKeyShare],
    cores: &[Core],
    desks: &[Rc<GuardianDesk>],
    clock: &Rc<RecoveryClock>,
    request: &RecoveryRequest,
    prestate: [u8; 32],
    new_journal: Shared<Mutex<Journal>>,
) -> Result<usize, Failure> {
    let params = recovery_grant::Params { g: 3 };
    let s = w.open(
        &recovery_grant::PROTOCOL,
        recovery_grant::roster(&params),
        &[NEW_DEVICE, 3, 4, 5],
    )?;
    let mut s = s.into_iter();
    let sn = s.next().ok_or_else(|| w.err("grant roster"))?;
    let public = shares[3].public_key_package().clone();
    let epoch_ = shares[3].epoch();
    let req = request.clone();
    let out = w.spawn(NEW_DEVICE, async move {
        let ids = SignerIds(vec![ParticipantId(4), ParticipantId(5), ParticipantId(6)]);
        let named: BTreeSet<ParticipantId> =
            [ParticipantId(4), ParticipantId(5)].into_iter().collect();
        rec::grant(
            sn,
            params,
            req,
            prestate,
            &public,
            &ids,
            &named,
            epoch_,
            &new_journal,
        )
        .await
        .map_err(|e| e.to_string())
    });
    let mut served = Vec::new();
    for (i, &g) in GUARDIANS.iter().enumerate() {
        let session = s.next().ok_or_else(|| w.err("grant roster"))?;
        let (desk, j, c, core) = (
            desks[i].clone(),
            w.journal(g),
            clock.clone(),
            cores[g].clone(),
        );
        let mut rng = w.rng(500 + g as u64);
        served.push(w.spawn(g, async move {
            let mut k = core
                .borrow_mut()
                .take()
                .ok_or("the guardian lost its share")?;
            let r = rec::serve_grant(
                session,
                params,
                &desk,
                &j,
                &mut k,
                ParticipantId(4 + i as u16),
                &c,
                &mut rng,
            )
            .await;
            *core.borrow_mut() = Some(k);
            r.map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    for s in served {
        take(s).map_err(|e| w.err(e))?;
    }
    match take(out).map_err(|e| w.err(e))? {
        GrantOutcome::Granted { facts, .. } => Ok(facts),
        GrantOutcome::Refused(r) => Err(w.err(format!("grant refused: {r:?}"))),
    }
}

/// The new device gets a share of A of its own: G1 and G2 deal (any 2 of
/// the old 2-of-6 holders that are left), the new committee is G1 G2 G3 N
/// (2-of-4, epoch 1), and the new epoch commits through consensus of the
/// old holders that are left (G1 G2 G3), not on anyone's word. N and a
/// guardian then sign together under the unchanged group key.
/// Returns N's new share and the guardians' new shares.
fn reshare_to_new_device(
    w: &mut World<'_>,
    shares: &[AuthorityKeyShare],
) -> Result<(AuthorityKeyShare, Vec<AuthorityKeyShare>), Failure> {
    use aura_protocols::reshare::ReshareConfig;
    use aura_protocols::roles::consensus::{run_consensus, ConsensusConfig, WitnessState};
    use aura_protocols::roles::reshare::{epoch_prestate, run_reshare, session_spec};
    use aura_protocols::KeyEpoch;

    let old = shares.get(3).ok_or_else(|| w.err("no guardian share"))?;
    let old_public = old.public_key_package().clone();
    let old_epoch = old.epoch();
    let new_participant = ParticipantId(7);
    // Members: G1 G2 G3 (participants 4 5 6) and N (participant 7).
    let members: Vec<(usize, ParticipantId)> = GUARDIANS
        .iter()
        .enumerate()
        .map(|(i, &g)| (g, ParticipantId(4 + i as u16)))
        .chain([(NEW_DEVICE, new_participant)])
        .collect();
    let node_of = |n: usize| w.cluster.node_id(n).map(from_host);
    let roster = Roster::new(
        members
            .iter()
            .map(|(n, p)| Some((*p, node_of(*n)?)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| w.err("a member has no node"))?,
    )
    .map_err(|e| w.err(e))?;
    let session: [u8; 32] = Sha256::digest(w.session_id().0).into();
    let config = ReshareConfig {
        session,
        old_epoch,
        dealers: [ParticipantId(4), ParticipantId(5)].into_iter().collect(),
        new_committee: members.iter().map(|(_, p)| *p).collect(),
        new_threshold: 2,
        roster: roster.clone(),
    };
    let witnesses = Roster::new(
        members
            .iter()
            .filter(|(n, _)| *n != NEW_DEVICE)
            .filter_map(|(_, p)| Some((*p, roster.node(*p)?))),
    )
    .map_err(|e| w.err(e))?;
    let consensus = ConsensusConfig::new(
        Sha256::digest(w.session_id().0).into(),
        witnesses,
        2,
        ParticipantId(4),
    );
    let prestate = epoch_prestate(old_epoch, &old_public).map_err(|e| w.err(e))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&session[..16]);
    let mut tasks = Vec::new();
    for &(n, p) in &members {
        let spec = session_spec(SessionId(id), &config, p).map_err(|e| w.err(e))?;
        let node = w
            .cluster
            .node(n)
            .cloned()
            .ok_or_else(|| w.err(format!("{} is down", NODE_NAMES[n])))?;
        let guard = w.guards.get(n).cloned().ok_or_else(|| w.err("no guard"))?;
        let grant = Grant {
            context: FlowContext(session),
            capabilities: CapabilitySet::grant(DEMO_CAPABILITIES),
        };
        let reshare_session = node
            .open_guarded_session(spec, &guard, grant)
            .map_err(|e| w.err(e))?;
        let identity = identity_of(&w.keys, n).ok_or_else(|| w.err("missing key"))?;
        let old_share = shares.iter().find(|s| s.participant() == p).cloned();
        let (config, consensus, old_public) =
            (config.clone(), consensus.clone(), old_public.clone());
        let mut rng = w.rng(700 + n as u64);
        tasks.push(w.spawn(n, async move {
            let dealt = run_reshare(
                reshare_session,
                &config,
                &identity,
                &old_public,
                old_share
                    .as_ref()
                    .filter(|s| config.dealers.contains(&s.participant())),
                &mut rng,
            )
            .await
            .map_err(|e| e.to_string())?;
            // The old holders that are left certify the new epoch.
            let certificate = match old_share {
                Some(share) => {
                    let state = Mutex::new(WitnessState::new(Witness::new(
                        share,
                        MemorySigningRecord::default(),
                    )));
                    let op = if p == consensus.initiator {
                        dealt.operation().map_err(|e| e.to_string())?
                    } else {
                        None
                    };
                    let done =
                        run_consensus(&node, &guard, &consensus, &state, prestate, op, &mut rng)
                            .await
                            .map_err(|e| e.to_string())?;
                    Some(done.certificate)
                }
                None => None,
            };
            dealt
                .finish(certificate.as_ref())
                .await
                .map_err(|e| e.to_string())
        }));
    }
    w.settle()?;
    let mut new_shares = Vec::new();
    for t in tasks {
        if let Some((share, _certificate)) = take(t).map_err(|e| w.err(format!("reshare: {e}")))? {
            new_shares.push(share);
        }
    }
    let mine = new_shares
        .iter()
        .find(|s| s.participant() == new_participant)
        .cloned()
        .ok_or_else(|| w.err("the new device got no share"))?;
    if mine.group_key() != old.group_key() || mine.epoch() != KeyEpoch(old_epoch.0 + 1) {
        return Err(w.err("the reshare changed the group key or the epoch"));
    }
    let g1 = new_shares
        .iter()
        .find(|s| s.participant() == ParticipantId(4))
        .ok_or_else(|| w.err("G1 got no new share"))?;
    let mut rng = w.rng(799);
    crate::sim::dkg::sign_together(&[&mine, g1], &mut rng).map_err(|e| w.err(e))?;
    w.say(format!(
        "N: own share of A rebuilt by reshare — G1+G2 deal to G1 G2 G3 N (2-of-4, epoch {}), the epoch committed by G1 G2 G3's consensus; N+G1 sign under the unchanged key",
        mine.epoch().0
    ));
    let guardians = new_shares
        .into_iter()
        .filter(|s| s.participant() != new_participant)
        .collect();
    Ok((mine, guardians))
}

fn replay_refused(
    journal: &Mutex<Journal>,
    spec: &ChannelSpec,
    root: &ChannelRoot,
) -> Result<bool, String> {
    let old = {
        let j = journal
            .lock()
            .map_err(|_| "journal lock poisoned".to_string())?;
        let old = j.facts().iter().find_map(|f| f.body::<Inbox>().ok());
        old
    };
    let Some(Inbox(SealedMessage(bytes))) = old else {
        return Err("no old message in the journal".into());
    };
    let mut receiver =
        channel::recovered_receiver(journal, spec, root).map_err(|e| e.to_string())?;
    let state = channel::state(journal, spec).map_err(|e| e.to_string())?;
    Ok(receiver.open_bytes(&state, root, &bytes).is_err())
}
