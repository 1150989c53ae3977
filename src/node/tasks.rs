//! The node's background tasks: publishing accepted shares, following the
//! chain's tips, settling blocks and coordinating.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chiral_pool_core::ids::PoolId;
use chiral_pool_core::manager::PoolManager;
use chiral_pool_dht::KadStore;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::sink::Accepted;
use super::{tips, PoolNode};

/// Hands accepted shares to the manager (with their verdicts: no second
/// verification) and flushes a batch once it is full, at each block and
/// every second. A failed flush leaves the shares queued for the next.
pub(super) async fn publish_shares(
    manager: Arc<PoolManager<KadStore>>,
    pool: PoolId,
    mut shares: mpsc::Receiver<Accepted>,
    mut stop: watch::Receiver<bool>,
) {
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        let due = tokio::select! {
            accepted = shares.recv() => {
                let Some((share, verified)) = accepted else { break };
                let is_block = verified.is_block;
                match manager.queue_verified(share, verified) {
                    Ok(full) => full || is_block,
                    Err(e) => {
                        // Only a share that is not the verdict's, or a pool
                        // the manager does not track: a bug, not the network.
                        warn!(error = %e, "accepted share not queued for publication");
                        false
                    }
                }
            }
            _ = flush.tick() => true,
            _ = stop.changed() => break,
        };
        if due {
            if let Err(e) = manager.flush_shares(&pool).await {
                warn!(error = %e, "publishing shares failed; they stay queued");
            }
        }
    }
    // The server stopped before this task: what it confirmed still goes out.
    shares.close();
    while let Some((share, verified)) = shares.recv().await {
        if let Err(e) = manager.queue_verified(share, verified) {
            warn!(error = %e, "accepted share not queued for publication");
        }
    }
    if let Err(e) = manager.flush_shares(&pool).await {
        warn!(error = %e, "publishing the last shares failed");
    }
}

/// Tells the manager about each new tip, then persists it (off the
/// runtime's threads): a tip is known before anything waits on a disk for
/// it.
pub(super) async fn follow_tips(node: Arc<PoolNode>, mut stop: watch::Receiver<bool>) {
    for t in &node.history {
        let _ = node.manager.add_tip(t.prev_hash, t.bits);
    }
    let file = node.config.data_dir.as_ref().map(|d| d.join(tips::FILE));
    let mut tips = node.chain.tip();
    loop {
        let tip = *tips.borrow_and_update();
        if let Err(e) = node.manager.add_tip(tip.prev_hash, tip.bits) {
            warn!(error = %e, "invalid tip");
        }
        if let Some(f) = file.clone() {
            match tokio::task::spawn_blocking(move || tips::append(&f, &tip)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "tip not persisted"),
                Err(e) => warn!(error = %e, "tip writer failed"),
            }
        }
        tokio::select! {
            changed = tips.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
        }
    }
}

/// Reads the lookback's share batches (statistics: who mines how much;
/// payouts come from the share chain) and prunes the journal of shares
/// older than the lookback.
pub(super) async fn read_shares(
    node: Arc<PoolNode>,
    pool: PoolId,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(node.config.poll_interval);
    let mut prune = tokio::time::interval(node.config.lookback.max(Duration::from_secs(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = prune.tick() => {
                node.prune_journal().await;
                continue;
            }
            _ = stop.changed() => break,
        }
        let now = node.config.clock.now();
        let from = now.saturating_sub(node.config.lookback.as_secs());
        let page = match node
            .manager
            .get_shares_for_pool(&pool, from, now + 60)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                debug!(error = %e, "fetching shares failed");
                continue;
            }
        };
        let c = &node.counters;
        c.shares_in_view
            .store(page.shares.len() as u64, Ordering::Relaxed);
        c.rejected_in_view
            .store(page.rejected as u64, Ordering::Relaxed);
        c.pending_in_view
            .store(page.pending as u64, Ordering::Relaxed);
    }
}

/// Samples the Stratum server's hashrate and its miners' share counts
/// every [`SAMPLE_EVERY`](super::SAMPLE_EVERY), for the API's chart and
/// event stream.
pub(super) async fn sample(node: Arc<PoolNode>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(super::SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        // No chart of the time before the first share.
        let Some((_, stats)) = node
            .stratum()
            .filter(|(_, s)| s.accepted.load(Ordering::Relaxed) > 0)
        else {
            continue;
        };
        node.watch.sample(super::HashrateSample {
            time: node.config.clock.now(),
            hashrate: stats.hashrate(),
        });
        // Per-miner counts cost a pass over every worker: only for
        // watchers (the first count after a quiet spell is a baseline).
        if node.watch.watched() {
            node.watch.count_shares(super::shares_by_miner(&stats));
        } else {
            node.watch.forget_counts();
        }
    }
}

/// Republishes the node's signed records (announcement, directory entry)
/// before they expire. The share chain needs no coordinator: every node
/// builds on the best tip, submits every block and settles it itself.
pub(super) async fn republish(node: Arc<PoolNode>, mut stop: watch::Receiver<bool>) {
    let mut republish = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = republish.tick() => {
                if let Err(e) = node.manager.republish().await {
                    debug!(error = %e, "republish failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

impl PoolNode {
    /// Deletes journaled shares older than the lookback, on a blocking
    /// thread.
    async fn prune_journal(&self) {
        let Some(journal) = self.journal() else {
            return;
        };
        let since = super::lookback_start(&self.config);
        match tokio::task::spawn_blocking(move || journal.prune(since)).await {
            Ok(Ok(n)) => {
                self.counters.shares_pruned.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => warn!(error = %e, "journal not pruned"),
            Err(e) => warn!(error = %e, "journal pruner failed"),
        }
    }
}
