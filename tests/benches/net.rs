//! Generated endpoints over libp2p on loopback vs the same bytes over a
//! bare libp2p-stream echo and over raw tokio TCP, all on one plain
//! current_thread runtime:
//! - `session`: a generated ping-pong round (`Ping(u64)` / `Pong(u64)`)
//!   between two `NetNode`s over TCP + Noise + Yamux (node frames with
//!   sequence numbers and acks, length-prefixed on a libp2p stream); one
//!   session carries every sample (`CHOREO_NET_BENCH_SESSION_PER_SAMPLE=1`:
//!   a fresh session per sample, as before);
//! - `bare_libp2p_stream`: one length-prefixed frame of the same size as a
//!   session's Ping frame echoed on a libp2p-stream stream (same transport
//!   stack, no node core);
//! - `raw_tcp`: the same frame echoed over a plain tokio `TcpStream`.
//!
//! After the group it prints the thread CPU time per timed round trip of
//! each (everything runs on one thread, so this is the work per round trip
//! whatever else the machine runs).
//!
//! `cargo bench -p choreo-workspace-tests --bench net`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use choreo_macros::choreography;
use choreo_runtime::net::framing::{encode_frame, read_frame, write_frames};
use choreo_runtime::net::{
    generate_keypair, node_id_of, Libp2pPeerId as PeerId, NetNode, NetNodeConfig,
};
use choreo_runtime::node::{wire::FRAME_OVERHEAD, NodeId, NodeTransport, SessionSpec};
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
        patience: Some(BENCH_PATIENCE),
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

/// The calling thread's CPU time in nanoseconds (`/proc/thread-self/schedstat`;
/// `None` where there is no such file). Read outside the timed span, just
/// before and after it.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Timed rounds and the thread CPU time spent in them, per benchmark: CPU
/// per round trip, which a loaded machine disturbs far less than wall time
/// (everything runs on this one thread). Printed after the group.
#[derive(Default)]
struct CpuTally {
    ns: u64,
    rounds: u64,
}

impl CpuTally {
    /// Times `rounds` rounds run by `f`, adding their CPU time to the tally.
    async fn time<T>(
        &mut self,
        rounds: u64,
        f: impl std::future::Future<Output = T>,
    ) -> (T, Duration) {
        let cpu = thread_cpu_ns();
        let start = Instant::now();
        let out = f.await;
        let elapsed = start.elapsed();
        if let (Some(before), Some(after)) = (cpu, thread_cpu_ns()) {
            self.ns += after.saturating_sub(before);
            self.rounds += rounds;
        }
        (out, elapsed)
    }

    /// `None` when nothing measurable ran (criterion's test mode runs one
    /// round, below the clock's resolution).
    fn per_round_us(&self) -> Option<f64> {
        (self.rounds > 0 && self.ns > 0).then(|| self.ns as f64 / self.rounds as f64 / 1e3)
    }
}

/// How long either side of the bench session tolerates silence: the
/// runtime is not driven while criterion analyses a benchmark (between the
/// session's last sample and its close at the start of the next group), and
/// that pause must not end the session.
const BENCH_PATIENCE: Duration = Duration::from_secs(600);

/// Opens the bench session and plays one round, so the server has opened
/// its side before anything is timed.
async fn open_echo_session(
    client: &NetNode,
    server: NodeId,
    id: u64,
) -> echo::a::State<NodeTransport, 0> {
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
    echo_round(echo::a::open(session, echo::Params::default()).unwrap()).await
}

/// One round of the bench session: a ping and its pong.
async fn echo_round(ep: echo::a::State<NodeTransport, 0>) -> echo::a::State<NodeTransport, 0> {
    let (echo::Pong(v), next) = ep
        .select_go()
        .send(echo::Ping(VALUE))
        .await
        .unwrap()
        .recv()
        .await
        .unwrap();
    debug_assert_eq!(v, VALUE);
    next
}

/// `iters` rounds of the bench session, timed.
async fn echo_rounds(
    ep: echo::a::State<NodeTransport, 0>,
    iters: u64,
    cpu: &mut CpuTally,
) -> (echo::a::State<NodeTransport, 0>, Duration) {
    cpu.time(iters, async {
        let mut ep = ep;
        for _ in 0..iters {
            ep = echo_round(ep).await;
        }
        ep
    })
    .await
}

/// Ends the bench session (untimed) and waits until the server's endpoint
/// got `Halt` and finished.
async fn close_echo_session(
    ep: echo::a::State<NodeTransport, 0>,
    server_finished: &mut mpsc::UnboundedReceiver<()>,
) {
    ep.select_stop()
        .send(echo::Halt)
        .await
        .unwrap()
        .finish()
        .unwrap();
    server_finished.recv().await.unwrap();
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
    cpu: &mut CpuTally,
) -> Duration {
    let mut wire = Vec::new();
    encode_frame(&vec![7u8; ping_frame_len()], &mut wire).unwrap();
    let mut back = Vec::new();
    // One round first, like the session.
    write_frames(stream, &wire).await.unwrap();
    read_frame(stream, MAX_FRAME, &mut back).await.unwrap();
    let ((), elapsed) = cpu
        .time(iters, async {
            for _ in 0..iters {
                write_frames(stream, &wire).await.unwrap();
                assert!(read_frame(stream, MAX_FRAME, &mut back).await.unwrap());
            }
        })
        .await;
    elapsed
}

async fn echo_bare(
    control: &mut libp2p_stream::Control,
    server: PeerId,
    iters: u64,
    cpu: &mut CpuTally,
) -> Duration {
    let mut stream = control.open_stream(server, ECHO_PROTOCOL).await.unwrap();
    round_trips(&mut stream, iters, cpu).await
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

async fn echo_tcp(server: std::net::SocketAddr, iters: u64, cpu: &mut CpuTally) -> Duration {
    let socket = tokio::net::TcpStream::connect(server).await.unwrap();
    socket.set_nodelay(true).unwrap();
    round_trips(&mut socket.compat(), iters, cpu).await
}

fn loopback_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let (client, server, mut server_finished) = rt.block_on(net_pair());
    let (mut control, bare_server) = rt.block_on(bare_pair());
    let tcp_server = rt.block_on(tcp_echo_server());
    // One session for every sample of `session`, as the echo keeps its
    // transport: a session per sample left each sample's untimed setup and
    // teardown (the close handshake, its delayed acks, the finished
    // session's linger and removal) to run inside later samples' timed
    // rounds (see "Speed over loopback" in book/src/transports.md).
    let mut ep = None;
    // `CHOREO_NET_BENCH_SESSION_PER_SAMPLE=1`: a fresh session per sample,
    // closed after it (untimed), as the bench did before; for comparison.
    let per_sample = std::env::var_os("CHOREO_NET_BENCH_SESSION_PER_SAMPLE").is_some();
    let mut sessions = 0u64;
    let (mut cpu_session, mut cpu_bare, mut cpu_tcp) = Default::default();

    let mut g = c.benchmark_group("loopback_round_trip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("session", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let open = match ep.take() {
                    Some(open) => open,
                    None => {
                        sessions += 1;
                        open_echo_session(&client, server, sessions).await
                    }
                };
                let (open, elapsed) = echo_rounds(open, iters, &mut cpu_session).await;
                if per_sample {
                    close_echo_session(open, &mut server_finished).await;
                } else {
                    ep = Some(open);
                }
                elapsed
            })
        })
    });
    // Untimed: the session ends before the next benchmark, whose samples
    // would otherwise share the runtime with its heartbeats.
    if let Some(open) = ep.take() {
        rt.block_on(close_echo_session(open, &mut server_finished));
    }
    g.bench_function("bare_libp2p_stream", |b| {
        b.iter_custom(|iters| {
            rt.block_on(echo_bare(&mut control, bare_server, iters, &mut cpu_bare))
        })
    });
    g.bench_function("raw_tcp", |b| {
        b.iter_custom(|iters| rt.block_on(echo_tcp(tcp_server, iters, &mut cpu_tcp)))
    });
    g.finish();
    report_cpu(&[
        ("session", &cpu_session),
        ("bare_libp2p_stream", &cpu_bare),
        ("raw_tcp", &cpu_tcp),
    ]);
}

/// Prints the thread CPU time per timed round trip of each benchmark that
/// ran, and the session's against the bare echo's.
fn report_cpu(tallies: &[(&str, &CpuTally)]) {
    let per_round: Vec<(&str, f64)> = tallies
        .iter()
        .filter_map(|(name, tally)| Some((*name, tally.per_round_us()?)))
        .collect();
    if per_round.is_empty() {
        return;
    }
    let listed: Vec<String> = per_round
        .iter()
        .map(|(name, us)| format!("{name} {us:.1} µs"))
        .collect();
    println!(
        "loopback_round_trip: thread CPU per timed round trip: {}",
        listed.join(", ")
    );
    let find = |wanted: &str| {
        per_round
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, us)| *us)
    };
    if let (Some(session), Some(bare)) = (find("session"), find("bare_libp2p_stream")) {
        println!(
            "loopback_round_trip: session vs bare_libp2p_stream by CPU: {:.2}x",
            session / bare
        );
    }
}

criterion_group!(benches, loopback_round_trip);
criterion_main!(benches);
