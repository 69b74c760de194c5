//! Consensus as running roles: the fast path and the leaderless fallback
//! of `choreo/consensus.choreo` and `choreo/consensus_fallback.choreo`, on
//! their generated endpoints, driving [`crate::witness`] and
//! [`crate::signing`].
//!
//! Every witness runs [`run_consensus`] with its own prestate (the hash of
//! its reduced state); the initiator also passes the operation. Sessions:
//!
//! * the fast path: one session, `Witness[0]` = the initiator, the others
//!   in ascending participant order ([`ConsensusConfig::fast_spec`]);
//! * fallback attempt `k`: a fresh session among all witnesses whose
//!   `Witness[0]` — the attempt's aggregator — is the `k`-th witness after
//!   the initiator in participant order ([`ConsensusConfig::fallback_spec`]).
//!
//! A witness that already holds a certificate answers later fallback
//! attempts of laggards with it ([`serve_fallback`]; a host calls it when
//! its node reports a session request for [`ConsensusConfig::attempt_of`]).
//!
//! Safety does not depend on the network or the aggregator: a witness
//! signs only a statement whose prestate is its own and never a second
//! operation for one (consensus id, prestate) (its durable
//! [`SigningRecord`]); a certificate exists only with a verified threshold
//! signature; shares are bucketed by (statement, package). Two shares of
//! one witness for different operations of one slot become an
//! [`EquivocationProof`]: aggregators send the proofs they hold with every
//! outcome, and every witness excludes the equivocator from then on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use choreo_runtime::guard::{CapabilitySet, ContextId, Grant, Guard, GuardedTransport};
use choreo_runtime::node::{SessionSpec, SharedNode};
use choreo_runtime::typestate::Timed;
use choreo_runtime::SessionId;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::{to_host, RoleError};
use crate::error::ParticipantId;
use crate::generated::consensus as fast;
use crate::generated::consensus_fallback as fallback;
use crate::roster::{NodeId, Roster};
use crate::signing::{CommitCertificate, CommitStatement, Precommitment, SigningRequest};
use crate::wire::AbortReason;
use crate::witness::{
    choose_package, Collected, ConsensusRequest, EquivocationProof, FallbackOutcome,
    FallbackProposal, Refusal, ShareCollector, SigningRecord, Witness, WitnessShare, WitnessVote,
};

/// What every witness of one consensus instance agrees on beforehand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusConfig {
    /// The instance (unique per operation slot).
    pub consensus_id: [u8; 32],
    /// Every witness, bound to its node.
    pub committee: Roster,
    /// Shares needed for a commit.
    pub threshold: u16,
    /// Who proposes the operation (`Witness[0]` of the fast path).
    pub initiator: ParticipantId,
    /// Fallback attempts before a witness gives up (default: 4 rounds of
    /// the committee).
    pub max_attempts: u32,
}

/// How a commit came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The initiator's round trip.
    Fast,
    /// Fallback attempt `k`.
    Fallback(u32),
}

/// A witness's result: the verified certificate, and the equivocation
/// proofs it learned on the way.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The commit (signature verified under the group key).
    pub certificate: CommitCertificate,
    /// Which path produced it here.
    pub path: Path,
    /// Proofs this witness holds (each names an excluded equivocator).
    pub proofs: Vec<EquivocationProof>,
    /// The signers whose shares made the certificate, if this witness
    /// aggregated it (`None` if it received the certificate).
    pub signers: Option<BTreeSet<ParticipantId>>,
    /// The equivocators this witness held proofs against when it
    /// aggregated (empty if it received the certificate): none of them is
    /// among `signers`.
    pub excluded_when_aggregated: BTreeSet<ParticipantId>,
    /// Protocol messages this witness sent in this instance (a send to
    /// every other witness counts once per recipient).
    pub sent: u32,
}

/// A witness's misbehaviour, injected by simulations to check that the
/// others catch it. Real nodes are [`Behaviour::Honest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Follows the protocol.
    #[default]
    Honest,
    /// Answers the fast path with a share over a conflicting operation for
    /// the same prestate (with a signing record it then forgets), and
    /// later signs the real one: two results for one prestate.
    Equivocate,
}

/// One witness node's long-lived consensus state: its share, nonces and
/// durable signing record, the next nonces its peers published, and the
/// equivocators it knows of.
#[derive(Debug)]
pub struct WitnessState<R: SigningRecord> {
    witness: Witness<R>,
    peer_nonces: BTreeMap<ParticipantId, Precommitment>,
    proofs: BTreeMap<ParticipantId, EquivocationProof>,
    behaviour: Behaviour,
}

impl<R: SigningRecord> WitnessState<R> {
    /// A witness signing with `witness` (share + nonces + record).
    pub fn new(witness: Witness<R>) -> Self {
        WitnessState {
            witness,
            peer_nonces: BTreeMap::new(),
            proofs: BTreeMap::new(),
            behaviour: Behaviour::Honest,
        }
    }

    /// Inject a misbehaviour (simulations only).
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// The witness.
    pub fn witness(&self) -> &Witness<R> {
        &self.witness
    }

    /// Equivocators this witness holds proofs against.
    pub fn excluded(&self) -> BTreeSet<ParticipantId> {
        self.proofs.keys().copied().collect()
    }

    /// The proofs it holds.
    pub fn proofs(&self) -> impl Iterator<Item = &EquivocationProof> {
        self.proofs.values()
    }

    /// The witness, to sign outside consensus (tests, checks).
    pub fn witness_mut(&mut self) -> &mut Witness<R> {
        &mut self.witness
    }

    /// A reshare committed: switch to the new share (the old one is
    /// deleted and old-epoch requests are refused from now on) and forget
    /// the peers' old-epoch nonces.
    pub fn commit_epoch(
        &mut self,
        new: crate::AuthorityKeyShare,
        commit: &CommitCertificate,
    ) -> Result<(), RoleError> {
        self.witness.commit_epoch(new, commit)?;
        self.peer_nonces.clear();
        Ok(())
    }

    /// Remember `witness`'s published next nonce (e.g. from an earlier
    /// run's vote, or one it published ahead of time).
    pub fn learn_nonce(&mut self, witness: ParticipantId, nonce: Precommitment) {
        self.peer_nonces.insert(witness, nonce);
    }

    /// Publish `count` fresh nonce commitments of this witness.
    pub fn precommit<G: RngCore + CryptoRng>(
        &mut self,
        count: usize,
        rng: &mut G,
    ) -> Result<Vec<Precommitment>, RoleError> {
        Ok(self.witness.precommit(count, rng)?)
    }

    /// Pre-committed nonces of peers this witness holds (the initiator
    /// names signers from them without a `Prepare` round).
    pub fn peer_nonces(&self) -> usize {
        self.peer_nonces.len()
    }
}

fn lock<'a, R: SigningRecord>(
    state: &'a Mutex<WitnessState<R>>,
) -> Result<MutexGuard<'a, WitnessState<R>>, RoleError> {
    state
        .lock()
        .map_err(|_| RoleError::Usage("the witness state lock is poisoned".into()))
}

fn session_id(label: &[u8], consensus_id: &[u8; 32], attempt: u32) -> SessionId {
    let mut h = Sha256::new();
    h.update(label);
    h.update(consensus_id);
    h.update(attempt.to_be_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    SessionId(id)
}

impl ConsensusConfig {
    /// A config with the default attempt budget.
    pub fn new(
        consensus_id: [u8; 32],
        committee: Roster,
        threshold: u16,
        initiator: ParticipantId,
    ) -> Self {
        let n = u32::try_from(committee.participants().count()).unwrap_or(u32::MAX);
        ConsensusConfig {
            consensus_id,
            committee,
            threshold,
            initiator,
            max_attempts: n.saturating_mul(4).max(4),
        }
    }

    fn sizes(&self) -> Result<(u32, u32), RoleError> {
        let n = u32::try_from(self.committee.participants().count())
            .map_err(|_| RoleError::Usage("committee too large".into()))?;
        let t = u32::from(self.threshold);
        if t < 2 || t > n || !self.committee.contains(self.initiator) {
            return Err(RoleError::Usage(format!(
                "threshold {t} of {n} witnesses with initiator {} is not a valid consensus",
                self.initiator
            )));
        }
        Ok((n, t))
    }

    /// Witnesses in participant order, rotated so `first` leads.
    fn rotated(&self, shift: usize) -> Vec<(ParticipantId, NodeId)> {
        let mut order = super::ordered(&self.committee);
        if !order.is_empty() {
            let start = order
                .iter()
                .position(|(p, _)| *p == self.initiator)
                .unwrap_or(0);
            let len = order.len();
            order.rotate_left((start + shift) % len);
        }
        order
    }

    /// The fast path's order: the initiator, then the others ascending.
    pub fn fast_order(&self) -> Vec<(ParticipantId, NodeId)> {
        let mut order = super::ordered(&self.committee);
        if let Some(i) = order.iter().position(|(p, _)| *p == self.initiator) {
            let first = order.remove(i);
            order.insert(0, first);
        }
        order
    }

    /// Attempt `attempt`'s order: its aggregator first (the `attempt`-th
    /// witness after the initiator, in participant order), then the rest
    /// of the rotation.
    pub fn fallback_order(&self, attempt: u32) -> Vec<(ParticipantId, NodeId)> {
        self.rotated(usize::try_from(attempt).unwrap_or(0))
    }

    /// The fast path's session id.
    pub fn fast_session(&self) -> SessionId {
        session_id(b"aura/consensus/fast/v1", &self.consensus_id, 0)
    }

    /// Fallback attempt `attempt`'s session id.
    pub fn fallback_session(&self, attempt: u32) -> SessionId {
        session_id(b"aura/consensus/fallback/v1", &self.consensus_id, attempt)
    }

    /// The fallback attempt a session id belongs to, if any (for hosts
    /// that answer session requests).
    pub fn attempt_of(&self, session: SessionId) -> Option<u32> {
        (0..self.max_attempts).find(|k| self.fallback_session(*k) == session)
    }

    fn spec(
        &self,
        id: SessionId,
        order: &[(ParticipantId, NodeId)],
        me: ParticipantId,
        protocol: &'static choreo_runtime::ProtocolInfo,
        roster: choreo_runtime::Roster,
    ) -> Result<SessionSpec, RoleError> {
        let index = order
            .iter()
            .position(|(p, _)| *p == me)
            .ok_or_else(|| RoleError::Usage(format!("{me} is not a witness")))?;
        let me = roster
            .instances()
            .get(index)
            .copied()
            .ok_or_else(|| RoleError::Usage("roster shorter than the committee".into()))?;
        Ok(SessionSpec {
            id,
            protocol,
            me,
            roster,
            peers: order.iter().map(|(_, n)| to_host(*n)).collect(),
            patience: None,
        })
    }

    /// The fast path session of witness `me`.
    pub fn fast_spec(&self, me: ParticipantId) -> Result<SessionSpec, RoleError> {
        let (n, t) = self.sizes()?;
        let roster = fast::roster(&fast::Params { n, t })?;
        self.spec(
            self.fast_session(),
            &self.fast_order(),
            me,
            &fast::PROTOCOL,
            roster,
        )
    }

    /// Fallback attempt `attempt`'s session of witness `me`.
    pub fn fallback_spec(&self, attempt: u32, me: ParticipantId) -> Result<SessionSpec, RoleError> {
        let (n, t) = self.sizes()?;
        let roster = fallback::roster(&fallback::Params { n, t })?;
        self.spec(
            self.fallback_session(attempt),
            &self.fallback_order(attempt),
            me,
            &fallback::PROTOCOL,
            roster,
        )
    }
}

/// What one witness knows about one consensus instance while it runs.
struct Instance {
    consensus_id: [u8; 32],
    me: ParticipantId,
    /// In the fast path (where an injected equivocator lies).
    fast: bool,
    own_prestate: [u8; 32],
    statement: Option<CommitStatement>,
    collector: ShareCollector,
    commit: Option<CommitCertificate>,
    signers: Option<BTreeSet<ParticipantId>>,
    excluded_when_aggregated: BTreeSet<ParticipantId>,
    committee: usize,
    sent: u32,
    /// Set when the operation reached this witness at all.
    learned: bool,
    /// A statement for another prestate (or a conflicting request) this
    /// witness refused: proposed in the fallback, it tells the aggregator
    /// that this witness cannot sign, so it is not counted as a supporter.
    foreign: Option<CommitStatement>,
}

impl Instance {
    fn new<R: SigningRecord>(
        state: &WitnessState<R>,
        config: &ConsensusConfig,
        own_prestate: [u8; 32],
    ) -> Result<Self, RoleError> {
        let share = state.witness.share();
        let mut collector = ShareCollector::new(share.public_key_package().clone(), share.epoch());
        for proof in state.proofs.values() {
            collector.exclude(proof)?;
        }
        Ok(Instance {
            consensus_id: config.consensus_id,
            fast: true,
            me: share.participant(),
            own_prestate,
            statement: None,
            collector,
            commit: None,
            signers: None,
            excluded_when_aggregated: BTreeSet::new(),
            committee: config.committee.participants().count(),
            sent: 0,
            learned: false,
            foreign: None,
        })
    }

    /// Does `statement` belong to this instance and this witness's state?
    fn acceptable(&self, config: &ConsensusConfig, statement: &CommitStatement) -> bool {
        statement.consensus_id == config.consensus_id && statement.prestate == self.own_prestate
    }

    /// Count a share `from` (an authenticated participant, or the signer an
    /// evidence entry names — checked by share verification either way).
    fn add_share<R: SigningRecord>(
        &mut self,
        state: &mut WitnessState<R>,
        from: ParticipantId,
        share: WitnessShare,
    ) -> Result<(), RoleError> {
        if share.request.statement.consensus_id != self.consensus_id {
            return Ok(());
        }
        let signers: BTreeSet<ParticipantId> =
            share.request.signing.signers.keys().copied().collect();
        match self.collector.add(from, share) {
            Ok(Collected::Committed(c)) => {
                if self.commit.is_none() {
                    self.commit = Some(*c);
                    self.signers = Some(signers);
                    self.excluded_when_aggregated = self.collector.excluded().clone();
                }
            }
            Ok(Collected::Equivocation(proof)) => {
                tracing::warn!(witness = %proof.witness, "equivocation: two results signed for one prestate");
                state.proofs.insert(proof.witness, *proof);
            }
            Ok(Collected::Pending | Collected::Excluded) => {}
            // A bad share is that witness's fault; it does not stop the run.
            Err(e) => tracing::warn!(%from, error = %e, "share refused"),
        }
        Ok(())
    }

    /// Accept proofs another witness sent: each is verified before it
    /// excludes anyone.
    fn take_proofs<R: SigningRecord>(
        &mut self,
        state: &mut WitnessState<R>,
        proofs: Vec<EquivocationProof>,
    ) {
        for proof in proofs.into_iter().take(self.committee) {
            if self.collector.exclude(&proof).is_ok() {
                state.proofs.insert(proof.witness, proof);
            }
        }
    }

    /// Accept a certificate if it verifies and certifies this instance's
    /// slot.
    fn take_certificate(
        &mut self,
        config: &ConsensusConfig,
        group_key: &frost_ed25519::VerifyingKey,
        uc: &crate::signing::UnverifiedCertificate,
    ) -> bool {
        match uc.verify(group_key) {
            Ok(c)
                if c.statement().consensus_id == config.consensus_id
                    && c.statement().prestate == self.own_prestate =>
            {
                if self.commit.is_none() {
                    self.commit = Some(c);
                }
                true
            }
            _ => false,
        }
    }

    /// Count messages sent: one per recipient.
    fn count(&mut self, to_all: bool) {
        let k = if to_all {
            self.committee.saturating_sub(1)
        } else {
            1
        };
        self.sent = self
            .sent
            .saturating_add(u32::try_from(k).unwrap_or(u32::MAX));
    }

    /// Shares to forward in a proposal: the first share of every other
    /// witness (so an equivocator is caught wherever its second share
    /// lands) and the shares of the packages held, fullest first, this
    /// witness's own included (so a package whose votes came too late in
    /// one attempt completes in the next).
    fn evidence(&self) -> Vec<(ParticipantId, WitnessShare)> {
        let mut out: Vec<(ParticipantId, WitnessShare)> = self
            .collector
            .held()
            .filter(|(p, _)| *p != self.me)
            .map(|(p, s)| (p, s.clone()))
            .take(self.committee)
            .collect();
        for (p, share) in self.collector.package_shares(self.evidence_limit()) {
            if out.len() >= self.evidence_limit() {
                break;
            }
            if !out.iter().any(|(q, s)| *q == p && s.share == share.share) {
                out.push((p, share));
            }
        }
        out
    }

    /// The most evidence entries a proposal carries (and a receiver reads).
    fn evidence_limit(&self) -> usize {
        self.committee.saturating_mul(3)
    }

    fn done(&self, state: &WitnessState<impl SigningRecord>, path: Path) -> Option<Committed> {
        let (signers, sent) = (self.signers.clone(), self.sent);
        let excluded_when_aggregated = self.excluded_when_aggregated.clone();
        self.commit.clone().map(|certificate| Committed {
            certificate,
            path,
            proofs: state.proofs.values().cloned().collect(),
            signers,
            excluded_when_aggregated,
            sent,
        })
    }
}

/// Sign `request` as this witness, or explain why not. The equivocating
/// behaviour signs a conflicting operation instead (simulations).
fn vote<R: SigningRecord, G: RngCore + CryptoRng>(
    state: &mut WitnessState<R>,
    instance: &mut Instance,
    request: &ConsensusRequest,
    rng: &mut G,
) -> Result<WitnessVote, RoleError> {
    let me = instance.me;
    if !request.signing.signers.contains_key(&me) {
        let next_nonce = state
            .witness
            .precommit(1, rng)?
            .pop()
            .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?;
        return Ok(WitnessVote::NotNamed { next_nonce });
    }
    if state.behaviour == Behaviour::Equivocate && instance.fast {
        return equivocate(state, request, rng);
    }
    match state.witness.sign(request, &instance.own_prestate, rng) {
        Ok(share) => {
            instance.add_share(state, me, share.clone())?;
            Ok(WitnessVote::Share(share))
        }
        Err(crate::Error::Refused(r)) => Ok(WitnessVote::Refused {
            reason: r.to_string(),
        }),
        Err(crate::Error::Usage(u)) => Ok(WitnessVote::Refused {
            reason: u.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The injected misbehaviour: a valid share over another operation for the
/// same slot, made with a throwaway record and a fresh nonce.
fn equivocate<R: SigningRecord, G: RngCore + CryptoRng>(
    state: &mut WitnessState<R>,
    request: &ConsensusRequest,
    rng: &mut G,
) -> Result<WitnessVote, RoleError> {
    let share = state.witness.share().clone();
    let me = share.participant();
    let mut liar = Witness::new(share, crate::witness::MemorySigningRecord::default());
    let nonce = liar
        .precommit(1, rng)?
        .pop()
        .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?;
    let mut statement = request.statement;
    statement.operation[0] ^= 0xff;
    let mut signers = request.signing.signers.clone();
    signers.insert(me, nonce);
    let forged = ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch: request.signing.epoch,
            message: statement.message(),
            signers,
        },
    };
    let prestate = statement.prestate;
    Ok(WitnessVote::Share(liar.sign(&forged, &prestate, rng)?))
}

/// Run consensus as witness `me` on `node`: the fast path, then fallback
/// attempts until a certificate is held. `operation` is the initiator's
/// proposal (ignored for other witnesses); `own_prestate` is the hash of
/// this witness's reduced state, never taken from a message.
pub async fn run_consensus<R: SigningRecord, G: RngCore + CryptoRng>(
    node: &SharedNode,
    guard: &Guard,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    own_prestate: [u8; 32],
    operation: Option<[u8; 32]>,
    rng: &mut G,
) -> Result<Committed, RoleError> {
    let mut instance = Instance::new(&*lock(state)?, config, own_prestate)?;
    let me = instance.me;
    let spec = config.fast_spec(me)?;
    let session = open(node, guard, config, spec, me)?;
    let fast_path = if me == config.initiator {
        let operation = operation
            .ok_or_else(|| RoleError::Usage("the initiator must propose an operation".into()))?;
        initiate(session, config, state, &mut instance, operation, rng).await
    } else {
        answer(session, config, state, &mut instance, rng).await
    };
    survive(me, "fast path", fast_path)?;
    if let Some(done) = instance.done(&*lock(state)?, Path::Fast) {
        return Ok(done);
    }
    instance.fast = false;
    for attempt in 0..config.max_attempts {
        let session = open(node, guard, config, config.fallback_spec(attempt, me)?, me)?;
        let aggregator = config.fallback_order(attempt).first().map(|(p, _)| *p);
        let result = if aggregator == Some(me) {
            aggregate(session, config, state, &mut instance, attempt, rng).await
        } else {
            propose(session, config, state, &mut instance, attempt, rng).await
        };
        survive(me, "fallback attempt", result)?;
        tracing::debug!(%me, attempt, committed = instance.commit.is_some(), "fallback attempt over");
        if let Some(done) = instance.done(&*lock(state)?, Path::Fallback(attempt)) {
            return Ok(done);
        }
    }
    if instance.statement.is_none() && !instance.learned {
        return Err(RoleError::NothingProposed);
    }
    Err(RoleError::Usage(format!(
        "no commit after {} fallback attempts",
        config.max_attempts
    )))
}

/// The body's deadline passed (or a peer started the handler): this
/// attempt is over for this witness.
fn expired(me: ParticipantId, at: u32) -> Result<(), RoleError> {
    tracing::debug!(%me, at, "deadline passed");
    Ok(())
}

/// A failed session (a peer gone, the network, a peer breaking the
/// message order) or a peer's bad message ends this attempt only: the
/// next one starts. Local errors end the run.
fn survive(me: ParticipantId, what: &str, result: Result<(), RoleError>) -> Result<(), RoleError> {
    match result {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(e, RoleError::Session(_) | RoleError::PeerAborted { .. })
                || e.culprit().is_some() =>
        {
            tracing::info!(%me, error = %e, "{what} failed; going on");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Answer fallback attempt `attempt` with a certificate this witness
/// already holds (a laggard's attempt after this witness committed).
pub async fn serve_fallback<R: SigningRecord, G: RngCore + CryptoRng>(
    node: &SharedNode,
    guard: &Guard,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    committed: &CommitCertificate,
    attempt: u32,
    rng: &mut G,
) -> Result<(), RoleError> {
    let prestate = committed.statement().prestate;
    let mut instance = Instance::new(&*lock(state)?, config, prestate)?;
    instance.statement = Some(*committed.statement());
    instance.commit = Some(committed.clone());
    instance.fast = false;
    let session = open(
        node,
        guard,
        config,
        config.fallback_spec(attempt, instance.me)?,
        instance.me,
    )?;
    let aggregator = config.fallback_order(attempt).first().map(|(p, _)| *p);
    if aggregator == Some(instance.me) {
        aggregate(session, config, state, &mut instance, attempt, rng).await
    } else {
        propose(session, config, state, &mut instance, attempt, rng).await
    }
}

type Node = GuardedTransport<choreo_runtime::node::NodeTransport>;

/// Open one of this witness's sessions behind the node's guard: flow
/// context = the consensus instance; only the initiator holds
/// `consensus:initiate` (the fast path's `@guard`), and the
/// `@journal("consensus:commit")` sends are recorded in the guard's journal.
fn open(
    node: &SharedNode,
    guard: &Guard,
    config: &ConsensusConfig,
    spec: SessionSpec,
    me: ParticipantId,
) -> Result<choreo_runtime::Session<Node>, RoleError> {
    let capabilities = if me == config.initiator {
        CapabilitySet::grant(["consensus:initiate"])
    } else {
        CapabilitySet::default()
    };
    let grant = Grant {
        context: ContextId(config.consensus_id),
        capabilities,
    };
    Ok(node.open_guarded_session(spec, guard, grant)?)
}

fn participant_at(order: &[(ParticipantId, NodeId)], j: u32) -> Option<ParticipantId> {
    order.get(usize::try_from(j).ok()?).map(|(p, _)| *p)
}

/// The initiator's fast path (`Witness[0]`).
async fn initiate<R: SigningRecord, G: RngCore + CryptoRng>(
    session: choreo_runtime::Session<Node>,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    operation: [u8; 32],
    rng: &mut G,
) -> Result<(), RoleError> {
    let (n, t32) = config.sizes()?;
    let order = config.fast_order();
    let me = instance.me;
    let statement = CommitStatement {
        consensus_id: config.consensus_id,
        prestate: instance.own_prestate,
        operation,
    };
    instance.statement = Some(statement);
    let t = usize::try_from(t32).unwrap_or(usize::MAX);
    let ep = fast::witness_0::open(session, fast::Params { n, t: t32 })?.body();
    // Signers: this witness and the lowest others whose next nonce it
    // holds (not proven equivocators); without enough, ask for nonces.
    let (own_nonce, held) = {
        let mut s = lock(state)?;
        let epoch = s.witness.share().epoch();
        let excluded = s.excluded();
        s.peer_nonces.retain(|_, pre| pre.id.epoch == epoch);
        let held: BTreeMap<ParticipantId, Precommitment> = s
            .peer_nonces
            .iter()
            .filter(|(p, _)| **p != me && !excluded.contains(p))
            .take(t - 1)
            .map(|(p, n)| (*p, *n))
            .collect();
        let own = s
            .witness
            .precommit(1, rng)?
            .pop()
            .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?;
        (own, held)
    };
    let epoch = lock(state)?.witness.share().epoch();
    let request_from = |mut signers: BTreeMap<ParticipantId, Precommitment>| {
        signers.insert(me, own_nonce);
        ConsensusRequest {
            statement,
            signing: SigningRequest {
                epoch,
                message: statement.message(),
                signers,
            },
        }
    };
    let (request, ep) = if held.len() + 1 >= t {
        // The nonces were used up by this request: forget them.
        {
            let mut s = lock(state)?;
            for p in held.keys() {
                s.peer_nonces.remove(p);
            }
        }
        let request = request_from(held);
        instance.count(true);
        match ep
            .select_precommitted()
            .send_all(fast::Execute(request.clone()))
            .await?
        {
            Timed::Done(ep) => (request, ep),
            Timed::Expired(_) => return expired(instance.me, line!()),
        }
    } else {
        instance.count(true);
        let ep = match ep
            .select_fresh_nonces()
            .send_all(fast::Prepare(statement))
            .await?
        {
            Timed::Done(ep) => ep,
            Timed::Expired(_) => return expired(instance.me, line!()),
        };
        let (nonces, ep) = match ep.recv_all().await? {
            Timed::Done(v) => v,
            Timed::Expired(_) => return expired(instance.me, line!()),
        };
        let excluded = lock(state)?.excluded();
        let signers: BTreeMap<ParticipantId, Precommitment> = nonces
            .into_iter()
            .filter_map(|(j, fast::Nonces(pre))| Some((participant_at(&order, j)?, pre)))
            .filter(|(p, pre)| *p != me && !excluded.contains(p) && pre.id.epoch == epoch)
            .take(t - 1)
            .collect();
        if signers.len() + 1 < t {
            // Fewer than t usable nonces: no package can complete.
            drop(ep.abandon().link());
            return Ok(());
        }
        let request = request_from(signers);
        instance.count(true);
        match ep.send_all(fast::Execute(request.clone())).await? {
            Timed::Done(ep) => (request, ep),
            Timed::Expired(_) => return expired(instance.me, line!()),
        }
    };
    // Our own share first (the record is written before it exists).
    let own = {
        let mut s = lock(state)?;
        vote(&mut s, instance, &request, rng)?
    };
    let mut refused = match &own {
        WitnessVote::Refused { reason } => Some(format!("{me}: {reason}")),
        _ => None,
    };
    let (votes, ep) = match ep.recv_all().await? {
        Timed::Done(v) => v,
        Timed::Expired(_) => return expired(instance.me, line!()),
    };
    {
        let mut s = lock(state)?;
        for (j, fast::Vote(v)) in votes {
            let Some(from) = participant_at(&order, j) else {
                continue;
            };
            match v {
                WitnessVote::Share(share) => {
                    s.peer_nonces.insert(from, share.next_nonce);
                    instance.add_share(&mut s, from, share)?;
                }
                WitnessVote::NotNamed { next_nonce } => {
                    s.peer_nonces.insert(from, next_nonce);
                }
                WitnessVote::Refused { reason } => {
                    refused.get_or_insert(format!("{from}: {reason}"));
                }
            }
        }
    }
    match instance
        .commit
        .as_ref()
        .filter(|c| *c.statement() == statement)
    {
        Some(certificate) => {
            let fact = certificate.to_unverified()?;
            instance.count(true);
            if let Timed::Done(end) = ep.select_commit().send_all(fast::Commit(fact)).await? {
                end.finish()?;
            }
        }
        None => {
            // Everyone goes to the fallback at once, not after the deadline.
            let reason = AbortReason {
                code: 1,
                detail: refused
                    .unwrap_or_else(|| "not every named signer answered with a valid share".into()),
            };
            instance.count(true);
            if let Timed::Done(end) = ep.select_abort().send_all(fast::Abort(reason)).await? {
                end.finish()?;
            }
        }
    }
    Ok(())
}

/// A witness's fast path (`Witness[j]`, `j > 0`).
async fn answer<R: SigningRecord, G: RngCore + CryptoRng>(
    session: choreo_runtime::Session<Node>,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    rng: &mut G,
) -> Result<(), RoleError> {
    let (n, t) = config.sizes()?;
    let ep = fast::witness::open(session, fast::Params { n, t })?.body();
    let (request, ep) = match ep.branch().await? {
        Timed::Expired(_) => return expired(instance.me, line!()),
        Timed::Done(fast::witness::ExecuteOrPrepare::Execute(fast::Execute(request), ep)) => {
            (request, ep)
        }
        Timed::Done(fast::witness::ExecuteOrPrepare::Prepare(fast::Prepare(statement), ep)) => {
            if !instance.acceptable(config, &statement) {
                // A wrong prestate: start the fallback now.
                tracing::info!(me = %instance.me, "prepare for another prestate: fallback");
                instance.foreign = Some(statement);
                drop(ep.abandon().link());
                return Ok(());
            }
            // The operation reached this witness: if the initiator stops
            // here, the fallback proposes it.
            instance.statement = Some(statement);
            let nonce = lock(state)?
                .witness
                .precommit(1, rng)?
                .pop()
                .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?;
            instance.count(false);
            let ep = match ep.send(fast::Nonces(nonce)).await? {
                Timed::Done(ep) => ep,
                Timed::Expired(_) => return expired(instance.me, line!()),
            };
            match ep.recv().await? {
                Timed::Done((fast::Execute(request), ep)) => (request, ep),
                Timed::Expired(_) => return expired(instance.me, line!()),
            }
        }
    };
    let my_vote = if instance.acceptable(config, &request.statement)
        && request.signing.message == request.statement.message()
    {
        instance.statement = Some(request.statement);
        let mut s = lock(state)?;
        vote(&mut s, instance, &request, rng)?
    } else {
        instance.foreign = Some(request.statement);
        WitnessVote::Refused {
            reason: Refusal::WrongPrestate.to_string(),
        }
    };
    let refused = matches!(my_vote, WitnessVote::Refused { .. });
    instance.count(false);
    let ep = match ep.send(fast::Vote(my_vote)).await? {
        Timed::Done(ep) => ep,
        Timed::Expired(_) => return expired(instance.me, line!()),
    };
    if refused {
        // Disagreement: abandon the fast path at once.
        drop(ep.abandon().link());
        return Ok(());
    }
    match ep.branch().await? {
        Timed::Done(fast::witness::CommitOrAbort::Commit(fast::Commit(fact), end)) => {
            let key = lock(state)?.witness.share().group_key();
            if !instance.take_certificate(config, &key, &fact) {
                tracing::warn!(me = %instance.me, "the initiator's commit does not verify: fallback");
            }
            end.finish()?;
        }
        Timed::Done(fast::witness::CommitOrAbort::Abort(fast::Abort(reason), end)) => {
            tracing::info!(me = %instance.me, reason = %reason.detail, "fast path aborted: fallback");
            end.finish()?;
        }
        Timed::Expired(_) => return expired(instance.me, line!()),
    }
    Ok(())
}

fn fresh_nonce<R: SigningRecord, G: RngCore + CryptoRng>(
    state: &mut WitnessState<R>,
    rng: &mut G,
) -> Result<Precommitment, RoleError> {
    Ok(state
        .witness
        .precommit(1, rng)?
        .pop()
        .ok_or_else(|| crate::Error::Crypto("no nonce produced".into()))?)
}

fn my_proposal<R: SigningRecord, G: RngCore + CryptoRng>(
    state: &mut WitnessState<R>,
    instance: &Instance,
    attempt: u32,
    rng: &mut G,
) -> Result<FallbackProposal, RoleError> {
    Ok(FallbackProposal {
        attempt,
        statement: instance.statement.or(instance.foreign),
        epoch: state.witness.share().epoch(),
        nonce: fresh_nonce(state, rng)?,
        commit: instance
            .commit
            .as_ref()
            .map(CommitCertificate::to_unverified)
            .transpose()?,
        evidence: instance.evidence(),
    })
}

/// Take what the other witnesses proposed: certificates, evidence.
fn take_proposals<R: SigningRecord>(
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    order: &[(ParticipantId, NodeId)],
    got: Vec<(u32, fallback::Propose)>,
) -> Result<BTreeMap<ParticipantId, FallbackProposal>, RoleError> {
    let mut s = lock(state)?;
    let key = s.witness.share().group_key();
    let mut held = BTreeMap::new();
    for (j, fallback::Propose(p)) in got {
        let Some(from) = participant_at(order, j) else {
            continue;
        };
        if from != instance.me {
            if let Some(uc) = &p.commit {
                instance.take_certificate(config, &key, uc);
            }
            for (signer, share) in p.evidence.iter().take(instance.evidence_limit()) {
                instance.add_share(&mut s, *signer, share.clone())?;
            }
        }
        if let Some(statement) = p.statement {
            instance.learned = true;
            // Adopt a proposed operation for this witness's own prestate:
            // if its proposer (say, a crashed initiator) stops now, this
            // witness proposes it onwards. Signing still checks the
            // prestate and the signing record.
            if instance.statement.is_none() && instance.acceptable(config, &statement) {
                instance.statement = Some(statement);
            }
        }
        held.insert(from, p);
    }
    Ok(held)
}

/// Take the votes (shares) of an attempt and the outcomes.
fn take_votes<R: SigningRecord>(
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    order: &[(ParticipantId, NodeId)],
    got: Vec<(u32, fallback::Vote)>,
) -> Result<(), RoleError> {
    let mut s = lock(state)?;
    for (j, fallback::Vote(v)) in got {
        let Some(from) = participant_at(order, j) else {
            continue;
        };
        if let (WitnessVote::Share(share), true) = (v, from != instance.me) {
            instance.add_share(&mut s, from, share)?;
        }
    }
    Ok(())
}

fn take_outcome<R: SigningRecord>(
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    outcome: FallbackOutcome,
) -> Result<(), RoleError> {
    let mut s = lock(state)?;
    let key = s.witness.share().group_key();
    instance.take_proofs(&mut s, outcome.proofs);
    if let Some(uc) = &outcome.commit {
        if !instance.take_certificate(config, &key, uc) {
            tracing::warn!(me = %instance.me, "a fallback outcome carries a commit that does not verify");
        }
    }
    Ok(())
}

fn my_outcome<R: SigningRecord>(
    state: &Mutex<WitnessState<R>>,
    instance: &Instance,
) -> Result<FallbackOutcome, RoleError> {
    Ok(FallbackOutcome {
        commit: instance
            .commit
            .as_ref()
            .map(CommitCertificate::to_unverified)
            .transpose()?,
        proofs: lock(state)?.proofs.values().cloned().collect(),
    })
}

/// Choose attempt `attempt`'s signing package from the proposals held
/// (the aggregator's part).
fn choose<R: SigningRecord>(
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &Instance,
    held: BTreeMap<ParticipantId, FallbackProposal>,
) -> Result<Option<ConsensusRequest>, RoleError> {
    // Only this attempt's proposals: their senders answered just now, and
    // their nonces are fresh (an earlier proposal's sender may have crashed
    // since, or used that nonce already).
    let mut held = held;
    // Only statements for this witness's own prestate can be signed here.
    held.retain(|_, p| {
        p.statement.is_none_or(|s| {
            s.consensus_id == config.consensus_id && s.prestate == instance.own_prestate
        })
    });
    // A witness that never learned the operation (the initiator's request
    // did not reach it) proposed no statement: it will sign the leading
    // one if its prestate is its own, so it counts as that one's supporter.
    let mut support: BTreeMap<CommitStatement, usize> = BTreeMap::new();
    for s in held.values().filter_map(|p| p.statement) {
        *support.entry(s).or_default() += 1;
    }
    let leading = support
        .iter()
        .rev()
        .max_by_key(|(_, c)| **c)
        .map(|(s, _)| *s);
    let Some(leading) = leading else {
        return Ok(None);
    };
    for p in held.values_mut() {
        p.statement.get_or_insert(leading);
    }
    // `choose_package` reads this attempt's number from each proposal.
    for p in held.values_mut() {
        p.attempt = 0;
    }
    let s = lock(state)?;
    // The aggregator rotates per attempt, so the package need not.
    Ok(choose_package(
        0,
        &held,
        &s.excluded(),
        config.threshold,
        s.witness.share().epoch(),
    ))
}

/// Vote on the aggregator's request: sign if named and the statement is
/// for this witness's own prestate and names no known equivocator.
fn fallback_vote<R: SigningRecord, G: RngCore + CryptoRng>(
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    request: &ConsensusRequest,
    rng: &mut G,
) -> Result<WitnessVote, RoleError> {
    let mut s = lock(state)?;
    let names_excluded = s
        .excluded()
        .iter()
        .any(|p| request.signing.signers.contains_key(p));
    if !instance.acceptable(config, &request.statement) || names_excluded {
        if !instance.acceptable(config, &request.statement) {
            instance.foreign.get_or_insert(request.statement);
        }
        return Ok(WitnessVote::Refused {
            reason: Refusal::WrongPrestate.to_string(),
        });
    }
    if instance.statement.is_none() {
        // Learn the operation from the aggregator's package.
        instance.statement = Some(request.statement);
    }
    vote(&mut s, instance, request, rng)
}

/// The aggregator of fallback attempt `attempt` (`Witness[0]`).
async fn aggregate<R: SigningRecord, G: RngCore + CryptoRng>(
    session: choreo_runtime::Session<Node>,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    attempt: u32,
    rng: &mut G,
) -> Result<(), RoleError> {
    let (n, t) = config.sizes()?;
    let order = config.fallback_order(attempt);
    let ep = fallback::witness_0::open(session, fallback::Params { n, t })?.body();
    let own = my_proposal(&mut *lock(state)?, instance, attempt, rng)?;
    instance.count(true);
    let (got, ep) = match ep.exchange(|_| fallback::Propose(own.clone())).await? {
        Timed::Done(v) => v,
        Timed::Expired(_) => return expired(instance.me, line!()),
    };
    let held = take_proposals(config, state, instance, &order, got)?;
    let request = if instance.commit.is_some() {
        None
    } else {
        choose(config, state, instance, held)?
    };
    let Some(request) = request else {
        // A certificate to forward, or nothing to sign: decided.
        let outcome = my_outcome(state, instance)?;
        instance.count(true);
        if let Timed::Done(end) = ep
            .select_decided()
            .send_all(fallback::Outcome(outcome))
            .await?
        {
            end.finish()?;
        }
        return Ok(());
    };
    if instance.statement.is_none() {
        instance.statement = Some(request.statement);
    }
    let own_vote = fallback_vote(config, state, instance, &request, rng)?;
    instance.count(true);
    let ep = match ep
        .select_sign()
        .send_all(fallback::Execute(request))
        .await?
    {
        Timed::Done(ep) => ep,
        Timed::Expired(_) => return expired(instance.me, line!()),
    };
    votes_and_outcomes(ep, config, state, instance, &order, own_vote).await
}

/// The rest of a `Sign` attempt, the same for every witness: exchange
/// votes, aggregate what completes, exchange outcomes.
async fn votes_and_outcomes<R: SigningRecord, S: VoteState>(
    ep: S,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    order: &[(ParticipantId, NodeId)],
    own_vote: WitnessVote,
) -> Result<(), RoleError> {
    instance.count(true);
    let Some((got, ep)) = ep.votes(own_vote).await? else {
        return expired(instance.me, line!());
    };
    take_votes(state, instance, order, got)?;
    let outcome = my_outcome(state, instance)?;
    instance.count(true);
    let Some(got) = ep.outcomes(outcome).await? else {
        return expired(instance.me, line!());
    };
    for (_, fallback::Outcome(o)) in got {
        take_outcome(config, state, instance, o)?;
    }
    Ok(())
}

/// The vote and outcome exchanges of a `Sign` attempt, as the aggregator
/// and the other witnesses reach them (two generated state types).
trait VoteState: Sized {
    type Next: OutcomeState;
    async fn votes(
        self,
        vote: WitnessVote,
    ) -> Result<Option<(Vec<(u32, fallback::Vote)>, Self::Next)>, RoleError>;
}

trait OutcomeState: Sized {
    async fn outcomes(
        self,
        outcome: FallbackOutcome,
    ) -> Result<Option<Vec<(u32, fallback::Outcome)>>, RoleError>;
}

macro_rules! sign_states {
    ($role:ident, $vote:ident, $outcome:ident) => {
        impl VoteState for fallback::$role::$vote<Node> {
            type Next = fallback::$role::$outcome<Node>;
            async fn votes(
                self,
                vote: WitnessVote,
            ) -> Result<Option<(Vec<(u32, fallback::Vote)>, Self::Next)>, RoleError> {
                Ok(
                    match self.exchange(|_| fallback::Vote(vote.clone())).await? {
                        Timed::Done(v) => Some(v),
                        Timed::Expired(_) => None,
                    },
                )
            }
        }
        impl OutcomeState for fallback::$role::$outcome<Node> {
            async fn outcomes(
                self,
                outcome: FallbackOutcome,
            ) -> Result<Option<Vec<(u32, fallback::Outcome)>>, RoleError> {
                Ok(
                    match self
                        .exchange(|_| fallback::Outcome(outcome.clone()))
                        .await?
                    {
                        Timed::Done((got, end)) => {
                            end.finish()?;
                            Some(got)
                        }
                        Timed::Expired(_) => None,
                    },
                )
            }
        }
    };
}
sign_states!(witness_0, S4, S5);
sign_states!(witness, S3, S4);

/// A witness in fallback attempt `attempt` whose aggregator is another.
async fn propose<R: SigningRecord, G: RngCore + CryptoRng>(
    session: choreo_runtime::Session<Node>,
    config: &ConsensusConfig,
    state: &Mutex<WitnessState<R>>,
    instance: &mut Instance,
    attempt: u32,
    rng: &mut G,
) -> Result<(), RoleError> {
    let (n, t) = config.sizes()?;
    let order = config.fallback_order(attempt);
    let ep = fallback::witness::open(session, fallback::Params { n, t })?.body();
    let aggregator = order.first().map(|(p, _)| *p);
    let excluded = lock(state)?.excluded();
    if instance.commit.is_none() && aggregator.is_some_and(|a| excluded.contains(&a)) {
        // A proven equivocator would aggregate: skip its turn at once.
        tracing::info!(me = %instance.me, attempt, "the aggregator is a proven equivocator: next attempt");
        drop(ep.abandon().link());
        return Ok(());
    }
    let own = my_proposal(&mut *lock(state)?, instance, attempt, rng)?;
    instance.count(true);
    let (got, ep) = match ep.exchange(|_| fallback::Propose(own.clone())).await? {
        Timed::Done(v) => v,
        Timed::Expired(_) => return expired(instance.me, line!()),
    };
    take_proposals(config, state, instance, &order, got)?;
    match ep.branch().await? {
        Timed::Expired(_) => expired(instance.me, line!()),
        Timed::Done(fallback::witness::ExecuteOrOutcome::Outcome(fallback::Outcome(o), end)) => {
            end.finish()?;
            take_outcome(config, state, instance, o)
        }
        Timed::Done(fallback::witness::ExecuteOrOutcome::Execute(
            fallback::Execute(request),
            ep,
        )) => {
            let own_vote = fallback_vote(config, state, instance, &request, rng)?;
            votes_and_outcomes(ep, config, state, instance, &order, own_vote).await
        }
    }
}
