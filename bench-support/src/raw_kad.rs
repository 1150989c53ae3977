//! The baseline for the DHT overhead figures: a plain libp2p Kademlia node
//! built like `KadStore` (TCP + noise + yamux, identify feeding the routing
//! table, server mode, the same query timeout, replication factor and
//! packet size, a command channel into the swarm task) but storing and
//! returning records without decoding, verifying or filtering them.
//!
//! Shared by the criterion bench and the perf report.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::kad::{self, store::MemoryStore, GetRecordOk, QueryResult, Quorum};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, tcp, yamux, Multiaddr, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/chiral-baseline/kad/1.0.0");

#[derive(NetworkBehaviour)]
struct Behaviour {
    kad: kad::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
}

enum Command {
    Put(kad::Record, oneshot::Sender<bool>),
    Get(kad::RecordKey, oneshot::Sender<Vec<kad::Record>>),
    Peers(oneshot::Sender<usize>),
}

enum Pending {
    Put(oneshot::Sender<bool>),
    Get(Vec<kad::Record>, oneshot::Sender<Vec<kad::Record>>),
}

/// A handle on a raw Kademlia node running in its own task.
#[derive(Clone)]
pub struct RawKad {
    commands: mpsc::Sender<Command>,
    /// Where others reach this node, `/ip4/127.0.0.1/tcp/<port>/p2p/<id>`.
    pub address: Multiaddr,
}

impl RawKad {
    /// Starts a node on loopback, dialing `bootstrap` if given.
    pub async fn spawn(bootstrap: Option<&Multiaddr>) -> RawKad {
        let mut config = kad::Config::new(PROTOCOL);
        config
            .set_query_timeout(Duration::from_secs(10))
            .set_replication_factor(std::num::NonZeroUsize::new(20).expect("non-zero"))
            .set_max_packet_size(2 * 64 * 1024 + 4096);
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("transport")
            .with_behaviour(|key| {
                let peer = key.public().to_peer_id();
                let store = MemoryStore::with_config(
                    peer,
                    kad::store::MemoryStoreConfig {
                        max_records: 65_536,
                        max_value_bytes: 64 * 1024,
                        ..Default::default()
                    },
                );
                let mut kad = kad::Behaviour::with_config(peer, store, config);
                kad.set_mode(Some(kad::Mode::Server));
                Behaviour {
                    kad,
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/chiral-baseline/id/1.0.0".into(),
                        key.public(),
                    )),
                }
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("address"))
            .expect("listen");
        let listen = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        swarm.add_external_address(listen.clone());
        let id = *swarm.local_peer_id();
        if let Some(addr) = bootstrap {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                let mut bare = addr.clone();
                bare.pop();
                swarm.behaviour_mut().kad.add_address(&peer, bare);
                let _ = swarm.dial(addr.clone());
                let _ = swarm.behaviour_mut().kad.bootstrap();
            }
        }
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(run(swarm, rx));
        RawKad {
            commands: tx,
            address: listen.with(Protocol::P2p(id)),
        }
    }

    /// Starts `n` nodes bootstrapped from the first and waits until each
    /// knows `peers` others (at most 30 s a node). The raw node has no
    /// peer-count watch, so this polls its table: fine for a benchmark,
    /// where the wait only has to end.
    pub async fn network(n: usize, peers: usize) -> Vec<RawKad> {
        let first = RawKad::spawn(None).await;
        let boot = first.address.clone();
        let mut nodes = vec![first];
        for _ in 1..n {
            nodes.push(RawKad::spawn(Some(&boot)).await);
        }
        for node in &nodes {
            let start = std::time::Instant::now();
            while node.peers().await < peers && start.elapsed() < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        nodes
    }

    /// Stores `record` with a quorum of min(k, routing table) peers, as
    /// `KadStore::put` does; true if the quorum was met.
    pub async fn put(&self, record: kad::Record) -> bool {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Put(record, tx)).await;
        rx.await.unwrap_or(false)
    }

    /// Every record the lookup for `key` finds, once the query finishes.
    pub async fn get(&self, key: kad::RecordKey) -> Vec<kad::Record> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Get(key, tx)).await;
        rx.await.unwrap_or_default()
    }

    /// Peers in the routing table.
    pub async fn peers(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Peers(tx)).await;
        rx.await.unwrap_or(0)
    }
}

fn table_size(swarm: &mut libp2p::Swarm<Behaviour>) -> usize {
    swarm
        .behaviour_mut()
        .kad
        .kbuckets()
        .map(|b| b.num_entries())
        .sum()
}

async fn run(mut swarm: libp2p::Swarm<Behaviour>, mut commands: mpsc::Receiver<Command>) {
    let mut pending: HashMap<kad::QueryId, Pending> = HashMap::new();
    // Re-bootstrap while the table is small, backing off while it stops
    // growing, as KadStore does, so nodes that joined in a burst learn of
    // each other.
    let base = Duration::from_secs(2);
    let (mut backoff, mut last_size) = (base, 0);
    let rebootstrap = tokio::time::sleep(base);
    tokio::pin!(rebootstrap);
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None => break,
                Some(Command::Put(record, reply)) => {
                    let n = table_size(&mut swarm).clamp(1, 20);
                    let quorum = Quorum::N(std::num::NonZeroUsize::new(n).expect("non-zero"));
                    match swarm.behaviour_mut().kad.put_record(record, quorum) {
                        Ok(id) => { pending.insert(id, Pending::Put(reply)); }
                        Err(_) => { let _ = reply.send(false); }
                    }
                }
                Some(Command::Get(key, reply)) => {
                    let id = swarm.behaviour_mut().kad.get_record(key);
                    pending.insert(id, Pending::Get(Vec::new(), reply));
                }
                Some(Command::Peers(reply)) => { let _ = reply.send(table_size(&mut swarm)); }
            },
            () = &mut rebootstrap => {
                let size = table_size(&mut swarm);
                if size > 0 && size < 20 {
                    let _ = swarm.behaviour_mut().kad.bootstrap();
                }
                backoff = if size != last_size { base } else { (backoff * 2).min(base * 64) };
                last_size = size;
                rebootstrap.as_mut().reset(tokio::time::Instant::now() + backoff);
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    for addr in info.listen_addrs {
                        swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) => {
                    on_query(&mut pending, id, result, step.last);
                }
                _ => {}
            }
        }
    }
}

fn on_query(
    pending: &mut HashMap<kad::QueryId, Pending>,
    id: kad::QueryId,
    result: QueryResult,
    last: bool,
) {
    match result {
        QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))) => {
            if let Some(Pending::Get(records, _)) = pending.get_mut(&id) {
                // Copies held by different peers differ in their local
                // expiry; the same value is the same record.
                if !records.iter().any(|r| r.value == found.record.value) {
                    records.push(found.record);
                }
            }
            if last {
                finish_get(pending, id);
            }
        }
        QueryResult::GetRecord(_) => finish_get(pending, id),
        QueryResult::PutRecord(result) => {
            if let Some(Pending::Put(reply)) = pending.remove(&id) {
                let _ = reply.send(result.is_ok());
            }
        }
        _ => {}
    }
}

fn finish_get(pending: &mut HashMap<kad::QueryId, Pending>, id: kad::QueryId) {
    if let Some(Pending::Get(records, reply)) = pending.remove(&id) {
        let _ = reply.send(records);
    }
}
