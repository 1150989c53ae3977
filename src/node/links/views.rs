//! What a node's share chain shows: its settled blocks on the best
//! branch, its status, its newest links, the pool's hashrate and the next
//! block's window and split. Reads only.

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::payout::Settlement;
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::sharechain::{ShareChain, Window};

use super::{ChainBlock, ChainStatus, LinkKeeper};
use crate::node::events::LinkEvent;
use crate::node::lock;
use std::sync::atomic::Ordering;

impl LinkKeeper {
    /// Blocks settled so far, by height: those on the block chain's best
    /// branch (a block the chain orphaned pays nobody).
    pub fn blocks(&self) -> Vec<ChainBlock> {
        let settled = lock(&self.settled);
        let by_hash: std::collections::HashMap<[u8; 32], &ChainBlock> =
            settled.values().map(|b| (*b.link.as_bytes(), b)).collect();
        // Walk the block chain back from its tip: a block is a link, so
        // each block's parent is in its header (settled or held here).
        let mut cursor = self.work.tip().borrow().prev_hash;
        // The newest block's link may not have arrived here yet (it is
        // gossiped as the chain learns it): walk from the newest settled
        // block then, rather than finding nothing.
        let unknown = !by_hash.contains_key(&cursor)
            && lock(&self.chain).get(&LinkId::from_bytes(cursor)).is_none();
        if unknown {
            if let Some(newest) = settled.values().next_back() {
                cursor = *newest.link.as_bytes();
            }
        }
        let mut out = Vec::new();
        for _ in 0..=settled.len() {
            let parent = match by_hash.get(&cursor) {
                Some(block) => {
                    out.push((*block).clone());
                    block.prev_hash
                }
                None => match lock(&self.chain).get(&LinkId::from_bytes(cursor)) {
                    Some(link) => *link.header().prev_hash(),
                    None => break,
                },
            };
            cursor = parent;
        }
        out.reverse();
        out
    }

    /// Blocks settled so far, on any branch (a count: no walk, no copy).
    pub fn settled_count(&self) -> usize {
        lock(&self.settled).len()
    }

    /// The chain now.
    pub fn status(&self) -> ChainStatus {
        let chain = lock(&self.chain);
        let tip = chain.tip();
        let uncles = chain
            .best_chain(chain.params().max_window_links as usize)
            .iter()
            .filter_map(|id| chain.get(id))
            .map(|l| l.commitment().uncles.len())
            .sum();
        ChainStatus {
            height: chain.height(),
            tip,
            links: chain.len(),
            pending: chain.pending_len(),
            uncles,
            verified: self.verified.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// The newest `n` links of the best chain, tip first.
    pub fn recent_links(&self, n: usize) -> Vec<LinkEvent> {
        let chain = lock(&self.chain);
        summaries(&chain, &chain.best_chain(n))
    }

    /// The pool's hashrate over each of `windows_secs` as of `now` (unix
    /// seconds), from the work of the links held near the tip (uncles
    /// included, up to the window's link cap back): hashes per second. A
    /// window longer than the history held is read over that history, but
    /// never over less than the link spacing; link times (miners' clocks)
    /// count as at most `now`, and the oldest link's work, done before the
    /// history starts, is left out.
    pub fn chain_hashrate(&self, now: u64, windows_secs: [u64; 4]) -> [f64; 4] {
        let spacing = u64::from(self.params.target_spacing_secs).max(1);
        let mut links: Vec<(u64, u128)> = {
            let chain = lock(&self.chain);
            chain
                .recent(u64::from(chain.params().max_window_links))
                .iter()
                .filter_map(|id| chain.get(id))
                .map(|l| {
                    let work = Difficulty::from_target(&l.chain_target()).raw();
                    (u64::from(l.header().time()).min(now), work)
                })
                .collect()
        };
        links.sort_unstable();
        let Some(&(oldest, _)) = links.first() else {
            return [0.0; 4];
        };
        windows_secs.map(|window| {
            let since = now.saturating_sub(window);
            let work: u128 = links
                .iter()
                .skip(usize::from(oldest >= since))
                .filter(|(t, _)| *t >= since)
                .map(|(_, w)| *w)
                .sum();
            let span = window.min(now.saturating_sub(oldest)).max(spacing);
            work as f64 / span as f64
        })
    }

    /// The window the next block would be paid by (that of the best
    /// tip), if known here.
    pub fn current_window(&self) -> Option<Window> {
        let chain = lock(&self.chain);
        chain.tip().and_then(|tip| chain.window(tip))
    }

    /// What the next block would pay: the split of the reward by the
    /// window of the best tip (no finder's bonus: the finder is unknown).
    pub fn current_split(&self) -> Option<Settlement> {
        lock(&self.chain).next_split(self.reward)
    }
}

/// What watchers are told of `ids`' links (those valid here).
pub(super) fn summaries(chain: &ShareChain, ids: &[LinkId]) -> Vec<LinkEvent> {
    let tip = chain.tip();
    ids.iter()
        .filter_map(|id| {
            let link = chain.get(id)?;
            Some(LinkEvent {
                id: id.to_hex(),
                height: chain.height_of(id)?,
                payout: link.payout().to_string(),
                uncles: link.commitment().uncles.len(),
                block: link.is_block(),
                best: tip == Some(*id),
                time: link.header().time(),
            })
        })
        .collect()
}
