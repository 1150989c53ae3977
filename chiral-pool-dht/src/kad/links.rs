//! [`LinkGossip`] on the Kademlia node's swarm: gossipsub and link
//! fetches share its connections.

use async_trait::async_trait;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::sharechain::gossip::{
    Acceptance, GossipError, IncomingLink, LinkAdmission, LinkGossip, LinkLookup, Ticket,
};
use chiral_pool_core::sharechain::{Link, Origin};
use tokio::sync::{mpsc, oneshot};

use super::node::Command;
use super::KadStore;

/// How many received links wait for the chain's reader per pool.
const INBOX: usize = 1_024;

impl KadStore {
    async fn gossip_call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, GossipError>>) -> Command,
    ) -> Result<T, GossipError> {
        let (tx, rx) = oneshot::channel();
        let fut = async {
            self.commands
                .send(make(tx))
                .await
                .map_err(|_| GossipError::Stopped)?;
            rx.await.map_err(|_| GossipError::Stopped)?
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| GossipError::Timeout)?
    }
}

impl KadStore {
    /// Sets the replica rule for link records pushed by peers (see
    /// [`LinkAdmission`]). Without one, every link record that certifies
    /// is kept, within the store's bounds.
    pub async fn admit_links(&self, admission: LinkAdmission) -> Result<(), GossipError> {
        self.commands
            .send(Command::AdmitLinks { admission })
            .await
            .map_err(|_| GossipError::Stopped)
    }
}

#[async_trait]
impl LinkGossip for KadStore {
    async fn join(&self, pool: PoolId) -> Result<mpsc::Receiver<IncomingLink>, GossipError> {
        let (inbox, rx) = mpsc::channel(INBOX);
        self.gossip_call(|reply| Command::JoinPool { pool, inbox, reply })
            .await?;
        Ok(rx)
    }

    async fn publish(&self, pool: PoolId, link: &Link) -> Result<(), GossipError> {
        let link = link.clone();
        self.gossip_call(|reply| Command::PublishLink { pool, link, reply })
            .await
    }

    async fn report(&self, ticket: Ticket, acceptance: Acceptance) {
        // A stopped node has nothing left to forward.
        let _ = self
            .commands
            .send(Command::ReportLink { ticket, acceptance })
            .await;
    }

    async fn fetch(&self, origin: Origin, id: LinkId) -> Result<Option<Link>, GossipError> {
        self.gossip_call(|reply| Command::FetchLink { origin, id, reply })
            .await
    }

    async fn serve(&self, lookup: LinkLookup) -> Result<(), GossipError> {
        self.commands
            .send(Command::ServeLinks { lookup })
            .await
            .map_err(|_| GossipError::Stopped)
    }
}
