//! Family broadcast and a quorum gather: `cargo run --example map_reduce`.
//!
//! The master gives each of `n` workers its own chunk (`send_each`), then
//! proceeds as soon as `q` partial sums have arrived; the runtime drops
//! the stragglers' late answers. All workers share one local type
//! (`worker`), parameterised by the session's family size.

use choreo_macros::choreography;
use choreo_runtime::{Error, SessionId};

choreography! {
    protocol MapReduce(n, q) {
        roles Master, Worker[n];
        Master -> Worker[*] : Task(Vec<u64>);
        Worker[*] -> Master : Partial(u64) quorum q;
    }
}

use map_reduce::{Partial, Task};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = map_reduce::Params { n: 4, q: 3 };
    let data: Vec<u64> = (1..=40).collect();
    let mut sessions = map_reduce::sessions(&params, SessionId([5; 16]))?.into_iter();
    let Some(master) = sessions.next() else {
        return Err("no master session".into());
    };
    let workers: Vec<_> = sessions
        .map(|s| {
            tokio::spawn(async move {
                let ep = map_reduce::worker::open(s, params)?;
                let me = ep.session().me().index.unwrap_or(0);
                let (Task(chunk), ep) = ep.recv().await?;
                let sum: u64 = chunk.iter().sum();
                println!("Worker[{me}]: summed {} numbers to {sum}", chunk.len());
                ep.send(Partial(sum)).await?.finish()
            })
        })
        .collect();
    let master = tokio::spawn(async move {
        let ep = map_reduce::master::open(master, params)?;
        let n = params.n as usize;
        let per = data.len().div_ceil(n);
        let ep = ep
            .send_each(|i| {
                let start = (i as usize * per).min(data.len());
                let end = (start + per).min(data.len());
                Task(data.get(start..end).unwrap_or_default().to_vec())
            })
            .await?;
        let (partials, ep) = ep.recv_all().await?;
        let from: Vec<u32> = partials.iter().map(|(i, _)| *i).collect();
        let total: u64 = partials.iter().map(|(_, Partial(p))| p).sum();
        println!(
            "Master: quorum of {} reached with workers {from:?}: partial total {total}",
            params.q
        );
        ep.finish()?;
        Ok::<_, Error>(partials.len())
    });
    let got = master.await??;
    for w in workers {
        w.await??;
    }
    assert_eq!(got, params.q as usize);
    println!(
        "MapReduce finished: {got} of {} partials used, stragglers dropped",
        params.n
    );
    Ok(())
}
