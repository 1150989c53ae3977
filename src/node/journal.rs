//! The journal of accepted shares: written before a miner is told
//! "accepted", replayed after a restart.

use std::path::Path;

use chiral_pool_core::codec;
use chiral_pool_core::share::Share;

use super::BlockPayout;
use redb::{Database, ReadableTable, TableDefinition};

const SHARES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("accepted_shares");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("settled_blocks");

/// A failure of the journal's database.
#[derive(Debug, thiserror::Error)]
#[error("share journal: {0}")]
pub struct JournalError(Box<redb::Error>);

fn journal_err<E: Into<redb::Error>>(e: E) -> JournalError {
    JournalError(Box::new(e.into()))
}

/// An embedded redb database of accepted shares, keyed by header hash.
///
/// Each append is its own durable transaction (fsync), which bounds the
/// accepted-share rate to the disk's commit rate; a pool above a few
/// thousand shares per second wants group commits.
pub struct ShareJournal {
    db: Database,
}

impl ShareJournal {
    /// Opens or creates the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(journal_err)?;
        }
        let db = Database::create(path).map_err(journal_err)?;
        let txn = db.begin_write().map_err(journal_err)?;
        {
            txn.open_table(SHARES).map_err(journal_err)?;
            txn.open_table(BLOCKS).map_err(journal_err)?;
        }
        txn.commit().map_err(journal_err)?;
        Ok(ShareJournal { db })
    }

    /// Durably records an accepted share.
    pub fn append(&self, hash: &[u8; 32], share: &Share) -> Result<(), JournalError> {
        let bytes = share
            .to_bytes()
            .map_err(|e| JournalError(Box::new(redb::Error::Corrupted(e.to_string()))))?;
        let txn = self.db.begin_write().map_err(journal_err)?;
        {
            let mut table = txn.open_table(SHARES).map_err(journal_err)?;
            table.insert(hash, bytes.as_slice()).map_err(journal_err)?;
        }
        txn.commit().map_err(journal_err)?;
        Ok(())
    }

    /// Every journaled share that still decodes, in hash order.
    pub fn shares(&self) -> Result<Vec<Share>, JournalError> {
        let txn = self.db.begin_read().map_err(journal_err)?;
        let table = txn.open_table(SHARES).map_err(journal_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(journal_err)? {
            let (_, v) = entry.map_err(journal_err)?;
            if let Ok(share) = Share::from_bytes(v.value()) {
                out.push(share);
            }
        }
        Ok(out)
    }

    /// Durably records a settled block after the ones before it.
    pub fn save_block(&self, block: &BlockPayout) -> Result<(), JournalError> {
        let bytes = codec::encode(block)
            .map_err(|e| JournalError(Box::new(redb::Error::Corrupted(e.to_string()))))?;
        let txn = self.db.begin_write().map_err(journal_err)?;
        {
            let mut table = txn.open_table(BLOCKS).map_err(journal_err)?;
            let next = table
                .last()
                .map_err(journal_err)?
                .map_or(0, |(k, _)| k.value() + 1);
            table.insert(next, bytes.as_slice()).map_err(journal_err)?;
        }
        txn.commit().map_err(journal_err)?;
        Ok(())
    }

    /// Settled blocks in the order they were saved.
    pub fn blocks(&self) -> Result<Vec<BlockPayout>, JournalError> {
        let txn = self.db.begin_read().map_err(journal_err)?;
        let table = txn.open_table(BLOCKS).map_err(journal_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(journal_err)? {
            let (_, v) = entry.map_err(journal_err)?;
            if let Ok(b) = codec::decode::<BlockPayout>(v.value(), codec::MAX_ENCODED_BYTES) {
                out.push(b);
            }
        }
        Ok(out)
    }
}
