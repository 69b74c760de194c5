//! `aura-node demo`: the whole account lifecycle in one run.
//!
//! Authority A (3 devices) generates its key, binds 3 guardians, receives
//! N messages from authority B over an AMP channel whose epochs are bumped
//! by consensus, loses every device, and a new device recovers through the
//! guardians and reads the old messages. [`run::run`] coordinates the
//! run: it hands each node's [`agent::Agent`] its acts through a
//! [`cluster::Cluster`] (libp2p nodes on 127.0.0.1 in this process or
//! each in its own, in memory, or the deterministic simulator) and reports
//! [`Step`]s; this module parses the arguments and prints the timeline.

pub mod agent;
pub mod cluster;
pub mod processes;
pub mod run;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::NodeError;
pub use run::{run, DemoConfig, Step, Summary};

/// How the nodes talk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoTransport {
    /// Every node its own libp2p endpoint (TCP + Noise + Yamux) on
    /// 127.0.0.1, all in this process; real time.
    Net,
    /// The deterministic simulator (virtual time; the same run per seed).
    Sim,
    /// The same node hosts wired together in memory (no sockets, no
    /// faults), all in this process; real time.
    Memory,
}

/// Arguments of `aura-node demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Transport between the nodes.
    #[arg(long, value_enum, default_value = "net")]
    pub transport: DemoTransport,
    /// Run every node as its own OS process (this executable, one libp2p
    /// node each on 127.0.0.1; needs `--transport net`). This process
    /// coordinates: it tells each node what to do over the node's
    /// stdin/stdout; the protocol messages go between the processes.
    #[arg(long)]
    pub processes: bool,
    /// Seed of the run (network faults, keys, nonces).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Recovery delay the guardians are bound with: `90m`, `24h`, `7d` or
    /// seconds; allowed 1 h to 30 d. On `sim` it passes on the virtual
    /// clock; on `net` the guardians' clock is sped up so that it passes
    /// in `--real-delay` of real time.
    #[arg(long, default_value = "24h", value_parser = parse_delay)]
    pub recovery_delay: u64,
    /// On `net`: the real time in which the recovery delay passes (the
    /// guardians' clock runs recovery-delay / real-delay times faster than
    /// real time). Seconds, or with a unit (`500ms` is not accepted).
    #[arg(long, default_value = "2", value_parser = parse_delay)]
    pub real_delay: u64,
    /// Messages B sends to A before A loses its devices.
    #[arg(long, default_value_t = 600)]
    pub messages: u32,
    /// On `sim`: inject network faults (2% drop, 1% duplicate, 2% reorder).
    #[arg(long)]
    pub faults: bool,
}

/// `90m`, `24h`, `7d`, `3600s` or plain seconds.
pub fn parse_delay(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90m, 24h or 7d"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        other => return Err(format!("unknown unit `{other}` (use s, m, h or d)")),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// `3600` → `1h`, `86400` → `24h`, `90` → `90s`.
pub fn show_delay(secs: u64) -> String {
    if secs.is_multiple_of(3_600) {
        format!("{}h", secs / 3_600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn show_time(at: Duration) -> String {
    format!("{:>8.3}s", at.as_secs_f64())
}

/// Run the demo and print its timeline on stdout. Exit 0 with
/// `lifecycle complete: …`, or 1 with the first failure.
pub fn demo(args: &DemoArgs) -> Result<ExitCode, NodeError> {
    if args.processes && args.transport != DemoTransport::Net {
        return Err(NodeError::Usage(
            "--processes runs the nodes over libp2p: use it with --transport net".into(),
        ));
    }
    if args.faults && args.transport != DemoTransport::Sim {
        return Err(NodeError::Usage(
            "--faults injects faults in the simulator; use it with --transport sim".into(),
        ));
    }
    if args.real_delay == 0 {
        return Err(NodeError::Usage("--real-delay must be at least 1 s".into()));
    }
    let config = DemoConfig {
        seed: args.seed,
        recovery_delay_secs: args.recovery_delay,
        messages: args.messages,
        faults: args.faults,
        keep_trace: false,
        window: run::WINDOW,
        transport: args.transport,
        real_delay: Duration::from_secs(args.real_delay),
        processes: args.processes,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", header(&config));
    let result = run(&config, &mut |step: &Step| {
        let _ = writeln!(out, "[{}] {}", show_time(step.at), step.text);
    });
    match result {
        Ok(summary) => {
            let _ = writeln!(out, "lifecycle complete: {}", summary.line());
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            let _ = writeln!(out, "lifecycle failed: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The first line of the timeline: what runs where, and how time passes.
fn header(config: &DemoConfig) -> String {
    let delay = show_delay(config.recovery_delay_secs);
    let (transport, time) = match config.transport {
        DemoTransport::Sim => (
            "sim (deterministic simulator, virtual time)".to_string(),
            format!("recovery delay {delay} (virtual clock)"),
        ),
        DemoTransport::Memory => (
            "memory (11 node hosts wired together in memory, one process)".to_string(),
            format!(
                "recovery delay {delay} (scaled clock: {} s real)",
                config.real_delay.as_secs()
            ),
        ),
        DemoTransport::Net if config.processes => (
            "net (11 OS processes, one libp2p node each on 127.0.0.1, TCP + Noise + Yamux)"
                .to_string(),
            format!(
                "recovery delay {delay} (scaled clock: {} s real)",
                config.real_delay.as_secs()
            ),
        ),
        DemoTransport::Net => (
            "net (11 libp2p nodes on 127.0.0.1, TCP + Noise + Yamux, one process)".to_string(),
            format!(
                "recovery delay {delay} (scaled clock: {} s real)",
                config.real_delay.as_secs()
            ),
        ),
    };
    format!(
        "aura lifecycle demo — transport {transport}, seed {}, {} messages, {time}{}",
        config.seed,
        config.messages,
        if config.faults {
            ", with network faults"
        } else {
            ""
        }
    )
}
