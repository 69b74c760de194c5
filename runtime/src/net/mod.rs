//! Network transport on libp2p (cargo feature `net`).
//!
//! - [`identity`]: Ed25519 identities, key files, `PeerId` ↔ node id.
//! - [`framing`]: 4-byte big-endian length-prefixed frames with a maximum.
//! - [`gate`]: connection-level admission (the allow list) and the address
//!   book.
//! - [`NetNode`]: the tokio driver running a node core over a [`NetHost`].
//! - [`host`]: the swarm (TCP + Noise + Yamux, QUIC, optional mDNS), the
//!   stream accept loop, per-peer readers and writers.
//!
//! The stream protocol is [`PROTOCOL`] (`/choreo/frames/1`). Each direction
//! between two nodes is one libp2p stream opened by the sender; on it, each
//! frame is a 4-byte big-endian length followed by that many bytes of node
//! frame. A length above the receiver's maximum (default 1 MiB) closes the
//! stream before anything is allocated.

mod driver;
pub mod framing;
pub mod gate;
pub mod host;
pub mod identity;

pub use driver::{JournalConfig, NetEvent, NetNode, NetNodeConfig};
pub use gate::{AllowPeer, NotAllowed};
pub use host::{
    FrameSink, HostEvent, Inbound, NetConfig, NetError, NetHost, NetSender, DEFAULT_MAX_FRAME_LEN,
    PROTOCOL,
};
pub use identity::{
    generate_keypair, local_node_id, node_id_of, peer_id_of, read_key_file, write_key_file,
    KeyError,
};
pub use libp2p::{identity::Keypair, multiaddr::Protocol, Multiaddr, PeerId as Libp2pPeerId};
