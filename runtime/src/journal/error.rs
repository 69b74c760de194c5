//! Journal errors, grouped by who is at fault: the fact's author or the
//! peer that sent it ([`FactError`], [`JournalError::Refused`],
//! [`JournalError::SyncViolation`]), the disk ([`JournalError::Storage`],
//! [`JournalError::Corrupted`]), or the local caller
//! ([`JournalError::Usage`], [`JournalError::WrongSecret`]).

use super::fact::AuthorKey;

/// Why a fact was refused at the door. Nothing of a refused fact is stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FactError {
    /// The encoded fact is larger than the limit.
    #[error("fact of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_FACT_LEN`](super::MAX_FACT_LEN).
        max: usize,
    },
    /// The bytes are not a fact envelope.
    #[error("malformed fact: {0}")]
    Malformed(postcard::Error),
    /// A fact or body decoded but left bytes over.
    #[error("fact has {0} trailing bytes")]
    TrailingBytes(usize),
    /// An envelope format this build does not know.
    #[error("unsupported fact format {0}; this build reads format 1")]
    UnsupportedFormat(u16),
    /// The kind name is longer than [`MAX_KIND_LEN`](super::MAX_KIND_LEN).
    #[error("fact kind name of {0} bytes is too long")]
    KindTooLong(usize),
    /// The author field is not a valid Ed25519 public key.
    #[error("the fact's author is not a valid Ed25519 public key")]
    BadAuthorKey,
    /// The signature does not verify under the author's key.
    #[error("bad signature: the fact is not signed by its author {author:?}; refused, not stored")]
    BadSignature {
        /// The key the fact claims.
        author: AuthorKey,
    },
    /// A fact was signed with a key that is not its author.
    #[error("the signing key is not the fact's author; build the fact with author_of(key)")]
    AuthorMismatch,
    /// The body is of another kind or version than the reader expects.
    #[error("fact body is {got}, expected {expected}")]
    WrongKind {
        /// What the reader asked for.
        expected: String,
        /// What the fact carries.
        got: String,
    },
    /// The fact or body could not be serialized.
    #[error("fact could not be encoded: {0}")]
    Encode(postcard::Error),
}

/// Everything a journal operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A fact was refused at the door (bad signature, too large,
    /// malformed, wrong scope). Nothing was stored.
    #[error("fact refused: {0}")]
    Refused(#[from] FactError),
    /// The fact's signature verifies, but the scope's authorship policy
    /// does not let its author write facts of its kind. Nothing was stored.
    #[error("fact {fact} of kind `{kind}` by {author:?} is not admitted in this journal scope: {rule}; refused, not stored")]
    Unauthorised {
        /// The fact's id (hex).
        fact: String,
        /// Its kind.
        kind: String,
        /// Its author.
        author: AuthorKey,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A fact of another journal scope.
    #[error("fact {fact} belongs to another journal scope; refused, not stored")]
    WrongScope {
        /// The fact's id (hex).
        fact: String,
    },
    /// A sync peer broke the sync protocol's rules (oversized summary or
    /// batch, ids out of their bucket, unsorted buckets). Abort the sync.
    #[error("journal sync violation: {0}; abort this sync and do not trust the peer's further messages in it")]
    SyncViolation(String),
    /// The database failed (I/O, lock, out of space).
    #[error("journal database error: {0}")]
    Storage(String),
    /// A stored value did not authenticate or decode: the file was damaged
    /// or altered. Reading never repairs or rewrites anything.
    #[error("journal value {row} is corrupted ({reason}); restore the database from a replica (journal sync) or a backup")]
    Corrupted {
        /// Which row (its key, hex).
        row: String,
        /// What failed.
        reason: &'static str,
    },
    /// The database was created under another node secret.
    #[error("the journal database was sealed under another node secret; open it with the node key that created it")]
    WrongSecret,
    /// Local misuse.
    #[error("journal usage error: {0}")]
    Usage(String),
}

impl From<redb::Error> for JournalError {
    fn from(e: redb::Error) -> Self {
        JournalError::Storage(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for JournalError {
            fn from(e: $t) -> Self {
                JournalError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
