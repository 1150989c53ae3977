//! Where the node's Stratum server hands accepted shares: the journal
//! first, then the publication queue, and only then the miner's reply.

use chiral_pool_core::share::{Share, VerifiedShare};
use chiral_stratum::server::{Durable, ShareSink, SinkError};
use tokio::sync::mpsc;

use super::journal::JournalWriter;

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
}

impl PublishingSink {
    /// A sink over the publication `queue` and, if given, a journal.
    pub fn new(queue: mpsc::Sender<Accepted>, journal: Option<JournalWriter>) -> Self {
        PublishingSink { queue, journal }
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
        Durable::after(async move {
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
