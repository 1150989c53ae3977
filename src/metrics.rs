//! A node's Prometheus metrics, read live from the node's own counters at
//! each scrape: nothing is counted twice and the share path pays nothing
//! for them.
//!
//! Every label has a fixed, small set of values (reject reasons, hashrate
//! windows): per-miner and per-worker figures live in the JSON API only,
//! since anyone can mint addresses and grow a label set without bound.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::node::PoolNode;
use chiral_stratum::server::RejectReason;

/// The hashrate windows' label values, in the order of
/// [`HASHRATE_WINDOWS_SECS`](chiral_stratum::server::HASHRATE_WINDOWS_SECS).
pub const WINDOW_LABELS: [&str; 4] = ["1m", "15m", "1h", "24h"];

/// Every metric the node exports under the `chiral_` prefix (counters get
/// `_total` appended), with its help text: what README lists.
pub const METRICS: &[(&str, &str)] = &[
    (
        "stratum_shares_accepted",
        "Shares the Stratum server accepted.",
    ),
    (
        "stratum_shares_rejected",
        "Shares the Stratum server rejected, by reason.",
    ),
    ("stratum_blocks_found", "Shares that were blocks."),
    ("stratum_connections", "Miner connections open."),
    (
        "stratum_connections_accepted",
        "Miner connections accepted.",
    ),
    ("stratum_workers", "Workers with accepted shares."),
    (
        "stratum_accepted_work_hashes",
        "Expected hashes behind the accepted shares: rate() of it is the hashrate.",
    ),
    (
        "stratum_hashrate_hashes_per_second",
        "Estimated hashrate of the accepted shares, by window.",
    ),
    ("sharechain_height", "Share chain height of the best tip."),
    ("sharechain_links", "Valid links held."),
    (
        "sharechain_pending",
        "Links waiting for an ancestor, a block or the clock.",
    ),
    (
        "sharechain_uncles",
        "Uncles cited by the best chain's last window.",
    ),
    ("sharechain_links_verified", "Links found valid."),
    ("sharechain_links_refused", "Links refused as invalid."),
    ("blocks_settled", "Blocks settled (any branch)."),
    ("dht_peers", "Peers in the Kademlia routing table."),
    (
        "dht_records_accepted",
        "Inbound records verified and stored.",
    ),
    (
        "dht_records_rejected",
        "Inbound records that failed verification.",
    ),
    ("dht_peers_banned", "Bans of peers for forged records."),
];

/// The node's collector: holds the node weakly (the node holds the
/// registry), and reports nothing once it is gone.
#[derive(Debug)]
pub struct NodeMetrics {
    node: Weak<PoolNode>,
}

impl NodeMetrics {
    /// A collector reading `node`.
    pub fn new(node: &Arc<PoolNode>) -> Self {
        NodeMetrics {
            node: Arc::downgrade(node),
        }
    }
}

fn help(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| h)
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, value: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help(name), None, metric.metric_type())?)
}

fn gauge<N>(encoder: &mut DescriptorEncoder, name: &str, value: N) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help(name), None, metric.metric_type())?)
}

impl Collector for NodeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(node) = self.node.upgrade() else {
            return Ok(());
        };
        let e = &mut encoder;
        if let Some((_, stats)) = node.stratum() {
            counter(
                e,
                "stratum_shares_accepted",
                stats.accepted.load(Ordering::Relaxed),
            )?;
            {
                let name = "stratum_shares_rejected";
                let mut family =
                    e.encode_descriptor(name, help(name), None, MetricType::Counter)?;
                for reason in RejectReason::ALL {
                    let labels = [("reason", reason.name())];
                    ConstCounter::new(stats.rejected(reason))
                        .encode(family.encode_family(&labels)?)?;
                }
            }
            counter(
                e,
                "stratum_blocks_found",
                stats.blocks.load(Ordering::Relaxed),
            )?;
            gauge(
                e,
                "stratum_connections",
                stats.connections_open.load(Ordering::Relaxed),
            )?;
            counter(
                e,
                "stratum_connections_accepted",
                stats.connections_total.load(Ordering::Relaxed),
            )?;
            gauge(e, "stratum_workers", stats.worker_count() as u64)?;
            {
                // A float counter: work outgrows u64 on a large pool.
                let name = "stratum_accepted_work_hashes";
                let metric = ConstCounter::new(stats.work_total() as f64);
                metric.encode(e.encode_descriptor(
                    name,
                    help(name),
                    None,
                    metric.metric_type(),
                )?)?;
            }
            {
                let name = "stratum_hashrate_hashes_per_second";
                let mut family = e.encode_descriptor(name, help(name), None, MetricType::Gauge)?;
                for (label, rate) in WINDOW_LABELS.iter().zip(stats.hashrate()) {
                    let labels = [("window", *label)];
                    ConstGauge::new(rate).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        if let Some(keeper) = node.links() {
            let chain = keeper.status();
            gauge(e, "sharechain_height", chain.height.unwrap_or(0))?;
            gauge(e, "sharechain_links", chain.links as u64)?;
            gauge(e, "sharechain_pending", chain.pending as u64)?;
            gauge(e, "sharechain_uncles", chain.uncles as u64)?;
            counter(e, "sharechain_links_verified", chain.verified)?;
            counter(e, "sharechain_links_refused", chain.rejected)?;
            gauge(e, "blocks_settled", keeper.settled_count() as u64)?;
        }
        let dht = node.store.stats().snapshot();
        gauge(e, "dht_peers", node.store.peer_count() as u64)?;
        counter(e, "dht_records_accepted", dht.records_accepted)?;
        counter(e, "dht_records_rejected", dht.records_rejected)?;
        counter(e, "dht_peers_banned", dht.peers_banned)?;
        Ok(())
    }
}
