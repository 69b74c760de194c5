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

#[tokio::test]
async fn two_protocols_from_one_file_work_under_a_glob_import() {
    // Ping: the client speaks first.
    let mut sessions = ping::sessions(&ping::Params {}, SessionId([1; 16])).unwrap();
    let server = ping::server::open(sessions.pop().unwrap(), ping::Params {}).unwrap();
    let client = ping::client::open(sessions.pop().unwrap(), ping::Params {}).unwrap();
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
    let mut sessions = pong::sessions(&pong::Params {}, SessionId([2; 16])).unwrap();
    let server = pong::server::open(sessions.pop().unwrap(), pong::Params {}).unwrap();
    let client = pong::client::open(sessions.pop().unwrap(), pong::Params {}).unwrap();
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
