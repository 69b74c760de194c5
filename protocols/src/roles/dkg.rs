//! DKG as a running role: every participant drives [`crate::dkg`] over
//! the endpoints generated from `choreo/dkg.choreo`.
//!
//! Family member `j` of the session is the `j`-th participant of the
//! config's roster in ascending order, bound to that participant's node
//! ([`session_spec`]). Round 1 and the transcript echo are exchanges among
//! all; round 2 sends each peer its own sealed package; the last exchange
//! confirms everyone's outcome (the group key), so a participant that
//! finished with another key is named.

use choreo_runtime::guard::GuardedTransport;
use choreo_runtime::node::SessionSpec;
use choreo_runtime::{Session, SessionId, Transport};
use rand::{CryptoRng, RngCore};

use super::{family_index, ordered, to_host, RoleError};
use crate::dkg::{self as core, DkgConfig};
use crate::error::ParticipantId;
use crate::generated::dkg as ep;
use crate::roster::{Authenticated, NodeId};
use crate::share::AuthorityKeyShare;
use crate::signed::NodeIdentity;
use crate::wire::DkgOutcome;

/// Tag what family member `j` sent with the node its link is
/// authenticated to (the node host delivers member `j`'s frames only from
/// that node).
fn tag<M>(order: &[(ParticipantId, NodeId)], got: Vec<(u32, M)>) -> Vec<Authenticated<M>> {
    got.into_iter()
        .filter_map(|(j, m)| {
            let node = order.get(usize::try_from(j).ok()?)?.1;
            Some(Authenticated::new(node, m))
        })
        .collect()
}

/// The generated protocol's parameters for `config`.
pub fn params(config: &DkgConfig) -> Result<ep::Params, RoleError> {
    let n = u32::try_from(config.roster.participants().count())
        .map_err(|_| RoleError::Usage("too many participants".into()))?;
    Ok(ep::Params {
        n,
        t: u32::from(config.threshold),
    })
}

/// The session spec for participant `me` of the DKG run `config`: one
/// family member per participant, bound to its node.
pub fn session_spec(
    id: SessionId,
    config: &DkgConfig,
    me: ParticipantId,
) -> Result<SessionSpec, RoleError> {
    let order = ordered(&config.roster);
    let index = order
        .iter()
        .position(|(p, _)| *p == me)
        .ok_or_else(|| RoleError::Usage(format!("{me} is not in the DKG roster")))?;
    let roster = ep::roster(&params(config)?)?;
    let me = roster
        .instances()
        .get(index)
        .copied()
        .ok_or_else(|| RoleError::Usage("roster shorter than the committee".into()))?;
    Ok(SessionSpec {
        id,
        protocol: &ep::PROTOCOL,
        me,
        roster,
        peers: order.iter().map(|(_, n)| to_host(*n)).collect(),
        patience: None,
    })
}

/// Run one participant's DKG on `session` (opened from [`session_spec`]),
/// signing round 1 with the node's `identity` (the key its links are
/// authenticated to). Returns its key share; on any failure the run's key
/// material is dropped (zeroized) and the error names the participant at
/// fault where one is known.
pub async fn run_dkg<T: Transport, R: RngCore + CryptoRng>(
    session: Session<GuardedTransport<T>>,
    config: DkgConfig,
    identity: &NodeIdentity,
    rng: &mut R,
) -> Result<AuthorityKeyShare, RoleError> {
    let order = ordered(&config.roster);
    let me_index = family_index(&session)?;
    let (me, _) = *order
        .get(me_index)
        .ok_or_else(|| RoleError::Usage("session index outside the DKG roster".into()))?;
    let ep = ep::participant::open(session, params(&config)?)?;

    let (state, round1) = core::start(config.clone(), me, identity, rng)?;
    let (got, ep) = ep.exchange(|_| ep::Round1(round1.clone())).await?;
    let (state, echo) = state.receive_round1(&tag(
        &order,
        got.into_iter().map(|(j, ep::Round1(m))| (j, m)).collect(),
    ))?;

    let (got, ep) = ep.exchange(|_| ep::Transcript(echo.clone())).await?;
    let (state, round2) = state.confirm_transcripts(&tag(
        &order,
        got.into_iter()
            .map(|(j, ep::Transcript(m))| (j, m))
            .collect(),
    ))?;

    // Each peer gets the package sealed to it. Our own slot is not sent;
    // the exchange still asks for a value, and the core ignores packages
    // not addressed to it.
    let own_slot = core::Round2Message {
        session: config.session,
        to: me,
        ciphertext: Vec::new(),
    };
    let (got, ep) = ep
        .exchange(|j| {
            let to = usize::try_from(j)
                .ok()
                .and_then(|j| order.get(j))
                .map(|(p, _)| *p);
            let m = round2.iter().find(|m| Some(m.to) == to);
            ep::Round2(m.cloned().unwrap_or_else(|| own_slot.clone()))
        })
        .await?;
    let received = tag(
        &order,
        got.into_iter().map(|(j, ep::Round2(m))| (j, m)).collect(),
    );
    let result = state.finish(&received);

    let outcome = match &result {
        Ok(share) => DkgOutcome::Success {
            group_key: share
                .group_key()
                .serialize()
                .map_err(crate::Error::crypto)?,
        },
        Err(e) => DkgOutcome::Blame {
            culprit: e.culprit().unwrap_or(me),
            reason: e.to_string(),
        },
    };
    let (outcomes, ep) = ep.exchange(|_| ep::Confirm(outcome.clone())).await?;
    ep.finish()?;
    let share = result?;
    for (j, ep::Confirm(theirs)) in outcomes {
        let reporter = usize::try_from(j)
            .ok()
            .and_then(|j| order.get(j))
            .map_or(me, |(p, _)| *p);
        if reporter == me {
            continue;
        }
        match theirs {
            DkgOutcome::Success { .. } if theirs == outcome => {}
            DkgOutcome::Success { .. } => {
                return Err(RoleError::PeerAborted {
                    reporter,
                    reason: "finished with a different group key".into(),
                })
            }
            DkgOutcome::Blame { culprit, reason } => {
                return Err(RoleError::PeerAborted {
                    reporter,
                    reason: format!("blames {culprit}: {reason}"),
                })
            }
        }
    }
    Ok(share)
}
