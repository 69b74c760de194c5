//! The journal in a few steps: sign facts, refuse a forged one and one
//! from a device the scope does not admit, append durably to an encrypted
//! redb file, reopen it, reduce the facts to state.
//!
//! ```text
//! cargo run --example journal
//! ```

use std::collections::BTreeMap;

use choreo_runtime::journal::{
    author_of, Authorship, DurableStore, Fact, FactBody, Journal, JournalError, Reducer, ScopeId,
    SignedFact, SigningKey, VerifiedFact,
};
use serde::{Deserialize, Serialize};

/// A fact payload: a device names itself.
#[derive(Debug, Serialize, Deserialize)]
struct DeviceName {
    name: String,
}

impl FactBody for DeviceName {
    const KIND: &'static str = "example.device-name";
    const VERSION: u16 = 1;
}

/// State: each author's name. Facts arrive in id order, so when an author
/// renamed itself twice the result is the same on every replica.
struct Names;

impl Reducer for Names {
    type State = BTreeMap<String, String>;
    fn initial(&self) -> Self::State {
        BTreeMap::new()
    }
    fn apply(&self, state: &mut Self::State, fact: &VerifiedFact) {
        if let Ok(body) = fact.body::<DeviceName>() {
            let author = format!("{:?}", fact.fact().author);
            state.insert(author, body.name);
        }
    }
}

fn main() -> Result<(), JournalError> {
    let scope = ScopeId([42; 32]);
    let node = SigningKey::from_bytes(&[1; 32]); // this node's identity key
    let laptop = SigningKey::from_bytes(&[2; 32]);
    let phone = SigningKey::from_bytes(&[3; 32]);

    let path = std::env::temp_dir().join(format!(
        "choreo-journal-example-{}.redb",
        std::process::id()
    ));
    // The scope's authorship policy: the laptop and the phone may author
    // facts here, nobody else.
    let members = || Authorship::members([author_of(&laptop), author_of(&phone)]);
    let mut journal = Journal::open_with(scope, members(), DurableStore::open(&path, &node)?)?;

    for (key, name) in [(&laptop, "laptop"), (&phone, "phone")] {
        let fact =
            Fact::new(scope, author_of(key), &DeviceName { name: name.into() })?.sign(key)?;
        println!("appended {} (new: {})", fact.id(), journal.append(fact)?);
    }

    // A fact whose content was changed after signing is refused at the door.
    let honest = Fact::new(
        scope,
        author_of(&phone),
        &DeviceName {
            name: "phone".into(),
        },
    )?
    .sign(&phone)?;
    let mut forged = honest.signed().clone();
    if let Some(byte) = forged.content.last_mut() {
        *byte ^= 1; // the last byte of the name
    }
    match journal.accept(SignedFact::new(forged.content, forged.signature)) {
        Err(e) => println!("forged fact refused: {e}"),
        Ok(_) => unreachable!("a forged fact must not verify"),
    }

    // A correctly signed fact from a device that is not a member of the
    // scope is refused too, and never stored.
    let stranger = SigningKey::from_bytes(&[4; 32]);
    let intruder = Fact::new(
        scope,
        author_of(&stranger),
        &DeviceName {
            name: "intruder".into(),
        },
    )?
    .sign(&stranger)?;
    match journal.append(intruder) {
        Err(e) => println!("stranger's fact refused: {e}"),
        Ok(_) => unreachable!("a non-member's fact must not enter"),
    }
    drop(journal);

    // Reopen: facts are read back, decrypted and verified again.
    let journal = Journal::open_with(scope, members(), DurableStore::open(&path, &node)?)?;
    println!("after reopening: {} facts", journal.facts().len());
    println!("reduced state: {:?}", journal.reduce(&Names));

    let file = std::fs::read(&path).map_err(|e| JournalError::Storage(e.to_string()))?;
    let leaked = file.windows(6).any(|w| w == b"laptop");
    println!("the word \"laptop\" appears in the database file: {leaked}");
    let _ = std::fs::remove_file(&path);
    Ok(())
}
