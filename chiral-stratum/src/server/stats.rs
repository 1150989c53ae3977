//! Server counters and per-worker hashrate estimates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::time::Instant;

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

/// The hashrate windows of [`Hashrate`], in seconds: 1 minute, 15
/// minutes, 1 hour, 24 hours.
pub const HASHRATE_WINDOWS_SECS: [u64; 4] = [60, 15 * 60, 3_600, 86_400];

/// Hashrate estimates over [`HASHRATE_WINDOWS_SECS`], in constant memory:
/// one exponentially decaying sum of work per window (as ckpool and
/// cgminer keep theirs), read as a rate with the bias of a short history
/// taken out.
///
/// For work arriving at rate `r`, a sum decaying with time constant `W`
/// holds `r W (1 - exp(-t / W))` after `t`; the estimate divides by that
/// factor, so a young meter is not read low.
///
/// ```
/// use chiral_stratum::server::Hashrate;
/// let mut meter = Hashrate::starting_at(0);
/// for s in 1..=600u64 {
///     meter.add(1_000_000, s * 1000); // a million hashes every second
/// }
/// let [m1, m15, h1, d1] = meter.rates(600_000);
/// for rate in [m1, m15, h1, d1] {
///     assert!((rate / 1e6 - 1.0).abs() < 0.02, "{rate}");
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hashrate {
    sums: [f64; 4],
    start_ms: u64,
    last_ms: u64,
}

impl Hashrate {
    /// A meter whose history starts at `start_ms`.
    pub fn starting_at(start_ms: u64) -> Self {
        Hashrate {
            sums: [0.0; 4],
            start_ms,
            last_ms: start_ms,
        }
    }

    /// Adds `work` expected hashes done at `now_ms` (a time before the
    /// last one counts as the last one).
    pub fn add(&mut self, work: u128, now_ms: u64) {
        let now = now_ms.max(self.last_ms);
        self.sums = self.decayed(now);
        self.last_ms = now;
        for sum in &mut self.sums {
            *sum += work as f64;
        }
    }

    /// Hashes per second over each window of [`HASHRATE_WINDOWS_SECS`],
    /// as of `now_ms`. A history shorter than one second reads as one
    /// second.
    pub fn rates(&self, now_ms: u64) -> [f64; 4] {
        let now = now_ms.max(self.last_ms);
        let sums = self.decayed(now);
        let age = now.saturating_sub(self.start_ms).max(1_000) as f64 / 1000.0;
        let mut rates = [0.0; 4];
        for (i, window) in HASHRATE_WINDOWS_SECS.iter().enumerate() {
            let window = *window as f64;
            rates[i] = sums[i] / (window * -(-age / window).exp_m1());
        }
        rates
    }

    fn decayed(&self, now_ms: u64) -> [f64; 4] {
        let dt = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        let mut sums = self.sums;
        for (sum, window) in sums.iter_mut().zip(HASHRATE_WINDOWS_SECS) {
            *sum *= (-dt / window as f64).exp();
        }
        sums
    }
}

/// One worker's accepted work.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WorkerStats {
    /// Accepted shares.
    pub shares: u64,
    /// Summed difficulty, fixed point: the expected hashes behind them.
    pub work: u128,
    /// Milliseconds (server clock, [`ServerStats::now_ms`]) of the first
    /// and last accepted share.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
    /// Hashrate over 1 m, 15 m, 1 h and 24 h, from its first share on.
    pub rates: Hashrate,
}

impl WorkerStats {
    /// Estimated hashes per second averaged over the worker's whole life,
    /// its first share to its last (a span under a second counts as one);
    /// it does not fall while the worker is silent. For recent hashrate,
    /// what the node's API and metrics show, see [`WorkerStats::rates`].
    pub fn hashrate(&self) -> u128 {
        let span = self.last_ms.saturating_sub(self.first_ms).max(1000) as u128;
        self.work * 1000 / span
    }
}

/// Most workers tracked for hashrate; beyond it new workers are not tracked.
const MAX_WORKERS: usize = 100_000;

/// Counters of a running server.
#[derive(Debug)]
pub struct ServerStats {
    /// The server's clock: milliseconds since these counters were made.
    started: Instant,
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
    /// Every accepted share's work: the server's hashrate, and the work
    /// in all (expected hashes).
    rates: Mutex<(Hashrate, u128)>,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            started: Instant::now(),
            connections_total: AtomicU64::default(),
            connections_open: AtomicU64::default(),
            connections_refused: AtomicU64::default(),
            disconnected_for_abuse: AtomicU64::default(),
            accepted: AtomicU64::default(),
            blocks: AtomicU64::default(),
            rejected: Default::default(),
            workers: Mutex::default(),
            rates: Mutex::default(),
        }
    }
}

impl ServerStats {
    /// The server's clock: milliseconds since start (monotonic).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The server's hashrate (every accepted share's work) over 1 m, 15 m,
    /// 1 h and 24 h, in hashes per second.
    pub fn hashrate(&self) -> [f64; 4] {
        let now = self.now_ms();
        self.rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .rates(now)
    }

    /// Expected hashes behind every accepted share since start (the
    /// counter a hashrate is the rate of).
    pub fn work_total(&self) -> u128 {
        self.rates.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Workers with accepted shares.
    pub fn worker_count(&self) -> usize {
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The workers of `miner` (named `miner` or `miner.<worker>`), sorted
    /// by name: a range of the map, not a scan.
    pub fn workers_of(&self, miner: &str) -> Vec<(String, WorkerStats)> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let exact = workers.get_key_value(miner).map(|(k, v)| (k.clone(), *v));
        let prefix = format!("{miner}.");
        exact
            .into_iter()
            .chain(
                workers
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.clone(), *v)),
            )
            .collect()
    }

    /// Folds over every worker under the lock, without copying names:
    /// for figures over all workers (keep `f` short: shares wait on it).
    pub fn fold_workers<T>(&self, init: T, mut f: impl FnMut(T, &str, &WorkerStats) -> T) -> T {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.iter().fold(init, |acc, (k, v)| f(acc, k, v))
    }

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
        {
            let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
            rates.0.add(difficulty.raw(), now_ms);
            rates.1 = rates.1.saturating_add(difficulty.raw());
        }
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let bump = |w: &mut WorkerStats| {
            w.shares += 1;
            w.work = w.work.saturating_add(difficulty.raw());
            w.last_ms = now_ms;
            w.rates.add(difficulty.raw(), now_ms);
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
        // The first share starts the worker's clock; its work, done before
        // the clock ran, would read as a burst.
        let w = WorkerStats {
            shares: 1,
            work: difficulty.raw(),
            first_ms: now_ms,
            last_ms: now_ms,
            rates: Hashrate::starting_at(now_ms),
        };
        workers.insert(worker.to_owned(), w);
    }

    /// Per-worker figures, sorted by worker name.
    pub fn workers(&self) -> Vec<(String, WorkerStats)> {
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Work at a steady rate reads as that rate in every window, from
        /// a young meter to one many windows old, whatever the spacing.
        #[test]
        fn a_steady_rate_reads_as_itself(
            rate in 1u64..1_000_000_000_000,
            spacing_ms in 100u64..20_000,
            shares in 30u64..3_000,
        ) {
            let mut meter = Hashrate::starting_at(0);
            let work = u128::from(rate) * u128::from(spacing_ms) / 1000;
            for i in 1..=shares {
                meter.add(work, i * spacing_ms);
            }
            let now = shares * spacing_ms;
            let expected = work as f64 * 1000.0 / spacing_ms as f64;
            for (window, got) in HASHRATE_WINDOWS_SECS.iter().zip(meter.rates(now)) {
                // Shares a window holds: the fewer, the noisier a decaying
                // sum of them is (a share's arrival steps it).
                let held = ((window * 1000) as f64 / spacing_ms as f64).min(shares as f64);
                let tolerance = 1.5 / held.max(1.0) + 0.01;
                prop_assert!(
                    (got / expected - 1.0).abs() <= tolerance,
                    "window {}: {} vs {} (tolerance {})", window, got, expected, tolerance
                );
            }
        }

        /// Silence after work lowers the short windows first; no rate is
        /// ever negative or not a number.
        #[test]
        fn silence_decays_short_windows_first(work in 1u128..1_000_000_000, quiet_s in 1u64..100_000) {
            let mut meter = Hashrate::starting_at(0);
            for i in 1..=600u64 {
                meter.add(work, i * 1000);
            }
            let later = meter.rates(600_000 + quiet_s * 1000);
            prop_assert!(later.iter().all(|r| r.is_finite() && *r >= 0.0));
            prop_assert!(later[0] <= later[1] + 1e-9 * later[1].max(1.0));
            prop_assert!(later[1] <= later[2] + 1e-9 * later[2].max(1.0));
        }
    }

    #[test]
    fn server_counts_every_accepted_share_in_its_rate() {
        let stats = ServerStats::default();
        let d = Difficulty::from_raw(1 << 32);
        for i in 0..60u64 {
            stats.accept("a.rig", d, i * 1000);
            stats.accept("b", d, i * 1000);
        }
        let workers = stats.workers();
        assert_eq!(workers.len(), 2);
        let now = 60_000;
        let a = workers[0].1.rates.rates(now)[0];
        let b = workers[1].1.rates.rates(now)[0];
        assert!((a - b).abs() < 1e-6 * a, "same work, same rate");
        // The server's meter started at 0 and saw both workers.
        let server = {
            let meter = stats.rates.lock().unwrap_or_else(|e| e.into_inner());
            meter.0.rates(now)[0]
        };
        assert!(
            (server / (a + b) - 1.0).abs() < 0.05,
            "{server} vs {}",
            a + b
        );
        assert_eq!(stats.worker_count(), 2);
        assert_eq!(stats.work_total(), 120 << 32);
        stats.accept("a", d, 60_000);
        stats.accept("ab.rig", d, 60_000);
        let of_a: Vec<String> = stats.workers_of("a").into_iter().map(|(k, _)| k).collect();
        assert_eq!(of_a, ["a", "a.rig"], "not ab.rig");
        let shares = stats.fold_workers(0, |n, _, w| n + w.shares);
        assert_eq!(shares, 122);
    }

    #[test]
    fn a_new_workers_first_share_is_no_burst() {
        let stats = ServerStats::default();
        let d = Difficulty::from_raw(1 << 40);
        stats.accept("late", d, 3_600_000);
        let (_, w) = &stats.workers()[0];
        // Its work was done before its clock started: nothing to rate yet.
        assert_eq!(w.rates.rates(3_601_000), [0.0; 4]);
        // Ten seconds of shares later, the rate is the rate.
        for i in 1..=10u64 {
            stats.accept("late", d, 3_600_000 + i * 1000);
        }
        let (_, w) = &stats.workers()[0];
        let one_minute = w.rates.rates(3_610_000)[0];
        let per_second = (1u64 << 40) as f64;
        assert!((one_minute / per_second - 1.0).abs() < 0.1, "{one_minute}");
    }
}
