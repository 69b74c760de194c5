//! Journal sync over generated endpoints, in memory: what moves, how many
//! rounds, and what a hostile peer cannot do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Mutex;

use aura_protocols::journal_sync::{self, initiate, respond, Params, SyncConfig, SyncError};
use choreo_runtime::journal::sync::{BucketDigest, FactBatch, Summary};
use choreo_runtime::journal::{
    author_of, Authorship, Fact, FactBody, FactError, Journal, JournalError, MemoryStore, ScopeId,
    SigningKey, VerifiedFact,
};
use choreo_runtime::SessionId;
use serde::{Deserialize, Serialize};

const SCOPE: ScopeId = ScopeId([4; 32]);

#[derive(Serialize, Deserialize)]
struct Entry(u64, String);
impl FactBody for Entry {
    const KIND: &'static str = "test.entry";
    const VERSION: u16 = 1;
}

fn entry(device: u8, n: u64) -> VerifiedFact {
    let key = SigningKey::from_bytes(&[device; 32]);
    Fact::new(
        SCOPE,
        author_of(&key),
        &Entry(n, format!("entry {n} by {device}")),
    )
    .unwrap()
    .sign(&key)
    .unwrap()
}

fn journal_with(facts: impl IntoIterator<Item = VerifiedFact>) -> Mutex<Journal> {
    let mut j = Journal::open(SCOPE, MemoryStore::new()).unwrap();
    j.append_all(facts.into_iter().collect()).unwrap();
    Mutex::new(j)
}

fn ids(j: &Mutex<Journal>) -> Vec<String> {
    j.lock()
        .unwrap()
        .facts()
        .ids()
        .map(|i| i.to_hex())
        .collect()
}

async fn sync(
    a: &Mutex<Journal>,
    b: &Mutex<Journal>,
) -> (journal_sync::SyncReport, journal_sync::SyncReport) {
    let mut s = journal_sync::sessions(&Params {}, SessionId([1; 16])).unwrap();
    let (sb, sa) = (s.pop().unwrap(), s.pop().unwrap());
    let (ra, rb) = tokio::join!(initiate(sa, a, SyncConfig::default()), respond(sb, b));
    (ra.unwrap(), rb.unwrap())
}

#[tokio::test]
async fn two_replicas_exchange_exactly_what_each_lacks() {
    let a = journal_with((0..30).map(|n| entry(1, n)));
    let b = journal_with(
        (20..40)
            .map(|n| entry(1, n))
            .chain((0..5).map(|n| entry(2, n))),
    );
    let (ra, rb) = sync(&a, &b).await;
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.lock().unwrap().facts().len(), 45);
    assert_eq!((ra.sent, ra.received), (20, 15));
    assert_eq!((rb.sent, rb.received), (15, 20));
    assert_eq!(ra.rounds, 1);
    // A second sync finds nothing to move.
    let (ra, _) = sync(&a, &b).await;
    assert_eq!((ra.sent, ra.received), (0, 0));
}

#[tokio::test]
async fn more_facts_than_one_batch_holds_take_several_rounds() {
    let a = journal_with((0..2500).map(|n| entry(1, n)));
    let b = journal_with([]);
    let (ra, rb) = sync(&a, &b).await;
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(rb.received, 2500);
    assert_eq!(ra.rounds, 3, "1024 facts per batch: 3 rounds for 2500");
}

#[tokio::test]
async fn a_forged_fact_from_a_peer_is_refused_and_nothing_of_its_batch_is_stored() {
    let a = journal_with([entry(1, 1)]);
    let mut s = journal_sync::sessions(&Params {}, SessionId([2; 16])).unwrap();
    let (sb, sa) = (s.pop().unwrap(), s.pop().unwrap());
    // A hostile responder: follows the protocol, but its batch holds one
    // good fact and one whose content was changed after signing.
    let hostile = async move {
        use journal_sync::labels::*;
        let st = journal_sync::responder::open(sb, Params {})?;
        let (_, st) = st.recv().await?;
        let st = st.send(Summary(Default::default())).await?;
        let (_, st) = st.recv().await?;
        let st = st.send(Ids(Default::default())).await?;
        let (_, st) = st.recv().await?;
        let good = entry(2, 1).signed().clone();
        let mut forged = entry(2, 2).signed().clone();
        let at = forged.content.len() - 3;
        forged.content[at] ^= 1;
        let st = st
            .send(Facts(FactBatch {
                facts: vec![good, forged],
                more: false,
            }))
            .await?;
        let _ = st.branch().await;
        Ok::<_, choreo_runtime::Error>(())
    };
    let (ra, _) = tokio::join!(initiate(sa, &a, SyncConfig::default()), hostile);
    let err = ra.unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Journal(JournalError::Refused(FactError::BadSignature { .. }))
        ),
        "{err}"
    );
    assert_eq!(
        a.lock().unwrap().facts().len(),
        1,
        "nothing of the forged batch is stored"
    );
}

#[tokio::test]
async fn an_enormous_summary_is_refused_before_use() {
    let b = journal_with([entry(1, 1)]);
    let mut s = journal_sync::sessions(&Params {}, SessionId([3; 16])).unwrap();
    let (sb, sa) = (s.pop().unwrap(), s.pop().unwrap());
    let hostile = async move {
        use journal_sync::labels::*;
        let st = journal_sync::initiator::open(sa, Params {})?;
        let huge = Summary(choreo_runtime::journal::sync::Summary {
            buckets: (0..100_000u32)
                .map(|i| BucketDigest {
                    bucket: (i % 256) as u8,
                    count: i,
                    digest: [0; 16],
                })
                .collect(),
        });
        let st = st.send(huge).await?;
        let _ = st.recv().await;
        Ok::<_, choreo_runtime::Error>(())
    };
    let (rb, _) = tokio::join!(respond(sb, &b), hostile);
    let err = rb.unwrap_err();
    assert!(
        matches!(err, SyncError::Journal(JournalError::SyncViolation(_))),
        "{err}"
    );
    assert!(err.to_string().contains("100000 buckets"), "{err}");
    assert_eq!(b.lock().unwrap().facts().len(), 1);
}

#[tokio::test]
async fn a_summary_that_is_not_sorted_is_a_violation() {
    let s = Summary {
        buckets: vec![
            BucketDigest {
                bucket: 5,
                count: 1,
                digest: [0; 16],
            },
            BucketDigest {
                bucket: 5,
                count: 1,
                digest: [0; 16],
            },
        ],
    };
    assert!(matches!(s.validate(), Err(JournalError::SyncViolation(_))));
}

#[tokio::test]
async fn a_replica_refuses_facts_its_scope_does_not_let_their_author_write() {
    // Replica `a` admits every author and holds a fact by device 9; `b`'s
    // scope admits devices 1 and 2 only.
    let a = journal_with([entry(1, 1), entry(9, 2)]);
    let members = [1u8, 2].map(|d| author_of(&SigningKey::from_bytes(&[d; 32])));
    let mut b =
        Journal::open_with(SCOPE, Authorship::members(members), MemoryStore::new()).unwrap();
    b.append(entry(2, 3)).unwrap();
    let b = Mutex::new(b);
    let mut s = journal_sync::sessions(&Params {}, SessionId([4; 16])).unwrap();
    let (sb, sa) = (s.pop().unwrap(), s.pop().unwrap());
    let (_, rb) = tokio::join!(initiate(sa, &a, SyncConfig::default()), respond(sb, &b));
    let err = rb.unwrap_err();
    assert!(
        matches!(err, SyncError::Journal(JournalError::Unauthorised { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("not a member"), "{err}");
    assert_eq!(
        ids(&b),
        vec![entry(2, 3).id().to_hex()],
        "nothing of the batch with the outsider's fact is stored"
    );
}
