//! Generated endpoints run to completion in memory; every branch of every
//! choice is exercised; a peer that breaks the protocol makes the receiver
//! fail with `ProtocolViolation` instead of hanging.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::{Error, Label, Role, RoleId, SessionId};

choreography! {
    protocol PingPong {
        roles Pinger, Ponger;
        Pinger -> Ponger : Ping(u64);
        Ponger -> Pinger : Pong(u64);
    }
}

choreography! {
    /// Branches start with sends to different receivers, and branch names
    /// are not message labels.
    protocol ThreeBuyers {
        roles Buyer1, Buyer2, Seller;
        Buyer1 -> Seller : Title(String);
        Seller -> Buyer1 : Quote(u32);
        Seller -> Buyer2 : Quote(u32);
        Buyer1 -> Buyer2 : Share(u32);
        choice at Buyer2 {
            Accept => {
                Buyer2 -> Seller : Address(String);
                Seller -> Buyer2 : Date(String);
                Buyer2 -> Buyer1 : Confirmed;
            }
            Reject => {
                Buyer2 -> Buyer1 : Quit;
                Buyer2 -> Seller : Quit;
            }
        }
    }
}

choreography! {
    protocol Adder {
        roles Client, Server;
        rec Loop {
            choice at Client {
                More => {
                    Client -> Server : Add((i64, i64));
                    Server -> Client : Sum(i64);
                    continue Loop;
                }
                Done => { Client -> Server : Bye; }
            }
        }
    }
}

choreography! {
    protocol Ring {
        roles Node[3];
        for i in Node { Node[i] -> Node[i + 1] : Token(u64); }
    }
}

choreography! {
    protocol MapReduce(n, q) {
        roles Master, Worker[n];
        Master -> Worker[*] : Task(Vec<u64>);
        Worker[*] -> Master : Partial(u64) quorum q;
    }
}

choreography! {
    protocol Gossip(n) {
        roles Peer[n];
        Peer[*] -> Peer[*] : Rumor(u32);
    }
}

/// Fails the test instead of hanging when a run deadlocks.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the protocol run hung")
}

#[tokio::test]
async fn ping_pong_runs_to_completion() {
    let params = ping_pong::Params::default();
    let mut s = ping_pong::sessions(&params, SessionId([1; 16])).unwrap();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    let pinger = async {
        let ep = ping_pong::pinger::open(a, params)?;
        let (ping_pong::Pong(n), ep) = ep.send(ping_pong::Ping(1)).await?.recv().await?;
        ep.finish()?;
        Ok::<_, Error>(n)
    };
    let ponger = async {
        let ep = ping_pong::ponger::open(b, params)?;
        let (ping_pong::Ping(n), ep) = ep.recv().await?;
        ep.send(ping_pong::Pong(n + 1)).await?.finish()
    };
    let (got, done) = bounded(async { tokio::join!(pinger, ponger) }).await;
    assert_eq!(got.unwrap(), 2);
    done.unwrap();
}

/// Runs ThreeBuyers; `accept` decides Buyer2's branch. Returns what Buyer1
/// and the seller observed.
async fn three_buyers_run(accept: bool) -> (&'static str, &'static str) {
    use three_buyers::*;
    let params = Params::default();
    let mut s = sessions(&params, SessionId([2; 16])).unwrap().into_iter();
    let (b1, b2, sl) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let buyer1 = async {
        let ep = buyer1::open(b1, params)?;
        let (Quote(p), ep) = ep.send(Title("x".into())).await?.recv().await?;
        let ep = ep.send(Share(p / 2)).await?;
        Ok::<_, Error>(match ep.branch().await? {
            buyer1::ConfirmedOrQuit::Confirmed(Confirmed, ep) => {
                ep.finish()?;
                "confirmed"
            }
            buyer1::ConfirmedOrQuit::Quit(Quit, ep) => {
                ep.finish()?;
                "quit"
            }
        })
    };
    let buyer2 = async {
        let ep = buyer2::open(b2, params)?;
        let (Quote(_), ep) = ep.recv().await?;
        let (Share(_), ep) = ep.recv().await?;
        if accept {
            let ep = ep.select_accept().send(Address("here".into())).await?;
            let (Date(_), ep) = ep.recv().await?;
            ep.send(Confirmed).await?.finish()
        } else {
            ep.select_reject()
                .send(Quit)
                .await?
                .send(Quit)
                .await?
                .finish()
        }
    };
    let seller = async {
        let ep = seller::open(sl, params)?;
        let (Title(_), ep) = ep.recv().await?;
        let ep = ep.send(Quote(10)).await?.send(Quote(10)).await?;
        Ok::<_, Error>(match ep.branch().await? {
            seller::AddressOrQuit::Address(Address(_), ep) => {
                ep.send(Date("soon".into())).await?.finish()?;
                "sold"
            }
            seller::AddressOrQuit::Quit(Quit, ep) => {
                ep.finish()?;
                "no sale"
            }
        })
    };
    let (r1, r2, r3) = bounded(async { tokio::join!(buyer1, buyer2, seller) }).await;
    r2.unwrap();
    (r1.unwrap(), r3.unwrap())
}

#[tokio::test]
async fn three_buyers_accept_branch_reaches_seller_first_and_buyer1_later() {
    assert_eq!(three_buyers_run(true).await, ("confirmed", "sold"));
}

#[tokio::test]
async fn three_buyers_reject_branch_tells_buyer1_first_then_seller() {
    assert_eq!(three_buyers_run(false).await, ("quit", "no sale"));
}

async fn adder_run(rounds: i64) -> (Vec<i64>, usize) {
    use adder::*;
    let params = Params::default();
    let mut s = sessions(&params, SessionId([3; 16])).unwrap().into_iter();
    let (c, sv) = (s.next().unwrap(), s.next().unwrap());
    let client = async {
        let mut ep = client::open(c, params)?;
        let mut sums = Vec::new();
        for i in 0..rounds {
            let (Sum(s), next) = ep.select_more().send(Add((i, 1))).await?.recv().await?;
            sums.push(s);
            ep = next;
        }
        ep.select_done().send(Bye).await?.finish()?;
        Ok::<_, Error>(sums)
    };
    let server = async {
        let mut ep = server::open(sv, params)?;
        let mut served = 0;
        loop {
            match ep.branch().await? {
                server::AddOrBye::Add(Add((a, b)), next) => {
                    served += 1;
                    ep = next.send(Sum(a + b)).await?;
                }
                server::AddOrBye::Bye(Bye, end) => {
                    end.finish()?;
                    return Ok::<_, Error>(served);
                }
            }
        }
    };
    let (c, s) = bounded(async { tokio::join!(client, server) }).await;
    (c.unwrap(), s.unwrap())
}

#[tokio::test]
async fn adder_loops_as_often_as_the_client_chooses() {
    assert_eq!(adder_run(0).await, (vec![], 0));
    let (sums, served) = adder_run(100).await;
    assert_eq!(served, 100);
    assert_eq!(sums, (0..100).map(|i| i + 1).collect::<Vec<_>>());
}

#[tokio::test]
async fn ring_passes_the_token_around_every_member() {
    use ring::*;
    let params = Params::default();
    let mut s = sessions(&params, SessionId([4; 16])).unwrap().into_iter();
    let (a, b, c) = (s.next().unwrap(), s.next().unwrap(), s.next().unwrap());
    let n0 = async {
        let (Token(t), ep) = node_0::open(a, params)?
            .send(Token(1))
            .await?
            .recv()
            .await?;
        ep.finish()?;
        Ok::<_, Error>(t)
    };
    let n1 = async {
        let (Token(t), ep) = node_1::open(b, params)?.recv().await?;
        ep.send(Token(t * 10)).await?.finish()
    };
    let n2 = async {
        let (Token(t), ep) = node_2::open(c, params)?.recv().await?;
        ep.send(Token(t + 5)).await?.finish()
    };
    let (t, r1, r2) = bounded(async { tokio::join!(n0, n1, n2) }).await;
    r1.unwrap();
    r2.unwrap();
    assert_eq!(t.unwrap(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_reduce_proceeds_at_quorum_with_per_worker_values() {
    use map_reduce::*;
    let params = Params { n: 5, q: 3 };
    let mut s = sessions(&params, SessionId([5; 16])).unwrap().into_iter();
    let master = s.next().unwrap();
    let workers: Vec<_> = s
        .map(|w| {
            tokio::spawn(async move {
                let (Task(chunk), ep) = worker::open(w, params)?.recv().await?;
                ep.send(Partial(chunk.iter().sum())).await?.finish()
            })
        })
        .collect();
    let (partials, ep) = bounded(async {
        master::open(master, params)?
            .send_each(|i| Task(vec![u64::from(i); 2]))
            .await?
            .recv_all()
            .await
    })
    .await
    .unwrap();
    ep.finish().unwrap();
    assert_eq!(partials.len(), 3);
    for (i, Partial(p)) in &partials {
        assert_eq!(*p, u64::from(*i) * 2, "worker {i} got its own chunk");
    }
    for w in workers {
        w.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_gives_every_member_every_value() {
    use gossip::*;
    let params = Params { n: 4 };
    let tasks: Vec<_> = sessions(&params, SessionId([6; 16]))
        .unwrap()
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let ep = peer::open(s, params)?;
                let me = ep.session().me().index.unwrap();
                let (all, ep) = ep.exchange(|to| Rumor(me * 10 + to)).await?;
                ep.finish()?;
                Ok::<_, Error>((me, all))
            })
        })
        .collect();
    for t in tasks {
        let (me, all) = bounded(t).await.unwrap().unwrap();
        let got: Vec<(u32, u32)> = all.into_iter().map(|(i, Rumor(v))| (i, v)).collect();
        let want: Vec<(u32, u32)> = (0..4).map(|i| (i, i * 10 + me)).collect();
        assert_eq!(got, want, "member {me}");
    }
}

#[tokio::test]
async fn a_wrong_label_from_the_peer_is_a_protocol_violation_not_a_hang() {
    let params = ping_pong::Params::default();
    // A hand-written peer talks on the session, so the network has no
    // typed lanes (the generated `sessions()` would give it lanes).
    let mut s = choreo_runtime::memory::sessions(
        SessionId([7; 16]),
        &ping_pong::PROTOCOL,
        &ping_pong::roster(&params).unwrap(),
        choreo_runtime::MemoryConfig::default(),
    )
    .unwrap();
    let mut rogue = s.pop().unwrap();
    let a = s.pop().unwrap();
    let pinger = async {
        let ep = ping_pong::pinger::open(a, params)?;
        let ep = ep.send(ping_pong::Ping(1)).await?;
        ep.recv().await.map(|(ping_pong::Pong(n), _)| n)
    };
    // The rogue ponger answers with label 0 (`Ping`) where `Pong` is due.
    let ponger = async {
        let _: u64 = rogue.recv(RoleId::single(Role(0)), Label(0)).await?;
        rogue.send(RoleId::single(Role(0)), Label(0), &5u64).await?;
        Ok::<_, Error>(rogue)
    };
    let (got, rogue) = bounded(async { tokio::join!(pinger, ponger) }).await;
    let _keep_open = rogue.unwrap();
    match got {
        Err(Error::ProtocolViolation {
            role,
            expected,
            got,
        }) => {
            assert_eq!(role, "Ponger");
            assert!(expected.contains("Pong"), "{expected}");
            assert!(got.contains("Ping"), "{got}");
        }
        other => panic!("expected a protocol violation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_peer_that_vanishes_makes_the_receiver_fail_not_hang() {
    let params = ping_pong::Params::default();
    let mut s = ping_pong::sessions(&params, SessionId([8; 16])).unwrap();
    let b = s.pop().unwrap();
    let a = s.pop().unwrap();
    drop(b);
    let ep = ping_pong::pinger::open(a, params).unwrap();
    let got = bounded(async { ep.send(ping_pong::Ping(1)).await?.recv().await }).await;
    assert!(
        matches!(got, Err(Error::Transport { .. })),
        "{:?}",
        got.err()
    );
}

#[tokio::test]
async fn opening_the_wrong_role_is_a_usage_error() {
    let params = ping_pong::Params::default();
    let mut s = ping_pong::sessions(&params, SessionId([9; 16])).unwrap();
    let _b = s.pop().unwrap();
    let a = s.pop().unwrap();
    assert!(matches!(
        ping_pong::ponger::open(a, params),
        Err(Error::Usage(_))
    ));
}

choreography! {
    protocol Resume {
        roles C, S;
        C -> S : Hi;
    }

    protocol Deadline {
        roles Client, Server;
        timeout 100ms {
            Client -> Server : Request(u32);
            Server -> Client : Reply(u32);
        } else {
            link Resume(Client, Server);
        }
    }
}

/// Runs `Deadline`; the server answers after `delay`. Returns whether the
/// client got the reply (`Some`) or ran the handler (`None`).
async fn deadline_run(delay: Duration) -> Option<u32> {
    use choreo_runtime::typestate::Timed;
    use deadline::*;
    let params = Params::default();
    let mut s = sessions(&params, SessionId([10; 16])).unwrap();
    let sv = s.pop().unwrap();
    let cl = s.pop().unwrap();
    let client = async {
        let ep = client::open(cl, params)?;
        assert_eq!(ep.duration(), Duration::from_millis(100));
        let Timed::Done(ep) = ep.body().send(Request(20)).await? else {
            panic!("the deadline cannot pass before the first send");
        };
        match ep.recv().await? {
            Timed::Done((Reply(v), end)) => {
                end.finish()?;
                Ok::<_, Error>(Some(v))
            }
            Timed::Expired(link) => {
                let link = link.link();
                link.check(&resume::FINGERPRINT)?;
                assert_eq!(link.protocol, "Resume");
                Ok(None)
            }
        }
    };
    let server = async {
        let ep = server::open(sv, params)?;
        let Timed::Done((Request(v), ep)) = ep.body().recv().await? else {
            panic!("the request arrives at once");
        };
        tokio::time::sleep(delay).await;
        if delay < Duration::from_millis(100) {
            match ep.send(Reply(v + 1)).await? {
                Timed::Done(end) => end.finish()?,
                Timed::Expired(_) => panic!("the server's deadline passed before {delay:?}"),
            }
        } else {
            // Past the deadline: the send does not happen, the handler runs.
            match ep.send(Reply(v + 1)).await? {
                Timed::Done(_) => panic!("a send after the deadline went out"),
                Timed::Expired(handler) => {
                    let _link = handler.link();
                }
            }
        }
        Ok::<_, Error>(())
    };
    let (got, served) = bounded(async { tokio::join!(client, server) }).await;
    served.unwrap();
    got.unwrap()
}

#[tokio::test]
async fn timeout_body_completes_when_the_reply_beats_the_deadline() {
    assert_eq!(deadline_run(Duration::from_millis(0)).await, Some(21));
}

#[tokio::test]
async fn timeout_hands_over_the_handler_state_when_the_deadline_passes() {
    assert_eq!(deadline_run(Duration::from_millis(300)).await, None);
}
