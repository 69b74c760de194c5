#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Compiler time (parse + check + project) on generated protocol families
//! of growing size. Each family is reported per size so the growth is
//! visible; the floor is lexing alone on the same text, measured in the
//! same run, so the ratio `compile / lex` says how much the later phases
//! cost on top of reading the input.

mod inputs;

use choreo_lang::{compile, Source};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use inputs::sequence;
use std::hint::black_box;

/// `for i in Node { Node[i] -> Node[i+1] : Token(u64); }` over `n` members.
fn ring(n: usize) -> String {
    format!("protocol Ring {{\n    roles Node[{n}];\n    for i in Node {{\n        Node[i] -> Node[i+1] : Token(u64);\n    }}\n}}\n")
}

/// Every ordered pair of `n` single roles exchanges one message.
fn mesh(n: usize) -> String {
    let roles: Vec<String> = (0..n).map(|i| format!("P{i}")).collect();
    let mut body = String::new();
    for a in 0..n {
        for b in 0..n {
            if a != b {
                body.push_str(&format!("    P{a} -> P{b} : M{a}x{b}(u32);\n"));
            }
        }
    }
    format!(
        "protocol Mesh {{\n    roles {};\n{body}}}\n",
        roles.join(", ")
    )
}

/// Choices nested `depth` deep; a third party learns each choice.
fn nested_choice(depth: usize) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for d in 0..depth {
        open.push_str(&format!(
            "choice at A {{ L{d} => {{ A -> B : L{d}; B -> C : L{d}; "
        ));
        close.insert_str(
            0,
            &format!("}} R{d} => {{ A -> B : R{d}; B -> C : R{d}; }} }} "),
        );
    }
    format!("protocol Nested {{\n    roles A, B, C;\n    {open}{close}\n}}\n")
}

fn bench_family(c: &mut Criterion, name: &str, sizes: &[usize], generate: fn(usize) -> String) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    for &size in sizes {
        let text = generate(size);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("lex_floor", size), &text, |b, text| {
            b.iter(|| choreo_lang::syntax::lexer::lex(black_box(text), choreo_lang::FileId(0)))
        });
        group.bench_with_input(BenchmarkId::new("compile", size), &text, |b, text| {
            b.iter(|| {
                let comp = compile(vec![Source::from_path_text(
                    "bench.choreo",
                    black_box(text.clone()),
                )]);
                assert!(!comp.has_errors(), "generated {name}({size}) must compile");
                comp
            })
        });
    }
    group.finish();
}

/// Code generation for an already compiled protocol: `tokens` is the
/// generated token stream (what `choreography!` hands to rustc), `gen` adds
/// pretty-printing (what `choreo gen` writes). The floor is the front end
/// (parse + check + project) on the same text, in the same run.
fn bench_codegen(c: &mut Criterion) {
    let mut group = c.benchmark_group("codegen_sequence");
    group.sample_size(10);
    for size in [1_000, 10_000] {
        let text = sequence(size);
        let comp = compile(vec![Source::from_path_text("bench.choreo", text.clone())]);
        assert!(
            !comp.has_errors(),
            "generated sequence({size}) must compile"
        );
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(
            BenchmarkId::new("front_end_floor", size),
            &text,
            |b, text| {
                b.iter(|| {
                    compile(vec![Source::from_path_text(
                        "bench.choreo",
                        black_box(text.clone()),
                    )])
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("tokens", size), &comp, |b, comp| {
            b.iter(|| {
                black_box(comp)
                    .generate_tokens(&[choreo_lang::FileId(0)])
                    .unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("gen", size), &comp, |b, comp| {
            b.iter(|| black_box(comp).generate_program().unwrap())
        });
    }
    group.finish();
}

fn compiler(c: &mut Criterion) {
    bench_family(c, "ring", &[8, 64, 256], ring);
    bench_family(c, "mesh", &[4, 8, 16], mesh);
    bench_family(c, "nested_choice", &[10, 50, 200], nested_choice);
    bench_family(c, "sequence", &[100, 1_000, 10_000], sequence);
}

criterion_group!(benches, compiler, bench_codegen);
criterion_main!(benches);
