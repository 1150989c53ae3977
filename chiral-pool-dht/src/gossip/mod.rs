//! Links pushed to a pool's members and fetched by id: the
//! [`LinkGossip`](chiral_pool_core::sharechain::gossip::LinkGossip)
//! backends.
//!
//! - [`KadStore`](crate::KadStore) runs libp2p gossipsub (one topic per
//!   pool, message id = link id, every message validated by the node before
//!   it is forwarded, peer scoring on) and a request-response protocol for
//!   links by id, with a one-second request timeout;
//! - [`GossipHub`] does the same in one process, with partitions, for
//!   tests.

mod codec;
mod hub;

pub use codec::{LinkCodec, LINK_PROTOCOL};
pub use hub::{GossipHub, HubGossip};

use chiral_pool_core::ids::PoolId;

/// The gossipsub topic of a pool's links.
pub fn topic_name(pool: &PoolId) -> String {
    format!("/chiral/links/1/{}", pool.to_hex())
}
