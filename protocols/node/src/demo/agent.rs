//! One node of the demo: its own state and what it does in each step.
//!
//! The lifecycle ([`super::run()`]) is a coordinator: it decides who does
//! what, step by step, and hands every node an [`Act`] (take part in this
//! session, in this role) or a [`Query`] (what does your journal say?). A
//! node's [`Agent`] carries everything that node knows — its identity key,
//! its journal, its share of its authority's key and the witness over it,
//! its channel state, a guardian's recovery desk — and nothing of anyone
//! else's. The coordinator only ever sees [`Outcome`]s and [`Answer`]s:
//! public values (group keys, root fingerprints, counts), never a share,
//! a root or a channel key.
//!
//! That split is what lets the same lifecycle run with every node in this
//! process (the agents live beside their node hosts,
//! [`super::cluster::Hosted`]) or every node in its own OS process (acts
//! and outcomes cross a pipe, [`super::processes`]): the protocol traffic
//! is the same role logic on the same node hosts either way.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_protocols::amp::{BumpProposal, ChannelReceiver, ChannelRoot, ChannelSender, DeviceId};
use aura_protocols::dkg::DkgConfig;
use aura_protocols::generated::{
    channel_root, channel_stream, epoch_bump, guardian_binding, guardian_handoff, recovery,
    recovery_grant,
};
use aura_protocols::journal_sync::{self, SyncConfig};
use aura_protocols::lifecycle::binding::{self, AccountSide, BindingProposal, WitnessSide};
use aura_protocols::lifecycle::channel::{self, ChannelSpec, Inbox, SealedMessage};
use aura_protocols::lifecycle::epoch::{self, BumpOutcome, PeerSide, ProposerSide};
use aura_protocols::lifecycle::handoff;
use aura_protocols::lifecycle::recovery::{
    self as rec, GrantOutcome, GuardianDesk, RecoveryRequest, RequestOutcome, WindowVerdict,
};
use aura_protocols::lifecycle::{ManualClock, SignerIds};
use aura_protocols::reshare::ReshareConfig;
use aura_protocols::roles::consensus::{run_consensus, ConsensusConfig, WitnessState};
use aura_protocols::roles::{self, from_host};
use aura_protocols::witness::{MemorySigningRecord, Witness};
use aura_protocols::{AuthorityKeyShare, KeyEpoch, NodeIdentity, ParticipantId, Roster};
use choreo_runtime::guard::{
    CapabilitySet, ContextId as FlowContext, Grant, Guard, GuardConfig, GuardedTransport,
    ManualClock as GuardClock, RecordSends,
};
use choreo_runtime::journal::{Journal, MemoryStore, ScopeId, SigningKey};
use choreo_runtime::node::{NodeId, NodeTransport, SessionSpec, SharedNode};
use choreo_runtime::{ProtocolInfo, Session, SessionId};
use frost_ed25519::keys::PublicKeyPackage;
use frost_ed25519::VerifyingKey;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cluster::RecoveryClock;

/// A's devices, A's guardians, B's devices and the new device, by node
/// index.
pub const A_DEVICES: [usize; 3] = [0, 1, 2];
/// A's guardians.
pub const GUARDIANS: [usize; 3] = [3, 4, 5];
/// B's devices.
pub const B_DEVICES: [usize; 3] = [6, 7, 8];
/// The device that recovers A.
pub const NEW_DEVICE: usize = 9;
/// G1's new phone: G1 hands its guardian part to it before the loss.
pub const G1_NEW: usize = 10;
/// How many nodes a run has.
pub const NODES: usize = 11;
/// Node names in the timeline and the trace.
pub const NODE_NAMES: [&str; NODES] = [
    "A1", "A2", "A3", "G1", "G2", "G3", "B1", "B2", "B3", "N", "G1b",
];

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

/// A journal scope named by a tag.
pub fn scope_of(tag: &[u8]) -> ScopeId {
    ScopeId(Sha256::digest(tag).into())
}

/// Node `index`'s Ed25519 identity secret for run `seed`: its journal
/// signing key and its libp2p identity. Every process derives the same
/// ones (and so every node's public id), but uses only its own secret.
pub fn node_secret(seed: u64, index: usize) -> [u8; 32] {
    use rand::RngCore;
    let mut secret = [0u8; 32];
    let i = u64::try_from(index).unwrap_or(u64::MAX);
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ (i << 56));
    rng.fill_bytes(&mut secret);
    secret
}

/// Every node's id (its identity's public key) for run `seed`.
pub fn node_ids(seed: u64) -> Vec<NodeId> {
    (0..NODES)
        .map(|i| {
            NodeId(
                SigningKey::from_bytes(&node_secret(seed, i))
                    .verifying_key()
                    .to_bytes(),
            )
        })
        .collect()
}

/// How a guardian's recovery clock runs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum ClockKind {
    /// Virtual: moved by [`Query::AdvanceClock`].
    Virtual,
    /// Real time sped up so that `delay_secs` pass in `real`.
    Scaled {
        /// The recovery delay (clock seconds).
        delay_secs: u64,
        /// Real time in which it passes.
        real: Duration,
    },
}

/// One session of a step: its id and the node of every roster instance,
/// in roster order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct On {
    /// Session id.
    pub session: [u8; 16],
    /// Node index of instance `i` of the roster.
    pub nodes: Vec<usize>,
}

/// What a node does in one step. Every act names its session(s); the
/// node opens them itself on its own host.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Act {
    /// Take part in a DKG of the nodes in `on.nodes` (participants 1..).
    Dkg {
        /// Session.
        on: On,
        /// The DKG's run id.
        run: [u8; 32],
        /// Signers needed.
        threshold: u16,
        /// Seed of this node's randomness in the step.
        rng: u64,
    },
    /// A1: propose binding `guardian` (its node index) with `delay`.
    BindPropose {
        /// Session (A1, guardian, the two signers).
        on: On,
        /// The guardian's node index.
        guardian: usize,
        /// The proposal's nonce.
        nonce: [u8; 32],
        /// Recovery delay (seconds).
        delay: u64,
        /// Participant ids of the two signers.
        signers: Vec<u16>,
    },
    /// A guardian: accept the binding proposed to it.
    BindAccept {
        /// Session.
        on: On,
    },
    /// A2/A3: check and sign the binding.
    BindSign {
        /// Session.
        on: On,
        /// Randomness seed.
        rng: u64,
    },
    /// Send this node's journal to `on.nodes[1]`.
    SyncSend {
        /// Session.
        on: On,
    },
    /// Take in `on.nodes[0]`'s journal.
    SyncTake {
        /// Session.
        on: On,
    },
    /// A holder: give its root partial toward the asking device's peer.
    RootGive {
        /// Session (device, holders).
        on: On,
        /// Randomness seed.
        rng: u64,
    },
    /// A device: ask two holders for the channel root toward `peer`.
    RootAsk {
        /// Session.
        on: On,
        /// The holders' key package (their epoch's verifying shares).
        public: PublicKeyPackage,
        /// The other authority's group key.
        peer: VerifyingKey,
        /// The holders' participant ids.
        holders: Vec<u16>,
    },
    /// A device of B: seal and send `texts` to A1.
    Send {
        /// Session (sender, A1).
        on: On,
        /// The channel.
        spec: ChannelSpec,
        /// Plain texts.
        texts: Vec<Vec<u8>>,
        /// Randomness seed.
        rng: u64,
    },
    /// A1: open what arrives and record it in A's journal.
    Receive {
        /// Session.
        on: On,
        /// The channel.
        spec: ChannelSpec,
    },
    /// A1: propose an epoch bump.
    BumpPropose {
        /// Session (A1 A2 A3, G1-G3, B1-B3).
        on: On,
        /// The channel.
        spec: ChannelSpec,
        /// The proposal (from A1's journal).
        proposal: BumpProposal,
        /// Participant ids of the two signers.
        signers: Vec<u16>,
    },
    /// A2/A3: check the bump against their journals and sign it.
    BumpSign {
        /// Session.
        on: On,
        /// The channel.
        spec: ChannelSpec,
        /// Randomness seed.
        rng: u64,
    },
    /// A guardian: record the committed bump.
    BumpWatch {
        /// Session.
        on: On,
        /// The channel.
        spec: ChannelSpec,
    },
    /// A device of B: learn the committed bump and switch.
    BumpLearn {
        /// Session.
        on: On,
        /// The channel.
        spec: ChannelSpec,
    },
    /// A device of the account: ask guardian `guardian` to confirm its
    /// part; accept a handoff to `successor` and record it.
    HandoffAccount {
        /// Session (account device, guardian, successor).
        on: On,
        /// The guardian's node.
        guardian: usize,
        /// The successor's node.
        successor: usize,
    },
    /// A guardian's old device: hand its part to `successor` (delegate),
    /// then drop its key material.
    HandoffGuardian {
        /// Session.
        on: On,
        /// The successor's node.
        successor: usize,
    },
    /// A guardian's new device: take the part over and acknowledge as the
    /// guardian.
    HandoffSuccessor {
        /// Session.
        on: On,
    },
    /// A guardian: set up its recovery desk for its account.
    OpenDesk {
        /// The account's group key.
        account: VerifyingKey,
        /// The account's device nodes (entitled to cancel).
        devices: Vec<usize>,
        /// Every guardian node and its share's participant id.
        guardians: Vec<(usize, u16)>,
        /// Approvals that open a window.
        approvals: usize,
    },
    /// The new device: ask the guardians to recover the account.
    Request {
        /// Session (new device, guardians).
        on: On,
        /// The request.
        request: RecoveryRequest,
        /// Approvals needed.
        approvals: usize,
    },
    /// A guardian: answer a recovery request and hold its window.
    Answer {
        /// Session.
        on: On,
        /// Approve (or decline).
        approve: bool,
    },
    /// The new device: ask for the grant after the window.
    Grant {
        /// Session.
        on: On,
        /// The request.
        request: RecoveryRequest,
        /// The approvals' prestate.
        prestate: [u8; 32],
        /// The account's key package.
        public: PublicKeyPackage,
        /// Participant id of guardian `i`.
        guardians: Vec<u16>,
        /// The signers named in the signing package.
        named: Vec<u16>,
        /// The key epoch.
        epoch: KeyEpoch,
    },
    /// A guardian: sign the grant if its window passed.
    ServeGrant {
        /// Session.
        on: On,
        /// Its participant id.
        participant: u16,
        /// Randomness seed.
        rng: u64,
    },
    /// A member of a reshare: deal (if a dealer), receive a new share,
    /// and (if an old holder) certify the new epoch by consensus.
    Reshare(Box<ReshareAct>),
    /// Sign a statement together by consensus with this node's share.
    SignTogether {
        /// Consensus id.
        id: [u8; 32],
        /// The witnesses: node and participant id.
        members: Vec<(usize, u16)>,
        /// Who proposes.
        initiator: u16,
        /// Signers needed.
        threshold: u16,
        /// The statement's prestate and operation.
        prestate: [u8; 32],
        /// Operation.
        operation: [u8; 32],
        /// Randomness seed.
        rng: u64,
    },
}

/// The parameters of [`Act::Reshare`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReshareAct {
    /// Session key of the reshare.
    pub session: [u8; 32],
    /// Every member: node and participant id (the new committee).
    pub members: Vec<(usize, u16)>,
    /// The dealers' participant ids.
    pub dealers: Vec<u16>,
    /// Threshold of the new epoch.
    pub threshold: u16,
    /// The old holders that certify the new epoch: node and participant.
    pub witnesses: Vec<(usize, u16)>,
    /// The old epoch and its key package.
    pub old_epoch: KeyEpoch,
    /// Old key package.
    pub old_public: PublicKeyPackage,
    /// Consensus id of the epoch commit, and who initiates it.
    pub consensus: [u8; 32],
    /// Initiator of the commit.
    pub initiator: u16,
    /// The epoch commit's prestate.
    pub prestate: [u8; 32],
    /// Randomness seed.
    pub rng: u64,
}

/// What an act produced that the coordinator may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Nothing to report.
    Done,
    /// A count (facts sent, messages opened, facts taken in).
    Count(u64),
    /// A flag (a guardian ready to sign after its window).
    Flag(bool),
    /// The authority's key package after a DKG (public).
    Public(Box<PublicKeyPackage>),
    /// The binding both parties recorded (its encoding).
    Bound(Vec<u8>),
    /// A channel root's fingerprint (the root stays with the node).
    Root([u8; 32]),
    /// The approvals' prestate after the recovery window.
    Prestate([u8; 32]),
    /// A new share after a reshare: its epoch and key package.
    Share {
        /// Epoch.
        epoch: KeyEpoch,
        /// The holder's participant id.
        participant: u16,
        /// The new epoch's key package.
        public: Box<PublicKeyPackage>,
    },
}

/// A question to a node about its own state, answered at once (also
/// while its acts run).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Query {
    /// Would the channel's next bump be due by the spacing rule?
    BumpDue {
        /// The channel.
        spec: ChannelSpec,
        /// This device's id on the channel.
        device: u64,
    },
    /// A guardian: does it hold the window of this request?
    WindowOpen {
        /// The request's hash.
        request: [u8; 32],
    },
    /// A guardian: would it refuse to sign the grant now?
    RefusesGrant {
        /// The request's hash.
        request: [u8; 32],
    },
    /// Move a virtual recovery clock to `secs`.
    AdvanceClock {
        /// Clock seconds.
        secs: u64,
    },
    /// Frames this node received.
    Frames,
    /// How many guardians the node's journal shows bound to `account`.
    Guardians {
        /// The account.
        account: VerifyingKey,
    },
    /// Read the channel's history from the journal with the node's root.
    History {
        /// The channel.
        spec: ChannelSpec,
    },
    /// Replay the first recorded message: refused?
    ReplayRefused {
        /// The channel.
        spec: ChannelSpec,
    },
    /// The key epochs of the shares this node still holds (its current
    /// share and any witness over an older one).
    HeldEpochs,
    /// Ask the node's witness to sign a request for key epoch `epoch`:
    /// refused because that epoch is retired?
    RetiredEpochRefused {
        /// The epoch the request names.
        epoch: KeyEpoch,
    },
}

/// A node's answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Yes or no.
    Flag(bool),
    /// A count.
    Count(u64),
    /// A bump proposal, if one is due.
    Proposal(Option<BumpProposal>),
    /// The history: messages read, their epochs, and the plain texts'
    /// digest (sorted, so the coordinator can compare with what was sent).
    History {
        /// Messages read.
        read: u64,
        /// Epochs they were sealed in.
        epochs: Vec<u64>,
        /// SHA-256 over the sorted texts.
        digest: [u8; 32],
    },
    /// Key epochs.
    Epochs(Vec<u64>),
}

/// The digest the coordinator compares a read history with.
pub fn texts_digest<'a>(texts: impl IntoIterator<Item = &'a Vec<u8>>) -> [u8; 32] {
    let sorted: BTreeSet<&Vec<u8>> = texts.into_iter().collect();
    let mut h = Sha256::new();
    for t in sorted {
        h.update((t.len() as u64).to_be_bytes());
        h.update(t);
    }
    h.finalize().into()
}

/// The work an act does once its sessions are open.
pub type Work = Pin<Box<dyn Future<Output = Result<Outcome, String>>>>;

type Core = RefCell<Option<Witness<MemorySigningRecord>>>;

/// One node's state (see the module docs).
#[derive(Debug)]
pub struct Agent {
    index: usize,
    ids: Vec<NodeId>,
    key: SigningKey,
    journal: Mutex<Journal>,
    guard: Guard,
    clock_kind: ClockKind,
    /// The node's current share of its authority's key.
    share: RefCell<Option<AuthorityKeyShare>>,
    /// The witness (share, nonces, signing record) over that share.
    core: Core,
    sender: RefCell<Option<ChannelSender>>,
    receiver: RefCell<ChannelReceiver>,
    root: RefCell<Option<Rc<ChannelRoot>>>,
    desk: RefCell<Option<Rc<GuardianDesk>>>,
    clock: RefCell<Option<Rc<RecoveryClock>>>,
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A recovery session's guardian count: every node after the new device.
fn guardians_in(on: &On) -> Result<u32, String> {
    u32::try_from(on.nodes.len().saturating_sub(1)).map_err(text)
}

fn ids_of(v: &[u16]) -> SignerIds {
    SignerIds(v.iter().map(|p| ParticipantId(*p)).collect())
}

impl Agent {
    /// Node `index` of a run, with its identity `secret` and every node's
    /// id; its journal in memory (A's scope, or B's for B's devices).
    pub fn new(
        index: usize,
        secret: [u8; 32],
        ids: Vec<NodeId>,
        clock_kind: ClockKind,
    ) -> Result<Self, String> {
        let key = SigningKey::from_bytes(&secret);
        let scope = if B_DEVICES.contains(&index) {
            scope_of(b"aura demo: authority B")
        } else {
            scope_of(b"aura demo: authority A")
        };
        let journal = Journal::open(scope, MemoryStore::new()).map_err(text)?;
        // The guard records `@journal` facts in a journal of its own, so
        // the authorities' journals hold only their protocol facts.
        let sends = scope_of(b"aura demo: guarded sends");
        let records = Journal::open(sends, MemoryStore::new()).map_err(text)?;
        let guard = Guard::new(GuardConfig::default(), Arc::new(GuardClock::default()))
            .with_journal(
                Arc::new(Mutex::new(records)),
                RecordSends {
                    key: key.clone(),
                    scope: sends,
                },
            );
        Ok(Agent {
            index,
            ids,
            key,
            journal: Mutex::new(journal),
            guard,
            clock_kind,
            share: RefCell::new(None),
            core: RefCell::new(None),
            sender: RefCell::new(None),
            receiver: RefCell::new(ChannelReceiver::new()),
            root: RefCell::new(None),
            desk: RefCell::new(None),
            clock: RefCell::new(None),
        })
    }

    fn identity(&self) -> NodeIdentity {
        NodeIdentity::from_secret(self.key.to_bytes())
    }

    fn key_of(&self, node: usize) -> Result<[u8; 32], String> {
        self.ids
            .get(node)
            .map(|id| id.0)
            .ok_or_else(|| format!("no node {node}"))
    }

    fn roster_of(&self, members: &[(usize, u16)]) -> Result<Roster, String> {
        let bindings = members
            .iter()
            .map(|(n, p)| Ok((ParticipantId(*p), from_host(NodeId(self.key_of(*n)?)))))
            .collect::<Result<Vec<_>, String>>()?;
        Roster::new(bindings).map_err(text)
    }

    fn grant(context: [u8; 32]) -> Grant {
        Grant {
            context: FlowContext(context),
            capabilities: CapabilitySet::grant(DEMO_CAPABILITIES),
        }
    }

    /// The spec of this node's part of the session `on` (instance `i` of
    /// the roster on node `on.nodes[i]`).
    fn spec(
        &self,
        protocol: &'static ProtocolInfo,
        roster: Result<choreo_runtime::Roster, choreo_runtime::Error>,
        on: &On,
    ) -> Result<SessionSpec, String> {
        let roster = roster.map_err(text)?;
        let position = on
            .nodes
            .iter()
            .position(|&n| n == self.index)
            .ok_or("this node is not in the session")?;
        let me = *roster
            .instances()
            .get(position)
            .ok_or("the roster is shorter than its nodes")?;
        let peers = on
            .nodes
            .iter()
            .map(|&n| self.key_of(n).map(NodeId))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SessionSpec {
            id: SessionId(on.session),
            protocol,
            me,
            roster,
            peers,
            patience: None,
        })
    }

    /// Open this node's part of `on` behind its guard.
    fn open(
        &self,
        node: &SharedNode,
        protocol: &'static ProtocolInfo,
        roster: Result<choreo_runtime::Roster, choreo_runtime::Error>,
        on: &On,
    ) -> Result<Session<GuardedTransport<NodeTransport>>, String> {
        let spec = self.spec(protocol, roster, on)?;
        node.open_guarded_session(
            spec,
            &self.guard,
            Self::grant(Sha256::digest(on.session).into()),
        )
        .map_err(text)
    }

    /// Open a session without the guard: `delegate` moves the bare node
    /// endpoint (the guarded transport cannot be handed over).
    fn open_plain(
        &self,
        node: &SharedNode,
        protocol: &'static ProtocolInfo,
        roster: Result<choreo_runtime::Roster, choreo_runtime::Error>,
        on: &On,
    ) -> Result<Session<NodeTransport>, String> {
        node.open_session(self.spec(protocol, roster, on)?)
            .map_err(text)
    }

    fn take_core(&self) -> Result<Witness<MemorySigningRecord>, String> {
        self.core
            .borrow_mut()
            .take()
            .ok_or_else(|| "this node holds no share".to_string())
    }

    fn root(&self) -> Result<Rc<ChannelRoot>, String> {
        self.root
            .borrow()
            .clone()
            .ok_or_else(|| "this node has no channel root".into())
    }

    fn desk(&self) -> Result<(Rc<GuardianDesk>, Rc<RecoveryClock>), String> {
        let desk = self.desk.borrow().clone().ok_or("no recovery desk")?;
        let clock = self.clock.borrow().clone().ok_or("no recovery clock")?;
        Ok((desk, clock))
    }

    /// Keep `share` as this node's first share, with a witness over it.
    fn hold(&self, share: AuthorityKeyShare) {
        *self.core.borrow_mut() = Some(Witness::new(share.clone(), MemorySigningRecord::default()));
        *self.share.borrow_mut() = Some(share);
    }

    /// A new epoch committed (`certificate`): switch to `share`. An old
    /// holder's witness switches through [`Witness::commit_epoch`], which
    /// checks the certificate, drops the old share and its nonces and
    /// refuses old-epoch requests from now on; the old share itself is
    /// dropped with it. A new member starts with a fresh witness.
    fn commit_epoch(
        &self,
        share: AuthorityKeyShare,
        certificate: &aura_protocols::signing::CommitCertificate,
    ) -> Result<(), String> {
        let old = self.core.borrow_mut().take();
        let witness = match old {
            Some(mut witness) => {
                witness
                    .commit_epoch(share.clone(), certificate)
                    .map_err(|e| format!("switching to the new epoch: {e}"))?;
                witness
            }
            None => Witness::new(share.clone(), MemorySigningRecord::default()),
        };
        *self.core.borrow_mut() = Some(witness);
        *self.share.borrow_mut() = Some(share);
        Ok(())
    }

    /// Open the act's sessions on `node` now and return the work that
    /// runs them.
    pub fn start(self: &Rc<Self>, node: &SharedNode, act: Act) -> Result<Work, String> {
        let me = self.clone();
        let node = node.clone();
        Ok(match act {
            Act::Dkg {
                on,
                run,
                threshold,
                rng,
            } => {
                let members: Vec<(usize, u16)> = on
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (n, u16::try_from(i + 1).unwrap_or(u16::MAX)))
                    .collect();
                let config = DkgConfig {
                    session: run,
                    threshold,
                    roster: self.roster_of(&members)?,
                };
                let p = members
                    .iter()
                    .find(|(n, _)| *n == self.index)
                    .map(|(_, p)| ParticipantId(*p))
                    .ok_or("not a DKG member")?;
                let spec =
                    roles::dkg::session_spec(SessionId(on.session), &config, p).map_err(text)?;
                let session = node
                    .open_guarded_session(spec, &self.guard, Self::grant(run))
                    .map_err(text)?;
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let share = roles::dkg::run_dkg(session, config, &me.identity(), &mut rng)
                        .await
                        .map_err(text)?;
                    let public = share.public_key_package().clone();
                    me.hold(share);
                    Ok(Outcome::Public(Box::new(public)))
                })
            }
            Act::BindPropose {
                on,
                guardian,
                nonce,
                delay,
                signers,
            } => {
                let params = guardian_binding::Params { t: 2, n: 0 };
                let session = self.open(
                    &node,
                    &guardian_binding::PROTOCOL,
                    guardian_binding::roster(&params),
                    &on,
                )?;
                let share = self.share.borrow().clone().ok_or("A1 holds no share")?;
                let mut proposal = BindingProposal {
                    account: super::run::key_bytes(&share.group_key())?,
                    guardian: self.key_of(guardian)?,
                    recovery_delay_secs: delay,
                    notify_guardian: true,
                    nonce,
                };
                proposal.recovery_delay_secs = delay;
                Box::pin(async move {
                    let bound = binding::propose(
                        session,
                        params,
                        AccountSide {
                            public: share.public_key_package(),
                            epoch: share.epoch(),
                            signers: ids_of(&signers),
                            journal: &me.journal,
                            device: &me.key,
                        },
                        proposal,
                    )
                    .await
                    .map_err(text)?
                    .ok_or("the guardian was not bound")?;
                    Ok(Outcome::Bound(postcard::to_allocvec(&bound).map_err(text)?))
                })
            }
            Act::BindAccept { on } => {
                let params = guardian_binding::Params { t: 2, n: 0 };
                let session = self.open(
                    &node,
                    &guardian_binding::PROTOCOL,
                    guardian_binding::roster(&params),
                    &on,
                )?;
                Box::pin(async move {
                    let bound = binding::guard(session, params, &me.key, &me.journal, |_| Ok(()))
                        .await
                        .map_err(text)?
                        .ok_or("the binding did not commit")?;
                    Ok(Outcome::Bound(postcard::to_allocvec(&bound).map_err(text)?))
                })
            }
            Act::BindSign { on, rng } => {
                let params = guardian_binding::Params { t: 2, n: 0 };
                let session = self.open(
                    &node,
                    &guardian_binding::PROTOCOL,
                    guardian_binding::roster(&params),
                    &on,
                )?;
                let authority = self
                    .share
                    .borrow()
                    .as_ref()
                    .map(AuthorityKeyShare::group_key)
                    .ok_or("this device holds no share")?;
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let mut core = me.take_core()?;
                    let r = binding::sign(
                        session,
                        params,
                        WitnessSide {
                            authority,
                            journal: &me.journal,
                            device: &me.key,
                        },
                        &mut core,
                        &mut rng,
                    )
                    .await;
                    *me.core.borrow_mut() = Some(core);
                    r.map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::SyncSend { on } => {
                let session = self.open(
                    &node,
                    &journal_sync::PROTOCOL,
                    journal_sync::roster(&journal_sync::Params {}),
                    &on,
                )?;
                Box::pin(async move {
                    let report =
                        journal_sync::initiate(session, &me.journal, SyncConfig::default())
                            .await
                            .map_err(text)?;
                    Ok(Outcome::Count(report.sent as u64))
                })
            }
            Act::SyncTake { on } => {
                let session = self.open(
                    &node,
                    &journal_sync::PROTOCOL,
                    journal_sync::roster(&journal_sync::Params {}),
                    &on,
                )?;
                Box::pin(async move {
                    journal_sync::respond(session, &me.journal)
                        .await
                        .map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::RootGive { on, rng } => {
                let params = channel_root::Params { t: 2 };
                let session = self.open(
                    &node,
                    &channel_root::PROTOCOL,
                    channel_root::roster(&params),
                    &on,
                )?;
                let share = self
                    .share
                    .borrow()
                    .clone()
                    .ok_or("this holder has no share")?;
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    channel::give_root_partial(session, params, &share, &mut rng)
                        .await
                        .map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::RootAsk {
                on,
                public,
                peer,
                holders,
            } => {
                let params = channel_root::Params { t: 2 };
                let session = self.open(
                    &node,
                    &channel_root::PROTOCOL,
                    channel_root::roster(&params),
                    &on,
                )?;
                Box::pin(async move {
                    let root =
                        channel::ask_root(session, params, &public, &peer, &ids_of(&holders))
                            .await
                            .map_err(text)?;
                    let fingerprint = root.fingerprint();
                    *me.root.borrow_mut() = Some(Rc::new(root));
                    Ok(Outcome::Root(fingerprint))
                })
            }
            Act::Send {
                on,
                spec,
                texts,
                rng,
            } => {
                let session = self.open(
                    &node,
                    &channel_stream::PROTOCOL,
                    channel_stream::roster(&channel_stream::Params {}),
                    &on,
                )?;
                let root = self.root()?;
                // B's device `d` (0-based) is device `d + 1` on the channel.
                let device = self
                    .index
                    .checked_sub(B_DEVICES[0])
                    .map_or(0, |d| d as u64 + 1);
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let mut sender = me
                        .sender
                        .borrow_mut()
                        .take()
                        .unwrap_or_else(|| ChannelSender::new(DeviceId(device)));
                    let r = channel::send_messages(
                        session,
                        &mut sender,
                        &spec,
                        &me.journal,
                        &root,
                        &texts,
                        &mut rng,
                    )
                    .await;
                    *me.sender.borrow_mut() = Some(sender);
                    r.map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::Receive { on, spec } => {
                let session = self.open(
                    &node,
                    &channel_stream::PROTOCOL,
                    channel_stream::roster(&channel_stream::Params {}),
                    &on,
                )?;
                let root = self.root()?;
                Box::pin(async move {
                    let mut receiver = std::mem::take(&mut *me.receiver.borrow_mut());
                    let r = channel::receive_messages(
                        session,
                        &mut receiver,
                        &spec,
                        &me.journal,
                        &me.key,
                        &root,
                    )
                    .await;
                    *me.receiver.borrow_mut() = receiver;
                    Ok(Outcome::Count(r.map_err(text)?.opened.len() as u64))
                })
            }
            Act::BumpPropose {
                on,
                spec,
                proposal,
                signers,
            } => {
                let params = epoch_bump::Params { t: 2, n: 3, m: 3 };
                let session = self.open(
                    &node,
                    &epoch_bump::PROTOCOL,
                    epoch_bump::roster(&params),
                    &on,
                )?;
                let share = self.share.borrow().clone().ok_or("A1 holds no share")?;
                Box::pin(async move {
                    let outcome = epoch::propose(
                        session,
                        params,
                        ProposerSide {
                            public: share.public_key_package(),
                            epoch: share.epoch(),
                            signers: ids_of(&signers),
                            spec,
                            journal: &me.journal,
                            device: &me.key,
                        },
                        proposal,
                    )
                    .await
                    .map_err(text)?;
                    match outcome {
                        BumpOutcome::Committed(_) => Ok(Outcome::Done),
                        BumpOutcome::Refused(r) => Err(format!("bump refused: {r:?}")),
                    }
                })
            }
            Act::BumpSign { on, spec, rng } => {
                let params = epoch_bump::Params { t: 2, n: 3, m: 3 };
                let session = self.open(
                    &node,
                    &epoch_bump::PROTOCOL,
                    epoch_bump::roster(&params),
                    &on,
                )?;
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let core = Mutex::new(me.take_core()?);
                    let r = epoch::sign(
                        session,
                        params,
                        PeerSide {
                            spec,
                            journal: &me.journal,
                            device: &me.key,
                        },
                        &core,
                        &mut rng,
                    )
                    .await;
                    *me.core.borrow_mut() = core.into_inner().ok();
                    r.map_err(text)??;
                    Ok(Outcome::Done)
                })
            }
            Act::BumpWatch { on, spec } | Act::BumpLearn { on, spec } => {
                let params = epoch_bump::Params { t: 2, n: 3, m: 3 };
                let session = self.open(
                    &node,
                    &epoch_bump::PROTOCOL,
                    epoch_bump::roster(&params),
                    &on,
                )?;
                let guardian = GUARDIANS.contains(&self.index);
                Box::pin(async move {
                    let side = PeerSide {
                        spec,
                        journal: &me.journal,
                        device: &me.key,
                    };
                    if guardian {
                        epoch::watch(session, params, side).await.map_err(text)?;
                    } else {
                        epoch::learn(session, params, side).await.map_err(text)?;
                    }
                    Ok(Outcome::Done)
                })
            }
            Act::HandoffAccount {
                on,
                guardian,
                successor,
            } => {
                let params = guardian_handoff::Params::default();
                let session = self.open_plain(
                    &node,
                    &guardian_handoff::PROTOCOL,
                    guardian_handoff::roster(&params),
                    &on,
                )?;
                let account = self
                    .share
                    .borrow()
                    .as_ref()
                    .map(AuthorityKeyShare::group_key)
                    .ok_or("this device holds no share of the account")?;
                let (guardian, successor) = (self.key_of(guardian)?, self.key_of(successor)?);
                Box::pin(async move {
                    handoff::account(
                        session,
                        params,
                        &account,
                        guardian,
                        successor,
                        &me.journal,
                        &me.key,
                    )
                    .await
                    .map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::HandoffGuardian { on, successor } => {
                let params = guardian_handoff::Params::default();
                let session = self.open_plain(
                    &node,
                    &guardian_handoff::PROTOCOL,
                    guardian_handoff::roster(&params),
                    &on,
                )?;
                let successor = self.key_of(successor)?;
                Box::pin(async move {
                    handoff::guardian(session, params, &me.key, successor)
                        .await
                        .map_err(text)?;
                    // The part moved: this phone keeps nothing of it.
                    me.core.borrow_mut().take();
                    me.share.borrow_mut().take();
                    Ok(Outcome::Done)
                })
            }
            Act::HandoffSuccessor { on } => {
                let params = guardian_handoff::Params::default();
                let session = self.open_plain(
                    &node,
                    &guardian_handoff::PROTOCOL,
                    guardian_handoff::roster(&params),
                    &on,
                )?;
                Box::pin(async move {
                    handoff::successor(session, params, &me.key, &me.journal)
                        .await
                        .map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::OpenDesk {
                account,
                devices,
                guardians,
                approvals,
            } => {
                let devices = devices
                    .iter()
                    .map(|&d| self.key_of(d))
                    .collect::<Result<BTreeSet<_>, _>>()?;
                let guardians = guardians
                    .iter()
                    .map(|&(g, p)| Ok((self.key_of(g)?, ParticipantId(p))))
                    .collect::<Result<BTreeMap<_, _>, String>>()?;
                *self.desk.borrow_mut() = Some(Rc::new(GuardianDesk::new(
                    self.key.clone(),
                    account,
                    devices,
                    guardians,
                    approvals,
                )));
                *self.clock.borrow_mut() = Some(Rc::new(match self.clock_kind {
                    ClockKind::Virtual => RecoveryClock::Virtual(ManualClock::default()),
                    ClockKind::Scaled { delay_secs, real } => {
                        RecoveryClock::scaled(delay_secs, real)
                    }
                }));
                Box::pin(async { Ok(Outcome::Done) })
            }
            Act::Request {
                on,
                request,
                approvals,
            } => {
                let params = recovery::Params {
                    g: guardians_in(&on)?,
                };
                let session =
                    self.open(&node, &recovery::PROTOCOL, recovery::roster(&params), &on)?;
                let keys = on
                    .nodes
                    .iter()
                    .skip(1)
                    .map(|&g| self.key_of(g))
                    .collect::<Result<Vec<_>, _>>()?;
                Box::pin(async move {
                    match rec::request(session, params, request, &keys, approvals)
                        .await
                        .map_err(text)?
                    {
                        RequestOutcome::Verdicts { prestate, .. } => {
                            Ok(Outcome::Prestate(prestate))
                        }
                        RequestOutcome::Declined(d) => {
                            Err(format!("the guardians declined: {d:?}"))
                        }
                    }
                })
            }
            Act::Answer { on, approve } => {
                let params = recovery::Params {
                    g: guardians_in(&on)?,
                };
                let session =
                    self.open(&node, &recovery::PROTOCOL, recovery::roster(&params), &on)?;
                let (desk, clock) = self.desk()?;
                Box::pin(async move {
                    let verdict =
                        rec::answer(session, params, &desk, &me.journal, &*clock, approve)
                            .await
                            .map_err(text)?;
                    Ok(Outcome::Flag(matches!(
                        verdict,
                        WindowVerdict::Ready { .. }
                    )))
                })
            }
            Act::Grant {
                on,
                request,
                prestate,
                public,
                guardians,
                named,
                epoch,
            } => {
                let params = recovery_grant::Params {
                    g: guardians_in(&on)?,
                };
                let session = self.open(
                    &node,
                    &recovery_grant::PROTOCOL,
                    recovery_grant::roster(&params),
                    &on,
                )?;
                Box::pin(async move {
                    let named: BTreeSet<ParticipantId> =
                        named.iter().map(|p| ParticipantId(*p)).collect();
                    let outcome = rec::grant(
                        session,
                        params,
                        request,
                        prestate,
                        &public,
                        &ids_of(&guardians),
                        &named,
                        epoch,
                        &me.journal,
                    )
                    .await
                    .map_err(text)?;
                    match outcome {
                        GrantOutcome::Granted { facts, .. } => Ok(Outcome::Count(facts as u64)),
                        GrantOutcome::Refused(r) => Err(format!("grant refused: {r:?}")),
                    }
                })
            }
            Act::ServeGrant {
                on,
                participant,
                rng,
            } => {
                let params = recovery_grant::Params {
                    g: guardians_in(&on)?,
                };
                let session = self.open(
                    &node,
                    &recovery_grant::PROTOCOL,
                    recovery_grant::roster(&params),
                    &on,
                )?;
                let (desk, clock) = self.desk()?;
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let mut core = me.take_core()?;
                    let r = rec::serve_grant(
                        session,
                        params,
                        &desk,
                        &me.journal,
                        &mut core,
                        ParticipantId(participant),
                        &*clock,
                        &mut rng,
                    )
                    .await;
                    *me.core.borrow_mut() = Some(core);
                    r.map_err(text)?;
                    Ok(Outcome::Done)
                })
            }
            Act::Reshare(reshare) => self.start_reshare(node, *reshare)?,
            Act::SignTogether {
                id,
                members,
                initiator,
                threshold,
                prestate,
                operation,
                rng,
            } => {
                let share = self
                    .share
                    .borrow()
                    .clone()
                    .ok_or("this node holds no share")?;
                let config = ConsensusConfig::new(
                    id,
                    self.roster_of(&members)?,
                    threshold,
                    ParticipantId(initiator),
                );
                Box::pin(async move {
                    let mut rng = ChaCha20Rng::seed_from_u64(rng);
                    let propose = share.participant() == ParticipantId(initiator);
                    let group = share.group_key();
                    let state = Mutex::new(WitnessState::new(Witness::new(
                        share,
                        MemorySigningRecord::default(),
                    )));
                    let done = run_consensus(
                        &node,
                        &me.guard,
                        &config,
                        &state,
                        prestate,
                        propose.then_some(operation),
                        &mut rng,
                    )
                    .await
                    .map_err(text)?;
                    if *done.certificate.group_key() != group {
                        return Err("the signature verified under another key".into());
                    }
                    Ok(Outcome::Done)
                })
            }
        })
    }

    fn start_reshare(self: &Rc<Self>, node: SharedNode, act: ReshareAct) -> Result<Work, String> {
        use aura_protocols::roles::reshare::{run_reshare, session_spec};
        let me = self.clone();
        let roster = self.roster_of(&act.members)?;
        let config = ReshareConfig {
            session: act.session,
            old_epoch: act.old_epoch,
            dealers: act.dealers.iter().map(|p| ParticipantId(*p)).collect(),
            new_committee: act.members.iter().map(|(_, p)| ParticipantId(*p)).collect(),
            new_threshold: act.threshold,
            roster: roster.clone(),
        };
        let p = act
            .members
            .iter()
            .find(|(n, _)| *n == self.index)
            .map(|(_, p)| ParticipantId(*p))
            .ok_or("not a member of the reshare")?;
        // The old holders that are left certify the new epoch.
        let old_share = self
            .share
            .borrow()
            .clone()
            .filter(|s| s.epoch() == act.old_epoch);
        let witnesses = self.roster_of(&act.witnesses)?;
        let consensus =
            ConsensusConfig::new(act.consensus, witnesses, 2, ParticipantId(act.initiator));
        let mut id = [0u8; 16];
        id.copy_from_slice(&act.session[..16]);
        let spec = session_spec(SessionId(id), &config, p).map_err(text)?;
        let session = node
            .open_guarded_session(spec, &self.guard, Self::grant(act.session))
            .map_err(text)?;
        Ok(Box::pin(async move {
            let mut rng = ChaCha20Rng::seed_from_u64(act.rng);
            let dealt = run_reshare(
                session,
                &config,
                &me.identity(),
                &act.old_public,
                old_share
                    .as_ref()
                    .filter(|s| config.dealers.contains(&s.participant())),
                &mut rng,
            )
            .await
            .map_err(text)?;
            let certificate = match old_share {
                Some(share) => {
                    let state = Mutex::new(WitnessState::new(Witness::new(
                        share,
                        MemorySigningRecord::default(),
                    )));
                    let op = if p == consensus.initiator {
                        dealt.operation().map_err(text)?
                    } else {
                        None
                    };
                    let done = run_consensus(
                        &node,
                        &me.guard,
                        &consensus,
                        &state,
                        act.prestate,
                        op,
                        &mut rng,
                    )
                    .await
                    .map_err(text)?;
                    Some(done.certificate)
                }
                None => None,
            };
            let (share, certificate) = dealt
                .finish(certificate.as_ref())
                .await
                .map_err(text)?
                .ok_or("the reshare gave this member no share")?;
            let outcome = Outcome::Share {
                epoch: share.epoch(),
                participant: share.participant().0,
                public: Box::new(share.public_key_package().clone()),
            };
            me.commit_epoch(share, &certificate)?;
            Ok(outcome)
        }))
    }

    /// Answer a [`Query`] from this node's own state.
    pub fn query(&self, query: &Query) -> Result<Answer, String> {
        Ok(match query {
            Query::BumpDue { spec, device } => Answer::Proposal(
                epoch::proposal(
                    &self.journal,
                    spec,
                    DeviceId(*device),
                    aura_protocols::amp::BumpReason::Routine,
                )
                .ok(),
            ),
            Query::WindowOpen { request } => Answer::Flag(
                self.desk
                    .borrow()
                    .as_ref()
                    .is_some_and(|d| d.has_window(request)),
            ),
            Query::RefusesGrant { request } => {
                let (desk, clock) = self.desk()?;
                use aura_protocols::lifecycle::Clock;
                Answer::Flag(
                    desk.may_sign(request, clock.now_secs())
                        .map(|v| v.is_err())
                        .unwrap_or(false),
                )
            }
            Query::AdvanceClock { secs } => {
                if let Some(clock) = self.clock.borrow().as_ref() {
                    clock.advance_to(*secs);
                }
                Answer::Flag(true)
            }
            Query::Frames => Answer::Count(0),
            Query::Guardians { account } => Answer::Count(
                binding::guardians(&self.journal, account)
                    .map_err(text)?
                    .len() as u64,
            ),
            Query::History { spec } => {
                let root = self.root()?;
                let history = channel::read_history(&self.journal, spec, &root).map_err(text)?;
                let epochs: BTreeSet<u64> = history.iter().map(|(h, _)| h.epoch.0).collect();
                Answer::History {
                    read: history.len() as u64,
                    epochs: epochs.into_iter().collect(),
                    digest: texts_digest(history.iter().map(|(_, m)| m)),
                }
            }
            Query::ReplayRefused { spec } => {
                let root = self.root()?;
                Answer::Flag(replay_refused(&self.journal, spec, &root)?)
            }
            Query::RetiredEpochRefused { epoch } => {
                use aura_protocols::signing::{CommitStatement, SigningRequest};
                use aura_protocols::witness::{ConsensusRequest, Refusal};
                let statement = CommitStatement {
                    consensus_id: Sha256::digest(b"aura demo: an old-epoch request").into(),
                    prestate: [0; 32],
                    operation: [0; 32],
                };
                let request = ConsensusRequest {
                    signing: SigningRequest {
                        epoch: *epoch,
                        message: statement.message(),
                        signers: BTreeMap::new(),
                    },
                    statement,
                };
                let mut core = self.core.borrow_mut();
                let witness = core.as_mut().ok_or("this node holds no share")?;
                let mut rng = ChaCha20Rng::seed_from_u64(0);
                Answer::Flag(matches!(
                    witness.sign(&request, &[0; 32], &mut rng),
                    Err(aura_protocols::Error::Refused(Refusal::RetiredEpoch))
                ))
            }
            Query::HeldEpochs => {
                let mut epochs: Vec<u64> =
                    self.share.borrow().iter().map(|s| s.epoch().0).collect();
                if let Some(core) = self.core.borrow().as_ref() {
                    epochs.push(core.share().epoch().0);
                }
                epochs.sort_unstable();
                epochs.dedup();
                Answer::Epochs(epochs)
            }
        })
    }
}

/// Replay the first message recorded in `journal` to a receiver rebuilt
/// from the journal: refused (it was accepted before)?
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
    let mut receiver = channel::recovered_receiver(journal, spec, root).map_err(text)?;
    let state = channel::state(journal, spec).map_err(text)?;
    Ok(receiver.open_bytes(&state, root, &bytes).is_err())
}
