//! The share journal at start-up: what a restarted node reads from a
//! journal of a million shares, against the replay it used to do (read
//! every share back and verify each again).

use std::time::{Duration, Instant};

use chiral_pool::core::share::Share;
use chiral_pool::node::{GroupCommit, JournalEntry, ShareJournal};

use super::shares::{shares, validator};
use super::Figure;

/// Shares written to the journal per commit while it is filled.
const FILL_GROUP: usize = 20_000;

/// A journal at a fresh path holding `n` shares whose header times start
/// at `time`, one second apart per 1,000 shares.
fn filled(n: usize, time: u32, template: &[Share]) -> (std::path::PathBuf, ShareJournal) {
    let dir = std::env::temp_dir().join(format!("chiral-perf-journal-{}", rand::random::<u64>()));
    let journal = ShareJournal::open(&dir.join("journal.redb")).expect("journal opens");
    let mut entries = Vec::with_capacity(FILL_GROUP);
    for i in 0..n {
        let mut share = template[i % template.len()].clone();
        share.header = share.header.with_nonce(i as u32);
        let t = time.saturating_add((i / 1_000) as u32);
        share.header = chiral_pool::core::pow::BlockHeader::new(
            share.header.version(),
            *share.header.prev_hash(),
            *share.header.merkle_root(),
            t,
            share.header.bits(),
            i as u32,
        );
        entries.push(JournalEntry::new(share.header.hash(), &share).expect("encodes"));
        if entries.len() == FILL_GROUP {
            journal.commit(&entries).expect("commit");
            entries.clear();
        }
    }
    journal.commit(&entries).expect("commit");
    (dir, journal)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn journal_figures(figs: &mut Vec<Figure>, quick: bool) {
    let n = if quick { 100_000 } else { 1_000_000 };
    let pool = chiral_pool::core::ids::PoolId::derive(
        &chiral_pool::core::identity::Keypair::from_secret_bytes([9; 32]).public(),
        "journal",
    );
    let template = shares(64, pool);
    let now = 1_800_000_000u32;
    let lookback = 120;

    // A node that ran for a long time: every journaled share is older than
    // the lookback. Start-up prunes them and replays nothing.
    let (dir, journal) = filled(n, now - 100_000, &template);
    drop(journal);
    let t = Instant::now();
    let journal = ShareJournal::open(&dir.join("journal.redb")).expect("opens");
    let pruned = journal.prune(now - lookback).expect("prunes");
    let replay = journal.shares_since(now - lookback).expect("reads");
    let old_start = t.elapsed();
    assert_eq!((pruned as usize, replay.len()), (n, 0));
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);

    // Every journaled share is in the lookback (a pool at thousands of
    // shares a second): start-up reads them all back. The old start-up
    // also verified each again before publishing it.
    let (dir, journal) = filled(n, now - 100, &template);
    drop(journal);
    let t = Instant::now();
    let journal = ShareJournal::open(&dir.join("journal.redb")).expect("opens");
    journal.prune(now - 100 - lookback).expect("prunes");
    let replay = journal.shares_since(now - 100 - lookback).expect("reads");
    let read = t.elapsed();
    assert_eq!(replay.len(), n);
    let mut v = validator(pool);
    let t = Instant::now();
    let all = journal.shares().expect("reads");
    let mut verified = 0usize;
    for share in &all {
        // The fixture shares carry changed nonces: most fail the target,
        // after every other check has run (the hash is the last check).
        verified += usize::from(v.accept(share).is_ok());
    }
    let baseline = t.elapsed();
    std::hint::black_box(verified);
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);

    figs.push(Figure {
        name: "journal_start_all_old".into(),
        value: secs(old_start),
        unit: "s to open and prune, 1M shares (quick: 100k)",
        baseline: None,
        ratio: None,
        goal: "<= 2 s".into(),
        note: format!("{n} shares pruned, none replayed"),
    });
    figs.push(Figure {
        name: "journal_start_all_recent".into(),
        value: secs(read),
        unit: "s to open and read back, 1M shares",
        baseline: Some(secs(baseline)),
        ratio: Some(secs(read) / secs(baseline).max(1e-9)),
        goal: "<= 2 s".into(),
        note: "baseline: the old replay, read + verify each share again".into(),
    });
}
