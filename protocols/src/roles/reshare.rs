//! Resharing as running roles: every member (dealer and/or new holder) of
//! `choreo/reshare.choreo` drives [`crate::reshare`] over the generated
//! endpoints.
//!
//! [`run_reshare`] runs the session up to the epoch commit and returns
//! [`Dealt`]: the new share (for new holders) and the endpoint waiting for
//! the certificate. The caller then has the *old* committee commit the new
//! epoch through consensus ([`super::consensus`], operation
//! [`Dealt::operation`], prestate [`epoch_prestate`]) and hands the
//! certificate to [`Dealt::finish`], which sends it to every member and
//! accepts only a certificate that verifies under the unchanged group key
//! and certifies this new epoch's public key package. Until then nothing
//! old is touched: an aborted reshare leaves the old epoch valid.

use choreo_runtime::guard::GuardedTransport;
use choreo_runtime::node::SessionSpec;
use choreo_runtime::{Session, SessionId, Transport};
use frost_ed25519::keys::PublicKeyPackage;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::{family_index, to_host, RoleError};
use crate::error::ParticipantId;
use crate::generated::reshare as ep;
use crate::reshare::{self as core, DealerCommitment, EncryptedShare, ReshareConfig};
use crate::roster::{Authenticated, NodeId};
use crate::share::{AuthorityKeyShare, KeyEpoch};
use crate::signed::NodeIdentity;
use crate::signing::{CommitCertificate, UnverifiedCertificate};

/// Every member once — the dealers and the new holders — in ascending
/// participant order, with its node.
pub fn members(config: &ReshareConfig) -> Result<Vec<(ParticipantId, NodeId)>, RoleError> {
    let all: std::collections::BTreeSet<ParticipantId> = config
        .dealers
        .iter()
        .chain(&config.new_committee)
        .copied()
        .collect();
    all.into_iter()
        .map(|p| {
            config.roster.node(p).map(|n| (p, n)).ok_or_else(|| {
                RoleError::Usage(format!("{p} takes part but has no node in the roster"))
            })
        })
        .collect()
}

/// The session spec of member `me`.
pub fn session_spec(
    id: SessionId,
    config: &ReshareConfig,
    me: ParticipantId,
) -> Result<SessionSpec, RoleError> {
    let order = members(config)?;
    let index = order
        .iter()
        .position(|(p, _)| *p == me)
        .ok_or_else(|| RoleError::Usage(format!("{me} takes no part in this reshare")))?;
    let m = u32::try_from(order.len()).map_err(|_| RoleError::Usage("too many members".into()))?;
    let roster = ep::roster(&ep::Params { m })?;
    let local = roster
        .instances()
        .get(index)
        .copied()
        .ok_or_else(|| RoleError::Usage("roster shorter than the members".into()))?;
    Ok(SessionSpec {
        id,
        protocol: &ep::PROTOCOL,
        me: local,
        roster,
        peers: order.iter().map(|(_, n)| to_host(*n)).collect(),
        patience: None,
    })
}

/// The prestate the old committee's witnesses sign an epoch commit over:
/// the old epoch and its public key package (each witness computes it from
/// its own share, never from a message).
pub fn epoch_prestate(epoch: KeyEpoch, public: &PublicKeyPackage) -> Result<[u8; 32], RoleError> {
    let bytes = public.serialize().map_err(crate::Error::crypto)?;
    let mut h = Sha256::new();
    h.update(b"aura/reshare/prestate/v1");
    h.update(epoch.0.to_be_bytes());
    h.update(&bytes);
    Ok(h.finalize().into())
}

fn tag<M>(order: &[(ParticipantId, NodeId)], got: Vec<(u32, Option<M>)>) -> Vec<Authenticated<M>> {
    got.into_iter()
        .filter_map(|(j, m)| {
            let node = order.get(usize::try_from(j).ok()?)?.1;
            Some(Authenticated::new(node, m?))
        })
        .collect()
}

/// A reshare dealt and verified, waiting for the epoch commit.
#[must_use = "finish it with the epoch commit, or drop it to abort the reshare"]
pub struct Dealt<T: Transport> {
    ep: ep::member::S4<GuardedTransport<T>>,
    new_share: Option<AuthorityKeyShare>,
    old_public: PublicKeyPackage,
}

impl<T: Transport> std::fmt::Debug for Dealt<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dealt")
            .field("new_share", &self.new_share)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Dealt<T> {
    /// The new share, for a new holder (not usable until the commit).
    pub fn new_share(&self) -> Option<&AuthorityKeyShare> {
        self.new_share.as_ref()
    }

    /// The operation the old committee commits: the new epoch and its
    /// public key package (known to new holders).
    pub fn operation(&self) -> Result<Option<[u8; 32]>, RoleError> {
        self.new_share
            .as_ref()
            .map(|s| core::epoch_operation(s.epoch(), s.public_key_package()))
            .transpose()
            .map_err(RoleError::from)
    }

    /// Send the epoch's certificate (if this member holds it) to every
    /// member and take theirs. Returns the new share with the verified
    /// certificate of its epoch for a new holder, `None` for a dealer that
    /// leaves the committee. Without a valid certificate the new share is
    /// dropped (zeroized) and the old epoch stays.
    pub async fn finish(
        self,
        certificate: Option<&CommitCertificate>,
    ) -> Result<Option<(AuthorityKeyShare, CommitCertificate)>, RoleError> {
        let mine: Option<UnverifiedCertificate> = certificate
            .map(CommitCertificate::to_unverified)
            .transpose()?;
        let (got, end) = self.ep.exchange(|_| ep::Committed(mine.clone())).await?;
        end.finish()?;
        let Some(share) = self.new_share else {
            return Ok(None);
        };
        let operation = core::epoch_operation(share.epoch(), share.public_key_package())?;
        let key = self.old_public.verifying_key();
        let valid = got
            .into_iter()
            .filter_map(|(_, ep::Committed(c))| c)
            .filter_map(|c| c.verify(key).ok())
            .find(|c| c.statement().operation == operation);
        match valid {
            Some(c) => Ok(Some((share, c))),
            None => Err(RoleError::Usage(
                "no member sent a valid commit of the new epoch: the reshare is aborted and the old epoch stays".into(),
            )),
        }
    }
}

/// Run member `me`'s part of the reshare `config` on `session` (opened
/// from [`session_spec`]): joins, echoes, dealing (for a dealer, with its
/// `old_share`), verification and the holders' echo. Joins and dealer
/// commitments are signed with the node's `identity` (the key its links
/// are authenticated to). `old_public` is the authority's current public
/// key package (public; new members get it from the journal).
pub async fn run_reshare<T: Transport, R: RngCore + CryptoRng>(
    session: Session<GuardedTransport<T>>,
    config: &ReshareConfig,
    identity: &NodeIdentity,
    old_public: &PublicKeyPackage,
    old_share: Option<&AuthorityKeyShare>,
    rng: &mut R,
) -> Result<Dealt<T>, RoleError> {
    let order = members(config)?;
    let (me, _) = *order
        .get(family_index(&session)?)
        .ok_or_else(|| RoleError::Usage("session index outside the members".into()))?;
    let holder = config.new_committee.contains(&me);
    let dealer = config.dealers.contains(&me);
    let m = u32::try_from(order.len()).map_err(|_| RoleError::Usage("too many members".into()))?;
    let e = ep::member::open(session, ep::Params { m })?;

    // Joins: the new holders' DH keys.
    let joining = if holder {
        Some(core::join(config.clone(), me, identity, old_public, rng)?)
    } else {
        None
    };
    let own_join = joining.as_ref().map(|(_, j)| j.clone());
    let (got, e) = e.exchange(|_| ep::Join(own_join.clone())).await?;
    let joins = tag(
        &order,
        got.into_iter().map(|(j, ep::Join(m))| (j, m)).collect(),
    );

    // Join echoes: what each holder received.
    let (dealings, own_echo) = match joining {
        Some((state, _)) => {
            let (s, echo) = state.receive_joins(&joins)?;
            (Some(s), Some(echo))
        }
        None => (None, None),
    };
    let (got, e) = e.exchange(|_| ep::JoinEcho(own_echo.clone())).await?;
    let echoes = tag(
        &order,
        got.into_iter().map(|(j, ep::JoinEcho(m))| (j, m)).collect(),
    );
    // A new holder checks the others' join echoes too, so a holder that
    // showed peers two join keys is named here as well as by the dealers.
    if let Some(s) = &dealings {
        s.check_join_echoes(&echoes)?;
    }

    // Dealing: only on an agreed join transcript.
    let dealt: Option<(DealerCommitment, Vec<EncryptedShare>)> = if dealer {
        let old = old_share
            .ok_or_else(|| RoleError::Usage(format!("{me} deals but holds no old share")))?;
        Some(core::deal(config, old, identity, &joins, &echoes, rng)?)
    } else {
        None
    };
    let (got, e) = e
        .exchange(|j| {
            let to = usize::try_from(j)
                .ok()
                .and_then(|j| order.get(j))
                .map(|(p, _)| *p);
            ep::Deal(dealt.as_ref().and_then(|(c, shares)| {
                let share = shares.iter().find(|s| Some(s.to) == to)?;
                Some((c.clone(), share.clone()))
            }))
        })
        .await?;
    let mut commitments = Vec::new();
    let mut shares = Vec::new();
    for (j, ep::Deal(d)) in got {
        let Some((c, s)) = d else { continue };
        let Some((_, node)) = usize::try_from(j).ok().and_then(|j| order.get(j)) else {
            continue;
        };
        commitments.push(Authenticated::new(*node, c));
        shares.push(Authenticated::new(*node, s));
    }

    // Verify and derive the new share; echo the transcript.
    let (confirming, own_echo) = match dealings {
        Some(s) => {
            let (s, echo) = s.receive(&commitments, &shares)?;
            (Some(s), Some(echo))
        }
        None => (None, None),
    };
    let (got, e) = e.exchange(|_| ep::Echo(own_echo.clone())).await?;
    let echoes = tag(
        &order,
        got.into_iter().map(|(j, ep::Echo(m))| (j, m)).collect(),
    );
    let new_share = match confirming {
        Some(s) => Some(s.confirm(&echoes)?),
        None => None,
    };
    Ok(Dealt {
        ep: e,
        new_share,
        old_public: old_public.clone(),
    })
}
