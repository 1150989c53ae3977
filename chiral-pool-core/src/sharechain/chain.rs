//! The share chain one node holds: valid links, pending links, the best
//! tip, and the rules that need a link's ancestors.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::link::{LinkError, ProvenLink};
use super::params::{ChainParams, ParamsError};
use super::pending::{NotHeld, Origin, Pending, PendingLimits, PendingLinks};
use super::window::TipWindow;
use crate::ids::{LinkId, PayoutId, PoolId};
use crate::pow::{CompactTarget, Difficulty, Hash256};

/// How many invalid link ids a chain remembers, so a link refused once is
/// refused again without work, and its descendants with it.
const INVALID_MEMORY: usize = 4_096;
/// How many block-chain headers a chain remembers.
const BLOCK_MEMORY: usize = 4_096;

/// A valid link with what its ancestors made of it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) link: ProvenLink,
    /// Share chain height: a genesis link is 0.
    pub(super) height: u64,
    /// Difficulty of its chain target, fixed point: its own weight.
    pub(super) difficulty: u128,
    /// Taken on its own proof as part of an assumed base
    /// ([`ShareChain::assume`]): no window that includes it is known.
    pub(super) assumed: bool,
    /// Its difficulty plus the weighted uncles it cites: what it adds to a
    /// window and to its chain's cumulative work.
    pub(super) work: u128,
    /// Work of the chain up to and including this link.
    pub(super) cumulative_work: u128,
    /// Median time of this link and its ancestors (`median_time_links`):
    /// never decreases along a chain, so a window's time cap is a suffix.
    pub(super) median_time: u32,
    /// Difficulty of the header's network target, fixed point.
    pub(super) network_difficulty: u128,
    /// What it pays into a window: its miner, and each weighted uncle's
    /// miner; sorted by payout id.
    pub(super) contributions: Vec<(PayoutId, u128)>,
}

/// Why a link was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The link breaks a rule; it is remembered as invalid.
    #[error(transparent)]
    Invalid(#[from] LinkError),
    /// The link may become valid, but this node will not hold it.
    #[error(transparent)]
    NotHeld(#[from] NotHeld),
}

/// Why a segment was not taken as an assumed base.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssumeError {
    /// Not longer than the ancestors the rules read: nothing in it could
    /// be checked.
    #[error("a segment of {len} links is no longer than the {depth} the rules read")]
    TooShort {
        /// Links in the segment.
        len: usize,
        /// [`ChainParams::rules_depth`].
        depth: usize,
    },
    /// A link's parent is not the link before it.
    #[error("the segment's links do not chain")]
    Broken,
    /// The oldest link's parent is held here: insert the links instead.
    #[error("the segment joins a link this chain holds")]
    Connected,
    /// The held best chain has at least as much work over as many links.
    #[error("the segment has no more work than the best chain over as many links")]
    LessWork,
    /// The held best tip is recent: a live chain never gives way.
    #[error("the chain's best tip is recent; it is not behind")]
    Live,
}

/// What inserting a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insertion {
    /// Already valid or pending here: nothing changed.
    Known,
    /// Held until what it needs arrives.
    Pending(Pending),
    /// The link, and pending links it completed, joined the chain.
    Added(Added),
}

/// Links that joined the chain in one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    /// Links that became valid, in the order they joined (forward them).
    pub valid: Vec<LinkId>,
    /// Pending links that turned out invalid, with the rule they broke.
    pub invalid: Vec<(LinkId, LinkError)>,
    /// Valid links whose header also meets the network target (submit
    /// them to the block chain).
    pub blocks: Vec<LinkId>,
    /// The new best tip, if it changed.
    pub new_tip: Option<LinkId>,
}

impl Added {
    /// Appends what a later step added.
    pub(super) fn merge(&mut self, later: Added) {
        self.valid.extend(later.valid);
        self.invalid.extend(later.invalid);
        self.blocks.extend(later.blocks);
        if later.new_tip.is_some() {
            self.new_tip = later.new_tip;
        }
    }
}

/// Where a new job builds: the fields of its commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPosition {
    /// The best tip, `None` on an empty chain (the job mines a genesis link).
    pub parent: Option<LinkId>,
    /// Uncles to cite, strictly ascending.
    pub uncles: Vec<LinkId>,
    /// The chain target the rule gives at this position.
    pub chain_bits: CompactTarget,
    /// The earliest header time a link here may have: one second above
    /// the median time of its last ancestors.
    pub min_time: u32,
    /// What the job's coinbase pays, in a pool that pays in the coinbase
    /// ([`ShareChain::coinbase_plan`] of the parent); `None` in a ledger
    /// pool, or while this node cannot know the parent's window.
    pub payouts: Option<std::sync::Arc<crate::payout::CoinbasePlan>>,
}

enum Verdict {
    Valid(Box<Entry>),
    Wait(Pending),
    /// Its ancestors below what this node keeps: not judged here.
    Deep,
}

/// One node's view of a pool's share chain.
///
/// Links are checked once: [`Link::prove`](super::Link::prove) for what
/// needs nothing else, [`ShareChain::insert`] for what needs ancestors. A
/// link whose ancestors or block-chain header are missing, or whose time is
/// ahead of this node's clock, is [`Pending`], never invalid; it is
/// re-judged when what it waits for arrives.
///
/// The best tip is the valid link with the most cumulative work (uncles
/// included); on equal work the tip received first stays. The window that
/// pays a block is [`ShareChain::window`] of the block's parent: a function
/// of the chain alone, so every node that holds the same links computes the
/// same bytes, whatever order they arrived in.
pub struct ShareChain {
    pool: PoolId,
    params: ChainParams,
    floor: crate::pow::Target,
    links: HashMap<LinkId, Entry>,
    by_height: BTreeMap<u64, Vec<LinkId>>,
    best: Option<LinkId>,
    tip_window: TipWindow,
    blocks: HashMap<Hash256, u32>,
    block_order: VecDeque<Hash256>,
    pending: PendingLinks,
    invalid: HashSet<LinkId>,
    invalid_order: VecDeque<LinkId>,
}

impl ShareChain {
    /// An empty chain for `pool` under `params`; parameters out of range
    /// are an error naming the field.
    pub fn new(
        pool: PoolId,
        params: ChainParams,
        limits: PendingLimits,
    ) -> Result<Self, ParamsError> {
        params.check()?;
        Ok(ShareChain {
            pool,
            floor: params.floor_target(),
            params,
            links: HashMap::new(),
            by_height: BTreeMap::new(),
            best: None,
            tip_window: TipWindow::default(),
            blocks: HashMap::new(),
            block_order: VecDeque::new(),
            pending: PendingLinks::new(limits),
            invalid: HashSet::new(),
            invalid_order: VecDeque::new(),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &PoolId {
        &self.pool
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The best tip.
    pub fn tip(&self) -> Option<LinkId> {
        self.best
    }

    /// Height of the best tip (genesis is 0).
    pub fn height(&self) -> Option<u64> {
        self.best
            .and_then(|id| self.links.get(&id))
            .map(|e| e.height)
    }

    /// Share chain height of a valid link (genesis is 0).
    pub fn height_of(&self, id: &LinkId) -> Option<u64> {
        self.links.get(id).map(|e| e.height)
    }

    /// Whether `id` is a valid link at most the uncle depth below the best
    /// tip: a link built on it could still join the best chain (as a
    /// link or an uncle). What a replica asks before storing a link.
    pub fn near_tip(&self, id: &LinkId) -> bool {
        match (self.height_of(id), self.height()) {
            (Some(h), Some(best)) => h + u64::from(self.params.uncle_depth) >= best,
            _ => false,
        }
    }

    /// The valid links at most `depth` below the best tip's height (the
    /// tip included), in no particular order.
    pub fn recent(&self, depth: u64) -> Vec<LinkId> {
        let Some(top) = self.height() else {
            return Vec::new();
        };
        self.by_height
            .range(top.saturating_sub(depth)..)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    }

    /// Cumulative work of the best tip.
    pub fn tip_work(&self) -> u128 {
        self.best
            .and_then(|id| self.links.get(&id))
            .map_or(0, |e| e.cumulative_work)
    }

    /// Valid links held.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no valid link is held.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Pending links held.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `id` is a valid link here.
    pub fn contains(&self, id: &LinkId) -> bool {
        self.links.contains_key(id)
    }

    /// A valid link.
    pub fn get(&self, id: &LinkId) -> Option<&ProvenLink> {
        self.links.get(id).map(|e| &e.link)
    }

    /// Links pending links wait for and nobody holds: fetch these.
    pub fn wanted(&self) -> Vec<LinkId> {
        self.pending.wanted()
    }

    /// The ids of the best chain from the tip back, at most `max`.
    pub fn best_chain(&self, max: usize) -> Vec<LinkId> {
        let mut out = Vec::new();
        let mut cursor = self.best;
        while let Some(id) = cursor.filter(|_| out.len() < max) {
            out.push(id);
            cursor = self.links.get(&id).and_then(|e| e.link.parent());
        }
        out
    }

    /// Tells the chain that `prev_hash` is a block-chain header with valid
    /// work, and that the block built on it has height `height`. Links
    /// waiting for it are judged again.
    pub fn add_block(&mut self, prev_hash: Hash256, height: u32, now: u64) -> Added {
        self.remember_block(prev_hash, height);
        let waiting = self.pending.take_on_block(&prev_hash);
        let mut added = Added::default();
        self.judge_all(waiting, now, &mut added);
        added
    }

    /// Judges again links held for being ahead of the clock.
    pub fn tick(&mut self, now: u64) -> Added {
        let latest = now.saturating_add(u64::from(self.params.max_future_secs));
        let due = self
            .pending
            .take_due(u32::try_from(latest).unwrap_or(u32::MAX));
        let mut added = Added::default();
        self.judge_all(due, now, &mut added);
        added
    }

    /// Offers a proven link; `now` is this node's clock (unix seconds).
    pub fn insert(
        &mut self,
        link: ProvenLink,
        origin: Origin,
        now: u64,
    ) -> Result<Insertion, InsertError> {
        let id = link.id();
        if self.links.contains_key(&id) || self.pending.contains(&id) {
            return Ok(Insertion::Known);
        }
        if self.invalid.contains(&id) {
            return Err(LinkError::KnownInvalid.into());
        }
        if link.chain_target() > self.floor {
            // Cheaper than any rule that reads ancestors, and no position's
            // target is ever easier than the floor.
            self.remember_invalid(id);
            return Err(LinkError::BelowFloor.into());
        }
        self.check_genesis_policy(&link)?;
        match self.judge(&link, now) {
            Err(e) => {
                self.remember_invalid(id);
                Err(e.into())
            }
            Ok(Verdict::Wait(reason)) => {
                self.check_worth_holding(&link)?;
                self.pending.hold(link, origin, reason)?;
                Ok(Insertion::Pending(reason))
            }
            Ok(Verdict::Deep) => Err(NotHeld::Deep.into()),
            Ok(Verdict::Valid(entry)) => {
                let mut added = Added::default();
                self.accept(*entry, &mut added);
                let mut queue = self.pending.take_on_link(&id);
                while let Some((next, from)) = queue.pop() {
                    self.judge_one(next, from, now, &mut added, &mut queue);
                }
                Ok(Insertion::Added(added))
            }
        }
    }

    /// Forgets links far below the best tip (more than
    /// [`ChainParams::retained_links`]) and pending links older than the
    /// window's time span. Returns how many links went.
    pub fn prune(&mut self) -> usize {
        let Some(top) = self.best.and_then(|id| self.links.get(&id)) else {
            return 0;
        };
        let keep_from = top
            .height
            .saturating_sub(u64::from(self.params.retained_links()));
        let too_old = top.median_time.saturating_sub(self.params.max_window_secs);
        let old: Vec<u64> = self.by_height.range(..keep_from).map(|(h, _)| *h).collect();
        let mut removed = 0;
        for height in old {
            for id in self.by_height.remove(&height).unwrap_or_default() {
                removed += usize::from(self.links.remove(&id).is_some());
            }
        }
        removed + self.pending.drop_older_than(too_old)
    }

    fn judge_all(&mut self, links: Vec<(ProvenLink, Origin)>, now: u64, added: &mut Added) {
        let mut queue = links;
        while let Some((next, from)) = queue.pop() {
            self.judge_one(next, from, now, added, &mut queue);
        }
    }

    /// Judges one link taken from the pending set; queues the links that
    /// waited for it if it joins.
    fn judge_one(
        &mut self,
        link: ProvenLink,
        origin: Origin,
        now: u64,
        added: &mut Added,
        queue: &mut Vec<(ProvenLink, Origin)>,
    ) {
        let id = link.id();
        match self.judge(&link, now) {
            Ok(Verdict::Valid(entry)) => {
                self.accept(*entry, added);
                queue.extend(self.pending.take_on_link(&id));
            }
            Ok(Verdict::Wait(reason)) => {
                // It was held before; a full set now drops it (it can be
                // fetched again).
                let _ = self.pending.hold(link, origin, reason);
            }
            Ok(Verdict::Deep) => {}
            Err(e) => {
                self.remember_invalid(id);
                added.invalid.push((id, e));
                // Whatever waited for it is invalid too.
                for (child, _) in self.pending.take_on_link(&id) {
                    queue.push((child, origin));
                }
            }
        }
    }

    pub(super) fn accept(&mut self, entry: Entry, added: &mut Added) {
        let id = entry.link.id();
        let better = match self.best.and_then(|b| self.links.get(&b)) {
            None => true,
            // Strictly more work: on a tie the tip received first stays.
            Some(best) => entry.cumulative_work > best.cumulative_work,
        };
        if entry.link.is_block() {
            added.blocks.push(id);
        }
        self.by_height.entry(entry.height).or_default().push(id);
        self.links.insert(id, entry);
        added.valid.push(id);
        if better {
            self.best = Some(id);
            self.tip_window.advance(&self.params, &self.links, id);
            added.new_tip = Some(id);
        }
    }

    pub(super) fn remember_block(&mut self, prev_hash: Hash256, height: u32) {
        if self.blocks.insert(prev_hash, height).is_none() {
            self.block_order.push_back(prev_hash);
            while self.block_order.len() > BLOCK_MEMORY {
                if let Some(old) = self.block_order.pop_front() {
                    self.blocks.remove(&old);
                }
            }
        }
    }

    fn remember_invalid(&mut self, id: LinkId) {
        if self.invalid.insert(id) {
            self.invalid_order.push_back(id);
            while self.invalid_order.len() > INVALID_MEMORY {
                if let Some(old) = self.invalid_order.pop_front() {
                    self.invalid.remove(&old);
                }
            }
        }
    }

    /// A pending link must meet a quarter of the target the best chain
    /// asks for now: holding it costs memory on the word of ancestors
    /// nobody has seen, so it must have cost its sender real work.
    fn check_worth_holding(&self, link: &ProvenLink) -> Result<(), NotHeld> {
        let Some(best) = self.best.and_then(|id| self.links.get(&id)) else {
            return Ok(());
        };
        let wanted = Difficulty::from_target(
            &crate::pow::Target::from_compact(self.bits_after(best))
                .unwrap_or(self.params.floor_target()),
        )
        .raw();
        let has = Difficulty::from_target(&link.chain_target()).raw();
        if has.saturating_mul(4) < wanted {
            return Err(NotHeld::TooWeak);
        }
        Ok(())
    }
}

mod assume;
mod payouts;
mod queries;

pub use assume::ASSUME_STALE_SECS;
mod rules;
