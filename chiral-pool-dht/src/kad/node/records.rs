//! What the node stores: its own puts and inbound records, each only if
//! it wins selection against the local copy, and strikes against peers
//! that send forged records.

use std::sync::atomic::Ordering;
use std::time::Instant;

use chiral_pool_core::record::{select_best, RecordKind, SignedRecord};
use chiral_pool_core::store::{PutReport, StoreError};
use libp2p::kad::{self, store::RecordStore as _};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::{Node, Reply};
use crate::kad::record::{expiry_instant, to_kad_record, verify_kad_record, Fault};
use crate::kad::strikes::Strike;

impl Node {
    /// A put from a handle: verified, selected against the local copy,
    /// stored and published.
    pub(super) fn put(&mut self, record: SignedRecord, reply: Reply<PutReport>) {
        let now = self.clock.now();
        if let Err(e) = record.verify(now) {
            let _ = reply.send(Err(StoreError::Rejected(e)));
            return;
        }
        // The same selection as for inbound records: an older version (or
        // a losing lease claim) must not replace the local copy, nor be
        // published over it.
        if let Some(local) = self.local_copy(&record, now) {
            if local != record && select_best([&local, &record], now) == Some(&local) {
                debug!(key = %record.key(), "put not stored: the local copy wins");
                let _ = reply.send(Ok(PutReport {
                    stored_locally: false,
                    peers: 0,
                }));
                return;
            }
        }
        let kad_record = to_kad_record(&record, now);
        if self.own_records.len() >= self.config.max_records {
            // Link records come one per own link: expired ones make room.
            let now = Instant::now();
            self.own_records
                .retain(|_, r| r.expires.is_none_or(|t| t > now));
        }
        if self.own_records.len() < self.config.max_records {
            self.own_records
                .insert(kad_record.key.clone(), kad_record.clone());
        }
        self.start_put(kad_record, reply);
    }

    /// A record a peer pushed to us: stored if it verifies and wins
    /// selection; dropped otherwise, with a strike if it is forged.
    pub(super) fn on_inbound_record(&mut self, source: PeerId, record: kad::Record) {
        if self.strikes.is_banned(&source, Instant::now()) {
            return;
        }
        let now = self.clock.now();
        match verify_kad_record(&record, now) {
            Ok(incoming) if !self.admits(&incoming) => {
                // Honest peers send links this node cannot place (a fork
                // it has not seen): not kept, no strike.
                debug!(%source, key = %incoming.key(), "link record not admitted");
            }
            Ok(incoming) => self.store_if_better(incoming, record, now),
            Err(error) => {
                let fault = error.fault(self.config.clock_skew_tolerance);
                debug!(%source, %error, ?fault, "dropped invalid inbound record");
                self.reject(source, fault);
            }
        }
    }

    /// The replica rule: a link record is kept only if the chain's
    /// admission says so (when one is set).
    fn admits(&self, record: &SignedRecord) -> bool {
        let Some(admission) = &self.link_admission else {
            return true;
        };
        match record.link_summary() {
            Some((pool, certified)) => admission(&pool, &certified),
            None => record.kind() != RecordKind::Link,
        }
    }

    /// The unexpired local copy under `record`'s key, if any.
    fn local_copy(&mut self, record: &SignedRecord, now: u64) -> Option<SignedRecord> {
        // Everything in the local store was verified on its way in (inbound
        // filter, own puts, reload from disk): decoding it is enough.
        let key = kad::RecordKey::new(&record.key().as_bytes());
        self.kad()
            .store_mut()
            .get(&key)
            .and_then(|r| SignedRecord::from_bytes(&r.value).ok())
            .filter(|r| r.expires_at() > now)
    }

    /// Stores a verified inbound record unless the local copy wins selection.
    fn store_if_better(&mut self, incoming: SignedRecord, mut record: kad::Record, now: u64) {
        if let Some(existing) = self.local_copy(&incoming, now) {
            if select_best([&existing, &incoming], now) == Some(&existing) {
                return;
            }
        }
        record.expires = Some(expiry_instant(incoming.expires_at(), now));
        match self.kad().store_mut().put(record) {
            Ok(()) => {
                self.stats.records_accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => debug!(error = %e, "inbound record not stored"),
        }
    }

    /// Counts an invalid record from `peer`; a forged one is a strike, and
    /// the strike that reaches the limit bans the peer.
    pub(super) fn reject(&mut self, peer: PeerId, fault: Fault) {
        self.stats.records_rejected.fetch_add(1, Ordering::Relaxed);
        if fault != Fault::Forged {
            return;
        }
        self.stats.peers_struck.fetch_add(1, Ordering::Relaxed);
        if self.strikes.strike(peer, Instant::now()) == Strike::Banned {
            warn!(%peer, "peer banned for forged records");
            self.stats.peers_banned.fetch_add(1, Ordering::Relaxed);
            self.kad().remove_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.publish_peer_count();
        }
    }
}
