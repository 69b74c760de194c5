//! Nested `timeout`s in the deterministic network simulator:
//! `cargo run --example nested_timeout -- --seeds 100 --drop 0.1`.
//!
//! `P[0]` opens; inside, `P[1]` pings `P[2]`, which answers `P[0]`. Each
//! timeout has its own fallback exchange. `P[1]`'s ping completes the
//! inner body and the outer one at once, so it waits in `AfterS5S4`: a
//! peer may still start either handler, and `linger` answers whichever
//! one is started. In every run `P[2]` starts `--late-ms` late (virtual
//! time) and, with `--abandon`, gives up on the inner body at once, as a
//! member that saw something wrong would; without it, it answers the ping
//! if it comes in time. Every run must end with all three members in the
//! same place (both bodies, the inner handler, or the outer one) with the
//! same values; a failing run prints its seed, and `--first-seed S
//! --seeds 1` replays it exactly. `choreo verify` explores this protocol
//! and the workspace test `verify_agrees_with_runtime` runs it under
//! faults.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::node::{NodeTransport, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{Error, Session, SessionId};
use clap::Parser;

choreography! {
    /// A ping inside an opening, each with its own deadline and fallback.
    protocol Nest {
        roles P[3];
        timeout 2s {
            P[0] -> P[1] : Open(u64);
            timeout 1s {
                P[1] -> P[2] : Ping(u64);
                P[2] -> P[0] : Pong(u64);
            } else {
                P[*] -> P[*] : Inner(u64);
            }
        } else {
            P[*] -> P[*] : Outer(u64);
        }
    }
}

use nest::{Inner, Open, Outer, Ping, Pong};

/// Run seeded simulations of nested timeouts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    runs: choreo_examples::SeedRuns,
    /// Probability that a frame is lost.
    #[arg(long, default_value_t = 0.1)]
    drop: f64,
    /// How late `P[2]` starts, in virtual milliseconds.
    #[arg(long, default_value_t = 500)]
    late_ms: u64,
    /// `P[2]` abandons the inner body as soon as it starts.
    #[arg(long)]
    abandon: bool,
}

/// How long a member with nothing left to do stays for a peer's handler.
const LINGER: Duration = Duration::from_secs(10);

/// Where a member's part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// Both bodies completed; nobody started a handler.
    Bodies,
    /// The inner handler ran, with these values (then the outer body
    /// completed again and nobody started its handler).
    Inner(Vec<u64>),
    /// The outer handler ran, with these values.
    Outer(Vec<u64>),
}

async fn outer(h: impl OuterHandler, me: u64) -> Result<Ended, Error> {
    h.run(me).await
}

/// The outer handler's state of each role module (one type per module).
trait OuterHandler {
    async fn run(self, me: u64) -> Result<Ended, Error>;
}

/// The inner handler's state of each role module.
trait InnerHandler {
    async fn run(self, me: u64) -> Result<Ended, Error>;
}

macro_rules! handlers {
    ($module:ident) => {
        impl OuterHandler for nest::$module::S5<NodeTransport> {
            async fn run(self, me: u64) -> Result<Ended, Error> {
                let (got, end) = self.exchange(|_| Outer(200 + me)).await?;
                end.finish()?;
                Ok(Ended::Outer(
                    got.into_iter().map(|(_, Outer(v))| v).collect(),
                ))
            }
        }
        impl InnerHandler for nest::$module::S4<NodeTransport> {
            async fn run(self, me: u64) -> Result<Ended, Error> {
                match self.exchange(|_| Inner(100 + me)).await? {
                    Timed::Done((got, after)) => {
                        let values = got.into_iter().map(|(_, Inner(v))| v).collect();
                        match after.linger(LINGER).await? {
                            Lingered::Closed => Ok(Ended::Inner(values)),
                            Lingered::Handler(h) => outer(h, me).await,
                        }
                    }
                    Timed::Expired(h) => outer(h, me).await,
                }
            }
        }
        impl Completed for nest::$module::AfterS5S4<NodeTransport> {
            async fn stay(self, me: u64) -> Result<Ended, Error> {
                use nest::$module::LingeredS5S4;
                match self.linger(LINGER).await? {
                    LingeredS5S4::Closed => Ok(Ended::Bodies),
                    LingeredS5S4::S4(h) => h.run(me).await,
                    LingeredS5S4::S5(h) => outer(h, me).await,
                }
            }
        }
    };
}

/// Where a member stands after completing both bodies at once.
trait Completed {
    /// Stays for either handler.
    async fn stay(self, me: u64) -> Result<Ended, Error>;
}

handlers!(p_0);
handlers!(p_1);
handlers!(p_2);

/// `P[0]`: opens, then waits for the pong.
async fn opener(s: Session<NodeTransport>) -> Result<Ended, Error> {
    let ep = nest::p_0::open(s, nest::Params {})?.body();
    let ep = match ep.send(Open(1)).await? {
        Timed::Done(ep) => ep.body(),
        Timed::Expired(h) => return outer(h, 0).await,
    };
    match ep.recv().await? {
        Timed::Done((Pong(_), after)) => after.stay(0).await,
        Timed::Expired(h) => h.run(0).await,
    }
}

/// `P[1]`: waits for the opening and pings; then nothing is left to do.
async fn pinger(s: Session<NodeTransport>) -> Result<Ended, Error> {
    let ep = nest::p_1::open(s, nest::Params {})?.body();
    let ep = match ep.recv().await? {
        Timed::Done((Open(_), ep)) => ep.body(),
        Timed::Expired(h) => return outer(h, 1).await,
    };
    match ep.send(Ping(1)).await? {
        Timed::Done(after) => after.stay(1).await,
        Timed::Expired(h) => h.run(1).await,
    }
}

/// `P[2]`: answers the ping, or abandons the inner body at once.
async fn ponger(s: Session<NodeTransport>, abandon: bool) -> Result<Ended, Error> {
    let ep = nest::p_2::open(s, nest::Params {})?.body().body();
    if abandon {
        return ep.abandon().run(2).await;
    }
    let ep = match ep.recv().await? {
        Timed::Done((Ping(_), ep)) => ep,
        Timed::Expired(h) => return h.run(2).await,
    };
    match ep.send(Pong(1)).await? {
        Timed::Done(after) => after.stay(2).await,
        Timed::Expired(h) => h.run(2).await,
    }
}

/// One seeded run: every member's outcome, or why the run failed.
fn run(seed: u64, args: &Args) -> Result<Ended, String> {
    let config = SimConfig {
        drop: args.drop,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(seed, config);
    let nodes = [sim.add_node(), sim.add_node(), sim.add_node()];
    let roster = nest::roster(&nest::Params {}).map_err(|e| e.to_string())?;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let mut sessions = sim
        .open_sessions(SessionId(id), &nest::PROTOCOL, &roster, &nodes)
        .map_err(|e| e.to_string())?
        .into_iter();
    let mut next = || sessions.next().ok_or("a session is missing");
    let (s0, s1, s2) = (next()?, next()?, next()?);
    let [n0, n1, n2] = nodes;
    let tasks = [sim.spawn(n0, opener(s0)), sim.spawn(n1, pinger(s1))];
    sim.run_until(Time::ZERO + Duration::from_millis(args.late_ms));
    let late = sim.spawn(n2, ponger(s2, args.abandon));
    sim.run().map_err(|stuck| format!("stuck: {stuck}"))?;
    let mut ended = Vec::new();
    for (i, t) in tasks.into_iter().chain([late]).enumerate() {
        let outcome = t
            .take()
            .ok_or_else(|| format!("P[{i}] did not finish"))?
            .map_err(|e| format!("P[{i}]: {e}"))?;
        ended.push(outcome);
    }
    match ended.as_slice() {
        [first, rest @ ..] if rest.iter().all(|e| e == first) => Ok(first.clone()),
        _ => Err(format!("the members disagree: {ended:?}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let (mut bodies, mut inner, mut outer) = (0, 0, 0);
    let failed = args.runs.each(|seed| {
        match run(seed, &args)? {
            Ended::Bodies => bodies += 1,
            Ended::Inner(v) if v == [100, 101, 102] => inner += 1,
            Ended::Outer(v) if v == [200, 201, 202] => outer += 1,
            other => return Err(format!("wrong values: {other:?}")),
        }
        Ok(())
    });
    println!(
        "{} (P[2] {} ms late{}, drop {}): {bodies} in both bodies, {inner} in the inner handler, {outer} in the outer handler, in {:.2?}",
        args.runs.completed(&failed),
        args.late_ms,
        if args.abandon { ", abandoning the inner body" } else { "" },
        args.drop,
        started.elapsed()
    );
    choreo_examples::seeds_exit(&failed)
}
