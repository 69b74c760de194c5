//! Retries under an overall deadline, in the deterministic network
//! simulator: `cargo run --example retry_deadline -- --seeds 100 --drop 0.1`.
//!
//! `P[0]` asks `P[1]` and waits half a second for the answer; a try that
//! misses its deadline is retried (both members exchange `Retry`), and
//! the whole fetch has three seconds. When those pass, or a member gives
//! up, both exchange `GiveUp` and `P[0]` confirms, with a deadline of its
//! own. The overall `timeout` loops over another, so the compiler cannot
//! number the tries' timeouts ahead: it opens a *window* for them, and
//! the confirmation's `timeout` in the handler is numbered alike by both
//! members however many tries each had entered (book: Failure and
//! composition, Instance numbers).
//!
//! `P[1]` starts `--late-ms` late (virtual time), so `P[0]` may have tried
//! several times before `P[1]` hears anything; with `--give-up` it gives
//! up on the whole fetch as soon as it starts. Every run must end with
//! both members agreeing (the same answer, or both gave up with the same
//! confirmation); a failing run prints its seed, and `--first-seed S
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
    /// Asks retried under an overall deadline; giving up is confirmed
    /// with a deadline of its own.
    protocol Fetch {
        roles P[2];
        timeout 3s {
            rec Try {
                timeout 500ms {
                    P[0] -> P[1] : Ask(u64);
                    P[1] -> P[0] : Answer(u64);
                } else {
                    P[*] -> P[*] : Retry(u64);
                    continue Try;
                }
            }
        } else {
            P[*] -> P[*] : GiveUp(u64);
            timeout 1s {
                P[0] -> P[1] : Confirm(u64);
            } else {
                P[*] -> P[*] : Unconfirmed(u64);
            }
        }
    }
}

use fetch::{Answer, Ask, Confirm, GiveUp, Retry, Unconfirmed};

/// Run seeded simulations of retries under an overall deadline.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    runs: choreo_examples::SeedRuns,
    /// Probability that a frame is lost.
    #[arg(long, default_value_t = 0.1)]
    drop: f64,
    /// How late `P[1]` starts, in virtual milliseconds.
    #[arg(long, default_value_t = 0)]
    late_ms: u64,
    /// `P[1]` gives up on the whole fetch as soon as it starts.
    #[arg(long)]
    give_up: bool,
}

/// How long a member with nothing left to do stays for a peer's handler.
const LINGER: Duration = Duration::from_secs(10);

/// How a member's part ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The answer to try `n` arrived: `100 + n`.
    Answered(u64),
    /// Both gave up: every member's `GiveUp` value, and whether the
    /// confirmation arrived before its deadline.
    GaveUp { values: Vec<u64>, confirmed: bool },
}

/// The `GiveUp` values, in member order.
fn given_up(got: Vec<(u32, GiveUp)>) -> Vec<u64> {
    got.into_iter().map(|(_, GiveUp(v))| v).collect()
}

/// The confirmation's handler of each role module (one type per module).
trait ConfirmationHandler {
    /// Runs this member's part: exchange `Unconfirmed`, then finish.
    async fn run(self, me: u64) -> Result<(), Error>;
}

macro_rules! confirmation_handler {
    ($module:ident) => {
        impl ConfirmationHandler for fetch::$module::S8<NodeTransport> {
            async fn run(self, me: u64) -> Result<(), Error> {
                let (_, end) = self.exchange(|_| Unconfirmed(me)).await?;
                end.finish()
            }
        }
    };
}

confirmation_handler!(p_0);
confirmation_handler!(p_1);

/// Whether the give-up was confirmed: yes if nobody started the
/// confirmation's handler (`unconfirmed` is `None`); else this member runs
/// it.
async fn confirmed(unconfirmed: Option<impl ConfirmationHandler>, me: u64) -> Result<bool, Error> {
    match unconfirmed {
        None => Ok(true),
        Some(h) => {
            h.run(me).await?;
            Ok(false)
        }
    }
}

/// `P[0]`: asks until an answer arrives or the fetch is given up, then
/// confirms. Returns how it ended and how many tries it made.
async fn client(s: Session<NodeTransport>) -> Result<(Ended, u64), Error> {
    use fetch::p_0::LingeredS5S4;
    let mut next_try = fetch::p_0::open(s, fetch::Params {})?.body();
    let mut tries = 0;
    let give_up = 'asking: loop {
        tries += 1;
        let retry = match next_try.body().send(Ask(tries)).await? {
            Timed::Done(wait) => match wait.recv().await? {
                // Both bodies are complete, but `P[1]`'s deadline for the
                // try (or the fetch) may pass before the answer's
                // acknowledgement: stay for either handler.
                Timed::Done((Answer(v), after)) => match after.linger(LINGER).await? {
                    LingeredS5S4::Closed => return Ok((Ended::Answered(v), tries)),
                    LingeredS5S4::S4(retry) => retry,
                    LingeredS5S4::S5(give_up) => break 'asking give_up,
                },
                Timed::Expired(retry) => retry,
            },
            Timed::Expired(retry) => retry,
        };
        match retry.exchange(|_| Retry(tries)).await? {
            Timed::Done((_, again)) => next_try = again,
            Timed::Expired(give_up) => break 'asking give_up,
        }
    };
    let (got, confirm) = give_up.exchange(|_| GiveUp(0)).await?;
    let values = given_up(got);
    let unconfirmed = match confirm.body().send(Confirm(1)).await? {
        // Sent; `P[1]`'s deadline may still pass before it arrives.
        Timed::Done(after) => match after.linger(LINGER).await? {
            Lingered::Closed => None,
            Lingered::Handler(h) => Some(h),
        },
        Timed::Expired(h) => Some(h),
    };
    let confirmed = confirmed(unconfirmed, 0).await?;
    Ok((Ended::GaveUp { values, confirmed }, tries))
}

/// `P[1]`: answers every ask, or gives up at once.
async fn server(s: Session<NodeTransport>, give_up_at_once: bool) -> Result<Ended, Error> {
    use fetch::p_1::LingeredS5S4;
    let mut next_try = fetch::p_1::open(s, fetch::Params {})?.body();
    let give_up = 'serving: loop {
        if give_up_at_once {
            break 'serving next_try.abandon();
        }
        let retry = match next_try.body().recv().await? {
            Timed::Done((Ask(n), reply)) => match reply.send(Answer(100 + n)).await? {
                Timed::Done(after) => match after.linger(LINGER).await? {
                    LingeredS5S4::Closed => return Ok(Ended::Answered(100 + n)),
                    LingeredS5S4::S4(retry) => retry,
                    LingeredS5S4::S5(give_up) => break 'serving give_up,
                },
                Timed::Expired(retry) => retry,
            },
            Timed::Expired(retry) => retry,
        };
        match retry.exchange(|_| Retry(0)).await? {
            Timed::Done((_, again)) => next_try = again,
            Timed::Expired(give_up) => break 'serving give_up,
        }
    };
    let (got, confirm) = give_up.exchange(|_| GiveUp(1)).await?;
    let values = given_up(got);
    let unconfirmed = match confirm.body().recv().await? {
        Timed::Done((Confirm(_), after)) => match after.linger(LINGER).await? {
            Lingered::Closed => None,
            Lingered::Handler(h) => Some(h),
        },
        Timed::Expired(h) => Some(h),
    };
    let confirmed = confirmed(unconfirmed, 1).await?;
    Ok(Ended::GaveUp { values, confirmed })
}

/// One seeded run: how both ended and `P[0]`'s tries, or why it failed.
fn run(seed: u64, args: &Args) -> Result<(Ended, u64), String> {
    let config = SimConfig {
        drop: args.drop,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(seed, config);
    let nodes = [sim.add_node(), sim.add_node()];
    let roster = fetch::roster(&fetch::Params {}).map_err(|e| e.to_string())?;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_le_bytes());
    let mut sessions = sim
        .open_sessions(SessionId(id), &fetch::PROTOCOL, &roster, &nodes)
        .map_err(|e| e.to_string())?
        .into_iter();
    let mut next = || sessions.next().ok_or("a session is missing");
    let (s0, s1) = (next()?, next()?);
    let [n0, n1] = nodes;
    let asking = sim.spawn(n0, client(s0));
    sim.run_until(Time::ZERO + Duration::from_millis(args.late_ms));
    let serving = sim.spawn(n1, server(s1, args.give_up));
    sim.run().map_err(|stuck| format!("stuck: {stuck}"))?;
    let (p0, tries) = asking
        .take()
        .ok_or("P[0] did not finish")?
        .map_err(|e| format!("P[0]: {e}"))?;
    let p1 = serving
        .take()
        .ok_or("P[1] did not finish")?
        .map_err(|e| format!("P[1]: {e}"))?;
    if p0 != p1 {
        return Err(format!("the members disagree: P[0] {p0:?}, P[1] {p1:?}"));
    }
    Ok((p0, tries))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let (mut answered, mut first_try, mut gave_up, mut confirmed, mut most_tries) = (0, 0, 0, 0, 0);
    let failed = args.runs.each(|seed| {
        let (ended, tries) = run(seed, &args)?;
        most_tries = most_tries.max(tries);
        match ended {
            Ended::Answered(v) if v > 100 && v <= 100 + tries => {
                answered += 1;
                if tries == 1 {
                    first_try += 1;
                }
            }
            Ended::GaveUp {
                values,
                confirmed: c,
            } if values == [0, 1] => {
                gave_up += 1;
                if c {
                    confirmed += 1;
                }
            }
            other => return Err(format!("wrong values: {other:?}")),
        }
        Ok(())
    });
    println!(
        "{} (P[1] {} ms late{}, drop {}): {answered} answered ({first_try} on the first try), {gave_up} gave up ({confirmed} confirmed); at most {most_tries} tries, in {:.2?}",
        args.runs.completed(&failed),
        args.late_ms,
        if args.give_up { ", giving up at once" } else { "" },
        args.drop,
        started.elapsed()
    );
    choreo_examples::seeds_exit(&failed)
}
