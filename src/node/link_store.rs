//! The links a node holds, kept across restarts: a restarted node rebuilds
//! its share chain from them instead of starting a new one. Each row is
//! keyed by `header time (big-endian) || link id`, so pruning by age is a
//! range delete.

use std::path::Path;

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::sharechain::Link;
use redb::{Database, TableDefinition};

use std::sync::Arc;

use tracing::warn;

use super::journal::JournalError;

const LINKS: TableDefinition<&[u8; 36], &[u8]> = TableDefinition::new("links");

fn db_err<E: Into<redb::Error>>(e: E) -> JournalError {
    JournalError::Database(Box::new(e.into()))
}

fn key(time: u32, id: &LinkId) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..4].copy_from_slice(&time.to_be_bytes());
    key[4..].copy_from_slice(id.as_bytes());
    key
}

/// A durable set of links.
pub struct LinkStore {
    db: Database,
}

impl LinkStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(LINKS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(LinkStore { db })
    }

    /// Saves links (one commit).
    pub fn save(&self, links: &[Link]) -> Result<(), JournalError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(LINKS).map_err(db_err)?;
            for link in links {
                let id = LinkId::from_bytes(link.header.hash());
                let bytes = link.to_bytes()?;
                table
                    .insert(&key(link.header.time(), &id), bytes.as_slice())
                    .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    /// Every link with header time at least `since`, oldest first; rows
    /// that do not decode are skipped.
    pub fn load(&self, since: u32) -> Result<Vec<Link>, JournalError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(LINKS).map_err(db_err)?;
        let from = key(since, &LinkId::from_bytes([0; 32]));
        let mut out = Vec::new();
        for row in table.range::<&[u8; 36]>(&from..).map_err(db_err)? {
            let (_, value) = row.map_err(db_err)?;
            if let Ok(link) = Link::from_bytes(value.value()) {
                out.push(link);
            }
        }
        Ok(out)
    }

    /// Deletes links with header time below `before`; returns how many.
    pub fn prune(&self, before: u32) -> Result<u64, JournalError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let removed = {
            let mut table = tx.open_table(LINKS).map_err(db_err)?;
            let end = key(before, &LinkId::from_bytes([0; 32]));
            let removed = table
                .extract_from_if::<&[u8; 36], _>(..&end, |_, _| true)
                .map_err(db_err)?;
            removed.count() as u64
        };
        tx.commit().map_err(db_err)?;
        Ok(removed)
    }
}

/// What the link store's writer thread does.
pub(super) enum StoreJob {
    Save(Vec<Link>),
    Prune(u32),
}

/// The link store's writer: one thread, a bounded queue.
pub(super) struct StoreWriter {
    pub(super) queue: std::sync::mpsc::SyncSender<StoreJob>,
    pub(super) thread: std::thread::JoinHandle<()>,
}

/// Jobs that may wait for the link store's writer.
const STORE_QUEUE: usize = 4_096;

impl StoreWriter {
    pub(super) fn spawn(store: Arc<LinkStore>) -> Self {
        let (queue, jobs) = std::sync::mpsc::sync_channel(STORE_QUEUE);
        let thread = std::thread::spawn(move || {
            for job in jobs {
                let result = match job {
                    StoreJob::Save(links) => store.save(&links),
                    StoreJob::Prune(before) => store.prune(before).map(|_| ()),
                };
                if let Err(e) = result {
                    warn!(error = %e, "link store write failed");
                }
            }
        });
        StoreWriter { queue, thread }
    }
}
