//! Parser + checker + projection on arbitrary UTF-8: must never panic or
//! overflow the stack. `cargo +nightly fuzz run parse_check`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let comp = choreo_lang::compile(vec![choreo_lang::Source::from_path_text(
        "fuzz.choreo",
        text,
    )]);
    // Rendering is part of what users run on bad input, too.
    let _ = choreo_lang::render::render_all(
        &comp.diagnostics,
        &comp.sources,
        choreo_lang::render::RenderOptions::default(),
    );
    // Formatting a file that parsed cleanly must give a fixpoint.
    let (ast, diags) = choreo_lang::syntax::parse_source(text, choreo_lang::FileId(0));
    if !choreo_lang::has_errors(&diags) {
        let once = choreo_lang::fmt::format_file(&ast);
        let (again, diags) = choreo_lang::syntax::parse_source(&once, choreo_lang::FileId(0));
        assert!(diags.is_empty(), "fmt output does not parse:\n{once}");
        assert_eq!(once, choreo_lang::fmt::format_file(&again), "fmt is not idempotent");
    }
});
