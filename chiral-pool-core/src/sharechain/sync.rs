//! Catching up: the missing ancestry of a link, fetched back from it.
//!
//! One link at a time until a checkpoint link
//! ([`LinkId::is_checkpoint`], about one in 64), then as many at once as
//! the checkpoints name: the checkpoint at that link lists its ancestors
//! back to the previous checkpoint link and names the checkpoint links
//! below, whose own checkpoints are read all at once. A fresh node so
//! reads a 2,160-link window in a few rounds, not 2,160 serial requests.
//!
//! Nothing a checkpoint says is trusted: every link is fetched by id (its
//! hash is checked), proves its own work, and is kept only if it chains
//! from the link above it by its own parent commitment. A wrong
//! checkpoint costs the fetches it named; the walk then goes on one link
//! at a time from where the links stopped chaining.
//!
//! Each link comes from the peer that forwarded the child (fast, one
//! request), or, if that peer does not answer, from the
//! [`RecordStore`]'s link record.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};

use super::gossip::LinkGossip;
use super::link::ProvenLink;
use super::params::ChainParams;
use super::pending::Origin;
use crate::ids::{LinkId, PoolId};
use crate::record::{Checkpoint, RecordKey};
use crate::store::RecordStore;

/// What to fetch and from where.
#[derive(Debug, Clone)]
pub struct SyncRequest<'a> {
    /// The pool the links must be for.
    pub pool: PoolId,
    /// Its rules (every fetched link is proven against them).
    pub params: &'a ChainParams,
    /// The peer that forwarded the link whose ancestry is missing;
    /// [`Origin::LOCAL`] to read from the store only.
    pub origin: Origin,
    /// Most links fetched in all (the node keeps no more than its
    /// retention, [`ChainParams::retained_links`]).
    pub limit: usize,
    /// Most fetches in flight at once.
    pub parallel: usize,
}

/// What a sync fetched and what it cost.
#[derive(Debug, Default)]
pub struct Synced {
    /// The ancestry, oldest first, each link proven once: insert in order.
    pub links: Vec<ProvenLink>,
    /// Checkpoint records read from the store.
    pub checkpoints_read: usize,
    /// Links the forwarding peer answered.
    pub from_peer: usize,
    /// Links read from the store's link records.
    pub from_store: usize,
    /// Links fetched that did not chain (a wrong checkpoint, or more than
    /// the walk needed).
    pub unused: usize,
    /// Rounds of fetches: one per link fetched alone, one per batch.
    pub rounds: usize,
}

/// Fetches the ancestry of `from` (`from` included) back to a link
/// `known` says this node holds, a genesis link, or `limit`.
pub async fn fetch_ancestry<G, S>(
    gossip: &G,
    store: &S,
    request: &SyncRequest<'_>,
    from: LinkId,
    known: &(dyn Fn(&LinkId) -> bool + Sync),
) -> Synced
where
    G: LinkGossip + ?Sized,
    S: RecordStore + ?Sized,
{
    let fetcher = Fetcher {
        gossip,
        store,
        request,
    };
    let mut synced = Synced::default();
    let mut newest_first: Vec<ProvenLink> = Vec::new();
    let mut next = Some(from);
    while let Some(id) = next {
        if newest_first.len() >= request.limit || known(&id) {
            break;
        }
        synced.rounds += 1;
        let Some((link, source)) = fetcher.link(id).await else {
            break;
        };
        synced.count(source);
        next = link.parent();
        newest_first.push(link);
        let Some(parent) = next.filter(|p| id.is_checkpoint() && !known(p)) else {
            continue;
        };
        // A checkpoint link whose parent is missing: fetch what the
        // checkpoints name, in order, `parallel` at a time, keeping what
        // chains; a round whose links stop chaining ends the batch, so a
        // wrong checkpoint costs one round.
        let named = fetcher.plan(id, parent, &mut synced).await;
        let budget = request.limit - newest_first.len();
        let wanted: Vec<LinkId> = named
            .into_iter()
            .filter(|i| !known(i))
            .take(budget)
            .collect();
        for round in wanted.chunks(request.parallel.max(1)) {
            synced.rounds += 1;
            let mut got: HashMap<LinkId, ProvenLink> = HashMap::with_capacity(round.len());
            let mut fetches = stream::iter(round.iter().copied())
                .map(|id| fetcher.link(id))
                .buffer_unordered(round.len());
            while let Some(fetched) = fetches.next().await {
                if let Some((link, source)) = fetched {
                    synced.count(source);
                    got.insert(link.id(), link);
                }
            }
            while let Some(p) = next {
                if newest_first.len() >= request.limit || known(&p) {
                    break;
                }
                let Some(link) = got.remove(&p) else { break };
                next = link.parent();
                newest_first.push(link);
            }
            let stray = got.len();
            synced.unused += stray;
            let done = next.is_none_or(|p| known(&p)) || newest_first.len() >= request.limit;
            if stray > 0 || done {
                break;
            }
        }
    }
    newest_first.reverse();
    synced.links = newest_first;
    synced
}

/// Where a link came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Peer,
    Store,
}

impl Synced {
    fn count(&mut self, source: Source) {
        match source {
            Source::Peer => self.from_peer += 1,
            Source::Store => self.from_store += 1,
        }
    }
}

struct Fetcher<'r, 'p, G: ?Sized, S: ?Sized> {
    gossip: &'r G,
    store: &'r S,
    request: &'r SyncRequest<'p>,
}

impl<G, S> Fetcher<'_, '_, G, S>
where
    G: LinkGossip + ?Sized,
    S: RecordStore + ?Sized,
{
    /// Link `id`, proven: from the forwarding peer, else from the store.
    async fn link(&self, id: LinkId) -> Option<(ProvenLink, Source)> {
        let SyncRequest {
            pool,
            params,
            origin,
            ..
        } = self.request;
        let from_peer = if *origin == Origin::LOCAL {
            None
        } else {
            match self.gossip.fetch(*origin, id).await {
                Ok(Some(link)) if link.header.hash() == *id.as_bytes() => Some(link),
                _ => None,
            }
        };
        let (link, source) = match from_peer {
            Some(link) => (link, Source::Peer),
            None => {
                let records = self.store.get(&RecordKey::link(pool, &id)).await.ok()?;
                let link = records
                    .iter()
                    .filter_map(|r| r.link_payload().ok())
                    .find(|l| l.header.hash() == *id.as_bytes())?;
                (link, Source::Store)
            }
        };
        link.prove(pool, params).ok().map(|l| (l, source))
    }

    /// The checkpoint stored at `at`, if any candidate decodes and passes
    /// `check`.
    async fn checkpoint(
        &self,
        at: LinkId,
        check: impl Fn(&Checkpoint) -> bool,
    ) -> Option<Checkpoint> {
        let records = self
            .store
            .get(&RecordKey::checkpoint(&self.request.pool, &at))
            .await
            .ok()?;
        records
            .iter()
            .filter_map(|r| r.checkpoint_payload().ok())
            .find(|c| check(c))
    }

    /// The ids the checkpoints below checkpoint link `at` name, newest
    /// first: its own ancestors, then those of each earlier checkpoint
    /// link, read all at once.
    async fn plan(&self, at: LinkId, parent: LinkId, synced: &mut Synced) -> Vec<LinkId> {
        synced.checkpoints_read += 1;
        // The one claim checked at once: the list starts at the parent.
        let Some(first) = self
            .checkpoint(at, |c| c.ancestors.first() == Some(&parent))
            .await
        else {
            return Vec::new();
        };
        let below: Vec<LinkId> = first
            .ancestors
            .last()
            .filter(|id| id.is_checkpoint())
            .into_iter()
            .chain(&first.earlier)
            .copied()
            .collect();
        synced.checkpoints_read += below.len();
        let earlier: Vec<Option<Checkpoint>> = stream::iter(below)
            .map(|id| self.checkpoint(id, |_| true))
            .buffered(self.request.parallel.max(1))
            .collect()
            .await;
        let mut ids = first.ancestors;
        for checkpoint in earlier {
            // A missing checkpoint ends the plan: the links below it are
            // not named, and the walk goes on one at a time from there.
            let Some(checkpoint) = checkpoint else { break };
            ids.extend(checkpoint.ancestors);
        }
        ids
    }
}
