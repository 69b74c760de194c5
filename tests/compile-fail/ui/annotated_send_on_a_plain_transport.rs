// A role with an annotated send opens only on a guarded transport: the
// guard chain cannot be skipped by opening it on a plain one.
use choreo_macros::choreography;
use choreo_runtime::{MemoryTransport, Session};

choreography! {
    protocol Invitation {
        roles Account, Guardian;
        @guard("guardian:invite") @cost(4)
        Account -> Guardian : Invite(u64);
    }
}

async fn account(s: Session<MemoryTransport>) {
    let ep = invitation::account::open(s, invitation::Params::default()).unwrap();
    let _ = ep.send(invitation::Invite(1)).await;
}

fn main() {}
