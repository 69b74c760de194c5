//! `for` over a literal family: `cargo run --example ring`.
//!
//! A token travels once around four nodes, each adding its index. Every
//! member gets its own local type (node_0 sends first and receives last),
//! so each has its own module.

use choreo_macros::choreography;
use choreo_runtime::{Error, SessionId};

choreography! {
    protocol Ring {
        roles Node[4];
        for i in Node {
            Node[i] -> Node[i + 1] : Token(u64);
        }
    }
}

use ring::Token;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = ring::Params::default();
    let mut s = ring::sessions(&params, SessionId([4; 16]))?.into_iter();
    let (Some(n0), Some(n1), Some(n2), Some(n3)) = (s.next(), s.next(), s.next(), s.next()) else {
        return Err("roster has four nodes".into());
    };
    let first = tokio::spawn(async move {
        let ep = ring::node_0::open(n0, params)?;
        println!("Node[0]: starts the token at 100");
        let (Token(t), ep) = ep.send(Token(100)).await?.recv().await?;
        println!("Node[0]: token came back as {t}");
        ep.finish()?;
        Ok::<u64, Error>(t)
    });
    // Nodes 1..3 receive from their predecessor and pass the token on.
    macro_rules! relay {
        ($module:ident, $session:expr, $i:expr) => {
            tokio::spawn(async move {
                let ep = ring::$module::open($session, params)?;
                let (Token(t), ep) = ep.recv().await?;
                println!("Node[{}]: got {t}, passes {}", $i, t + $i);
                ep.send(Token(t + $i)).await?.finish()
            })
        };
    }
    let relays = [
        relay!(node_1, n1, 1),
        relay!(node_2, n2, 2),
        relay!(node_3, n3, 3),
    ];
    for r in relays {
        r.await??;
    }
    let t = first.await??;
    assert_eq!(t, 106);
    println!("Ring finished: 100 + 1 + 2 + 3 = {t}");
    Ok(())
}
