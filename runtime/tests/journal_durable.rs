//! The durable store: encryption at rest, damage detection, reopening.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "common/journal.rs"]
mod journal_common;

use choreo_runtime::journal::{DurableStore, Journal, JournalError, Store};
use journal_common::{device, note, notes, SCOPE};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

// The store's table, as documented in the book's journal chapter.
const FACTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("facts");

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn facts_survive_reopening_and_stay_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let node = device(1);
    let facts = notes(30);
    {
        let mut j = Journal::open(SCOPE, DurableStore::open(&path, &node).unwrap()).unwrap();
        assert_eq!(j.append_all(facts.clone()).unwrap(), 30);
    }
    let j = Journal::open(SCOPE, DurableStore::open(&path, &node).unwrap()).unwrap();
    assert_eq!(j.facts().len(), 30);
    for f in &facts {
        assert_eq!(j.facts().get(&f.id()), Some(f));
    }
}

#[test]
fn the_database_file_holds_no_plaintext_of_the_facts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let node = device(1);
    let marker = "PLAINTEXT-MARKER-the-quick-brown-fox-jumps";
    let facts: Vec<_> = (0..50)
        .map(|i| note(&device(2), i, &format!("{marker}-{i}")))
        .collect();
    {
        let mut j = Journal::open(SCOPE, DurableStore::open(&path, &node).unwrap()).unwrap();
        j.append_all(facts.clone()).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 50 * 100,
        "the file should hold the facts (it has {} bytes)",
        bytes.len()
    );
    assert!(
        !contains(&bytes, marker.as_bytes()),
        "body text found in the file"
    );
    assert!(
        !contains(&bytes, b"test.note"),
        "fact kind found in the file"
    );
    for f in &facts {
        assert!(
            !contains(&bytes, &f.id().0),
            "fact id (a content hash) found in the file"
        );
        assert!(
            !contains(&bytes, &f.signed().signature[..32]),
            "signature found in the file"
        );
        assert!(
            !contains(&bytes, &f.fact().author.0),
            "author key found in the file"
        );
        assert!(
            !contains(&bytes, &f.fact().body),
            "encoded body found in the file"
        );
    }
}

#[test]
fn another_node_secret_cannot_open_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    drop(DurableStore::open(&path, &device(1)).unwrap());
    let err = DurableStore::open(&path, &device(2)).unwrap_err();
    assert!(matches!(err, JournalError::WrongSecret), "{err}");
}

/// Rewrite every stored value with `damage`, through redb itself (as a
/// disk fault or an attacker with the file would).
fn damage_values(path: &std::path::Path, damage: impl Fn(&mut Vec<u8>)) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(FACTS).unwrap();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = t
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect();
        for (k, mut v) in rows {
            damage(&mut v);
            t.insert(&k[..], &v[..]).unwrap();
        }
    }
    txn.commit().unwrap();
}

fn raw_values(path: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let t = txn.open_table(FACTS).unwrap();
    t.iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

#[test]
fn a_corrupted_or_truncated_value_is_a_clear_error_and_changes_nothing() {
    let node = device(1);
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 4] = [
        ("flipped bit", |v| {
            let last = v.len() - 1;
            v[last / 2] ^= 0x20;
        }),
        ("truncated", |v| v.truncate(v.len() - 5)),
        ("cut to 10 bytes", |v| v.truncate(10)),
        ("emptied", |v| v.clear()),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.redb");
        {
            let mut store = DurableStore::open(&path, &node).unwrap();
            let f = note(&device(2), 1, "one");
            store.append(&[&f]).unwrap();
        }
        damage_values(&path, damage);
        let before = raw_values(&path);
        let store = DurableStore::open(&path, &node).unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupted { .. }),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("corrupted"), "{what}: {err}");
        let err = Journal::open(SCOPE, store).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupted { .. }),
            "{what}: {err}"
        );
        // Detecting damage rewrote nothing, and the database still opens
        // and takes appends (the damaged row stays for inspection).
        assert!(raw_values(&path) == before, "{what}: stored values changed");
        let mut store = DurableStore::open(&path, &node).unwrap();
        store.append(&[&note(&device(2), 2, "two")]).unwrap();
        assert_eq!(store.len().unwrap(), 2, "{what}");
    }
}

#[test]
fn a_value_moved_to_another_row_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let node = device(1);
    {
        let mut store = DurableStore::open(&path, &node).unwrap();
        let (a, b) = (note(&device(2), 1, "a"), note(&device(2), 2, "b"));
        store.append(&[&a, &b]).unwrap();
    }
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(FACTS).unwrap();
            let rows: Vec<(Vec<u8>, Vec<u8>)> = t
                .iter()
                .unwrap()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (k.value().to_vec(), v.value().to_vec())
                })
                .collect();
            // Swap the two values.
            t.insert(&rows[0].0[..], &rows[1].1[..]).unwrap();
            t.insert(&rows[1].0[..], &rows[0].1[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = DurableStore::open(&path, &node)
        .unwrap()
        .load()
        .unwrap_err();
    assert!(matches!(err, JournalError::Corrupted { .. }), "{err}");
}

#[test]
fn the_same_facts_offered_100k_times_do_not_grow_the_file() {
    // A million in the issue; 100,000 in CI (DEDUP_ROUNDS overrides).
    let rounds: usize = std::env::var("DEDUP_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let facts = notes(10);
    let mut j = Journal::open(SCOPE, DurableStore::open(&path, &device(1)).unwrap()).unwrap();
    j.append_all(facts.clone()).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    for i in 0..rounds {
        j.append(facts[i % 10].clone()).unwrap();
    }
    assert_eq!(j.facts().len(), 10);
    assert_eq!(j.store().len().unwrap(), 10);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
}
