//! Choice with a third party: `cargo run --example three_buyers`.
//!
//! Buyer1 asks the seller for a title; the seller quotes both buyers;
//! Buyer1 offers to pay part; Buyer2 decides. Its branches start with sends
//! to *different* roles (Accept tells the seller first, Reject tells Buyer1
//! first), and the branch names are not the message labels. Run twice, once
//! per branch.

use choreo_macros::choreography;
use choreo_runtime::{Error, SessionId};

choreography! {
    protocol ThreeBuyers {
        roles Buyer1, Buyer2, Seller;

        Buyer1 -> Seller : Title(String);
        Seller -> Buyer1 : Quote(u32);
        Seller -> Buyer2 : Quote(u32);
        Buyer1 -> Buyer2 : Share(u32);
        choice at Buyer2 {
            Accept => {
                Buyer2 -> Seller : Address(String);
                Seller -> Buyer2 : Date(String);
                Buyer2 -> Buyer1 : Confirmed;
            }
            Reject => {
                Buyer2 -> Buyer1 : Quit;
                Buyer2 -> Seller : Quit;
            }
        }
    }
}

use three_buyers::{Address, Confirmed, Date, Quit, Quote, Share, Title};

/// Runs one purchase; returns what Buyer1 learned.
async fn purchase(title: &str, budget: u32, run: u8) -> Result<String, Box<dyn std::error::Error>> {
    let params = three_buyers::Params::default();
    let mut s = three_buyers::sessions(&params, SessionId([run; 16]))?.into_iter();
    let (Some(b1), Some(b2), Some(seller)) = (s.next(), s.next(), s.next()) else {
        return Err("roster has three roles".into());
    };
    let title = title.to_owned();
    let buyer1 = tokio::spawn(async move {
        let ep = three_buyers::buyer1::open(b1, params)?;
        println!("  Buyer1: asks for {title:?}");
        let ep = ep.send(Title(title)).await?;
        let (Quote(price), ep) = ep.recv().await?;
        println!("  Buyer1: quoted {price}, offers to pay {}", price / 2);
        let ep = ep.send(Share(price / 2)).await?;
        let outcome = match ep.branch().await? {
            three_buyers::buyer1::ConfirmedOrQuit::Confirmed(Confirmed, ep) => {
                ep.finish()?;
                "Buyer2 confirmed the purchase"
            }
            three_buyers::buyer1::ConfirmedOrQuit::Quit(Quit, ep) => {
                ep.finish()?;
                "Buyer2 walked away"
            }
        };
        Ok::<_, Error>(outcome.to_owned())
    });
    let buyer2 = tokio::spawn(async move {
        let ep = three_buyers::buyer2::open(b2, params)?;
        let (Quote(price), ep) = ep.recv().await?;
        let (Share(share), ep) = ep.recv().await?;
        let mine = price - share;
        if mine <= budget {
            println!("  Buyer2: my part {mine} fits the budget {budget}: Accept");
            let ep = ep
                .select_accept()
                .send(Address("1 Choreo Lane".into()))
                .await?;
            let (Date(date), ep) = ep.recv().await?;
            println!("  Buyer2: delivery on {date}");
            ep.send(Confirmed).await?.finish()
        } else {
            println!("  Buyer2: my part {mine} exceeds the budget {budget}: Reject");
            let ep = ep.select_reject().send(Quit).await?;
            ep.send(Quit).await?.finish()
        }
    });
    let seller = tokio::spawn(async move {
        let ep = three_buyers::seller::open(seller, params)?;
        let (Title(title), ep) = ep.recv().await?;
        let price = if title.contains("Session") { 60 } else { 300 };
        println!("  Seller: {title:?} costs {price}");
        let ep = ep.send(Quote(price)).await?.send(Quote(price)).await?;
        match ep.branch().await? {
            three_buyers::seller::AddressOrQuit::Address(Address(addr), ep) => {
                println!("  Seller: shipping to {addr}");
                ep.send(Date("2026-12-01".into())).await?.finish()
            }
            three_buyers::seller::AddressOrQuit::Quit(Quit, ep) => {
                println!("  Seller: no sale");
                ep.finish()
            }
        }
    });
    let outcome = buyer1.await??;
    buyer2.await??;
    seller.await??;
    Ok(outcome)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Run 1: an affordable book");
    println!("=> {}", purchase("Session Types in Practice", 40, 1).await?);
    println!("Run 2: an expensive book");
    println!(
        "=> {}",
        purchase("The Art of Computer Programming", 40, 2).await?
    );
    Ok(())
}
