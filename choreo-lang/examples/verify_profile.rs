//! Instruction-count driver for the model checker (issue #8): compiles one
//! protocol file once and verifies it N times, so that under callgrind the
//! cost of one verification is (Ir at N = 21 − Ir at N = 1) / 20, without
//! the compilation or the process start.
//!
//! ```sh
//! cargo build --release -p choreo-lang --example verify_profile
//! valgrind --tool=callgrind target/release/examples/verify_profile \
//!   protocols/choreo/journal_sync.choreo 21
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use choreo_lang::driver::{compile_with, load_beside, Source};
use choreo_lang::verify::VerifyOptions;
use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: verify_profile FILE [N]");
    let n: usize = args.next().map_or(1, |s| s.parse().expect("N"));
    let text = std::fs::read_to_string(&path).expect("read the protocol file");
    let root = Source::from_path_text(path.clone(), text);
    let comp = compile_with(vec![root], &mut |module, user| {
        load_beside(module, user, &mut |p| std::fs::read_to_string(p).ok())
    });
    assert!(!comp.has_errors(), "{path} does not compile");
    let options = VerifyOptions::default();
    let mut states = 0;
    for _ in 0..n {
        let reports = black_box(&comp).verify(None, &options);
        states = reports.iter().map(|r| r.states_explored).sum::<u64>();
    }
    println!("{path}: {states} states per verification, {n} verifications");
}
