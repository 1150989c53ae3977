//! The node's share chain: links mined here or pushed by peers join it
//! once (verified once each), its best tip is where every job builds, block
//! links are submitted to the work source by every node that holds them,
//! and each block is settled by the window of its parent.
//!
//! One link's path: a miner's share meets the chain target, the sink hands
//! it over ([`LinkKeeper::own_link`]), it joins the chain, goes out on the
//! pool's gossip topic at once, and the Stratum server's next job builds on
//! it. On a peer, the gossiped link is proven, joins the chain, and only
//! then is it reported valid, so gossipsub forwards only links that were
//! checked. A link whose parent is missing is held; its ancestors are
//! fetched from the peer that forwarded it, oldest inserted first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chiral_pool_core::chain::{Tip, WorkSource};
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::record::PoolParams;
use chiral_pool_core::sharechain::gossip::{Acceptance, LinkGossip, Ticket};
use chiral_pool_core::sharechain::{
    Added, ChainParams, InsertError, Insertion, JobPosition, Link, Origin, ParamsError,
    PendingLimits, ProvenLink, ShareChain,
};
use chiral_pool_core::store::SharedClock;
use chiral_pool_dht::KadStore;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::events::{BlockEvent, NodeEvent, NodeWatch};
use super::link_store::{LinkStore, StoreJob, StoreWriter};
use super::lock;

mod blocks;
mod records;
mod sync;
mod views;

use views::summaries;

use blocks::coinbase_paid;
pub use blocks::{ChainBlock, ChainStatus};

pub(in crate::node) use sync::run;

/// Ancestor fetches in flight at once.
const MAX_BACKFILLS: usize = 8;
/// Links one backfill fetches at once once checkpoints name them.
const SYNC_PARALLEL: usize = 16;
/// How often a member republishes its pool's parameters record (ticks of
/// one second), and how long each copy lives.
const PARAMS_EVERY_TICKS: u64 = 20 * 60;
const PARAMS_TTL_SECS: u64 = 3_600;
/// Held links remembered for pushing once they join (own links, and
/// peers' links not forwarded while they waited).
const MAX_HELD_TO_PUSH: usize = 1_024;

/// The share chain of the pool a node follows, and what drives it.
pub struct LinkKeeper {
    pool: PoolId,
    params: ChainParams,
    /// The pool's identity and rules, republished as a record by every
    /// member so the pool outlives its owner's announcement.
    identity: PoolParams,
    /// Signs the link, checkpoint and parameter records this node carries
    /// (their authority is their content; see `record::certified`).
    carrier: Keypair,
    reward: u64,
    chain: Mutex<ShareChain>,
    position: watch::Sender<JobPosition>,
    settled: Mutex<BTreeMap<(u32, LinkId), ChainBlock>>,
    unsettled: Mutex<Vec<LinkId>>,
    work: Arc<dyn WorkSource>,
    gossip: KadStore,
    /// The link store's writer thread and its queue, closed and joined at
    /// shutdown so nothing saved is lost and the database is released.
    writer: Mutex<Option<StoreWriter>>,
    clock: SharedClock,
    verified: AtomicU64,
    rejected: AtomicU64,
    /// Links that were held when they came: pushed to the pool's members
    /// once they join (gossipsub forwarded none of them).
    held_to_push: Mutex<HashSet<LinkId>>,
    /// Own links among them, pushed and stored as records once they join.
    own_held: Mutex<HashMap<LinkId, Link>>,
    /// What the replica rule reads (see `records::NearTip`), kept apart
    /// from the chain's lock: the Kademlia task reads it.
    near_tip: Arc<records::NearTip>,
    /// Where links joining and blocks settling are told.
    watch: Arc<NodeWatch>,
}

impl LinkKeeper {
    /// A keeper for `identity`'s pool, building on `work`'s blocks;
    /// `history` holds the block tips seen before a restart, so saved
    /// links on them are valid again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        identity: PoolParams,
        carrier: Keypair,
        reward: u64,
        work: Arc<dyn WorkSource>,
        history: &[Tip],
        gossip: KadStore,
        store: Option<Arc<LinkStore>>,
        clock: SharedClock,
        watch: Arc<NodeWatch>,
    ) -> Result<Arc<Self>, ParamsError> {
        let (pool, params) = (identity.id(), identity.chain.clone());
        let mut chain = ShareChain::new(pool, params.clone(), PendingLimits::default())?;
        let tip = *work.tip().borrow();
        for known in history.iter().chain([&tip]) {
            chain.add_block(known.prev_hash, known.height, clock.now());
        }
        let (position, _) = watch::channel(chain.job());
        let writer = store.map(StoreWriter::spawn);
        Ok(Arc::new(LinkKeeper {
            pool,
            params,
            identity,
            carrier,
            reward,
            chain: Mutex::new(chain),
            position,
            settled: Mutex::default(),
            unsettled: Mutex::default(),
            work,
            gossip,
            writer: Mutex::new(writer),
            clock,
            verified: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            held_to_push: Mutex::default(),
            own_held: Mutex::default(),
            near_tip: Arc::default(),
            watch,
        }))
    }

    /// The pool.
    pub fn pool(&self) -> PoolId {
        self.pool
    }

    /// The chain's rules.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Where jobs build: changes with every new best tip.
    pub fn positions(&self) -> watch::Receiver<JobPosition> {
        self.position.subscribe()
    }

    /// A valid link this node holds (what it answers a peer's fetch with).
    pub fn link(&self, id: &LinkId) -> Option<Link> {
        lock(&self.chain).get(id).map(|l| l.link().clone())
    }

    /// A share the node's Stratum server accepted that is also a link.
    pub fn own_link(self: &Arc<Self>, link: ProvenLink) {
        self.handle(link, Origin::LOCAL, None);
    }

    /// Rebuilds the chain from saved links (a restart): parents first,
    /// whatever order they were saved in.
    pub(super) fn restore(self: &Arc<Self>, links: Vec<Link>) -> usize {
        let mut proven: Vec<ProvenLink> = links
            .into_iter()
            .filter_map(|l| l.prove(&self.pool, &self.params).ok())
            .collect();
        let mut restored = 0;
        // Insert what can join; repeat while anything joined.
        loop {
            let before = proven.len();
            let mut waiting = Vec::new();
            for link in proven {
                let now = self.clock.now();
                let ready = {
                    let chain = lock(&self.chain);
                    let c = link.commitment();
                    c.parent.is_none_or(|p| chain.contains(&p))
                        && c.uncles.iter().all(|u| chain.contains(u))
                };
                if !ready {
                    waiting.push(link);
                    continue;
                }
                let result = lock(&self.chain).insert(link, Origin::LOCAL, now);
                if let Ok(Insertion::Added(added)) = result {
                    restored += added.valid.len();
                    self.after(added, false);
                }
            }
            proven = waiting;
            if proven.is_empty() || proven.len() == before {
                break;
            }
        }
        // What is left does not join a held link: a chain that stood on an
        // assumed base. The longest run of saved links is that base again.
        if let Some((segment, others)) = sync::longest_run(proven) {
            let now = self.clock.now();
            let result = lock(&self.chain).assume(segment, others, now);
            if let Ok(added) = result {
                restored += added.valid.len();
                self.after(added, false);
            }
        }
        restored
    }

    /// Joins a link to the chain and does what follows: the verdict to
    /// gossip, publication of an own link, blocks, fetches of ancestors.
    fn handle(self: &Arc<Self>, link: ProvenLink, origin: Origin, ticket: Option<Ticket>) {
        let id = link.id();
        let raw = (origin == Origin::LOCAL).then(|| link.link().clone());
        let now = self.clock.now();
        let result = lock(&self.chain).insert(link, origin, now);
        let acceptance = match &result {
            Ok(Insertion::Added(_)) => Acceptance::Accept,
            Err(InsertError::Invalid(_)) => Acceptance::Reject,
            _ => Acceptance::Ignore,
        };
        if let Some(ticket) = ticket {
            let gossip = self.gossip.clone();
            tokio::spawn(async move { gossip.report(ticket, acceptance).await });
        }
        match result {
            Ok(Insertion::Added(added)) => {
                if let Some(link) = raw.filter(|_| added.valid.contains(&id)) {
                    self.push_own(id, link);
                }
                self.after(added, true);
            }
            Ok(Insertion::Pending(reason)) => {
                debug!(?reason, "link held");
                let mut held = lock(&self.held_to_push);
                if held.len() < MAX_HELD_TO_PUSH {
                    held.insert(id);
                    if let Some(link) = raw {
                        lock(&self.own_held).insert(id, link);
                    }
                }
            }
            Ok(Insertion::Known) => {}
            Err(InsertError::Invalid(e)) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                debug!(error = %e, "link refused");
            }
            Err(InsertError::NotHeld(e)) => debug!(error = %e, "link not held"),
            Err(e) => debug!(error = %e, "link not taken"),
        }
    }

    /// What follows links joining: counters, saving, blocks submitted and
    /// settled, the job position.
    fn after(self: &Arc<Self>, added: Added, save: bool) {
        let mut queue = vec![added];
        while let Some(added) = queue.pop() {
            self.verified
                .fetch_add(added.valid.len() as u64, Ordering::Relaxed);
            if save {
                self.save(&added.valid);
            }
            self.tell_links(&added.valid);
            self.push_held(&added.valid);
            for block in &added.blocks {
                if let Some(more) = self.submit_block(block) {
                    queue.push(more);
                }
                lock(&self.unsettled).push(*block);
            }
            if added.new_tip.is_some() {
                let chain = lock(&self.chain);
                self.position.send_replace(chain.job());
                self.near_tip.update(&chain);
            }
        }
        self.settle_ready();
    }

    /// Pushes the links among `valid` that were held when they came; an
    /// own one is also stored, as if it had joined at once.
    fn push_held(&self, valid: &[LinkId]) {
        let ready: Vec<LinkId> = {
            let mut held = lock(&self.held_to_push);
            valid.iter().filter(|id| held.remove(id)).copied().collect()
        };
        for id in ready {
            if let Some(link) = lock(&self.own_held).remove(&id) {
                self.push_own(id, link);
                continue;
            }
            let Some(link) = self.link(&id) else { continue };
            let (gossip, pool) = (self.gossip.clone(), self.pool);
            tokio::spawn(async move {
                if let Err(e) = gossip.publish(pool, &link).await {
                    debug!(error = %e, "held link not pushed");
                }
            });
        }
    }

    /// Every node submits every block link it holds (a finder that crashed
    /// cannot sink its block); a block the work source now knows is a
    /// header links may build on.
    fn submit_block(&self, block: &LinkId) -> Option<Added> {
        let (header, height, coinbase) = {
            let chain = lock(&self.chain);
            let link = chain.get(block)?;
            (
                *link.header(),
                link.block_height(),
                link.link().coinbase.clone(),
            )
        };
        let found = self.work.block_found(&header, &coinbase);
        if !found && self.work.next_height(block.as_bytes()).is_none() {
            // Its parent block is older than anything this node saw (a
            // block of an assumed base, or built on one): known on the
            // share chain's word, which checked its work.
            self.work.adopt(&header, height);
        }
        let height = self.work.next_height(block.as_bytes())?;
        Some(lock(&self.chain).add_block(*block.as_bytes(), height, self.clock.now()))
    }

    /// Settles blocks whose window is known.
    fn settle_ready(&self) {
        let waiting = std::mem::take(&mut *lock(&self.unsettled));
        let mut still = Vec::new();
        for block in waiting {
            let chain = lock(&self.chain);
            let Some(link) = chain.get(&block) else {
                continue;
            };
            let window_links = link
                .parent()
                .and_then(|p| chain.window(p))
                .map_or(0, |w| w.links);
            let paid = match self.params.coinbase_rules() {
                Some(rules) => coinbase_paid(&chain, link, rules.network),
                // The block pays what its own coinbase holds: every node
                // reads the same number from the link.
                None => chain
                    .settle(block, link.coinbase_value())
                    .map(|s| (s, Vec::new(), None)),
            };
            match paid {
                Some((settlement, outputs, outputs_agree)) => {
                    let entry = ChainBlock {
                        height: link.block_height(),
                        link: block,
                        prev_hash: *link.header().prev_hash(),
                        finder: link.payout().clone(),
                        window_links,
                        settlement,
                        outputs,
                        outputs_agree,
                    };
                    drop(chain);
                    let event = BlockEvent {
                        height: entry.height,
                        link: block.to_hex(),
                        finder: entry.finder.to_string(),
                        reward: entry.settlement.reward,
                    };
                    let new = lock(&self.settled)
                        .insert((entry.height, block), entry)
                        .is_none();
                    if new {
                        self.watch.send(NodeEvent::Block(event));
                    }
                }
                None => still.push(block),
            }
        }
        lock(&self.unsettled).extend(still);
    }

    /// Tells watchers of links that joined (nothing is built when nobody
    /// watches).
    fn tell_links(&self, ids: &[LinkId]) {
        if ids.is_empty() || !self.watch.watched() {
            return;
        }
        let events = summaries(&lock(&self.chain), ids);
        for event in events {
            self.watch.send(NodeEvent::Link(event));
        }
    }

    fn save(&self, ids: &[LinkId]) {
        if lock(&self.writer).is_none() || ids.is_empty() {
            return;
        }
        let links: Vec<Link> = {
            let chain = lock(&self.chain);
            ids.iter()
                .filter_map(|id| chain.get(id).map(|l| l.link().clone()))
                .collect()
        };
        self.store_job(StoreJob::Save(links));
    }

    fn store_job(&self, job: StoreJob) {
        if let Some(writer) = lock(&self.writer).as_ref() {
            if writer.queue.try_send(job).is_err() {
                warn!("the link store's queue is full; links not saved");
            }
        }
    }

    /// Closes the link store's writer and waits until it has written what
    /// it was given (off the runtime's threads).
    pub(super) async fn close_store(&self) {
        let writer = lock(&self.writer).take();
        if let Some(StoreWriter { queue, thread }) = writer {
            drop(queue);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn tick(self: &Arc<Self>, ticks: u64) {
        let prune = ticks.is_multiple_of(60);
        if ticks % PARAMS_EVERY_TICKS == 1 {
            self.republish_params();
        }
        let now = self.clock.now();
        let added = lock(&self.chain).tick(now);
        self.after(added, true);
        if prune {
            lock(&self.chain).prune();
            // Held links that never joined are not pushed any more.
            lock(&self.held_to_push).clear();
            lock(&self.own_held).clear();
            let keep = now.saturating_sub(2 * u64::from(self.params.max_window_secs));
            self.store_job(StoreJob::Prune(u32::try_from(keep).unwrap_or(u32::MAX)));
        }
    }

    fn on_block_tip(self: &Arc<Self>, prev_hash: [u8; 32], height: u32) {
        let added = lock(&self.chain).add_block(prev_hash, height, self.clock.now());
        self.after(added, true);
    }
}
