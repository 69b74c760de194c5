//! The libp2p host: one swarm (TCP + Noise + Yamux, QUIC, optional mDNS),
//! a dedicated task accepting inbound frame streams, one reader task per
//! inbound stream and one writer task per peer (which opens the peer's
//! stream and writes what senders could not write at once).
//!
//! The host moves opaque frames; it knows nothing of sessions. Frames read
//! go to the host's queue ([`NetHost::recv`]) or, for a host started with
//! [`NetHost::start_direct`], to a sink called by the reader task itself;
//! frames to send go through a [`NetSender`], which any task may hold: it
//! writes a frame to the peer's open stream in the sending task when
//! nothing is queued ahead of it, and queues it for the peer's writer task
//! otherwise. The node driver ([`super::NetNode`]) uses the direct form: a
//! frame read is fed into the node core by the reader task, and a
//! session's send is written by the session's task, so neither waits for
//! a hop through another task.
//!
//! Each direction between two peers uses its own stream: a node writes to
//! a peer on a stream it opened itself and reads what the peer sends on
//! streams the peer opened. Streams are opened on demand and re-opened
//! after a failure; frames lost with a broken stream are the reliability
//! layer's to resend, so the host never buffers beyond one bounded queue
//! per peer.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use futures::{AsyncWrite, StreamExt as _};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionError, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    identity::Keypair, mdns, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::framing::{encode_frame, read_frame, FrameReadError};
use super::gate::{AllowPeer, Gate};

/// The stream protocol that carries choreo frames.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/choreo/frames/1");

/// Default largest frame accepted from a peer: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// How often connections of peers that are no longer allowed are closed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// Inbound streams read at once per peer. A node opens one stream per
/// direction (and a new one after a failure), so this only stops a peer
/// from multiplying the per-stream buffers.
pub const MAX_INBOUND_STREAMS_PER_PEER: usize = 4;

/// Bytes gathered from a peer's queue into one write.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// How long a writer waits for a stream to open before it gives up on this
/// attempt. It tries once more at once, keeping what is queued; after a
/// second failure the queue is dropped (the reliability layer resends, and
/// the next frame tries again). An open that never completes would
/// otherwise leave the peer's writer stuck and the link silent until the
/// session's patience runs out.
const OPEN_STREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Host settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The node's identity; its `PeerId` is what peers allow.
    pub keypair: Keypair,
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0` or
    /// `/ip4/127.0.0.1/udp/0/quic-v1`. Empty for a node that only dials.
    pub listen: Vec<Multiaddr>,
    /// Largest frame accepted from a peer (default 1 MiB). A larger length
    /// prefix closes the stream; nothing is allocated for it.
    pub max_frame_len: usize,
    /// Discover peers on the local network with mDNS (default off).
    /// Discovery only learns addresses: a discovered peer still has to be
    /// allowed to connect.
    pub mdns: bool,
    /// A connection with no open stream is closed after this long (default 60 s).
    pub idle_connection_timeout: Duration,
    /// Frames waiting per peer for its stream (default 1024); further frames
    /// are dropped and counted, and the reliability layer resends them.
    pub outbound_queue: usize,
    /// Frames read from peers waiting in the host's queue
    /// ([`NetHost::recv`], default 128); readers wait when it is full,
    /// which back-pressures the peers. With the per-stream buffers this
    /// bounds the memory peers can make the host hold: at most
    /// `(inbound_queue + 4 × connected peers) × max_frame_len` bytes of
    /// frames. A host started with [`NetHost::start_direct`] (as a
    /// `NetNode`'s is) has no queue: each reader hands its frame over
    /// before reading the next, so the bound is `4 × connected peers ×
    /// max_frame_len`.
    pub inbound_queue: usize,
}

impl NetConfig {
    /// Defaults for `keypair`: no listen address, 1 MiB frames, no mDNS.
    pub fn new(keypair: Keypair) -> Self {
        NetConfig {
            keypair,
            listen: Vec::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            mdns: false,
            idle_connection_timeout: Duration::from_secs(60),
            outbound_queue: 1024,
            inbound_queue: 128,
        }
    }
}

/// Setting up or running the host failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The transport or a behaviour could not be built.
    #[error("could not set up the libp2p host: {0}")]
    Setup(String),
    /// A listen address was refused.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address asked for.
        address: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The host's tasks have stopped (it was shut down).
    #[error("the network host has stopped")]
    Stopped,
}

/// Something that happened on the network, for the driver and for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// A listener is up on this address.
    Listening(Multiaddr),
    /// A connection to `peer` was established.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Whether we dialed.
        dialer: bool,
    },
    /// The last connection to `peer` closed.
    Disconnected {
        /// The peer.
        peer: PeerId,
    },
    /// We dialed `peer`, it authenticated, and then it closed the
    /// connection before opening a single stream to us: it does not allow
    /// our `PeerId` (or crashed at that very moment).
    Refused {
        /// The peer that refused us.
        peer: PeerId,
    },
    /// We closed a connection (or refused a stream) of a peer that is not
    /// allowed.
    Denied {
        /// The peer we refused.
        peer: PeerId,
    },
    /// Dialing `peer` failed (unreachable, wrong identity, not allowed).
    DialFailed {
        /// The peer, if the dial named one.
        peer: Option<PeerId>,
        /// libp2p's reason.
        reason: String,
    },
    /// A stream to `peer` could not be opened (an error, or no stream
    /// within 2 s). The frames waiting for it are kept for one more
    /// attempt and dropped when that fails too.
    OpenFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// `peer` broke the framing (a length prefix above the maximum); its
    /// stream was closed.
    Violation {
        /// The peer at fault.
        peer: PeerId,
        /// What it did.
        reason: String,
    },
    /// mDNS found `peer` at `address`.
    Discovered {
        /// The peer.
        peer: PeerId,
        /// Where.
        address: Multiaddr,
    },
}

/// Takes each frame a reader task read, in that task (see
/// [`NetHost::start_direct`]). It runs on the reader task between two
/// reads, so it must not block; the frame is lent (the reader reads the
/// next frame into the same buffer), so a sink that keeps it copies it.
pub type FrameSink = Arc<dyn Fn(PeerId, &[u8]) + Send + Sync>;

/// A reader keeps its frame buffer for the next frame up to this capacity
/// (a buffer grown by a larger frame is dropped after it): no allocation
/// per frame for the small frames of ordinary traffic, and no large buffer
/// held by an idle stream.
const KEPT_READ_BUFFER: usize = 4 * 1024;

/// Where reader tasks put the frames they read.
#[derive(Clone)]
enum Delivery {
    /// The host's bounded queue: a full queue makes the reader wait, which
    /// backs the stream up to the peer.
    Queue(mpsc::Sender<(PeerId, Vec<u8>)>),
    /// Straight into the sink.
    Direct(FrameSink),
}

/// What the host delivers to its driver.
#[derive(Debug)]
pub enum Inbound {
    /// One frame from an allowed, authenticated peer.
    Frame {
        /// The sender, as authenticated by Noise (TCP) or TLS (QUIC).
        from: PeerId,
        /// The frame without its length prefix.
        bytes: Vec<u8>,
    },
    /// A network event.
    Event(HostEvent),
}

#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    // First, so a denied connection never reaches the stream behaviour.
    gate: Gate,
    stream: libp2p_stream::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    AddAddress(PeerId, Multiaddr),
    HeardFrom(PeerId),
    /// Connect to the peer (unless connected or dialing) from a fresh local
    /// port.
    Dial(PeerId),
}

/// A running libp2p host. Dropping it stops its tasks and closes every
/// connection.
pub struct NetHost {
    local_peer_id: PeerId,
    max_frame_len: usize,
    commands: mpsc::UnboundedSender<Command>,
    sender: NetSender,
    frames: mpsc::Receiver<(PeerId, Vec<u8>)>,
    events: mpsc::Receiver<HostEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for NetHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHost")
            .field("local_peer_id", &self.local_peer_id)
            .field("dropped_frames", &self.sender.dropped_frames())
            .finish_non_exhaustive()
    }
}

/// The sending half of a [`NetHost`]: cloneable, and usable from any task
/// (it never waits). Each peer has one writer task with a bounded queue,
/// started on the host's runtime at the first frame for that peer.
#[derive(Clone)]
pub struct NetSender {
    outbox: Arc<Mutex<Outbox>>,
}

impl std::fmt::Debug for NetSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outbox = self.lock();
        f.debug_struct("NetSender")
            .field("writers", &outbox.writers.len())
            .field("dropped_frames", &outbox.dropped_frames)
            .finish_non_exhaustive()
    }
}

struct Outbox {
    control: libp2p_stream::Control,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Sender<HostEvent>,
    runtime: tokio::runtime::Handle,
    capacity: usize,
    writers: HashMap<PeerId, Writer>,
    dropped_frames: u64,
    stopped: bool,
}

struct Writer {
    link: Arc<Mutex<Link>>,
    task: JoinHandle<()>,
}

impl NetHost {
    /// Builds the swarm, starts listening (waiting until every listen
    /// address is bound, so [`Self::listen_addrs`] is complete) and spawns
    /// the host's tasks on the current tokio runtime. `allow` decides which
    /// peers may connect and open streams.
    pub async fn start(config: NetConfig, allow: AllowPeer) -> Result<NetHost, NetError> {
        let (frame_sender, frames) = mpsc::channel(config.inbound_queue.max(1));
        Self::start_with(config, allow, Delivery::Queue(frame_sender), frames).await
    }

    /// [`start`](Self::start), but every frame read is handed to `sink` by
    /// the task that read it instead of waiting in the host's queue
    /// ([`recv`](Self::recv) then yields only events). The sink must not
    /// block; a sink that only buffers must bound what it keeps.
    pub async fn start_direct(
        config: NetConfig,
        allow: AllowPeer,
        sink: FrameSink,
    ) -> Result<NetHost, NetError> {
        let (_, frames) = mpsc::channel(1);
        Self::start_with(config, allow, Delivery::Direct(sink), frames).await
    }

    async fn start_with(
        config: NetConfig,
        allow: AllowPeer,
        delivery: Delivery,
        frames: mpsc::Receiver<(PeerId, Vec<u8>)>,
    ) -> Result<NetHost, NetError> {
        let mut swarm = build_swarm(&config, allow.clone())?;
        let mut control = swarm.behaviour().stream.new_control();
        let incoming = control
            .accept(PROTOCOL)
            .map_err(|e| NetError::Setup(e.to_string()))?;
        let (event_sender, events) = mpsc::channel(256);
        listen_all(&mut swarm, &config.listen, &event_sender).await?;

        let (commands, command_rx) = mpsc::unbounded_channel();
        let local_peer_id = *swarm.local_peer_id();
        let swarm_task = tokio::spawn(run_swarm(swarm, command_rx, event_sender.clone()));
        let accept_task = tokio::spawn(accept_streams(
            incoming,
            allow,
            config.max_frame_len,
            commands.clone(),
            delivery,
            event_sender.clone(),
        ));
        let sender = NetSender {
            outbox: Arc::new(Mutex::new(Outbox {
                control,
                commands: commands.clone(),
                events: event_sender,
                runtime: tokio::runtime::Handle::current(),
                capacity: config.outbound_queue.max(1),
                writers: HashMap::new(),
                dropped_frames: 0,
                stopped: false,
            })),
        };
        Ok(NetHost {
            local_peer_id,
            max_frame_len: config.max_frame_len,
            commands,
            sender,
            frames,
            events,
            tasks: vec![swarm_task, accept_task],
        })
    }

    /// This node's `PeerId`.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The largest frame this host accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// The addresses the host listens on now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::ListenAddrs(reply))
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// Remembers that `peer` can be dialed at `address` (without a
    /// `/p2p/…` suffix).
    pub fn add_address(&self, peer: PeerId, address: Multiaddr) -> Result<(), NetError> {
        self.commands
            .send(Command::AddAddress(peer, address))
            .map_err(|_| NetError::Stopped)
    }

    /// Queues `frame` for `to` ([`NetSender::send`]).
    pub fn send(&mut self, to: PeerId, frame: Vec<u8>) {
        self.sender.send(to, frame);
    }

    /// A sending handle for other tasks.
    pub fn sender(&self) -> NetSender {
        self.sender.clone()
    }

    /// Frames dropped because a peer's outbound queue was full.
    pub fn dropped_frames(&self) -> u64 {
        self.sender.dropped_frames()
    }

    /// The next frame or event; `None` once the host has stopped. Frames
    /// come first when both are ready.
    pub async fn recv(&mut self) -> Option<Inbound> {
        tokio::select! {
            biased;
            Some((from, bytes)) = self.frames.recv() => Some(Inbound::Frame { from, bytes }),
            Some(event) = self.events.recv() => Some(Inbound::Event(event)),
            else => None,
        }
    }

    /// Stops every task and closes every connection.
    pub fn shutdown(&mut self) {
        self.sender.stop();
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl NetSender {
    fn lock(&self) -> MutexGuard<'_, Outbox> {
        // Every step leaves the outbox consistent, so a panic elsewhere
        // while holding the lock does not stop sending.
        self.outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `frame` to `to`, opening a stream (and dialing) if needed.
    /// Never waits: when the peer's stream is open and nothing is queued
    /// for it, the frame is written to the stream right here, in the
    /// caller's task; otherwise it is queued for the peer's writer task.
    /// When the peer's queue is full the frame is dropped and counted
    /// ([`Self::dropped_frames`]), as a lossy network would; after the
    /// host stopped, frames are dropped.
    pub fn send(&self, to: PeerId, frame: Vec<u8>) {
        let link = {
            let mut outbox = self.lock();
            if outbox.stopped {
                return;
            }
            outbox.writer(to).link.clone()
        };
        let mut link = lock_link(&link);
        match link.push(&frame) {
            Push::Queued => link.pump(to),
            Push::Full => {
                drop(link);
                self.lock().dropped_frames += 1;
                tracing::debug!(peer = %to, "outbound queue full, frame dropped");
            }
            Push::Unencodable(error) => tracing::warn!(peer = %to, %error, "frame not sent"),
        }
    }

    /// Frames dropped because a peer's outbound queue was full.
    pub fn dropped_frames(&self) -> u64 {
        self.lock().dropped_frames
    }

    fn stop(&self) {
        let mut outbox = self.lock();
        outbox.stopped = true;
        for writer in outbox.writers.drain().map(|(_, w)| w) {
            writer.task.abort();
            let mut link = lock_link(&writer.link);
            link.stream = None;
            link.queue.clear();
            link.queued_frames = 0;
        }
    }
}

impl Outbox {
    /// `peer`'s writer, started (on a fresh link) if it has none or its
    /// task ended (it only does when the host stops, or it panicked). One
    /// map lookup, and nothing cloned, when it is running: this is on the
    /// path of every frame sent.
    fn writer(&mut self, peer: PeerId) -> &mut Writer {
        let Outbox {
            control,
            commands,
            events,
            runtime,
            capacity,
            writers,
            ..
        } = self;
        let start = || {
            let link = Arc::new(Mutex::new(Link::new(*capacity)));
            let task = runtime.spawn(write_to_peer(
                peer,
                control.clone(),
                commands.clone(),
                link.clone(),
                events.clone(),
            ));
            Writer { link, task }
        };
        match writers.entry(peer) {
            Entry::Occupied(entry) => {
                let writer = entry.into_mut();
                if writer.task.is_finished() {
                    *writer = start();
                }
                writer
            }
            Entry::Vacant(entry) => entry.insert(start()),
        }
    }
}

/// One peer's outbound side: the stream (once open) and the frames not yet
/// written to it, shared by the peer's writer task and every task that
/// sends to the peer. Whoever holds the lock writes from the front of the
/// queue, so frames leave in the order they were sent whichever task
/// writes them.
///
/// Invariant: a frame left in the queue always has the writer task
/// registered to be woken, or already runnable, because every way of
/// leaving it there is one of these, each under the link's lock (which the
/// writer task's own check also holds, so no wake-up falls between its
/// check and its registration):
/// - the writer task has not been polled yet (`waker` is `None`): its
///   first poll takes the lock and finds the queue;
/// - no stream is open: the sender wakes the writer task ([`Link::pump`]),
///   or the writer task is opening one and, open or failed, goes back to
///   its check, which finds the queue;
/// - the stream returned `Pending` to a write or flush: every poll of the
///   stream, in any task, passes the writer task's waker (the only waker
///   the stream ever sees), so the stream wakes the writer task when it
///   can take more;
/// - the stream broke under a direct write: the sender wakes the writer
///   task, which opens a new one.
///
/// A frame can still be lost on purpose: dropped when the queue is full,
/// after its batch failed on two streams, or when two opens in a row fail;
/// the reliability layer above resends.
struct Link {
    /// The open stream; `None` until the writer task opened it, and again
    /// after it broke (the writer opens a new one).
    stream: Option<libp2p::Stream>,
    /// Encoded frames (length prefix and body) not yet written: batches of
    /// whole frames of up to [`WRITE_BATCH_BYTES`] each (or one larger
    /// frame), written in order.
    queue: VecDeque<Batch>,
    /// Bytes of the front batch already written to `stream`.
    written: usize,
    /// Frames in `queue`; at most `capacity`.
    queued_frames: usize,
    capacity: usize,
    /// Bytes were written since the stream's last flush.
    unflushed: bool,
    /// Consecutive failed writes of the front batch, each on a fresh
    /// stream; after two the batch is dropped.
    failures: u8,
    /// Consecutive opens that failed or timed out; after two the queue is
    /// dropped.
    open_failures: u8,
    /// The writer task's waker: every poll of the stream, in any task,
    /// registers it, so the stream wakes the writer task when it can take
    /// more (a sender's task may be long gone by then).
    waker: Option<Waker>,
    /// A batch buffer kept for reuse.
    spare: Vec<u8>,
}

struct Batch {
    bytes: Vec<u8>,
    frames: usize,
}

enum Push {
    Queued,
    Full,
    Unencodable(std::io::Error),
}

fn lock_link(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    // Every step leaves the link consistent (at worst a batch is written
    // again, which the reliability layer tolerates).
    link.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Link {
    fn new(capacity: usize) -> Self {
        Link {
            stream: None,
            queue: VecDeque::new(),
            written: 0,
            queued_frames: 0,
            capacity,
            unflushed: false,
            failures: 0,
            open_failures: 0,
            waker: None,
            spare: Vec::new(),
        }
    }

    /// Appends `frame` behind everything queued.
    fn push(&mut self, frame: &[u8]) -> Push {
        if self.queued_frames >= self.capacity {
            return Push::Full;
        }
        let fits = |batch: &Batch| batch.bytes.len() + frame.len() <= WRITE_BATCH_BYTES;
        let batch = match self.queue.back_mut().filter(|b| fits(b)) {
            Some(batch) => batch,
            None => {
                let mut bytes = std::mem::take(&mut self.spare);
                bytes.clear();
                self.queue.push_back(Batch { bytes, frames: 0 });
                // Just pushed.
                let Some(batch) = self.queue.back_mut() else {
                    return Push::Full;
                };
                batch
            }
        };
        if let Err(error) = encode_frame(frame, &mut batch.bytes) {
            if batch.frames == 0 {
                self.queue.pop_back();
            }
            return Push::Unencodable(error);
        }
        batch.frames += 1;
        self.queued_frames += 1;
        Push::Queued
    }

    fn has_work(&self) -> bool {
        !self.queue.is_empty() || self.unflushed
    }

    /// Writes and flushes what is queued as far as the stream takes it
    /// without waiting, in whichever task calls it, with the writer task's
    /// waker; wakes the writer task when it has to act (open a stream, or
    /// it never ran yet).
    fn pump(&mut self, peer: PeerId) {
        let Some(waker) = self.waker.clone() else {
            // The writer task has not run yet; it writes when it does.
            return;
        };
        if self.stream.is_none() {
            waker.wake();
            return;
        }
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(Err(error)) = self.poll_write_queue(&mut cx) {
            tracing::debug!(%peer, %error, "stream broke");
            self.broken(peer);
            waker.wake();
        }
    }

    /// Writes the queue, then flushes. `Ready(Ok)`: all written and
    /// flushed, or nothing to do.
    fn poll_write_queue(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while let Some(batch) = self.queue.front() {
            let rest = batch.bytes.get(self.written..).unwrap_or_default();
            match Pin::new(&mut *stream).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.unflushed = true;
                    self.written += n;
                    if self.written >= batch.bytes.len() {
                        self.written = 0;
                        self.failures = 0;
                        if let Some(done) = self.queue.pop_front() {
                            self.queued_frames -= done.frames;
                            if done.bytes.capacity() <= WRITE_BATCH_BYTES {
                                self.spare = done.bytes;
                            }
                        }
                    }
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.unflushed {
            ready!(Pin::new(stream).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// The stream failed: drop it; the front batch is written again, whole,
    /// on the next stream (frames of it the peer already read arrive
    /// twice; the reliability layer drops duplicates), or dropped after
    /// its second failure.
    fn broken(&mut self, peer: PeerId) {
        self.stream = None;
        self.written = 0;
        self.unflushed = false;
        self.failures += 1;
        if self.failures >= 2 {
            self.failures = 0;
            if let Some(dropped) = self.queue.pop_front() {
                self.queued_frames -= dropped.frames;
                tracing::debug!(%peer, frames = dropped.frames, "frames dropped after two broken streams");
            }
        }
    }

    /// Drops everything queued (the stream could not be opened).
    fn discard(&mut self) {
        self.queue.clear();
        self.queued_frames = 0;
        self.written = 0;
        self.failures = 0;
    }
}

impl Drop for NetHost {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn build_swarm(config: &NetConfig, allow: AllowPeer) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let mdns = if config.mdns {
        let local = config.keypair.public().to_peer_id();
        Some(mdns::tokio::Behaviour::new(mdns::Config::default(), local).map_err(|e| setup(&e))?)
    } else {
        None
    };
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::new().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_behaviour(|_key| Behaviour {
            gate: Gate::new(allow),
            stream: libp2p_stream::Behaviour::new(),
            mdns: Toggle::from(mdns),
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

/// Starts every listener and waits until each has bound an address (or
/// failed), so callers can print where the node listens.
async fn listen_all(
    swarm: &mut Swarm<Behaviour>,
    addresses: &[Multiaddr],
    events: &mpsc::Sender<HostEvent>,
) -> Result<(), NetError> {
    let mut waiting = HashMap::new();
    for address in addresses {
        let id = swarm
            .listen_on(address.clone())
            .map_err(|e| NetError::Listen {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        waiting.insert(id, address.clone());
    }
    while !waiting.is_empty() {
        let event = tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some())
            .await
            .map_err(|_| NetError::Setup("listeners did not come up within 10 s".into()))?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                waiting.remove(&listener_id);
                let _ = events.try_send(HostEvent::Listening(address));
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(address) = waiting.remove(&listener_id) {
                    return Err(NetError::Listen {
                        address,
                        reason: format!("{reason:?}"),
                    });
                }
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(address) = waiting.remove(&listener_id) {
                    return Err(NetError::Listen {
                        address,
                        reason: error.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Drives the swarm: answers commands, reports connections, detects
/// refusals, and closes connections of peers that stopped being allowed.
async fn run_swarm(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<HostEvent>,
) {
    // Peers that opened a stream to us on their current connections. A
    // peer we dialed that closes before doing so has refused us.
    let mut heard: HashSet<PeerId> = HashSet::new();
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let report = |event: HostEvent| {
        tracing::debug!(?event, "network event");
        if events.try_send(event).is_err() {
            tracing::debug!("network event dropped: the driver is behind");
        }
    };
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                None => break,
                Some(Command::ListenAddrs(reply)) => {
                    let _ = reply.send(swarm.listeners().cloned().collect());
                }
                Some(Command::AddAddress(peer, address)) => {
                    swarm.behaviour_mut().gate.add_address(peer, address);
                }
                Some(Command::HeardFrom(peer)) => {
                    if swarm.is_connected(&peer) {
                        heard.insert(peer);
                    }
                }
                Some(Command::Dial(peer)) => {
                    let fresh_port = DialOpts::peer_id(peer)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .allocate_new_port()
                        .build();
                    if let Err(error) = swarm.dial(fresh_port) {
                        tracing::trace!(%peer, %error, "no dial");
                    }
                }
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                    for (peer, address) in found {
                        report(HostEvent::Discovered { peer, address });
                    }
                }
                event => {
                    if let Some(event) = host_event(event, &mut heard) {
                        report(event);
                    }
                }
            },
            _ = sweep.tick() => {
                let gate = &swarm.behaviour().gate;
                let unwelcome: Vec<PeerId> =
                    swarm.connected_peers().filter(|p| !gate.allows(p)).copied().collect();
                for peer in unwelcome {
                    tracing::info!(%peer, "closing connection: peer is no longer allowed");
                    let _ = swarm.disconnect_peer_id(peer);
                }
            }
        }
    }
}

fn host_event(event: SwarmEvent<BehaviourEvent>, heard: &mut HashSet<PeerId>) -> Option<HostEvent> {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => Some(HostEvent::Listening(address)),
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } => Some(HostEvent::Connected {
            peer: peer_id,
            dialer: endpoint.is_dialer(),
        }),
        SwarmEvent::ConnectionClosed {
            peer_id,
            endpoint,
            num_established,
            cause,
            ..
        } => {
            if num_established > 0 {
                return None;
            }
            let was_heard = heard.remove(&peer_id);
            let closed_by_peer = matches!(cause, Some(ConnectionError::IO(_)));
            Some(if endpoint.is_dialer() && closed_by_peer && !was_heard {
                HostEvent::Refused { peer: peer_id }
            } else {
                HostEvent::Disconnected { peer: peer_id }
            })
        }
        SwarmEvent::IncomingConnectionError {
            peer_id: Some(peer),
            error: ListenError::Denied { .. },
            ..
        } => Some(HostEvent::Denied { peer }),
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            // A dial that found the peer already connected is not a failure.
            if matches!(error, DialError::DialPeerConditionFalse(_)) {
                return None;
            }
            Some(HostEvent::DialFailed {
                peer: peer_id,
                reason: error.to_string(),
            })
        }
        _ => None,
    }
}

/// Accepts inbound frame streams in a task of its own: libp2p-stream drops
/// inbound streams whenever this loop is not ready to take them.
async fn accept_streams(
    mut incoming: libp2p_stream::IncomingStreams,
    allow: AllowPeer,
    max_frame_len: usize,
    commands: mpsc::UnboundedSender<Command>,
    delivery: Delivery,
    events: mpsc::Sender<HostEvent>,
) {
    // One token per peer; each reader holds a clone, so the count of
    // clones is the number of streams being read.
    let mut readers: HashMap<PeerId, Arc<()>> = HashMap::new();
    while let Some((peer, stream)) = incoming.next().await {
        if !allow(&peer) {
            tracing::info!(%peer, "refused a stream from a peer that is not allowed");
            drop(stream);
            let _ = events.try_send(HostEvent::Denied { peer });
            continue;
        }
        readers.retain(|_, token| Arc::strong_count(token) > 1);
        let token = readers.entry(peer).or_default();
        if Arc::strong_count(token) > MAX_INBOUND_STREAMS_PER_PEER {
            tracing::warn!(%peer, "refused a stream: too many open streams from this peer");
            drop(stream);
            let _ = events.try_send(HostEvent::Violation {
                peer,
                reason: format!("more than {MAX_INBOUND_STREAMS_PER_PEER} inbound streams at once"),
            });
            continue;
        }
        let _ = commands.send(Command::HeardFrom(peer));
        tokio::spawn(read_stream(
            peer,
            stream,
            max_frame_len,
            delivery.clone(),
            events.clone(),
            token.clone(),
        ));
    }
}

/// Reads frames off one inbound stream until it ends or breaks the framing.
async fn read_stream(
    peer: PeerId,
    mut stream: libp2p::Stream,
    max_frame_len: usize,
    delivery: Delivery,
    events: mpsc::Sender<HostEvent>,
    _reading: Arc<()>,
) {
    let mut frame = Vec::new();
    loop {
        match read_frame(&mut stream, max_frame_len, &mut frame).await {
            Ok(true) => match &delivery {
                Delivery::Queue(frames) => {
                    if frames
                        .send((peer, std::mem::take(&mut frame)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Delivery::Direct(sink) => {
                    sink(peer, &frame);
                    if frame.capacity() > KEPT_READ_BUFFER {
                        frame = Vec::new();
                    }
                }
            },
            Ok(false) => return,
            Err(error @ FrameReadError::Oversized { .. }) => {
                tracing::warn!(%peer, %error, "closing stream: framing violation");
                let _ = events.try_send(HostEvent::Violation {
                    peer,
                    reason: error.to_string(),
                });
                // Dropping the stream resets it; the bytes behind the
                // prefix are never read.
                return;
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "inbound stream ended");
                return;
            }
        }
    }
}

/// Opens a frame stream to `peer`, connecting first if needed.
///
/// The connection is dialed here, from a fresh local port, before
/// libp2p-stream would dial by itself: its dial reuses the listening port,
/// and when two nodes dial each other at the same moment both dials then
/// use one address pair; TCP merges them into one connection on which
/// both sides act as the dialer, and the security handshake hangs until
/// the upgrade timeout. The command is queued before the stream request,
/// and the swarm task takes commands first, so the stream request finds
/// the dial under way and waits for its connection.
async fn open_stream(
    peer: PeerId,
    control: &mut libp2p_stream::Control,
    commands: &mpsc::UnboundedSender<Command>,
) -> Result<libp2p::Stream, String> {
    let _ = commands.send(Command::Dial(peer));
    match tokio::time::timeout(OPEN_STREAM_TIMEOUT, control.open_stream(peer, PROTOCOL)).await {
        Ok(opened) => opened.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no stream within {} s",
            OPEN_STREAM_TIMEOUT.as_secs()
        )),
    }
}

/// Keeps `peer`'s link going: writes what senders queued when the stream
/// could not take it at once, and opens the stream on demand and once more
/// after a failure. Senders write directly when they can
/// ([`NetSender::send`]); this task is woken by the stream (with its waker,
/// which every write registers) or by a sender that found no stream.
async fn write_to_peer(
    peer: PeerId,
    mut control: libp2p_stream::Control,
    commands: mpsc::UnboundedSender<Command>,
    link: Arc<Mutex<Link>>,
    events: mpsc::Sender<HostEvent>,
) {
    loop {
        // Until frames are queued and no stream is open.
        std::future::poll_fn(|cx| {
            let mut link = lock_link(&link);
            if !link.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                link.waker = Some(cx.waker().clone());
            }
            if link.stream.is_some() {
                if let Poll::Ready(Err(error)) = link.poll_write_queue(cx) {
                    tracing::debug!(%peer, %error, "stream broke");
                    link.broken(peer);
                }
            }
            if link.stream.is_none() && link.has_work() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        match open_stream(peer, &mut control, &commands).await {
            Ok(opened) => {
                let mut link = lock_link(&link);
                link.stream = Some(opened);
                link.open_failures = 0;
            }
            Err(reason) => {
                tracing::debug!(%peer, %reason, "could not open a stream");
                let _ = events.try_send(HostEvent::OpenFailed { peer, reason });
                let mut link = lock_link(&link);
                link.open_failures += 1;
                // The queue is kept for one more attempt, made at once: an
                // open that timed out on a loaded machine usually finds
                // the connection up the second time. After a second
                // failure whatever queued would only hammer the dialer;
                // the reliability layer resends it.
                if link.open_failures >= 2 {
                    link.open_failures = 0;
                    link.discard();
                }
            }
        }
    }
}
