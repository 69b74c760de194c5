//! Moving a live session to a user's new phone, over libp2p.
//!
//! A user keeps notes with a service. Halfway through, the session moves
//! from the old phone to the new one, in its current state: the new phone
//! resumes the very typestate the old one stopped in, the service's
//! endpoint never notices (its frames are rerouted to the new phone, and
//! whatever was on its way to the old phone is forwarded), and the old
//! phone cannot act for the user any more.
//!
//! ```text
//! cargo run --example migrate            # all three nodes in one process
//! # or one process each (keys from `keygen`; see --help of each command):
//! cargo run --example migrate -- new-phone --key new.key --listen /ip4/127.0.0.1/tcp/0 \
//!     --from <old phone PeerId> --notes 2
//! cargo run --example migrate -- service --key service.key --listen /ip4/127.0.0.1/tcp/0 \
//!     --allow <old phone PeerId> --peer <new phone address>/p2p/<new phone PeerId>
//! cargo run --example migrate -- old-phone --key old.key --notes 3 \
//!     --service <service address>/p2p/<service PeerId> --new-phone <new phone address>/p2p/<new phone PeerId>
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use choreo_macros::choreography;
use choreo_runtime::net::{
    node_id_of, read_key_file, write_key_file, Libp2pPeerId as PeerId, Multiaddr, NetEvent,
    NetNode, NetNodeConfig, Protocol,
};
use choreo_runtime::node::{NodeId, NodeTransport, SessionSpec};
use choreo_runtime::{Role, RoleId, Session, SessionId};
use clap::{Parser, Subcommand};

choreography! {
    /// The user adds notes as long as it likes; the service numbers them.
    protocol Notes {
        roles User, Service;
        rec Loop {
            choice at User {
                Add => {
                    User -> Service : Note(String);
                    Service -> User : Saved(u64);
                    continue Loop;
                }
                Done => {
                    User -> Service : Bye;
                    Service -> User : Total(u64);
                }
            }
        }
    }
}

use notes::{Bye, Note, Saved, Total};

use choreo_examples::BoxError;

#[derive(Parser, Debug)]
#[command(
    about = "Move a live session from a user's old phone to a new one, over libp2p",
    long_about = "Move a live session from a user's old phone to a new one, over libp2p.\n\n\
        Without a command, runs the service and both phones in this process on 127.0.0.1.\n\
        With commands, each runs in its own process: start new-phone, then service, then old-phone."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new Ed25519 key and print its PeerId.
    Keygen {
        /// Where to write the key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve note sessions until killed.
    Service {
        /// The service's key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to listen.
        #[arg(long)]
        listen: Multiaddr,
        /// A PeerId that may open sessions (repeat).
        #[arg(long = "allow", required = true)]
        allow: Vec<PeerId>,
        /// An address of a peer the service may have to reach, ending in /p2p/<PeerId> (repeat).
        #[arg(long = "peer")]
        peers: Vec<Multiaddr>,
    },
    /// Open a session, add notes, then hand the session to the new phone.
    OldPhone {
        /// The old phone's key file.
        #[arg(long)]
        key: PathBuf,
        /// The service's address, ending in /p2p/<PeerId>.
        #[arg(long)]
        service: Multiaddr,
        /// The new phone's address, ending in /p2p/<PeerId>.
        #[arg(long)]
        new_phone: Multiaddr,
        /// Notes to add before moving.
        #[arg(long, default_value_t = 3)]
        notes: u64,
    },
    /// Wait for the session from the old phone, add notes, finish.
    NewPhone {
        /// The new phone's key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to listen.
        #[arg(long)]
        listen: Multiaddr,
        /// The old phone's PeerId.
        #[arg(long)]
        from: PeerId,
        /// The service's address, ending in /p2p/<PeerId> (not needed if the
        /// service knows the new phone's address: it connects first).
        #[arg(long)]
        service: Option<Multiaddr>,
        /// Notes to add after the move.
        #[arg(long, default_value_t = 2)]
        notes: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    choreo_examples::run_main("warn", async move {
        match cli.command {
            None => demo().await,
            Some(Command::Keygen { out }) => {
                let key = choreo_runtime::net::generate_keypair();
                write_key_file(&out, &key)?;
                println!("peer id: {}", key.public().to_peer_id());
                Ok(())
            }
            Some(Command::Service {
                key,
                listen,
                allow,
                peers,
            }) => {
                let node = node(&key, Some(listen), &allow, &peers).await?;
                announce(&node).await?;
                service(node).await
            }
            Some(Command::OldPhone {
                key,
                service,
                new_phone,
                notes,
            }) => {
                let node = node(&key, None, &[], &[service.clone(), new_phone.clone()]).await?;
                let (service, _) = split_peer(service)?;
                let (new_phone, _) = split_peer(new_phone)?;
                old_phone(&node, node_id_of(&service)?, node_id_of(&new_phone)?, notes).await?;
                node.shutdown().await;
                Ok(())
            }
            Some(Command::NewPhone {
                key,
                listen,
                from,
                service,
                notes,
            }) => {
                let peers: Vec<Multiaddr> = service.into_iter().collect();
                let node = node(&key, Some(listen), &[], &peers).await?;
                announce(&node).await?;
                new_phone(&node, node_id_of(&from)?, notes).await?;
                node.shutdown().await;
                Ok(())
            }
        }
    })
}

/// Splits `/…/p2p/<peer>` into the peer and the address before it.
fn split_peer(mut address: Multiaddr) -> Result<(PeerId, Multiaddr), BoxError> {
    match address.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, address)),
        _ => Err(format!("{address} must end in /p2p/<PeerId>").into()),
    }
}

/// A node with `key`, listening on `listen`, allowing `allow`, and knowing
/// where `peers` are.
async fn node(
    key: &std::path::Path,
    listen: Option<Multiaddr>,
    allow: &[PeerId],
    peers: &[Multiaddr],
) -> Result<NetNode, BoxError> {
    node_with(read_key_file(key)?, listen, allow, peers).await
}

async fn node_with(
    key: choreo_runtime::net::Keypair,
    listen: Option<Multiaddr>,
    allow: &[PeerId],
    peers: &[Multiaddr],
) -> Result<NetNode, BoxError> {
    let mut config = NetNodeConfig::new(key);
    config.net.listen = listen.into_iter().collect();
    config.node.peers = allow
        .iter()
        .map(|p| node_id_of(p).map_err(BoxError::from))
        .collect::<Result<_, _>>()?;
    config.node.link.linger = Duration::from_millis(200);
    let node = NetNode::spawn(config).await?;
    for p in peers {
        let (peer, address) = split_peer(p.clone())?;
        node.add_address(peer, address).await?;
    }
    Ok(node)
}

async fn announce(node: &NetNode) -> Result<(), BoxError> {
    let me = node.local_peer_id();
    println!("peer id: {me}");
    for address in node.listen_addrs().await? {
        println!("listening on {address}/p2p/{me}");
    }
    Ok(())
}

fn spec(id: SessionId, me: u16, user: NodeId, service: NodeId) -> Result<SessionSpec, BoxError> {
    let roster = notes::roster(&notes::Params::default())?;
    Ok(SessionSpec {
        id,
        protocol: &notes::PROTOCOL,
        me: RoleId::single(Role(me)),
        roster,
        // Roster order is declaration order: User, Service.
        peers: vec![user, service],
        patience: None,
    })
}

/// Serve sessions: each prints how many notes it took in.
async fn service(mut node: NetNode) -> Result<(), BoxError> {
    let me = node.local_node_id();
    while let Some(event) = node.next_event().await {
        if let NetEvent::SessionRequested {
            session,
            fingerprint,
            from,
            peer,
        } = event
        {
            if fingerprint != notes::FINGERPRINT {
                continue;
            }
            let s = node.open_session(spec(session, 1, from, me)?)?;
            tokio::spawn(async move {
                match serve(s).await {
                    Ok(n) => println!("service: session with {peer} done: {n} notes saved"),
                    Err(e) => println!("service: session with {peer} failed: {e}"),
                }
            });
        }
    }
    Ok(())
}

async fn serve(session: Session<NodeTransport>) -> Result<u64, BoxError> {
    let mut ep = notes::service::open(session, notes::Params::default())?;
    let mut saved = 0;
    loop {
        match ep.branch().await? {
            notes::service::NoteOrBye::Note(Note(text), next) => {
                saved += 1;
                println!("service: note {saved} {text:?}");
                ep = next.send(Saved(saved)).await?;
            }
            notes::service::NoteOrBye::Bye(Bye, next) => {
                next.send(Total(saved)).await?.finish()?;
                return Ok(saved);
            }
        }
    }
}

/// Open a session, add `count` notes, hand the session to `new_phone`.
async fn old_phone(
    node: &NetNode,
    service: NodeId,
    new_phone: NodeId,
    count: u64,
) -> Result<(), BoxError> {
    let me = node.local_node_id();
    let session = node.open_session(spec(SessionId(rand::random()), 0, me, service)?)?;
    let mut ep = notes::user::open(session, notes::Params::default())?;
    for i in 1..=count {
        let (Saved(n), next) = ep
            .select_add()
            .send(Note(format!("old phone, note {i}")))
            .await?
            .recv()
            .await?;
        println!("old phone: note {i} saved as number {n}");
        ep = next;
    }
    // The endpoint is consumed here: this phone cannot act for the user
    // any more.
    node.shared().hand_off(ep.into_handoff(), new_phone)?;
    println!("old phone: session handed to the new phone");
    // Stay up until the service and the new phone acknowledged.
    if !node.settle(Duration::from_secs(10)).await {
        return Err("the handoff was not acknowledged within 10 s".into());
    }
    Ok(())
}

/// Take the session over from `from`, add `count` notes, finish.
async fn new_phone(node: &NetNode, from: NodeId, count: u64) -> Result<(), BoxError> {
    let handoff = node.shared().accept_handoff(&notes::PROTOCOL, from).await?;
    // The state the old phone stopped in: the loop's head.
    let mut ep = notes::user::S0::resume(handoff)?;
    println!("new phone: session resumed");
    for i in 1..=count {
        let (Saved(n), next) = ep
            .select_add()
            .send(Note(format!("new phone, note {i}")))
            .await?
            .recv()
            .await?;
        println!("new phone: note {i} saved as number {n}");
        ep = next;
    }
    let (Total(total), end) = ep.select_done().send(Bye).await?.recv().await?;
    end.finish()?;
    println!("new phone: the service saved {total} notes in all");
    if !node.settle(Duration::from_secs(5)).await {
        tracing::warn!("the service did not acknowledge the end within 5 s");
    }
    Ok(())
}

/// All three in one process, on 127.0.0.1.
async fn demo() -> Result<(), BoxError> {
    let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
    let keys = [
        choreo_runtime::net::generate_keypair(),
        choreo_runtime::net::generate_keypair(),
        choreo_runtime::net::generate_keypair(),
    ];
    let [service_key, old_key, new_key] = keys;
    let old_peer = old_key.public().to_peer_id();
    let new_phone_node = node_with(new_key, Some(tcp.clone()), &[], &[]).await?;
    let new_addr = first_address(&new_phone_node).await?;
    let service_node = node_with(
        service_key,
        Some(tcp),
        &[old_peer],
        std::slice::from_ref(&new_addr),
    )
    .await?;
    let service_addr = first_address(&service_node).await?;
    let (service_peer, service_at) = split_peer(service_addr.clone())?;
    new_phone_node.add_address(service_peer, service_at).await?;
    let old_phone_node = node_with(old_key, None, &[], &[service_addr, new_addr]).await?;
    let (service_id, old_id, new_id) = (
        service_node.local_node_id(),
        old_phone_node.local_node_id(),
        new_phone_node.local_node_id(),
    );
    let service_task = tokio::spawn(service(service_node));
    let new_task = tokio::spawn(async move {
        let r = new_phone(&new_phone_node, old_id, 2).await;
        new_phone_node.shutdown().await;
        r
    });
    old_phone(&old_phone_node, service_id, new_id, 3).await?;
    old_phone_node.shutdown().await;
    new_task.await??;
    // Let the service print its line.
    tokio::time::sleep(Duration::from_millis(200)).await;
    service_task.abort();
    Ok(())
}

async fn first_address(node: &NetNode) -> Result<Multiaddr, BoxError> {
    let me = node.local_peer_id();
    let address = node
        .listen_addrs()
        .await?
        .into_iter()
        .next()
        .ok_or("the node listens nowhere")?;
    Ok(address.with(Protocol::P2p(me)))
}
