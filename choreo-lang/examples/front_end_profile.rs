#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]
//! Runs the front end over `sequence(k)` (the compile bench's family) many
//! times, for profilers that want one process doing one thing:
//! `perf stat`, `perf record`, `strace -c`, `valgrind --tool=callgrind`.
//!
//! `front_end_profile compile N [K]`: `compile()` N times, as the bench does
//! (clone of the text, compile, drop). `front_end_profile phases N [K]`:
//! lex, parse, check, project and the drops, each timed on its own and
//! reported as a median per phase (a rough split; the bench is the figure).
//! `front_end_profile sizes`: the sizes of the big per-statement types.
//! K (default 10,000) is the number of messages.

// The compile bench's input generator, so both measure the same text.
#[path = "../benches/inputs/mod.rs"]
mod inputs;

use choreo_lang::{check, compile, project, syntax, FileId, Source};
use inputs::sequence;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("compile");
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let k: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let text = sequence(k);
    match mode {
        "compile" => {
            for _ in 0..n {
                let comp = compile(vec![Source::from_path_text(
                    "bench.choreo",
                    black_box(text.clone()),
                )]);
                assert!(!comp.has_errors());
                black_box(comp);
            }
        }
        "phases" => {
            let names = [
                "lex",
                "parse",
                "check",
                "project",
                "drop locals",
                "drop program",
                "drop ast",
            ];
            let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
            for _ in 0..n {
                let mut lap = Instant::now();
                let mut mark = |i: usize, times: &mut Vec<Vec<Duration>>| {
                    let now = Instant::now();
                    times[i].push(now - lap);
                    lap = now;
                };
                black_box(syntax::lexer::lex(black_box(&text), FileId(0)));
                mark(0, &mut times);
                let (ast, _) = syntax::parse_source(black_box(&text), FileId(0));
                mark(1, &mut times);
                let files = vec![check::ParsedFile {
                    file: FileId(0),
                    default_module: "bench".into(),
                    ast,
                }];
                let (program, diagnostics) = check::check_program(&files);
                assert!(diagnostics.is_empty());
                mark(2, &mut times);
                let protocol = program.protocols().next().unwrap();
                let locals = project::project_protocol(&program, protocol).unwrap();
                mark(3, &mut times);
                drop(black_box(locals));
                mark(4, &mut times);
                drop(black_box(program));
                mark(5, &mut times);
                drop(black_box(files));
                mark(6, &mut times);
            }
            for (name, mut t) in names.iter().zip(times) {
                t.sort();
                println!("{name:>13}: {:?}", t[t.len() / 2]);
            }
        }
        "sizes" => {
            use std::mem::size_of;
            println!(
                "token+span {}",
                size_of::<(syntax::token::Token, choreo_lang::Span)>()
            );
            println!("ast::Stmt {}", size_of::<choreo_lang::ast::Stmt>());
            println!("GStmt {}", size_of::<choreo_lang::global::GStmt>());
            println!("GMessage {}", size_of::<choreo_lang::global::GMessage>());
            println!(
                "Participant {}",
                size_of::<choreo_lang::global::Participant>()
            );
            println!("Payload {}", size_of::<choreo_lang::global::Payload>());
            println!("RustType {}", size_of::<choreo_lang::global::RustType>());
            println!(
                "LocalAction {}",
                size_of::<choreo_lang::local::LocalAction>()
            );
        }
        other => panic!("unknown mode {other}: compile | phases | sizes"),
    }
}
