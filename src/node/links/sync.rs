//! How a keeper is driven: links pushed by peers, own links, block tips,
//! the clock, and ancestors fetched from the peer that forwarded a child.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::sharechain::gossip::{Acceptance, IncomingLink, LinkGossip};
use chiral_pool_core::sharechain::sync::{fetch_ancestry, SyncRequest};
use chiral_pool_core::sharechain::{AssumeError, Origin, ProvenLink};
use libp2p::futures::{self, StreamExt};
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
        let now = Instant::now();
        backfills
            .refused
            .retain(|_, at| now.duration_since(*at) < REFUSED_FOR);
        for id in wanted {
            if backfills.tasks.len() >= MAX_BACKFILLS
                || backfills.refused.contains_key(&id)
                || !backfills.in_flight.insert(id)
            {
                continue;
            }
            let keeper = self.clone();
            backfills.tasks.spawn(async move {
                let synced = keeper.backfill(origin, id).await;
                (id, origin, synced)
            });
        }
    }

    /// Takes a backfill that reached the retention depth without meeting a
    /// held link as the chain's assumed base (a pool older than what peers
    /// keep; see `ShareChain::assume`); links that join a held link after
    /// all are inserted one by one. Returns whether anything was taken.
    fn assume_base(self: &Arc<Self>, synced: Synced, origin: Origin) -> bool {
        let now = self.clock.now();
        let result = lock(&self.chain).assume(synced.links.clone(), synced.uncles, now);
        match result {
            Ok(added) => {
                debug!(links = added.valid.len(), "synced onto an assumed base");
                self.after(added, true);
                true
            }
            Err(AssumeError::Connected) => {
                for link in synced.links {
                    self.handle(link, origin, None);
                }
                true
            }
            Err(e) => {
                debug!(error = %e, "fetched history not taken as a base");
                false
            }
        }
    }

    /// Fetches `id` and its ancestors until one is known here (or a
    /// genesis link, or the retention depth), oldest first, each proven as
    /// it arrives (and so only once): from `origin`, else from the store's
    /// link records, in parallel once checkpoints name them.
    /// A fetch that reaches the retention depth without meeting a held
    /// link is a base: the uncles its links cite are fetched too.
    async fn backfill(&self, origin: Origin, id: LinkId) -> Synced {
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
        let base = synced.links.len() >= limit && unrooted;
        let uncles = if base {
            self.fetch_uncles(origin, &synced.links).await
        } else {
            Vec::new()
        };
        Synced {
            links: synced.links,
            uncles,
            base,
        }
    }

    /// The uncles `links` cite that are not among them, each fetched alone.
    async fn fetch_uncles(&self, origin: Origin, links: &[ProvenLink]) -> Vec<ProvenLink> {
        let on_chain: HashSet<LinkId> = links.iter().map(ProvenLink::id).collect();
        let wanted: Vec<LinkId> = links
            .iter()
            .flat_map(|l| l.commitment().uncles.iter().copied())
            .filter(|u| !on_chain.contains(u))
            .collect();
        let request = SyncRequest {
            pool: self.pool,
            params: &self.params,
            origin,
            limit: 1,
            parallel: 1,
        };
        let nothing_known = |_: &LinkId| false;
        let mut uncles = Vec::with_capacity(wanted.len());
        let mut fetches = futures::stream::iter(wanted)
            .map(|id| fetch_ancestry(&self.gossip, &self.gossip, &request, id, &nothing_known))
            .buffer_unordered(SYNC_PARALLEL);
        while let Some(fetched) = fetches.next().await {
            uncles.extend(fetched.links);
        }
        uncles
    }
}

/// Ancestor fetches in flight, and bases refused lately.
#[derive(Default)]
struct Backfills {
    tasks: JoinSet<(LinkId, Origin, Synced)>,
    in_flight: HashSet<LinkId>,
    /// Ids whose fetched history was refused as a base, and when: not
    /// fetched again for [`REFUSED_FOR`] (a full sync is thousands of
    /// fetches).
    refused: HashMap<LinkId, Instant>,
}

/// How long a refused base is not fetched again.
const REFUSED_FOR: Duration = Duration::from_secs(600);
/// Refused bases remembered at most.
const MAX_REFUSED: usize = 256;

/// A backfill's outcome.
pub(super) struct Synced {
    links: Vec<ProvenLink>,
    /// The uncles the links cite that are not among them (fetched only
    /// for a base).
    uncles: Vec<ProvenLink>,
    /// The fetch reached the retention depth without meeting a held link:
    /// the links are a base to assume.
    base: bool,
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
                let Ok((id, origin, synced)) = done else { continue };
                backfills.in_flight.remove(&id);
                if !synced.base {
                    for link in synced.links {
                        keeper.handle(link, origin, None);
                    }
                } else if !keeper.assume_base(synced, origin)
                    && backfills.refused.len() < MAX_REFUSED
                {
                    backfills.refused.insert(id, Instant::now());
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// The longest chain of `links` by their parent commitments, oldest
/// first, and the links not on it (uncles among them); `None` if there
/// are no links.
pub(super) fn longest_run(links: Vec<ProvenLink>) -> Option<(Vec<ProvenLink>, Vec<ProvenLink>)> {
    let parents: HashSet<LinkId> = links.iter().filter_map(|l| l.parent()).collect();
    let mut by_id: HashMap<LinkId, ProvenLink> = links.into_iter().map(|l| (l.id(), l)).collect();
    // Tips: links no other saved link builds on. Sorted, so ties between
    // runs of one length pick the same run on every restart.
    let mut tips: Vec<LinkId> = by_id
        .keys()
        .filter(|id| !parents.contains(id))
        .copied()
        .collect();
    tips.sort();
    let run = |tip: LinkId| {
        std::iter::successors(by_id.get(&tip), |l| l.parent().and_then(|p| by_id.get(&p)))
            .map(ProvenLink::id)
            .collect::<Vec<_>>()
    };
    let longest = tips.into_iter().map(run).max_by_key(Vec::len)?;
    let segment: Vec<ProvenLink> = longest
        .iter()
        .rev()
        .filter_map(|id| by_id.remove(id))
        .collect();
    let others = by_id.into_values().collect();
    (!segment.is_empty()).then_some((segment, others))
}
