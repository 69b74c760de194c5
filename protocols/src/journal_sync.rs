//! Journal sync: the role logic of `choreo/journal_sync.choreo` on its
//! generated endpoints.
//!
//! Two replicas of one journal scope (an authority's devices, the members
//! of a home) run [`initiate`] and [`respond`] on the two ends of a
//! session. Each round both sides exchange summaries (a digest per id
//! bucket), then the ids of the buckets that differ, then the facts the
//! other lacks; the initiator starts another round while either side had
//! more than one bounded batch to send, up to [`SyncConfig::max_rounds`].
//!
//! Everything a peer sends is checked before use (bounds, ordering,
//! signatures, scope; see `choreo_runtime::journal::sync`): a peer that
//! sends garbage ends the sync with [`SyncError::Journal`] and nothing of
//! the offending batch is stored. Facts from earlier, valid batches stay:
//! the journal only grows, and every stored fact verified.
//!
//! The journal is behind a [`Mutex`] taken for one synchronous step at a
//! time (never across an `.await`), so a node can serve several syncs of
//! one journal concurrently.

use std::sync::{Mutex, MutexGuard};

use choreo_runtime::journal::sync::{FactBatch, IdLists};
use choreo_runtime::journal::{Journal, JournalError};
use choreo_runtime::{Session, Transport};

mod generated {
    choreo_macros::choreography!(file = "choreo/journal_sync.choreo");
}

pub use generated::journal_sync::{
    initiator, labels, responder, roster, sessions, Params, FINGERPRINT, PROTOCOL,
};
use labels::{Again, Done, Facts, Ids, Summary};

/// Limits of one sync run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConfig {
    /// Most rounds the initiator runs (each moves at most
    /// `MAX_FACTS_PER_MESSAGE` facts each way). Default 64.
    pub max_rounds: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig { max_rounds: 64 }
    }
}

/// What one sync did, seen from one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Rounds run.
    pub rounds: u32,
    /// Facts sent to the peer.
    pub sent: usize,
    /// Facts received that were new here.
    pub received: usize,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The session failed (peer gone, protocol violation on the wire).
    #[error(transparent)]
    Session(#[from] choreo_runtime::Error),
    /// The peer's messages broke the sync rules or carried bad facts, or
    /// the local store failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

fn lock(journal: &Mutex<Journal>) -> Result<MutexGuard<'_, Journal>, SyncError> {
    journal.lock().map_err(|_| {
        JournalError::Usage("the journal lock is poisoned (a thread panicked holding it)".into())
            .into()
    })
}

/// One round's computations, shared by both roles.
struct Round {
    mine: IdLists,
}

fn my_ids(
    journal: &Mutex<Journal>,
    mine: &choreo_runtime::journal::sync::Summary,
    theirs: &choreo_runtime::journal::sync::Summary,
) -> Result<Round, SyncError> {
    Ok(Round {
        mine: lock(journal)?.id_lists(mine, theirs)?,
    })
}

fn batch_for(
    journal: &Mutex<Journal>,
    round: &Round,
    theirs: &IdLists,
    report: &mut SyncReport,
) -> Result<FactBatch, SyncError> {
    let batch = lock(journal)?.missing_for(theirs, &round.mine)?;
    report.sent += batch.facts.len();
    Ok(batch)
}

fn take(
    journal: &Mutex<Journal>,
    batch: FactBatch,
    report: &mut SyncReport,
) -> Result<bool, SyncError> {
    let more = batch.more;
    report.received += lock(journal)?.receive(batch)?;
    report.rounds += 1;
    Ok(more)
}

/// Run the initiator's side of a sync on `session`.
pub async fn initiate<T: Transport>(
    session: Session<T>,
    journal: &Mutex<Journal>,
    config: SyncConfig,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut state = initiator::open(session, Params {})?;
    loop {
        let mine = lock(journal)?.summary();
        let s = state.send(Summary(mine.clone())).await?;
        let (Summary(theirs), s) = s.recv().await?;
        let round = my_ids(journal, &mine, &theirs)?;
        let s = s.send(Ids(round.mine.clone())).await?;
        let (Ids(their_ids), s) = s.recv().await?;
        let batch = batch_for(journal, &round, &their_ids, &mut report)?;
        let my_more = batch.more;
        let s = s.send(Facts(batch)).await?;
        let (Facts(their_batch), s) = s.recv().await?;
        let their_more = take(journal, their_batch, &mut report)?;
        if (my_more || their_more) && report.rounds < config.max_rounds {
            state = s.select_again().send(Again).await?;
        } else {
            s.select_done().send(Done).await?.finish()?;
            return Ok(report);
        }
    }
}

/// Run the responder's side of a sync on `session`. The initiator decides
/// how many rounds run.
pub async fn respond<T: Transport>(
    session: Session<T>,
    journal: &Mutex<Journal>,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut state = responder::open(session, Params {})?;
    loop {
        let (Summary(theirs), s) = state.recv().await?;
        let mine = lock(journal)?.summary();
        let s = s.send(Summary(mine.clone())).await?;
        let round = my_ids(journal, &mine, &theirs)?;
        let (Ids(their_ids), s) = s.recv().await?;
        let s = s.send(Ids(round.mine.clone())).await?;
        let batch = batch_for(journal, &round, &their_ids, &mut report)?;
        let (Facts(their_batch), s) = s.recv().await?;
        let s = s.send(Facts(batch)).await?;
        take(journal, their_batch, &mut report)?;
        match s.branch().await? {
            responder::AgainOrDone::Again(Again, next) => state = next,
            responder::AgainOrDone::Done(Done, end) => {
                end.finish()?;
                return Ok(report);
            }
        }
    }
}
