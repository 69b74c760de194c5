//! The redb signing record keeps a witness from signing a second result
//! for one (consensus id, prestate), also after the node restarts and
//! reopens the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use aura_node::record::RedbSigningRecord;
use aura_node::sim::dkg;
use aura_protocols::signing::{CommitStatement, SigningRequest};
use aura_protocols::witness::{ConsensusRequest, MemorySigningRecord, Refusal, Witness};
use aura_protocols::Error;
use choreo_runtime::sim::{Sim, SimConfig};
use rand::SeedableRng;

#[test]
fn a_witness_refuses_a_second_operation_for_one_prestate_after_a_restart() {
    let mut sim = Sim::new(3, SimConfig::default());
    aura_node::sim::add_nodes(&mut sim, 3);
    let config = dkg::committee(&sim, 3, 2, [9; 32]).unwrap();
    let tasks = dkg::spawn_dkg(&mut sim, &config, 3).unwrap();
    sim.run().unwrap();
    let shares: Vec<_> = tasks.iter().map(|t| t.take().unwrap().unwrap()).collect();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing-record.redb");

    let statement = |op: u8| CommitStatement {
        consensus_id: [1; 32],
        prestate: [2; 32],
        operation: [op; 32],
    };
    // A package of two signers (the threshold): this witness and another.
    let mut other = Witness::new(shares[1].clone(), MemorySigningRecord::default());
    let mut request =
        |w: &mut Witness<RedbSigningRecord>, rng: &mut rand_chacha::ChaCha20Rng, op| {
            let nonce = w.precommit(1, rng).unwrap()[0];
            let theirs = other.precommit(1, rng).unwrap()[0];
            let s = statement(op);
            ConsensusRequest {
                statement: s,
                signing: SigningRequest {
                    epoch: shares[0].epoch(),
                    message: s.message(),
                    signers: BTreeMap::from([
                        (shares[0].participant(), nonce),
                        (shares[1].participant(), theirs),
                    ]),
                },
            }
        };

    let mut w = Witness::new(shares[0].clone(), RedbSigningRecord::open(&path).unwrap());
    let first = request(&mut w, &mut rng, 0xA);
    w.sign(&first, &[2; 32], &mut rng).unwrap();
    drop(w);

    // Restart: a new witness over the reopened file.
    let mut w = Witness::new(shares[0].clone(), RedbSigningRecord::open(&path).unwrap());
    let second = request(&mut w, &mut rng, 0xB);
    match w.sign(&second, &[2; 32], &mut rng) {
        Err(Error::Refused(Refusal::AlreadySigned)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The same operation again is fine (a retransmitted request).
    let again = request(&mut w, &mut rng, 0xA);
    w.sign(&again, &[2; 32], &mut rng).unwrap();
}
