//! The witness's durable signing record, in redb.
//!
//! One table keyed by the 64-byte slot (consensus id ‖ prestate), value
//! the 32-byte operation hash signed for it. [`SigningRecord::record`]
//! commits its write transaction with immediate durability before it
//! returns, and the witness computes its share only afterwards: a crash
//! between the two can make a witness refuse, never sign twice — also
//! across restarts, since the record is reopened from the file.

use std::path::Path;

use aura_protocols::witness::{SigningRecord, Slot};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};

const SIGNED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("signed");

/// A [`SigningRecord`] in a redb file (by convention
/// `<data dir>/signing-record.redb`).
#[derive(Debug)]
pub struct RedbSigningRecord {
    db: Database,
}

fn err(e: impl std::fmt::Display) -> aura_protocols::Error {
    aura_protocols::Error::Storage(e.to_string())
}

fn key(slot: &Slot) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(&slot.consensus_id);
    k[32..].copy_from_slice(&slot.prestate);
    k
}

impl RedbSigningRecord {
    /// Open (or create) the record at `path`.
    pub fn open(path: &Path) -> Result<Self, aura_protocols::Error> {
        let db = Database::create(path).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(SIGNED).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(RedbSigningRecord { db })
    }
}

impl SigningRecord for RedbSigningRecord {
    fn recorded(&self, slot: &Slot) -> aura_protocols::Result<Option<[u8; 32]>> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SIGNED).map_err(err)?;
        let Some(v) = table.get(&key(slot)[..]).map_err(err)? else {
            return Ok(None);
        };
        let op: [u8; 32] = v
            .value()
            .try_into()
            .map_err(|_| err("a signing record entry is not 32 bytes: the file is damaged"))?;
        Ok(Some(op))
    }

    fn record(&mut self, slot: Slot, operation: [u8; 32]) -> aura_protocols::Result<()> {
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_durability(Durability::Immediate).map_err(err)?;
        {
            let mut table = txn.open_table(SIGNED).map_err(err)?;
            table.insert(&key(&slot)[..], &operation[..]).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(())
    }
}
