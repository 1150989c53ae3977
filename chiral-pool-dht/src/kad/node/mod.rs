//! The node task: owns the swarm, serves commands, validates records.
//!
//! One concept per file: building the swarm ([`swarm`]), what the node
//! stores and whom it strikes ([`records`]), lookups in flight
//! ([`queries`]), sharded sets ([`sets`]) and the re-announcements of a
//! small, growing network ([`growth`]). This file holds the task's loop
//! and routes commands and events to them.

mod growth;
mod links;
mod queries;
mod records;
mod sets;
mod swarm;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::sharechain::gossip::{
    Acceptance, IncomingLink, LinkAdmission, LinkLookup, Ticket,
};
use chiral_pool_core::sharechain::{Link, Origin};
use chiral_pool_core::store::{PutReport, SharedClock, StoreError};
use futures::StreamExt;
use libp2p::kad::{self, InboundRequest, QueryId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info_span, Instrument};

use super::config::{KadConfig, KAD_PROTOCOL};
use super::durable::DurableKadStore;
use super::strikes::StrikeBook;
use super::{KadError, NodeStats};
use links::GossipReply;
use queries::Pending;
use sets::ProvidersGroup;
use swarm::{Behaviour, BehaviourEvent};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A request from a handle to the node task.
pub(super) enum Command {
    Put {
        record: SignedRecord,
        reply: Reply<PutReport>,
    },
    Get {
        key: RecordKey,
        reply: Reply<Vec<SignedRecord>>,
    },
    Provide {
        key: RecordKey,
        reply: Reply<()>,
    },
    Providers {
        key: RecordKey,
        reply: Reply<Vec<PublicKey>>,
    },
    Dial {
        addr: Multiaddr,
        reply: Reply<()>,
    },
    Peers {
        limit: usize,
        reply: Reply<Vec<super::PeerInfo>>,
    },
    JoinPool {
        pool: PoolId,
        inbox: mpsc::Sender<IncomingLink>,
        reply: GossipReply<()>,
    },
    PublishLink {
        pool: PoolId,
        link: Link,
        reply: GossipReply<()>,
    },
    ReportLink {
        ticket: Ticket,
        acceptance: Acceptance,
    },
    FetchLink {
        origin: Origin,
        id: LinkId,
        reply: GossipReply<Option<Link>>,
    },
    ServeLinks {
        lookup: LinkLookup,
    },
    AdmitLinks {
        admission: LinkAdmission,
    },
    Shutdown,
}

/// How often expired records are purged from the local store.
const PURGE_INTERVAL: Duration = Duration::from_secs(30);
/// Longest small-table bootstrap wait, as a multiple of the configured one.
const MAX_BOOTSTRAP_BACKOFF: u32 = 64;

pub(super) struct Node {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    peers: watch::Sender<usize>,
    stats: Arc<NodeStats>,
    pending: HashMap<QueryId, Pending>,
    groups: HashMap<u64, ProvidersGroup>,
    next_group: u64,
    /// Records this node published and keys it provides, re-announced
    /// while a small network grows (a record put with no peers would
    /// otherwise live on this node alone until kad's hourly replication).
    own_records: HashMap<kad::RecordKey, kad::Record>,
    provided: HashSet<kad::RecordKey>,
    announced_at_size: usize,
    /// Routing-table size at the last small-table bootstrap round.
    bootstrap_size: usize,
    strikes: StrikeBook,
    links: links::LinkRelay,
    /// The replica rule for link records, set by the node that holds the
    /// chain; without one, every link record that certifies is kept.
    link_admission: Option<LinkAdmission>,
    config: KadConfig,
    clock: SharedClock,
}

impl Node {
    /// Builds the swarm, binds the listen address and dials the bootstrap
    /// peers; the node then waits for [`run`](Self::run).
    pub(super) async fn start(
        config: KadConfig,
        commands: mpsc::Receiver<Command>,
        peers: watch::Sender<usize>,
        stats: Arc<NodeStats>,
    ) -> Result<(Node, PeerId, Vec<Multiaddr>), KadError> {
        let (swarm, listen) = swarm::build(&config).await?;
        let peer_id = *swarm.local_peer_id();
        let node = Node {
            swarm,
            commands,
            peers,
            stats,
            pending: HashMap::new(),
            groups: HashMap::new(),
            next_group: 0,
            own_records: HashMap::new(),
            provided: HashSet::new(),
            announced_at_size: 0,
            bootstrap_size: 0,
            strikes: StrikeBook::new(
                config.max_invalid_records,
                config.strike_decay,
                config.ban_duration,
            ),
            links: links::LinkRelay::default(),
            link_admission: None,
            clock: config.clock.clone(),
            config,
        };
        Ok((node, peer_id, listen))
    }

    /// Serves commands and swarm events until a shutdown command or the
    /// last handle is dropped.
    pub(super) async fn run(mut self) {
        let span = info_span!("kad_node", peer = %self.swarm.local_peer_id());
        async move {
            let mut purge = tokio::time::interval(PURGE_INTERVAL);
            let base = self
                .config
                .small_table_bootstrap
                .max(Duration::from_millis(100));
            let mut backoff = base;
            let rebootstrap = tokio::time::sleep(base);
            tokio::pin!(rebootstrap);
            loop {
                tokio::select! {
                    cmd = self.commands.recv() => match cmd {
                        Some(Command::Shutdown) | None => break,
                        Some(cmd) => self.on_command(cmd),
                    },
                    event = self.swarm.select_next_some() => self.on_swarm_event(event),
                    _ = purge.tick() => self.purge_expired(),
                    () = &mut rebootstrap => {
                        backoff = if self.bootstrap_if_small() {
                            base
                        } else {
                            (backoff * 2).min(base * MAX_BOOTSTRAP_BACKOFF)
                        };
                        rebootstrap.as_mut().reset(tokio::time::Instant::now() + backoff);
                    }
                }
            }
            debug!("node stopped");
        }
        .instrument(span)
        .await
    }

    fn kad(&mut self) -> &mut kad::Behaviour<DurableKadStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    fn routing_table_size(&mut self) -> usize {
        self.kad().kbuckets().map(|b| b.num_entries()).sum()
    }

    /// The routing table's peers in peer id order, at most `limit`, each
    /// with at most [`super::MAX_PEER_ADDRESSES`] addresses.
    fn routing_table(&mut self, limit: usize) -> Vec<super::PeerInfo> {
        let mut peers: Vec<super::PeerInfo> = Vec::new();
        for bucket in self.kad().kbuckets() {
            for entry in bucket.iter() {
                peers.push(super::PeerInfo {
                    peer_id: *entry.node.key.preimage(),
                    addresses: entry
                        .node
                        .value
                        .iter()
                        .take(super::MAX_PEER_ADDRESSES)
                        .cloned()
                        .collect(),
                    connected: entry.status == kad::NodeStatus::Connected,
                });
            }
        }
        peers.sort_by_key(|p| p.peer_id);
        peers.truncate(limit);
        peers
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Put { record, reply } => self.put(record, reply),
            Command::Get { key, reply } => self.start_get(key, reply),
            Command::Provide { key, reply } => self.provide(key, reply),
            Command::Providers { key, reply } => self.start_members(key, reply),
            Command::Dial { addr, reply } => {
                let result = match addr.iter().last() {
                    Some(Protocol::P2p(peer)) => {
                        let mut bare = addr.clone();
                        bare.pop();
                        self.kad().add_address(&peer, bare);
                        self.swarm
                            .dial(addr)
                            .map_err(|e| StoreError::Unreachable(e.to_string()))
                    }
                    _ => Err(StoreError::Unreachable(format!(
                        "address {addr} has no /p2p/<peer id>"
                    ))),
                };
                let _ = reply.send(result);
            }
            Command::Peers { limit, reply } => {
                let _ = reply.send(Ok(self.routing_table(limit)));
            }
            Command::JoinPool { pool, inbox, reply } => self.join_pool(pool, inbox, reply),
            Command::PublishLink { pool, link, reply } => self.publish_link(pool, link, reply),
            Command::ReportLink { ticket, acceptance } => self.report_link(ticket, acceptance),
            Command::FetchLink { origin, id, reply } => self.fetch_link(origin, id, reply),
            Command::ServeLinks { lookup } => self.serve_links(lookup),
            Command::AdmitLinks { admission } => self.link_admission = Some(admission),
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.config.metrics {
            record_metrics(&metrics.0, &event);
        }
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if self.strikes.is_banned(&peer_id, Instant::now()) {
                    return;
                }
                // Inbound peers are not added to the routing table by kad;
                // identify tells us where they listen.
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for addr in info.listen_addrs {
                        self.kad().add_address(&peer_id, addr);
                    }
                    self.publish_peer_count();
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Links(event)) => {
                self.on_link_request_event(event)
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. }
                if self.strikes.is_banned(&peer_id, Instant::now()) =>
            {
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            _ => {}
        }
    }

    fn on_kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => self.on_inbound_record(source, record),
            kad::Event::InboundRequest {
                request:
                    InboundRequest::AddProvider {
                        record: Some(provider),
                    },
            } => self.on_inbound_provider(provider),
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => self.on_query(id, result, step.last),
            kad::Event::RoutingUpdated { .. } => self.publish_peer_count(),
            _ => {}
        }
    }

    fn publish_peer_count(&mut self) {
        let n = self.routing_table_size();
        self.peers.send_replace(n);
    }

    fn purge_expired(&mut self) {
        let now = Instant::now();
        self.kad()
            .store_mut()
            .retain(|_, r| r.expires.is_none_or(|t| t > now));
        self.strikes.prune(now);
    }
}

/// Records a swarm event, and the behaviour event inside it, in libp2p's
/// metrics.
#[cfg(feature = "metrics")]
fn record_metrics(metrics: &libp2p::metrics::Metrics, event: &SwarmEvent<BehaviourEvent>) {
    use libp2p::metrics::Recorder;
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => metrics.record(e),
        _ => {}
    }
    metrics.record(event);
}
