//! Handoff: a hosted endpoint, in its current state, moves to another node.
//!
//! Three nodes take part: the old holder `X`, the new holder `Y`, and every
//! peer `P` of the session. `X` is the only one that can start it, and the
//! only one whose word the peers take for it.
//!
//! 1. **Freeze.** `X` takes its endpoint's links apart into a [`Bundle`]
//!    (sequence numbers, unacknowledged frames, received but undelivered
//!    messages, the session core's phase and timers) and sends it to `Y`
//!    in a bundle frame, again and again until `Y` answers with a bundle
//!    ack. From here on `X` sends and delivers nothing of the endpoint.
//! 2. **Install.** `Y` takes a bundle only from a node it was told to
//!    expect one from ([`SharedNode::accept_handoff`](super::SharedNode::accept_handoff),
//!    or a delegate's `accept`), checks every field, and hosts the
//!    endpoint under a fresh key (the session id that frames addressed to
//!    it carry, so one node can host two endpoints of a session). Its
//!    links start *gated*: they send nothing until the peer on the other
//!    side is heard from directly.
//! 3. **Rebind.** Once `Y` acknowledged, `X` sends every peer a rebind
//!    notice (role, new holder, new key, and the last sequence number `X`
//!    sent that peer: the *cut*), again until acknowledged. A peer accepts
//!    a rebind of a role only from the node bound to it now — anything
//!    else is a [`ProtocolViolation`](crate::Error::ProtocolViolation)
//!    naming the sender. It rebinds, sends its unacknowledged frames again
//!    (to `Y`), and probes `Y` with a heartbeat, which ungates `Y`'s link.
//! 4. **Forward.** Frames that still reach `X` for the endpoint (sent
//!    before the peer rebound) are passed to `Y` inside forward frames;
//!    `Y` processes them as if they came from their origin. Sequence
//!    numbers make each arrive once and in order, whichever copy (forward
//!    or the peer's retransmission) comes first.
//! 5. **After.** A peer drops the old holder's frames numbered up to the
//!    cut as late duplicates (the bundle carried them); a frame numbered
//!    past it is something `X` sent after the handoff, a violation. `X`
//!    forgets the endpoint once the bundle and every rebind were
//!    acknowledged (or after the session's patience).
//!
//! Payload layouts (inside node frames of the kinds in [`super::wire`]):
//! rebind = new holder (32 bytes) ‖ new key (16) ‖ cut (u64 LE), 56 bytes;
//! forward = origin node (32 bytes) ‖ the frame as received; bundle = the
//! postcard encoding of [`Bundle`]; the acks carry none.

use std::collections::VecDeque;
use std::task::{Poll, Waker};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::host::{Hosted, Node};
use super::link::{Link, LinkState};
use super::wire::{FrameKind, NodeFrame};
use super::{LinkConfig, NodeId, Time, Transmit};
use crate::envelope::Header;
use crate::error::{Error, UsageError};
use crate::handoff::CoreState;
use crate::ids::{PeerId, ProtocolInfo, RoleId, SessionId};
use crate::roster::{RoleShape, Roster};
use crate::session_core::phase::FINISHED_LIMIT;

/// Version byte of the handoff bundle.
pub const BUNDLE_VERSION: u8 = 2;

/// Length of a rebind payload.
const REBIND_LEN: usize = 32 + 16 + 8;

/// Frames an old holder keeps for forwarding until the new holder
/// acknowledged the bundle, at most this many and at most
/// [`LinkConfig::recv_buffer`] bytes (later ones are dropped; their
/// senders retransmit them to the new holder).
const MAX_HELD: usize = 256;

/// Handoffs a node waits for at once.
const MAX_ARRIVALS: usize = 64;

/// Bounds on what a bundle may claim, beyond the frame's length.
const MAX_PARAMS: usize = 64;
const MAX_BODIES: usize = 64;

/// Postcard encoding of a bundle frame's payload: everything the new
/// holder needs to go on where the old one stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bundle {
    pub(crate) version: u8,
    /// The session's id.
    pub(crate) session: [u8; 16],
    /// The old holder's key for the endpoint (where the acks go).
    pub(crate) from_key: [u8; 16],
    /// The generated typestate the endpoint is in, and the protocol's
    /// parameters (checked by the generated `resume`).
    pub(crate) state: u32,
    pub(crate) params: Vec<u32>,
    /// Per protocol role: `None` single, `Some(n)` a family of `n`.
    pub(crate) shapes: Vec<Option<u32>>,
    /// Per roster instance: its node (the moved one: the new holder) and
    /// its key there.
    pub(crate) nodes: Vec<[u8; 32]>,
    pub(crate) keys: Vec<[u8; 16]>,
    pub(crate) patience_ms: u64,
    pub(crate) core: CoreState,
    /// Per roster instance: the link with it (`None` for the moved one).
    pub(crate) links: Vec<Option<LinkState>>,
}

/// The key an endpoint gets on the node it moves to: fresh per hop.
fn next_key(key: SessionId, to: NodeId) -> SessionId {
    let digest = Sha256::new()
        .chain_update(b"choreo handoff key")
        .chain_update(key.0)
        .chain_update(to.0)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    SessionId(out)
}

impl Bundle {
    /// Check every field against the protocol and this node; on success
    /// the roster and the moved instance. `Err`: what is wrong.
    fn check(
        &self,
        protocol: &ProtocolInfo,
        me: NodeId,
        key: SessionId,
        sender: RoleId,
        link: &LinkConfig,
    ) -> Result<(Roster, PeerId), String> {
        if self.version != BUNDLE_VERSION {
            return Err(format!("bundle version {}", self.version));
        }
        if self.shapes.len() != protocol.roles.len() {
            return Err(format!(
                "{} roles for protocol {} of {}",
                self.shapes.len(),
                protocol.name,
                protocol.roles.len()
            ));
        }
        // Count the instances before building the roster: a claimed family
        // size must be backed by bytes in the frame.
        let instances = self
            .shapes
            .iter()
            .try_fold(0u64, |n, s| n.checked_add(u64::from(s.unwrap_or(1))))
            .unwrap_or(u64::MAX);
        let n = self.nodes.len();
        if instances != n as u64
            || self.keys.len() != n
            || self.links.len() != n
            || self.core.skips.len() != n
        {
            return Err(format!(
                "{instances} role instances but {n} nodes, {} keys, {} links, {} skip lists",
                self.keys.len(),
                self.links.len(),
                self.core.skips.len()
            ));
        }
        let shapes: Vec<RoleShape> = self
            .shapes
            .iter()
            .map(|s| s.map_or(RoleShape::Single, RoleShape::Family))
            .collect();
        let roster = Roster::new(&shapes).map_err(|e| e.to_string())?;
        let Some(local) = roster.peer(sender) else {
            return Err(format!(
                "the moved instance {} outside the roster",
                protocol.role_name(sender)
            ));
        };
        let at = local.as_usize();
        if self.nodes.get(at) != Some(&me.0) || self.keys.get(at) != Some(&key.0) {
            return Err(format!(
                "{} bound to another node or key than this one",
                protocol.role_name(sender)
            ));
        }
        for (p, l) in self.links.iter().enumerate() {
            match (p == at, l) {
                (true, None) => {}
                (false, Some(l)) => l
                    .check(protocol.labels.len(), link)
                    .map_err(|e| format!("link with peer {p}: {e}"))?,
                _ => return Err(format!("the link table at peer {p}")),
            }
        }
        if self.params.len() > MAX_PARAMS || self.core.bodies.len() > MAX_BODIES {
            return Err("more parameters or timeout bodies than a protocol has".to_owned());
        }
        if self.core.finished.len() > FINISHED_LIMIT
            || self
                .core
                .rewind
                .is_some_and(|(_, depth, _, _)| depth as usize >= MAX_BODIES)
        {
            return Err(
                "more completed or enclosing timeout bodies than an endpoint keeps".to_owned(),
            );
        }
        let labels = protocol.labels.len();
        if self
            .core
            .skips
            .iter()
            .flatten()
            .any(|(l, _)| usize::from(*l) >= labels)
        {
            return Err("a straggler to skip with a label outside the protocol".to_owned());
        }
        Ok((roster, local))
    }
}

/// A peer's record of the node that held one of its roster instances
/// before the last handoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retired {
    /// The old holder and its key for the endpoint.
    pub(crate) old: NodeId,
    pub(crate) old_key: SessionId,
    /// The last sequence number the old holder sent us.
    pub(crate) cut: u64,
    /// Where it went.
    pub(crate) new: NodeId,
    pub(crate) key: SessionId,
}

/// The old holder's side of a handoff in progress.
#[derive(Debug)]
pub(crate) struct Departure {
    pub(crate) to: NodeId,
    key: SessionId,
    bundle: Vec<u8>,
    bundle_acked: bool,
    /// Per peer: the rebind frame until the peer acknowledges it.
    rebinds: Vec<Option<Vec<u8>>>,
    /// Per peer: our acknowledgement at the cut (answers heartbeats).
    acks: Vec<u64>,
    /// Frames to forward once the bundle is acknowledged, and their bytes.
    held: VecDeque<(NodeId, Vec<u8>)>,
    held_bytes: usize,
    rto: Duration,
    retry_at: Time,
    give_up_at: Time,
}

impl Departure {
    pub(crate) fn next_timeout(&self) -> Time {
        self.retry_at.min(self.give_up_at)
    }

    fn complete(&self) -> bool {
        self.bundle_acked && self.rebinds.iter().all(Option::is_none)
    }
}

/// What a landed handoff gives the application.
#[derive(Debug)]
pub(crate) struct Landed {
    pub(crate) key: SessionId,
    pub(crate) session: SessionId,
    pub(crate) protocol: &'static ProtocolInfo,
    pub(crate) me: RoleId,
    pub(crate) me_peer: PeerId,
    pub(crate) roster: Roster,
    /// Per roster instance: the node bound to it (the landed one: this
    /// node), the guard identities of a re-guarded endpoint's peers.
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) core: CoreState,
    pub(crate) state: u32,
    pub(crate) params: Vec<u32>,
}

/// A handoff this node's application waits for.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub(crate) from: NodeId,
    id: u64,
    protocol: &'static ProtocolInfo,
    session: Option<SessionId>,
    role: Option<RoleId>,
    waker: Option<Waker>,
    landed: Option<Landed>,
}

fn host_error(msg: String) -> Error {
    UsageError::Host(msg).into()
}

impl Node {
    /// Hand hosted endpoint `key` to node `to` (step 1 of the module docs).
    /// `core`, `state` and `params` are the session's and the typestate's
    /// part of the bundle.
    pub(crate) fn depart(
        &mut self,
        key: SessionId,
        to: NodeId,
        core: CoreState,
        state: u32,
        params: Vec<u32>,
    ) -> Result<(), Error> {
        let now = self.now;
        let max = self.config.max_frame_len;
        let link = self.config.link;
        let me = self.me;
        if to == me {
            return Err(host_error(
                "a handoff to the node that holds the endpoint already; name another node".into(),
            ));
        }
        let h = self
            .sessions
            .get_mut(&key)
            .filter(|h| !h.closed && h.departure.is_none())
            .ok_or_else(|| host_error(format!("no open endpoint {key} on {me} to hand off")))?;
        let new_key = next_key(key, to);
        let local = h.me.as_usize();
        let links: Vec<Option<LinkState>> = h
            .links
            .iter_mut()
            .map(|l| l.as_mut().map(Link::export))
            .collect();
        let mut nodes: Vec<[u8; 32]> = h.peers.iter().map(|n| n.0).collect();
        let mut keys: Vec<[u8; 16]> = h.wire.iter().map(|k| k.0).collect();
        if let (Some(n), Some(k)) = (nodes.get_mut(local), keys.get_mut(local)) {
            *n = to.0;
            *k = new_key.0;
        }
        let shapes = (0..h.roster.role_count())
            .map(|r| match h.roster.shape(crate::ids::Role(r as u16)) {
                Some(RoleShape::Family(n)) => Some(n),
                _ => None,
            })
            .collect();
        let cuts: Vec<(u64, u64)> = links
            .iter()
            .map(|l| {
                l.as_ref()
                    .map_or((0, 0), |l| (l.next_seq.saturating_sub(1), l.delivered))
            })
            .collect();
        let bundle = Bundle {
            version: BUNDLE_VERSION,
            session: h.session.0,
            from_key: key.0,
            state,
            params,
            shapes,
            nodes,
            keys,
            patience_ms: u64::try_from(h.patience.as_millis()).unwrap_or(u64::MAX),
            core,
            links,
        };
        let header = Header {
            session: new_key,
            ..h.header
        };
        let frame = postcard::to_allocvec(&bundle)
            .map(|payload| NodeFrame::encode_handoff(FrameKind::Bundle, &header, &payload))
            .map_err(|e| format!("the handoff bundle does not encode: {e}"))
            .and_then(|frame| {
                if frame.len() > max {
                    Err(format!(
                        "the handoff bundle is {} bytes, above the maximum frame length {max}: too much unacknowledged or undelivered traffic to move",
                        frame.len()
                    ))
                } else {
                    Ok(frame)
                }
            });
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                // Put the links back: the endpoint stays here, and closes
                // properly when its session is dropped.
                for (slot, state) in h.links.iter_mut().zip(bundle.links) {
                    *slot = state.map(|state| {
                        let mut link = Link::import(now, &link, state);
                        link.ungate();
                        link
                    });
                }
                return Err(host_error(e));
            }
        };
        // The endpoint is gone from here on.
        h.closed = true;
        h.links.iter_mut().for_each(|l| *l = None);
        let rebinds = cuts
            .iter()
            .enumerate()
            .map(|(p, (cut, _))| {
                (p != local).then(|| {
                    let mut body = Vec::with_capacity(REBIND_LEN);
                    body.extend_from_slice(&to.0);
                    body.extend_from_slice(&new_key.0);
                    body.extend_from_slice(&cut.to_le_bytes());
                    NodeFrame::encode_handoff(FrameKind::Rebind, &h.header_to(p), &body)
                })
            })
            .collect();
        tracing::info!(session = %h.session, %to, role = %h.protocol.role_name(h.header.sender), "handing an endpoint off");
        h.departure = Some(Departure {
            to,
            key: new_key,
            bundle: frame.clone(),
            bundle_acked: false,
            rebinds,
            acks: cuts.iter().map(|(_, d)| *d).collect(),
            held: VecDeque::new(),
            held_bytes: 0,
            rto: link.initial_rto,
            retry_at: now + link.initial_rto,
            give_up_at: now + h.patience,
        });
        self.outbox.push_back(Transmit { to, frame });
        Ok(())
    }

    /// Rebind, bundle and forward frames and their acks.
    pub(super) fn on_handoff_frame(&mut self, from: NodeId, frame: NodeFrame) {
        let key = frame.envelope.session;
        match frame.kind {
            FrameKind::Bundle => self.on_bundle(from, frame),
            FrameKind::Forward => self.on_forward(from, frame),
            _ if !self.sessions.contains_key(&key) => {
                if self.tombstone_set.contains(&key) {
                    self.stats.late_frames += 1;
                } else {
                    self.violation(
                        from,
                        Some(key),
                        "handoff frames of a hosted session".into(),
                        format!("a {:?} frame of session {key}", frame.kind),
                    );
                }
            }
            FrameKind::Rebind => self.on_rebind(key, from, frame),
            FrameKind::RebindAck => self.on_rebind_ack(key, from, &frame),
            FrameKind::BundleAck => self.on_bundle_ack(key, from),
            _ => {}
        }
    }

    /// A frame for an endpoint this node handed off: forward what the new
    /// holder needs, answer probes, drop the rest.
    pub(super) fn on_departed_frame(&mut self, key: SessionId, from: NodeId, frame: NodeFrame) {
        let max = self.config.max_frame_len;
        let held_limit = self.config.link.recv_buffer;
        let Some(h) = self.sessions.get_mut(&key) else {
            return;
        };
        let sender = frame.envelope.sender;
        let peer = h.roster.peer(sender).map(PeerId::as_usize);
        let bound = peer.and_then(|p| h.peers.get(p)).copied();
        if bound != Some(from) || frame.envelope.fingerprint != h.header.fingerprint {
            let name = h.protocol.role_name(sender);
            self.violation(
                from,
                Some(key),
                format!("frames of {name} from the node bound to it"),
                format!("a frame claiming sender {name} from {from}"),
            );
            return;
        }
        let (Some(p), Some(d)) = (peer, h.departure.as_mut()) else {
            return;
        };
        match frame.kind {
            FrameKind::Data | FrameKind::Close | FrameKind::Rebind => {
                let inner = frame.encode();
                if !d.bundle_acked {
                    if d.held.len() < MAX_HELD && d.held_bytes + inner.len() <= held_limit {
                        d.held_bytes += inner.len();
                        d.held.push_back((from, inner));
                    }
                    return;
                }
                let header = Header {
                    session: d.key,
                    ..h.header
                };
                if let Some(f) = forward_frame(&header, from, &inner, max) {
                    self.outbox.push_back(Transmit { to: d.to, frame: f });
                    self.stats.forwarded += 1;
                }
            }
            FrameKind::Heartbeat => {
                // The peer has not rebound yet: tell it we are alive, with
                // no progress beyond the cut.
                let ack = d.acks.get(p).copied().unwrap_or(0);
                let f = NodeFrame::encode_control(FrameKind::Ack, &h.header_to(p), 0, ack);
                self.outbox.push_back(Transmit { to: from, frame: f });
            }
            _ => {}
        }
    }

    /// The new holder installed the bundle: rebind the peers, forward what
    /// was held.
    fn on_bundle_ack(&mut self, key: SessionId, from: NodeId) {
        let now = self.now;
        let max = self.config.max_frame_len;
        let initial_rto = self.config.link.initial_rto;
        let Some(h) = self.sessions.get_mut(&key) else {
            return;
        };
        let Some(d) = h.departure.as_mut().filter(|d| d.to == from) else {
            self.violation(
                from,
                Some(key),
                "a bundle acknowledgement from the node the endpoint was handed to".into(),
                format!("one from {from}"),
            );
            return;
        };
        if d.bundle_acked {
            return;
        }
        d.bundle_acked = true;
        d.rto = initial_rto;
        d.retry_at = now + initial_rto;
        for (p, r) in d.rebinds.iter().enumerate() {
            if let (Some(frame), Some(&to)) = (r, h.peers.get(p)) {
                self.outbox.push_back(Transmit {
                    to,
                    frame: frame.clone(),
                });
            }
        }
        let header = Header {
            session: d.key,
            ..h.header
        };
        d.held_bytes = 0;
        for (origin, inner) in std::mem::take(&mut d.held) {
            if let Some(f) = forward_frame(&header, origin, &inner, max) {
                self.outbox.push_back(Transmit { to: d.to, frame: f });
                self.stats.forwarded += 1;
            }
        }
        self.finish_departure(key);
    }

    fn on_rebind_ack(&mut self, key: SessionId, from: NodeId, frame: &NodeFrame) {
        let Some(h) = self.sessions.get_mut(&key) else {
            return;
        };
        let peer = h.roster.peer(frame.envelope.sender).map(PeerId::as_usize);
        let slot = peer
            .filter(|p| h.peers.get(*p) == Some(&from))
            .and_then(|p| h.departure.as_mut().and_then(|d| d.rebinds.get_mut(p)));
        match slot {
            Some(slot) => *slot = None,
            None => {
                let name = h.protocol.role_name(frame.envelope.sender);
                self.violation(
                    from,
                    Some(key),
                    "a rebind acknowledgement from a peer of a handed-off endpoint".into(),
                    format!("one claiming {name} from {from}"),
                );
                return;
            }
        }
        self.finish_departure(key);
    }

    /// Forget a handed-off endpoint once the bundle and every rebind were
    /// acknowledged: the peers now talk to the new holder.
    fn finish_departure(&mut self, key: SessionId) {
        let done = self
            .sessions
            .get(&key)
            .and_then(|h| h.departure.as_ref())
            .is_some_and(Departure::complete);
        if done {
            tracing::debug!(%key, "handoff complete");
            self.sessions.remove(&key);
            self.tombstone(key);
        }
    }

    /// Retransmit bundles and rebinds that are due; the keys of handoffs
    /// given up (the new holder or a peer silent for the patience).
    pub(super) fn departure_timeouts(&mut self, now: Time, due: &[SessionId]) -> Vec<SessionId> {
        // Retry at the pace of an unresponsive link's heartbeat, not the
        // data retransmission's backoff: a handoff has only the session's
        // patience to complete, and every round needs two frames through
        // (a backoff to 2 s leaves about seven rounds in 10 s, which a
        // lossy link loses in about one run in 7,000 at 15 % loss).
        let max_rto = self.config.link.heartbeat / 4;
        let mut gone = Vec::new();
        for &key in due {
            let Some(h) = self.sessions.get_mut(&key) else {
                continue;
            };
            let Some(d) = h.departure.as_mut() else {
                continue;
            };
            if now >= d.give_up_at {
                tracing::warn!(%key, to = %d.to, acked = d.bundle_acked, "handoff not completed within the session's patience; forgetting the endpoint");
                gone.push(key);
                continue;
            }
            if now < d.retry_at {
                continue;
            }
            if d.bundle_acked {
                for (p, r) in d.rebinds.iter().enumerate() {
                    if let (Some(frame), Some(&to)) = (r, h.peers.get(p)) {
                        self.outbox.push_back(Transmit {
                            to,
                            frame: frame.clone(),
                        });
                    }
                }
            } else {
                self.outbox.push_back(Transmit {
                    to: d.to,
                    frame: d.bundle.clone(),
                });
            }
            d.rto = (d.rto * 2).min(max_rto);
            d.retry_at = now + d.rto;
        }
        gone
    }

    /// A rebind notice for peer instance `sender` of endpoint `key` (step 3).
    pub(super) fn on_rebind(&mut self, key: SessionId, from: NodeId, frame: NodeFrame) {
        let now = self.now;
        let Some(h) = self.sessions.get_mut(&key) else {
            return;
        };
        if h.departure.is_some() {
            // Our own endpoint is moving too: the new holder needs it.
            self.on_departed_frame(key, from, frame);
            return;
        }
        let sender = frame.envelope.sender;
        let name = h.protocol.role_name(sender);
        let body = frame.envelope.payload.as_bytes();
        let parsed = (|| {
            let (new, rest) = body.split_first_chunk::<32>()?;
            let (new_key, rest) = rest.split_first_chunk::<16>()?;
            let (cut, rest) = rest.split_first_chunk::<8>()?;
            rest.is_empty()
                .then(|| (NodeId(*new), SessionId(*new_key), u64::from_le_bytes(*cut)))
        })();
        let peer = h
            .roster
            .peer(sender)
            .filter(|p| *p != h.me)
            .map(PeerId::as_usize);
        let (Some((new, new_key, cut)), Some(p), true) = (
            parsed,
            peer,
            frame.envelope.fingerprint == h.header.fingerprint,
        ) else {
            self.violation(
                from,
                Some(key),
                "a well-formed rebind of a peer of this session".into(),
                format!("a rebind of {name} of {} bytes", body.len()),
            );
            return;
        };
        let holder = h.peers.get(p).copied();
        let old_key = h.wire.get(p).copied().unwrap_or(key);
        let ack_header = |old_key: SessionId| Header {
            session: old_key,
            ..h.header
        };
        if holder == Some(from) && new != from {
            let sent = h
                .links
                .get(p)
                .and_then(Option::as_ref)
                .map_or(0, Link::delivered);
            if cut < sent {
                self.violation(
                    from,
                    Some(key),
                    format!("a rebind of {name} cut at or after frame {sent}, which we received"),
                    format!("a cut at frame {cut}"),
                );
                return;
            }
            tracing::info!(session = %h.session, role = %name, %from, to = %new, "peer handed off: rerouting");
            if let (Some(r), Some(n), Some(w)) =
                (h.retired.get_mut(p), h.peers.get_mut(p), h.wire.get_mut(p))
            {
                *r = Some(Retired {
                    old: from,
                    old_key,
                    cut,
                    new,
                    key: new_key,
                });
                *n = new;
                *w = new_key;
            }
            if let Some(Some(link)) = h.links.get_mut(p) {
                link.retarget(now);
            }
            let ack = NodeFrame::encode_handoff(FrameKind::RebindAck, &ack_header(old_key), &[]);
            self.outbox.push_back(Transmit {
                to: from,
                frame: ack,
            });
            self.mark_if_due(key, p as u32);
            return;
        }
        let retired = h.retired.get(p).copied().flatten();
        if let Some(r) = retired.filter(|r| r.old == from && r.new == new && r.key == new_key) {
            // Our acknowledgement was lost: say it again.
            let ack = NodeFrame::encode_handoff(FrameKind::RebindAck, &ack_header(r.old_key), &[]);
            self.outbox.push_back(Transmit {
                to: from,
                frame: ack,
            });
            return;
        }
        let holder = holder.map_or("nobody".to_owned(), |n| n.to_string());
        self.violation(
            from,
            Some(key),
            format!("a rebind of {name} only from its holder, {holder}"),
            format!("a rebind of {name} from {from}"),
        );
    }

    /// A frame from the node that held peer `p` before its last handoff.
    /// `Some(Ok)`: late, drop it quietly; `Some(Err)`: a violation; `None`:
    /// not such a frame.
    pub(super) fn late_from_old_holder(
        &self,
        key: SessionId,
        from: NodeId,
        frame: &NodeFrame,
    ) -> Option<Result<(), (String, String)>> {
        let h = self.sessions.get(&key)?;
        let p = h.roster.peer(frame.envelope.sender)?.as_usize();
        let r = h.retired.get(p).copied().flatten()?;
        if r.old != from || h.peers.get(p) == Some(&from) {
            return None;
        }
        if frame.kind.is_sequenced() && frame.seq > r.cut {
            let name = h.protocol.role_name(frame.envelope.sender);
            return Some(Err((
                format!(
                    "nothing of {name} from {from} after its handoff to {} (it sent up to frame {})",
                    r.new, r.cut
                ),
                format!("frame {} of {name} from {from}", frame.seq),
            )));
        }
        Some(Ok(()))
    }

    /// A forward frame: a frame the old holder received for an endpoint
    /// that now lives here.
    fn on_forward(&mut self, from: NodeId, frame: NodeFrame) {
        let key = frame.envelope.session;
        let ours = self
            .sessions
            .get(&key)
            .is_some_and(|h| h.predecessor.map(|(n, _)| n) == Some(from));
        if !ours {
            if self.tombstone_set.contains(&key) {
                self.stats.late_frames += 1;
                return;
            }
            self.violation(
                from,
                Some(key),
                "forwarded frames only from the node an endpoint was handed over from".into(),
                format!("a forward for {key} from {from}"),
            );
            return;
        }
        let body = frame.envelope.payload.as_bytes();
        let inner = body
            .split_first_chunk::<32>()
            .map(|(origin, inner)| (NodeId(*origin), NodeFrame::decode(inner)));
        match inner {
            Some((origin, Ok(inner))) => match inner.kind {
                FrameKind::Data | FrameKind::Close => {
                    self.on_session_frame(key, origin, inner, false);
                }
                FrameKind::Rebind => self.on_rebind(key, origin, inner),
                _ => {}
            },
            _ => self.violation(
                from,
                Some(key),
                "a forward of a well-formed node frame".into(),
                format!("a {}-byte forward", body.len()),
            ),
        }
    }

    /// A bundle frame (step 2).
    fn on_bundle(&mut self, from: NodeId, frame: NodeFrame) {
        let key = frame.envelope.session;
        if let Some(h) = self.sessions.get(&key) {
            if let Some((pred, pred_key)) = h.predecessor.filter(|(n, _)| *n == from) {
                // Installed already; our ack was lost.
                let header = Header {
                    session: pred_key,
                    ..h.header
                };
                let ack = NodeFrame::encode_handoff(FrameKind::BundleAck, &header, &[]);
                self.outbox.push_back(Transmit {
                    to: pred,
                    frame: ack,
                });
            } else {
                self.violation(
                    from,
                    Some(key),
                    "a handoff bundle for a fresh key".into(),
                    format!("one for {key}, which an endpoint here has"),
                );
            }
            return;
        }
        if self.tombstone_set.contains(&key) {
            self.stats.late_frames += 1;
            return;
        }
        let bundle: Option<Bundle> = postcard::from_bytes(frame.envelope.payload.as_bytes()).ok();
        let delegation = bundle
            .as_ref()
            .and_then(|b| self.delegation_from(from, &frame, SessionId(b.session)));
        if let Some(protocol) = delegation {
            // A role of a session this node takes part in, handed here by
            // its holder: a `delegate` to our role. Install it now — the
            // bundle may hold a message our endpoint waits for before it
            // reaches `accept` — and keep it for `accept` to claim.
            let session = bundle.as_ref().map(|b| SessionId(b.session));
            let sender = frame.envelope.sender;
            if !self
                .arrivals
                .iter()
                .any(|a| a.landed.is_none() && a.session == session && a.role == Some(sender))
                && self.arrivals.len() < MAX_ARRIVALS
            {
                let id = self.next_arrival_id();
                self.arrivals.push(Arrival {
                    from,
                    id,
                    protocol,
                    session,
                    role: Some(sender),
                    waker: None,
                    landed: None,
                });
            }
        }
        if !self.arrivals.iter().any(|a| a.from == from) {
            if self.is_allowed(&from) {
                // Not expected (yet): the sender retries.
                self.stats.pending_dropped += 1;
            } else {
                self.violation(
                    from,
                    Some(key),
                    "handoff bundles only from a node this host expects one from".into(),
                    format!("a bundle from {from}"),
                );
            }
            return;
        }
        let bundle: Bundle = match bundle
            .ok_or(())
            .or_else(|()| postcard::from_bytes::<Bundle>(frame.envelope.payload.as_bytes()))
        {
            Ok(b) => b,
            Err(e) => {
                self.violation(
                    from,
                    Some(key),
                    "a well-formed handoff bundle".into(),
                    format!("an undecodable one: {e}"),
                );
                return;
            }
        };
        let sender = frame.envelope.sender;
        let fingerprint = frame.envelope.fingerprint;
        let session = SessionId(bundle.session);
        let matching = self.arrivals.iter().position(|a| {
            a.from == from
                && a.landed.is_none()
                && a.protocol.fingerprint == fingerprint
                && a.session.is_none_or(|s| s == session)
                && a.role.is_none_or(|r| r == sender)
        });
        let Some(i) = matching else {
            self.violation(
                from,
                Some(key),
                "a handoff bundle of the protocol, session and role this host expects".into(),
                format!(
                    "one of fingerprint {}… for session {session}",
                    crate::ids::short_hex(&fingerprint)
                ),
            );
            return;
        };
        let Some(protocol) = self.arrivals.get(i).map(|a| a.protocol) else {
            return;
        };
        let (roster, local) = match bundle.check(protocol, self.me, key, sender, &self.config.link)
        {
            Ok(ok) => ok,
            Err(e) => {
                self.violation(
                    from,
                    Some(key),
                    "a consistent handoff bundle".into(),
                    format!("a bundle with {e}"),
                );
                return;
            }
        };
        let now = self.now;
        let link_config = self.config.link;
        let Bundle {
            from_key,
            state,
            params,
            nodes,
            keys,
            patience_ms,
            core,
            links,
            ..
        } = bundle;
        let links = links
            .into_iter()
            .map(|l| l.map(|l| Link::import(now, &link_config, l)))
            .collect();
        let header = Header {
            session: key,
            fingerprint,
            sender,
        };
        let nodes: Vec<NodeId> = nodes.into_iter().map(NodeId).collect();
        let mut hosted = Hosted::new(
            header,
            protocol,
            local,
            roster.clone(),
            nodes.clone(),
            links,
            Duration::from_millis(patience_ms),
        );
        hosted.session = session;
        hosted.wire = keys.into_iter().map(SessionId).collect();
        hosted.predecessor = Some((from, SessionId(from_key)));
        tracing::info!(%session, %from, role = %protocol.role_name(sender), "endpoint handed over to this node");
        self.install(hosted);
        let ack_header = Header {
            session: SessionId(from_key),
            ..header
        };
        let ack = NodeFrame::encode_handoff(FrameKind::BundleAck, &ack_header, &[]);
        self.outbox.push_back(Transmit {
            to: from,
            frame: ack,
        });
        if let Some(a) = self.arrivals.get_mut(i) {
            a.landed = Some(Landed {
                key,
                session,
                protocol,
                me: sender,
                me_peer: local,
                roster,
                nodes,
                core,
                state,
                params,
            });
            if let Some(w) = a.waker.take() {
                w.wake();
            }
        }
    }

    /// Is `frame` (a bundle from `from` for `session`) a delegation to
    /// this node: does an endpoint here take part in `session`, with the
    /// moved instance bound to `from`? Its protocol if so.
    fn delegation_from(
        &self,
        from: NodeId,
        frame: &NodeFrame,
        session: SessionId,
    ) -> Option<&'static ProtocolInfo> {
        let env = &frame.envelope;
        self.sessions
            .values()
            .find(|h| {
                h.session == session
                    && h.departure.is_none()
                    && h.header.fingerprint == env.fingerprint
                    && h.roster
                        .peer(env.sender)
                        .filter(|p| *p != h.me)
                        .and_then(|p| h.peers.get(p.as_usize()))
                        == Some(&from)
            })
            .map(|h| h.protocol)
    }

    fn next_arrival_id(&self) -> u64 {
        self.arrivals.iter().map(|a| a.id + 1).max().unwrap_or(0)
    }

    /// Expect the endpoint of `role` in `session`, delegated to this node
    /// by its holder `holder`: the arrival installed already, if the
    /// bundle came first.
    pub(crate) fn expect_delegation(
        &mut self,
        holder: NodeId,
        protocol: &'static ProtocolInfo,
        session: SessionId,
        role: RoleId,
    ) -> Result<u64, Error> {
        let existing = self.arrivals.iter().find(|a| {
            a.session == Some(session)
                && a.role == Some(role)
                && a.protocol.fingerprint == protocol.fingerprint
        });
        match existing {
            Some(a) => Ok(a.id),
            None => self.expect(holder, protocol, Some(session), Some(role)),
        }
    }

    /// Expect a handoff from `from` (of `protocol`, and of `session` and
    /// `role` if given). Returns the id to poll.
    pub(crate) fn expect(
        &mut self,
        from: NodeId,
        protocol: &'static ProtocolInfo,
        session: Option<SessionId>,
        role: Option<RoleId>,
    ) -> Result<u64, Error> {
        if self.arrivals.len() >= MAX_ARRIVALS {
            return Err(host_error(format!(
                "already waiting for {MAX_ARRIVALS} handoffs; accept or drop some first"
            )));
        }
        let id = self.next_arrival_id();
        self.arrivals.push(Arrival {
            from,
            id,
            protocol,
            session,
            role,
            waker: None,
            landed: None,
        });
        Ok(id)
    }

    /// Has expected handoff `id` landed?
    pub(crate) fn poll_arrival(&mut self, id: u64, waker: &Waker) -> Poll<Option<Landed>> {
        let Some(i) = self.arrivals.iter().position(|a| a.id == id) else {
            return Poll::Ready(None);
        };
        let Some(a) = self.arrivals.get_mut(i) else {
            return Poll::Ready(None);
        };
        if a.landed.is_some() {
            return Poll::Ready(self.arrivals.remove(i).landed);
        }
        match &a.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => a.waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// Stop waiting for handoff `id`.
    pub(crate) fn cancel_arrival(&mut self, id: u64) {
        self.arrivals.retain(|a| a.id != id);
    }

    /// The node bound to `role` in hosted endpoint `key`.
    pub(crate) fn bound_node(&self, key: SessionId, role: RoleId) -> Option<NodeId> {
        let h = self.sessions.get(&key)?;
        h.peers.get(h.roster.peer(role)?.as_usize()).copied()
    }
}

/// A forward frame carrying `inner` (received from `origin`), if it fits
/// the maximum frame length (if not, the sender's retransmission to the
/// new holder delivers it).
fn forward_frame(header: &Header, origin: NodeId, inner: &[u8], max: usize) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(32 + inner.len());
    body.extend_from_slice(&origin.0);
    body.extend_from_slice(inner);
    let frame = NodeFrame::encode_handoff(FrameKind::Forward, header, &body);
    (frame.len() <= max).then_some(frame)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::ids::Role;

    static P: ProtocolInfo = ProtocolInfo {
        name: "P",
        fingerprint: [1; 32],
        roles: &["A", "R"],
        labels: &["Ping"],
    };

    fn valid() -> (Bundle, NodeId, SessionId) {
        let me = NodeId([7; 32]);
        let key = SessionId([5; 16]);
        let mut link = Link::new(Time::ZERO, &LinkConfig::default());
        let bundle = Bundle {
            version: BUNDLE_VERSION,
            session: [4; 16],
            from_key: [4; 16],
            state: 3,
            params: vec![],
            shapes: vec![None, None],
            nodes: vec![[1; 32], me.0],
            keys: vec![[4; 16], key.0],
            patience_ms: 10_000,
            core: CoreState::default_for(2),
            links: vec![Some(link.export()), None],
        };
        (bundle, me, key)
    }

    const R: RoleId = RoleId::single(Role(1));

    #[test]
    fn a_valid_bundle_passes_its_checks() {
        let (b, me, key) = valid();
        assert!(b.check(&P, me, key, R, &LinkConfig::default()).is_ok());
    }

    #[test]
    fn bundles_that_lie_are_refused() {
        let cfg = LinkConfig::default();
        let (b, me, key) = valid();
        let mut huge = b.clone();
        huge.shapes = vec![None, Some(u32::MAX)];
        assert!(huge.check(&P, me, key, R, &cfg).is_err());
        let mut elsewhere = b.clone();
        elsewhere.nodes[1] = [9; 32];
        assert!(elsewhere.check(&P, me, key, R, &cfg).is_err());
        let mut bad_label = b.clone();
        bad_label.links[0].as_mut().unwrap().inbox = vec![super::super::link::ItemState::Message {
            label: 7,
            phase: 0,
            payload: vec![],
        }];
        assert!(bad_label.check(&P, me, key, R, &cfg).is_err());
        let mut gap = b.clone();
        gap.links[0].as_mut().unwrap().next_seq = 5;
        assert!(gap.check(&P, me, key, R, &cfg).is_err());
        assert!(b.check(&P, me, key, RoleId::single(Role(0)), &cfg).is_err());
    }

    #[test]
    fn decoding_any_prefix_or_corruption_of_a_bundle_never_panics() {
        let (b, me, key) = valid();
        let bytes = postcard::to_allocvec(&b).unwrap();
        for n in 0..bytes.len() {
            let _ = postcard::from_bytes::<Bundle>(&bytes[..n]);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..2000 {
            let mut v = bytes.clone();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % v.len();
            v[at] = (x >> 32) as u8;
            if i % 3 == 0 {
                v.truncate(at);
            }
            if let Ok(b) = postcard::from_bytes::<Bundle>(&v) {
                let _ = b.check(&P, me, key, R, &LinkConfig::default());
            }
        }
    }
}
