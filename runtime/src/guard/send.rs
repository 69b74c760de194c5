//! The guarded session operations: what generated code calls for an
//! annotated message statement.
//!
//! Each builds every frame of the statement first (one per receiver), waits
//! until every receiver's link can take one, then runs the chain and hands
//! the frames over in one step ([`GuardedTransport::send_statement`]). So a
//! statement is all or nothing: a broadcast that the budget allows for two
//! of three receivers sends nothing.

use std::future::poll_fn;
use std::task::Poll;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::chain::Annotations;
use super::transport::{GuardedTransport, Refused};
use crate::envelope::Message;
use crate::error::Error;
use crate::ids::{Label, PeerId, Role, RoleId};
use crate::ops;
use crate::session::Session;
use crate::session_core::Inner;
use crate::transport::Transport;

impl<T: Transport> Session<GuardedTransport<T>> {
    /// `A -> B : L(T)` with annotations: the guard chain runs (capability,
    /// flow budget, journal coupling, leakage, in that order) and the
    /// message is handed to the transport only if every guard allows it.
    /// The first denial is returned as [`Error::Denied`]; then nothing was
    /// sent, appended or charged.
    pub async fn send_guarded<M: Serialize + ?Sized>(
        &mut self,
        to: RoleId,
        label: Label,
        payload: &M,
        annotations: &Annotations<'static>,
    ) -> Result<(), Error> {
        let inner = self.inner_mut();
        let frame = {
            let core = &inner.core;
            let peer = core.other_peer(to)?;
            (peer, core.message(label, core.payload(label, payload)?))
        };
        statement(inner, label, vec![frame], annotations).await
    }

    /// `A -> W[*] : L(T)` with annotations, one value for everybody: every
    /// frame passes the chain (each is charged toward its receiver and gets
    /// its own fact), and either all are sent or none.
    pub async fn send_all_guarded<M: Serialize + ?Sized>(
        &mut self,
        family: Role,
        label: Label,
        payload: &M,
        annotations: &Annotations<'static>,
    ) -> Result<(), Error> {
        let inner = self.inner_mut();
        let frames = {
            let core = &inner.core;
            let message = core.message(label, core.payload(label, payload)?);
            core.others_in(family)?
                .into_iter()
                .map(|(_, peer)| (peer, message.clone()))
                .collect()
        };
        statement(inner, label, frames, annotations).await
    }

    /// `A -> W[*] : L(T)` with annotations and a value per receiver
    /// (`value(i)` for member `i`, in index order); all or none.
    pub async fn send_each_guarded<M: Serialize>(
        &mut self,
        family: Role,
        label: Label,
        value: impl FnMut(u32) -> M,
        annotations: &Annotations<'static>,
    ) -> Result<(), Error> {
        let inner = self.inner_mut();
        let frames = frames_each(inner, family, label, value)?;
        statement(inner, label, frames, annotations).await
    }

    /// `W[*] -> W[*] : L(T) [quorum q]` with annotations: the sending half
    /// passes the chain as one statement (all or none) before anything is
    /// received; then as [`Session::exchange`].
    pub async fn exchange_guarded<M: Serialize + DeserializeOwned>(
        &mut self,
        family: Role,
        label: Label,
        mut value: impl FnMut(u32) -> M,
        quorum: Option<usize>,
        annotations: &Annotations<'static>,
    ) -> Result<Vec<(u32, M)>, Error> {
        let inner = self.inner_mut();
        let (own_index, need) = ops::exchange_plan(&inner.core, family, quorum)?;
        let own = value(own_index);
        let frames = frames_each(inner, family, label, &mut value)?;
        statement(inner, label, frames, annotations).await?;
        ops::gather_exchange(
            inner,
            family,
            label,
            (own_index, own),
            need,
            quorum.is_some(),
        )
        .await
    }
}

fn frames_each<T: Transport, M: Serialize>(
    inner: &Inner<T>,
    family: Role,
    label: Label,
    mut value: impl FnMut(u32) -> M,
) -> Result<Vec<(PeerId, Message)>, Error> {
    let core = &inner.core;
    core.others_in(family)?
        .into_iter()
        .map(|(index, peer)| {
            Ok((
                peer,
                core.message(label, core.payload(label, &value(index))?),
            ))
        })
        .collect()
}

/// Wait until every receiver's link can take a frame, then run the chain
/// and hand the frames over in one step.
async fn statement<T: Transport>(
    inner: &mut Inner<GuardedTransport<T>>,
    label: Label,
    frames: Vec<(PeerId, Message)>,
    annotations: &Annotations<'static>,
) -> Result<(), Error> {
    // As a plain send: inside a timeout body whose deadline has passed,
    // the statement is interrupted before anything is checked or charged.
    if !inner.core.bodies.is_empty() {
        let interrupted = poll_fn(|cx| {
            let Inner {
                core, transport, ..
            } = &mut *inner;
            Poll::Ready(core.check_interrupt(transport, cx))
        })
        .await;
        if let Some(e) = interrupted {
            return Err(*e);
        }
    }
    for (peer, _) in &frames {
        let ready = poll_fn(|cx| inner.transport.poll_ready(cx, *peer)).await;
        if let Err(e) = ready {
            let what = format!("sending {}", inner.core.protocol.label_name(label));
            return Err(inner.core.transport_error(*peer, what, e));
        }
    }
    let receivers: Vec<PeerId> = frames.iter().map(|(p, _)| *p).collect();
    let Inner {
        core, transport, ..
    } = inner;
    match transport.send_statement(&core.header, frames, annotations) {
        Ok(()) => Ok(()),
        Err(Refused::Denied(denial)) => {
            tracing::debug!(%denial, "guard chain refused a send");
            Err(Error::Denied(Box::new(denial)))
        }
        Err(Refused::Transport { index, error }) => {
            let peer = receivers.get(index).copied().unwrap_or(core.me_peer);
            Err(core.transport_error(
                peer,
                format!("sending {}", core.protocol.label_name(label)),
                error,
            ))
        }
    }
}

/// One guarded session per roster instance over a fresh in-memory network
/// (element `i` is `roster.instances()[i]`'s), each under its own [`Guard`](super::Guard):
/// every capability in `capabilities`, unlimited budgets, and a journal in
/// memory ([`Guard::journal`](super::Guard::journal)) whose facts instance `i` signs with a key
/// derived from the session id and `i` (its [`PeerKey`](super::PeerKey) is that key's
/// public half). For tests and examples of protocols with annotations; a
/// node supplies its own guard, budgets and durable journal.
pub fn memory_sessions(
    id: crate::ids::SessionId,
    protocol: &'static crate::ids::ProtocolInfo,
    roster: &crate::roster::Roster,
    config: crate::memory::MemoryConfig,
    capabilities: &[&str],
) -> Result<Vec<Session<GuardedTransport<crate::memory::MemoryTransport>>>, Error> {
    use sha2::{Digest, Sha256};

    use super::budget::{BudgetPolicy, ContextId, ManualClock, PeerKey};
    use super::capability::CapabilitySet;
    use super::chain::{Guard, GuardConfig, RecordSends};
    use crate::journal::{author_of, Journal, MemoryStore, ScopeId, SigningKey};

    let keys: Vec<SigningKey> = (0..roster.len())
        .map(|i| {
            let seed: [u8; 32] = Sha256::new()
                .chain_update(b"choreo/guard/memory-session/v1\0")
                .chain_update(id.0)
                .chain_update((i as u64).to_le_bytes())
                .finalize()
                .into();
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let peers: Vec<PeerKey> = keys.iter().map(|k| PeerKey(author_of(k).0)).collect();
    let unlimited = GuardConfig {
        flow: BudgetPolicy::UNLIMITED,
        leakage: [BudgetPolicy::UNLIMITED; 4],
    };
    let scope = ScopeId(Sha256::digest(id.0).into());
    crate::memory::network(roster.len(), config)
        .into_iter()
        .zip(roster.instances())
        .zip(keys)
        .map(|((transport, &me), key)| {
            let journal = Journal::open(scope, MemoryStore::new())
                .map_err(|e| crate::error::UsageError::Host(e.to_string()))?;
            let guard = Guard::new(unlimited, std::sync::Arc::new(ManualClock::default()))
                .with_journal(
                    std::sync::Arc::new(std::sync::Mutex::new(journal)),
                    RecordSends { key, scope },
                );
            let caps = CapabilitySet::grant(capabilities.iter().copied());
            let guarded = guard.wrap(transport, ContextId(scope.0), peers.clone(), caps);
            Session::new(
                crate::session_config::SessionConfig {
                    id,
                    protocol,
                    me,
                    roster: roster.clone(),
                },
                guarded,
            )
        })
        .collect()
}
