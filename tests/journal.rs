//! The share journal's group-commit writer: a share is readable from the
//! journal once its append completes, and concurrent appends share commits
//! without losing any.

mod common;

use std::sync::Arc;

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::pow::sha256d;
use chiral_pool::node::ShareJournal;
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
    let commits = writer.commits();
    assert!((1..=300).contains(&commits), "{commits} commits");
    drop(writer);
    drop(journal);
    let _ = std::fs::remove_dir_all(dir);
}
