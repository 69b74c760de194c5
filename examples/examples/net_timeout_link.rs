//! `timeout` and `link` between two processes over libp2p.
//!
//! The client asks a question with a 500 ms deadline. A server started with
//! `--stall-ms` waits before answering: the client's deadline passes, its
//! handler `link Rescue(Client, Server)` sends the join handshake, which
//! interrupts the server's body (its late answer is never sent), and both
//! run `Rescue` on a new session over the same connection. `Rescue` comes
//! in two versions; a client started with `--rescue v2` against a `v1`
//! server is refused on both sides, naming both fingerprints.
//!
//! `demo` does it all on 127.0.0.1: a stalling v1 server process, then a v1
//! client process (deadline, handler, `Rescue`) and a v2 client process
//! (refused on both sides).
//!
//! ```text
//! cargo run --example net_timeout_link -- demo
//! cargo run --example net_timeout_link -- keygen --out server.key
//! cargo run --example net_timeout_link -- keygen --out client.key
//! cargo run --example net_timeout_link -- serve --key server.key \
//!     --listen /ip4/127.0.0.1/tcp/4002 --allow <client PeerId> --stall-ms 1500
//! cargo run --example net_timeout_link -- client --key client.key \
//!     --server /ip4/127.0.0.1/tcp/4002/p2p/<server PeerId> [--rescue v2]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use choreo_runtime::net::{
    node_id_of, read_key_file, write_key_file, HostEvent, Libp2pPeerId as PeerId, Multiaddr,
    NetEvent, NetNode, NetNodeConfig,
};
use choreo_runtime::node::{NodeId, NodeTransport, SessionSpec};
use choreo_runtime::typestate::{Lingered, Timed};
use choreo_runtime::{link::full_hex, Role, RoleId, Session, SessionId};
use clap::{Parser, Subcommand, ValueEnum};

/// `Lookup` with the first version of `Rescue`.
mod v1 {
    use choreo_macros::choreography;
    choreography! {
        /// A question with a deadline; on a stall, both sides join `Rescue`.
        protocol Lookup {
            roles Client, Server;
            timeout 500ms {
                Client -> Server : Query(u64);
                Server -> Client : Reply(u64);
            } else {
                link Rescue(Client, Server);
            }
        }
        /// The server answers from its cache.
        protocol Rescue {
            roles Asker, Keeper;
            Keeper -> Asker : Cached(u64);
        }
    }
}

/// The same `Lookup`, with an evolved `Rescue` (another fingerprint).
mod v2 {
    use choreo_macros::choreography;
    choreography! {
        protocol Lookup {
            roles Client, Server;
            timeout 500ms {
                Client -> Server : Query(u64);
                Server -> Client : Reply(u64);
            } else {
                link Rescue(Client, Server);
            }
        }
        /// The asker repeats its question first.
        protocol Rescue {
            roles Asker, Keeper;
            Asker -> Keeper : Retry(u64);
            Keeper -> Asker : Cached(u64);
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    about = "timeout and link between two processes over libp2p",
    long_about = "timeout and link between two processes over libp2p.\n\n\
        1. keygen a key for each side; each prints its PeerId.\n\
        2. serve with the server key, a listen address, the client's PeerId and --stall-ms to miss the deadline.\n\
        3. client with the client key and the server's address ending in /p2p/<server PeerId>;\n   \
           --rescue v2 links to another version of Rescue than the server's (refused on both sides).\n\n\
        Logs go to stderr; set RUST_LOG=debug for more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Version {
    V1,
    V2,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a stalling v1 server process, then a v1 and a v2 client
    /// process against it, and print what each printed.
    Demo {
        /// How long the server waits before answering.
        #[arg(long, default_value_t = 1500)]
        stall_ms: u64,
    },
    /// Write a new Ed25519 key and print its PeerId.
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Answer lookups from the allowed peers until killed.
    Serve {
        /// The server's key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to listen, e.g. /ip4/127.0.0.1/tcp/4002.
        #[arg(long)]
        listen: Vec<Multiaddr>,
        /// A PeerId allowed to connect (repeat for several).
        #[arg(long = "allow", required = true)]
        allow: Vec<PeerId>,
        /// Wait this long before answering (past the 500 ms deadline: the
        /// client starts the handler).
        #[arg(long, default_value_t = 0)]
        stall_ms: u64,
        /// Which version of `Rescue` this side was built with.
        #[arg(long, value_enum, default_value_t = Version::V1)]
        rescue: Version,
    },
    /// Ask one question and print how it was answered.
    Client {
        /// The client's key file.
        #[arg(long)]
        key: PathBuf,
        /// The server's address, ending in /p2p/<server PeerId>.
        #[arg(long)]
        server: Multiaddr,
        /// Which version of `Rescue` this side was built with.
        #[arg(long, value_enum, default_value_t = Version::V1)]
        rescue: Version,
    },
}

use choreo_examples::BoxError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    choreo_examples::run_main("error", async move {
        match cli.command {
            Command::Demo { stall_ms } => demo(stall_ms),
            Command::Keygen { out } => {
                let key = choreo_runtime::net::generate_keypair();
                write_key_file(&out, &key)?;
                println!("peer id: {}", key.public().to_peer_id());
                Ok(())
            }
            Command::Serve {
                key,
                listen,
                allow,
                stall_ms,
                rescue,
            } => serve(key, listen, allow, Duration::from_millis(stall_ms), rescue).await,
            Command::Client {
                key,
                server,
                rescue,
            } => client(key, server, rescue).await,
        }
    })
}

const CLIENT: RoleId = RoleId {
    role: Role(0),
    index: None,
};
const SERVER: RoleId = RoleId {
    role: Role(1),
    index: None,
};

/// A `Lookup` session between the two nodes. `Lookup` is the same in both
/// versions (a link's target does not enter the linking protocol's
/// fingerprint), so either version's descriptor opens it.
fn spec(
    id: SessionId,
    me: RoleId,
    rescue: Version,
    client: NodeId,
    server: NodeId,
) -> Result<SessionSpec, BoxError> {
    let (protocol, roster) = match rescue {
        Version::V1 => (
            &v1::lookup::PROTOCOL,
            v1::lookup::roster(&v1::lookup::Params {})?,
        ),
        Version::V2 => (
            &v2::lookup::PROTOCOL,
            v2::lookup::roster(&v2::lookup::Params {})?,
        ),
    };
    Ok(SessionSpec {
        id,
        protocol,
        me,
        roster,
        peers: vec![client, server],
        patience: None,
    })
}

fn rescue_fingerprint(v: Version) -> String {
    match v {
        Version::V1 => full_hex(&v1::rescue::FINGERPRINT),
        Version::V2 => full_hex(&v2::rescue::FINGERPRINT),
    }
}

async fn serve(
    key: PathBuf,
    listen: Vec<Multiaddr>,
    allow: Vec<PeerId>,
    stall: Duration,
    rescue: Version,
) -> Result<(), BoxError> {
    if listen.is_empty() {
        return Err("give at least one --listen address".into());
    }
    let mut config = NetNodeConfig::new(read_key_file(&key)?);
    config.net.listen = listen;
    config.node.peers = allow
        .iter()
        .map(|p| node_id_of(p).map_err(BoxError::from))
        .collect::<Result<_, _>>()?;
    let mut node = NetNode::spawn(config).await?;
    let me = node.local_peer_id();
    println!("peer id: {me}");
    println!("rescue fingerprint: {}", rescue_fingerprint(rescue));
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
                // The linked `Rescue` session's frames also ask for a
                // session: the server's own join opens it.
                if fingerprint != v1::lookup::FINGERPRINT {
                    continue;
                }
                let opened = spec(session, SERVER, rescue, from, server)
                    .and_then(|spec| Ok(node.open_session(spec)?));
                match opened {
                    Ok(s) => {
                        tokio::spawn(async move {
                            let outcome = match rescue {
                                Version::V1 => answer_v1(s, stall).await,
                                Version::V2 => answer_v2(s, stall).await,
                            };
                            match outcome {
                                Ok(how) => println!("lookup from {peer}: {how}"),
                                Err(e) => println!("lookup from {peer} failed: {e}"),
                            }
                        });
                    }
                    Err(e) => println!("could not open session {session}: {e}"),
                }
            }
            NetEvent::Network(HostEvent::Denied { peer }) => {
                println!("refused {peer}: not allowed")
            }
            other => tracing::debug!(event = ?other, "network event"),
        }
    }
    Ok(())
}

/// The server's side of `Lookup`; the handler's `Rescue` differs by
/// version, so the code is written once per version by a macro.
macro_rules! answer {
    ($name:ident, $v:ident, $rescue:expr) => {
        async fn $name(s: Session<NodeTransport>, stall: Duration) -> Result<String, BoxError> {
            let ep = $v::lookup::server::open(s, $v::lookup::Params {})?.body();
            let handler = match ep.recv().await? {
                Timed::Done(($v::lookup::Query(q), ep)) => {
                    tokio::time::sleep(stall).await;
                    match ep.send($v::lookup::Reply(q * 6)).await? {
                        Timed::Done(after) => {
                            // Stay for a handler the client may still start.
                            return match after.linger(Duration::from_millis(500)).await? {
                                Lingered::Closed => Ok(format!("answered {} in the body", q * 6)),
                                Lingered::Handler(h) => {
                                    let why = h.session().interrupted_by().cloned();
                                    let rescue = h.join().await?;
                                    $rescue(rescue, q, why).await
                                }
                            };
                        }
                        Timed::Expired(h) => h,
                    }
                }
                Timed::Expired(h) => h,
            };
            let why = handler.session().interrupted_by().cloned();
            let rescue = handler.join().await?;
            $rescue(rescue, 7, why).await
        }
    };
}

answer!(
    answer_v1,
    v1,
    |ep: v1::rescue::keeper::S0<NodeTransport>, q: u64, why: Option<choreo_runtime::Interrupt>| async move {
        let end = ep.send(v1::rescue::Cached(q * 6)).await?;
        end.finish()?;
        let why = why.map_or("-".to_string(), |w| w.to_string());
        Ok::<_, BoxError>(format!(
            "body interrupted ({why}); joined Rescue and sent the cached answer {}",
            q * 6
        ))
    }
);

answer!(
    answer_v2,
    v2,
    |ep: v2::rescue::keeper::S0<NodeTransport>, _q: u64, why: Option<choreo_runtime::Interrupt>| async move {
        let (v2::rescue::Retry(q), ep) = ep.recv().await?;
        let end = ep.send(v2::rescue::Cached(q * 6)).await?;
        end.finish()?;
        let why = why.map_or("-".to_string(), |w| w.to_string());
        Ok::<_, BoxError>(format!(
            "body interrupted ({why}); joined Rescue and sent the cached answer {}",
            q * 6
        ))
    }
);

/// Splits `/…/p2p/<peer>` into the peer and the address before it.
fn split_peer(mut address: Multiaddr) -> Result<(PeerId, Multiaddr), BoxError> {
    match address.pop() {
        Some(choreo_runtime::net::Protocol::P2p(peer)) => Ok((peer, address)),
        _ => Err(format!("--server {address} must end in /p2p/<server PeerId>").into()),
    }
}

async fn client(key: PathBuf, server: Multiaddr, rescue: Version) -> Result<(), BoxError> {
    let (server_peer, address) = split_peer(server)?;
    let server_node = node_id_of(&server_peer)?;
    let mut config = NetNodeConfig::new(read_key_file(&key)?);
    config.node.peers = vec![server_node];
    config.node.link.linger = Duration::from_millis(200);
    let mut node = NetNode::spawn(config).await?;
    node.add_address(server_peer, address).await?;
    println!("rescue fingerprint: {}", rescue_fingerprint(rescue));
    let session = node.open_session(spec(
        SessionId(rand::random()),
        CLIENT,
        rescue,
        node.local_node_id(),
        server_node,
    )?)?;
    let started = Instant::now();
    let run = async {
        match rescue {
            Version::V1 => ask_v1(session).await,
            Version::V2 => ask_v2(session).await,
        }
    };
    let trouble = async {
        loop {
            match node.next_event().await {
                Some(NetEvent::Refused { peer }) if peer == server_peer => {
                    return format!("refused by server {peer}: it does not allow this client");
                }
                Some(NetEvent::Network(HostEvent::DialFailed {
                    peer: Some(peer),
                    reason,
                })) if peer == server_peer => {
                    return format!("cannot reach server {peer}: {reason}")
                }
                Some(event) => tracing::debug!(?event, "network event"),
                None => return "the network node stopped".to_string(),
            }
        }
    };
    let outcome = tokio::select! {
        result = run => result,
        error = trouble => Err(error.into()),
    };
    node.settle(Duration::from_secs(5)).await;
    node.shutdown().await;
    let how = outcome?;
    println!("{how} ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

macro_rules! ask {
    ($name:ident, $v:ident, $rescue:expr) => {
        async fn $name(s: Session<NodeTransport>) -> Result<String, BoxError> {
            let ep = $v::lookup::client::open(s, $v::lookup::Params {})?.body();
            let handler = match ep.send($v::lookup::Query(7)).await? {
                Timed::Done(ep) => match ep.recv().await? {
                    Timed::Done(($v::lookup::Reply(r), after)) => {
                        after.finish()?;
                        return Ok(format!("answer {r} in the body"));
                    }
                    Timed::Expired(h) => h,
                },
                Timed::Expired(h) => h,
            };
            let why = handler
                .session()
                .interrupted_by()
                .map_or("-".to_string(), |w| w.to_string());
            println!("body ended: {why}; joining Rescue");
            let rescue = handler.join().await?;
            $rescue(rescue).await
        }
    };
}

ask!(
    ask_v1,
    v1,
    |ep: v1::rescue::asker::S0<NodeTransport>| async move {
        let (v1::rescue::Cached(c), end) = ep.recv().await?;
        end.finish()?;
        Ok::<_, BoxError>(format!("cached answer {c} from Rescue"))
    }
);

ask!(
    ask_v2,
    v2,
    |ep: v2::rescue::asker::S0<NodeTransport>| async move {
        let ep = ep.send(v2::rescue::Retry(7)).await?;
        let (v2::rescue::Cached(c), end) = ep.recv().await?;
        end.finish()?;
        Ok::<_, BoxError>(format!("cached answer {c} from Rescue"))
    }
);

/// The server process of `demo`, killed on drop.
struct ServerProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `demo`: this binary as a server process and two client processes.
fn demo(stall_ms: u64) -> Result<(), BoxError> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command as Process, Stdio};
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("choreo-timeout-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (server_key, client_key) = (dir.join("server.key"), dir.join("client.key"));
    let client_peer = {
        let key = choreo_runtime::net::generate_keypair();
        write_key_file(&client_key, &key)?;
        key.public().to_peer_id()
    };
    write_key_file(&server_key, &choreo_runtime::net::generate_keypair())?;
    let mut child = Process::new(&exe)
        .arg("serve")
        .arg("--key")
        .arg(&server_key)
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--allow"])
        .arg(client_peer.to_string())
        .args(["--stall-ms", &stall_ms.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let server = ServerProcess { child, lines };
    let patience = Duration::from_secs(30);
    let mut address = None;
    while address.is_none() {
        let line = server.lines.recv_timeout(patience)?;
        println!("[server] {line}");
        address = line.strip_prefix("listening on ").map(str::to_owned);
    }
    let address = address.ok_or("the server printed no address")?;
    let mut refused = false;
    let mut rescued = false;
    for version in ["v1", "v2"] {
        println!("--- client built with Rescue {version}");
        let out = Process::new(&exe)
            .arg("client")
            .arg("--key")
            .arg(&client_key)
            .args(["--server", &address, "--rescue", version])
            .stdin(Stdio::null())
            .output()?;
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            println!("[client {version}] {line}");
        }
        println!("[client {version}] {}", out.status);
        let line = server.lines.recv_timeout(patience)?;
        println!("[server] {line}");
        match version {
            "v1" => rescued = out.status.success() && line.contains("joined Rescue"),
            _ => refused = !out.status.success() && line.contains("failed"),
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if rescued && refused {
        println!("demo complete: the v1 client was rescued, the v2 client refused on both sides");
        Ok(())
    } else {
        Err("demo failed: see the lines above".into())
    }
}
