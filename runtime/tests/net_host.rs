//! The libp2p host on 127.0.0.1: frames travel over TCP and QUIC, peers
//! that are not allowed are refused at the connection, and a peer breaking
//! the framing loses its stream without hurting anyone else.
#![cfg(feature = "net")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use choreo_runtime::net::{
    generate_keypair, HostEvent, Inbound, Keypair, Libp2pPeerId as PeerId, Multiaddr, NetConfig,
    NetHost, PROTOCOL,
};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};

/// Every wait in these tests ends; a hang is a failure, not a stuck CI.
const PATIENCE: Duration = Duration::from_secs(20);

struct Allowed(Arc<Mutex<HashSet<PeerId>>>);

impl Allowed {
    fn of(peers: &[PeerId]) -> Self {
        Allowed(Arc::new(Mutex::new(peers.iter().copied().collect())))
    }
    fn rule(&self) -> choreo_runtime::net::AllowPeer {
        let set = self.0.clone();
        Arc::new(move |p: &PeerId| set.lock().unwrap().contains(p))
    }
}

async fn host(key: Keypair, listen: &str, allowed: &Allowed) -> NetHost {
    let mut config = NetConfig::new(key);
    if !listen.is_empty() {
        config.listen = vec![listen.parse().unwrap()];
    }
    config.max_frame_len = 1024;
    NetHost::start(config, allowed.rule()).await.unwrap()
}

async fn next_frame(host: &mut NetHost) -> (PeerId, Vec<u8>) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match host.recv().await.expect("host stopped") {
                Inbound::Frame { from, bytes } => return (from, bytes),
                Inbound::Event(_) => {}
            }
        }
    })
    .await
    .expect("no frame arrived")
}

async fn next_event(host: &mut NetHost, want: impl Fn(&HostEvent) -> bool) -> HostEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match host.recv().await.expect("host stopped") {
                Inbound::Event(e) if want(&e) => return e,
                Inbound::Frame { from, .. } => panic!("unexpected frame from {from}"),
                Inbound::Event(_) => {}
            }
        }
    })
    .await
    .expect("the awaited event never came")
}

async fn frames_travel_both_ways(listen: &str) {
    let (server_key, client_key) = (generate_keypair(), generate_keypair());
    let (server_id, client_id) = (
        server_key.public().to_peer_id(),
        client_key.public().to_peer_id(),
    );
    let mut server = host(server_key, listen, &Allowed::of(&[client_id])).await;
    let mut client = host(client_key, "", &Allowed::of(&[server_id])).await;
    let address = server.listen_addrs().await.unwrap().remove(0);
    client.add_address(server_id, address).unwrap();

    for i in 0..50u8 {
        client.send(server_id, vec![i; usize::from(i) * 20]);
    }
    for i in 0..50u8 {
        let (from, bytes) = next_frame(&mut server).await;
        assert_eq!(from, client_id);
        assert_eq!(
            bytes,
            vec![i; usize::from(i) * 20],
            "frames arrive whole and in order"
        );
    }
    server.send(client_id, b"pong".to_vec());
    assert_eq!(next_frame(&mut client).await, (server_id, b"pong".to_vec()));
}

#[tokio::test]
async fn frames_travel_in_order_over_tcp() {
    frames_travel_both_ways("/ip4/127.0.0.1/tcp/0").await;
}

/// Once the stream is open a sender writes to it directly, unless frames
/// are queued ahead (the stream is out of credit and the writer task has
/// the rest): megabytes of large and small frames, sent from another task
/// without pause, must still arrive whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_written_directly_never_overtake_queued_ones() {
    const FRAMES: usize = 300;
    let (server_key, client_key) = (generate_keypair(), generate_keypair());
    let (server_id, client_id) = (
        server_key.public().to_peer_id(),
        client_key.public().to_peer_id(),
    );
    let start = |key, listen: &str, allowed: &Allowed| {
        let mut config = NetConfig::new(key);
        if !listen.is_empty() {
            config.listen = vec![listen.parse().unwrap()];
        }
        config.max_frame_len = 64 * 1024;
        NetHost::start(config, allowed.rule())
    };
    let mut server = start(
        server_key,
        "/ip4/127.0.0.1/tcp/0",
        &Allowed::of(&[client_id]),
    )
    .await
    .unwrap();
    let client = start(client_key, "", &Allowed::of(&[server_id]))
        .await
        .unwrap();
    let address = server.listen_addrs().await.unwrap().remove(0);
    client.add_address(server_id, address).unwrap();
    // Open the stream first, so what follows takes the direct path.
    let sender = client.sender();
    sender.send(server_id, b"open".to_vec());
    assert_eq!(next_frame(&mut server).await.1, b"open".to_vec());

    // 60 KiB and 10-byte frames alternating: about 9 MB, far beyond
    // yamux's window, so some writes find the stream out of credit and the
    // frames after them queue.
    let frame = |i: usize| {
        let len = if i.is_multiple_of(2) { 60 * 1024 } else { 10 };
        let mut bytes = vec![u8::try_from(i % 251).unwrap(); len];
        bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
        bytes
    };
    let sending = tokio::spawn(async move {
        for i in 0..FRAMES {
            sender.send(server_id, frame(i));
            if i.is_multiple_of(7) {
                tokio::task::yield_now().await;
            }
        }
    });
    for i in 0..FRAMES {
        let (from, bytes) = next_frame(&mut server).await;
        assert_eq!(from, client_id);
        let got = u64::from_be_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(got, i as u64, "frame {got} arrived in place of frame {i}");
        assert_eq!(bytes, frame(i), "frame {i} arrived whole");
    }
    sending.await.unwrap();
    assert_eq!(client.dropped_frames(), 0);
}

/// A host started with `start_direct` lends each frame to its sink and
/// reads the next one into the same buffer (while it is small): every frame
/// must still arrive exactly as sent, whether a longer or a shorter one
/// came before it, and across a buffer dropped after a large frame.
#[tokio::test]
async fn a_direct_sink_gets_every_frame_whole_whatever_came_before() {
    // Shorter after longer, around the kept-buffer limit (4 KiB), and a
    // large one in the middle.
    const SIZES: [usize; 10] = [10, 3000, 1, 4096, 4097, 20, 60 * 1024, 5, 4000, 2];
    let (server_key, client_key) = (generate_keypair(), generate_keypair());
    let (server_id, client_id) = (
        server_key.public().to_peer_id(),
        client_key.public().to_peer_id(),
    );
    let (delivered, mut frames) = tokio::sync::mpsc::unbounded_channel();
    let sink: choreo_runtime::net::FrameSink = Arc::new(move |from: PeerId, bytes: &[u8]| {
        let _ = delivered.send((from, bytes.to_vec()));
    });
    let mut config = NetConfig::new(server_key);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.max_frame_len = 64 * 1024;
    let server = NetHost::start_direct(config, Allowed::of(&[client_id]).rule(), sink)
        .await
        .unwrap();
    let mut config = NetConfig::new(client_key);
    config.max_frame_len = 64 * 1024;
    let client = NetHost::start(config, Allowed::of(&[server_id]).rule())
        .await
        .unwrap();
    client
        .add_address(server_id, server.listen_addrs().await.unwrap().remove(0))
        .unwrap();
    let frame = |i: usize| -> Vec<u8> {
        (0..SIZES[i])
            .map(|k| u8::try_from((i * 31 + k) % 251).unwrap())
            .collect()
    };
    let sender = client.sender();
    for i in 0..SIZES.len() {
        sender.send(server_id, frame(i));
    }
    for (i, size) in SIZES.iter().enumerate() {
        let (from, bytes) = tokio::time::timeout(PATIENCE, frames.recv())
            .await
            .expect("no frame arrived")
            .expect("the sink was dropped");
        assert_eq!(from, client_id);
        assert_eq!(
            bytes.len(),
            *size,
            "frame {i} arrived with the wrong length"
        );
        assert!(bytes == frame(i), "frame {i} arrived with other bytes");
    }
}

/// An open that times out (2 s) keeps the frames queued for one more
/// attempt: on a loaded machine the first open of a link can take longer
/// than that, and a frame sent before it (the only one, for a host with no
/// reliability layer above it) must not be lost with it. The server is
/// reached through a relay that holds the connection silent until the
/// client reported the failed open, then joins it to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_queued_while_the_first_open_times_out_is_sent_on_the_retry() {
    let (server_key, client_key) = (generate_keypair(), generate_keypair());
    let (server_id, client_id) = (
        server_key.public().to_peer_id(),
        client_key.public().to_peer_id(),
    );
    let mut server = host(
        server_key,
        "/ip4/127.0.0.1/tcp/0",
        &Allowed::of(&[client_id]),
    )
    .await;
    let mut client = host(client_key, "", &Allowed::of(&[server_id])).await;
    let server_address = server.listen_addrs().await.unwrap().remove(0);
    let server_port = server_address
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();

    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut inbound, _) = relay.accept().await.unwrap();
        // Nothing passes until the client gave up its first open.
        let _ = released.await;
        let mut outbound = tokio::net::TcpStream::connect(("127.0.0.1", server_port))
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
    });
    client
        .add_address(
            server_id,
            format!("/ip4/127.0.0.1/tcp/{relay_port}").parse().unwrap(),
        )
        .unwrap();

    client.send(server_id, b"first".to_vec());
    let failed = next_event(&mut client, |e| matches!(e, HostEvent::OpenFailed { .. })).await;
    assert_eq!(
        failed,
        HostEvent::OpenFailed {
            peer: server_id,
            reason: "no stream within 2 s".into()
        }
    );
    release.send(()).unwrap();
    assert_eq!(
        next_frame(&mut server).await,
        (client_id, b"first".to_vec())
    );
}

#[tokio::test]
async fn frames_travel_in_order_over_quic() {
    frames_travel_both_ways("/ip4/127.0.0.1/udp/0/quic-v1").await;
}

#[tokio::test]
async fn a_peer_that_is_not_allowed_is_refused_over_tcp_and_delivers_nothing() {
    refused_over("/ip4/127.0.0.1/tcp/0").await;
}

#[tokio::test]
async fn a_peer_that_is_not_allowed_is_refused_over_quic_and_delivers_nothing() {
    refused_over("/ip4/127.0.0.1/udp/0/quic-v1").await;
}

async fn refused_over(listen: &str) {
    let (server_key, client_key) = (generate_keypair(), generate_keypair());
    let (server_id, client_id) = (
        server_key.public().to_peer_id(),
        client_key.public().to_peer_id(),
    );
    let someone_else = generate_keypair().public().to_peer_id();
    let mut server = host(server_key, listen, &Allowed::of(&[someone_else])).await;
    let mut client = host(client_key, "", &Allowed::of(&[server_id])).await;
    let address = server.listen_addrs().await.unwrap().remove(0);
    client.add_address(server_id, address).unwrap();

    client.send(server_id, b"let me in".to_vec());
    let refused = next_event(&mut client, |e| matches!(e, HostEvent::Refused { .. })).await;
    assert_eq!(refused, HostEvent::Refused { peer: server_id });
    let denied = next_event(&mut server, |e| matches!(e, HostEvent::Denied { .. })).await;
    assert_eq!(denied, HostEvent::Denied { peer: client_id });
}

/// A bare libp2p-stream peer that can write anything on its streams.
fn raw_peer(
    key: Keypair,
    address: Multiaddr,
    server: PeerId,
) -> (libp2p_stream::Control, tokio::task::JoinHandle<()>) {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::new(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .build();
    let control = swarm.behaviour().new_control();
    swarm.dial(address.with_p2p(server).unwrap()).unwrap();
    let driver = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    (control, driver)
}

#[tokio::test]
async fn a_peer_opening_too_many_streams_at_once_is_refused_the_extra_ones() {
    let (server_key, raw_key) = (generate_keypair(), generate_keypair());
    let (server_id, raw_id) = (
        server_key.public().to_peer_id(),
        raw_key.public().to_peer_id(),
    );
    let mut server = host(server_key, "/ip4/127.0.0.1/tcp/0", &Allowed::of(&[raw_id])).await;
    let address: Multiaddr = server.listen_addrs().await.unwrap().remove(0);
    let (mut control, driver) = raw_peer(raw_key, address, server_id);
    let limit = choreo_runtime::net::host::MAX_INBOUND_STREAMS_PER_PEER;
    let mut open = Vec::new();
    for i in 0..=limit {
        let mut s = control.open_stream(server_id, PROTOCOL).await.unwrap();
        // One frame each, so every stream reaches the server's accept loop.
        // The extra stream may already be reset when we write to it.
        let written = async {
            s.write_all(&[0, 0, 0, 1, i as u8]).await?;
            s.flush().await
        }
        .await;
        assert!(written.is_ok() || i == limit, "stream {i}: {written:?}");
        open.push(s);
    }
    let violation =
        next_event_skipping_frames(&mut server, |e| matches!(e, HostEvent::Violation { .. })).await;
    assert!(
        matches!(&violation, HostEvent::Violation { peer, reason } if *peer == raw_id && reason.contains("inbound streams")),
        "{violation:?}"
    );
    // The streams within the limit still deliver.
    let first = open.first_mut().unwrap();
    first.write_all(&[0, 0, 0, 2, 42, 43]).await.unwrap();
    first.flush().await.unwrap();
    loop {
        let (from, bytes) = next_frame(&mut server).await;
        assert_eq!(from, raw_id);
        if bytes == [42, 43] {
            break;
        }
    }
    driver.abort();
}

async fn next_event_skipping_frames(
    host: &mut NetHost,
    want: impl Fn(&HostEvent) -> bool,
) -> HostEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Inbound::Event(e) = host.recv().await.expect("host stopped") {
                if want(&e) {
                    return e;
                }
            }
        }
    })
    .await
    .expect("the awaited event never came")
}

#[tokio::test]
async fn an_oversized_length_prefix_closes_that_stream_and_the_peer_can_go_on() {
    let (server_key, raw_key) = (generate_keypair(), generate_keypair());
    let (server_id, raw_id) = (
        server_key.public().to_peer_id(),
        raw_key.public().to_peer_id(),
    );
    let mut server = host(server_key, "/ip4/127.0.0.1/tcp/0", &Allowed::of(&[raw_id])).await;
    let address: Multiaddr = server.listen_addrs().await.unwrap().remove(0);

    let (mut control, driver) = raw_peer(raw_key, address, server_id);
    let mut evil = control.open_stream(server_id, PROTOCOL).await.unwrap();
    // Announce 4 GiB - 1 bytes (server max: 1 KiB), then some bytes.
    evil.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    evil.write_all(&[0u8; 64]).await.unwrap();
    evil.flush().await.unwrap();
    let violation = next_event(&mut server, |e| matches!(e, HostEvent::Violation { .. })).await;
    assert!(matches!(violation, HostEvent::Violation { peer, .. } if peer == raw_id));
    // The server reset the stream: reading from it ends (EOF or error).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, evil.read_to_end(&mut rest))
        .await
        .expect("the stream stayed open");
    assert!(read.is_err() || rest.is_empty());

    // A well-framed stream from the same peer still gets through.
    let mut good = control.open_stream(server_id, PROTOCOL).await.unwrap();
    good.write_all(&5u32.to_be_bytes()).await.unwrap();
    good.write_all(b"hello").await.unwrap();
    good.flush().await.unwrap();
    assert_eq!(next_frame(&mut server).await, (raw_id, b"hello".to_vec()));
    driver.abort();
}
