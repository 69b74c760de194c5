//! A generated ping-pong protocol between two processes over libp2p.
//!
//! ```text
//! cargo run --release --example net_ping_pong -- keygen --out server.key
//! cargo run --release --example net_ping_pong -- keygen --out client.key
//! cargo run --release --example net_ping_pong -- serve --key server.key \
//!     --listen /ip4/127.0.0.1/tcp/4001 --allow <client PeerId>
//! cargo run --release --example net_ping_pong -- client --key client.key \
//!     --server /ip4/127.0.0.1/tcp/4001/p2p/<server PeerId> --rounds 100
//! ```
//!
//! The server only accepts connections of the PeerIds given with `--allow`;
//! any other client is refused at the connection (before a single frame of
//! its session reaches the server) and exits with an error saying so.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::net::{
    node_id_of, read_key_file, write_key_file, HostEvent, Libp2pPeerId as PeerId, Multiaddr,
    NetEvent, NetNode, NetNodeConfig,
};
use choreo_runtime::node::{NodeId, SessionSpec};
use choreo_runtime::{ProtocolInfo, Role, RoleId, SessionId};
use clap::{Parser, Subcommand};

choreography! {
    /// The client pings as long as it likes, then says stop.
    protocol NetPingPong {
        roles Client, Server;
        rec Round {
            choice at Client {
                Continue => {
                    Client -> Server : Ping(u64);
                    Server -> Client : Pong(u64);
                    continue Round;
                }
                Stop => {
                    Client -> Server : Stop;
                }
            }
        }
    }
}

use net_ping_pong::{Ping, Pong, Stop};

#[derive(Parser, Debug)]
#[command(
    about = "Ping-pong between two processes over libp2p (TCP + Noise + Yamux, or QUIC)",
    long_about = "Ping-pong between two processes over libp2p.\n\n\
        1. keygen a key for each side; each prints its PeerId.\n\
        2. serve with the server key, a listen address and the client's PeerId.\n\
        3. client with the client key and the server's address ending in /p2p/<server PeerId>.\n\n\
        Logs go to stderr; set RUST_LOG=debug for more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new Ed25519 key (libp2p protobuf encoding) and print its PeerId.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve ping-pong sessions for the allowed peers until killed.
    Serve {
        /// The server's key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to listen, e.g. /ip4/127.0.0.1/tcp/4001 or /ip4/127.0.0.1/udp/4001/quic-v1.
        #[arg(long)]
        listen: Vec<Multiaddr>,
        /// A PeerId allowed to connect (repeat for several).
        #[arg(long = "allow", required = true)]
        allow: Vec<PeerId>,
        /// Discover peers on the local network with mDNS.
        #[arg(long)]
        mdns: bool,
    },
    /// Run N rounds against a server and print the median round trip.
    Client {
        /// The client's key file.
        #[arg(long)]
        key: PathBuf,
        /// The server's address, ending in /p2p/<server PeerId>.
        #[arg(long)]
        server: Multiaddr,
        /// Round trips to run.
        #[arg(long, default_value_t = 10)]
        rounds: u64,
    },
}

use choreo_examples::BoxError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    choreo_examples::run_main("warn", async move {
        match cli.command {
            Command::Keygen { out } => keygen(out),
            Command::Serve {
                key,
                listen,
                allow,
                mdns,
            } => serve(key, listen, allow, mdns).await,
            Command::Client {
                key,
                server,
                rounds,
            } => client(key, server, rounds).await,
        }
    })
}

fn keygen(out: PathBuf) -> Result<(), BoxError> {
    let key = choreo_runtime::net::generate_keypair();
    write_key_file(&out, &key)?;
    println!("peer id: {}", key.public().to_peer_id());
    Ok(())
}

/// The instance of the role called `name` (roles are numbered in
/// declaration order).
fn role(protocol: &ProtocolInfo, name: &str) -> Result<RoleId, BoxError> {
    let index = protocol
        .roles
        .iter()
        .position(|r| *r == name)
        .ok_or_else(|| format!("protocol {} has no role {name}", protocol.name))?;
    Ok(RoleId::single(Role(u16::try_from(index)?)))
}

fn spec(id: SessionId, me: &str, client: NodeId, server: NodeId) -> Result<SessionSpec, BoxError> {
    let params = net_ping_pong::Params::default();
    let roster = net_ping_pong::roster(&params)?;
    let (client_role, server_role) = (
        role(&net_ping_pong::PROTOCOL, "Client")?,
        role(&net_ping_pong::PROTOCOL, "Server")?,
    );
    // peers[i] is the node bound to roster.instances()[i].
    let peers = roster
        .instances()
        .iter()
        .map(|instance| {
            if *instance == client_role {
                Ok(client)
            } else if *instance == server_role {
                Ok(server)
            } else {
                Err(format!("unexpected role instance {instance:?}"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SessionSpec {
        id,
        protocol: &net_ping_pong::PROTOCOL,
        me: role(&net_ping_pong::PROTOCOL, me)?,
        roster,
        peers,
        patience: None,
    })
}

async fn serve(
    key: PathBuf,
    listen: Vec<Multiaddr>,
    allow: Vec<PeerId>,
    mdns: bool,
) -> Result<(), BoxError> {
    if listen.is_empty() {
        return Err("give at least one --listen address".into());
    }
    let mut config = NetNodeConfig::new(read_key_file(&key)?);
    config.net.listen = listen;
    config.net.mdns = mdns;
    config.node.peers = allow
        .iter()
        .map(|p| node_id_of(p).map_err(BoxError::from))
        .collect::<Result<_, _>>()?;
    let mut node = NetNode::spawn(config).await?;
    let me = node.local_peer_id();
    println!("peer id: {me}");
    for address in node.listen_addrs().await? {
        println!("listening on {address}/p2p/{me}");
    }
    let server = node.local_node_id();
    while let Some(event) = node.next_event().await {
        match event {
            NetEvent::SessionRequested {
                session,
                fingerprint,
                from,
                peer,
            } => {
                println!("session {session} requested by {peer}");
                if fingerprint != net_ping_pong::FINGERPRINT {
                    tracing::warn!(%peer, %session, "session of another protocol ignored");
                    continue;
                }
                let opened = spec(session, "Server", from, server)
                    .and_then(|spec| Ok(node.open_session(spec)?));
                match opened {
                    Ok(s) => {
                        tokio::spawn(async move {
                            match serve_session(s).await {
                                Ok(rounds) => {
                                    println!("session {session} with {peer}: {rounds} rounds")
                                }
                                Err(e) => eprintln!("session {session} with {peer} failed: {e}"),
                            }
                        });
                    }
                    Err(e) => tracing::warn!(%peer, %session, error = %e, "could not open session"),
                }
            }
            NetEvent::Network(HostEvent::Denied { peer }) => {
                println!("refused {peer}: not allowed");
            }
            other => tracing::debug!(event = ?other, "network event"),
        }
    }
    Ok(())
}

async fn serve_session(
    session: choreo_runtime::Session<choreo_runtime::node::NodeTransport>,
) -> Result<u64, BoxError> {
    let mut ep = net_ping_pong::server::open(session, net_ping_pong::Params::default())?;
    let mut rounds = 0;
    loop {
        match ep.branch().await? {
            net_ping_pong::server::PingOrStop::Ping(Ping(n), next) => {
                rounds += 1;
                ep = next.send(Pong(n)).await?;
            }
            net_ping_pong::server::PingOrStop::Stop(Stop, end) => {
                end.finish()?;
                return Ok(rounds);
            }
        }
    }
}

/// Splits `/…/p2p/<peer>` into the peer and the address before it.
fn split_peer(mut address: Multiaddr) -> Result<(PeerId, Multiaddr), BoxError> {
    match address.pop() {
        Some(choreo_runtime::net::Protocol::P2p(peer)) => Ok((peer, address)),
        _ => Err(format!("--server {address} must end in /p2p/<server PeerId>").into()),
    }
}

async fn client(key: PathBuf, server: Multiaddr, rounds: u64) -> Result<(), BoxError> {
    let (server_peer, address) = split_peer(server)?;
    let server_node = node_id_of(&server_peer)?;
    let mut config = NetNodeConfig::new(read_key_file(&key)?);
    config.node.peers = vec![server_node];
    // The last frames are acknowledged within a round trip on a LAN; the
    // linger only answers the server's late retransmissions.
    config.node.link.linger = Duration::from_millis(200);
    let mut node = NetNode::spawn(config).await?;
    let me = node.local_peer_id();
    node.add_address(server_peer, address).await?;
    let session = node.open_session(spec(
        SessionId(rand::random()),
        "Client",
        node.local_node_id(),
        server_node,
    )?)?;

    let run = run_rounds(session, rounds);
    let trouble = async {
        loop {
            match node.next_event().await {
                Some(NetEvent::Refused { peer }) if peer == server_peer => {
                    return format!(
                        "refused by server {peer}: it does not allow this client ({me}); \
                         start it with --allow {me}"
                    );
                }
                Some(NetEvent::Network(HostEvent::DialFailed {
                    peer: Some(peer),
                    reason,
                })) if peer == server_peer => {
                    return format!("cannot reach server {peer}: {reason}");
                }
                Some(event) => tracing::debug!(?event, "network event"),
                None => return "the network node stopped".to_string(),
            }
        }
    };
    let mut rtts = tokio::select! {
        result = run => result?,
        error = trouble => return Err(error.into()),
    };
    if !node.settle(Duration::from_secs(5)).await {
        tracing::warn!("the server did not acknowledge the end of the session within 5 s");
    }
    node.shutdown().await;
    rtts.sort();
    let median = rtts.get(rtts.len() / 2).copied().unwrap_or_default();
    println!(
        "{rounds} rounds with {server_peer}: median round trip {:.1} µs",
        median.as_secs_f64() * 1e6
    );
    Ok(())
}

async fn run_rounds(
    session: choreo_runtime::Session<choreo_runtime::node::NodeTransport>,
    rounds: u64,
) -> Result<Vec<Duration>, BoxError> {
    let mut ep = net_ping_pong::client::open(session, net_ping_pong::Params::default())?;
    let mut rtts = Vec::new();
    for i in 0..rounds {
        let start = Instant::now();
        let (Pong(n), next) = ep.select_continue().send(Ping(i)).await?.recv().await?;
        rtts.push(start.elapsed());
        if n != i {
            return Err(format!("round {i}: the server answered {n}").into());
        }
        ep = next;
    }
    ep.select_stop().send(Stop).await?.finish()?;
    Ok(rtts)
}
