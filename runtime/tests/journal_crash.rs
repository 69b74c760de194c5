//! A process killed with SIGKILL while appending loses no append that
//! returned, tears none, and leaves a database that opens.
//!
//! The test re-runs its own binary as the child (selected by the
//! `CHOREO_JOURNAL_CRASH_CHILD` variable): the child appends facts in a
//! loop and prints each id after `append` returned; the parent kills it
//! after a number of appends, reopens the file and checks every printed id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "common/journal.rs"]
mod journal_common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use choreo_runtime::journal::{DurableStore, Journal};
use journal_common::{device, note, SCOPE};

const CHILD: &str = "CHOREO_JOURNAL_CRASH_CHILD";
const ROUNDS: u64 = 3;
const APPENDS_BEFORE_KILL: usize = 40;

fn child(path: &str, round: u64) -> ! {
    let mut journal = Journal::open(
        SCOPE,
        DurableStore::open(path.as_ref(), &device(1)).unwrap(),
    )
    .unwrap();
    let author = device(2);
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        // Bodies of varying size, some spanning several pages.
        let text = "x".repeat(((i * 997) % 9000) as usize);
        let fact = note(&author, round * 1_000_000 + i, &text);
        let id = fact.id();
        journal.append(fact).unwrap();
        writeln!(out, "appended {id}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn appends_that_returned_survive_sigkill() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (path, round) = spec.split_once('|').unwrap();
        child(path, round.parse().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    let mut acknowledged = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "appends_that_returned_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, format!("{}|{round}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < APPENDS_BEFORE_KILL {
            let line = lines.next().expect("the child stopped early").unwrap();
            if let Some(id) = line.strip_prefix("appended ") {
                acknowledged.push(id.to_owned());
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Ids printed before the kill landed are acknowledged appends too.
        for line in lines {
            if let Some(id) = line.unwrap().strip_prefix("appended ") {
                acknowledged.push(id.to_owned());
            }
        }
        // Reopen: the database opens, every stored fact verifies (load
        // re-verifies signatures and row keys: nothing torn), and every
        // acknowledged append is there.
        let journal = Journal::open(SCOPE, DurableStore::open(&path, &device(1)).unwrap()).unwrap();
        let stored: std::collections::BTreeSet<String> =
            journal.facts().ids().map(|id| id.to_hex()).collect();
        for id in &acknowledged {
            assert!(
                stored.contains(id),
                "round {round}: acknowledged fact {id} is missing after SIGKILL"
            );
        }
        eprintln!(
            "round {round}: {} acknowledged, {} stored",
            acknowledged.len(),
            stored.len()
        );
    }
}
