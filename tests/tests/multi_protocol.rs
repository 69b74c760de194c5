//! A file with two protocols, compiled by `choreography!(file = …)` and
//! imported with a glob: both generated modules (each with its own
//! `labels`, with the same label names) are usable side by side, and each
//! runs to completion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod pair {
    choreo_macros::choreography!(file = "tests/data/two_protocols.choreo");
}

use pair::*;

use choreo_runtime::SessionId;

/// The endpoints of a two-role protocol without parameters, over a fresh
/// in-memory network: `open_pair!(ping, client, server, 1)`.
macro_rules! open_pair {
    ($proto:ident, $first:ident, $second:ident, $id:literal) => {{
        let params = $proto::Params {};
        let mut sessions = $proto::sessions(&params, SessionId([$id; 16])).unwrap();
        let second = $proto::$second::open(sessions.pop().unwrap(), params).unwrap();
        let first = $proto::$first::open(sessions.pop().unwrap(), params).unwrap();
        (first, second)
    }};
}

#[tokio::test]
async fn two_protocols_from_one_file_work_under_a_glob_import() {
    // Ping: the client speaks first.
    let (client, server) = open_pair!(ping, client, server, 1);
    let (client, server) = tokio::join!(
        async move {
            let c = client.send(ping::Hello(7)).await.unwrap();
            let (ping::Reply(n), c) = c.recv().await.unwrap();
            c.finish().unwrap();
            n
        },
        async move {
            let (ping::Hello(n), s) = server.recv().await.unwrap();
            s.send(ping::Reply(n + 1)).await.unwrap().finish().unwrap();
            n
        }
    );
    assert_eq!((client, server), (8, 7));

    // Pong: the same label names in the other direction.
    let (client, server) = open_pair!(pong, client, server, 2);
    let (client, server) = tokio::join!(
        async move {
            let (pong::labels::Hello(n), c) = client.recv().await.unwrap();
            c.send(pong::labels::Reply(n * 2))
                .await
                .unwrap()
                .finish()
                .unwrap();
            n
        },
        async move {
            let s = server.send(pong::labels::Hello(21)).await.unwrap();
            let (pong::labels::Reply(n), s) = s.recv().await.unwrap();
            s.finish().unwrap();
            n
        }
    );
    assert_eq!((client, server), (21, 42));
    assert_ne!(ping::FINGERPRINT, pong::FINGERPRINT);
}

/// The same file beside a glob import of one of its protocols, in the same
/// module: `ping::*` brings `Hello` into the module that `pong` imports
/// with `use super::*`, and `pong::Hello` is still `pong`'s own label (it
/// was ambiguous between two globs, a compile error in the user's crate).
mod pair_beside_a_glob {
    choreo_macros::choreography!(file = "tests/data/two_protocols.choreo");

    pub use ping::*;

    /// Pong's server greets, ping's client answers: both labels named
    /// `Hello`, one unqualified (ping's, from the glob) and one through its
    /// module.
    pub fn greetings() -> (Hello, pong::Hello) {
        (Hello(1), pong::Hello(2))
    }
}

#[tokio::test]
async fn a_protocols_labels_stay_its_own_beside_a_glob_import_of_anothers() {
    let (ping_hello, pong_hello) = pair_beside_a_glob::greetings();
    assert_eq!((ping_hello.0, pong_hello.0), (1, 2));

    // Pong's endpoints take pong's label at the module root.
    use pair_beside_a_glob::pong;
    let (client, server) = open_pair!(pong, client, server, 3);
    let (client, server) = tokio::join!(
        async move {
            let (pong::Hello(n), c) = client.recv().await.unwrap();
            c.send(pong::Reply(n + 1)).await.unwrap().finish().unwrap();
            n
        },
        async move {
            let s = server.send(pong_hello).await.unwrap();
            let (pong::Reply(n), s) = s.recv().await.unwrap();
            s.finish().unwrap();
            n
        }
    );
    assert_eq!((client, server), (2, 3));
}

/// Labels named like the module's own items or like the Rust prelude's: the
/// module root keeps its items (`Params` is the parameters) and its code
/// its prelude (`Ok(…)`, `None`), and those labels are under `labels::`
/// (before, labels `Ok` or `Option` broke the generated module).
mod named_like_items {
    choreo_macros::choreography! {
        protocol Setup {
            roles Client, Server;
            Client -> Server : Params(u32);
            Server -> Client : Chan;
            Client -> Server : Some(u32);
            Server -> Client : Ok;
            Client -> Server : Err(Option<String>);
        }
    }
}

#[tokio::test]
async fn labels_named_like_module_or_prelude_items_are_under_labels() {
    use named_like_items::setup::{self, labels};
    let (client, server) = open_pair!(setup, client, server, 4);
    let (client, server) = tokio::join!(
        async move {
            let c = client.send(labels::Params(5)).await.unwrap();
            let (labels::Chan, c) = c.recv().await.unwrap();
            let c = c.send(labels::Some(6)).await.unwrap();
            let (labels::Ok, c) = c.recv().await.unwrap();
            c.send(labels::Err(Some("late".into())))
                .await
                .unwrap()
                .finish()
                .unwrap();
        },
        async move {
            let (labels::Params(n), s) = server.recv().await.unwrap();
            let s = s.send(labels::Chan).await.unwrap();
            let (labels::Some(m), s) = s.recv().await.unwrap();
            let s = s.send(labels::Ok).await.unwrap();
            let (labels::Err(why), s) = s.recv().await.unwrap();
            s.finish().unwrap();
            (n, m, why)
        }
    );
    assert_eq!((client, server), ((), (5, 6, Some("late".to_owned()))));
    // The root's own items are untouched.
    assert_eq!(setup::Params {}, setup::Params::from_handoff(&[]).unwrap());
}

/// Payload types named like their labels (`Vote(Vote)`) or like the
/// protocol module's own items (`Params`): the payloads are the invoking
/// module's types, as written, not the label wrapping itself nor the
/// protocol's parameters (before, `Vote(Vote)` was a recursive type, E0072).
mod payloads_named_like_labels {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Vote {
        pub yes: bool,
    }

    /// An application's own settings type, named like the generated
    /// `Params`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Params {
        pub rounds: u32,
        pub title: String,
    }

    choreo_macros::choreography! {
        protocol Ballot {
            roles Clerk, Voter;
            Clerk -> Voter : Setup(Params);
            Voter -> Clerk : Vote(Vote);
            Clerk -> Voter : Tally(Vec<Vote>);
        }
    }
}

#[tokio::test]
async fn payloads_named_like_labels_or_module_items_are_the_invoking_modules_types() {
    use payloads_named_like_labels::{ballot, Params, Vote};
    let (clerk, voter) = open_pair!(ballot, clerk, voter, 5);
    let settings = Params {
        rounds: 1,
        title: "budget".into(),
    };
    let (tally, seen) = tokio::join!(
        async move {
            let c = clerk.send(ballot::Setup(settings)).await.unwrap();
            let (ballot::Vote(vote), c) = c.recv().await.unwrap();
            c.send(ballot::Tally(vec![vote.clone()]))
                .await
                .unwrap()
                .finish()
                .unwrap();
            vote
        },
        async move {
            let (ballot::Setup(settings), v) = voter.recv().await.unwrap();
            let v = v.send(ballot::Vote(Vote { yes: true })).await.unwrap();
            let (ballot::Tally(votes), v) = v.recv().await.unwrap();
            v.finish().unwrap();
            (settings, votes)
        }
    );
    assert_eq!(tally, Vote { yes: true });
    assert_eq!(
        seen,
        (
            Params {
                rounds: 1,
                title: "budget".into()
            },
            vec![Vote { yes: true }]
        )
    );
}

/// Roles and labels named like what code generation and the runtime
/// write (`State`, `End`, `S0`, `Timed`, `Session`, a label `rt`), and a
/// payload type named like a label: the protocol compiles and runs.
mod generated_names {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Payload(pub u8);

    choreo_macros::choreography! {
        protocol State {
            roles End, Session, Chan;
            End -> Session : State(u8);
            Session -> End : End;
            End -> Session : S0(u8);
            Session -> Chan : Timed(u8);
            Chan -> End : rt;
            End -> Chan : Payload(Payload);
            Chan -> Session : labels(u8);
            Session -> End : Session(u8);
        }

        /// Role modules `std` and `core`: the payloads' `std::…` and
        /// `core::…` are still the standard crates.
        protocol Lib {
            roles Std, Core;
            Std -> Core : Map(std::collections::BTreeMap<u8, u8>);
            Core -> Std : Num(core::num::NonZeroU8);
        }
    }
}

#[tokio::test]
async fn roles_named_like_standard_crates_leave_payload_paths_alone() {
    use generated_names::lib;
    let (std_end, core_end) = open_pair!(lib, std, core, 8);
    let (sent, got) = tokio::join!(
        async move {
            let s = std_end
                .send(lib::Map([(1, 2)].into_iter().collect()))
                .await
                .unwrap();
            let (lib::Num(n), s) = s.recv().await.unwrap();
            s.finish().unwrap();
            n.get()
        },
        async move {
            let (lib::Map(map), c) = core_end.recv().await.unwrap();
            let n = core::num::NonZeroU8::new(map[&1]).unwrap();
            c.send(lib::Num(n)).await.unwrap().finish().unwrap();
            map
        }
    );
    assert_eq!((sent, got), (2, [(1, 2)].into_iter().collect()));
}

#[tokio::test]
async fn roles_and_labels_named_like_generated_items_compile_and_run() {
    use generated_names::state::{self, labels};
    use generated_names::Payload;
    let params = state::Params {};
    let mut sessions = state::sessions(&params, SessionId([6; 16])).unwrap();
    let chan = state::chan::open(sessions.pop().unwrap(), params).unwrap();
    let session = state::session::open(sessions.pop().unwrap(), params).unwrap();
    let end = state::end::open(sessions.pop().unwrap(), params).unwrap();
    let (last, forwarded, payload) = tokio::join!(
        async move {
            let e = end.send(labels::State(1)).await.unwrap();
            let (labels::End, e) = e.recv().await.unwrap();
            let e = e.send(labels::S0(2)).await.unwrap();
            let (labels::rt, e) = e.recv().await.unwrap();
            let e = e.send(labels::Payload(Payload(3))).await.unwrap();
            let (labels::Session(n), e) = e.recv().await.unwrap();
            e.finish().unwrap();
            n
        },
        async move {
            let (labels::State(a), s) = session.recv().await.unwrap();
            let s = s.send(labels::End).await.unwrap();
            let (labels::S0(b), s) = s.recv().await.unwrap();
            let s = s.send(labels::Timed(a + b)).await.unwrap();
            let (labels::labels(c), s) = s.recv().await.unwrap();
            s.send(labels::Session(c)).await.unwrap().finish().unwrap();
            a + b
        },
        async move {
            let (labels::Timed(t), c) = chan.recv().await.unwrap();
            let c = c.send(labels::rt).await.unwrap();
            let (labels::Payload(p), c) = c.recv().await.unwrap();
            c.send(labels::labels(t * 10 + p.0))
                .await
                .unwrap()
                .finish()
                .unwrap();
            p
        }
    );
    assert_eq!((last, forwarded, payload), (33, 3, Payload(3)));
}

/// A called protocol's label named like the caller's (`Ping`) is
/// qualified with the callee's name (`SubPing`), and numbered when the
/// caller also has a label of that name (`SubPing2`; before, two
/// `SubPing` types and the module did not compile).
mod called_labels {
    choreo_macros::choreography! {
        protocol Sub {
            roles X, Y;
            X -> Y : Ping(u8);
        }
        protocol Caller {
            roles A, B;
            A -> B : Ping(u16);
            B -> A : SubPing(u32);
            call Sub(A, B);
        }
    }
}

#[tokio::test]
async fn a_called_protocols_label_gets_a_name_of_its_own() {
    use called_labels::caller;
    let (a, b) = open_pair!(caller, a, b, 7);
    let (a, b) = tokio::join!(
        async move {
            let a = a.send(caller::Ping(1000)).await.unwrap();
            let (caller::SubPing(n), a) = a.recv().await.unwrap();
            a.send(caller::SubPing2(7)).await.unwrap().finish().unwrap();
            n
        },
        async move {
            let (caller::Ping(n), b) = b.recv().await.unwrap();
            let b = b.send(caller::SubPing(u32::from(n) * 2)).await.unwrap();
            let (caller::SubPing2(m), b) = b.recv().await.unwrap();
            b.finish().unwrap();
            (n, m)
        }
    );
    assert_eq!((a, b), (2000, (1000, 7)));
}
