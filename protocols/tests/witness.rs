//! Witness safety: prestate check, one result per (consensus id, prestate),
//! equivocation proofs, equivocators excluded from thresholds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use aura_protocols::signing::{CommitStatement, SigningRequest};
use aura_protocols::witness::{
    Collected, ConsensusRequest, MemorySigningRecord, Refusal, ShareCollector, SigningRecord, Slot,
    Witness, WitnessShare,
};
use aura_protocols::{AuthorityKeyShare, Error, ParticipantId, Violation};
use common::*;

const PRESTATE: [u8; 32] = [1; 32];

fn statement(operation: u8) -> CommitStatement {
    CommitStatement {
        consensus_id: [9; 32],
        prestate: PRESTATE,
        operation: [operation; 32],
    }
}

/// Honest witnesses keep a record; a faulty one forgets what it signed.
#[derive(Debug)]
enum Record {
    Honest(MemorySigningRecord),
    Forgetful,
}

impl SigningRecord for Record {
    fn recorded(&self, slot: &Slot) -> aura_protocols::Result<Option<[u8; 32]>> {
        match self {
            Record::Honest(r) => r.recorded(slot),
            Record::Forgetful => Ok(None),
        }
    }
    fn record(&mut self, slot: Slot, operation: [u8; 32]) -> aura_protocols::Result<()> {
        match self {
            Record::Honest(r) => r.record(slot, operation),
            Record::Forgetful => Ok(()),
        }
    }
}

type Witnesses = BTreeMap<u16, Witness<Record>>;

/// Every holder a witness; those in `faulty` forget what they signed.
fn witnesses_with(shares: &[AuthorityKeyShare], faulty: &[u16]) -> Witnesses {
    shares
        .iter()
        .map(|s| {
            let p = s.participant().0;
            let record = if faulty.contains(&p) {
                Record::Forgetful
            } else {
                Record::Honest(MemorySigningRecord::default())
            };
            (p, Witness::new(s.clone(), record))
        })
        .collect()
}

fn witnesses(shares: &[AuthorityKeyShare]) -> Witnesses {
    witnesses_with(shares, &[])
}

/// A request for `statement` naming `signers`, each with a fresh nonce.
fn request(
    ws: &mut Witnesses,
    signers: &[u16],
    statement: CommitStatement,
    seed: u64,
) -> ConsensusRequest {
    let mut r = rng(seed);
    let chosen = signers
        .iter()
        .map(|p| {
            let w = ws.get_mut(p).unwrap();
            (ParticipantId(*p), w.precommit(1, &mut r).unwrap()[0])
        })
        .collect();
    let epoch = ws.values().next().unwrap().share().epoch();
    ConsensusRequest {
        statement,
        signing: SigningRequest {
            epoch,
            message: statement.message(),
            signers: chosen,
        },
    }
}

fn sign(
    ws: &mut Witnesses,
    who: u16,
    req: &ConsensusRequest,
) -> aura_protocols::Result<WitnessShare> {
    ws.get_mut(&who)
        .unwrap()
        .sign(req, &PRESTATE, &mut rng(u64::from(who)))
}

#[test]
fn witness_refuses_a_prestate_that_is_not_its_own() {
    let shares = run_dkg(3, 2, 101);
    let mut ws = witnesses(&shares);
    let mut stale = statement(1);
    stale.prestate = [2; 32];
    let req = request(&mut ws, &[1, 2], stale, 1);
    let err = sign(&mut ws, 1, &req).unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::WrongPrestate)),
        "{err}"
    );
}

#[test]
fn witness_signs_one_result_per_prestate_even_after_a_restart() {
    let shares = run_dkg(3, 2, 102);
    let mut ws = witnesses(&shares);
    let a = request(&mut ws, &[1, 2], statement(0xA), 1);
    sign(&mut ws, 1, &a).unwrap();
    // A conflicting request for the same slot is refused …
    let b = request(&mut ws, &[1, 3], statement(0xB), 2);
    let err = sign(&mut ws, 1, &b).unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::AlreadySigned)),
        "{err}"
    );
    // … also by the same witness restarted over its (durable) record.
    let record = ws.remove(&1).unwrap().into_record();
    assert!(matches!(record, Record::Honest(_)));
    ws.insert(1, Witness::new(shares[0].clone(), record));
    let b = request(&mut ws, &[1, 3], statement(0xB), 3);
    let err = sign(&mut ws, 1, &b).unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::AlreadySigned)),
        "{err}"
    );
    // The same result in a new package (a fallback retry) is fine.
    let again = request(&mut ws, &[1, 3], statement(0xA), 4);
    sign(&mut ws, 1, &again).unwrap();
}

/// A faulty witness (its record wiped) signs two results for one prestate.
/// The collector turns the two shares into a proof anyone can verify.
#[test]
fn two_results_for_one_prestate_become_a_verifiable_equivocation_proof() {
    let shares = run_dkg(3, 2, 103);
    let public = shares[0].public_key_package().clone();
    let mut ws = witnesses_with(&shares, &[3]);
    let a = request(&mut ws, &[1, 3], statement(0xA), 1);
    let b = request(&mut ws, &[2, 3], statement(0xB), 2);
    let share_a = sign(&mut ws, 3, &a).unwrap();
    let share_b = sign(&mut ws, 3, &b).unwrap();

    let mut collector = ShareCollector::new(public.clone(), shares[0].epoch());
    assert!(matches!(
        collector.add(ParticipantId(3), share_a.clone()).unwrap(),
        Collected::Pending
    ));
    let proof = match collector.add(ParticipantId(3), share_b.clone()).unwrap() {
        Collected::Equivocation(proof) => proof,
        other => panic!("expected an equivocation proof, got {other:?}"),
    };
    let (who, _) = proof.verify(&public).unwrap();
    assert_eq!(who, ParticipantId(3));
    // The proof travels as bytes (a journal fact) and still verifies.
    let bytes = postcard::to_allocvec(&*proof).unwrap();
    let back: aura_protocols::witness::EquivocationProof = postcard::from_bytes(&bytes).unwrap();
    back.verify(&public).unwrap();
    // Blaming someone else with these shares does not verify.
    let mut framed = (*proof).clone();
    framed.witness = ParticipantId(1);
    assert!(framed.verify(&public).is_err());
    // Two shares over the same result prove nothing.
    let mut same = (*proof).clone();
    same.second = share_a;
    assert!(same.verify(&public).is_err());
    // A share with a flipped operation no longer verifies.
    let mut forged = (*proof).clone();
    forged.second.request.statement.operation = [0xC; 32];
    forged.second.request.signing.message = forged.second.request.statement.message();
    assert!(forged.verify(&public).is_err());
}

/// 3-of-5. Witness 3 equivocates; the package naming it never commits,
/// its later shares do not count, and a package without it commits.
#[test]
fn equivocator_is_excluded_from_the_threshold() {
    let shares = run_dkg(5, 3, 104);
    let public = shares[0].public_key_package().clone();
    let mut ws = witnesses_with(&shares, &[3]);
    let p1 = request(&mut ws, &[1, 2, 3], statement(0xA), 1);
    let p2 = request(&mut ws, &[3, 4, 5], statement(0xB), 2);
    let mut collector = ShareCollector::new(public, shares[0].epoch());
    collector
        .add(ParticipantId(3), sign(&mut ws, 3, &p1).unwrap())
        .unwrap();
    let second = sign(&mut ws, 3, &p2).unwrap();
    assert!(matches!(
        collector.add(ParticipantId(3), second).unwrap(),
        Collected::Equivocation(_)
    ));
    assert!(collector.excluded().contains(&ParticipantId(3)));
    for p in [1, 2] {
        let s = sign(&mut ws, p, &p1).unwrap();
        assert!(matches!(
            collector.add(ParticipantId(p), s).unwrap(),
            Collected::Pending
        ));
    }
    let p3 = request(&mut ws, &[1, 2, 3], statement(0xA), 3);
    let late = sign(&mut ws, 3, &p3).unwrap();
    assert!(matches!(
        collector.add(ParticipantId(3), late).unwrap(),
        Collected::Excluded
    ));
    // Retry without the equivocator: 1, 2, 4.
    let p4 = request(&mut ws, &[1, 2, 4], statement(0xA), 4);
    let mut committed = None;
    for p in [1, 2, 4] {
        let s = sign(&mut ws, p, &p4).unwrap();
        if let Collected::Committed(c) = collector.add(ParticipantId(p), s).unwrap() {
            committed = Some(*c);
        }
    }
    let cert = committed.expect("the package without the equivocator commits");
    assert_eq!(cert.statement(), &statement(0xA));
}

#[test]
fn a_share_is_blamed_on_the_link_it_arrived_on() {
    let shares = run_dkg(3, 2, 105);
    let mut ws = witnesses(&shares);
    let req = request(&mut ws, &[1, 2], statement(1), 1);
    let share = sign(&mut ws, 1, &req).unwrap();
    let mut collector =
        ShareCollector::new(shares[0].public_key_package().clone(), shares[0].epoch());
    // Witness 1's share relayed by witness 2 counts as 2's, and fails.
    match collector.add(ParticipantId(2), share).unwrap_err() {
        Error::ProtocolViolation {
            participant,
            violation: Violation::InvalidSignatureShare,
        } => assert_eq!(participant, ParticipantId(2)),
        other => panic!("expected 2 blamed, got {other}"),
    }
}

use aura_protocols::witness::{choose_package, FallbackProposal};
use std::collections::BTreeSet;

/// Each witness's fallback proposal for `attempt`: the statement it holds
/// and a fresh nonce.
fn propose(
    ws: &mut Witnesses,
    who: &[u16],
    statement_of: impl Fn(u16) -> CommitStatement,
    attempt: u32,
) -> BTreeMap<ParticipantId, FallbackProposal> {
    let mut r = rng(u64::from(attempt) + 50);
    who.iter()
        .map(|p| {
            let w = ws.get_mut(p).unwrap();
            let nonce = w.precommit(1, &mut r).unwrap()[0];
            let proposal = FallbackProposal {
                attempt,
                statement: Some(statement_of(*p)),
                epoch: w.share().epoch(),
                nonce,
                commit: None,
                evidence: Vec::new(),
            };
            (ParticipantId(*p), proposal)
        })
        .collect()
}

/// Run one fallback attempt: every live witness derives the package from
/// the proposals, the named live signers sign, every live witness collects.
/// Returns the certificate each live witness ends with.
fn attempt(
    ws: &mut Witnesses,
    shares: &[AuthorityKeyShare],
    proposals: &BTreeMap<ParticipantId, FallbackProposal>,
    live: &[u16],
    attempt: u32,
) -> BTreeMap<u16, Option<aura_protocols::signing::CommitCertificate>> {
    let epoch = shares[0].epoch();
    let packages: Vec<_> = live
        .iter()
        .map(|_| choose_package(attempt, proposals, &BTreeSet::new(), 3, epoch))
        .collect();
    assert!(
        packages.windows(2).all(|w| w[0] == w[1]),
        "witnesses chose different packages"
    );
    let package = packages[0].clone().unwrap();
    let votes: Vec<_> = live
        .iter()
        .filter(|p| package.signing.signers.contains_key(&ParticipantId(**p)))
        .map(|p| (*p, sign(ws, *p, &package).unwrap()))
        .collect();
    live.iter()
        .map(|me| {
            let mut c = ShareCollector::new(shares[0].public_key_package().clone(), epoch);
            let mut cert = None;
            for (p, v) in &votes {
                if let Collected::Committed(done) = c.add(ParticipantId(*p), v.clone()).unwrap() {
                    cert = Some(*done);
                }
            }
            (*me, cert)
        })
        .collect()
}

/// The fast path was split: witnesses 1–2 hold the initiator's request A,
/// 3–5 a conflicting request B. The fallback's deterministic choice makes
/// every witness pick the same package (B, most support) and all commit
/// the same certificate: not each its own first `t` proposals.
#[test]
fn fallback_converges_on_one_package_from_split_views() {
    let shares = run_dkg(5, 3, 131);
    let mut ws = witnesses(&shares);
    let live = [1, 2, 3, 4, 5];
    let proposals = propose(
        &mut ws,
        &live,
        |p| statement(if p <= 2 { 0xA } else { 0xB }),
        0,
    );
    let outcome = attempt(&mut ws, &shares, &proposals, &live, 0);
    let certs: BTreeSet<_> = outcome
        .values()
        .map(|c| {
            c.as_ref()
                .expect("every witness commits")
                .statement()
                .operation
        })
        .collect();
    assert_eq!(certs, [[0xB; 32]].into_iter().collect());
}

/// A signer crashes after proposing: attempt 0 stalls (nobody holds a
/// certificate); attempt 1 rotates the signers past it and commits.
#[test]
fn fallback_retry_rotates_past_a_stalled_signer() {
    let shares = run_dkg(5, 3, 132);
    let mut ws = witnesses(&shares);
    let everyone = [1, 2, 3, 4, 5];
    let proposals = propose(&mut ws, &everyone, |_| statement(0xA), 0);
    let package = choose_package(0, &proposals, &BTreeSet::new(), 3, shares[0].epoch()).unwrap();
    assert!(package.signing.signers.contains_key(&ParticipantId(2)));
    let live = [1, 3, 4, 5];
    let stalled = attempt(&mut ws, &shares, &proposals, &live, 0);
    assert!(stalled.values().all(Option::is_none));
    // Attempt 1: the crashed witness no longer proposes.
    let proposals = propose(&mut ws, &live, |_| statement(0xA), 1);
    let done = attempt(&mut ws, &shares, &proposals, &live, 1);
    assert!(done
        .values()
        .all(|c| c.as_ref().is_some_and(|c| c.statement() == &statement(0xA))));
}

#[test]
fn package_choice_skips_equivocators_other_attempts_and_ties_deterministically() {
    let shares = run_dkg(5, 3, 133);
    let mut ws = witnesses(&shares);
    let epoch = shares[0].epoch();
    // Two statements with equal support: the smaller one wins.
    let tie = propose(
        &mut ws,
        &[1, 2, 3, 4],
        |p| statement(if p % 2 == 0 { 0xA } else { 0xB }),
        0,
    );
    let chosen = choose_package(0, &tie, &BTreeSet::new(), 2, epoch).unwrap();
    assert_eq!(chosen.statement, statement(0xA));
    assert_eq!(
        chosen
            .signing
            .signers
            .keys()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        [2, 4]
    );
    // Below the threshold nothing is chosen.
    assert!(choose_package(0, &tie, &BTreeSet::new(), 3, epoch).is_none());
    let mut more = tie.clone();
    more.extend(propose(&mut ws, &[5], |_| statement(0xB), 0));
    assert_eq!(
        choose_package(0, &more, &BTreeSet::new(), 3, epoch)
            .unwrap()
            .statement,
        statement(0xB)
    );
    // An excluded equivocator's proposal does not count.
    let excluded: BTreeSet<_> = [ParticipantId(5)].into_iter().collect();
    assert!(choose_package(0, &more, &excluded, 3, epoch).is_none());
    // Proposals of another attempt do not count.
    assert!(choose_package(1, &more, &BTreeSet::new(), 3, epoch).is_none());
}
