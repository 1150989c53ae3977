//! What a node stores for its pool besides gossip: its own links and
//! checkpoints as records, the pool's parameters (every member
//! republishes them), and the replica rule for peers' link records.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::record::SignedRecord;
use chiral_pool_core::sharechain::gossip::LinkGossip;
use chiral_pool_core::sharechain::{Certified, Link, ShareChain};
use chiral_pool_core::store::RecordStore;
use tracing::{debug, warn};

use super::{LinkKeeper, PARAMS_TTL_SECS};
use crate::node::lock;

/// The links near the best tip, as the replica rule reads them: a copy
/// behind its own small lock, refreshed on every new tip, so the Kademlia
/// task never waits for the chain's lock.
#[derive(Debug, Default)]
pub(in crate::node) struct NearTip(Mutex<Arc<HashSet<LinkId>>>);

impl NearTip {
    /// Refreshes from `chain`: the links within its uncle depth of the
    /// best tip.
    pub(super) fn update(&self, chain: &ShareChain) {
        let depth = u64::from(chain.params().uncle_depth);
        let ids: HashSet<LinkId> = chain.recent(depth).into_iter().collect();
        *lock(&self.0) = Arc::new(ids);
    }

    fn contains(&self, id: &LinkId) -> bool {
        let ids = lock(&self.0).clone();
        ids.contains(id)
    }
}

impl LinkKeeper {
    /// Pushes an own link that joined the chain to the pool's members, then
    /// stores its records for nodes that sync later.
    pub(super) fn push_own(&self, id: LinkId, link: Link) {
        let records = self.records_of(&id, &link);
        let (gossip, pool) = (self.gossip.clone(), self.pool);
        tokio::spawn(async move {
            if let Err(e) = gossip.publish(pool, &link).await {
                debug!(error = %e, "link not pushed (no member yet)");
            }
            for record in records {
                if let Err(e) = gossip.put(record).await {
                    debug!(error = %e, "link record not stored");
                }
            }
        });
    }

    /// The records of an own link: the link itself and, at a checkpoint
    /// link, its checkpoint (this node built on every ancestor it names).
    fn records_of(&self, id: &LinkId, link: &Link) -> Vec<SignedRecord> {
        let mut records = Vec::with_capacity(2);
        match SignedRecord::link(&self.carrier, &self.pool, link) {
            Ok(record) => records.push(record),
            Err(e) => debug!(error = %e, "own link makes no record"),
        }
        let checkpoint = lock(&self.chain).checkpoint(id);
        if let Some(checkpoint) = checkpoint {
            match SignedRecord::checkpoint(&self.carrier, &self.pool, &checkpoint) {
                Ok(record) => records.push(record),
                Err(e) => debug!(error = %e, "checkpoint makes no record"),
            }
        }
        records
    }

    /// Stores the pool's parameters record again (any member does).
    pub(super) fn republish_params(&self) {
        let expires = self.clock.now() + PARAMS_TTL_SECS;
        match SignedRecord::params(&self.carrier, &self.identity, expires) {
            Ok(record) => {
                let gossip = self.gossip.clone();
                tokio::spawn(async move {
                    if let Err(e) = gossip.put(record).await {
                        debug!(error = %e, "parameters record not stored");
                    }
                });
            }
            Err(e) => warn!(error = %e, "the pool's parameters make no record"),
        }
    }

    /// The replica rule for a peer's link or checkpoint record: for this
    /// pool, kept if the link or its parent is within the uncle depth of
    /// the best tip (links on invented or deep ancestors fill nothing);
    /// another pool's are kept on their own proof, which the store
    /// already checked (this node may be among their closest peers).
    pub(in crate::node) fn admits(&self, pool: &PoolId, link: &Certified) -> bool {
        if *pool != self.pool {
            return true;
        }
        self.near_tip.contains(&link.id())
            || link.parent().is_some_and(|p| self.near_tip.contains(&p))
    }
}
