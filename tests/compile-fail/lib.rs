//! Compile-fail tests live in `tests/compile_fail.rs` and `ui/`; the
//! library itself is empty.
