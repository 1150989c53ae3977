//! The journal of accepted shares: written before a miner is told
//! "accepted", replayed after a restart.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chiral_pool_core::codec;
use chiral_pool_core::share::Share;

use super::BlockPayout;
use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

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
/// Every commit is durable (fsync). [`ShareJournal::writer`] groups the
/// shares that arrive while a commit runs into the next one, so the
/// accepted-share rate is not bounded by the disk's commit rate.
pub struct ShareJournal {
    db: Database,
}

/// Most shares in one group commit.
const MAX_GROUP: usize = 4_096;

/// A share waiting for the writer thread.
struct Queued {
    hash: [u8; 32],
    bytes: Vec<u8>,
    done: oneshot::Sender<()>,
}

/// The handle of a journal's group-commit writer, a thread that takes
/// every share queued while it was committing and writes them in one
/// transaction. Dropping every handle stops the thread once the queue is
/// written.
#[derive(Clone)]
pub struct JournalWriter {
    queue: mpsc::Sender<Queued>,
    commits: Arc<AtomicU64>,
}

impl JournalWriter {
    /// Queues `share` (waiting while the queue is full); the future ends
    /// once the share is durable. A failed commit is logged and ends the
    /// future too: the share is then only in memory.
    pub fn append(
        &self,
        hash: [u8; 32],
        share: &Share,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let queue = self.queue.clone();
        let bytes = share.to_bytes();
        async move {
            let Ok(bytes) = bytes else {
                warn!("accepted share does not encode; not journaled");
                return;
            };
            let (done, written) = oneshot::channel();
            if queue.send(Queued { hash, bytes, done }).await.is_ok() {
                let _ = written.await;
            }
        }
    }

    /// Commits so far (each holds one or more shares).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
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

    /// Durably records an accepted share in its own commit.
    pub fn append(&self, hash: &[u8; 32], share: &Share) -> Result<(), JournalError> {
        let bytes = share
            .to_bytes()
            .map_err(|e| JournalError(Box::new(redb::Error::Corrupted(e.to_string()))))?;
        self.append_group(&[(*hash, bytes)])
    }

    /// Durably records encoded shares in one commit.
    fn append_group(&self, shares: &[([u8; 32], Vec<u8>)]) -> Result<(), JournalError> {
        let txn = self.db.begin_write().map_err(journal_err)?;
        {
            let mut table = txn.open_table(SHARES).map_err(journal_err)?;
            for (hash, bytes) in shares {
                table.insert(hash, bytes.as_slice()).map_err(journal_err)?;
            }
        }
        txn.commit().map_err(journal_err)?;
        Ok(())
    }

    /// Starts the group-commit writer on its own thread, with room for
    /// `queue` waiting shares.
    pub fn writer(self: &Arc<Self>, queue: usize) -> std::io::Result<JournalWriter> {
        let (tx, mut rx) = mpsc::channel::<Queued>(queue.max(1));
        let commits = Arc::new(AtomicU64::new(0));
        let journal = self.clone();
        let counter = commits.clone();
        std::thread::Builder::new()
            .name("share-journal".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    let rows: Vec<_> = group
                        .iter_mut()
                        .map(|q| (q.hash, std::mem::take(&mut q.bytes)))
                        .collect();
                    if let Err(e) = journal.append_group(&rows) {
                        warn!(error = %e, shares = rows.len(), "shares not journaled");
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    for q in group {
                        let _ = q.done.send(());
                    }
                }
            })?;
        Ok(JournalWriter { queue: tx, commits })
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
