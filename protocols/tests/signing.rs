#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use aura_protocols::signing::{self, NonceStore, SigningRequest, UnverifiedCertificate};
use aura_protocols::{Error, KeyEpoch, Usage};
use common::*;

#[test]
fn a_nonce_signs_at_most_once() {
    let shares = run_dkg(3, 2, 71);
    let mut r = rng(1);
    let mut stores: Vec<_> = shares.iter().map(NonceStore::new).collect();
    let pre: Vec<_> = shares
        .iter()
        .zip(stores.iter_mut())
        .map(|(s, st)| st.precommit(s, 1, &mut r).unwrap()[0])
        .collect();
    let request = SigningRequest {
        epoch: KeyEpoch(0),
        message: statement(1).message(),
        signers: [
            (shares[0].participant(), pre[0]),
            (shares[1].participant(), pre[1]),
        ]
        .into_iter()
        .collect(),
    };
    let first = stores[0].sign(&shares[0], &request).unwrap();
    let again = stores[0].sign(&shares[0], &request).unwrap_err();
    assert!(
        matches!(again, Error::Usage(Usage::NonceUnavailable { .. })),
        "{again}"
    );
    let second = stores[1].sign(&shares[1], &request).unwrap();
    let shares_map: BTreeMap<_, _> = [
        (shares[0].participant(), first),
        (shares[1].participant(), second),
    ]
    .into_iter()
    .collect();
    signing::aggregate(
        shares[0].public_key_package(),
        &request,
        statement(1),
        &shares_map,
    )
    .unwrap();
    assert!(stores[0].is_empty());
}

#[test]
fn epoch_change_drops_precommitted_nonces() {
    let shares = run_dkg(3, 2, 72);
    let mut r = rng(2);
    let mut store = NonceStore::new(&shares[0]);
    let pre = store.precommit(&shares[0], 4, &mut r).unwrap();
    assert_eq!(store.len(), 4);
    store.advance_epoch(KeyEpoch(1));
    assert!(store.is_empty());
    let request = SigningRequest {
        epoch: KeyEpoch(0),
        message: b"m".to_vec(),
        signers: [(shares[0].participant(), pre[0])].into_iter().collect(),
    };
    let err = store.sign(&shares[0], &request).unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::NonceUnavailable { .. })),
        "{err}"
    );
}

#[test]
fn a_request_for_another_epoch_is_refused() {
    let shares = run_dkg(3, 2, 73);
    let mut store = NonceStore::new(&shares[0]);
    let pre = store.precommit(&shares[0], 1, &mut rng(3)).unwrap();
    let request = SigningRequest {
        epoch: KeyEpoch(7),
        message: b"m".to_vec(),
        signers: [(shares[0].participant(), pre[0])].into_iter().collect(),
    };
    let err = store.sign(&shares[0], &request).unwrap_err();
    assert!(
        matches!(err, Error::Usage(Usage::EpochMismatch { .. })),
        "{err}"
    );
    // The refused request did not burn the nonce.
    assert_eq!(store.len(), 1);
}

#[test]
fn certificates_only_exist_for_verified_signatures() {
    let shares = run_dkg(3, 2, 74);
    let cert = sign(&[&shares[0], &shares[2]], &shares[0], statement(8), 4).unwrap();
    let key = shares[0].group_key();
    let wire: UnverifiedCertificate = cert.to_unverified().unwrap();
    assert_eq!(wire.verify(&key).unwrap(), cert);
    // Another statement with the same signature does not verify.
    let mut forged = wire.clone();
    forged.statement.operation[0] ^= 1;
    assert!(forged.verify(&key).is_err());
    // A flipped signature bit does not verify.
    let mut flipped = wire;
    flipped.signature[40] ^= 1;
    assert!(flipped.verify(&key).is_err());
    // Another authority's key does not verify it.
    let other = run_dkg(3, 2, 75);
    assert!(cert
        .to_unverified()
        .unwrap()
        .verify(&other[0].group_key())
        .is_err());
}
