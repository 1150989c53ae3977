//! What a node tells those who watch it: events as they happen (links
//! joining the share chain, blocks settled, shares accepted per miner,
//! hashrate samples) and the recent hashrate history a chart starts from.
//!
//! Events go out on a bounded broadcast channel: a watcher that falls
//! behind loses the oldest events (and is told how many), never slows the
//! node. Link events and per-miner share counts are built only while
//! someone watches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use super::lock;

/// Events a watcher may fall behind by before it loses the oldest.
pub const EVENT_QUEUE: usize = 1_024;
/// Hashrate samples kept: an hour at one every [`SAMPLE_EVERY`].
pub const HISTORY_SAMPLES: usize = 720;
/// How often the node samples its hashrate and its miners' share counts.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Most miners one [`SharesEvent`] lists (those with the most new shares).
pub const MAX_MINERS_PER_EVENT: usize = 256;

/// Something that happened on a node. Serialized with a `type` field
/// (`link`, `block`, `shares`, `hashrate`) beside the event's own.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeEvent {
    /// A link joined the share chain.
    Link(LinkEvent),
    /// A block was settled: its split is known here.
    Block(BlockEvent),
    /// Shares this node's Stratum server accepted since the last sample,
    /// per miner.
    Shares(SharesEvent),
    /// This node's hashrate now.
    Hashrate(HashrateSample),
}

/// A link that joined the share chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkEvent {
    /// Link id, hex.
    pub id: String,
    /// Share chain height (genesis is 0).
    pub height: u64,
    /// Its miner's payout id.
    pub payout: String,
    /// Uncles it cites.
    pub uncles: usize,
    /// Whether it is also a block.
    pub block: bool,
    /// Whether it is the best tip: when it joined, in an event (a link on
    /// a side branch, or an uncle to be, is not); now, in a list.
    pub best: bool,
    /// Its header's time, unix seconds.
    pub time: u32,
}

/// A settled block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockEvent {
    /// Block height.
    pub height: u32,
    /// The link that is the block, hex.
    pub link: String,
    /// Its finder's payout id.
    pub finder: String,
    /// Atoms its coinbase paid.
    pub reward: u64,
}

/// New accepted shares per miner since the previous sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharesEvent {
    /// Miner (payout id) and its new shares, sorted by miner; at most
    /// [`MAX_MINERS_PER_EVENT`].
    pub miners: Vec<MinerShares>,
    /// Miners with new shares left out of `miners`.
    pub more: usize,
}

/// One miner's new shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinerShares {
    /// Payout id.
    pub miner: String,
    /// Shares accepted since the previous sample.
    pub shares: u64,
    /// Shares accepted since the server started.
    pub total: u64,
}

/// The node's hashrate at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HashrateSample {
    /// Unix seconds.
    pub time: u64,
    /// Hashes per second over 1 m, 15 m, 1 h and 24 h; in JSON an object
    /// keyed by window (`{"1m": .., "15m": .., "1h": .., "24h": ..}`,
    /// whole hashes per second), like every hashrate the API gives.
    #[serde(serialize_with = "by_window")]
    pub hashrate: [f64; 4],
}

/// Rates over the four windows of
/// [`WINDOW_LABELS`](crate::metrics::WINDOW_LABELS), serialized as an
/// object keyed by window (`{"1m": .., "15m": .., "1h": .., "24h": ..}`),
/// each rounded to a whole hash per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ByWindow(pub(crate) [f64; 4]);

impl Serialize for ByWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (label, rate) in crate::metrics::WINDOW_LABELS.iter().zip(self.0) {
            map.serialize_entry(label, &rate.round())?;
        }
        map.end()
    }
}

fn by_window<S: serde::Serializer>(rates: &[f64; 4], serializer: S) -> Result<S::Ok, S::Error> {
    ByWindow(*rates).serialize(serializer)
}

/// A node's event channel, hashrate history and share-count baseline.
#[derive(Debug)]
pub struct NodeWatch {
    events: broadcast::Sender<NodeEvent>,
    history: Mutex<VecDeque<HashrateSample>>,
    /// Shares per miner at the last sample.
    counted: Mutex<BTreeMap<String, u64>>,
}

impl Default for NodeWatch {
    fn default() -> Self {
        NodeWatch {
            events: broadcast::channel(EVENT_QUEUE).0,
            history: Mutex::default(),
            counted: Mutex::default(),
        }
    }
}

impl NodeWatch {
    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Whether anyone receives events (build none otherwise).
    pub fn watched(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Sends `event` to every watcher.
    pub(crate) fn send(&self, event: NodeEvent) {
        // No receiver is not an error: nobody watches.
        let _ = self.events.send(event);
    }

    /// The hashrate samples kept, oldest first.
    pub fn history(&self) -> Vec<HashrateSample> {
        lock(&self.history).iter().copied().collect()
    }

    /// Keeps a hashrate sample (the oldest goes past
    /// [`HISTORY_SAMPLES`]) and sends it.
    pub fn sample(&self, sample: HashrateSample) {
        {
            let mut history = lock(&self.history);
            if history.len() == HISTORY_SAMPLES {
                history.pop_front();
            }
            history.push_back(sample);
        }
        self.send(NodeEvent::Hashrate(sample));
    }

    /// Forgets the counts: the next [`count_shares`](Self::count_shares)
    /// only sets the baseline (nobody watched in between).
    pub fn forget_counts(&self) {
        lock(&self.counted).clear();
    }

    /// Sends the miners whose share count grew since the last call, given
    /// every miner's count now (sorted by miner).
    pub fn count_shares(&self, now: BTreeMap<String, u64>) {
        let mut grown: Vec<MinerShares> = {
            let counted = lock(&self.counted);
            let baseline = counted.is_empty();
            now.iter()
                .filter(|_| !baseline)
                .filter_map(|(miner, &total)| {
                    let before = counted.get(miner).copied().unwrap_or(0);
                    (total > before).then(|| MinerShares {
                        miner: miner.clone(),
                        shares: total - before,
                        total,
                    })
                })
                .collect()
        };
        *lock(&self.counted) = now;
        if grown.is_empty() {
            return;
        }
        let more = grown.len().saturating_sub(MAX_MINERS_PER_EVENT);
        if more > 0 {
            // The busiest miners, listed by name.
            grown.sort_by(|a, b| b.shares.cmp(&a.shares).then(a.miner.cmp(&b.miner)));
            grown.truncate(MAX_MINERS_PER_EVENT);
            grown.sort_by(|a, b| a.miner.cmp(&b.miner));
        }
        self.send(NodeEvent::Shares(SharesEvent {
            miners: grown,
            more,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_counts_send_only_growth_and_stay_bounded() {
        let watch = NodeWatch::default();
        let mut rx = watch.subscribe();
        let counts = |n: u64, miners: usize| -> BTreeMap<String, u64> {
            (0..miners)
                .map(|i| (format!("m{i:04}"), n + i as u64))
                .collect()
        };
        // The first count is the baseline: nothing grew yet.
        watch.count_shares(counts(0, 3));
        assert!(rx.try_recv().is_err());
        watch.count_shares(counts(1, 3));
        let Ok(NodeEvent::Shares(first)) = rx.try_recv() else {
            panic!("no shares event");
        };
        assert_eq!(first.miners.len(), 3);
        assert_eq!(first.miners[2].shares, 1);
        assert_eq!(first.miners[2].total, 3);
        // Nothing grew: nothing is sent.
        watch.count_shares(counts(1, 3));
        assert!(rx.try_recv().is_err());
        // Many miners: the busiest are listed, the rest counted.
        watch.count_shares(counts(10, MAX_MINERS_PER_EVENT + 10));
        let Ok(NodeEvent::Shares(many)) = rx.try_recv() else {
            panic!("no shares event");
        };
        assert_eq!(many.miners.len(), MAX_MINERS_PER_EVENT);
        assert_eq!(many.more, 10);
        assert!(many.miners.windows(2).all(|w| w[0].miner < w[1].miner));
        assert!(many.miners.iter().any(|m| m.miner == "m0265"));
    }

    #[test]
    fn history_keeps_the_newest_samples() {
        let watch = NodeWatch::default();
        for time in 0..(HISTORY_SAMPLES as u64 + 5) {
            watch.sample(HashrateSample {
                time,
                hashrate: [1.0; 4],
            });
        }
        let history = watch.history();
        assert_eq!(history.len(), HISTORY_SAMPLES);
        assert_eq!(history[0].time, 5);
    }

    #[test]
    fn a_sample_reads_as_rates_keyed_by_window() {
        let sample = HashrateSample {
            time: 7,
            hashrate: [1.4, 15.5, 60.0, 0.0],
        };
        let json = serde_json::to_value(sample).expect("serializable");
        assert_eq!(
            json,
            serde_json::json!({"time": 7, "hashrate": {"1m": 1.0, "15m": 16.0, "1h": 60.0, "24h": 0.0}})
        );
    }
}
