//! The durable store: one redb file, every value sealed.
//!
//! File layout (two tables):
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"db-id"` | 32 random bytes, chosen when the file is created (not secret) |
//! | `meta` | `"key-check"` | a sealed constant: opening under another node secret fails cleanly |
//! | `facts` | HMAC-SHA256(row key, fact id) | `1 ‖ nonce (24) ‖ XChaCha20-Poly1305(encoded SignedFact)` |
//!
//! Keys: `HKDF-SHA256(ikm = node secret, salt = db-id)` expanded with
//! `choreo/journal/value-key/v1` (the AEAD key) and
//! `choreo/journal/row-key/v1` (the HMAC key for row keys). Row keys are
//! keyed hashes, so not even fact ids (which are hashes of content, and so
//! would confirm a guessed fact) appear in the file. The associated data of
//! each value is its row key: a value moved to another row does not open.

use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use hkdf::Hkdf;
use rand::RngCore;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::JournalError;
use super::fact::{hex, FactId, SignedFact, VerifiedFact};
use super::store::Store;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const FACTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("facts");

const VALUE_FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_CHECK: &[u8] = b"choreo journal key check";
const KEY_CHECK_AAD: &[u8] = b"choreo/journal/key-check/v1";
const ROW_AAD: &[u8] = b"choreo/journal/row/v1\0";

/// The durable journal store: a redb database file, encrypted at rest.
///
/// Appends commit with [`Durability::Immediate`]: a fact is on disk when
/// [`append`](Store::append) returns. Several facts in one append are one
/// transaction (all or none). A damaged value is reported as
/// [`JournalError::Corrupted`] and never rewritten.
pub struct DurableStore {
    db: Database,
    db_id: [u8; 32],
    cipher: XChaCha20Poly1305,
    row_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStore")
            .field("db_id", &hex(&self.db_id))
            .finish_non_exhaustive()
    }
}

impl DurableStore {
    /// Open the journal at `path`, creating it if absent. `node_key` is the
    /// node's identity key; its secret half seeds the encryption keys, so
    /// only this node can read the file.
    pub fn open(path: &Path, node_key: &SigningKey) -> Result<Self, JournalError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let (db_id, check) = {
            let mut meta = txn.open_table(META)?;
            let stored = meta.get("db-id")?.map(|v| v.value().to_vec());
            let db_id = match stored {
                Some(v) => {
                    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| JournalError::Corrupted {
                        row: "meta/db-id".into(),
                        reason: "the database id is not 32 bytes",
                    })?
                }
                None => {
                    let mut id = [0u8; 32];
                    OsRng.fill_bytes(&mut id);
                    meta.insert("db-id", &id[..])?;
                    id
                }
            };
            let check = meta.get("key-check")?.map(|v| v.value().to_vec());
            (db_id, check)
        };
        let (cipher, row_key) = derive_keys(node_key, &db_id)?;
        match check {
            Some(sealed) => {
                let opened = open_value(&cipher, &sealed, KEY_CHECK_AAD)
                    .map_err(|_| JournalError::WrongSecret)?;
                if opened != KEY_CHECK {
                    return Err(JournalError::WrongSecret);
                }
            }
            None => {
                let sealed = seal(&cipher, KEY_CHECK, KEY_CHECK_AAD)?;
                let mut meta = txn.open_table(META)?;
                meta.insert("key-check", &sealed[..])?;
            }
        }
        txn.open_table(FACTS)?;
        txn.commit()?;
        Ok(DurableStore {
            db,
            db_id,
            cipher,
            row_key,
        })
    }

    /// The database's id (stored in the file, not secret).
    pub fn database_id(&self) -> [u8; 32] {
        self.db_id
    }

    fn row(&self, id: &FactId) -> [u8; 32] {
        // HMAC-SHA256(row_key, id): HKDF-Extract is exactly HMAC with the
        // salt as key.
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&self.row_key[..]), &id.0);
        prk.into()
    }

    fn decode_row(&self, key: &[u8], sealed: &[u8]) -> Result<VerifiedFact, JournalError> {
        let corrupted = |reason| JournalError::Corrupted {
            row: hex(key),
            reason,
        };
        let plain = open_value(&self.cipher, sealed, key).map_err(corrupted)?;
        let fact = SignedFact::decode(&plain)
            .and_then(SignedFact::verify)
            .map_err(|_| corrupted("the stored fact does not decode or verify"))?;
        if self.row(&fact.id()) != key {
            return Err(corrupted("the row key does not match the stored fact"));
        }
        Ok(fact)
    }
}

fn seal(
    cipher: &XChaCha20Poly1305,
    plaintext: &[u8],
    aad_tail: &[u8],
) -> Result<Vec<u8>, JournalError> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let aad = [ROW_AAD, aad_tail].concat();
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| JournalError::Usage("value too large to seal".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VALUE_FORMAT);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_value(
    cipher: &XChaCha20Poly1305,
    sealed: &[u8],
    aad_tail: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let (format, rest) = sealed.split_first().ok_or("empty value")?;
    if *format != VALUE_FORMAT {
        return Err("unknown value format");
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err("value truncated");
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let aad = [ROW_AAD, aad_tail].concat();
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map_err(|_| "value does not authenticate (altered, truncated or moved)")
}

fn derive_keys(
    node_key: &SigningKey,
    db_id: &[u8; 32],
) -> Result<(XChaCha20Poly1305, Zeroizing<[u8; 32]>), JournalError> {
    let secret = Zeroizing::new(node_key.to_bytes());
    let hk = Hkdf::<Sha256>::new(Some(db_id), &secret[..]);
    let mut value_key = Zeroizing::new([0u8; 32]);
    let mut row_key = Zeroizing::new([0u8; 32]);
    hk.expand(b"choreo/journal/value-key/v1", &mut value_key[..])
        .and_then(|()| hk.expand(b"choreo/journal/row-key/v1", &mut row_key[..]))
        .map_err(|_| JournalError::Usage("HKDF output length".into()))?;
    let cipher = XChaCha20Poly1305::new_from_slice(&value_key[..])
        .map_err(|_| JournalError::Usage("AEAD key length".into()))?;
    Ok((cipher, row_key))
}

impl Store for DurableStore {
    fn append(&mut self, facts: &[&VerifiedFact]) -> Result<(), JournalError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(FACTS)?;
            for fact in facts {
                let row = self.row(&fact.id());
                if table.get(&row[..])?.is_some() {
                    continue;
                }
                let plain = fact.signed().encode()?;
                let sealed = seal(&self.cipher, &plain, &row)?;
                table.insert(&row[..], &sealed[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn retract(&mut self, id: &FactId) -> Result<(), JournalError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(FACTS)?;
            let row = self.row(id);
            table.remove(&row[..])?;
        }
        txn.commit()?;
        Ok(())
    }

    fn load(&self) -> Result<Vec<VerifiedFact>, JournalError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FACTS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            out.push(self.decode_row(k.value(), v.value())?);
        }
        Ok(out)
    }

    fn len(&self) -> Result<u64, JournalError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FACTS)?;
        Ok(table.len()?)
    }
}
