//! Building the swarm: TCP + noise + yamux, kad in server mode with
//! inbound records filtered by the node, identify, the listen address and
//! the bootstrap peers.

use std::time::Duration;

use chiral_pool_core::pow::sha256d;
use chiral_pool_core::record::MAX_RECORD_BYTES;
use chiral_pool_core::sharechain::{Link, MAX_LINK_BYTES};
use futures::StreamExt;
use libp2p::kad::{self, store::MemoryStoreConfig};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, identify, noise, request_response, tcp, yamux, Multiaddr, Swarm};

use crate::gossip::{LinkCodec, LINK_PROTOCOL};
use tracing::warn;

use crate::kad::config::{KadConfig, IDENTIFY_PROTOCOL, KAD_PROTOCOL};
use crate::kad::durable::DurableKadStore;
use crate::kad::{KadError, ListenError};

/// How long the node may take to report its listen address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) kad: kad::Behaviour<DurableKadStore>,
    pub(super) identify: identify::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) links: request_response::Behaviour<LinkCodec>,
}

/// How long a peer has to answer a link fetch.
pub(super) const LINK_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Gossipsub for links: every message is validated by the node before it
/// travels on (strict mode, explicit validation), its id is the link id
/// (so a link is one message however many nodes publish it), and peers
/// that send invalid links lose score.
fn link_gossip(key: &libp2p::identity::Keypair) -> Result<gossipsub::Behaviour, KadError> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_LINK_BYTES + 1_024)
        .message_id_fn(|message: &gossipsub::Message| {
            match Link::from_bytes(&message.data) {
                Ok(link) => gossipsub::MessageId::new(&link.header.hash()),
                // Undecodable: any stable id; the node rejects it anyway.
                Err(_) => gossipsub::MessageId::new(&sha256d(&message.data)),
            }
        })
        .build()
        .map_err(|e| KadError::Gossip(e.to_string()))?;
    let mut behaviour =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
            .map_err(|e| KadError::Gossip(e.to_string()))?;
    // Many peers behind one address cost score (a sybil defence), except
    // on loopback: nodes sharing a host (tests, a local pool) are normal,
    // and past ten of them the penalty would silence them all.
    let params = gossipsub::PeerScoreParams {
        ip_colocation_factor_whitelist: [
            std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    behaviour
        .with_peer_score(params, gossipsub::PeerScoreThresholds::default())
        .map_err(KadError::Gossip)?;
    Ok(behaviour)
}

/// Builds the swarm of `config`, listening, with the bootstrap peers
/// dialled; returns it with the addresses it listens on.
pub(super) async fn build(
    config: &KadConfig,
) -> Result<(Swarm<Behaviour>, Vec<Multiaddr>), KadError> {
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
            Ok(Behaviour {
                kad,
                identify: identify::Behaviour::new(identify::Config::new(
                    IDENTIFY_PROTOCOL.to_owned(),
                    key.public(),
                )),
                gossipsub: link_gossip(key)?,
                links: request_response::Behaviour::new(
                    [(LINK_PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(LINK_REQUEST_TIMEOUT),
                ),
            })
        })
        .map_err(|e| KadError::Gossip(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| KadError::Listen {
            addr: config.listen.clone(),
            source: e.into(),
        })?;
    let listen = loop {
        let failed = match tokio::time::timeout(LISTEN_TIMEOUT, swarm.select_next_some()).await {
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
    Ok((swarm, listen))
}
