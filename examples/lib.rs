//! Shared helpers for the runnable examples (`cargo run --example NAME`).

use std::future::Future;
use std::process::ExitCode;

/// The error type of the examples' fallible steps.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An example process's `main`: logs with `tracing` to stderr (filter from
/// `RUST_LOG`, else `default_filter`), runs `body` on a tokio runtime with
/// two worker threads, and turns its result into the exit code (an error
/// is printed as `error: …` and exits 1).
pub fn run_main(
    default_filter: &str,
    body: impl Future<Output = Result<(), BoxError>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
