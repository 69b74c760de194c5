//! Differential test of projection against the model checker: random global
//! protocols (messages, broadcasts, gathers with and without quorum,
//! exchanges, choices, recursion, `par`, `timeout` with a linked handler,
//! a parameter-sized family) are compiled; whenever the compiler accepts
//! one, its projections must verify. A failure is a projection bug: keep
//! the shrunk source as a regression (`tests/data/verify/` once fixed,
//! `tests/verify_regressions.rs` while open).
//!
//! Cases: 256 by default; `PROPTEST_CASES=10000 cargo test --release -p
//! choreo-lang --test verify_differential` for a long run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use choreo_lang::driver::{compile, Source};
use choreo_lang::verify::{Verdict, VerifyOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROLES: [&str; 3] = ["A", "B", "C"];

#[derive(Clone, Debug)]
enum S {
    Msg(usize, usize, usize),
    Bcast(usize, usize),
    Gather(usize, usize, bool),
    Exch(usize, bool),
    Choice(usize, usize, Vec<Vec<S>>),
    Rec(usize, usize, Vec<S>),
    Par(Vec<S>, Vec<S>),
    Timeout(Vec<S>),
}

fn leaf() -> impl Strategy<Value = S> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..4usize).prop_map(|(a, b, l)| S::Msg(a, b, l)),
        1 => (0..3usize, 0..4usize).prop_map(|(a, l)| S::Bcast(a, l)),
        1 => (0..3usize, 0..4usize, any::<bool>()).prop_map(|(a, l, q)| S::Gather(a, l, q)),
        1 => (0..4usize, any::<bool>()).prop_map(|(l, q)| S::Exch(l, q)),
    ]
}

fn stmt() -> impl Strategy<Value = S> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        let block = prop::collection::vec(inner, 0..3);
        prop_oneof![
            2 => (0..3usize, 0..3usize, prop::collection::vec(block.clone(), 2..4))
                .prop_map(|(c, t, bs)| S::Choice(c, t, bs)),
            1 => (0..3usize, 0..3usize, block.clone()).prop_map(|(c, t, b)| S::Rec(c, t, b)),
            1 => (block.clone(), block.clone()).prop_map(|(a, b)| S::Par(a, b)),
            1 => block.prop_map(S::Timeout),
        ]
    })
}

struct Gen {
    out: String,
    depth: usize,
    counter: usize,
}

impl Gen {
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn other(a: usize, b: usize) -> usize {
        if a == b {
            (b + 1) % 3
        } else {
            b
        }
    }

    /// Renders a block; a `timeout` ends it (it must be last).
    fn block(&mut self, stmts: &[S]) {
        for s in stmts {
            self.stmt(s);
            if matches!(s, S::Timeout(_)) {
                break;
            }
        }
    }

    fn stmt(&mut self, s: &S) {
        match s {
            S::Msg(a, b, l) => {
                let b = Self::other(*a, *b);
                self.line(&format!("{} -> {} : L{l};", ROLES[*a], ROLES[b]));
            }
            S::Bcast(a, l) => self.line(&format!("{} -> W[*] : L{l};", ROLES[*a])),
            S::Gather(a, l, q) => self.line(&format!(
                "W[*] -> {} : L{l}{};",
                ROLES[*a],
                if *q { " quorum q" } else { "" }
            )),
            S::Exch(l, q) => self.line(&format!(
                "W[*] -> W[*] : L{l}{};",
                if *q { " quorum q" } else { "" }
            )),
            S::Choice(c, t, branches) => {
                self.line(&format!("choice at {} {{", ROLES[*c]));
                self.depth += 1;
                for (i, b) in branches.iter().enumerate() {
                    self.line(&format!("Br{i} => {{"));
                    self.depth += 1;
                    let t = Self::other(*c, *t);
                    self.line(&format!("{} -> {} : Pick{i};", ROLES[*c], ROLES[t]));
                    self.block(b);
                    self.depth -= 1;
                    self.line("}");
                }
                self.depth -= 1;
                self.line("}");
            }
            S::Rec(c, t, body) => {
                self.counter += 1;
                let name = format!("R{}", self.counter);
                let t = Self::other(*c, *t);
                self.line(&format!("rec {name} {{"));
                self.depth += 1;
                self.line(&format!("choice at {} {{", ROLES[*c]));
                self.depth += 1;
                self.line("Again => {");
                self.depth += 1;
                self.line(&format!("{} -> {} : Again;", ROLES[*c], ROLES[t]));
                let body: Vec<S> = body
                    .iter()
                    .filter(|s| !matches!(s, S::Timeout(_)))
                    .cloned()
                    .collect();
                self.block(&body);
                self.line(&format!("continue {name};"));
                self.depth -= 1;
                self.line("}");
                self.line("Done => {");
                self.depth += 1;
                self.line(&format!("{} -> {} : Done;", ROLES[*c], ROLES[t]));
                self.depth -= 1;
                self.line("}");
                self.depth -= 1;
                self.line("}");
                self.depth -= 1;
                self.line("}");
            }
            S::Par(a, b) => {
                self.line("par {");
                self.depth += 1;
                self.block(a);
                self.depth -= 1;
                self.line("} and {");
                self.depth += 1;
                self.block(b);
                self.depth -= 1;
                self.line("}");
            }
            S::Timeout(body) if self.depth > 1 => {
                // Timeouts only at the end of the protocol (see below):
                // elsewhere the body stands alone.
                let body: Vec<S> = body
                    .iter()
                    .filter(|s| !matches!(s, S::Timeout(_)))
                    .cloned()
                    .collect();
                self.block(&body);
            }
            S::Timeout(body) => {
                // Only as the last statement of the protocol, not nested:
                // a participant that finished a body and moved on (to a
                // later statement, or into a `link`) cannot answer the
                // handler, which the language contract §3.8 leaves open and the
                // compiler accepts; see verify_regressions.rs.
                self.line("timeout 1s {");
                self.depth += 1;
                let inner: Vec<S> = body
                    .iter()
                    .filter(|s| !matches!(s, S::Timeout(_)))
                    .cloned()
                    .collect();
                self.block(&inner);
                self.depth -= 1;
                self.line("} else {");
                self.depth += 1;
                self.line(if body.len() % 2 == 0 {
                    "link Sub(A, W);"
                } else {
                    "W[*] -> W[*] : Abort;"
                });
                self.depth -= 1;
                self.line("}");
            }
        }
    }
}

/// The source text of a random protocol `P(n, q)` (plus the linked `Sub`).
fn source(stmts: &[S]) -> String {
    let mut g = Gen {
        out: String::from("protocol P(n, q) {\n    roles A, B, C, W[n];\n"),
        depth: 1,
        counter: 0,
    };
    g.block(stmts);
    g.out
        .push_str("}\n\nprotocol Sub(m) {\n    roles X, V[m];\n    X -> V[*] : Z;\n}\n");
    g.out
}

static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// `Err` with the source and the report when an accepted protocol fails.
fn check(text: &str) -> Result<bool, String> {
    let comp = compile(vec![Source::from_path_text("random.choreo", text)]);
    if comp.has_errors() {
        return Ok(false);
    }
    let options = VerifyOptions {
        max_states: 30_000,
        ..VerifyOptions::default()
    };
    for report in comp.verify(None, &options) {
        if let Verdict::Violation(_) = report.verdict {
            return Err(format!("{text}\n{}", report.render_text()));
        }
    }
    Ok(true)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        // Shrunk failures are kept as data files under tests/data/verify/.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn accepted_random_protocols_verify(stmts in prop::collection::vec(stmt(), 1..5)) {
        let text = source(&stmts);
        let total = TOTAL.fetch_add(1, Ordering::Relaxed) + 1;
        match check(&text) {
            Ok(accepted) => {
                if accepted {
                    ACCEPTED.fetch_add(1, Ordering::Relaxed);
                }
                if total == cases() as usize {
                    eprintln!(
                        "{total} random protocols, {} accepted and verified",
                        ACCEPTED.load(Ordering::Relaxed)
                    );
                }
            }
            Err(failure) => prop_assert!(false, "projection accepted an unsafe protocol:\n{}", failure),
        }
    }
}

/// The generator is only useful if the compiler accepts a fair share of
/// its protocols; this guards against a generator (or a compiler change)
/// that makes the differential test vacuous.
#[test]
fn generator_produces_accepted_protocols() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(stmt(), 1..5);
    let mut accepted = 0;
    for _ in 0..200 {
        let stmts = strategy.new_tree(&mut runner).unwrap().current();
        if check(&source(&stmts)).unwrap_or(true) {
            accepted += 1;
        }
    }
    assert!(
        accepted >= 20,
        "only {accepted} of 200 random protocols accepted"
    );
    eprintln!("{accepted} of 200 random protocols accepted");
}
