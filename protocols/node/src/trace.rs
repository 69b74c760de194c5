//! `aura-node trace --seed S --format mermaid`: the sequence diagram of
//! what actually happened in a simulated lifecycle run — one note per
//! phase of the demo, and per phase one arrow per (sender, receiver) pair
//! with the number of frames the simulated network delivered between them
//! (protocol messages, acknowledgements and heartbeats alike).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use choreo_runtime::sim::{TraceEvent, TraceKind};
use clap::{Args, ValueEnum};

use crate::demo::run::{run_traced, DemoConfig, Step, NODE_NAMES};
use crate::NodeError;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// A mermaid `sequenceDiagram`.
    Mermaid,
}

/// Arguments of `aura-node trace`.
#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// Seed of the simulated run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: TraceFormat,
    /// Messages B sends to A (fewer makes a shorter diagram).
    #[arg(long, default_value_t = 600)]
    pub messages: u32,
    /// Inject network faults (as `demo --faults`).
    #[arg(long)]
    pub faults: bool,
}

fn name(node: usize) -> &'static str {
    NODE_NAMES.get(node).copied().unwrap_or("?")
}

/// The diagram of `steps` over `trace`.
pub fn mermaid(steps: &[Step], trace: &[TraceEvent]) -> String {
    let mut out = String::from("sequenceDiagram\n");
    for n in NODE_NAMES {
        out.push_str(&format!("    participant {n}\n"));
    }
    // Phases in order, each from the first step's trace index.
    let mut phases: Vec<(&'static str, usize, Vec<&str>)> = Vec::new();
    for s in steps {
        match phases.last_mut() {
            Some((p, _, lines)) if *p == s.phase => lines.push(&s.text),
            _ => phases.push((s.phase, s.trace_from, vec![&s.text])),
        }
    }
    for (i, (phase, from, lines)) in phases.iter().enumerate() {
        let to = phases.get(i + 1).map_or(trace.len(), |(_, f, _)| *f);
        out.push_str(&format!("    Note over A1,N: {phase}\n"));
        let mut pairs: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for e in trace.get(*from..to).unwrap_or_default() {
            if e.kind == TraceKind::Delivered {
                *pairs.entry((e.from, e.to)).or_default() += 1;
            }
        }
        for ((a, b), frames) in pairs {
            out.push_str(&format!("    {}->>{}: {frames} frames\n", name(a), name(b)));
        }
        for l in lines {
            let text: String = l
                .chars()
                .filter(|c| !matches!(c, ';' | '#' | ':'))
                .collect();
            out.push_str(&format!("    Note right of N: {}\n", text.trim()));
        }
    }
    out
}

/// Run the simulated lifecycle with the trace kept and print the diagram.
pub fn trace(args: &TraceArgs) -> Result<ExitCode, NodeError> {
    let config = DemoConfig {
        seed: args.seed,
        recovery_delay_secs: 24 * 3_600,
        messages: args.messages,
        faults: args.faults,
        keep_trace: true,
        window: crate::demo::run::WINDOW,
        transport: crate::demo::DemoTransport::Sim,
        real_delay: crate::demo::run::REAL_DELAY,
        processes: false,
    };
    let mut steps = Vec::new();
    let (result, events) = run_traced(&config, &mut |s: &Step| steps.push(s.clone()));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(mermaid(&steps, &events).as_bytes());
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(failure) => {
            eprintln!("lifecycle failed: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}
