//! Model-checker throughput: the time to verify each mission protocol
//! (`protocols/choreo/*.choreo`, default options: channel bound 2, family
//! sizes 2 and 3, every quorum value) and the states explored per second
//! (criterion's element throughput, one element per global state).
//!
//! `CARGO_TARGET_DIR=… cargo bench -p choreo-lang --bench verify`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_lang::driver::{compile_with, load_beside, Compilation, Source};
use choreo_lang::verify::VerifyOptions;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::{Path, PathBuf};

fn compile_file(path: &Path) -> Compilation {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let root = Source::from_path_text(path.display().to_string(), text);
    compile_with(vec![root], &mut |module, user| {
        load_beside(module, user, &mut |p| std::fs::read_to_string(p).ok())
    })
}

fn mission_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols/choreo");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "choreo"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn bench_verify(c: &mut Criterion) {
    let options = VerifyOptions::default();
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    for path in mission_files() {
        let comp = compile_file(&path);
        if comp.has_errors() {
            continue;
        }
        let states: u64 = comp
            .verify(None, &options)
            .iter()
            .map(|r| r.states_explored)
            .sum();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("protocol")
            .to_string();
        eprintln!("{name}: {states} states per verification");
        group.throughput(Throughput::Elements(states.max(1)));
        group.bench_function(&name, |b| {
            b.iter(|| black_box(&comp).verify(None, &options))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
