//! A small network growing: while the routing table holds fewer than `k`
//! peers the node keeps bootstrapping, and each time it grows the node
//! puts its own records and provider keys again, so they reach the peers
//! that joined after they were published.

use std::time::Instant;

use libp2p::kad::{self, Quorum};

use super::Node;

impl Node {
    /// Bootstraps while the routing table is below `k`; true if the table
    /// grew since the last round (so the next round comes soon).
    pub(super) fn bootstrap_if_small(&mut self) -> bool {
        let size = self.routing_table_size();
        if size > 0 && size < self.config.replication_factor.get() {
            // Fails only with no known peers, which `size > 0` rules out.
            let _ = self.kad().bootstrap();
        }
        let grew = size != self.bootstrap_size;
        self.bootstrap_size = size;
        if size > self.announced_at_size
            && self.announced_at_size < self.config.replication_factor.get()
        {
            self.announced_at_size = size;
            self.reannounce();
        }
        grew
    }

    /// Puts our unexpired records and provider keys to the (grown) network
    /// again. Results are not awaited: no handle is waiting for them.
    fn reannounce(&mut self) {
        let now = Instant::now();
        self.own_records
            .retain(|_, r| r.expires.is_none_or(|t| t > now));
        let records: Vec<kad::Record> = self.own_records.values().cloned().collect();
        let keys: Vec<kad::RecordKey> = self.provided.iter().cloned().collect();
        for r in records {
            let _ = self.kad().put_record(r, Quorum::One);
        }
        for k in keys {
            let _ = self.kad().start_providing(k);
        }
    }
}
