//! Generated endpoints over libp2p on loopback vs the same bytes over a
//! bare libp2p-stream echo and over raw tokio TCP, all on one plain
//! current_thread runtime:
//! - `session`: a generated ping-pong round (`Ping(u64)` / `Pong(u64)`)
//!   between two `NetNode`s over TCP + Noise + Yamux (node frames with
//!   sequence numbers and acks, length-prefixed on a libp2p stream);
//! - `bare_libp2p_stream`: one length-prefixed frame of the same size as a
//!   session's Ping frame echoed on a libp2p-stream stream (same transport
//!   stack, no node core);
//! - `raw_tcp`: the same frame echoed over a plain tokio `TcpStream`.
//!
//! `cargo bench -p choreo-workspace-tests --bench net`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::net::framing::{encode_frame, read_frame, write_frames};
use choreo_runtime::net::{
    generate_keypair, node_id_of, Libp2pPeerId as PeerId, NetNode, NetNodeConfig,
};
use choreo_runtime::node::{wire::FRAME_OVERHEAD, NodeId, SessionSpec};
use choreo_runtime::{Role, RoleId, SessionId};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt as _;
use libp2p::StreamProtocol;
use tokio::sync::mpsc;
use tokio_util::compat::TokioAsyncReadCompatExt as _;

choreography! {
    protocol Echo {
        roles A, B;
        rec Loop {
            choice at A {
                Go => { A -> B : Ping(u64); B -> A : Pong(u64); continue Loop; }
                Stop => { A -> B : Halt; }
            }
        }
    }
}

/// The ping value: postcard encodes it in 3 bytes.
const VALUE: u64 = 1_000_000;
const MAX_FRAME: usize = 1 << 20;
const ECHO_PROTOCOL: StreamProtocol = StreamProtocol::new("/choreo-bench/echo/1");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Bytes of a session's Ping frame: link + envelope header, then the payload.
fn ping_frame_len() -> usize {
    FRAME_OVERHEAD + postcard::to_stdvec(&VALUE).unwrap().len()
}

fn spec(id: SessionId, me: u16, a: NodeId, b: NodeId) -> SessionSpec {
    SessionSpec {
        id,
        protocol: &echo::PROTOCOL,
        me: RoleId::single(Role(me)),
        roster: echo::roster(&echo::Params::default()).unwrap(),
        peers: vec![a, b],
        patience: None,
    }
}

/// A client NetNode connected to a server NetNode that answers every
/// session with the generated echo server; the receiver hears of every
/// server endpoint that finished.
async fn net_pair() -> (NetNode, NodeId, mpsc::UnboundedReceiver<()>) {
    let (finished, finishes) = mpsc::unbounded_channel();
    let (client_key, server_key) = (generate_keypair(), generate_keypair());
    let client_id = node_id_of(&client_key.public().to_peer_id()).unwrap();
    let mut config = NetNodeConfig::new(server_key);
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.node.peers = vec![client_id];
    let mut server = NetNode::spawn(config).await.unwrap();
    let (server_peer, server_id) = (server.local_peer_id(), server.local_node_id());
    let address = server.listen_addrs().await.unwrap().remove(0);
    tokio::spawn(async move {
        while let Some((id, _, from)) = server.incoming_session().await {
            let session = server.open_session(spec(id, 1, from, server_id)).unwrap();
            let finished = finished.clone();
            tokio::spawn(async move {
                let mut ep = echo::b::open(session, echo::Params::default()).unwrap();
                loop {
                    match ep.branch().await.unwrap() {
                        echo::b::PingOrHalt::Ping(echo::Ping(v), next) => {
                            ep = next.send(echo::Pong(v)).await.unwrap();
                        }
                        echo::b::PingOrHalt::Halt(echo::Halt, end) => {
                            end.finish().unwrap();
                            let _ = finished.send(());
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut config = NetNodeConfig::new(client_key);
    config.node.peers = vec![server_id];
    let client = NetNode::spawn(config).await.unwrap();
    client.add_address(server_peer, address).await.unwrap();
    (client, server_id, finishes)
}

async fn echo_session(
    client: &NetNode,
    server: NodeId,
    server_finished: &mut mpsc::UnboundedReceiver<()>,
    id: u64,
    iters: u64,
) -> Duration {
    let mut session_id = [0u8; 16];
    session_id[..8].copy_from_slice(&id.to_le_bytes());
    let session = client
        .open_session(spec(
            SessionId(session_id),
            0,
            client.local_node_id(),
            server,
        ))
        .unwrap();
    let ep = echo::a::open(session, echo::Params::default()).unwrap();
    // One round first, so the server has opened the session before timing.
    let (_, mut ep) = ep
        .select_go()
        .send(echo::Ping(VALUE))
        .await
        .unwrap()
        .recv()
        .await
        .unwrap();
    let start = Instant::now();
    for _ in 0..iters {
        let (echo::Pong(v), next) = ep
            .select_go()
            .send(echo::Ping(VALUE))
            .await
            .unwrap()
            .recv()
            .await
            .unwrap();
        debug_assert_eq!(v, VALUE);
        ep = next;
    }
    let elapsed = start.elapsed();
    ep.select_stop()
        .send(echo::Halt)
        .await
        .unwrap()
        .finish()
        .unwrap();
    // Untimed: the server got `Halt`. Otherwise the last session of the
    // group would still be open while criterion analyses (the runtime is
    // not driven then, so both nodes would see each other silent for the
    // whole pause, past the session's patience).
    server_finished.recv().await.unwrap();
    elapsed
}

/// Same transport stack as `NetNode` (TCP with nodelay, Noise, Yamux) with
/// only libp2p-stream on top.
fn bare_swarm() -> libp2p::Swarm<libp2p_stream::Behaviour> {
    libp2p::SwarmBuilder::with_existing_identity(generate_keypair())
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::new().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build()
}

/// Echoes length-prefixed frames until the stream ends.
async fn echo_frames<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(mut stream: S) {
    let (mut frame, mut out) = (Vec::new(), Vec::new());
    while let Ok(true) = read_frame(&mut stream, MAX_FRAME, &mut frame).await {
        out.clear();
        encode_frame(&frame, &mut out).unwrap();
        if write_frames(&mut stream, &out).await.is_err() {
            return;
        }
    }
}

async fn bare_pair() -> (libp2p_stream::Control, PeerId) {
    let mut server = bare_swarm();
    server
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let address = loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            server.select_next_some().await
        {
            break address;
        }
    };
    let server_peer = *server.local_peer_id();
    let mut incoming = server
        .behaviour()
        .new_control()
        .accept(ECHO_PROTOCOL)
        .unwrap();
    tokio::spawn(async move {
        while let Some((_, stream)) = incoming.next().await {
            tokio::spawn(echo_frames(stream));
        }
    });
    tokio::spawn(async move {
        loop {
            server.select_next_some().await;
        }
    });
    let mut client = bare_swarm();
    let control = client.behaviour().new_control();
    client.dial(address.with_p2p(server_peer).unwrap()).unwrap();
    tokio::spawn(async move {
        loop {
            client.select_next_some().await;
        }
    });
    (control, server_peer)
}

async fn round_trips<S: futures::AsyncRead + futures::AsyncWrite + Unpin>(
    stream: &mut S,
    iters: u64,
) -> Duration {
    let mut wire = Vec::new();
    encode_frame(&vec![7u8; ping_frame_len()], &mut wire).unwrap();
    let mut back = Vec::new();
    // One round first, like the session.
    write_frames(stream, &wire).await.unwrap();
    read_frame(stream, MAX_FRAME, &mut back).await.unwrap();
    let start = Instant::now();
    for _ in 0..iters {
        write_frames(stream, &wire).await.unwrap();
        assert!(read_frame(stream, MAX_FRAME, &mut back).await.unwrap());
    }
    start.elapsed()
}

async fn echo_bare(control: &mut libp2p_stream::Control, server: PeerId, iters: u64) -> Duration {
    let mut stream = control.open_stream(server, ECHO_PROTOCOL).await.unwrap();
    round_trips(&mut stream, iters).await
}

async fn tcp_echo_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            socket.set_nodelay(true).unwrap();
            tokio::spawn(echo_frames(socket.compat()));
        }
    });
    address
}

async fn echo_tcp(server: std::net::SocketAddr, iters: u64) -> Duration {
    let socket = tokio::net::TcpStream::connect(server).await.unwrap();
    socket.set_nodelay(true).unwrap();
    round_trips(&mut socket.compat(), iters).await
}

fn loopback_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let (client, server, mut server_finished) = rt.block_on(net_pair());
    let (mut control, bare_server) = rt.block_on(bare_pair());
    let tcp_server = rt.block_on(tcp_echo_server());
    let mut sessions = 0u64;

    let mut g = c.benchmark_group("loopback_round_trip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("session", |b| {
        b.iter_custom(|iters| {
            sessions += 1;
            rt.block_on(echo_session(
                &client,
                server,
                &mut server_finished,
                sessions,
                iters,
            ))
        })
    });
    g.bench_function("bare_libp2p_stream", |b| {
        b.iter_custom(|iters| rt.block_on(echo_bare(&mut control, bare_server, iters)))
    });
    g.bench_function("raw_tcp", |b| {
        b.iter_custom(|iters| rt.block_on(echo_tcp(tcp_server, iters)))
    });
    g.finish();
}

criterion_group!(benches, loopback_round_trip);
criterion_main!(benches);
