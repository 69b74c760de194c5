//! Recursion and choice: `cargo run --example adder`.
//!
//! The client loops, sending pairs to add, then says goodbye. `continue
//! Loop` returns the very same state type, so the loop runs as often as
//! the client wants (here N = 5) with no nesting in the types.

use choreo_macros::choreography;
use choreo_runtime::SessionId;

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
                Done => {
                    Client -> Server : Bye;
                }
            }
        }
    }
}

use adder::{Add, Bye, Sum};

const N: i64 = 5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = adder::Params::default();
    let mut s = adder::sessions(&params, SessionId([3; 16]))?.into_iter();
    let (Some(c), Some(sv)) = (s.next(), s.next()) else {
        return Err("roster has two roles".into());
    };
    let client = tokio::spawn(async move {
        let mut ep = adder::client::open(c, params)?;
        for i in 1..=N {
            let next = ep.select_more().send(Add((i, i * 10))).await?;
            let (Sum(sum), next) = next.recv().await?;
            println!("Client: {i} + {} = {sum}", i * 10);
            ep = next; // the loop's head: same type every round
        }
        println!("Client: done after {N} rounds");
        ep.select_done().send(Bye).await?.finish()
    });
    let server = tokio::spawn(async move {
        let mut ep = adder::server::open(sv, params)?;
        let mut served = 0;
        loop {
            match ep.branch().await? {
                adder::server::AddOrBye::Add(Add((a, b)), next) => {
                    served += 1;
                    ep = next.send(Sum(a + b)).await?;
                }
                adder::server::AddOrBye::Bye(Bye, end) => {
                    println!("Server: client said goodbye after {served} additions");
                    return end.finish();
                }
            }
        }
    });
    client.await??;
    server.await??;
    Ok::<(), Box<dyn std::error::Error>>(())
}
