//! Two roles, one round trip: `cargo run --example ping_pong`.

use choreo_macros::choreography;
use choreo_runtime::{Error, SessionId};

choreography! {
    /// A ping answered by a pong.
    protocol PingPong {
        roles Pinger, Ponger;
        Pinger -> Ponger : Ping(u64);
        Ponger -> Pinger : Pong(u64);
    }
}

use ping_pong::{Ping, Pong};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = ping_pong::Params::default();
    let mut sessions = ping_pong::sessions(&params, SessionId([7; 16]))?.into_iter();
    let (Some(a), Some(b)) = (sessions.next(), sessions.next()) else {
        return Ok(());
    };

    let pinger = tokio::spawn(async move {
        let ep = ping_pong::pinger::open(a, params)?;
        println!("Pinger: sending Ping(41)");
        let ep = ep.send(Ping(41)).await?;
        let (Pong(n), ep) = ep.recv().await?;
        println!("Pinger: received Pong({n})");
        ep.finish()?;
        Ok::<(), Error>(())
    });
    let ponger = tokio::spawn(async move {
        let ep = ping_pong::ponger::open(b, params)?;
        let (Ping(n), ep) = ep.recv().await?;
        println!("Ponger: received Ping({n}), answering Pong({})", n + 1);
        let ep = ep.send(Pong(n + 1)).await?;
        ep.finish()?;
        Ok::<(), Error>(())
    });
    for task in [pinger, ponger] {
        task.await??;
    }
    println!("PingPong finished: both endpoints reached End");
    Ok(())
}
