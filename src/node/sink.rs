//! Where the node's Stratum server hands accepted shares: the journal
//! first, then the publication queue, and only then the miner's reply.

use chiral_pool_core::share::{Share, VerifiedShare};
use chiral_pool_core::sharechain::{ChainParams, Link, ProvenLink};
use chiral_stratum::server::{Durable, ShareSink, SinkError};
use tokio::sync::mpsc;
use tracing::warn;

use super::journal::JournalWriter;

/// Where a sink sends accepted shares that are also links, and the rules
/// that say which are.
#[derive(Clone)]
pub struct LinkOutlet {
    /// The share chain's queue of own links.
    pub queue: mpsc::Sender<ProvenLink>,
    /// The pool's chain rules.
    pub params: ChainParams,
}

/// An accepted share on its way to publication, with this node's verdict
/// (the only verification it gets on this node).
pub type Accepted = (Share, VerifiedShare);

/// The node's [`ShareSink`]: a share is confirmed to its miner once it is
/// journaled (if the node has a journal) and has a place in the
/// publication queue. A full queue makes the reply wait (backpressure); a
/// failed journal commit or a stopped node makes it an error. Nothing a
/// miner was told "accepted" is dropped on the way to the network.
#[derive(Clone)]
pub struct PublishingSink {
    queue: mpsc::Sender<Accepted>,
    journal: Option<JournalWriter>,
    links: Option<LinkOutlet>,
}

impl PublishingSink {
    /// A sink over the publication `queue` and, if given, a journal.
    pub fn new(queue: mpsc::Sender<Accepted>, journal: Option<JournalWriter>) -> Self {
        PublishingSink {
            queue,
            journal,
            links: None,
        }
    }

    /// Also hands shares that are links to the share chain, at once (a
    /// link waits for no batch: a late link is a stale link).
    pub fn with_links(mut self, links: LinkOutlet) -> Self {
        self.links = Some(links);
        self
    }
}

impl ShareSink for PublishingSink {
    fn accepted(&self, share: &Share, verified: &VerifiedShare) -> Durable {
        let journaled = self
            .journal
            .as_ref()
            .map(|j| j.append(verified.hash, share));
        let queue = self.queue.clone();
        let accepted = (share.clone(), verified.clone());
        let link = self.links.as_ref().and_then(|outlet| {
            match Link::from_verified(share, verified, &outlet.params) {
                Ok(link) => link.map(|l| (outlet.queue.clone(), l)),
                Err(e) => {
                    warn!(error = %e, "an accepted share's commitment is not a link's");
                    None
                }
            }
        });
        Durable::after(async move {
            if let Some((links, link)) = link {
                // The chain's queue is short-lived work; a stopped chain
                // only means the node is stopping.
                let _ = links.send(link).await;
            }
            // Persist before the miner hears "accepted": a crash after the
            // reply cannot lose the share.
            if let Some(journaled) = journaled {
                journaled.await.map_err(SinkError::new)?;
            }
            queue
                .send(accepted)
                .await
                .map_err(|_| SinkError::new("node is stopping; share not published"))
        })
    }
}
