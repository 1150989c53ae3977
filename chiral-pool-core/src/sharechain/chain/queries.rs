//! What a chain answers: where the next job builds, the window of a link,
//! and how a block is split.

use std::sync::Arc;

use super::{Entry, JobPosition, ShareChain};
use crate::ids::LinkId;
use crate::payout::{RewardCuts, Settlement};
use crate::record::{Checkpoint, MAX_CHECKPOINT_EARLIER, MAX_CHECKPOINT_SPAN};
use crate::sharechain::retarget::next_bits;
use crate::sharechain::window::{walk, Window, WindowEnd};

impl ShareChain {
    /// The position a new job builds on: the best tip, the uncles it may
    /// cite, and the chain target there.
    pub fn job(&self) -> JobPosition {
        let Some(parent) = self.best.and_then(|id| self.links.get(&id)) else {
            return JobPosition {
                parent: None,
                uncles: Vec::new(),
                chain_bits: next_bits(&self.params, &[], None, None),
                min_time: 0,
                payouts: self.coinbase_plan(None).map(Arc::new),
            };
        };
        let nearby = self.nearby_ancestors(parent);
        let lowest = parent
            .height
            .saturating_add(2)
            .saturating_sub(u64::from(self.params.uncle_depth));
        let mut candidates: Vec<&Entry> = self
            .by_height
            .range(lowest..=parent.height + 1)
            .flat_map(|(_, ids)| ids.iter())
            .filter_map(|id| self.links.get(id))
            .filter(|u| self.uncle_rule(u, &nearby).is_ok())
            .filter(|u| !self.weighs_nothing(u, parent.link.block_height()))
            .collect();
        // Heaviest first; the id breaks ties so every node picks the same.
        candidates.sort_by(|a, b| {
            b.difficulty
                .cmp(&a.difficulty)
                .then_with(|| a.link.id().cmp(&b.link.id()))
        });
        let mut uncles: Vec<LinkId> = candidates
            .iter()
            .take(self.params.max_uncles as usize)
            .map(|e| e.link.id())
            .collect();
        uncles.sort_unstable();
        JobPosition {
            parent: Some(parent.link.id()),
            uncles,
            chain_bits: self.bits_after(parent),
            min_time: self
                .median_time_after(parent)
                .map_or(0, |m| m.saturating_add(1)),
            payouts: self.coinbase_plan(Some(parent.link.id())).map(Arc::new),
        }
    }

    /// The window that pays a block built on `tip`; `None` if `tip` is not
    /// a valid link here. Kept incrementally for the best tip.
    pub fn window(&self, tip: LinkId) -> Option<Window> {
        self.tip_window
            .window_of(tip)
            .or_else(|| walk(&self.params, &self.links, tip))
    }

    /// The window of `tip` walked from scratch, ignoring the incremental
    /// state (for tests and audits).
    pub fn window_from_scratch(&self, tip: LinkId) -> Option<Window> {
        walk(&self.params, &self.links, tip)
    }

    /// How the reward of block `block` (a valid link) is split: the pool's
    /// fee, the finder's bonus to the block's miner, and the rest by
    /// the window of its parent. A genesis block pays its finder alone.
    /// `None` if the block or its window is not known here.
    pub fn settle(&self, block: LinkId, reward: u64) -> Option<Settlement> {
        let entry = self.links.get(&block)?;
        let finder = entry.link.payout().clone();
        let weights = match entry.link.parent() {
            Some(parent) => {
                let window = self.window(parent)?;
                if window.end == WindowEnd::Missing {
                    return None;
                }
                window.weights
            }
            None => vec![(finder.clone(), 1)],
        };
        let cuts = RewardCuts {
            fee: self.params.fee,
            finder_bonus: self.params.finder_bonus,
        };
        Some(Settlement::from_weights(
            reward,
            cuts,
            Some(&finder),
            weights,
            0,
        ))
    }

    /// What a block on the best tip would pay: the split of `reward` by the
    /// best tip's window, without a finder's bonus (the finder is not known
    /// before the block is). `None` on an empty chain or an unknown window.
    pub fn next_split(&self, reward: u64) -> Option<Settlement> {
        let window = self.window(self.best?)?;
        if window.end == WindowEnd::Missing {
            return None;
        }
        let cuts = RewardCuts::fee_only(self.params.fee);
        Some(Settlement::from_weights(
            reward,
            cuts,
            None,
            window.weights,
            0,
        ))
    }

    /// The checkpoint at `at` (a checkpoint link this chain holds): its
    /// ancestors back to the previous checkpoint link, and the checkpoint
    /// links below that, as far as this chain holds them. `None` if `at`
    /// is not a held checkpoint link or its parent is not held.
    pub fn checkpoint(&self, at: &LinkId) -> Option<Checkpoint> {
        if !at.is_checkpoint() {
            return None;
        }
        let link = self.get(at)?;
        let mut cursor = link.parent();
        let mut ancestors = Vec::new();
        while let Some(id) = cursor {
            let Some(link) = self.get(&id) else { break };
            ancestors.push(id);
            cursor = link.parent();
            if id.is_checkpoint() || ancestors.len() == MAX_CHECKPOINT_SPAN {
                break;
            }
        }
        let mut earlier = Vec::new();
        while let Some(id) = cursor.filter(|_| earlier.len() < MAX_CHECKPOINT_EARLIER) {
            let Some(link) = self.get(&id) else { break };
            if id.is_checkpoint() {
                earlier.push(id);
            }
            cursor = link.parent();
        }
        (!ancestors.is_empty()).then(|| Checkpoint {
            link: link.link().clone(),
            ancestors,
            earlier,
        })
    }
}
