//! Shared test drivers: run whole protocols in memory, deterministically.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::collections::{BTreeMap, BTreeSet};

use aura_protocols::dkg::{self, DkgConfig, Round1Message, Round2Message, TranscriptEcho};
use aura_protocols::reshare::{
    self, DealerCommitment, EncryptedShare, JoinEcho, JoinMessage, ReshareConfig,
};
use aura_protocols::signing::{
    self, CommitCertificate, CommitStatement, NonceStore, SigningRequest,
};
use aura_protocols::{
    Authenticated, AuthorityKeyShare, NodeId, NodeIdentity, ParticipantId, Result, Roster,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn committee(ids: impl IntoIterator<Item = u16>) -> BTreeSet<ParticipantId> {
    ids.into_iter().map(ParticipantId).collect()
}

/// The node identity key of participant `p` in these tests.
pub fn identity(p: u16) -> NodeIdentity {
    let mut secret = [0xA0; 32];
    secret[..2].copy_from_slice(&p.to_be_bytes());
    NodeIdentity::from_secret(secret)
}

/// The node id of participant `p` in these tests.
pub fn node(p: u16) -> NodeId {
    identity(p).node_id()
}

/// Re-sign round-1 message `m` as participant `p` (what a hostile `p`
/// does with a value it made up).
pub fn resign_round1(config: &DkgConfig, p: u16, m: &mut Round1Message) {
    let digest = dkg::round1_digest(config, ParticipantId(p), &m.package, &m.dh_public).unwrap();
    m.signature = identity(p).sign(digest).signature;
}

/// Re-sign dealer commitment `c` as dealer `p`.
pub fn resign_dealing(config: &ReshareConfig, p: u16, c: &mut DealerCommitment) {
    let digest =
        reshare::dealing_digest(config, ParticipantId(p), &c.commitment, &c.dh_public).unwrap();
    c.signature = identity(p).sign(digest).signature;
}

/// Re-sign join `j` as new holder `p`.
pub fn resign_join(config: &ReshareConfig, p: u16, j: &mut JoinMessage) {
    let digest = reshare::join_digest(config, ParticipantId(p), &j.dh_public).unwrap();
    j.signature = identity(p).sign(digest).signature;
}

/// A roster binding each participant `p` to `node(p)`.
pub fn roster(ids: impl IntoIterator<Item = u16>) -> Roster {
    Roster::new(ids.into_iter().map(|p| (ParticipantId(p), node(p)))).unwrap()
}

/// `m` as delivered by a link authenticated to participant `from`'s node.
pub fn from<M: Clone>(from: ParticipantId, m: &M) -> Authenticated<M> {
    Authenticated::new(node(from.0), m.clone())
}

pub fn config(n: u16, t: u16) -> DkgConfig {
    DkgConfig {
        session: [7; 32],
        threshold: t,
        roster: roster(1..=n),
    }
}

/// Rewrites the messages of one round while they are in flight.
pub type Hook<M> = Option<Box<dyn Fn(&mut Vec<Authenticated<M>>)>>;

/// Hooks to corrupt messages in flight.
#[derive(Default)]
pub struct Tamper {
    pub round1: Hook<Round1Message>,
    pub echoes: Hook<TranscriptEcho>,
    pub round2: Hook<Round2Message>,
}

/// What one DKG run produced.
pub struct DkgRun {
    /// Each participant's outcome.
    pub results: BTreeMap<ParticipantId, Result<AuthorityKeyShare>>,
    /// Every encrypted round-2 package anybody released.
    pub round2: Vec<Authenticated<Round2Message>>,
}

/// Run a DKG among everyone in `config`, every message tagged with the
/// node that sent it; returns each participant's result.
pub fn run_dkg_with(
    config: &DkgConfig,
    seed: u64,
    tamper: &Tamper,
) -> BTreeMap<ParticipantId, Result<AuthorityKeyShare>> {
    run_dkg_traced(config, seed, tamper).results
}

pub fn run_dkg_traced(config: &DkgConfig, seed: u64, tamper: &Tamper) -> DkgRun {
    let mut rng = rng(seed);
    let mut states = BTreeMap::new();
    let mut round1 = Vec::new();
    for p in config.participants() {
        let (s, m) = dkg::start(config.clone(), p, &identity(p.0), &mut rng).unwrap();
        states.insert(p, s);
        round1.push(from(p, &m));
    }
    if let Some(f) = &tamper.round1 {
        f(&mut round1);
    }
    let mut results = BTreeMap::new();
    let mut next = BTreeMap::new();
    let mut echoes = Vec::new();
    for (p, s) in states {
        match s.receive_round1(&round1) {
            Ok((s, e)) => {
                next.insert(p, s);
                echoes.push(from(p, &e));
            }
            Err(e) => {
                results.insert(p, Err(e));
            }
        }
    }
    if let Some(f) = &tamper.echoes {
        f(&mut echoes);
    }
    let mut round2 = Vec::new();
    let mut last = BTreeMap::new();
    for (p, s) in next {
        match s.confirm_transcripts(&echoes) {
            Ok((s, msgs)) => {
                last.insert(p, s);
                round2.extend(msgs.iter().map(|m| from(p, m)));
            }
            Err(e) => {
                results.insert(p, Err(e));
            }
        }
    }
    if let Some(f) = &tamper.round2 {
        f(&mut round2);
    }
    for (p, s) in last {
        results.insert(p, s.finish(&round2));
    }
    DkgRun { results, round2 }
}

pub fn run_dkg(n: u16, t: u16, seed: u64) -> Vec<AuthorityKeyShare> {
    run_dkg_with(&config(n, t), seed, &Tamper::default())
        .into_values()
        .map(|r| r.unwrap())
        .collect()
}

pub fn statement(tag: u8) -> CommitStatement {
    CommitStatement {
        consensus_id: [tag; 32],
        prestate: [1; 32],
        operation: [2; 32],
    }
}

/// Fast-path signing with pre-committed nonces; `public` is the key
/// package the aggregator trusts.
pub fn sign(
    signers: &[&AuthorityKeyShare],
    public: &AuthorityKeyShare,
    statement: CommitStatement,
    seed: u64,
) -> Result<CommitCertificate> {
    let mut rng = rng(seed);
    let mut stores = Vec::new();
    let mut chosen = BTreeMap::new();
    for s in signers {
        let mut store = NonceStore::new(s);
        let pre = store.precommit(s, 2, &mut rng)?;
        chosen.insert(s.participant(), pre[0]);
        stores.push(store);
    }
    let request = SigningRequest {
        epoch: public.epoch(),
        message: statement.message(),
        signers: chosen,
    };
    let mut shares = BTreeMap::new();
    for (s, store) in signers.iter().zip(stores.iter_mut()) {
        // Signers in another epoch sign the same request "as if" current, to
        // show that mixing is caught by aggregation, not only by policy.
        let mut request = request.clone();
        request.epoch = s.epoch();
        shares.insert(s.participant(), store.sign(s, &request)?);
    }
    signing::aggregate(public.public_key_package(), &request, statement, &shares)
}

pub struct Reshared {
    pub commitments: Vec<Authenticated<DealerCommitment>>,
    pub shares: Vec<Authenticated<EncryptedShare>>,
}

/// Hooks to corrupt a reshare in flight.
#[derive(Default)]
pub struct ReshareTamper {
    /// Rewrites the joins the dealers receive.
    pub joins_to_dealers: Hook<JoinMessage>,
    /// Rewrites the join echoes the dealers receive.
    pub echoes_to_dealers: Hook<JoinEcho>,
}

/// What one reshare run produced.
pub struct ReshareRun {
    pub results: BTreeMap<ParticipantId, Result<AuthorityKeyShare>>,
    /// Each dealer's refusal, if it refused to deal.
    pub refused: BTreeMap<ParticipantId, aura_protocols::Error>,
    /// Every encrypted sub-share anybody released.
    pub dealt: Reshared,
}

/// The roster of a reshare: old and new participants by number.
pub fn reshare_config(
    session: u8,
    dealers: impl IntoIterator<Item = u16>,
    new: impl IntoIterator<Item = u16>,
    new_threshold: u16,
) -> ReshareConfig {
    let dealers = committee(dealers);
    let new_committee = committee(new);
    let everyone: BTreeSet<u16> = dealers.iter().chain(&new_committee).map(|p| p.0).collect();
    ReshareConfig {
        session: [session; 32],
        old_epoch: aura_protocols::KeyEpoch(0),
        dealers,
        new_committee,
        new_threshold,
        roster: roster(everyone),
    }
}

/// Run a whole reshare: new holders join and echo the join set, dealers
/// deal, `tamper` rewrites the dealings in flight, new holders verify,
/// echo and confirm.
pub fn run_reshare(
    config: &ReshareConfig,
    old: &[AuthorityKeyShare],
    seed: u64,
    tamper: impl Fn(&mut Reshared),
) -> BTreeMap<ParticipantId, Result<AuthorityKeyShare>> {
    run_reshare_traced(config, old, seed, &ReshareTamper::default(), tamper).results
}

pub fn run_reshare_traced(
    config: &ReshareConfig,
    old: &[AuthorityKeyShare],
    seed: u64,
    transit: &ReshareTamper,
    tamper: impl Fn(&mut Reshared),
) -> ReshareRun {
    let mut rng = rng(seed);
    let old_public = old[0].public_key_package();
    let mut joined = BTreeMap::new();
    let mut joins = Vec::new();
    for p in &config.new_committee {
        let (s, j) =
            reshare::join(config.clone(), *p, &identity(p.0), old_public, &mut rng).unwrap();
        joined.insert(*p, s);
        joins.push(from(*p, &j));
    }
    let mut results = BTreeMap::new();
    let mut echoed = BTreeMap::new();
    let mut join_echoes = Vec::new();
    for (p, s) in joined {
        match s.receive_joins(&joins) {
            Ok((s, e)) => {
                echoed.insert(p, s);
                join_echoes.push(from(p, &e));
            }
            Err(e) => {
                results.insert(p, Err(e));
            }
        }
    }
    if let Some(f) = &transit.joins_to_dealers {
        f(&mut joins);
    }
    if let Some(f) = &transit.echoes_to_dealers {
        f(&mut join_echoes);
    }
    let mut dealt = Reshared {
        commitments: Vec::new(),
        shares: Vec::new(),
    };
    let mut refused = BTreeMap::new();
    for s in old
        .iter()
        .filter(|s| config.dealers.contains(&s.participant()))
    {
        match reshare::deal(
            config,
            s,
            &identity(s.participant().0),
            &joins,
            &join_echoes,
            &mut rng,
        ) {
            Ok((c, sh)) => {
                dealt.commitments.push(from(s.participant(), &c));
                dealt
                    .shares
                    .extend(sh.iter().map(|m| from(s.participant(), m)));
            }
            Err(e) => {
                refused.insert(s.participant(), e);
            }
        }
    }
    tamper(&mut dealt);
    let mut waiting = BTreeMap::new();
    let mut echoes = Vec::new();
    for (p, s) in echoed {
        match s.receive(&dealt.commitments, &dealt.shares) {
            Ok((s, e)) => {
                waiting.insert(p, s);
                echoes.push(from(p, &e));
            }
            Err(e) => {
                results.insert(p, Err(e));
            }
        }
    }
    for (p, s) in waiting {
        results.insert(p, s.confirm(&echoes));
    }
    ReshareRun {
        results,
        refused,
        dealt,
    }
}

pub fn reshare_ok(
    config: &ReshareConfig,
    old: &[AuthorityKeyShare],
    seed: u64,
) -> Vec<AuthorityKeyShare> {
    run_reshare(config, old, seed, |_| {})
        .into_values()
        .map(|r| r.unwrap())
        .collect()
}

/// The channel root between two authorities, computed by threshold DH:
/// holders `holders` of `a` each send a partial toward `b`'s group key.
pub fn root_between(
    a: &[AuthorityKeyShare],
    holders: &[u16],
    b: &AuthorityKeyShare,
    seed: u64,
) -> aura_protocols::amp::ChannelRoot {
    use aura_protocols::amp::root;
    let mut r = rng(seed);
    let partials = a
        .iter()
        .filter(|s| holders.contains(&s.participant().0))
        .map(|s| {
            (
                s.participant(),
                root::partial(s, &b.group_key(), &mut r).unwrap(),
            )
        })
        .collect();
    root::combine(a[0].public_key_package(), &b.group_key(), &partials).unwrap()
}

/// A channel root for tests that only need some valid root: two fresh
/// 2-of-3 authorities, seeded.
pub fn some_root(seed: u64) -> aura_protocols::amp::ChannelRoot {
    let a = run_dkg(3, 2, seed);
    let b = run_dkg(3, 2, seed ^ 0x5eed);
    root_between(&a, &[1, 2], &b[0], seed)
}
