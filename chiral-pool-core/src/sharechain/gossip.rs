//! How links travel: pushed to every member of a pool at once (a gossip
//! topic per pool), and fetched by id from the peer that forwarded a
//! child whose ancestor is missing.
//!
//! Polling a DHT index is too slow for links a few seconds apart (a late
//! link is a stale link); the [`RecordStore`](crate::store::RecordStore)
//! keeps discovery, storage and a fresh node's sync. Backends: libp2p
//! gossipsub with request-response in `chiral-pool-dht`, and an in-process
//! hub there for tests.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::link::{Certified, Link};
use super::pending::Origin;
use crate::ids::{LinkId, PoolId};

/// Why a gossip operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GossipError {
    /// No peer to send to or ask.
    #[error("no peer to reach")]
    NoPeers,
    /// The peer did not answer in time.
    #[error("peer did not answer in time")]
    Timeout,
    /// The link does not encode within the limits.
    #[error("link does not encode: {0}")]
    Encoding(String),
    /// The backend has stopped.
    #[error("gossip backend stopped")]
    Stopped,
    /// Anything else the transport reports.
    #[error("gossip: {0}")]
    Transport(String),
}

/// What this node made of a link a peer pushed: whether it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid: forward it to the other members.
    Accept,
    /// Breaks a rule: do not forward; the sender loses standing.
    Reject,
    /// Not judged yet or a duplicate: do not forward, no penalty.
    Ignore,
}

/// A handle for reporting the verdict on one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// A link pushed by a peer, waiting for this node's verdict.
#[derive(Debug, Clone)]
pub struct IncomingLink {
    /// The decoded link (not yet proven).
    pub link: Link,
    /// The peer that forwarded it: ask it for missing ancestors.
    pub origin: Origin,
    /// Report the verdict with this.
    pub ticket: Ticket,
}

/// Push and pull of links for the pools a node is a member of.
#[async_trait]
pub trait LinkGossip: Send + Sync {
    /// Joins `pool`'s topic; links other members push arrive on the
    /// receiver (bounded: a slow reader loses messages, which fetches
    /// recover).
    async fn join(&self, pool: PoolId) -> Result<mpsc::Receiver<IncomingLink>, GossipError>;

    /// Pushes a link this node mined to `pool`'s members.
    async fn publish(&self, pool: PoolId, link: &Link) -> Result<(), GossipError>;

    /// Reports the verdict on a received link: only accepted links travel
    /// on, so a node forwards only what it validated.
    async fn report(&self, ticket: Ticket, acceptance: Acceptance);

    /// Asks `origin` for link `id`; `Ok(None)` if it does not hold it.
    /// Answers within the backend's request timeout (about 1 s), so one
    /// unresponsive peer cannot stall a sync.
    async fn fetch(&self, origin: Origin, id: LinkId) -> Result<Option<Link>, GossipError>;

    /// Serves fetches from peers: the backend calls `lookup` for each
    /// request. Set once, by the node that holds the chain.
    async fn serve(&self, lookup: LinkLookup) -> Result<(), GossipError>;
}

/// Whether a replica keeps a peer's link record (the replica rule): given
/// the link's pool and what [`Link::certify`] found, a member keeps a
/// link whose parent is within the uncle depth of a tip it knows, so
/// links on invented or deep ancestors cannot fill its store.
pub type LinkAdmission = std::sync::Arc<dyn Fn(&PoolId, &Certified) -> bool + Send + Sync>;

/// What a node answers when a peer asks for a link by id.
pub type LinkLookup = std::sync::Arc<dyn Fn(&LinkId) -> Option<Link> + Send + Sync>;
