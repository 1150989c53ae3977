//! Counters of a Kademlia node.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node, readable at any time.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Inbound records verified and stored.
    pub records_accepted: AtomicU64,
    /// Records from peers (pushed to us or fetched) that failed
    /// verification and were dropped: forged and stale ones alike.
    pub records_rejected: AtomicU64,
    /// Strikes against peers for forged records (stale records cost no
    /// strike).
    pub peers_struck: AtomicU64,
    /// Bans of peers for forged records (a peer banned again after its ban
    /// lifted counts again).
    pub peers_banned: AtomicU64,
}

/// The counters of a [`NodeStats`] at one moment.
///
/// ```
/// use chiral_pool_dht::kad::NodeStats;
/// let stats = NodeStats::default();
/// assert_eq!(stats.snapshot().peers_banned, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeStatsSnapshot {
    /// See [`NodeStats::records_accepted`].
    pub records_accepted: u64,
    /// See [`NodeStats::records_rejected`].
    pub records_rejected: u64,
    /// See [`NodeStats::peers_struck`].
    pub peers_struck: u64,
    /// See [`NodeStats::peers_banned`].
    pub peers_banned: u64,
}

impl NodeStats {
    /// The counters now (each read on its own, not as one transaction).
    pub fn snapshot(&self) -> NodeStatsSnapshot {
        NodeStatsSnapshot {
            records_accepted: self.records_accepted.load(Ordering::Relaxed),
            records_rejected: self.records_rejected.load(Ordering::Relaxed),
            peers_struck: self.peers_struck.load(Ordering::Relaxed),
            peers_banned: self.peers_banned.load(Ordering::Relaxed),
        }
    }
}
