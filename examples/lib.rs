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

/// Seeded simulation runs, as the simulator examples make them: `check`
/// each seed of `first .. first + count` (`Err` says why that run failed),
/// with progress on stderr every tenth of the runs and each failure
/// printed with its seed. Returns the failing seeds.
pub fn for_each_seed(
    first: u64,
    count: u64,
    mut check: impl FnMut(u64) -> Result<(), String>,
) -> Vec<u64> {
    let step = (count / 10).max(1);
    let mut failed = Vec::new();
    for (k, seed) in (first..first.saturating_add(count)).enumerate() {
        if let Err(e) = check(seed) {
            eprintln!("seed {seed}: {e}");
            failed.push(seed);
        }
        if (k as u64 + 1).is_multiple_of(step) {
            eprintln!("  {} / {count} runs", k + 1);
        }
    }
    failed
}

/// The exit code of seeded runs ([`for_each_seed`]): success if none
/// failed, else failure after printing the seeds and how to replay them.
pub fn seeds_exit(failed: &[u64]) -> ExitCode {
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failing seeds (replay with --first-seed S --seeds 1): {failed:?}");
        ExitCode::FAILURE
    }
}

/// The seeded runs of a simulator example (`--seeds N --first-seed S`),
/// flattened into its arguments.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct SeedRuns {
    /// Number of seeded runs.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// The first seed (runs use first-seed .. first-seed + seeds).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
}

impl SeedRuns {
    /// [`for_each_seed`] over these runs; returns the failing seeds.
    pub fn each(&self, check: impl FnMut(u64) -> Result<(), String>) -> Vec<u64> {
        for_each_seed(self.first_seed, self.seeds, check)
    }

    /// `N of M runs completed`, the start of an example's summary line.
    pub fn completed(&self, failed: &[u64]) -> String {
        let done = self.seeds.saturating_sub(failed.len() as u64);
        format!("{done} of {} runs completed", self.seeds)
    }
}
