//! Link gossip inside one process: every member of a pool receives every
//! link another member publishes, unless a partition separates them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::sharechain::gossip::{
    Acceptance, GossipError, IncomingLink, LinkGossip, LinkLookup, Ticket,
};
use chiral_pool_core::sharechain::{Link, Origin};
use tokio::sync::mpsc;

/// How many links a member's inbox holds before new ones are dropped
/// (gossip is lossy; fetches recover what a slow member missed).
const INBOX: usize = 1_024;

#[derive(Default)]
struct Member {
    inboxes: HashMap<PoolId, mpsc::Sender<IncomingLink>>,
    lookup: Option<LinkLookup>,
    group: u8,
}

#[derive(Default)]
struct State {
    members: Vec<Member>,
}

/// An in-process gossip network. Each [`GossipHub::member`] is one node's
/// [`LinkGossip`]; [`GossipHub::partition`] cuts members apart.
///
/// ```
/// use chiral_pool_dht::GossipHub;
/// let hub = GossipHub::new();
/// let (a, b) = (hub.member(), hub.member());
/// hub.partition(&[a.index()]);
/// hub.heal();
/// # let _ = b;
/// ```
#[derive(Clone, Default)]
pub struct GossipHub {
    state: Arc<Mutex<State>>,
}

impl GossipHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new member.
    pub fn member(&self) -> HubGossip {
        let mut state = self.state();
        state.members.push(Member::default());
        HubGossip {
            hub: self.clone(),
            index: state.members.len() - 1,
        }
    }

    /// Cuts the members in `group` off from the others (messages and
    /// fetches between the two sides are lost) until [`heal`](Self::heal).
    pub fn partition(&self, group: &[usize]) {
        let mut state = self.state();
        for (i, member) in state.members.iter_mut().enumerate() {
            member.group = u8::from(group.contains(&i));
        }
    }

    /// Joins every member again.
    pub fn heal(&self) {
        for member in &mut self.state().members {
            member.group = 0;
        }
    }
}

/// One member of a [`GossipHub`].
#[derive(Clone)]
pub struct HubGossip {
    hub: GossipHub,
    index: usize,
}

impl HubGossip {
    /// This member's index (its [`Origin`] is the index plus one).
    pub fn index(&self) -> usize {
        self.index
    }

    fn origin(&self) -> Origin {
        Origin(self.index as u64 + 1)
    }
}

#[async_trait]
impl LinkGossip for HubGossip {
    async fn join(&self, pool: PoolId) -> Result<mpsc::Receiver<IncomingLink>, GossipError> {
        let (tx, rx) = mpsc::channel(INBOX);
        let mut state = self.hub.state();
        let member = state
            .members
            .get_mut(self.index)
            .ok_or(GossipError::Stopped)?;
        member.inboxes.insert(pool, tx);
        Ok(rx)
    }

    async fn publish(&self, pool: PoolId, link: &Link) -> Result<(), GossipError> {
        let state = self.hub.state();
        let group = state.members.get(self.index).map_or(0, |m| m.group);
        for (i, member) in state.members.iter().enumerate() {
            if i == self.index || member.group != group {
                continue;
            }
            if let Some(inbox) = member.inboxes.get(&pool) {
                // A full inbox loses the message, as gossip would.
                let _ = inbox.try_send(IncomingLink {
                    link: link.clone(),
                    origin: self.origin(),
                    ticket: Ticket(0),
                });
            }
        }
        Ok(())
    }

    async fn report(&self, _ticket: Ticket, _acceptance: Acceptance) {
        // Every member hears the publisher directly: nothing to forward.
    }

    async fn fetch(&self, origin: Origin, id: LinkId) -> Result<Option<Link>, GossipError> {
        let lookup = {
            let state = self.hub.state();
            let group = state.members.get(self.index).map_or(0, |m| m.group);
            let index = usize::try_from(origin.0)
                .ok()
                .and_then(|o| o.checked_sub(1))
                .ok_or(GossipError::NoPeers)?;
            let peer = state.members.get(index).ok_or(GossipError::NoPeers)?;
            if peer.group != group {
                return Err(GossipError::Timeout);
            }
            peer.lookup.clone().ok_or(GossipError::NoPeers)?
        };
        Ok(lookup(&id))
    }

    async fn serve(&self, lookup: LinkLookup) -> Result<(), GossipError> {
        let mut state = self.hub.state();
        let member = state
            .members
            .get_mut(self.index)
            .ok_or(GossipError::Stopped)?;
        member.lookup = Some(lookup);
        Ok(())
    }
}
