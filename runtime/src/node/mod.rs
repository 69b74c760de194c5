//! The node host: many sessions of many protocols over one set of
//! authenticated peer connections, with a reliable link per (session,
//! ordered pair of role instances). Sans-I/O: no sockets, no clock, no
//! tokio — a driver feeds it frames and the current [`Time`], and takes
//! back frames to send and the time it next needs to wake up (the shape of
//! quinn-proto). The libp2p driver and the simulator ([`crate::sim`]) drive
//! the same [`Node`].
//!
//! ```text
//!  app: generated endpoints ── Session<NodeTransport> ──┐
//!                                                       │ start_send / poll_recv / close
//!  driver ── handle_frame(now, from, bytes) ──> Node ───┤
//!         <── poll_transmit(now) ── Transmit{to, frame}  │ poll_timeout / handle_timeout(now)
//!         <── poll_event() ── NodeEvent                  │
//! ```
//!
//! Guarantees (each with its bound, all in the driver's time):
//!
//! - **Delivery**: per (session, sender, receiver) every message arrives
//!   once and in order, across drops, duplicates, reordering and
//!   reconnects, as long as the peer is heard from within the session's
//!   patience.
//! - **Detection**: every link sends a heartbeat after
//!   [`LinkConfig::heartbeat`] without other traffic; a peer not heard from
//!   for [`LinkConfig::suspect_after`] raises [`NodeEvent::PeerUnresponsive`]
//!   (so a silent partition is reported at most `suspect_after` after it
//!   began), and after the patience ([`LinkConfig::patience`] or
//!   [`SessionSpec::patience`]) [`NodeEvent::PeerLost`]: receives from it
//!   then fail with [`crate::Error::Transport`] instead of waiting.
//! - **Bad input**: a frame that does not decode, is longer than
//!   [`NodeConfig::max_frame_len`], or does not fit the session it names
//!   (fingerprint, sender bound to another node, label outside the
//!   protocol, an ack of frames never sent) is dropped and reported as
//!   [`NodeEvent::Violation`] naming the node it came from. Nothing a peer
//!   sends panics the node.
//! - **Handoff**: an endpoint moves to another node in its current state
//!   ([`SharedNode::hand_off`], [`SharedNode::accept_handoff`]); peers
//!   reroute a role only on the word of the node bound to it, every message
//!   in flight arrives once and in order at the new holder, and the old
//!   holder's frames past its cut are violations. The protocol and its
//!   bounds are in the `handoff` module's source docs and the book.
//! - **Memory**: per link at most [`LinkConfig::recv_buffer`] bytes of
//!   received, undelivered frames (plus one frame of up to `max_frame_len`);
//!   frames for sessions not open yet at most [`PendingLimits::max_frames`]
//!   frames and [`PendingLimits::max_bytes`] bytes, each for at most
//!   [`PendingLimits::max_age`]; at most [`NodeConfig::max_events`] queued
//!   events; at most [`NodeConfig::tombstones`] remembered closed sessions.

mod handoff;
mod host;
mod link;
mod pending;
mod shared;
mod table;
pub mod wire;

use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::ids::SessionId;

/// Re-exported: the node's time is the session clock's [`Time`](crate::Time).
pub use crate::time::Time;
pub use handoff::BUNDLE_VERSION;
pub use host::Node;
pub use shared::{ClockFn, FlushFn, NodeTransport, SessionSpec, SharedNode};

/// A node's identity: its Ed25519 public key. Network drivers derive their
/// own peer ids from it (libp2p's `PeerId`); the core never names libp2p.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl fmt::Display for NodeId {
    /// The first 8 bytes in hex: enough to tell nodes apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", crate::ids::short_hex(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId(")?;
        crate::ids::hex(f, &self.0)?;
        write!(f, ")")
    }
}

/// Limits on frames that arrive for a session this node has not opened
/// yet (the peer was faster than the local application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingLimits {
    /// Frames held at most, over all unknown sessions (default 1024).
    pub max_frames: usize,
    /// Bytes held at most (default 16 MiB).
    pub max_bytes: usize,
    /// A held frame older than this is dropped (default 10 s).
    pub max_age: Duration,
}

impl Default for PendingLimits {
    fn default() -> Self {
        Self {
            max_frames: 1024,
            max_bytes: 16 << 20,
            max_age: Duration::from_secs(10),
        }
    }
}

/// Timers and buffers of the reliable links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// First retransmission timeout (default 200 ms); doubles on every
    /// retransmission up to `max_rto`, and resets when an ack makes
    /// progress.
    pub initial_rto: Duration,
    /// Largest retransmission timeout (default 2 s).
    pub max_rto: Duration,
    /// An idle link sends a heartbeat after this long without sending
    /// anything (default 1 s); a quarter of it while the peer is
    /// unresponsive, to tell a lossy link from a dead one.
    pub heartbeat: Duration,
    /// A peer not heard from for this long is reported unresponsive
    /// (default 3 s = three heartbeats).
    pub suspect_after: Duration,
    /// A peer not heard from for this long is lost: its receives fail
    /// (default 10 s). Sessions may override it.
    pub patience: Duration,
    /// Sequence numbers more than this far beyond the last in-order frame
    /// are dropped (the sender retransmits them later), and a sender keeps
    /// at most this many unacknowledged frames on the wire (default 1024).
    pub window: u64,
    /// Bytes of received but not yet consumed frames per link (counted
    /// at encoded size; default 8 MiB). A frame that does not fit is
    /// dropped unacknowledged, unless it is the next in order and nothing
    /// is buffered.
    pub recv_buffer: usize,
    /// Frames retransmitted at most per timeout (default 64).
    pub max_burst: usize,
    /// A closed session whose links are all settled stays this long to
    /// answer retransmissions with acks (default 2 s).
    pub linger: Duration,
    /// How long an acknowledgement may wait for a data frame to carry it
    /// before it goes out on its own (default 5 ms). An endpoint usually
    /// answers a message at once, so its answer acknowledges the message
    /// and a round trip costs two frames instead of four. Far below
    /// `initial_rto`, so a delayed ack never causes a retransmission.
    pub ack_delay: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            initial_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(2),
            heartbeat: Duration::from_secs(1),
            suspect_after: Duration::from_secs(3),
            patience: Duration::from_secs(10),
            window: 1024,
            recv_buffer: 8 << 20,
            max_burst: 64,
            linger: Duration::from_secs(2),
            ack_delay: Duration::from_millis(5),
        }
    }
}

/// Configuration of a [`Node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Largest frame accepted (default 1 MiB); larger frames are a
    /// violation and are never buffered.
    pub max_frame_len: usize,
    /// Frames for sessions not open yet.
    pub pending: PendingLimits,
    /// Reliable link timers and buffers.
    pub link: LinkConfig,
    /// Peers allowed to talk to this node besides those bound in an open
    /// session's roster.
    pub peers: Vec<NodeId>,
    /// Events queued at most; further events are dropped and counted
    /// (default 1024).
    pub max_events: usize,
    /// Closed sessions remembered, so that their late frames are dropped
    /// quietly instead of announced as new sessions (default 4096).
    pub tombstones: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            max_frame_len: 1 << 20,
            pending: PendingLimits::default(),
            link: LinkConfig::default(),
            peers: Vec::new(),
            max_events: 1024,
            tombstones: 4096,
        }
    }
}

/// A frame to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The destination node.
    pub to: NodeId,
    /// The encoded node frame ([`wire`]).
    pub frame: Vec<u8>,
}

/// What the node tells its host application and driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeEvent {
    /// Frames arrived for a session this node has not opened (and has not
    /// recently closed). They are held within [`PendingLimits`]; open the
    /// session with [`SharedNode::open_session`] to receive them. Raised
    /// once per session id while its frames are held.
    SessionRequested {
        /// The session the frames name.
        session: SessionId,
        /// The protocol fingerprint they carry.
        fingerprint: [u8; 32],
        /// The node they came from.
        from: NodeId,
    },
    /// A peer sent something malformed or not allowed; the frame was
    /// dropped. `error` is an [`Error::ProtocolViolation`] naming the peer.
    Violation {
        /// The node at fault.
        peer: NodeId,
        /// The session the frame named, if it decoded that far.
        session: Option<SessionId>,
        /// What was wrong.
        error: Error,
    },
    /// A session peer has not been heard from for
    /// [`LinkConfig::suspect_after`] (a silent partition or a crash).
    PeerUnresponsive {
        /// The session.
        session: SessionId,
        /// The silent node.
        peer: NodeId,
        /// How long it has been silent.
        silent_for: Duration,
    },
    /// A session peer was silent for longer than the session's patience;
    /// receives from it now fail with [`Error::Transport`].
    PeerLost {
        /// The session.
        session: SessionId,
        /// The lost node.
        peer: NodeId,
    },
}

/// Counters, for observability and for tests of the bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Frames handed to [`Node::handle_frame`].
    pub frames_in: u64,
    /// Frames returned by [`Node::poll_transmit`].
    pub frames_out: u64,
    /// Frames dropped as violations.
    pub violations: u64,
    /// Data frames received again (already delivered or buffered).
    pub duplicates: u64,
    /// Data frames dropped because they were beyond the window or did not
    /// fit the receive buffer.
    pub over_window: u64,
    /// Data frames retransmitted.
    pub retransmissions: u64,
    /// Frames held for sessions not open yet, now.
    pub pending_frames: u64,
    /// Frames for unknown sessions dropped (limits full or too old).
    pub pending_dropped: u64,
    /// Frames for recently closed sessions, dropped quietly.
    pub late_frames: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Sessions currently hosted (open or lingering).
    pub sessions: u64,
    /// Bytes of received frames buffered in links, now.
    pub buffered_bytes: u64,
    /// Frames this node received for an endpoint it had handed off and
    /// forwarded to the endpoint's new holder.
    pub forwarded: u64,
}
