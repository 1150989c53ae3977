//! Server counters and per-worker hashrate estimates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chiral_pool_core::pow::Difficulty;

/// Why a submit was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Unknown or stale job, or a share on an old block.
    Stale,
    /// Submitted before.
    Duplicate,
    /// Hash above the share target.
    LowDifficulty,
    /// Worker not authorized on this connection.
    Unauthorized,
    /// Submit before subscribe.
    NotSubscribed,
    /// Bad parameters or a proof that does not check out.
    Invalid,
    /// Valid, but the pool's share sink could not keep it (a failed
    /// journal commit, say): the miner is told it was not accepted.
    NotStored,
    /// Valid, but the server's duplicate memory for this block is full
    /// (costs the miner no ban points; raise the share difficulty).
    Overloaded,
}

impl RejectReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::Stale,
        RejectReason::Duplicate,
        RejectReason::LowDifficulty,
        RejectReason::Unauthorized,
        RejectReason::NotSubscribed,
        RejectReason::Invalid,
        RejectReason::NotStored,
        RejectReason::Overloaded,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Stale => "stale",
            RejectReason::Duplicate => "duplicate",
            RejectReason::LowDifficulty => "low-difficulty",
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::NotSubscribed => "not-subscribed",
            RejectReason::Invalid => "invalid",
            RejectReason::NotStored => "not-stored",
            RejectReason::Overloaded => "overloaded",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One worker's accepted work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerStats {
    /// Accepted shares.
    pub shares: u64,
    /// Summed difficulty, fixed point: the expected hashes behind them.
    pub work: u128,
    /// Milliseconds (server clock) of the first and last accepted share.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
}

impl WorkerStats {
    /// Estimated hashes per second between the first and last share.
    pub fn hashrate(&self) -> u128 {
        let span = self.last_ms.saturating_sub(self.first_ms).max(1000) as u128;
        self.work * 1000 / span
    }
}

/// Most workers tracked for hashrate; beyond it new workers are not tracked.
const MAX_WORKERS: usize = 100_000;

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections refused (banned address or connection limit).
    pub connections_refused: AtomicU64,
    /// Connections closed for misbehaviour.
    pub disconnected_for_abuse: AtomicU64,
    /// Accepted shares.
    pub accepted: AtomicU64,
    /// Shares that were blocks.
    pub blocks: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    workers: Mutex<BTreeMap<String, WorkerStats>>,
}

impl ServerStats {
    /// Rejections for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason.index()].load(Ordering::Relaxed)
    }

    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        RejectReason::ALL.iter().map(|r| self.rejected(*r)).sum()
    }

    pub(crate) fn reject(&self, reason: RejectReason) {
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accept(&self, worker: &str, difficulty: Difficulty, now_ms: u64) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let bump = |w: &mut WorkerStats| {
            w.shares += 1;
            w.work = w.work.saturating_add(difficulty.raw());
            w.last_ms = now_ms;
        };
        // Look up before inserting: the owned key is built once per worker,
        // not once per share.
        if let Some(w) = workers.get_mut(worker) {
            bump(w);
            return;
        }
        if workers.len() >= MAX_WORKERS {
            return;
        }
        let mut w = WorkerStats {
            first_ms: now_ms,
            ..WorkerStats::default()
        };
        bump(&mut w);
        workers.insert(worker.to_owned(), w);
    }

    /// Per-worker figures, sorted by worker name.
    pub fn workers(&self) -> Vec<(String, WorkerStats)> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}
