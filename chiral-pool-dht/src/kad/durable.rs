//! Kademlia's local record store, written through to redb so the records
//! a node holds survive its restart.
//!
//! Records live in memory (kad's `MemoryStore`, with its limits) and every
//! put and remove is also committed to an embedded redb database. On open,
//! stored records are verified again (signature, binding, expiry) and only
//! valid ones are loaded. Provider records are not persisted: their owners
//! re-announce them.

use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, Instant};

use chiral_pool_core::record::SignedRecord;
use libp2p::kad::store::{MemoryStore, MemoryStoreConfig, RecordStore, Result as StoreResult};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::PeerId;
use redb::{Database, ReadableTable, TableDefinition};
use tracing::warn;

const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kad_records");

/// A failure of the embedded database.
#[derive(Debug, thiserror::Error)]
#[error("record storage: {0}")]
pub struct StorageError(#[source] Box<redb::Error>);

fn storage<E: Into<redb::Error>>(e: E) -> StorageError {
    StorageError(Box::new(e.into()))
}

/// A kad record store that persists records in redb.
pub struct DurableKadStore {
    memory: MemoryStore,
    db: Option<Database>,
}

impl DurableKadStore {
    /// An in-memory store only.
    pub fn in_memory(local: PeerId, config: MemoryStoreConfig) -> Self {
        DurableKadStore {
            memory: MemoryStore::with_config(local, config),
            db: None,
        }
    }

    /// Opens (or creates) `path` and loads every stored record that still
    /// verifies at `now` (unix seconds).
    pub fn open(
        path: &Path,
        local: PeerId,
        config: MemoryStoreConfig,
        now: u64,
    ) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(storage)?;
        let mut memory = MemoryStore::with_config(local, config);
        let mut stale = Vec::new();
        {
            let txn = db.begin_write().map_err(storage)?;
            {
                txn.open_table(RECORDS).map_err(storage)?;
            }
            txn.commit().map_err(storage)?;
        }
        {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(RECORDS).map_err(storage)?;
            for entry in table.iter().map_err(storage)? {
                let (k, v) = entry.map_err(storage)?;
                let key = k.value().to_vec();
                match SignedRecord::decode_verified(v.value(), now) {
                    Ok(signed) if signed.key().as_bytes() == key.as_slice() => {
                        let mut record = Record::new(RecordKey::new(&key), v.value().to_vec());
                        record.expires = Some(
                            Instant::now()
                                + Duration::from_secs(signed.expires_at().saturating_sub(now)),
                        );
                        if memory.put(record).is_err() {
                            stale.push(key);
                        }
                    }
                    _ => stale.push(key),
                }
            }
        }
        if !stale.is_empty() {
            let txn = db.begin_write().map_err(storage)?;
            {
                let mut table = txn.open_table(RECORDS).map_err(storage)?;
                for k in &stale {
                    table.remove(k.as_slice()).map_err(storage)?;
                }
            }
            txn.commit().map_err(storage)?;
        }
        Ok(DurableKadStore {
            memory,
            db: Some(db),
        })
    }

    /// Records currently held.
    pub fn len(&self) -> usize {
        self.memory.records().count()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops records that `keep` rejects, from memory and disk.
    pub fn retain(&mut self, mut keep: impl FnMut(&RecordKey, &Record) -> bool) {
        let doomed: Vec<RecordKey> = self
            .memory
            .records()
            .filter(|r| !keep(&r.key, r))
            .map(|r| r.key.clone())
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }

    fn persist(&self, key: &RecordKey, value: Option<&[u8]>) {
        let Some(db) = &self.db else { return };
        let result = (|| -> Result<(), StorageError> {
            let txn = db.begin_write().map_err(storage)?;
            {
                let mut table = txn.open_table(RECORDS).map_err(storage)?;
                match value {
                    Some(v) => {
                        table.insert(key.as_ref(), v).map_err(storage)?;
                    }
                    None => {
                        table.remove(key.as_ref()).map_err(storage)?;
                    }
                }
            }
            txn.commit().map_err(storage)?;
            Ok(())
        })();
        if let Err(e) = result {
            warn!(error = %e, "record not persisted");
        }
    }
}

impl RecordStore for DurableKadStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, Record>> {
        self.memory.get(k)
    }

    fn put(&mut self, r: Record) -> StoreResult<()> {
        let key = r.key.clone();
        let value = r.value.clone();
        self.memory.put(r)?;
        self.persist(&key, Some(&value));
        Ok(())
    }

    fn remove(&mut self, k: &RecordKey) {
        self.memory.remove(k);
        self.persist(k, None);
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.memory.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> StoreResult<()> {
        self.memory.add_provider(record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.memory.providers(key)
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.memory.provided()
    }

    fn remove_provider(&mut self, k: &RecordKey, p: &PeerId) {
        self.memory.remove_provider(k, p)
    }
}
