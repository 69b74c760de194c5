//! `link Sub(…)` between nodes: the join handshake and the linked session.
//!
//! On reaching a `link`, an endpoint sends a [`Join`] to every peer that
//! takes part in `Sub` (in the linking session, in its current phase, so a
//! `link` that starts a timeout handler interrupts the peers' bodies like
//! any handler message), then reads theirs. The join carries the linked
//! session's id (derived from the linking session's id and `Sub`'s
//! fingerprint, so every participant derives the same) and `Sub`'s
//! fingerprint. A peer whose fingerprint differs is refused with a
//! [`Error::ProtocolViolation`] naming the protocol and both fingerprints;
//! since every side sends before it reads, both sides refuse, and neither
//! opens `Sub`'s session, so not one frame of `Sub` is sent. When every
//! fingerprint matches, [`Joined::open`] opens `Sub`'s session over the
//! same transport machinery (same node, the same peers for the roles
//! passed to `Sub`), and the linking session finishes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Interrupt, UsageError};
use crate::ids::{Label, PeerId, ProtocolInfo, Role, RoleId, SessionId};
use crate::roster::{RoleShape, Roster};
use crate::session::Session;
pub use crate::session_config::LinkedSession;
use crate::session_config::SessionConfig;
use crate::transport::Transport;
use crate::typestate::Timed;

/// How one role of the linked protocol is bound to the linking protocol,
/// positionally, as written in `link Sub(A, W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkArg {
    /// `Sub`'s single role is played by this instance of the linking
    /// protocol (a single role or a literal family member).
    Instance(RoleId),
    /// `Sub`'s family is played by this family: same size, same indices.
    Family(Role),
}

/// What one `link` statement joins (the code generator emits one per
/// `link`).
#[derive(Debug)]
pub struct LinkTarget {
    /// Module of the linked protocol.
    pub module: &'static str,
    /// Name of the linked protocol.
    pub protocol: &'static str,
    /// The linked protocol's fingerprint, as this endpoint was built.
    pub fingerprint: [u8; 32],
    /// `Sub`'s roles in order, each bound to the linking protocol.
    pub args: &'static [LinkArg],
    /// The label of the join handshake in the linking protocol.
    pub join_label: Label,
}

/// The join handshake: what a participant of the link announces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Join {
    /// The linked session's id.
    pub session: [u8; 16],
    /// The linked protocol's fingerprint on the sender's side.
    pub fingerprint: [u8; 32],
    /// The linked protocol, as the sender names it (`module.Protocol`).
    pub protocol: String,
}

/// A link every peer joined with the same fingerprint: open the linked
/// protocol's session with [`open`](Self::open). Generated `join` methods
/// do that themselves when the linked protocol is generated beside the
/// linking one.
#[derive(Debug)]
#[must_use = "a joined link must be opened (or the linking session finished)"]
pub struct Joined<T: Transport> {
    linking: Session<T>,
    id: SessionId,
    fingerprint: [u8; 32],
    name: String,
    me: RoleId,
    roster: Roster,
    peers: Vec<PeerId>,
}

impl<T: Transport> Joined<T> {
    /// The linked session's id (the same on every participant).
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// The linked protocol's fingerprint every participant agreed on.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Open the linked protocol's session (`protocol` must have the agreed
    /// fingerprint) on the linking session's transport machinery, and
    /// finish the linking session.
    pub fn open(mut self, protocol: &'static ProtocolInfo) -> Result<Session<T>, Error> {
        if protocol.fingerprint != self.fingerprint {
            return Err(UsageError::Link(format!(
                "the link to {} was joined for fingerprint {}, but protocol {} has fingerprint {}; open it with the protocol the link was built against",
                self.name,
                full_hex(&self.fingerprint),
                protocol.name,
                full_hex(&protocol.fingerprint)
            ))
            .into());
        }
        let config = SessionConfig {
            id: self.id,
            protocol,
            me: self.me,
            roster: self.roster.clone(),
        };
        let linked = LinkedSession {
            config: config.clone(),
            peers: self.peers.clone(),
        };
        let transport = self.linking.transport_mut().open_linked(&linked)?;
        let mut session = Session::new(config, transport)?;
        // Frames the linking session read ahead from a peer after its join
        // (while a body looked for handler messages) are the linked
        // protocol's when the two share streams (in memory); over a node
        // host an honest peer sends nothing after its join on the linking
        // session, so there are none.
        let from = &mut self.linking.inner_mut().core;
        let to = &mut session.inner_mut().core;
        for (k, p) in self.peers.iter().enumerate() {
            if let (Some(src), Some(dst)) = (from.held.get_mut(p.as_usize()), to.held.get_mut(k)) {
                let moved = std::mem::take(src);
                from.held_total = from.held_total.saturating_sub(moved.len());
                to.held_total += moved.len();
                dst.extend(moved);
            }
        }
        self.linking.finish()?;
        Ok(session)
    }
}

/// What a completed handshake found: the linked session's id, name, this
/// endpoint's instance, roster and transport peers.
struct Handshake {
    id: SessionId,
    name: String,
    me: RoleId,
    roster: Roster,
    peers: Vec<PeerId>,
}

/// The linked session's id: a hash of the linking session's id and the
/// linked protocol's fingerprint.
pub fn linked_session_id(linking: SessionId, fingerprint: &[u8; 32]) -> SessionId {
    let digest = Sha256::new()
        .chain_update(b"choreo link session")
        .chain_update(linking.0)
        .chain_update(fingerprint)
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    SessionId(id)
}

/// A fingerprint in full lowercase hex.
pub fn full_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl<T: Transport> Session<T> {
    /// Join the protocol a `link` statement names (see the module
    /// documentation of [`crate::link`]): send the join handshake to every
    /// peer that takes part in it, read theirs, and refuse a peer whose
    /// fingerprint differs ([`Error::ProtocolViolation`] naming the
    /// protocol and both fingerprints; nothing of the linked protocol is
    /// sent). Inside a timeout body, use
    /// [`join_link_timed`](Self::join_link_timed), which hands the session
    /// back for the handler; here an interrupted join is an
    /// [`Error::Interrupted`] and the session is closed.
    pub async fn join_link(self, target: &LinkTarget) -> Result<Joined<T>, Error> {
        match self.join_link_timed(target).await? {
            Timed::Done(joined) => Ok(joined),
            Timed::Expired(session) => Err(Error::Interrupted(
                session
                    .interrupted_by()
                    .cloned()
                    .unwrap_or(Interrupt::Deadline),
            )),
        }
    }

    /// [`join_link`](Self::join_link) inside a timeout body: when the body
    /// ends during the handshake (its deadline, a peer's handler message,
    /// a gone peer), `Timed::Expired` hands the session back, still in the
    /// body, for the handler (call [`start_handler`](Self::start_handler)),
    /// like any other operation of a body.
    pub async fn join_link_timed(
        mut self,
        target: &LinkTarget,
    ) -> Result<Timed<Joined<T>, Session<T>>, Error> {
        match self.handshake(target).await {
            Ok(h) => Ok(Timed::Done(Joined {
                linking: self,
                id: h.id,
                fingerprint: target.fingerprint,
                name: h.name,
                me: h.me,
                roster: h.roster,
                peers: h.peers,
            })),
            Err(Error::Interrupted(_)) => Ok(Timed::Expired(self)),
            Err(e) => Err(e),
        }
    }

    /// The join handshake itself, on this session.
    async fn handshake(&mut self, target: &LinkTarget) -> Result<Handshake, Error> {
        let name = format!("{}.{}", target.module, target.protocol);
        let (shapes, instances) = self.link_plan(target)?;
        let roster = Roster::new(&shapes)?;
        let me = *self.me_in(&instances, &roster, &name)?;
        let id = linked_session_id(self.id(), &target.fingerprint);
        let mine = Join {
            session: id.0,
            fingerprint: target.fingerprint,
            protocol: name.clone(),
        };
        let local = self.me();
        let others: Vec<RoleId> = instances.iter().copied().filter(|r| *r != local).collect();
        for &peer in &others {
            self.send(peer, target.join_label, &mine).await?;
        }
        for &peer in &others {
            let theirs: Join = self.recv(peer, target.join_label).await?;
            if theirs.fingerprint != target.fingerprint || theirs.session != id.0 {
                return Err(Error::ProtocolViolation {
                    role: self.protocol().role_name(peer),
                    expected: format!(
                        "to join {name} with fingerprint {}",
                        full_hex(&target.fingerprint)
                    ),
                    got: format!(
                        "a join of {} with fingerprint {}: the two sides were built from different versions of {}; the link is refused on both sides and nothing of it ran",
                        theirs.protocol,
                        full_hex(&theirs.fingerprint),
                        target.protocol
                    ),
                });
            }
        }
        let mut peers = Vec::with_capacity(instances.len());
        for r in &instances {
            peers.push(self.transport_peer(*r)?);
        }
        Ok(Handshake {
            id,
            name,
            me,
            roster,
            peers,
        })
    }

    /// `Sub`'s role shapes, and the linking protocol's instance behind each
    /// of `Sub`'s instances (in `Sub`'s roster order).
    fn link_plan(&self, target: &LinkTarget) -> Result<(Vec<RoleShape>, Vec<RoleId>), Error> {
        let mut shapes = Vec::with_capacity(target.args.len());
        let mut instances = Vec::new();
        for arg in target.args {
            match *arg {
                LinkArg::Instance(r) => {
                    shapes.push(RoleShape::Single);
                    instances.push(r);
                }
                LinkArg::Family(f) => {
                    let n = self.family_size(f)?;
                    shapes.push(RoleShape::Family(n));
                    instances.extend((0..n).map(|i| RoleId::member(f, i)));
                }
            }
        }
        Ok((shapes, instances))
    }

    /// This endpoint's instance in the linked roster.
    fn me_in<'r>(
        &self,
        instances: &[RoleId],
        roster: &'r Roster,
        name: &str,
    ) -> Result<&'r RoleId, Error> {
        instances
            .iter()
            .position(|r| *r == self.me())
            .and_then(|k| roster.instances().get(k))
            .ok_or_else(|| {
                UsageError::Link(format!(
                    "{} takes no part in {name}: only the roles passed to a link join it",
                    self.protocol().role_name(self.me())
                ))
                .into()
            })
    }

    /// The transport peer of an instance of this session.
    fn transport_peer(&self, r: RoleId) -> Result<PeerId, Error> {
        self.roster().peer(r).ok_or_else(|| {
            UsageError::UnknownRole {
                role: self.protocol().role_name(r),
            }
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_session_ids_differ_by_fingerprint_and_linking_session() {
        let a = linked_session_id(SessionId([1; 16]), &[2; 32]);
        assert_eq!(a, linked_session_id(SessionId([1; 16]), &[2; 32]));
        assert_ne!(a, linked_session_id(SessionId([1; 16]), &[3; 32]));
        assert_ne!(a, linked_session_id(SessionId([4; 16]), &[2; 32]));
        assert_ne!(a, SessionId([1; 16]));
    }
}
