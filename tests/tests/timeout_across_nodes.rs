//! `timeout` between nodes in the deterministic simulator: every
//! participant's deadline on the simulator's clock, a peer's handler
//! message interrupting a body wherever it stands (a plain receive, a
//! gather, a send), late body messages dropped and counted, `abandon()`,
//! a fresh timeout instance per loop iteration, and instance numbers that
//! agree after a nesting timeout's handler.
//!
//! CI runs [`CI_SEEDS`] seeds per test (a few seconds in all); set
//! `CHOREO_SIM_SEEDS=N` for a bigger sweep. A failure names its seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::node::{NodeTransport, Time};
use choreo_runtime::sim::{Sim, SimConfig};
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{Error, Interrupt, Session, SessionId};

choreography! {
    /// One round led by `Witness[0]`, with a fallback any witness can start.
    protocol Round(n) {
        roles Witness[n];
        timeout 1s {
            Witness[0] -> Witness[*] : Propose(u64);
            Witness[*] -> Witness[0] : Ack(u64);
            Witness[0] -> Witness[*] : Decide(u64);
        } else {
            Witness[*] -> Witness[*] : Fallback(u64);
        }
    }

    /// A heartbeat loop with a timeout per beat: a missed beat resyncs.
    protocol Beat {
        roles Peer[2];
        rec Loop {
            timeout 2s {
                choice at Peer[0] {
                    Next => {
                        Peer[0] -> Peer[1] : Tick(u64);
                        Peer[1] -> Peer[0] : Tock(u64);
                        continue Loop;
                    }
                    Stop => {
                        Peer[0] -> Peer[1] : Halt;
                    }
                }
            } else {
                Peer[*] -> Peer[*] : Resync(u64);
                continue Loop;
            }
        }
    }

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

    /// An opening, then asks retried in a loop under an overall
    /// deadline (a window: the loop's timeouts cannot be numbered ahead);
    /// the overall fallback confirms with a deadline of its own.
    protocol RetryThen {
        roles P[2];
        timeout 2s {
            P[0] -> P[1] : Start(u64);
            rec Try {
                timeout 1s {
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
                P[0] -> P[1] : Settle(u64);
            } else {
                P[*] -> P[*] : Unsettled(u64);
            }
        }
    }

    /// Rounds under an overall deadline, each a loop of asks with a
    /// deadline of their own (a window per round); a round that misses
    /// its deadline restarts.
    protocol RetryRounds {
        roles P[2];
        rec Round {
            timeout 2s {
                P[0] -> P[1] : Begin(u64);
                rec Try {
                    timeout 1s {
                        choice at P[0] {
                            Ask => {
                                P[0] -> P[1] : Query(u64);
                                P[1] -> P[0] : Reply(u64);
                                continue Try;
                            }
                            Finish => {
                                P[0] -> P[1] : Done(u64);
                            }
                        }
                    } else {
                        P[*] -> P[*] : Again(u64);
                        continue Try;
                    }
                }
            } else {
                P[*] -> P[*] : Restart(u64);
                continue Round;
            }
        }
    }

    /// Beats under an overall deadline: a heartbeat loop (a window) whose
    /// beats meet in one handler as at the top level.
    protocol BeatsUnder(n) {
        roles Peer[n];
        timeout 60s {
            rec Loop {
                timeout 2s {
                    choice at Peer[0] {
                        Beat => {
                            Peer[0] -> Peer[*] : Tick(u64);
                            Peer[*] -> Peer[0] : Tock(u64);
                            continue Loop;
                        }
                        Stop => {
                            Peer[0] -> Peer[*] : Halt;
                        }
                    }
                } else {
                    Peer[*] -> Peer[*] : Resync(u64);
                    continue Loop;
                }
            }
        } else {
            Peer[*] -> Peer[*] : Expired(u64);
        }
    }

    /// `RetryThen` inside an overall deadline of its own: the retry's
    /// overall `timeout` is an inner window.
    protocol DeepRetry {
        roles P[2];
        timeout 20s {
            call RetryThen(P);
        } else {
            P[*] -> P[*] : Abort(u64);
        }
    }

    /// Either branch ends in a timeout of its own; `P[1]` then says it is
    /// done (`P[0]`'s wait answers either handler).
    protocol AfterEither {
        roles P[2];
        choice at P[0] {
            Go => {
                P[0] -> P[1] : Go;
                timeout 1s { P[0] -> P[1] : Ping(u64); } else { P[*] -> P[*] : Resync(u64); }
            }
            Other => {
                P[0] -> P[1] : Other;
                timeout 1s { P[0] -> P[1] : Pong(u64); } else { P[*] -> P[*] : Again(u64); }
            }
        }
        P[1] -> P[0] : Done(u64);
    }

    /// A timeout's block followed by more inside an enclosing body: `P[0]`'s
    /// wait answers the inner handler and the outer one.
    protocol AfterInner {
        roles P[2];
        timeout 5s {
            choice at P[0] {
                Go => {
                    P[0] -> P[1] : Go;
                    timeout 1s { P[0] -> P[1] : Ping(u64); } else { P[*] -> P[*] : Resync(u64); }
                }
                Stop => { P[0] -> P[1] : Halt; }
            }
            P[1] -> P[0] : Done(u64);
        } else {
            P[*] -> P[*] : Bail(u64);
        }
    }
}

const CI_SEEDS: u64 = 100;
const WITNESSES: u32 = 4;
const DEADLINE: Duration = Duration::from_secs(1);

fn seeds() -> u64 {
    std::env::var("CHOREO_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS)
}

/// How one witness's part of `Round` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The body completed with this decision.
    Decided(u64),
    /// The handler ran: why the body ended, when (virtual time since the
    /// witness started its body), and the fallback values it gathered.
    Handler {
        why: Option<Interrupt>,
        after: Duration,
        values: Vec<u64>,
        /// Late body messages dropped by the end.
        late: u64,
    },
}

/// A witness's part of the handler (the same in every witness's module):
/// why the body ended, when, and the fallback exchange.
macro_rules! fallback {
    ($h:expr, $me:expr, $started:expr) => {{
        let h = $h;
        let why = h.session().interrupted_by().cloned();
        let after = h.session().now() - $started;
        let (got, end) = h
            .exchange(|_| round::Fallback(u64::from($me) + 100))
            .await?;
        let late = end.session().late_messages_dropped();
        end.finish()?;
        Ok(Ended::Handler {
            why,
            after,
            values: got.into_iter().map(|(_, round::Fallback(v))| v).collect(),
            late,
        })
    }};
}

/// `Witness[0]`: proposes, gathers acks, decides.
async fn lead(s: Session<NodeTransport>, params: round::Params) -> Result<Ended, Error> {
    let ep = round::witness_0::open(s, params)?.body();
    let started = ep.session().now();
    let ep = match ep.send_all(round::Propose(7)).await? {
        Timed::Done(ep) => ep,
        Timed::Expired(h) => return fallback!(h, 0u32, started),
    };
    let ep = match ep.recv_all().await? {
        Timed::Done((acks, ep)) => {
            assert_eq!(acks.len() as u32, WITNESSES - 1);
            ep
        }
        Timed::Expired(h) => return fallback!(h, 0u32, started),
    };
    match ep.send_all(round::Decide(7)).await? {
        Timed::Done(after) => {
            after.finish()?;
            Ok(Ended::Decided(7))
        }
        Timed::Expired(h) => fallback!(h, 0u32, started),
    }
}

/// How a follower behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follower {
    /// Runs the body.
    Normal,
    /// Abandons the body before doing anything.
    Abandons,
}

/// `Witness[me]`, `me > 0`.
async fn follow(
    s: Session<NodeTransport>,
    params: round::Params,
    me: u32,
    how: Follower,
) -> Result<Ended, Error> {
    let ep = round::witness::open(s, params)?.body();
    let started = ep.session().now();
    if how == Follower::Abandons {
        return fallback!(ep.abandon(), me, started);
    }
    let (round::Propose(p), ep) = match ep.recv().await? {
        Timed::Done(got) => got,
        Timed::Expired(h) => return fallback!(h, me, started),
    };
    let ep = match ep.send(round::Ack(p)).await? {
        Timed::Done(ep) => ep,
        Timed::Expired(h) => return fallback!(h, me, started),
    };
    match ep.recv().await? {
        Timed::Done((round::Decide(d), after)) => {
            after.finish()?;
            Ok(Ended::Decided(d))
        }
        Timed::Expired(h) => fallback!(h, me, started),
    }
}

fn faults(drop: f64) -> SimConfig {
    SimConfig {
        drop,
        duplicate: 0.05,
        reorder: 0.2,
        ..SimConfig::default()
    }
}

/// Opens `Round` on `WITNESSES` nodes; `start[i]` is when witness `i`'s
/// task starts (virtual time), `how[i]` how a follower behaves.
fn round_run(
    seed: u64,
    config: SimConfig,
    start: [Duration; WITNESSES as usize],
    how: [Follower; WITNESSES as usize],
) -> Vec<Result<Ended, String>> {
    let mut sim = Sim::new(seed, config);
    let nodes: Vec<usize> = (0..WITNESSES).map(|_| sim.add_node()).collect();
    let params = round::Params { n: WITNESSES };
    let roster = round::roster(&params).unwrap();
    let sessions = sim
        .open_sessions(SessionId([11; 16]), &round::PROTOCOL, &roster, &nodes)
        .unwrap();
    let mut order: Vec<usize> = (0..WITNESSES as usize).collect();
    order.sort_by_key(|&i| start[i]);
    let mut sessions: Vec<Option<Session<NodeTransport>>> =
        sessions.into_iter().map(Some).collect();
    let mut tasks: Vec<Option<_>> = (0..WITNESSES).map(|_| None).collect();
    for i in order {
        sim.run_until(Time::ZERO + start[i]);
        let s = sessions[i].take().unwrap();
        let me = i as u32;
        let task = if me == 0 {
            sim.spawn(nodes[i], lead(s, params))
        } else {
            sim.spawn(nodes[i], follow(s, params, me, how[i]))
        };
        tasks[i] = Some(task);
    }
    if let Err(stuck) = sim.run() {
        panic!("seed {seed}: run stuck: {stuck:?}");
    }
    tasks
        .into_iter()
        .map(|t| t.unwrap().take().unwrap().map_err(|e| e.to_string()))
        .collect()
}

fn every_fallback_value() -> Vec<u64> {
    (0..WITNESSES).map(|i| u64::from(i) + 100).collect()
}

#[test]
fn a_stalled_initiator_makes_every_witness_run_the_handler() {
    // Witness[0] starts 3 s late, under drops, duplicates and reordering:
    // every other witness's deadline passes (or a peer's handler message
    // reaches it first); the initiator's own body is interrupted by the
    // others' handler messages as soon as it starts, and all four complete
    // the fallback exchange.
    for seed in 0..seeds() {
        let late = Duration::from_secs(3);
        let start = [late, Duration::ZERO, Duration::ZERO, Duration::ZERO];
        let out = round_run(seed, faults(0.1), start, [Follower::Normal; 4]);
        for (i, o) in out.iter().enumerate() {
            match o {
                Ok(Ended::Handler {
                    why, after, values, ..
                }) => {
                    assert_eq!(values, &every_fallback_value(), "seed {seed}: witness {i}");
                    if i == 0 {
                        assert!(
                            matches!(why, Some(Interrupt::HandlerMessage { .. })),
                            "seed {seed}: the late initiator was not interrupted by a handler message: {why:?}"
                        );
                        assert!(*after < DEADLINE, "seed {seed}");
                    } else {
                        assert!(
                            *after <= DEADLINE,
                            "seed {seed}: witness {i} waited {after:?}"
                        );
                    }
                }
                other => panic!("seed {seed}: witness {i} did not run the handler: {other:?}"),
            }
        }
    }
}

#[test]
fn a_handler_message_interrupts_a_receive_a_gather_and_a_send() {
    // Witness[1] abandons at 50 ms. By then Witness[2] has acked and
    // waits in a plain `recv` (mid-body), Witness[0] waits in its gather of
    // acks, and Witness[3] starts at 100 ms: it receives the proposal and is
    // interrupted at its send. No drops, so every handler message arrives
    // long before the 1 s deadline: each of them must be interrupted by a
    // peer's handler message, not by the deadline.
    for seed in 0..seeds() {
        let ms = Duration::from_millis;
        let start = [ms(0), ms(50), ms(0), ms(100)];
        let how = [
            Follower::Normal,
            Follower::Abandons,
            Follower::Normal,
            Follower::Normal,
        ];
        let out = round_run(seed, faults(0.0), start, how);
        for (i, o) in out.iter().enumerate() {
            let Ok(Ended::Handler {
                why,
                after,
                values,
                late,
            }) = o
            else {
                panic!("seed {seed}: witness {i} did not run the handler: {o:?}");
            };
            assert_eq!(values, &every_fallback_value(), "seed {seed}: witness {i}");
            assert!(
                *after < DEADLINE,
                "seed {seed}: witness {i} waited {after:?}"
            );
            match i {
                1 => {
                    assert_eq!(why, &Some(Interrupt::Abandoned), "seed {seed}");
                    // The proposal reached it before it abandoned: dropped,
                    // counted, never delivered to the handler.
                    assert_eq!(*late, 1, "seed {seed}: witness 1's late messages");
                }
                _ => assert!(
                    matches!(why, Some(Interrupt::HandlerMessage { .. })),
                    "seed {seed}: witness {i} ended its body by {why:?}"
                ),
            }
        }
    }
}

#[test]
fn a_round_without_faults_decides_in_the_body() {
    for seed in 0..seeds().min(20) {
        let out = round_run(
            seed,
            faults(0.0),
            [Duration::ZERO; 4],
            [Follower::Normal; 4],
        );
        for (i, o) in out.iter().enumerate() {
            assert_eq!(o, &Ok(Ended::Decided(7)), "seed {seed}: witness {i}");
        }
    }
}

/// What one side of `Beat` saw: the tick values it exchanged per beat
/// completed in the body, the beats that resynced, and the late messages
/// dropped.
#[derive(Debug, Default, PartialEq, Eq)]
struct Beats {
    ticks: Vec<u64>,
    resyncs: u32,
    late: u64,
    lingered: bool,
}

const BEATS: u64 = 5;

async fn beat_leader(s: Session<NodeTransport>) -> Result<Beats, Error> {
    let mut seen = Beats::default();
    let mut ep = beat::peer_0::open(s, beat::Params {})?;
    let mut n = 0;
    loop {
        let body = ep.body();
        if n == BEATS {
            let Timed::Done(after) = body.select_stop().send(beat::Halt).await? else {
                return Err(Error::Interrupted(Interrupt::Deadline));
            };
            seen.late = after.session().late_messages_dropped();
            // Stay for a handler the follower may still start; it closes
            // once it has the halt.
            match after.linger(Duration::from_secs(1)).await? {
                Lingered::Closed => seen.lingered = true,
                Lingered::Handler(_) => return Err(Error::Interrupted(Interrupt::Deadline)),
            }
            return Ok(seen);
        }
        n += 1;
        let next = match body.select_next().send(beat::Tick(n)).await? {
            Timed::Done(sent) => match sent.recv().await? {
                Timed::Done((beat::Tock(v), head)) => {
                    seen.ticks.push(v);
                    ep = head;
                    continue;
                }
                Timed::Expired(h) => h,
            },
            Timed::Expired(h) => h,
        };
        seen.resyncs += 1;
        let (_, head) = next.exchange(|_| beat::Resync(n)).await?;
        ep = head;
    }
}

async fn beat_follower(s: Session<NodeTransport>) -> Result<Beats, Error> {
    let mut seen = Beats::default();
    let mut ep = beat::peer_1::open(s, beat::Params {})?;
    loop {
        let handler = match ep.body().branch().await? {
            Timed::Done(beat::peer_1::TickOrHalt::Tick(beat::Tick(v), next)) => {
                seen.ticks.push(v);
                match next.send(beat::Tock(v)).await? {
                    Timed::Done(head) => {
                        ep = head;
                        continue;
                    }
                    Timed::Expired(h) => h,
                }
            }
            Timed::Done(beat::peer_1::TickOrHalt::Halt(beat::Halt, after)) => {
                seen.late = after.session().late_messages_dropped();
                after.finish()?;
                return Ok(seen);
            }
            Timed::Expired(h) => h,
        };
        seen.resyncs += 1;
        let (_, head) = handler.exchange(|_| beat::Resync(0)).await?;
        ep = head;
    }
}

#[test]
fn a_timeout_in_a_loop_is_a_fresh_instance_every_beat() {
    // The link is cut from 1 ms to 3 s: the first beat's tick is stuck in
    // retransmission past both deadlines (2 s), so both sides resync; the
    // tick then arrives in the handler of beat 1 (dropped, counted) or
    // later, and must never be taken for the tick of a later beat: every
    // tick the follower accepts is the leader's current beat, and both
    // agree on the ticks. Then beats continue until the leader halts.
    let mut resynced = 0;
    for seed in 0..seeds() {
        let mut sim = Sim::new(seed, faults(0.0));
        let (a, b) = (sim.add_node(), sim.add_node());
        let roster = beat::roster(&beat::Params {}).unwrap();
        let mut s = sim
            .open_sessions(SessionId([12; 16]), &beat::PROTOCOL, &roster, &[a, b])
            .unwrap()
            .into_iter();
        let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
        let leader = sim.spawn(a, beat_leader(s0));
        let follower = sim.spawn(b, beat_follower(s1));
        sim.run_until(Time::ZERO + Duration::from_millis(1));
        sim.partition(&[a], &[b]);
        sim.run_until(Time::ZERO + Duration::from_secs(3));
        sim.heal();
        if let Err(stuck) = sim.run() {
            panic!("seed {seed}: stuck: {stuck:?}");
        }
        let l = leader
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: leader: {e}"));
        let f = follower
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: follower: {e}"));
        assert_eq!(
            l.ticks, f.ticks,
            "seed {seed}: the two sides disagree on the beats"
        );
        assert!(l.resyncs >= 1 && f.resyncs >= 1, "seed {seed}: {l:?} {f:?}");
        // Ticks are strictly increasing beat numbers: none of them is a
        // stale tick of an earlier (resynced) beat.
        assert!(
            l.ticks.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: {l:?}"
        );
        assert!(
            f.late >= 1 || l.late >= 1,
            "seed {seed}: no late message was dropped: {l:?} {f:?}"
        );
        assert!(l.lingered, "seed {seed}");
        resynced += u64::from(l.resyncs);
    }
    assert!(resynced >= seeds());
}

/// `Peer[0]` for the looped-timeout race: it sends the first tick and
/// abandons that beat at once, as if its deadline passed just before the
/// tock arrived (the follower has completed the beat by then and waits in
/// the next one); after the resync it runs one clean beat and halts.
async fn beat_leader_giving_up_after_the_first_tick(
    s: Session<NodeTransport>,
) -> Result<Beats, Error> {
    let mut seen = Beats::default();
    let ep = beat::peer_0::open(s, beat::Params {})?;
    let Timed::Done(sent) = ep.body().select_next().send(beat::Tick(1)).await? else {
        return Err(Error::Interrupted(Interrupt::Deadline));
    };
    seen.resyncs += 1;
    let (_, head) = sent.abandon().exchange(|_| beat::Resync(1)).await?;
    let Timed::Done(sent) = head.body().select_next().send(beat::Tick(2)).await? else {
        return Err(Error::Interrupted(Interrupt::Deadline));
    };
    let Timed::Done((beat::Tock(v), head)) = sent.recv().await? else {
        return Err(Error::Interrupted(Interrupt::Deadline));
    };
    seen.ticks.push(v);
    let Timed::Done(after) = head.body().select_stop().send(beat::Halt).await? else {
        return Err(Error::Interrupted(Interrupt::Deadline));
    };
    seen.late = after.session().late_messages_dropped();
    match after.linger(Duration::from_secs(1)).await? {
        Lingered::Closed => seen.lingered = true,
        Lingered::Handler(_) => return Err(Error::Interrupted(Interrupt::Deadline)),
    }
    Ok(seen)
}

#[test]
fn a_handler_message_of_a_beat_the_peer_completed_interrupts_its_next_beat() {
    // The looped-timeout race: the follower completed beat 1 (it sent the
    // tock) and waits in beat 2 when the leader's resync of beat 1
    // arrives. The follower has done nothing in beat 2 yet, so the resync
    // ends beat 2's body and the follower runs beat 1's handler with the
    // leader; both then count the next beat as beat 2. (Before, the
    // follower dropped the resync as a message of a beat it completed, its
    // own deadline then started beat 2's handler, and the leader, still in
    // beat 1's handler, refused that resync as a protocol violation.)
    // On some seeds the resync reaches the follower before it sends the
    // tock instead; then the tock's send is interrupted in beat 1.
    // Duplicates and reordering, no drops: a resync held up by
    // retransmissions past the follower's own deadline for beat 2 is the
    // case this does not cover (the book's "What is not covered").
    let mut raced = 0;
    for seed in 0..seeds() {
        let mut sim = Sim::new(seed, faults(0.0));
        let (a, b) = (sim.add_node(), sim.add_node());
        let roster = beat::roster(&beat::Params {}).unwrap();
        let mut s = sim
            .open_sessions(SessionId([13; 16]), &beat::PROTOCOL, &roster, &[a, b])
            .unwrap()
            .into_iter();
        let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
        let leader = sim.spawn(a, beat_leader_giving_up_after_the_first_tick(s0));
        let follower = sim.spawn(b, beat_follower_noting_why(s1));
        if let Err(stuck) = sim.run() {
            panic!("seed {seed}: stuck: {stuck:?}");
        }
        let l = leader
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: leader: {e}"));
        let (f, why) = follower
            .take()
            .unwrap()
            .unwrap_or_else(|e| panic!("seed {seed}: follower: {e}"));
        assert_eq!(f.ticks, vec![1, 2], "seed {seed}: follower {f:?}");
        assert_eq!(l.ticks, vec![2], "seed {seed}: leader {l:?}");
        assert_eq!((l.resyncs, f.resyncs), (1, 1), "seed {seed}");
        assert!(
            matches!(why.as_slice(), [Some(Interrupt::HandlerMessage { .. })]),
            "seed {seed}: the follower's beat ended by {why:?}, not by the leader's resync"
        );
        assert!(l.lingered, "seed {seed}");
        // The tock of beat 1 reached the leader in its handler (dropped,
        // counted): the follower had completed beat 1.
        raced += u64::from(l.late >= 1);
    }
    eprintln!("{raced} of {} seeds raced", seeds());
    assert!(
        raced * 4 >= seeds(),
        "only {raced} seeds had the follower complete beat 1"
    );
}

/// [`beat_follower`], also noting why each of its bodies ended early.
async fn beat_follower_noting_why(
    s: Session<NodeTransport>,
) -> Result<(Beats, Vec<Option<Interrupt>>), Error> {
    let mut seen = Beats::default();
    let mut why = Vec::new();
    let mut ep = beat::peer_1::open(s, beat::Params {})?;
    loop {
        let handler = match ep.body().branch().await? {
            Timed::Done(beat::peer_1::TickOrHalt::Tick(beat::Tick(v), next)) => {
                seen.ticks.push(v);
                match next.send(beat::Tock(v)).await? {
                    Timed::Done(head) => {
                        ep = head;
                        continue;
                    }
                    Timed::Expired(h) => h,
                }
            }
            Timed::Done(beat::peer_1::TickOrHalt::Halt(beat::Halt, after)) => {
                seen.late = after.session().late_messages_dropped();
                after.finish()?;
                return Ok((seen, why));
            }
            Timed::Expired(h) => h,
        };
        why.push(handler.session().interrupted_by().cloned());
        seen.resyncs += 1;
        let (_, head) = handler.exchange(|_| beat::Resync(0)).await?;
        ep = head;
    }
}

// A further `timeout` after a nesting timeout's handler. `P[1]` of
// `NestThen` gives up on the outer body at once, before the opening
// reaches it; `P[0]` has sent the opening and waits inside the nested
// timeout when `P[1]`'s handler message arrives. So `P[0]` entered the
// nested timeout and `P[1]` never did, and both then run the outer handler
// and the `timeout` inside it. The runtime numbers that timeout alike on
// both sides (a nest root sets aside the numbers of the timeouts nested in
// it, `TimeoutNumbering`); counted as entered, `P[0]` would be one
// instance ahead and `P[1]` would refuse its `Confirm` as a protocol
// violation.

/// How long a member with nothing left to do stays for a peer's handler.
const LINGER: Duration = Duration::from_secs(10);

use nest_then::{Confirm, Inner, Open, Outer, Unconfirmed};

/// How a member's part ended after the outer handler.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Confirmation {
    /// The further timeout's body: `Confirm` with this value.
    Confirmed(u64),
    /// The further timeout's handler ran.
    Unconfirmed,
}

/// The further `timeout` after the outer handler, `P[0]`'s part: sends
/// the confirmation (`$confirm`), or runs the further handler
/// (`$unconfirmed`) if `P[1]`'s deadline passed first.
macro_rules! confirm {
    ($ep:expr, $confirm:path, $unconfirmed:path) => {{
        let handler = match $ep.body().send($confirm(7)).await? {
            // Its part of the body is done, but `P[1]`'s deadline may pass
            // before the confirmation reaches it: stay for its handler.
            Timed::Done(after) => match after.linger(LINGER).await? {
                Lingered::Closed => None,
                Lingered::Handler(h) => Some(h),
            },
            Timed::Expired(h) => Some(h),
        };
        match handler {
            None => Confirmation::Confirmed(7),
            Some(h) => {
                let (_, end) = h.exchange(|_| $unconfirmed(0)).await?;
                end.finish()?;
                Confirmation::Unconfirmed
            }
        }
    }};
}

/// The further `timeout`, `P[1]`'s part: waits for the confirmation, or
/// runs the further handler.
macro_rules! await_confirmation {
    ($ep:expr, $confirm:path, $unconfirmed:path) => {
        match $ep.body().recv().await? {
            Timed::Done(($confirm(v), after)) => match after.linger(LINGER).await? {
                Lingered::Closed => Confirmation::Confirmed(v),
                Lingered::Handler(_) => panic!("P[0] started the handler after confirming"),
            },
            Timed::Expired(h) => {
                let (_, end) = h.exchange(|_| $unconfirmed(1)).await?;
                end.finish()?;
                Confirmation::Unconfirmed
            }
        }
    };
}

/// Runs `run` (one seeded run: `P[0]`'s `(interrupted in <where>,
/// outcome)` and `P[1]`'s outcome) without losses and with 10 %: both
/// members always end alike; without losses every run confirms, with
/// them a lost confirmation may outlast its deadline (then both run the
/// further handler).
fn members_confirm_alike(
    interrupted_in: &str,
    run: impl Fn(u64, f64) -> ((bool, Confirmation), Confirmation),
) {
    for drop in [0.0, 0.1] {
        let mut confirmed = 0;
        for seed in 0..seeds() {
            let ((entered, p0), p1) = run(seed, drop);
            assert!(
                entered,
                "seed {seed}: P[0] was not interrupted in {interrupted_in}"
            );
            assert_eq!(p0, p1, "seed {seed}, drop {drop}: the members disagree");
            if p0 == Confirmation::Confirmed(7) {
                confirmed += 1;
            }
        }
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

/// `P[0]`: opens and waits for the ping; when `P[1]` starts the outer
/// handler, exchanges and confirms.
async fn opener(s: Session<NodeTransport>) -> Result<(bool, Confirmation), Error> {
    let ep = nest_then::p_0::open(s, nest_then::Params {})?.body();
    let ep = match ep.send(Open(1)).await? {
        Timed::Done(ep) => ep.body(),
        Timed::Expired(_) => return Err(Error::Interrupted(Interrupt::Deadline)),
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
    Ok((entered_nested, confirm!(ep, Confirm, Unconfirmed)))
}

/// `P[1]`: gives up on the outer body before anything arrives, then
/// exchanges and waits for the confirmation.
async fn quitter(s: Session<NodeTransport>) -> Result<Confirmation, Error> {
    let ep = nest_then::p_1::open(s, nest_then::Params {})?.body();
    let (_, ep) = ep.abandon().exchange(|_| Outer(11)).await?;
    Ok(await_confirmation!(ep, Confirm, Unconfirmed))
}

/// One seeded run of a two-member protocol: `P[0]` runs `first`, `P[1]`
/// runs `second`; both outcomes.
fn two_member_run<A: 'static, B: 'static, FA, FB>(
    seed: u64,
    drop: f64,
    protocol: &'static choreo_runtime::ProtocolInfo,
    roster: &choreo_runtime::Roster,
    first: impl FnOnce(Session<NodeTransport>) -> FA,
    second: impl FnOnce(Session<NodeTransport>) -> FB,
) -> (A, B)
where
    FA: std::future::Future<Output = Result<A, Error>> + 'static,
    FB: std::future::Future<Output = Result<B, Error>> + 'static,
{
    let mut sim = Sim::new(seed, faults(drop));
    let (a, b) = (sim.add_node(), sim.add_node());
    let mut s = sim
        .open_sessions(SessionId([21; 16]), protocol, roster, &[a, b])
        .unwrap()
        .into_iter();
    let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
    let p0 = sim.spawn(a, first(s0));
    let p1 = sim.spawn(b, second(s1));
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
    members_confirm_alike("the nested body", |seed, drop| {
        let roster = nest_then::roster(&nest_then::Params {}).unwrap();
        two_member_run(seed, drop, &nest_then::PROTOCOL, &roster, opener, quitter)
    });
}

// A further `timeout` inside the handler of a window. `RetryThen`'s
// overall `timeout` loops over another, so its timeouts cannot be
// numbered ahead: it opens a window (`TimeoutNumbering::Window`), and the
// timeouts entered in its handler are numbered from the window's second
// half. `P[1]` gives up on the overall body at once; `P[0]` has sent the
// opening and its first ask, inside the loop's first timeout, when `P[1]`'s
// handler message arrives. So `P[0]` entered one timeout of the window and
// `P[1]` none, and both then run the overall handler and the `timeout`
// inside it. Counted as entered, `P[0]` would number that timeout one
// ahead and `P[1]` would refuse its `Confirm` as a protocol violation.

/// `RetryThen`'s overall body for `P[0]` (of `$module`, from its first
/// state `$ep`): opens and asks. `P[1]` gave up on the overall body, so its
/// handler message ends the wait for the answer, and the loop's handler
/// then hands over the overall one (its message is waiting). Evaluates to
/// whether the ask's timeout was interrupted (`P[0]` entered it) and the
/// overall handler.
macro_rules! ask_until_given_up {
    ($ep:expr, $module:ident) => {{
        let ask = match $ep.send($module::Start(1)).await? {
            Timed::Done(ep) => ep.body(),
            Timed::Expired(_) => return Err(Error::Interrupted(Interrupt::Deadline)),
        };
        let retry = match ask.send($module::Ask(2)).await? {
            Timed::Done(wait) => match wait.recv().await? {
                Timed::Done(_) => panic!("P[1] answered although it gave up"),
                Timed::Expired(h) => h,
            },
            Timed::Expired(h) => h,
        };
        let entered = retry.session().interrupted_by().is_some();
        match retry.exchange(|_| $module::Retry(3)).await? {
            Timed::Done(_) => panic!("P[1] retried although it never entered the loop"),
            Timed::Expired(h) => (entered, h),
        }
    }};
}

/// `RetryThen`'s `P[0]`: opens and asks; when `P[1]` starts the overall
/// handler, gives up too and confirms. Returns whether the ask's timeout
/// was interrupted (it entered it) and how the confirmation ended.
async fn asker(s: Session<NodeTransport>) -> Result<(bool, Confirmation), Error> {
    let ep = retry_then::p_0::open(s, retry_then::Params {})?.body();
    let (entered, handler) = ask_until_given_up!(ep, retry_then);
    let (_, ep) = handler.exchange(|_| retry_then::GiveUp(10)).await?;
    Ok((
        entered,
        confirm!(ep, retry_then::Settle, retry_then::Unsettled),
    ))
}

/// `RetryThen`'s `P[1]`: gives up on the overall body before anything
/// arrives, then waits for the confirmation.
async fn giver_up(s: Session<NodeTransport>) -> Result<Confirmation, Error> {
    use retry_then::GiveUp;
    let ep = retry_then::p_1::open(s, retry_then::Params {})?.body();
    let (_, ep) = ep.abandon().exchange(|_| GiveUp(11)).await?;
    Ok(await_confirmation!(
        ep,
        retry_then::Settle,
        retry_then::Unsettled
    ))
}

#[test]
fn a_timeout_in_a_windows_handler_is_numbered_alike_whatever_each_member_entered() {
    members_confirm_alike("the loop's body", |seed, drop| {
        let roster = retry_then::roster(&retry_then::Params {}).unwrap();
        two_member_run(seed, drop, &retry_then::PROTOCOL, &roster, asker, giver_up)
    });
}

// The same one level deeper: `DeepRetry` wraps `RetryThen` in an overall
// deadline, so the retry's overall `timeout` is inside a window and opens
// an inner window (`TimeoutNumbering::InnerWindow`). Counted as entered,
// the confirmation's `timeout` was one instance apart again.

/// Unwraps an operation inside `DeepRetry`'s overall body: its deadline
/// (20 s) never passes in these runs.
macro_rules! in_time {
    ($op:expr) => {
        match $op {
            Timed::Done(v) => v,
            Timed::Expired(_) => panic!("the overall deadline passed"),
        }
    };
}

/// `DeepRetry`'s `P[0]`: `asker` inside the overall deadline.
async fn deep_asker(s: Session<NodeTransport>) -> Result<(bool, Confirmation), Error> {
    use deep_retry::p_0::LingeredS11S10;
    use deep_retry::{GiveUp, Settle, Unsettled};
    let ep = deep_retry::p_0::open(s, deep_retry::Params {})?
        .body()
        .body();
    let (entered, handler) = ask_until_given_up!(ep, deep_retry);
    let (_, ep) = in_time!(handler.exchange(|_| GiveUp(10)).await?);
    let unsettled = match ep.body().send(Settle(7)).await? {
        Timed::Done(after) => match after.linger(LINGER).await? {
            LingeredS11S10::Closed => None,
            LingeredS11S10::S10(h) => Some(h),
            LingeredS11S10::S11(_) => panic!("the overall deadline passed"),
        },
        Timed::Expired(h) => Some(h),
    };
    let confirmation = match unsettled {
        None => Confirmation::Confirmed(7),
        Some(h) => {
            let (_, end) = in_time!(h.exchange(|_| Unsettled(0)).await?);
            end.finish()?;
            Confirmation::Unconfirmed
        }
    };
    Ok((entered, confirmation))
}

/// `DeepRetry`'s `P[1]`: `giver_up` inside the overall deadline.
async fn deep_giver_up(s: Session<NodeTransport>) -> Result<Confirmation, Error> {
    use deep_retry::p_1::LingeredS11S10;
    use deep_retry::{GiveUp, Settle, Unsettled};
    let ep = deep_retry::p_1::open(s, deep_retry::Params {})?
        .body()
        .body();
    let (_, ep) = in_time!(ep.abandon().exchange(|_| GiveUp(11)).await?);
    let unsettled = match ep.body().recv().await? {
        Timed::Done((Settle(v), after)) => match after.linger(LINGER).await? {
            LingeredS11S10::Closed => return Ok(Confirmation::Confirmed(v)),
            LingeredS11S10::S10(_) => panic!("P[0] started the handler after confirming"),
            LingeredS11S10::S11(_) => panic!("the overall deadline passed"),
        },
        Timed::Expired(h) => h,
    };
    let (_, end) = in_time!(unsettled.exchange(|_| Unsettled(1)).await?);
    end.finish()?;
    Ok(Confirmation::Unconfirmed)
}

#[test]
fn a_timeout_in_an_inner_windows_handler_is_numbered_alike_whatever_each_member_entered() {
    members_confirm_alike("the loop's body", |seed, drop| {
        let roster = deep_retry::roster(&deep_retry::Params {}).unwrap();
        two_member_run(
            seed,
            drop,
            &deep_retry::PROTOCOL,
            &roster,
            deep_asker,
            deep_giver_up,
        )
    });
}

// A timeout after a window. In `RetryRounds`' first round `P[1]` gives up
// at once, while `P[0]` is inside the loop's first timeout: `P[0]` entered
// one timeout of the window and `P[1]` none. Both number the next round's
// window alike: the window's handler brought them level (its half starts
// at the same number for both), and a timeout after a window is numbered
// after the whole window in any case. Counted as entered, `P[0]` would
// start the second round one instance ahead of `P[1]`, which refused its
// `Begin` as a protocol violation ("expected label Begin in phase 3, got
// label Begin in phase 5").

/// What ends a try of `RetryRounds`: the next try, or the round's handler.
enum TryEnd<T, H> {
    Next(T),
    Round(H),
}

/// `RetryRounds`' `P[0]`: in the first round asks once (no reply comes:
/// `P[1]` gave up); in later rounds finishes at once. Returns the round it
/// finished in.
async fn round_leader(s: Session<NodeTransport>) -> Result<u64, Error> {
    use retry_rounds::p_0::{LingeredS7S6, S6};
    use retry_rounds::{Again, Begin, Done, Query, Restart};
    // The loop's handler: the next try, or the round's handler if a
    // peer started that.
    async fn again(
        h: S6<NodeTransport>,
    ) -> Result<
        TryEnd<retry_rounds::p_0::S2<NodeTransport>, retry_rounds::p_0::S7<NodeTransport>>,
        Error,
    > {
        Ok(match h.exchange(|_| Again(0)).await? {
            Timed::Done((_, next)) => TryEnd::Next(next),
            Timed::Expired(h) => TryEnd::Round(h),
        })
    }
    let mut round = retry_rounds::p_0::open(s, retry_rounds::Params {})?;
    for r in 1.. {
        let handler = 'round: {
            let mut next_try = match round.body().send(Begin(r)).await? {
                Timed::Done(t) => t,
                Timed::Expired(h) => break 'round h,
            };
            loop {
                let body = next_try.body();
                let inner = if r == 1 {
                    match body.select_ask().send(Query(r)).await? {
                        Timed::Done(wait) => match wait.recv().await? {
                            Timed::Done(_) => panic!("P[1] replied in the round it gave up"),
                            Timed::Expired(h) => h,
                        },
                        Timed::Expired(h) => h,
                    }
                } else {
                    match body.select_finish().send(Done(r)).await? {
                        Timed::Done(after) => match after.linger(LINGER).await? {
                            LingeredS7S6::Closed => return Ok(r),
                            LingeredS7S6::S7(h) => break 'round h,
                            LingeredS7S6::S6(h) => h,
                        },
                        Timed::Expired(h) => h,
                    }
                };
                match again(inner).await? {
                    TryEnd::Next(t) => next_try = t,
                    TryEnd::Round(h) => break 'round h,
                }
            }
        };
        let (_, next) = handler.exchange(|_| Restart(0)).await?;
        round = next;
    }
    unreachable!("rounds are counted up to u64::MAX")
}

/// `RetryRounds`' `P[1]`: gives up on the first round at once; in later
/// rounds answers. Returns the round it finished in.
async fn round_follower(s: Session<NodeTransport>) -> Result<u64, Error> {
    use retry_rounds::p_1::{LingeredS6S5, QueryOrDone};
    use retry_rounds::{Again, Begin, Reply, Restart};
    let mut round = retry_rounds::p_1::open(s, retry_rounds::Params {})?;
    for r in 1.. {
        let handler = 'round: {
            let body = round.body();
            if r == 1 {
                break 'round body.abandon();
            }
            let mut next_try = match body.recv().await? {
                Timed::Done((Begin(_), t)) => t,
                Timed::Expired(h) => break 'round h,
            };
            loop {
                let inner = match next_try.body().branch().await? {
                    Timed::Done(QueryOrDone::Query(_, reply)) => {
                        match reply.send(Reply(1)).await? {
                            Timed::Done(t) => {
                                next_try = t;
                                continue;
                            }
                            Timed::Expired(h) => h,
                        }
                    }
                    Timed::Done(QueryOrDone::Done(_, after)) => match after.linger(LINGER).await? {
                        LingeredS6S5::Closed => return Ok(r),
                        LingeredS6S5::S6(h) => break 'round h,
                        LingeredS6S5::S5(h) => h,
                    },
                    Timed::Expired(h) => h,
                };
                match inner.exchange(|_| Again(1)).await? {
                    Timed::Done((_, t)) => next_try = t,
                    Timed::Expired(h) => break 'round h,
                }
            }
        };
        let (_, next) = handler.exchange(|_| Restart(1)).await?;
        round = next;
    }
    unreachable!("rounds are counted up to u64::MAX")
}

#[test]
fn a_timeout_after_a_window_is_numbered_alike_whatever_each_member_entered_in_it() {
    for drop in [0.0, 0.1] {
        let mut second = 0;
        for seed in 0..seeds() {
            let roster = retry_rounds::roster(&retry_rounds::Params {}).unwrap();
            let (p0, p1) = two_member_run(
                seed,
                drop,
                &retry_rounds::PROTOCOL,
                &roster,
                round_leader,
                round_follower,
            );
            assert_eq!(
                p0, p1,
                "seed {seed}, drop {drop}: the members finished in different rounds"
            );
            assert!(
                p0 >= 2,
                "seed {seed}: finished in round {p0}, which P[1] gave up"
            );
            if p0 == 2 {
                second += 1;
            }
        }
        if drop == 0.0 {
            assert_eq!(
                second,
                seeds(),
                "drop {drop}: every run finishes in round 2"
            );
        } else {
            assert!(
                second > seeds() / 2,
                "drop {drop}: {second} finished in round 2"
            );
        }
    }
}

// A heartbeat under an overall deadline. The loop's beats are timeouts
// inside a window, and adjacent beats meet in one handler there as they do
// at the top level (see `a_handler_message_of_a_beat_the_peer_completed_interrupts_its_next_beat`):
// with three peers and the last one cut off for a beat, a peer's deadline
// for beat `k` and another's for beat `k + 1` pass almost together. Without
// meetings inside the window, 48 of the first 100 seeds ended in a
// protocol violation between honest peers ("expected label Resync in phase
// 4, got label Resync in phase 6"); and a meeting found while in a beat's
// handler must not end the handler's operation as an interrupt of the
// window's body (every seed that met then ran the window's handler).

/// How many beats the leader completes before it stops.
const GUARDED_BEATS: u64 = 4;

/// What a peer of `BeatsUnder` saw: beats completed, beats resynced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct GuardedBeats {
    completed: u64,
    resynced: u64,
}

/// `BeatsUnder`'s leader: `GUARDED_BEATS` beats, then stop.
async fn guarded_leader(s: Session<NodeTransport>, n: u32) -> Result<GuardedBeats, Error> {
    use beats_under::peer_0::LingeredS6S5;
    use beats_under::{Halt, Resync, Tick};
    let mut seen = GuardedBeats::default();
    let mut ep = beats_under::peer_0::open(s, beats_under::Params { n })?.body();
    let mut beat = 0;
    loop {
        let body = ep.body();
        let resync = if seen.completed == GUARDED_BEATS {
            match body.select_stop().send_all(Halt).await? {
                Timed::Done(after) => match after.linger(LINGER).await? {
                    LingeredS6S5::Closed => return Ok(seen),
                    LingeredS6S5::S5(h) => h,
                    LingeredS6S5::S6(_) => panic!("a peer let the overall deadline pass"),
                },
                Timed::Expired(h) => h,
            }
        } else {
            beat += 1;
            match body.select_beat().send_all(Tick(beat)).await? {
                Timed::Done(sent) => match sent.recv_all().await? {
                    Timed::Done((_, head)) => {
                        seen.completed += 1;
                        ep = head;
                        continue;
                    }
                    Timed::Expired(h) => h,
                },
                Timed::Expired(h) => h,
            }
        };
        seen.resynced += 1;
        match resync.exchange(|_| Resync(beat)).await? {
            Timed::Done((_, head)) => ep = head,
            Timed::Expired(_) => panic!("the overall deadline passed"),
        }
    }
}

/// `BeatsUnder`'s other peers: answer every tick until the halt.
async fn guarded_follower(s: Session<NodeTransport>, n: u32) -> Result<GuardedBeats, Error> {
    use beats_under::peer::{LingeredS5S4, TickOrHalt};
    use beats_under::{Resync, Tock};
    let mut seen = GuardedBeats::default();
    let mut ep = beats_under::peer::open(s, beats_under::Params { n })?.body();
    loop {
        let resync = match ep.body().branch().await? {
            Timed::Done(TickOrHalt::Tick(beats_under::Tick(beat), next)) => {
                match next.send(Tock(beat)).await? {
                    Timed::Done(head) => {
                        seen.completed += 1;
                        ep = head;
                        continue;
                    }
                    Timed::Expired(h) => h,
                }
            }
            Timed::Done(TickOrHalt::Halt(_, after)) => match after.linger(LINGER).await? {
                LingeredS5S4::Closed => return Ok(seen),
                LingeredS5S4::S4(h) => h,
                LingeredS5S4::S5(_) => panic!("a peer let the overall deadline pass"),
            },
            Timed::Expired(h) => h,
        };
        seen.resynced += 1;
        match resync.exchange(|_| Resync(0)).await? {
            Timed::Done((_, head)) => ep = head,
            Timed::Expired(_) => panic!("the overall deadline passed"),
        }
    }
}

#[test]
fn beats_under_an_overall_deadline_meet_in_one_handler_when_a_peer_is_cut_off() {
    const PEERS: u32 = 3;
    let mut resynced = 0;
    for seed in 0..seeds() {
        let mut sim = Sim::new(seed, faults(0.0));
        let nodes: Vec<usize> = (0..PEERS).map(|_| sim.add_node()).collect();
        let params = beats_under::Params { n: PEERS };
        let roster = beats_under::roster(&params).unwrap();
        let sessions = sim
            .open_sessions(SessionId([23; 16]), &beats_under::PROTOCOL, &roster, &nodes)
            .unwrap();
        let tasks: Vec<_> = sessions
            .into_iter()
            .zip(&nodes)
            .enumerate()
            .map(|(i, (s, &node))| {
                if i == 0 {
                    sim.spawn(node, guarded_leader(s, PEERS))
                } else {
                    sim.spawn(node, guarded_follower(s, PEERS))
                }
            })
            .collect();
        // The last peer is cut off for a beat and a half, early on.
        let (&last, others) = nodes.split_last().unwrap();
        sim.run_until(Time::ZERO + Duration::from_millis(1));
        sim.partition(&[last], others);
        sim.run_until(Time::ZERO + Duration::from_millis(3001));
        sim.heal();
        if let Err(stuck) = sim.run() {
            panic!("seed {seed}: stuck: {stuck:?}");
        }
        let seen: Vec<GuardedBeats> = tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.take()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("seed {seed}: Peer[{i}]: {e}"))
            })
            .collect();
        assert_eq!(
            seen[0].completed, GUARDED_BEATS,
            "seed {seed}: the leader stopped after {seen:?}"
        );
        resynced += seen.iter().map(|b| b.resynced).max().unwrap_or(0);
    }
    // The cut-off peer misses at least one beat in every run.
    assert!(resynced >= seeds(), "{resynced} beats resynced");
}

// The state right after a block answers the handler of whichever
// `timeout` it completed on the path taken, and inside an enclosing body
// both that handler and the enclosing one (`S4Handler`, `S5Handler`: the
// generated enum of the handlers a state may hand over).

/// `AfterEither`'s `P[0]`: takes `Go` or `Other`, completes that branch's
/// body, then waits for `Done`, answering the handler `P[1]` starts.
/// Returns the handler values it saw and `Done`'s value.
async fn either_chooser(s: Session<NodeTransport>, go: bool) -> Result<(Vec<u64>, u64), Error> {
    use after_either::p_0::S4Handler;
    use after_either::{Again, Done, Go, Other, Ping, Pong, Resync};
    let ep = after_either::p_0::open(s, after_either::Params {})?;
    let mut seen = Vec::new();
    let mut wait = if go {
        match ep.select_go().send(Go).await?.body().send(Ping(1)).await? {
            Timed::Done(wait) => wait,
            Timed::Expired(_) => panic!("P[0]'s body ended before its only send"),
        }
    } else {
        match ep
            .select_other()
            .send(Other)
            .await?
            .body()
            .send(Pong(2))
            .await?
        {
            Timed::Done(wait) => wait,
            Timed::Expired(_) => panic!("P[0]'s body ended before its only send"),
        }
    };
    loop {
        match wait.recv().await? {
            Timed::Done((Done(v), end)) => {
                end.finish()?;
                return Ok((seen, v));
            }
            Timed::Expired(S4Handler::S5(h)) => {
                let (got, next) = h.exchange(|_| Resync(10)).await?;
                seen.extend(got.into_iter().map(|(_, Resync(v))| v));
                wait = next;
            }
            Timed::Expired(S4Handler::S9(h)) => {
                let (got, next) = h.exchange(|_| Again(20)).await?;
                seen.extend(got.into_iter().map(|(_, Again(v))| v));
                wait = next;
            }
        }
    }
}

/// `AfterEither`'s `P[1]`: gives up on whichever body `P[0]` chose at
/// once, runs its handler, then says it is done.
async fn either_quitter(s: Session<NodeTransport>) -> Result<(), Error> {
    use after_either::p_1::GoOrOther;
    use after_either::{Again, Done, Resync};
    let ep = after_either::p_1::open(s, after_either::Params {})?;
    let done = match ep.branch().await? {
        GoOrOther::Go(_, ep) => ep.body().abandon().exchange(|_| Resync(11)).await?.1,
        GoOrOther::Other(_, ep) => ep.body().abandon().exchange(|_| Again(21)).await?.1,
    };
    match done.send(Done(5)).await? {
        Timed::Done(end) => end.finish(),
        Timed::Expired(_) => panic!("P[1] was handed a handler after running its own"),
    }
}

#[test]
fn the_state_after_a_block_answers_the_handler_of_the_branch_taken() {
    // Before: a state reached from two different timeouts answered
    // neither, so `P[0]` dropped `P[1]`'s handler message and both waited
    // for ever.
    for drop in [0.0, 0.1] {
        for seed in 0..seeds() {
            let go = seed % 2 == 0;
            let mut sim = Sim::new(seed, faults(drop));
            let (a, b) = (sim.add_node(), sim.add_node());
            let roster = after_either::roster(&after_either::Params {}).unwrap();
            let mut s = sim
                .open_sessions(
                    SessionId([22; 16]),
                    &after_either::PROTOCOL,
                    &roster,
                    &[a, b],
                )
                .unwrap()
                .into_iter();
            let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
            let p0 = sim.spawn(a, either_chooser(s0, go));
            let p1 = sim.spawn(b, either_quitter(s1));
            if let Err(stuck) = sim.run() {
                panic!("seed {seed}, drop {drop}: stuck: {stuck:?}");
            }
            p1.take()
                .unwrap()
                .unwrap_or_else(|e| panic!("seed {seed}: P[1]: {e}"));
            let (seen, done) = p0
                .take()
                .unwrap()
                .unwrap_or_else(|e| panic!("seed {seed}: P[0]: {e}"));
            let expected = if go { [10, 11] } else { [20, 21] };
            assert_eq!(
                seen, expected,
                "seed {seed}, drop {drop}: the wrong handler ran"
            );
            assert_eq!(done, 5, "seed {seed}");
        }
    }
}

/// How `AfterInner`'s `P[0]` ended: the handler values it saw (the inner
/// one's, then `Done`; or the outer one's).
#[derive(Debug, PartialEq, Eq)]
enum InnerOrOuter {
    Inner(Vec<u64>, u64),
    Outer(Vec<u64>),
}

/// `AfterInner`'s `P[0]`: goes, completes the inner body, then waits for
/// `Done` inside the outer body.
async fn inner_chooser(s: Session<NodeTransport>) -> Result<InnerOrOuter, Error> {
    use after_inner::p_0::S5Handler;
    use after_inner::{Bail, Done, Go, Ping, Resync};
    let ep = after_inner::p_0::open(s, after_inner::Params {})?.body();
    let outer = |h: after_inner::p_0::S6<NodeTransport>| async move {
        let (got, end) = h.exchange(|_| Bail(30)).await?;
        end.finish()?;
        Ok::<_, Error>(InnerOrOuter::Outer(
            got.into_iter().map(|(_, Bail(v))| v).collect(),
        ))
    };
    let body = match ep.select_go().send(Go).await? {
        Timed::Done(ep) => ep.body(),
        Timed::Expired(h) => return outer(h).await,
    };
    let mut wait = match body.send(Ping(1)).await? {
        Timed::Done(wait) => wait,
        Timed::Expired(_) => panic!("P[0]'s inner body ended before its only send"),
    };
    let mut inner = Vec::new();
    loop {
        match wait.recv().await? {
            Timed::Done((Done(v), after)) => {
                return match after.linger(LINGER).await? {
                    Lingered::Closed => Ok(InnerOrOuter::Inner(inner, v)),
                    Lingered::Handler(h) => outer(h).await,
                };
            }
            Timed::Expired(S5Handler::S7(h)) => match h.exchange(|_| Resync(10)).await? {
                Timed::Done((got, next)) => {
                    inner.extend(got.into_iter().map(|(_, Resync(v))| v));
                    wait = next;
                }
                Timed::Expired(h) => return outer(h).await,
            },
            Timed::Expired(S5Handler::S6(h)) => return outer(h).await,
        }
    }
}

/// `AfterInner`'s `P[1]`: gives up on the inner body (then says it is
/// done), or on the outer one, at once.
async fn inner_quitter(s: Session<NodeTransport>, outer: bool) -> Result<(), Error> {
    use after_inner::p_1::{GoOrHalt, S4Handler};
    use after_inner::{Bail, Done, Resync};
    let ep = after_inner::p_1::open(s, after_inner::Params {})?.body();
    if outer {
        let (_, end) = ep.abandon().exchange(|_| Bail(31)).await?;
        return end.finish();
    }
    let GoOrHalt::Go(_, ep) = (match ep.branch().await? {
        Timed::Done(branch) => branch,
        Timed::Expired(_) => panic!("P[1]'s outer body ended early"),
    }) else {
        panic!("P[0] halted");
    };
    let done = match ep.body().abandon().exchange(|_| Resync(11)).await? {
        Timed::Done((_, done)) => done,
        Timed::Expired(_) => panic!("P[0] started the outer handler"),
    };
    match done.send(Done(5)).await? {
        Timed::Done(after) => match after.linger(LINGER).await? {
            Lingered::Closed => Ok(()),
            Lingered::Handler(_) => panic!("P[0] started the outer handler after Done"),
        },
        Timed::Expired(S4Handler::S5(_) | S4Handler::S6(_)) => {
            panic!("P[1] was handed a handler after running its own")
        }
    }
}

#[test]
fn inside_an_enclosing_body_the_state_after_a_block_answers_both_handlers() {
    // `P[1]` gives up on the inner body: `P[0]`, waiting for `Done` in the
    // outer body, runs the inner handler and then gets `Done`. Or `P[1]`
    // gives up on the outer body: `P[0]` runs the outer handler. Before,
    // the wait answered only the outer handler and the first schedule
    // hung.
    for outer in [false, true] {
        for seed in 0..seeds() {
            let mut sim = Sim::new(seed, faults(0.1));
            let (a, b) = (sim.add_node(), sim.add_node());
            let roster = after_inner::roster(&after_inner::Params {}).unwrap();
            let mut s = sim
                .open_sessions(
                    SessionId([23; 16]),
                    &after_inner::PROTOCOL,
                    &roster,
                    &[a, b],
                )
                .unwrap()
                .into_iter();
            let (s0, s1) = (s.next().unwrap(), s.next().unwrap());
            let p0 = sim.spawn(a, inner_chooser(s0));
            let p1 = sim.spawn(b, inner_quitter(s1, outer));
            if let Err(stuck) = sim.run() {
                panic!("seed {seed}, outer {outer}: stuck: {stuck:?}");
            }
            p1.take()
                .unwrap()
                .unwrap_or_else(|e| panic!("seed {seed}, outer {outer}: P[1]: {e}"));
            let got = p0
                .take()
                .unwrap()
                .unwrap_or_else(|e| panic!("seed {seed}, outer {outer}: P[0]: {e}"));
            let expected = if outer {
                InnerOrOuter::Outer(vec![30, 31])
            } else {
                InnerOrOuter::Inner(vec![10, 11], 5)
            };
            assert_eq!(got, expected, "seed {seed}, outer {outer}");
        }
    }
}
