//! Configuration of a Kademlia node.

use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
use std::time::Duration;

use std::path::PathBuf;
use std::sync::Arc;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::record::MAX_RECORD_BYTES;
use chiral_pool_core::store::{SharedClock, SystemClock};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, StreamProtocol};

/// The Kademlia protocol name of chiral-pool: our own, so chiral nodes never
/// mix routing tables with the IPFS DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/chiral/kad/1.0.0");
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/chiral/id/1.0.0";

/// Settings of a [`KadStore`](super::KadStore). Build with [`KadConfig::new`]
/// and adjust fields; every default is documented on its field.
#[derive(Debug, Clone)]
pub struct KadConfig {
    /// The node's key: its libp2p peer id and its record-signing key are
    /// the same ed25519 key. Default: a fresh random key.
    pub keypair: Keypair,
    /// Address to listen on. Default: `/ip4/127.0.0.1/tcp/0`.
    pub listen: Multiaddr,
    /// Addresses others should dial us at (announced in provider records
    /// and identify). Default: none, which announces the listen addresses.
    pub external_addresses: Vec<Multiaddr>,
    /// Peers to join through, each ending in `/p2p/<peer id>`. Default: none.
    pub bootstrap: Vec<Multiaddr>,
    /// Kademlia `k`: how many closest peers hold each record. Default: 20.
    pub replication_factor: NonZeroUsize,
    /// Time limit of one Kademlia query. Default: 10 s.
    pub query_timeout: Duration,
    /// Time limit of one call on the handle, queueing included. Default: 15 s.
    pub operation_timeout: Duration,
    /// Records held locally. Default: 65,536 (kad's default of 1,024 is
    /// too few for share batches of busy pools).
    pub max_records: usize,
    /// Providers held per key. Default: 4,096 (kad's default is `k` = 20,
    /// which would cap the pool directory at 20 publishers).
    pub max_providers_per_key: usize,
    /// Keys this node provides. Default: 4,096.
    pub max_provided_keys: usize,
    /// How long provider records live on other nodes. Default: 1 h.
    pub provider_ttl: Duration,
    /// How often this node re-announces what it provides. Default: 20 min.
    pub provider_republish: Duration,
    /// Queue of commands from handles to the node task. Default: 256.
    pub command_buffer: usize,
    /// Connections idle for this long are closed. Default: 120 s.
    pub idle_connection_timeout: Duration,
    /// Strikes that ban a peer: it is disconnected, dropped from the
    /// routing table and its records and connections are refused for
    /// [`ban_duration`](Self::ban_duration). A strike is one forged record
    /// (bad encoding, signature or key binding, a lifetime beyond the
    /// 48 h bound plus [`clock_skew_tolerance`](Self::clock_skew_tolerance)).
    /// Expired records, and records expiring too far ahead by no more than
    /// the tolerance, are dropped without a strike: honest peers send them
    /// around an expiry. Unforgiven strikes decay, see
    /// [`strike_decay`](Self::strike_decay). Default: 3.
    pub max_invalid_records: u32,
    /// Clock difference tolerated between this node and its peers: a
    /// record whose expiry is further ahead than the 48 h bound by at most
    /// this much is dropped without a strike (the sender's clock is ahead).
    /// Whole seconds count. Default: 30 s.
    pub clock_skew_tolerance: Duration,
    /// One strike of a peer is forgiven per this period without a new
    /// one, so occasional bad records never add up to a ban. Zero forgives
    /// every strike at once (only `max_invalid_records` of 1 then bans).
    /// Default: 10 min.
    pub strike_decay: Duration,
    /// How long a ban lasts; the peer then starts again with no strikes
    /// and may reconnect. Default: 1 h.
    pub ban_duration: Duration,
    /// While the routing table holds fewer than `replication_factor` peers,
    /// re-run the Kademlia bootstrap this often, so nodes that joined in a
    /// burst still find each other (kad's own periodic bootstrap runs every
    /// 5 min). Each round that finds no new peer doubles the wait, up to
    /// 64 times this; a new peer brings it back. A network smaller than
    /// `replication_factor` thus stops paying for lookups that cannot find
    /// anyone. Default: 2 s.
    pub small_table_bootstrap: Duration,
    /// Shards of the pool directory's provider set. A Kademlia node answers
    /// a provider lookup with at most `k` (20) providers, so one key cannot
    /// list more than that; each member advertises under one shard chosen
    /// by its key and readers query every shard. Capacity is about
    /// `20 x shards` members. Default: 32. Every node of a network must use
    /// the same.
    pub set_shards: u16,
    /// Shards of each share slot's publisher set, sharded the same way:
    /// about `20 x shards` nodes can publish shares for one pool in one
    /// slot, and a reader pays this many provider lookups per slot.
    /// Default: 4. Every node of a network must use the same.
    pub slot_set_shards: u16,
    /// Directory of the durable record store (`records.redb`): records this
    /// node holds survive a restart. Default: none (memory only).
    pub data_dir: Option<PathBuf>,
    /// Wall clock used to check record expiry. Default: the system clock.
    pub clock: SharedClock,
    /// libp2p's own metrics (connections, Kademlia queries and requests,
    /// identify, gossipsub), recorded into the registry they were made
    /// with. Default: none. Set with [`KadConfig::with_metrics`].
    #[cfg(feature = "metrics")]
    pub metrics: Option<DhtMetrics>,
}

/// libp2p's metrics of one node, registered in a caller's
/// [`prometheus_client`] registry (under the `libp2p_` prefix), so a
/// program serves them beside its own from one `/metrics` endpoint.
#[cfg(feature = "metrics")]
#[derive(Clone)]
pub struct DhtMetrics(pub(crate) Arc<libp2p::metrics::Metrics>);

#[cfg(feature = "metrics")]
impl DhtMetrics {
    /// Registers libp2p's metrics in `registry`.
    pub fn new(registry: &mut prometheus_client::registry::Registry) -> Self {
        DhtMetrics(Arc::new(libp2p::metrics::Metrics::new(registry)))
    }
}

#[cfg(feature = "metrics")]
impl std::fmt::Debug for DhtMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DhtMetrics")
    }
}

/// Kademlia's k, the replicas of each record (checked at compile time).
const DEFAULT_REPLICATION: NonZeroUsize = match NonZeroUsize::new(20) {
    Some(k) => k,
    None => panic!("k is above zero"),
};

impl KadConfig {
    /// Defaults with a fresh random key.
    pub fn new() -> Self {
        KadConfig {
            keypair: Keypair::generate(),
            listen: Multiaddr::from(Ipv4Addr::LOCALHOST).with(Protocol::Tcp(0)),
            external_addresses: Vec::new(),
            bootstrap: Vec::new(),
            replication_factor: DEFAULT_REPLICATION,
            query_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(15),
            max_records: 65_536,
            max_providers_per_key: 4_096,
            max_provided_keys: 4_096,
            provider_ttl: Duration::from_secs(3600),
            provider_republish: Duration::from_secs(20 * 60),
            command_buffer: 256,
            idle_connection_timeout: Duration::from_secs(120),
            max_invalid_records: 3,
            clock_skew_tolerance: Duration::from_secs(30),
            strike_decay: Duration::from_secs(10 * 60),
            ban_duration: Duration::from_secs(3600),
            small_table_bootstrap: Duration::from_secs(2),
            set_shards: 32,
            slot_set_shards: 4,
            data_dir: None,
            clock: Arc::new(SystemClock),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// The same settings, recording libp2p's metrics into `registry`.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.metrics = Some(DhtMetrics::new(registry));
        self
    }

    /// The same settings with another key.
    pub fn with_keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = keypair;
        self
    }

    /// The same settings with another clock (tests share a manual clock).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same settings with bootstrap peers.
    pub fn with_bootstrap(mut self, bootstrap: Vec<Multiaddr>) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// Largest Kademlia message: one record at [`MAX_RECORD_BYTES`] plus
    /// framing and the key, with headroom (kad's default is 16 KiB, too
    /// small for our 64 KiB records).
    pub(crate) fn max_packet_size(&self) -> usize {
        MAX_RECORD_BYTES * 2 + 4096
    }
}

impl Default for KadConfig {
    fn default() -> Self {
        Self::new()
    }
}
