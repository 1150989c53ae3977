//! Links on the node: gossipsub topics per pool, the verdicts that let a
//! message travel on, and fetches by id from the peer that forwarded a
//! child.

use std::collections::{HashMap, VecDeque};

use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::sharechain::gossip::{
    Acceptance, GossipError, IncomingLink, LinkLookup, Ticket,
};
use chiral_pool_core::sharechain::{Link, Origin};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::Node;
use crate::gossip::topic_name;

/// Received messages whose verdict is awaited; older ones are forgotten
/// (gossipsub drops them from its cache by then anyway).
const MAX_TICKETS: usize = 4_096;
/// Peers remembered with their origin, connected or not: a peer that
/// reconnects keeps its origin (and so its share of the pending links).
const MAX_ORIGINS: usize = 4_096;

pub(super) type GossipReply<T> = oneshot::Sender<Result<T, GossipError>>;

/// What the node keeps for link gossip.
#[derive(Default)]
pub(super) struct LinkRelay {
    inboxes: HashMap<TopicHash, mpsc::Sender<IncomingLink>>,
    tickets: HashMap<u64, (MessageId, PeerId)>,
    ticket_order: VecDeque<u64>,
    next_ticket: u64,
    /// Each peer's origin and when it last delivered (a message count):
    /// past [`MAX_ORIGINS`], the peer seen longest ago is forgotten.
    origins: HashMap<PeerId, (Origin, u64)>,
    peers: HashMap<Origin, PeerId>,
    deliveries: u64,
    next_origin: u64,
    fetches: HashMap<OutboundRequestId, GossipReply<Option<Link>>>,
    lookup: Option<LinkLookup>,
}

impl LinkRelay {
    fn origin_of(&mut self, peer: PeerId) -> Origin {
        self.deliveries += 1;
        if let Some((origin, seen)) = self.origins.get_mut(&peer) {
            *seen = self.deliveries;
            return *origin;
        }
        if self.origins.len() >= MAX_ORIGINS {
            // O(n) only when a new peer comes past the bound.
            let stalest = self
                .origins
                .iter()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(p, (o, _))| (*p, *o));
            if let Some((old, o)) = stalest {
                self.origins.remove(&old);
                self.peers.remove(&o);
            }
        }
        // Origin 0 is the local node.
        self.next_origin += 1;
        let origin = Origin(self.next_origin);
        self.origins.insert(peer, (origin, self.deliveries));
        self.peers.insert(origin, peer);
        origin
    }

    fn ticket(&mut self, id: MessageId, source: PeerId) -> Ticket {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        self.tickets.insert(ticket, (id, source));
        self.ticket_order.push_back(ticket);
        while self.ticket_order.len() > MAX_TICKETS {
            if let Some(old) = self.ticket_order.pop_front() {
                self.tickets.remove(&old);
            }
        }
        Ticket(ticket)
    }
}

impl Node {
    pub(super) fn join_pool(
        &mut self,
        pool: PoolId,
        inbox: mpsc::Sender<IncomingLink>,
        reply: GossipReply<()>,
    ) {
        let topic = IdentTopic::new(topic_name(&pool));
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        let result = gossip
            .subscribe(&topic)
            .map(|_| ())
            .map_err(|e| GossipError::Transport(e.to_string()));
        if result.is_ok() {
            let params = gossipsub::TopicScoreParams {
                // An invalid link costs its forwarder dearly.
                invalid_message_deliveries_weight: -100.0,
                ..Default::default()
            };
            let _ = gossip.set_topic_params(topic.clone(), params);
            self.links.inboxes.insert(topic.hash(), inbox);
        }
        let _ = reply.send(result);
    }

    pub(super) fn publish_link(&mut self, pool: PoolId, link: Link, reply: GossipReply<()>) {
        let result = link
            .to_bytes()
            .map_err(|e| GossipError::Encoding(e.to_string()))
            .and_then(|bytes| {
                let topic = IdentTopic::new(topic_name(&pool));
                match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                    Ok(_) | Err(gossipsub::PublishError::Duplicate) => Ok(()),
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                        Err(GossipError::NoPeers)
                    }
                    Err(e) => Err(GossipError::Transport(e.to_string())),
                }
            });
        let _ = reply.send(result);
    }

    pub(super) fn report_link(&mut self, ticket: Ticket, acceptance: Acceptance) {
        let Some((id, source)) = self.links.tickets.remove(&ticket.0) else {
            return;
        };
        let acceptance = match acceptance {
            Acceptance::Accept => MessageAcceptance::Accept,
            Acceptance::Reject => MessageAcceptance::Reject,
            Acceptance::Ignore => MessageAcceptance::Ignore,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
    }

    pub(super) fn fetch_link(
        &mut self,
        origin: Origin,
        id: LinkId,
        reply: GossipReply<Option<Link>>,
    ) {
        let Some(peer) = self.links.peers.get(&origin).copied() else {
            let _ = reply.send(Err(GossipError::NoPeers));
            return;
        };
        let request = self.swarm.behaviour_mut().links.send_request(&peer, id);
        self.links.fetches.insert(request, reply);
    }

    pub(super) fn serve_links(&mut self, lookup: LinkLookup) {
        self.links.lookup = Some(lookup);
    }

    pub(super) fn on_gossip_event(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let verdict = |node: &mut Node, acceptance| {
            node.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&message_id, &propagation_source, acceptance)
        };
        let Some(inbox) = self.links.inboxes.get(&message.topic).cloned() else {
            verdict(self, MessageAcceptance::Ignore);
            return;
        };
        let link = match Link::from_bytes(&message.data) {
            Ok(link) => link,
            Err(e) => {
                debug!(peer = %propagation_source, error = %e, "undecodable link");
                verdict(self, MessageAcceptance::Reject);
                return;
            }
        };
        let origin = self.links.origin_of(propagation_source);
        let ticket = self.links.ticket(message_id.clone(), propagation_source);
        let incoming = IncomingLink {
            link,
            origin,
            ticket,
        };
        if inbox.try_send(incoming).is_err() {
            // The chain's reader is behind (or gone): not forwarded, no
            // penalty; a later fetch recovers the link.
            self.links.tickets.remove(&ticket.0);
            verdict(self, MessageAcceptance::Ignore);
        }
    }

    pub(super) fn on_link_request_event(
        &mut self,
        event: request_response::Event<LinkId, Option<Link>>,
    ) {
        match event {
            request_response::Event::Message { message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let link = self
                        .links
                        .lookup
                        .as_ref()
                        .and_then(|lookup| lookup(&request));
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .links
                        .send_response(channel, link);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.links.fetches.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.links.fetches.remove(&request_id) {
                    let error = match error {
                        OutboundFailure::Timeout => GossipError::Timeout,
                        other => GossipError::Transport(other.to_string()),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_keeps_its_origin_and_the_stalest_is_forgotten_past_the_bound() {
        let mut relay = LinkRelay::default();
        let first = PeerId::random();
        let origin = relay.origin_of(first);
        assert_ne!(origin, Origin::LOCAL);
        // However often it comes back (a reconnect included), one origin.
        assert_eq!(relay.origin_of(first), origin);
        let second = PeerId::random();
        relay.origin_of(second);
        for _ in 0..MAX_ORIGINS - 2 {
            relay.origin_of(PeerId::random());
        }
        // A peer that keeps delivering is not the one forgotten.
        assert_eq!(relay.origin_of(first), origin);
        relay.origin_of(PeerId::random());
        assert_eq!(relay.origins.len(), MAX_ORIGINS);
        assert_eq!(relay.peers.len(), MAX_ORIGINS);
        assert!(!relay.origins.contains_key(&second), "the stalest went");
        assert_eq!(relay.origin_of(first), origin);
    }
}
