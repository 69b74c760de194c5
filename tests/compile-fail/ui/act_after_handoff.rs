// Handing an endpoint off consumes it: the old holder cannot act any more.
use choreo_macros::choreography;
use choreo_runtime::{MemoryTransport, Session};

choreography! {
    protocol PingPong {
        roles Pinger, Ponger;
        Pinger -> Ponger : Ping(u64);
        Ponger -> Pinger : Pong(u64);
    }
}

async fn pinger(s: Session<MemoryTransport>) {
    let ep = ping_pong::pinger::open(s, ping_pong::Params::default()).unwrap();
    let _moved = ep.into_handoff();
    let _still_here = ep.send(ping_pong::Ping(2)).await;
}

fn main() {}
