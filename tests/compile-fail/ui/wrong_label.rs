// The pinger must send `Ping` first, not `Pong`.
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
    let _ = ep.send(ping_pong::Pong(1)).await;
}

fn main() {}
