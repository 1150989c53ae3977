//! The journal of accepted shares: written before a miner is told
//! "accepted", replayed after a restart, pruned past the payout lookback.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chiral_pool_core::codec::{self, CodecError};
use chiral_pool_core::payout::BlockPayout;
use chiral_pool_core::pow::Hash256;
use chiral_pool_core::share::Share;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Shares live in one table per [`BUCKET_SECS`] of header time, keyed by
/// `time (big-endian u32) || header hash`: pruning drops whole tables
/// (deleting a million rows one by one took about a minute; dropping their
/// tables takes a fraction of a second) and replay reads in time order.
const SHARES_PREFIX: &str = "shares-";

/// The share table of versions before the time buckets.
const LEGACY_SHARES: &str = "accepted_shares";

/// Seconds of header time per share table.
const BUCKET_SECS: u32 = 300;

/// The share table of header times `[bucket * BUCKET_SECS, +BUCKET_SECS)`.
fn bucket_name(bucket: u32) -> String {
    // Zero-padded, so names sort as buckets do.
    format!("{SHARES_PREFIX}{bucket:010}")
}

fn bucket_of(name: &str) -> Option<u32> {
    name.strip_prefix(SHARES_PREFIX)?.parse().ok()
}

fn shares_table(name: &str) -> TableDefinition<'_, &'static [u8; 36], &'static [u8]> {
    TableDefinition::new(name)
}
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("settled_blocks");

/// A failure of the share journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The database failed (open, read, write or commit).
    #[error("share journal: {0}")]
    Database(#[source] Box<redb::Error>),
    /// A value did not encode.
    #[error("share journal: {0}")]
    Encode(#[from] CodecError),
    /// The group commit that held this share failed (the error is shared
    /// by every share of the group).
    #[error("share journal: group commit failed")]
    Group(#[source] Arc<JournalError>),
    /// The writer thread is gone (the journal was shut down).
    #[error("share journal: writer stopped")]
    Stopped,
}

impl From<redb::Error> for JournalError {
    fn from(e: redb::Error) -> Self {
        JournalError::Database(Box::new(e))
    }
}

fn db_err<E: Into<redb::Error>>(e: E) -> JournalError {
    JournalError::Database(Box::new(e.into()))
}

/// One share as the journal keeps it.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    /// Header hash.
    pub hash: Hash256,
    /// Header time, unix seconds (the share's slot and its age).
    pub time: u32,
    /// The encoded share.
    pub bytes: Vec<u8>,
}

impl JournalEntry {
    /// The entry of a share.
    pub fn new(hash: Hash256, share: &Share) -> Result<Self, JournalError> {
        Ok(JournalEntry {
            hash,
            time: share.header.time(),
            bytes: share.to_bytes()?,
        })
    }

    fn key(&self) -> [u8; 36] {
        key(self.time, &self.hash)
    }
}

fn key(time: u32, hash: &Hash256) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..4].copy_from_slice(&time.to_be_bytes());
    k[4..].copy_from_slice(hash);
    k
}

/// Where a [`JournalWriter`] commits groups of shares: the redb journal,
/// or in tests a store that fails.
pub trait GroupCommit: Send + Sync + 'static {
    /// Durably stores every entry in one commit, or none of them.
    fn commit(&self, entries: &[JournalEntry]) -> Result<(), JournalError>;
}

/// An embedded redb database of accepted shares and settled blocks.
///
/// Every commit is durable (fsync). [`JournalWriter`] groups the shares
/// that arrive while a commit runs into the next one, so the
/// accepted-share rate is not bounded by the disk's commit rate.
pub struct ShareJournal {
    db: Database,
}

/// Most shares in one group commit.
const MAX_GROUP: usize = 4_096;

/// A share waiting for the writer thread.
struct Queued {
    entry: JournalEntry,
    done: oneshot::Sender<Result<(), Arc<JournalError>>>,
}

/// The handle of a group-commit writer: a thread that takes every share
/// queued while it was committing and writes them in one transaction.
/// Dropping every handle stops the thread once the queue is written.
#[derive(Clone)]
pub struct JournalWriter {
    queue: mpsc::Sender<Queued>,
    commits: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl JournalWriter {
    /// Starts a writer thread over `store`, with room for `queue` waiting
    /// shares.
    pub fn spawn(store: Arc<dyn GroupCommit>, queue: usize) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Queued>(queue.max(1));
        let commits = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let (commit_count, failure_count) = (commits.clone(), failures.clone());
        let thread = std::thread::Builder::new()
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
                    let (entries, waiting): (Vec<JournalEntry>, Vec<_>) =
                        group.into_iter().map(|q| (q.entry, q.done)).unzip();
                    commit_count.fetch_add(1, Ordering::Relaxed);
                    let result = store.commit(&entries).map_err(Arc::new);
                    if let Err(e) = &result {
                        failure_count.fetch_add(entries.len() as u64, Ordering::Relaxed);
                        warn!(error = %e, shares = entries.len(), "shares not journaled; their miners are told");
                    }
                    for done in waiting {
                        let _ = done.send(result.clone());
                    }
                }
            })?;
        Ok(JournalWriter {
            queue: tx,
            commits,
            failures,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        })
    }

    /// Drops this handle and waits, at most `limit`, until the writer
    /// thread has written what was queued and ended (and so released the
    /// store). The thread ends once every handle is dropped: call this on
    /// the last one. Returns whether it ended in time.
    pub async fn close(self, limit: std::time::Duration) -> bool {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(self.queue);
        let Some(thread) = thread else {
            return true;
        };
        let joined = tokio::task::spawn_blocking(move || thread.join());
        matches!(tokio::time::timeout(limit, joined).await, Ok(Ok(Ok(()))))
    }

    /// Queues `share` (waiting while the queue is full); the future ends
    /// with `Ok` once the share is durable, or with the commit's error.
    pub fn append(
        &self,
        hash: Hash256,
        share: &Share,
    ) -> impl std::future::Future<Output = Result<(), JournalError>> + Send + 'static {
        let queue = self.queue.clone();
        let entry = JournalEntry::new(hash, share);
        async move {
            let (done, written) = oneshot::channel();
            queue
                .send(Queued {
                    entry: entry?,
                    done,
                })
                .await
                .map_err(|_| JournalError::Stopped)?;
            match written.await {
                Ok(result) => result.map_err(JournalError::Group),
                Err(_) => Err(JournalError::Stopped),
            }
        }
    }

    /// Commits so far (each holds one or more shares, failed ones too).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Shares whose commit failed so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

impl GroupCommit for ShareJournal {
    fn commit(&self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut by_bucket: std::collections::BTreeMap<u32, Vec<&JournalEntry>> =
            std::collections::BTreeMap::new();
        for e in entries {
            by_bucket.entry(e.time / BUCKET_SECS).or_default().push(e);
        }
        for (bucket, entries) in by_bucket {
            let name = bucket_name(bucket);
            let mut table = txn.open_table(shares_table(&name)).map_err(db_err)?;
            for e in entries {
                table.insert(&e.key(), e.bytes.as_slice()).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }
}

impl ShareJournal {
    /// Opens or creates the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(db_err)?;
        }
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        {
            txn.open_table(BLOCKS).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        let journal = ShareJournal { db };
        journal.migrate_legacy()?;
        Ok(journal)
    }

    /// Moves the shares of an earlier version's table (keyed by hash
    /// alone) into the time buckets, then drops it, so an upgrade keeps
    /// every acknowledged share and prunes like the rest.
    fn migrate_legacy(&self) -> Result<(), JournalError> {
        let legacy: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new(LEGACY_SHARES);
        let has_legacy = self
            .db
            .begin_read()
            .map_err(db_err)?
            .list_tables()
            .map_err(db_err)?
            .any(|t| t.name() == LEGACY_SHARES);
        if !has_legacy {
            return Ok(());
        }
        let mut entries = Vec::new();
        {
            let txn = self.db.begin_read().map_err(db_err)?;
            let table = txn.open_table(legacy).map_err(db_err)?;
            for entry in table.iter().map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                if let Ok(share) = Share::from_bytes(v.value()) {
                    entries.push(JournalEntry::new(*k.value(), &share)?);
                }
            }
        }
        self.commit(&entries)?;
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.delete_table(legacy).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        warn!(
            shares = entries.len(),
            "share journal moved to time buckets"
        );
        Ok(())
    }

    /// The share tables' buckets, oldest first.
    fn buckets(&self) -> Result<Vec<u32>, JournalError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut buckets: Vec<u32> = txn
            .list_tables()
            .map_err(db_err)?
            .filter_map(|t| bucket_of(t.name()))
            .collect();
        buckets.sort_unstable();
        Ok(buckets)
    }

    /// Durably records an accepted share in its own commit.
    pub fn append(&self, hash: &Hash256, share: &Share) -> Result<(), JournalError> {
        self.commit(&[JournalEntry::new(*hash, share)?])
    }

    /// Starts the group-commit writer on its own thread, with room for
    /// `queue` waiting shares.
    pub fn writer(self: &Arc<Self>, queue: usize) -> std::io::Result<JournalWriter> {
        JournalWriter::spawn(self.clone(), queue)
    }

    /// Every journaled share that still decodes, in time order.
    pub fn shares(&self) -> Result<Vec<Share>, JournalError> {
        self.shares_since(0)
    }

    /// The journaled shares whose header time is at least `since`, in time
    /// order. Entries that no longer decode are skipped, counted in the
    /// log at warn.
    pub fn shares_since(&self, since: u32) -> Result<Vec<Share>, JournalError> {
        let buckets = self.buckets()?;
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut out = Vec::new();
        let mut unreadable = 0usize;
        let from = key(since, &[0; 32]);
        for bucket in buckets.into_iter().filter(|b| *b >= since / BUCKET_SECS) {
            let name = bucket_name(bucket);
            let table = txn.open_table(shares_table(&name)).map_err(db_err)?;
            for entry in table.range::<&[u8; 36]>(&from..).map_err(db_err)? {
                let (_, v) = entry.map_err(db_err)?;
                match Share::from_bytes(v.value()) {
                    Ok(share) => out.push(share),
                    Err(_) => unreadable += 1,
                }
            }
        }
        if unreadable > 0 {
            warn!(
                unreadable,
                "journaled shares that no longer decode were skipped"
            );
        }
        Ok(out)
    }

    /// Deletes the shares whose header time is before `before`: once they
    /// are older than the payout lookback no settlement reads them. Whole
    /// tables go at once; only the table `before` falls in is pruned row by
    /// row. Returns how many were deleted.
    pub fn prune(&self, before: u32) -> Result<u64, JournalError> {
        let buckets = self.buckets()?;
        let boundary = before / BUCKET_SECS;
        let txn = self.db.begin_write().map_err(db_err)?;
        let mut deleted = 0u64;
        for bucket in buckets.into_iter().filter(|b| *b <= boundary) {
            let name = bucket_name(bucket);
            if bucket < boundary {
                let table = txn.open_table(shares_table(&name)).map_err(db_err)?;
                deleted += table.len().map_err(db_err)?;
                drop(table);
                txn.delete_table(shares_table(&name)).map_err(db_err)?;
                continue;
            }
            let mut table = txn.open_table(shares_table(&name)).map_err(db_err)?;
            let until = key(before, &[0; 32]);
            table
                .retain_in::<&[u8; 36], _>(..&until, |_, _| {
                    deleted += 1;
                    false
                })
                .map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(deleted)
    }

    /// Shares in the journal now.
    pub fn len(&self) -> Result<u64, JournalError> {
        let buckets = self.buckets()?;
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut n = 0;
        for bucket in buckets {
            let name = bucket_name(bucket);
            n += txn
                .open_table(shares_table(&name))
                .map_err(db_err)?
                .len()
                .map_err(db_err)?;
        }
        Ok(n)
    }

    /// Whether the journal holds no share.
    pub fn is_empty(&self) -> Result<bool, JournalError> {
        Ok(self.len()? == 0)
    }

    /// Durably records settled blocks after the ones before it, in one
    /// commit. Call it off the async runtime's worker threads (it waits
    /// for an fsync).
    pub fn save_blocks(&self, blocks: &[BlockPayout]) -> Result<(), JournalError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = txn.open_table(BLOCKS).map_err(db_err)?;
            let first = table
                .last()
                .map_err(db_err)?
                .map_or(0, |(k, _)| k.value() + 1);
            for (index, block) in (first..).zip(blocks) {
                let bytes = codec::encode(block)?;
                table.insert(index, bytes.as_slice()).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)
    }

    /// Settled blocks in the order they were saved.
    pub fn blocks(&self) -> Result<Vec<BlockPayout>, JournalError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(BLOCKS).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            if let Ok(b) = codec::decode::<BlockPayout>(v.value(), codec::MAX_ENCODED_BYTES) {
                out.push(b);
            }
        }
        Ok(out)
    }
}
