//! The lifecycle, as a coordinator: it decides who does what, step by
//! step, hands every node its [`Act`] (take part in this session in this
//! role) through a [`Cluster`], and reads back only public outcomes
//! (group keys, root fingerprints, counts). Every node's state — journal,
//! share, channel keys, a guardian's desk — lives in that node's
//! [`super::agent::Agent`], in this process or in a process of its own,
//! and every message is a frame between node hosts (the simulator's,
//! libp2p's or in memory): the role logic of `aura_protocols::roles` (DKG,
//! reshare, consensus) and `aura_protocols::lifecycle` (the rest) on the
//! generated endpoints.
//!
//! Nodes: A's devices 0–2, A's guardians 3–5, B's devices 6–8, the new
//! device 9. A's key is generated 2-of-6 by its devices and its guardians
//! together (so the guardians hold shares of the account key; the book
//! states the policy: any two of the six can sign, so two colluding
//! guardians could sign without the delay window — the window binds honest
//! guardians). Journals are in memory per node; A's journal is replicated
//! with the journal sync protocol.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use aura_protocols::amp::{BumpProposal, ChannelId, ContextId};
use aura_protocols::lifecycle::channel::ChannelSpec;
use aura_protocols::lifecycle::recovery::RecoveryRequest;
use aura_protocols::roles::reshare::epoch_prestate;
use aura_protocols::KeyEpoch;
use choreo_runtime::node::NodeId;
use choreo_runtime::sim::{Sim, SimConfig};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use sha2::{Digest, Sha256};

pub use super::agent::NODE_NAMES;
use super::agent::{
    node_ids, node_secret, texts_digest, Act, Agent, Answer, ClockKind, On, Outcome, Query,
    ReshareAct, A_DEVICES, B_DEVICES, G1_NEW, GUARDIANS, NEW_DEVICE, NODES,
};
use super::cluster::{name, Cluster, Hosted, MemoryCluster, NetCluster, SimCluster};
use super::processes::ProcessCluster;
use super::DemoTransport;

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
    /// passes on the guardians' sped-up clock ([`super::cluster::RecoveryClock::scaled`]).
    pub real_delay: Duration,
    /// On `net`: every node its own OS process (this executable's hidden
    /// `demo-node` subcommand) instead of all in this process.
    pub processes: bool,
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
            processes: false,
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
    /// After the new epoch committed, the guardians hold no share of the
    /// old one.
    pub old_shares_erased: bool,
    /// G1 handed its guardian part to its new phone G1b, which approved
    /// the recovery in its place.
    pub guardian_handed_off: bool,
}

impl Summary {
    /// The `lifecycle complete: …` text.
    pub fn line(&self) -> String {
        format!(
            "seed {}, 3 devices + 3 guardians, {} messages over {} epoch bump(s), recovery after {} ({}), new device read {}/{} messages, channel root recomputed: {}, replay refused: {}, new device's own share: epoch {}, guardians' old shares erased: {}, guardian G1 handed off to G1b: {}, {} frames",
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
            if self.old_shares_erased { "yes" } else { "no" },
            if self.guardian_handed_off { "yes" } else { "no" },
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

struct World<'a> {
    cluster: Box<dyn Cluster>,
    seed: u64,
    next_session: u64,
    /// Every node's id (its identity's public key).
    ids: Vec<NodeId>,
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

    fn session_id(&mut self) -> [u8; 16] {
        self.next_session += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_session.to_be_bytes());
        id[8..].copy_from_slice(&self.seed.to_be_bytes());
        id
    }

    /// A fresh session among `nodes` (instance `i` of the roster on
    /// `nodes[i]`).
    fn on(&mut self, nodes: &[usize]) -> On {
        On {
            session: self.session_id(),
            nodes: nodes.to_vec(),
        }
    }

    /// Seed of a node's randomness in the current step.
    fn rng(&self, salt: u64) -> u64 {
        self.seed
            .wrapping_mul(0x9e37_79b9)
            .wrapping_add(salt)
            .wrapping_add(self.next_session << 20)
    }

    fn key(&self, node: usize) -> Result<[u8; 32], Failure> {
        self.ids
            .get(node)
            .map(|id| id.0)
            .ok_or_else(|| self.err(format!("no node {node}")))
    }

    fn query(&mut self, node: usize, query: &Query) -> Result<Answer, Failure> {
        self.cluster
            .query(node, query)
            .map_err(|e| fail(self.phase, format!("{}: {e}", name(node))))
    }

    fn flag(&mut self, node: usize, query: &Query) -> Result<bool, Failure> {
        match self.query(node, query)? {
            Answer::Flag(f) => Ok(f),
            other => Err(self.err(format!("{}: unexpected answer {other:?}", name(node)))),
        }
    }

    /// Start every act, run until all finished; their outcomes in order,
    /// or the first failure (named by its node).
    fn acts(&mut self, acts: Vec<(usize, Act)>) -> Result<Vec<Outcome>, Failure> {
        let nodes: Vec<usize> = acts.iter().map(|(n, _)| *n).collect();
        for (node, act) in acts {
            self.cluster.start(node, act);
        }
        self.finish(&nodes)
    }

    /// Settle the acts started on `nodes` (in that order).
    fn finish(&mut self, nodes: &[usize]) -> Result<Vec<Outcome>, Failure> {
        let results = self.cluster.settle().map_err(|e| self.err(e))?;
        nodes
            .iter()
            .zip(results)
            .map(|(n, r)| r.map_err(|e| self.err(format!("{}: {e}", name(*n)))))
            .collect()
    }

    /// Replicate node `from`'s journal to `to` with the journal sync
    /// protocol (one session per pair).
    fn sync(&mut self, from: usize, to: &[usize]) -> Result<u64, Failure> {
        let mut acts = Vec::new();
        for &t in to {
            let on = self.on(&[from, t]);
            acts.push((from, Act::SyncSend { on: on.clone() }));
            acts.push((t, Act::SyncTake { on }));
        }
        Ok(self
            .acts(acts)?
            .iter()
            .map(|o| match o {
                Outcome::Count(n) => *n,
                _ => 0,
            })
            .sum())
    }
}

/// A verifying key's 32 bytes.
pub fn key_bytes(key: &VerifyingKey) -> Result<[u8; 32], String> {
    key.serialize()
        .map_err(|e| e.to_string())?
        .as_slice()
        .try_into()
        .map_err(|_| "group key is not 32 bytes".to_string())
}

fn short(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
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
    if config.processes && config.transport != DemoTransport::Net {
        return Err(fail(
            "setup",
            "separate processes talk over libp2p: use --transport net",
        ));
    }
    // Every node's Ed25519 identity: its journal signing key and, on a
    // real transport, its libp2p identity.
    let ids = node_ids(config.seed);
    let secrets: Vec<[u8; 32]> = (0..NODES).map(|i| node_secret(config.seed, i)).collect();
    let clock = match config.transport {
        DemoTransport::Sim => ClockKind::Virtual,
        DemoTransport::Net | DemoTransport::Memory => ClockKind::Scaled {
            delay_secs: config.recovery_delay_secs,
            real: config.real_delay,
        },
    };
    let agents = || {
        secrets
            .iter()
            .enumerate()
            .map(|(i, s)| Agent::new(i, *s, ids.clone(), clock))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail("setup", e))
    };
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
            for id in &ids {
                sim.add_node_with_id(*id);
            }
            Box::new(Hosted::new(SimCluster(sim), agents()?))
        }
        DemoTransport::Net if config.processes => Box::new(
            ProcessCluster::start(config.seed, config.recovery_delay_secs, config.real_delay)
                .map_err(|e| fail("setup", e))?,
        ),
        DemoTransport::Net => Box::new(Hosted::new(
            NetCluster::start(&secrets).map_err(|e| fail("setup", e))?,
            agents()?,
        )),
        DemoTransport::Memory => Box::new(Hosted::new(
            MemoryCluster::start(&ids).map_err(|e| fail("setup", e))?,
            agents()?,
        )),
    };
    let mut w = World {
        cluster,
        seed: config.seed,
        next_session: 0,
        ids,
        log,
        phase: "setup",
        trace_from: 0,
    };
    let result = lifecycle(&mut w, config);
    if config.keep_trace {
        *trace = w.cluster.trace().to_vec();
    }
    result
}

fn lifecycle(w: &mut World<'_>, config: &DemoConfig) -> Result<Summary, Failure> {
    if let Some(line) = w.cluster.whereabouts() {
        w.say(line);
    }

    // ---------------------------------------------------------------- DKG
    w.begin("dkg");
    let a_public = dkg(w, &[0, 1, 2, 3, 4, 5], [0xA0; 32])?;
    let b_public = dkg(w, &B_DEVICES, [0xB0; 32])?;
    let a_key = *a_public.verifying_key();
    let b_key = *b_public.verifying_key();
    let a_key_bytes = key_bytes(&a_key).map_err(|e| w.err(e))?;
    w.say(format!(
        "A1 A2 A3 + G1 G2 G3: DKG 2-of-6 → authority A {} (devices and guardians hold shares)",
        short(&a_key_bytes)
    ));
    w.say(format!(
        "B1 B2 B3: DKG 2-of-3 → authority B {}",
        short(&key_bytes(&b_key).map_err(|e| w.err(e))?)
    ));

    // ---------------------------------------------------- guardian binding
    w.begin("binding");
    for (g, &node) in GUARDIANS.iter().enumerate() {
        bind(w, g, node, config.recovery_delay_secs)?;
        // The signers derive the next binding's prestate from their own
        // journals: bring them up to date first.
        w.sync(0, &[1, 2])?;
        w.say(format!(
            "{} bound as guardian: A1 proposes ({} delay), {} signs, A2+A3 certify (2-of-6 threshold signature)",
            name(node),
            super::show_delay(config.recovery_delay_secs),
            name(node)
        ));
    }
    let synced = w.sync(0, &[1, 2, 3, 4, 5])?;
    w.say(format!("A1 → A2 A3 G1 G2 G3: journal sync ({synced} facts sent; every replica holds the 3 bindings)"));

    // -------------------------------------------------------- channel root
    w.begin("channel");
    // Participant ids: A's node n is n+1, B's devices 6-8 are 1-3.
    let root_a = ask_root(w, &a_public, 0, [(1, 2), (2, 3)], &b_key)?;
    let root_b = ask_root(w, &b_public, 6, [(7, 2), (8, 3)], &a_key)?;
    let root_b2 = ask_root(w, &b_public, 7, [(6, 1), (8, 3)], &a_key)?;
    let root_b3 = ask_root(w, &b_public, 8, [(6, 1), (7, 2)], &a_key)?;
    if [root_b, root_b2, root_b3].iter().any(|r| *r != root_a) {
        return Err(w.err("the two authorities computed different channel roots"));
    }
    w.say(format!(
        "channel root B→A by threshold DH: A1 from A2+A3, B1 from B2+B3 (B2, B3 likewise; DLEQ-checked partials) — all {}",
        short(&root_a)
    ));
    let spec = ChannelSpec {
        context: ContextId(Sha256::digest(b"aura demo: context").into()),
        channel: ChannelId(Sha256::digest(b"aura demo: B to A").into()),
        width: config.window,
        authority: a_key,
    };

    // ------------------------------------------------------------ messages
    w.begin("messages");
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
        let from = B_DEVICES.get(d).copied().unwrap_or(B_DEVICES[0]);
        let texts: Vec<Vec<u8>> = (sent..sent + count)
            .map(|i| format!("message {i} from B{}", d + 1).into_bytes())
            .collect();
        let opened = stream(w, &spec, from, texts.clone())?;
        if opened != texts.len() as u64 {
            return Err(w.err(format!("A1 opened {opened} of {} messages", texts.len())));
        }
        sent_texts.extend(texts);
        sent += count;
        batch += 1;
        if sent >= next_progress || sent == config.messages {
            w.say(format!("  … {sent}/{} messages B → A1 (sealed per device, opened in the window, recorded in A's journal)", config.messages));
            next_progress = (sent / 100 + 1) * 100;
        }
        if let Answer::Proposal(Some(proposal)) = w.query(0, &Query::BumpDue { spec, device: 1 })? {
            w.sync(0, &[1, 2])?;
            let parent = proposal.parent.0;
            let seen = proposal.observed_generation;
            bump(w, &spec, proposal)?;
            bumps += 1;
            w.say(format!(
                "epoch bump {parent}→{}: A1 proposes (generation {seen} ≥ W/2 = {}), A2+A3 check their journals and sign, G1-G3 record, B1-B3 switch",
                parent + 1,
                config.window / 2
            ));
        }
    }

    // ------------------------------------------------------------- handoff
    w.begin("handoff");
    let on = w.on(&[0, GUARDIANS[0], G1_NEW]);
    w.acts(vec![
        (
            0,
            Act::HandoffAccount {
                on: on.clone(),
                guardian: GUARDIANS[0],
                successor: G1_NEW,
            },
        ),
        (
            GUARDIANS[0],
            Act::HandoffGuardian {
                on: on.clone(),
                successor: G1_NEW,
            },
        ),
        (G1_NEW, Act::HandoffSuccessor { on }),
    ])?;
    let old_phone_empty = w.query(GUARDIANS[0], &Query::HeldEpochs)? == Answer::Epochs(Vec::new());
    if !old_phone_empty {
        return Err(w.err("G1's old phone still holds its share after the handoff"));
    }
    w.say("G1 replaces its phone: A1 checks G1; G1 signs a handoff certificate naming G1b and delegates its part of the session to G1b, which acknowledges to A1 as the guardian; A1 records the handoff fact; G1's old phone drops its share".into());
    let recovery_guardians = [G1_NEW, GUARDIANS[1], GUARDIANS[2]];
    let synced = w.sync(0, &recovery_guardians)?;
    w.say(format!("A1 → G1b G2 G3: journal sync ({synced} facts: bindings and the handoff, accepted headers, sealed messages, epoch facts)"));

    // ---------------------------------------------------------------- loss
    w.begin("loss");
    for &d in &A_DEVICES {
        w.cluster.crash(d);
    }
    w.say("A1 A2 A3 lost: devices, journals, shares and channel keys gone".into());

    // ------------------------------------------------------------ recovery
    w.begin("recovery");
    // The guardians and the participant ids their shares will have: G1b
    // has none until the reshare (8 there); G2 and G3 hold 5 and 6.
    let recovery_ids: [u16; 3] = [8, 5, 6];
    let desk = Act::OpenDesk {
        account: a_key,
        devices: A_DEVICES.to_vec(),
        guardians: recovery_guardians
            .iter()
            .copied()
            .zip(recovery_ids)
            .collect(),
        approvals: 2,
    };
    w.acts(
        recovery_guardians
            .iter()
            .map(|&g| (g, desk.clone()))
            .collect(),
    )?;
    let request = RecoveryRequest {
        account: a_key_bytes,
        new_device: w.key(NEW_DEVICE)?,
        nonce: Sha256::digest(config.seed.to_be_bytes()).into(),
    };
    let hash = request.hash().map_err(|e| w.err(e))?;
    let prestate = window(w, &recovery_guardians, &request, config, &hash)?;
    let facts = grant(w, &a_public, &request, prestate)?;
    w.say(format!(
        "N: recovery grant committed by consensus (G2+G3 sign with their epoch-0 shares; G1b holds none yet); N rebuilt A's journal from G2 and G3 ({facts} facts)"
    ));
    let (new_epoch, epoch1_public) = reshare_to_new_device(w, &a_public)?;
    let mut erased = true;
    for &g in &recovery_guardians {
        erased &= w.query(g, &Query::HeldEpochs)? == Answer::Epochs(vec![new_epoch.0]);
        erased &= w.flag(g, &Query::RetiredEpochRefused { epoch: KeyEpoch(0) })?;
    }
    w.say(format!(
        "G1b G2 G3: epoch {} committed, the epoch-0 shares and nonces erased ({})",
        new_epoch.0,
        if erased {
            "each holds only its epoch-1 share and refuses to sign for epoch 0"
        } else {
            "AN OLD SHARE IS STILL HELD"
        }
    ));
    if !erased {
        return Err(w.err("a guardian still holds its old share after the new epoch committed"));
    }
    let guardians_seen = match w.query(NEW_DEVICE, &Query::Guardians { account: a_key })? {
        Answer::Count(n) => n,
        _ => 0,
    };
    let root_new = ask_root(
        w,
        &epoch1_public,
        NEW_DEVICE,
        [(G1_NEW, 8), (GUARDIANS[1], 5)],
        &b_key,
    )?;
    let root_recovered = root_new == root_a;
    w.say(format!(
        "N: channel root recomputed from G1b+G2's partials with their epoch-1 shares — {} ({})",
        short(&root_new),
        if root_recovered {
            "same as before the loss"
        } else {
            "DIFFERENT"
        }
    ));
    let Answer::History {
        read,
        epochs,
        digest,
    } = w.query(NEW_DEVICE, &Query::History { spec })?
    else {
        return Err(w.err("N did not answer with its history"));
    };
    if digest != texts_digest(&sent_texts) || guardians_seen != 3 || !root_recovered {
        return Err(w.err(format!(
            "the new device read {read} of {} messages (the same ones: {}) and sees {guardians_seen} guardians",
            sent_texts.len(),
            digest == texts_digest(&sent_texts)
        )));
    }
    w.say(format!(
        "N: read {read}/{} old messages from the journal (epochs {epochs:?}), keys rederived from the root",
        sent_texts.len(),
    ));
    let replay_refused = w.flag(NEW_DEVICE, &Query::ReplayRefused { spec })?;
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
        read: usize::try_from(read).unwrap_or(usize::MAX),
        bumps,
        delay_secs: config.recovery_delay_secs,
        delay_real: (!w.cluster.is_virtual()).then_some(config.real_delay),
        frames: w.cluster.frames(),
        root_recovered,
        replay_refused,
        new_share_epoch: new_epoch.0,
        old_shares_erased: erased,
        guardian_handed_off: old_phone_empty,
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

/// A DKG among `nodes` (threshold 2); the authority's key package.
fn dkg(w: &mut World<'_>, nodes: &[usize], run: [u8; 32]) -> Result<PublicKeyPackage, Failure> {
    let on = w.on(nodes);
    let acts = (0..nodes.len())
        .zip(nodes)
        .map(|(i, &n)| {
            (
                n,
                Act::Dkg {
                    on: on.clone(),
                    run,
                    threshold: 2,
                    rng: w.rng(i as u64),
                },
            )
        })
        .collect();
    let mut public = None;
    for outcome in w.acts(acts)? {
        let Outcome::Public(p) = outcome else {
            return Err(w.err("DKG: a participant reported no key"));
        };
        if public.as_ref().is_some_and(|q| q != &p) {
            return Err(w.err("DKG: the participants disagree on the key"));
        }
        public = Some(p);
    }
    public
        .map(|p| *p)
        .ok_or_else(|| w.err("DKG: no participants"))
}

fn bind(w: &mut World<'_>, g: usize, node: usize, delay: u64) -> Result<(), Failure> {
    let on = w.on(&[0, node, 1, 2]);
    let mut acts = vec![
        (
            0,
            Act::BindPropose {
                on: on.clone(),
                guardian: node,
                nonce: [g as u8; 32],
                delay,
                signers: vec![2, 3],
            },
        ),
        (node, Act::BindAccept { on: on.clone() }),
    ];
    for d in [1usize, 2] {
        acts.push((
            d,
            Act::BindSign {
                on: on.clone(),
                rng: w.rng(100 + d as u64),
            },
        ));
    }
    let outcomes = w.acts(acts)?;
    match (outcomes.first(), outcomes.get(1)) {
        (Some(Outcome::Bound(x)), Some(Outcome::Bound(y))) if x == y => Ok(()),
        _ => Err(w.err(format!("{} was not bound", name(node)))),
    }
}

/// `device` asks `holders` for the channel root toward `peer`; the root's
/// fingerprint (the root stays with the device).
fn ask_root(
    w: &mut World<'_>,
    public: &PublicKeyPackage,
    device: usize,
    holders: [(usize, u16); 2],
    peer: &VerifyingKey,
) -> Result<[u8; 32], Failure> {
    let on = w.on(&[device, holders[0].0, holders[1].0]);
    let mut acts = vec![(
        device,
        Act::RootAsk {
            on: on.clone(),
            public: public.clone(),
            peer: *peer,
            holders: holders.iter().map(|(_, p)| *p).collect(),
        },
    )];
    for (n, _) in holders {
        acts.push((
            n,
            Act::RootGive {
                on: on.clone(),
                rng: w.rng(200 + n as u64),
            },
        ));
    }
    match w.acts(acts)?.first() {
        Some(Outcome::Root(fingerprint)) => Ok(*fingerprint),
        _ => Err(w.err("the device computed no root")),
    }
}

/// B's device `from` sends `texts` to A1; how many A1 opened.
fn stream(
    w: &mut World<'_>,
    spec: &ChannelSpec,
    from: usize,
    texts: Vec<Vec<u8>>,
) -> Result<u64, Failure> {
    let on = w.on(&[from, 0]);
    let acts = vec![
        (
            from,
            Act::Send {
                on: on.clone(),
                spec: *spec,
                texts,
                rng: w.rng(300 + from as u64),
            },
        ),
        (0, Act::Receive { on, spec: *spec }),
    ];
    match w.acts(acts)?.get(1) {
        Some(Outcome::Count(n)) => Ok(*n),
        _ => Err(w.err("A1 reported nothing")),
    }
}

fn bump(w: &mut World<'_>, spec: &ChannelSpec, proposal: BumpProposal) -> Result<(), Failure> {
    let on = w.on(&[0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let spec = *spec;
    let mut acts = vec![(
        0,
        Act::BumpPropose {
            on: on.clone(),
            spec,
            proposal,
            signers: vec![2, 3],
        },
    )];
    for d in [1usize, 2] {
        acts.push((
            d,
            Act::BumpSign {
                on: on.clone(),
                spec,
                rng: w.rng(400 + d as u64),
            },
        ));
    }
    for &n in &GUARDIANS {
        acts.push((
            n,
            Act::BumpWatch {
                on: on.clone(),
                spec,
            },
        ));
    }
    for &n in &B_DEVICES {
        acts.push((
            n,
            Act::BumpLearn {
                on: on.clone(),
                spec,
            },
        ));
    }
    w.acts(acts).map(|_| ())
}

/// The recovery request, the guardians' approvals and the delay window;
/// the approvals' prestate.
fn window(
    w: &mut World<'_>,
    guardians: &[usize; 3],
    request: &RecoveryRequest,
    config: &DemoConfig,
    hash: &[u8; 32],
) -> Result<[u8; 32], Failure> {
    let delay = config.recovery_delay_secs;
    let nodes = [NEW_DEVICE, guardians[0], guardians[1], guardians[2]];
    let on = w.on(&nodes);
    w.cluster.start(
        NEW_DEVICE,
        Act::Request {
            on: on.clone(),
            request: request.clone(),
            approvals: 2,
        },
    );
    for &g in guardians {
        w.cluster.start(
            g,
            Act::Answer {
                on: on.clone(),
                approve: true,
            },
        );
    }
    let open: Vec<(usize, Query)> = guardians
        .iter()
        .map(|&g| (g, Query::WindowOpen { request: *hash }))
        .collect();
    w.cluster.wait_until(Duration::from_secs(2), &open);
    for (g, q) in &open {
        if !w.flag(*g, q)? {
            return Err(w.err("the guardians did not open the recovery window"));
        }
    }
    w.say(format!(
        "N asks G1b G2 G3 to recover A: 3 approvals (signed, bound to A's prestate; G1's from its new phone, counted because every replica holds the handoff) → window open, delay {} from each guardian's binding",
        super::show_delay(delay)
    ));
    let mut early = 0;
    for &g in guardians {
        if w.flag(g, &Query::RefusesGrant { request: *hash })? {
            early += 1;
        }
    }
    w.say(format!("  … asked now, {early}/3 guardians would refuse to sign the grant (the delay is not over on their clocks); no cancel arrives"));
    for &g in guardians {
        w.query(g, &Query::AdvanceClock { secs: delay })?;
    }
    let outcomes = w.finish(&nodes)?;
    let ready = outcomes
        .iter()
        .filter(|o| **o == Outcome::Flag(true))
        .count();
    w.say(format!(
        "  … {} passed ({}): {ready}/3 guardians ready to sign",
        super::show_delay(delay),
        if w.cluster.is_virtual() {
            "virtual clock".to_string()
        } else {
            format!(
                "scaled clock: {:.1} s real",
                config.real_delay.as_secs_f64()
            )
        },
    ));
    match outcomes.first() {
        Some(Outcome::Prestate(prestate)) => Ok(*prestate),
        _ => Err(w.err("the new device got no verdicts")),
    }
}

/// The grant after the window: G2 and G3 (the guardians still holding
/// epoch-0 shares) sign; how many facts N took in.
fn grant(
    w: &mut World<'_>,
    public: &PublicKeyPackage,
    request: &RecoveryRequest,
    prestate: [u8; 32],
) -> Result<u64, Failure> {
    let signers = [(GUARDIANS[1], 5u16), (GUARDIANS[2], 6u16)];
    let on = w.on(&[NEW_DEVICE, signers[0].0, signers[1].0]);
    let mut acts = vec![(
        NEW_DEVICE,
        Act::Grant {
            on: on.clone(),
            request: request.clone(),
            prestate,
            public: public.clone(),
            guardians: vec![5, 6],
            named: vec![5, 6],
            epoch: KeyEpoch(0),
        },
    )];
    for (g, participant) in signers {
        acts.push((
            g,
            Act::ServeGrant {
                on: on.clone(),
                participant,
                rng: w.rng(500 + g as u64),
            },
        ));
    }
    match w.acts(acts)?.first() {
        Some(Outcome::Count(facts)) => Ok(*facts),
        _ => Err(w.err("the new device reported no grant")),
    }
}

/// The new device and G1's new phone get shares of A of their own: G2 and
/// G3 deal (the old 2-of-6 holders that are left: A's devices are lost,
/// G1's old phone dropped its share at the handoff), the new committee is
/// G1b G2 G3 N (2-of-4, epoch 1), and the new epoch commits through
/// consensus of G2 and G3, not on anyone's word. N and G1b then sign
/// together, by consensus over the network, under the unchanged group
/// key. Returns the new epoch and its key package.
fn reshare_to_new_device(
    w: &mut World<'_>,
    old_public: &PublicKeyPackage,
) -> Result<(KeyEpoch, PublicKeyPackage), Failure> {
    let old_epoch = KeyEpoch(0);
    // Members: G2 G3 (participants 5 6: the dealers, and the witnesses of
    // the epoch commit), N (participant 7) and G1b (participant 8).
    let witnesses: Vec<(usize, u16)> = vec![(GUARDIANS[1], 5), (GUARDIANS[2], 6)];
    let members: Vec<(usize, u16)> = witnesses
        .iter()
        .copied()
        .chain([(NEW_DEVICE, 7), (G1_NEW, 8)])
        .collect();
    let session: [u8; 32] = Sha256::digest(w.session_id()).into();
    let consensus: [u8; 32] = Sha256::digest(w.session_id()).into();
    let prestate = epoch_prestate(old_epoch, old_public).map_err(|e| w.err(e))?;
    let acts = members
        .iter()
        .map(|&(n, _)| {
            (
                n,
                Act::Reshare(Box::new(ReshareAct {
                    session,
                    members: members.clone(),
                    dealers: vec![5, 6],
                    threshold: 2,
                    witnesses: witnesses.clone(),
                    old_epoch,
                    old_public: old_public.clone(),
                    consensus,
                    initiator: 5,
                    prestate,
                    rng: w.rng(700 + n as u64),
                })),
            )
        })
        .collect();
    let mut new_public: Option<(KeyEpoch, Box<PublicKeyPackage>)> = None;
    for outcome in w.acts(acts)? {
        let Outcome::Share { epoch, public, .. } = outcome else {
            return Err(w.err("reshare: a member got no share"));
        };
        if public.verifying_key() != old_public.verifying_key()
            || epoch != KeyEpoch(old_epoch.0 + 1)
        {
            return Err(w.err("the reshare changed the group key or the epoch"));
        }
        if new_public.as_ref().is_some_and(|(_, p)| *p != public) {
            return Err(w.err("reshare: the members disagree on the new key package"));
        }
        new_public = Some((epoch, public));
    }
    let (epoch, public) = new_public.ok_or_else(|| w.err("reshare: no members"))?;
    // N and G1b sign a statement together with their new shares.
    let id: [u8; 32] = Sha256::digest(w.session_id()).into();
    let signers = vec![(NEW_DEVICE, 7u16), (G1_NEW, 8u16)];
    let acts = signers
        .iter()
        .map(|&(n, _)| {
            (
                n,
                Act::SignTogether {
                    id,
                    members: signers.clone(),
                    initiator: 7,
                    threshold: 2,
                    prestate: Sha256::digest(b"aura demo: the new device signs").into(),
                    operation: Sha256::digest(id).into(),
                    rng: w.rng(790 + n as u64),
                },
            )
        })
        .collect();
    w.acts(acts)?;
    w.say(format!(
        "N and G1b: own shares of A by reshare — G2+G3 deal to G1b G2 G3 N (2-of-4, epoch {}), the epoch committed by G2+G3's consensus; N+G1b sign under the unchanged key",
        epoch.0
    ));
    Ok((epoch, *public))
}
