//! The share journal's group-commit writer: a share is readable from the
//! journal once its append completes, and concurrent appends share commits
//! without losing any.

mod common;

use std::sync::Arc;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::pow::sha256d;
use chiral_pool::node::{GroupCommit, JournalEntry, JournalError, JournalWriter, ShareJournal};
use common::ShareFactory;

fn temp_journal() -> (std::path::PathBuf, Arc<ShareJournal>) {
    let dir = std::env::temp_dir().join(format!("chiral-journal-{}", rand::random::<u64>()));
    let journal = ShareJournal::open(&dir.join("journal.redb")).expect("journal opens");
    (dir, Arc::new(journal))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_completed_append_is_in_the_journal() {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([4; 32]).public(), "journal");
    let factory = ShareFactory::new(pool);
    let shares: Vec<_> = (0..300)
        .map(|i| factory.share(&format!("miner{}", i % 7), i))
        .collect();
    let (dir, journal) = temp_journal();
    let writer = journal.writer(64).expect("writer thread");

    // One append: visible as soon as its future ends.
    let first = &shares[0];
    writer
        .append(sha256d(&first.header.to_bytes()), first)
        .await
        .expect("journaled");
    assert_eq!(journal.shares().expect("reads"), vec![first.clone()]);

    // The rest at once, through a queue smaller than the burst.
    let mut tasks = tokio::task::JoinSet::new();
    for share in shares.iter().skip(1) {
        tasks.spawn(writer.append(sha256d(&share.header.to_bytes()), share));
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("append task").expect("journaled");
    }
    let mut stored = journal.shares().expect("reads");
    let mut expected = shares.clone();
    stored.sort_by_key(|s| s.header.to_bytes());
    expected.sort_by_key(|s| s.header.to_bytes());
    assert_eq!(stored, expected);
    // One commit per share would be 300; grouped, 11 or 12 were measured
    // here. A third of the ungrouped count leaves room for a fast disk.
    let commits = writer.commits();
    assert!((2..=100).contains(&commits), "{commits} commits");
    drop(writer);
    drop(journal);
    let _ = std::fs::remove_dir_all(dir);
}

/// A disk whose every commit takes 2 ms, counting the shares it stored.
#[derive(Default)]
struct SlowDisk(std::sync::Mutex<Vec<usize>>);

impl GroupCommit for SlowDisk {
    fn commit(&self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        std::thread::sleep(std::time::Duration::from_millis(2));
        self.0.lock().expect("lock").push(entries.len());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_that_wait_for_a_commit_share_the_next_one() {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([5; 32]).public(), "group");
    let factory = ShareFactory::new(pool);
    let shares: Vec<_> = (0..300).map(|i| factory.share("miner", i)).collect();
    let disk = Arc::new(SlowDisk::default());
    let writer = JournalWriter::spawn(disk.clone(), 64).expect("writer thread");
    let mut tasks = tokio::task::JoinSet::new();
    for share in &shares {
        tasks.spawn(writer.append(sha256d(&share.header.to_bytes()), share));
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("append task").expect("journaled");
    }
    let groups = disk.0.lock().expect("lock").clone();
    assert_eq!(groups.iter().sum::<usize>(), 300);
    // While one commit runs the queue (64) fills again: about 300 / 64
    // commits, where one per share would be 300.
    assert!(groups.len() <= 20, "{} commits: {groups:?}", groups.len());
    assert_eq!(writer.commits(), groups.len() as u64);
}

#[test]
fn pruning_drops_exactly_the_shares_before_the_cutoff() {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([6; 32]).public(), "prune");
    let (dir, journal) = temp_journal();
    let t0 = 1_800_000_000u64;
    // One share every 10 s over 2,000 s: several time buckets.
    for i in 0..200u64 {
        let share = ShareFactory::at(pool, t0 + i * 10).share("miner", i);
        journal
            .append(&sha256d(&share.header.to_bytes()), &share)
            .expect("append");
    }
    let cutoff = (t0 + 1_234) as u32;
    let kept = 200 - 124; // times t0 + 1240 and later
    assert_eq!(journal.prune(cutoff).expect("prune"), 124);
    assert_eq!(journal.len().expect("len"), kept);
    let left = journal.shares().expect("reads");
    assert_eq!(left.len() as u64, kept);
    assert!(left.iter().all(|s| s.header.time() >= cutoff));
    assert!(left
        .windows(2)
        .all(|w| w[0].header.time() <= w[1].header.time()));
    assert_eq!(journal.prune(cutoff).expect("prune again"), 0);
    drop(journal);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_earlier_versions_journal_is_moved_not_lost() {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([7; 32]).public(), "legacy");
    let dir = std::env::temp_dir().join(format!("chiral-legacy-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("journal.redb");
    let shares: Vec<_> = (0..5)
        .map(|i| ShareFactory::new(pool).share("old", i))
        .collect();
    {
        // The table an earlier version wrote: shares keyed by hash alone.
        let legacy: redb::TableDefinition<&[u8; 32], &[u8]> =
            redb::TableDefinition::new("accepted_shares");
        let db = redb::Database::create(&path).expect("db");
        let txn = db.begin_write().expect("txn");
        {
            let mut table = txn.open_table(legacy).expect("table");
            for s in &shares {
                let bytes = s.to_bytes().expect("encodes");
                table
                    .insert(&sha256d(&s.header.to_bytes()), bytes.as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let journal = ShareJournal::open(&path).expect("opens and migrates");
    let mut got = journal.shares().expect("reads");
    let mut want = shares.clone();
    got.sort_by_key(|s| s.header.to_bytes());
    want.sort_by_key(|s| s.header.to_bytes());
    assert_eq!(got, want);
    drop(journal);
    // Opening again finds nothing left to move and loses nothing.
    let journal = ShareJournal::open(&path).expect("reopens");
    assert_eq!(journal.len().expect("len"), 5);
    drop(journal);
    let _ = std::fs::remove_dir_all(dir);
}
