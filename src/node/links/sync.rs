//! How a keeper is driven: links pushed by peers, own links, block tips,
//! the clock, and ancestors fetched from the peer that forwarded a child.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chiral_pool_core::chain::WorkSource;
use chiral_pool_core::ids::LinkId;
use chiral_pool_core::sharechain::gossip::{Acceptance, IncomingLink, LinkGossip};
use chiral_pool_core::sharechain::sync::{fetch_ancestry, SyncRequest};
use chiral_pool_core::sharechain::{Origin, ProvenLink};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::debug;

use super::{LinkKeeper, MAX_BACKFILLS, SYNC_PARALLEL};
use crate::node::lock;

impl LinkKeeper {
    /// A link a peer pushed.
    fn incoming(self: &Arc<Self>, incoming: IncomingLink, backfills: &mut Backfills) {
        let IncomingLink {
            link,
            origin,
            ticket,
        } = incoming;
        match link.prove(&self.pool, &self.params) {
            Ok(proven) => {
                self.handle(proven, origin, Some(ticket));
                self.fetch_missing(origin, backfills);
            }
            Err(e) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                debug!(error = %e, "pushed link does not prove");
                let gossip = self.gossip.clone();
                tokio::spawn(async move { gossip.report(ticket, Acceptance::Reject).await });
            }
        }
    }

    /// Starts fetching what pending links wait for from `origin`.
    fn fetch_missing(self: &Arc<Self>, origin: Origin, backfills: &mut Backfills) {
        let wanted = lock(&self.chain).wanted();
        for id in wanted {
            if backfills.tasks.len() >= MAX_BACKFILLS || !backfills.in_flight.insert(id) {
                continue;
            }
            let keeper = self.clone();
            backfills.tasks.spawn(async move {
                let (links, full) = keeper.backfill(origin, id).await;
                (id, origin, links, full)
            });
        }
    }

    /// Fetches `id` and its ancestors until one is known here (or a
    /// genesis link, or the retention depth), oldest first, each proven as
    /// it arrives (and so only once): from `origin`, else from the store's
    /// link records, in parallel once checkpoints name them.
    ///
    /// The flag says the fetch reached the retention depth without meeting
    /// a held link: the links are a base to assume.
    async fn backfill(&self, origin: Origin, id: LinkId) -> (Vec<ProvenLink>, bool) {
        let limit = self.params.retained_links() as usize;
        let request = SyncRequest {
            pool: self.pool,
            params: &self.params,
            origin,
            limit,
            parallel: SYNC_PARALLEL,
        };
        let known = |id: &LinkId| lock(&self.chain).contains(id);
        let synced = fetch_ancestry(&self.gossip, &self.gossip, &request, id, &known).await;
        debug!(
            links = synced.links.len(),
            rounds = synced.rounds,
            checkpoints = synced.checkpoints_read,
            from_store = synced.from_store,
            unused = synced.unused,
            "backfilled"
        );
        let unrooted = synced
            .links
            .first()
            .and_then(|l| l.parent())
            .is_some_and(|p| !known(&p));
        let full = synced.links.len() >= limit && unrooted;
        (synced.links, full)
    }
}

/// Ancestor fetches in flight.
#[derive(Default)]
struct Backfills {
    tasks: JoinSet<(LinkId, Origin, Vec<ProvenLink>, bool)>,
    in_flight: HashSet<LinkId>,
}

/// Drives a keeper: links pushed by peers, own links, block tips, the
/// clock, and ancestor fetches, until `stop`.
pub(in crate::node) async fn run(
    keeper: Arc<LinkKeeper>,
    mut inbox: mpsc::Receiver<IncomingLink>,
    mut own: mpsc::Receiver<ProvenLink>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tips = keeper.work.tip();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let mut backfills = Backfills::default();
    loop {
        tokio::select! {
            incoming = inbox.recv() => match incoming {
                Some(incoming) => keeper.incoming(incoming, &mut backfills),
                None => break,
            },
            Some(link) = own.recv() => keeper.own_link(link),
            changed = tips.changed() => {
                if changed.is_err() { break; }
                let tip = *tips.borrow_and_update();
                keeper.on_block_tip(tip.prev_hash, tip.height);
            }
            _ = tick.tick() => {
                ticks += 1;
                keeper.tick(ticks);
            }
            Some(done) = backfills.tasks.join_next(), if !backfills.tasks.is_empty() => {
                let Ok((id, origin, links, full)) = done else { continue };
                backfills.in_flight.remove(&id);
                if full {
                    keeper.assume_base(links, origin);
                } else {
                    for link in links {
                        keeper.handle(link, origin, None);
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
}
