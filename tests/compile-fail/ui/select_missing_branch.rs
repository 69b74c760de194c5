// The client's choice has branches `More` and `Done`; there is no `Maybe`.
use choreo_macros::choreography;
use choreo_runtime::{MemoryTransport, Session};

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

async fn client(s: Session<MemoryTransport>) {
    let ep = adder::client::open(s, adder::Params::default()).unwrap();
    let _ = ep.select_maybe();
}

fn main() {}
