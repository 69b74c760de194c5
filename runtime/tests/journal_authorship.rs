//! The authorship policy at the journal's door: which identities may author
//! which kinds of fact in a scope. A fact whose signature verifies but whose
//! author the policy does not admit is refused with a clear error and never
//! stored — appended locally, received in a sync batch, or found in a store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "common/journal.rs"]
mod journal_common;

use choreo_runtime::journal::sync::FactBatch;
use choreo_runtime::journal::{
    author_of, AuthorKey, Authorship, DurableStore, Fact, FactBody, Journal, JournalError,
    MemoryStore, ScopeMember, VerifiedFact,
};
use journal_common::{device, note, FrostGroup, SCOPE};
use serde::{Deserialize, Serialize};

const COMMIT: &str = "test.commit";

/// A fact kind only the scope's threshold group may author.
#[derive(Serialize, Deserialize)]
struct Commit(u64);
impl FactBody for Commit {
    const KIND: &'static str = COMMIT;
    const VERSION: u16 = 1;
}

/// Devices 1 and 2 are members; `group` is the scope's FROST group key;
/// `test.commit` needs the group's threshold signature.
fn policy(group: &FrostGroup) -> Authorship {
    Authorship::members([author_of(&device(1)), author_of(&device(2))])
        .group(group.key())
        .group_only(COMMIT)
}

fn by_group<B: FactBody>(group: &mut FrostGroup, body: &B) -> VerifiedFact {
    group.sign(&Fact::new(SCOPE, group.key(), body).unwrap())
}

fn rule_broken(e: JournalError) -> (String, AuthorKey, &'static str) {
    match e {
        JournalError::Unauthorised {
            kind, author, rule, ..
        } => (kind, author, rule),
        other => panic!("expected Unauthorised, got {other}"),
    }
}

#[test]
fn a_members_fact_enters_and_an_outsiders_is_refused_and_never_stored() {
    let group = FrostGroup::new(1);
    let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
    assert!(j.append(note(&device(1), 1, "member")).unwrap());

    let outsider = note(&device(9), 2, "outsider");
    let err = j.append(outsider.clone()).unwrap_err();
    let message = err.to_string();
    let (kind, author, rule) = rule_broken(err);
    assert_eq!(
        (kind.as_str(), author),
        ("test.note", author_of(&device(9)))
    );
    assert!(rule.contains("not a member"), "{rule}");
    assert!(message.contains("refused, not stored"), "{message}");
    assert_eq!(j.facts().len(), 1);
    assert!(!j.facts().contains(&outsider.id()));
    assert_eq!(
        j.store().load().unwrap().len(),
        1,
        "nothing reached the store"
    );

    // The door for outside bytes says the same.
    let err = j.accept(outsider.signed().clone()).unwrap_err();
    assert!(matches!(err, JournalError::Unauthorised { .. }), "{err}");
    assert_eq!(j.facts().len(), 1);
}

#[test]
fn a_commit_fact_needs_the_groups_threshold_signature() {
    let mut group = FrostGroup::new(2);
    let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
    let by_member = Fact::new(SCOPE, author_of(&device(1)), &Commit(7))
        .unwrap()
        .sign(&device(1))
        .unwrap();
    let (_, _, rule) = rule_broken(j.append(by_member).unwrap_err());
    assert!(rule.contains("threshold signature"), "{rule}");
    assert!(j.facts().is_empty());
    // Two of the group's three shares sign it: admitted.
    assert!(j.append(by_group(&mut group, &Commit(7))).unwrap());
}

#[test]
fn membership_comes_only_from_the_group_and_does_not_depend_on_order() {
    let mut group = FrostGroup::new(3);
    let newcomer = device(3);
    let member = ScopeMember {
        device: author_of(&newcomer),
    };
    let grant = by_group(&mut group, &member);
    let by_newcomer = note(&newcomer, 5, "newcomer");

    // A member cannot co-opt a device: only the group grants membership.
    let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
    let self_granted = Fact::new(SCOPE, author_of(&device(1)), &member)
        .unwrap()
        .sign(&device(1))
        .unwrap();
    let (_, _, rule) = rule_broken(j.append(self_granted).unwrap_err());
    assert!(rule.contains("membership"), "{rule}");
    assert!(matches!(
        j.append(by_newcomer.clone()),
        Err(JournalError::Unauthorised { .. })
    ));

    // The group's grant admits the newcomer, whether it comes before,
    // after or in the same batch as the newcomer's own facts.
    for batch in [
        vec![grant.clone(), by_newcomer.clone()],
        vec![by_newcomer.clone(), grant.clone()],
    ] {
        let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
        assert_eq!(j.append_all(batch).unwrap(), 2);
    }
    let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
    j.append(grant).unwrap();
    assert!(j.append(by_newcomer).unwrap());
}

#[test]
fn a_sync_batch_with_one_unauthorised_fact_is_refused_whole() {
    let group = FrostGroup::new(4);
    let mut j = Journal::open_with(SCOPE, policy(&group), MemoryStore::new()).unwrap();
    let batch = FactBatch {
        facts: vec![
            note(&device(1), 1, "member").signed().clone(),
            note(&device(9), 2, "outsider").signed().clone(),
        ],
        more: false,
    };
    let err = j.receive(batch).unwrap_err();
    assert!(matches!(err, JournalError::Unauthorised { .. }), "{err}");
    assert!(j.facts().is_empty(), "nothing of the batch was stored");
}

#[test]
fn a_store_holding_an_unauthorised_fact_does_not_open_under_the_policy() {
    let group = FrostGroup::new(5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let node = device(1);
    {
        // Written with no policy (`Journal::open` admits every author).
        let mut j = Journal::open(SCOPE, DurableStore::open(&path, &node).unwrap()).unwrap();
        j.append(note(&device(9), 1, "outsider")).unwrap();
    }
    let store = DurableStore::open(&path, &node).unwrap();
    let err = Journal::open_with(SCOPE, policy(&group), store).unwrap_err();
    assert!(matches!(err, JournalError::Unauthorised { .. }), "{err}");
    let j = Journal::open(SCOPE, DurableStore::open(&path, &node).unwrap()).unwrap();
    assert_eq!(j.facts().len(), 1, "the file is untouched");
}
