//! Node identities on libp2p: Ed25519 keypairs, key files, and the mapping
//! between libp2p's `PeerId` and the node core's `NodeId`.
//!
//! A node's identity is its Ed25519 keypair. Its libp2p `PeerId` is the
//! identity multihash of the protobuf-encoded public key (libp2p's rule for
//! keys that short), so the 32 public-key bytes — the core's `NodeId` — can
//! be read back out of a `PeerId` without any lookup. `PeerId`s of other key
//! types (RSA, secp256k1, ECDSA) or hashed `PeerId`s have no `NodeId`; such
//! peers are never allowed.
//!
//! ## Key file format
//!
//! [`write_key_file`] writes libp2p's protobuf encoding of the keypair
//! (`Keypair::to_protobuf_encoding`: the `PrivateKey` message with
//! `Type = Ed25519` and the 64-byte secret‖public key as `Data`), the format
//! other libp2p tools read. [`read_key_file`] accepts that, or a file of
//! exactly 32 raw bytes: an Ed25519 secret key (seed). The file is created
//! with mode 0600 on Unix and never overwritten.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use libp2p::identity::{ed25519, Keypair, PublicKey};
use libp2p::PeerId;

use crate::node::NodeId;

/// A key file could not be written or read, or a `PeerId` has no Ed25519 key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file system refused.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but holds neither a protobuf-encoded Ed25519 keypair
    /// nor a 32-byte secret.
    #[error("key file {path} holds no Ed25519 key (expected libp2p's protobuf keypair encoding or 32 raw secret bytes): {reason}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The `PeerId` does not embed an Ed25519 public key.
    #[error(
        "peer {0} is not identified by an inline Ed25519 key; choreo nodes use Ed25519 identities"
    )]
    NotEd25519(PeerId),
    /// 32 bytes that are not a valid Ed25519 public key.
    #[error("{0:02x?} is not a valid Ed25519 public key")]
    InvalidPublicKey([u8; 32]),
}

/// The node id of `keypair`: its Ed25519 public key.
pub fn local_node_id(keypair: &Keypair) -> Result<NodeId, KeyError> {
    node_id_of(&keypair.public().to_peer_id())
}

/// Generates a fresh Ed25519 identity.
pub fn generate_keypair() -> Keypair {
    Keypair::generate_ed25519()
}

/// Writes `keypair` to a new file at `path` (protobuf encoding, mode 0600);
/// fails if the file exists, so a key is never overwritten by accident.
pub fn write_key_file(path: &Path, keypair: &Keypair) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = keypair
        .to_protobuf_encoding()
        .map_err(|e| KeyError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads an Ed25519 identity from `path` (see the module docs for the two
/// accepted formats).
pub fn read_key_file(path: &Path) -> Result<Keypair, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    keypair_from_bytes(&bytes).map_err(|reason| KeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}

fn keypair_from_bytes(bytes: &[u8]) -> Result<Keypair, String> {
    if let Ok(mut secret) = <[u8; 32]>::try_from(bytes) {
        // `ed25519_from_bytes` zeroes the buffer it is given.
        return Keypair::ed25519_from_bytes(&mut secret).map_err(|e| e.to_string());
    }
    let keypair = Keypair::from_protobuf_encoding(bytes).map_err(|e| e.to_string())?;
    keypair
        .try_into_ed25519()
        .map(Keypair::from)
        .map_err(|e| format!("not an Ed25519 key: {e}"))
}

/// The node id (Ed25519 public key) embedded in `peer`.
pub fn node_id_of(peer: &PeerId) -> Result<NodeId, KeyError> {
    const IDENTITY_MULTIHASH: u64 = 0;
    let hash = peer.as_ref();
    if hash.code() != IDENTITY_MULTIHASH {
        return Err(KeyError::NotEd25519(*peer));
    }
    PublicKey::try_decode_protobuf(hash.digest())
        .ok()
        .and_then(|key| key.try_into_ed25519().ok())
        .map(|key| NodeId(key.to_bytes()))
        .ok_or(KeyError::NotEd25519(*peer))
}

/// The `PeerId` of node `id` (fails for 32 bytes that are no Ed25519 point).
pub fn peer_id_of(id: &NodeId) -> Result<PeerId, KeyError> {
    let key =
        ed25519::PublicKey::try_from_bytes(&id.0).map_err(|_| KeyError::InvalidPublicKey(id.0))?;
    Ok(PublicKey::from(key).to_peer_id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("choreo-net-identity-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir
    }

    #[test]
    fn a_written_key_file_reads_back_as_the_same_identity() {
        let path = temp_path("roundtrip");
        let key = generate_keypair();
        write_key_file(&path, &key).unwrap();
        let back = read_key_file(&path).unwrap();
        assert_eq!(back.public().to_peer_id(), key.public().to_peer_id());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn writing_never_overwrites_an_existing_key() {
        let path = temp_path("no-overwrite");
        write_key_file(&path, &generate_keypair()).unwrap();
        let err = write_key_file(&path, &generate_keypair()).unwrap_err();
        assert!(
            matches!(err, KeyError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_raw_32_byte_secret_is_an_identity_too() {
        let path = temp_path("raw");
        let secret = [7u8; 32];
        std::fs::write(&path, secret).unwrap();
        let key = read_key_file(&path).unwrap();
        let mut again = secret;
        let expected = Keypair::ed25519_from_bytes(&mut again).unwrap();
        assert_eq!(key.public(), expected.public());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_file_of_garbage_is_a_malformed_key_not_a_panic() {
        let path = temp_path("garbage");
        std::fs::write(&path, b"definitely not a key").unwrap();
        assert!(matches!(
            read_key_file(&path),
            Err(KeyError::Malformed { .. })
        ));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn peer_id_and_public_key_convert_both_ways() {
        let key = generate_keypair();
        let peer = key.public().to_peer_id();
        let id = node_id_of(&peer).unwrap();
        let ed = key.public().try_into_ed25519().unwrap();
        assert_eq!(id, NodeId(ed.to_bytes()));
        assert_eq!(peer_id_of(&id).unwrap(), peer);
        assert_eq!(local_node_id(&key).unwrap(), id);
    }

    #[test]
    fn a_peer_id_without_an_inline_ed25519_key_has_no_node_id() {
        // A random PeerId is an identity multihash of 32 random bytes: not a
        // protobuf-encoded public key.
        let peer = PeerId::random();
        assert!(matches!(node_id_of(&peer), Err(KeyError::NotEd25519(p)) if p == peer));
    }
}
