//! Timeout instance numbers after a nesting timeout's handler, in the
//! deterministic simulator.
//!
//! `P[1]` gives up on the outer body at once, before the opening reaches
//! it; `P[0]` has sent the opening and waits inside the nested timeout
//! when `P[1]`'s handler message arrives. So `P[0]` entered the nested
//! timeout and `P[1]` never did, and both then run the outer handler and a
//! further `timeout` inside it. The runtime numbers that further timeout
//! alike on both sides (a nest root sets aside the numbers of the timeouts
//! nested in it, `TimeoutNumbering`); counted as entered, `P[0]` would be
//! one instance ahead and `P[1]` would refuse its `Confirm` as a protocol
//! violation.
//!
//! CI runs [`CI_SEEDS`] seeds per schedule; `CHOREO_SIM_SEEDS=N` for more.
//! A failure names its seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use choreo_macros::choreography;
use choreo_runtime::node::NodeTransport;
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{Error, Session, SessionId};

choreography! {
    /// An opening with a nested ping; the outer fallback confirms with a
    /// deadline of its own.
    protocol NestThen {
        roles P[2];
        timeout 2s {
            P[0] -> P[1] : Open(u64);
            timeout 1s {
                P[1] -> P[0] : Ping(u64);
            } else {
                P[*] -> P[*] : Inner(u64);
            }
        } else {
            P[*] -> P[*] : Outer(u64);
            timeout 1s {
                P[0] -> P[1] : Confirm(u64);
            } else {
                P[*] -> P[*] : Unconfirmed(u64);
            }
        }
    }
}

use nest_then::{Confirm, Inner, Open, Outer, Unconfirmed};

const CI_SEEDS: u64 = 100;

/// How long a member with nothing left to do stays for a peer's handler.
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

/// How a member's part ended after the outer handler.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The further timeout's body: `Confirm` with this value.
    Confirmed(u64),
    /// The further timeout's handler ran.
    Unconfirmed,
}

/// `P[0]`: opens and waits for the ping; when `P[1]` starts the outer
/// handler, exchanges and confirms.
async fn opener(s: Session<NodeTransport>) -> Result<(bool, Ended), Error> {
    let ep = nest_then::p_0::open(s, nest_then::Params {})?.body();
    let ep = match ep.send(Open(1)).await? {
        Timed::Done(ep) => ep.body(),
        Timed::Expired(_) => return Err(Error::Interrupted(choreo_runtime::Interrupt::Deadline)),
    };
    // Inside the nested timeout now: `P[1]`'s outer handler message ends
    // the wait (the ping never comes). The nested body's operation hands
    // over the nested handler, whose first operation hands over the outer
    // one (the outer handler's message is waiting).
    let nested_handler = match ep.recv().await? {
        Timed::Done(_) => panic!("P[1] sent a ping although it abandoned the outer body"),
        Timed::Expired(h) => h,
    };
    let entered_nested = nested_handler.session().interrupted_by().is_some();
    let handler = match nested_handler.exchange(|_| Inner(20)).await? {
        Timed::Done(_) => panic!("P[1] ran the nested handler although it never entered it"),
        Timed::Expired(h) => h,
    };
    let (_, ep) = handler.exchange(|_| Outer(10)).await?;
    let confirm_handler = match ep.body().send(Confirm(7)).await? {
        // Its part of the body is done, but `P[1]`'s deadline may pass
        // before the confirmation reaches it: stay for its handler.
        Timed::Done(after) => match after.linger(LINGER).await? {
            Lingered::Closed => return Ok((entered_nested, Ended::Confirmed(7))),
            Lingered::Handler(h) => h,
        },
        Timed::Expired(h) => h,
    };
    let (_, end) = confirm_handler.exchange(|_| Unconfirmed(0)).await?;
    end.finish()?;
    Ok((entered_nested, Ended::Unconfirmed))
}

/// `P[1]`: gives up on the outer body before anything arrives, then
/// exchanges and waits for the confirmation.
async fn quitter(s: Session<NodeTransport>) -> Result<Ended, Error> {
    let ep = nest_then::p_1::open(s, nest_then::Params {})?.body();
    let (_, ep) = ep.abandon().exchange(|_| Outer(11)).await?;
    match ep.body().recv().await? {
        Timed::Done((Confirm(v), after)) => match after.linger(LINGER).await? {
            Lingered::Closed => Ok(Ended::Confirmed(v)),
            Lingered::Handler(_) => panic!("P[0] started the handler after confirming"),
        },
        Timed::Expired(h) => {
            let (_, end) = h.exchange(|_| Unconfirmed(1)).await?;
            end.finish()?;
            Ok(Ended::Unconfirmed)
        }
    }
}

/// One seeded run; both members' outcomes.
fn run(seed: u64, drop: f64) -> ((bool, Ended), Ended) {
    let config = SimConfig {
        drop,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(seed, config);
    let (a, b) = (sim.add_node(), sim.add_node());
    let roster = nest_then::roster(&nest_then::Params {}).unwrap();
    let mut s = sim
        .open_sessions(SessionId([21; 16]), &nest_then::PROTOCOL, &roster, &[a, b])
        .unwrap()
        .into_iter();
    let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
    let p0 = sim.spawn(a, opener(s0));
    let p1 = sim.spawn(b, quitter(s1));
    if let Err(stuck) = sim.run() {
        panic!("seed {seed}: stuck: {stuck:?}");
    }
    let p0 = p0
        .take()
        .unwrap()
        .unwrap_or_else(|e| panic!("seed {seed}: P[0]: {e}"));
    let p1 = p1
        .take()
        .unwrap()
        .unwrap_or_else(|e| panic!("seed {seed}: P[1]: {e}"));
    (p0, p1)
}

#[test]
fn a_timeout_after_a_nesting_timeouts_handler_is_numbered_alike_by_both_members() {
    for drop in [0.0, 0.1] {
        let mut confirmed = 0;
        for seed in 0..seeds() {
            let ((entered, p0), p1) = run(seed, drop);
            assert!(
                entered,
                "seed {seed}: P[0] was not interrupted in the nested body"
            );
            assert_eq!(p0, p1, "seed {seed}, drop {drop}: the members disagree");
            if p0 == Ended::Confirmed(7) {
                confirmed += 1;
            }
        }
        // Without losses every run confirms in the further body; with
        // them a lost `Confirm` may outlast its deadline, and then both run
        // its handler (they agree either way).
        if drop == 0.0 {
            assert_eq!(confirmed, seeds(), "drop {drop}");
        } else {
            assert!(
                confirmed > seeds() / 2,
                "drop {drop}: {confirmed} confirmed"
            );
        }
    }
}
