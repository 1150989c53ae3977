//! The node task: owns the swarm, serves commands, validates records.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::{select_best, RecordKey, SignedRecord, MAX_RECORD_BYTES};
use chiral_pool_core::store::{PutReport, SharedClock, StoreError};
use futures::StreamExt;
use libp2p::kad::store::{MemoryStoreConfig, RecordStore as _};
use libp2p::kad::{
    self, GetProvidersOk, GetRecordOk, InboundRequest, PeerRecord, PutRecordError, QueryId,
    QueryResult, Quorum,
};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info_span, warn, Instrument};

use super::config::{KadConfig, IDENTIFY_PROTOCOL, KAD_PROTOCOL};
use super::durable::DurableKadStore;
use super::record::{expiry_instant, to_kad_record, verify_kad_record, Fault, InvalidRecord};
use super::strikes::{Strike, StrikeBook};
use super::{KadError, ListenError, NodeStats};

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
    Shutdown,
}

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    kad: kad::Behaviour<DurableKadStore>,
    identify: identify::Behaviour,
}

enum Pending {
    Get {
        key: RecordKey,
        found: Vec<SignedRecord>,
        /// Each distinct value seen in this lookup and, if it did not
        /// verify, what it says about its sender (at most one entry per
        /// answering peer).
        checked: Vec<(Vec<u8>, Option<Fault>)>,
        reply: Reply<Vec<SignedRecord>>,
    },
    Put {
        quorum: usize,
        reply: Reply<PutReport>,
    },
    Provide {
        reply: Reply<()>,
    },
    /// One shard of a members lookup; the group holds the union.
    Providers {
        group: u64,
    },
}

/// A members lookup over every shard of a set.
struct ProvidersGroup {
    found: BTreeSet<PublicKey>,
    remaining: usize,
    reply: Reply<Vec<PublicKey>>,
}

/// How long the node may take to report its listen address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
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
    config: KadConfig,
    clock: SharedClock,
}

impl Node {
    pub(super) async fn start(
        config: KadConfig,
        commands: mpsc::Receiver<Command>,
        peers: watch::Sender<usize>,
        stats: Arc<NodeStats>,
    ) -> Result<(Node, PeerId, Vec<Multiaddr>), KadError> {
        let identity = libp2p::identity::Keypair::ed25519_from_bytes(config.keypair.secret_bytes())
            .map_err(KadError::Key)?;
        let peer_id = identity.public().to_peer_id();
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config
            .set_query_timeout(config.query_timeout)
            .set_replication_factor(config.replication_factor)
            .set_record_filtering(kad::StoreInserts::FilterBoth)
            .set_max_packet_size(config.max_packet_size())
            .set_provider_record_ttl(Some(config.provider_ttl))
            .set_provider_publication_interval(Some(config.provider_republish));
        let store_config = MemoryStoreConfig {
            max_records: config.max_records,
            max_value_bytes: MAX_RECORD_BYTES,
            max_providers_per_key: config.max_providers_per_key,
            max_provided_keys: config.max_provided_keys,
        };
        let store = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| KadError::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                DurableKadStore::open(
                    &dir.join("records.redb"),
                    peer_id,
                    store_config,
                    config.clock.now(),
                )?
            }
            None => DurableKadStore::in_memory(peer_id, store_config),
        };
        let idle = config.idle_connection_timeout;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(KadError::Transport)?
            .with_behaviour(|key| {
                let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
                // Loopback and private addresses are never confirmed as
                // external, so automatic mode would leave us a client that
                // stores nothing.
                kad.set_mode(Some(kad::Mode::Server));
                Behaviour {
                    kad,
                    identify: identify::Behaviour::new(identify::Config::new(
                        IDENTIFY_PROTOCOL.to_owned(),
                        key.public(),
                    )),
                }
            })
            // The constructor cannot fail: its error type is `Infallible`.
            .unwrap_or_else(|never| match never {})
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();

        swarm
            .listen_on(config.listen.clone())
            .map_err(|e| KadError::Listen {
                addr: config.listen.clone(),
                source: e.into(),
            })?;
        let listen = loop {
            let failed = match tokio::time::timeout(LISTEN_TIMEOUT, swarm.select_next_some()).await
            {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => break vec![address],
                Ok(SwarmEvent::ListenerError { error, .. }) => ListenError::Io(error),
                Ok(SwarmEvent::ListenerClosed { reason, .. }) => match reason {
                    Err(error) => ListenError::Io(error),
                    Ok(()) => ListenError::Closed,
                },
                Ok(_) => continue,
                Err(_) => ListenError::Timeout(LISTEN_TIMEOUT),
            };
            return Err(KadError::Listen {
                addr: config.listen.clone(),
                source: failed,
            });
        };

        // Provider records carry the provider's external addresses; with
        // none, nodes that do not have the provider in their routing table
        // drop it from GET_PROVIDERS answers. Advertise what we listen on
        // unless told otherwise.
        let external = if config.external_addresses.is_empty() {
            listen.clone()
        } else {
            config.external_addresses.clone()
        };
        for addr in external {
            swarm.add_external_address(addr);
        }

        for addr in &config.bootstrap {
            let Some(Protocol::P2p(peer)) = addr.iter().last() else {
                return Err(KadError::BootstrapAddress(addr.clone()));
            };
            let mut bare = addr.clone();
            bare.pop();
            swarm.behaviour_mut().kad.add_address(&peer, bare);
            if let Err(e) = swarm.dial(addr.clone()) {
                warn!(%addr, error = %e, "bootstrap dial failed");
            }
        }
        if !config.bootstrap.is_empty() {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }

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
            clock: config.clock.clone(),
            config,
        };
        Ok((node, peer_id, listen))
    }

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

    /// Shards of a set: the pool directory and a share slot's publishers
    /// can grow past k members and are sharded; other sets use one key, so
    /// reading them costs one lookup.
    fn shards_of(&self, set: &RecordKey) -> u16 {
        let key = set.as_str();
        if key.starts_with(chiral_pool_core::record::DIRECTORY_PREFIX) {
            self.config.set_shards.max(1)
        } else if key.starts_with(chiral_pool_core::record::SHARE_PREFIX)
            && key.contains(":publishers:")
        {
            self.config.slot_set_shards.max(1)
        } else {
            1
        }
    }

    /// Bootstraps while the routing table is below `k`; true if the table
    /// grew since the last round (so the next round comes soon).
    fn bootstrap_if_small(&mut self) -> bool {
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

    fn kad(&mut self) -> &mut kad::Behaviour<DurableKadStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    fn routing_table_size(&mut self) -> usize {
        self.kad().kbuckets().map(|b| b.num_entries()).sum()
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::Put { record, reply } => {
                if let Err(e) = record.verify(now) {
                    let _ = reply.send(Err(StoreError::Rejected(e)));
                    return;
                }
                // The same selection as for inbound records: an older
                // version (or a losing lease claim) must not replace the
                // local copy, nor be published over it.
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
                if self.own_records.len() < self.config.max_records {
                    self.own_records
                        .insert(kad_record.key.clone(), kad_record.clone());
                }
                let peers = self.routing_table_size();
                if peers == 0 {
                    let result = self
                        .kad()
                        .store_mut()
                        .put(kad_record)
                        .map(|()| PutReport {
                            stored_locally: true,
                            peers: 0,
                        })
                        .map_err(|e| StoreError::Backend(e.to_string()));
                    let _ = reply.send(result);
                    return;
                }
                let quorum = peers.min(self.config.replication_factor.get()).max(1);
                let n = std::num::NonZeroUsize::new(quorum).unwrap_or(std::num::NonZeroUsize::MIN);
                match self.kad().put_record(kad_record, Quorum::N(n)) {
                    Ok(id) => {
                        self.pending.insert(id, Pending::Put { quorum, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                    }
                }
            }
            Command::Get { key, reply } => {
                let id = self.kad().get_record(kad::RecordKey::new(&key.as_bytes()));
                self.pending.insert(
                    id,
                    Pending::Get {
                        key,
                        found: Vec::new(),
                        checked: Vec::new(),
                        reply,
                    },
                );
            }
            Command::Provide { key, reply } => {
                let local = self.config.keypair.public();
                let shard = shard_key(&key, shard_of(&local, self.shards_of(&key)));
                if self.provided.len() < self.config.max_provided_keys {
                    self.provided.insert(shard.clone());
                }
                match self.kad().start_providing(shard) {
                    Ok(id) => {
                        self.pending.insert(id, Pending::Provide { reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(StoreError::Backend(e.to_string())));
                    }
                }
            }
            Command::Providers { key, reply } => {
                let group = self.next_group;
                self.next_group += 1;
                let shards = self.shards_of(&key);
                self.groups.insert(
                    group,
                    ProvidersGroup {
                        found: BTreeSet::new(),
                        remaining: shards as usize,
                        reply,
                    },
                );
                for shard in 0..shards {
                    let id = self.kad().get_providers(shard_key(&key, shard));
                    self.pending.insert(id, Pending::Providers { group });
                }
            }
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
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
            kad::Event::InboundRequest { request } => self.on_inbound(request),
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

    fn on_inbound(&mut self, request: InboundRequest) {
        match request {
            InboundRequest::PutRecord {
                source,
                record: Some(record),
                ..
            } => {
                if self.strikes.is_banned(&source, Instant::now()) {
                    return;
                }
                let now = self.clock.now();
                match verify_kad_record(&record, now) {
                    Ok(incoming) => self.store_if_better(incoming, record, now),
                    Err(error) => {
                        let fault = error.fault(self.config.clock_skew_tolerance);
                        debug!(%source, %error, ?fault, "dropped invalid inbound record");
                        self.reject(source, fault);
                    }
                }
            }
            InboundRequest::AddProvider {
                record: Some(provider),
            } => {
                let key_ok = std::str::from_utf8(provider.key.as_ref())
                    .ok()
                    .and_then(RecordKey::parse)
                    .is_some();
                if !key_ok || self.strikes.is_banned(&provider.provider, Instant::now()) {
                    return;
                }
                if let Err(e) = self.kad().store_mut().add_provider(provider) {
                    debug!(error = %e, "provider not stored");
                }
            }
            _ => {}
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
    fn reject(&mut self, peer: PeerId, fault: Fault) {
        self.stats.records_rejected.fetch_add(1, Ordering::Relaxed);
        if fault != Fault::Forged {
            return;
        }
        if self.strikes.strike(peer, Instant::now()) == Strike::Banned {
            warn!(%peer, "peer banned for forged records");
            self.stats.peers_banned.fetch_add(1, Ordering::Relaxed);
            self.kad().remove_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.publish_peer_count();
        }
    }

    fn on_query(&mut self, id: QueryId, result: QueryResult, last: bool) {
        let now = self.clock.now();
        match result {
            QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(PeerRecord { peer, record }))) => {
                let Some(Pending::Get {
                    key,
                    found,
                    checked,
                    ..
                }) = self.pending.get_mut(&id)
                else {
                    return;
                };
                // Honest replicas return byte-identical copies: verify each
                // distinct value once per lookup, not once per peer.
                let fault = match checked.iter().find(|(bytes, _)| *bytes == record.value) {
                    Some((_, fault)) => *fault,
                    None => {
                        let verified = verify_kad_record(&record, now).and_then(|r| {
                            if r.key() == key {
                                Ok(r)
                            } else {
                                Err(InvalidRecord::KeyMismatch)
                            }
                        });
                        let fault = match verified {
                            Ok(r) => {
                                if !found.contains(&r) {
                                    found.push(r);
                                }
                                None
                            }
                            Err(error) => {
                                let fault = error.fault(self.config.clock_skew_tolerance);
                                debug!(?peer, %error, ?fault, "dropped invalid fetched record");
                                Some(fault)
                            }
                        };
                        checked.push((record.value, fault));
                        fault
                    }
                };
                // The local store's answer (no peer) was verified on its way in.
                if let (Some(fault), Some(peer)) = (fault, peer) {
                    self.reject(peer, fault);
                }
                if last {
                    self.finish_get(id, None);
                }
            }
            QueryResult::GetRecord(Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. })) => {
                self.finish_get(id, None)
            }
            QueryResult::GetRecord(Err(kad::GetRecordError::NotFound { .. })) => {
                self.finish_get(id, None)
            }
            QueryResult::GetRecord(Err(kad::GetRecordError::Timeout { .. })) => {
                self.finish_get(id, Some(StoreError::Timeout))
            }
            QueryResult::PutRecord(result) => {
                let Some(Pending::Put { quorum, reply }) = self.pending.remove(&id) else {
                    return;
                };
                let peers = match result {
                    Ok(_) => quorum,
                    Err(PutRecordError::QuorumFailed { success, .. })
                    | Err(PutRecordError::Timeout { success, .. }) => success.len(),
                };
                let _ = reply.send(Ok(PutReport {
                    stored_locally: true,
                    peers,
                }));
            }
            QueryResult::StartProviding(_) => {
                // The local provider record exists either way; a failed
                // announcement is retried by kad's republishing.
                if let Some(Pending::Provide { reply }) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(()));
                }
            }
            QueryResult::GetProviders(result) => {
                let Some(Pending::Providers { group }) = self.pending.get(&id) else {
                    return;
                };
                let group = *group;
                if let Some(g) = self.groups.get_mut(&group) {
                    if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = &result {
                        g.found.extend(providers.iter().filter_map(peer_public_key));
                    }
                }
                let done = last || !matches!(result, Ok(GetProvidersOk::FoundProviders { .. }));
                if done {
                    self.pending.remove(&id);
                    let finished = self.groups.get_mut(&group).is_some_and(|g| {
                        g.remaining -= 1;
                        g.remaining == 0
                    });
                    if finished {
                        if let Some(g) = self.groups.remove(&group) {
                            let _ = g.reply.send(Ok(g.found.into_iter().collect()));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn finish_get(&mut self, id: QueryId, error: Option<StoreError>) {
        if let Some(Pending::Get {
            mut found, reply, ..
        }) = self.pending.remove(&id)
        {
            found.sort_by(|a, b| {
                (a.publisher(), a.seq(), a.signature()).cmp(&(
                    b.publisher(),
                    b.seq(),
                    b.signature(),
                ))
            });
            let result = match error {
                Some(e) if found.is_empty() => Err(e),
                _ => Ok(found),
            };
            let _ = reply.send(result);
        }
    }

    fn purge_expired(&mut self) {
        let now = Instant::now();
        self.kad()
            .store_mut()
            .retain(|_, r| r.expires.is_none_or(|t| t > now));
        self.strikes.prune(now);
    }
}

/// The shard a member advertises under: spread by its (uniformly random) key.
fn shard_of(member: &PublicKey, shards: u16) -> u16 {
    let b = member.as_bytes();
    u16::from_le_bytes([b[0], b[1]]) % shards.max(1)
}

/// The kad key of one shard of a set: `<set>#<shard>`.
fn shard_key(set: &RecordKey, shard: u16) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{set}#{shard}").as_bytes())
}

/// The ed25519 key behind a peer id (ed25519 peer ids inline their key).
fn peer_public_key(peer: &PeerId) -> Option<PublicKey> {
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(PublicKey::from_bytes(ed.to_bytes()))
}
