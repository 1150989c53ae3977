//! An assumed base: how a node joins a pool older than anything its peers
//! keep.

use std::collections::HashMap;

use super::{Added, AssumeError, Entry, InsertError, Insertion, ShareChain};
use crate::ids::LinkId;
use crate::pow::Difficulty;
use crate::sharechain::link::ProvenLink;
use crate::sharechain::pending::Origin;

/// A chain whose best tip is younger than this (header time against the
/// node's clock, seconds) is live: it never gives way to an assumed base.
pub const ASSUME_STALE_SECS: u64 = 3_600;

impl ShareChain {
    /// Takes `segment` (oldest first, each link's parent the one before
    /// it, the oldest's parent unknown here) as an **assumed base**: the
    /// ancestry of a pool older than anything this node can fetch (peers
    /// keep [`ChainParams::retained_links`](crate::sharechain::ChainParams::retained_links)).
    /// `uncles` are the links the segment cites that are not in it.
    ///
    /// Its first [`ChainParams::rules_depth`](crate::sharechain::ChainParams::rules_depth)
    /// links, and the uncles whose parent is among them, are taken on
    /// their own proof (each one's hash meets the chain target it commits
    /// to), with the weight every node gives them (uncles included), but
    /// the target, time and uncle rules that read their lost ancestors are
    /// not checked. The links above are inserted and checked as any link
    /// is. No window that reaches an assumed link is known here, so blocks
    /// paid by such a window are not settled by this node; every window
    /// above the base is exact.
    ///
    /// A chain that holds links gives way only if its best tip is older
    /// than [`ASSUME_STALE_SECS`] (a node far behind, not a live one) and
    /// the segment's newest links carry more work than as many of its own.
    pub fn assume(
        &mut self,
        segment: Vec<ProvenLink>,
        uncles: Vec<ProvenLink>,
        now: u64,
    ) -> Result<Added, AssumeError> {
        let depth = self.params.rules_depth() as usize;
        if segment.len() <= depth {
            return Err(AssumeError::TooShort {
                len: segment.len(),
                depth,
            });
        }
        if segment
            .windows(2)
            .any(|pair| pair[1].parent() != Some(pair[0].id()))
        {
            return Err(AssumeError::Broken);
        }
        if segment[0]
            .parent()
            .is_some_and(|p| self.links.contains_key(&p))
        {
            return Err(AssumeError::Connected);
        }
        if let Some(best) = self.best.and_then(|id| self.links.get(&id)) {
            let time = u64::from(best.link.header().time());
            if time.saturating_add(ASSUME_STALE_SECS) > now {
                return Err(AssumeError::Live);
            }
            if self.newest_work(&segment) <= self.held_newest_work(segment.len()) {
                return Err(AssumeError::LessWork);
            }
            // Everything held is far behind the segment: start again on it.
            self.links.clear();
            self.by_height.clear();
            self.best = None;
            self.tip_window = Default::default();
        }
        let mut uncles: HashMap<LinkId, ProvenLink> =
            uncles.into_iter().map(|u| (u.id(), u)).collect();
        let mut added = Added::default();
        let mut rest = segment.into_iter();
        for link in rest.by_ref().take(depth) {
            self.hold_uncles(&link, &mut uncles, &mut added, now);
            let parent = link.parent().and_then(|p| self.links.get(&p));
            let cited: Vec<Entry> = link
                .commitment()
                .uncles
                .iter()
                .filter_map(|u| self.links.get(u).cloned())
                .collect();
            let cited: Vec<&Entry> = cited.iter().collect();
            let mut entry = self.entry_for(&link, parent, &cited);
            entry.assumed = true;
            if link.is_block() {
                // A block of the base: headers built on it are known.
                self.remember_block(*link.id().as_bytes(), link.block_height().saturating_add(1));
            }
            self.accept(entry, &mut added);
        }
        for link in rest {
            self.hold_uncles(&link, &mut uncles, &mut added, now);
            let id = link.id();
            match self.insert(link, Origin::LOCAL, now) {
                Ok(Insertion::Added(more)) => added.merge(more),
                Ok(_) => {}
                Err(InsertError::Invalid(e)) => {
                    added.invalid.push((id, e));
                    break;
                }
                Err(InsertError::NotHeld(_)) => break,
            }
        }
        Ok(added)
    }

    /// Holds the uncles `link` cites from `offered`: taken on their proof
    /// if their parent is assumed or not held (it lies in or below the
    /// base), checked as any link otherwise.
    fn hold_uncles(
        &mut self,
        link: &ProvenLink,
        offered: &mut HashMap<LinkId, ProvenLink>,
        added: &mut Added,
        now: u64,
    ) {
        for id in &link.commitment().uncles {
            if self.links.contains_key(id) {
                continue;
            }
            let Some(uncle) = offered.remove(id) else {
                continue;
            };
            let parent = uncle.parent().and_then(|p| self.links.get(&p));
            if parent.is_none_or(|p| p.assumed) {
                let mut entry = self.entry_for(&uncle, parent, &[]);
                entry.assumed = true;
                self.accept(entry, added);
            } else if let Ok(Insertion::Added(more)) = self.insert(uncle, Origin::LOCAL, now) {
                added.merge(more);
            }
        }
    }

    /// Chain-target work of the newest links of `segment`, as many as the
    /// held best chain has (at most the segment's length).
    fn newest_work(&self, segment: &[ProvenLink]) -> u128 {
        let k = self.best_chain(segment.len()).len();
        segment.iter().rev().take(k).fold(0u128, |sum, l| {
            sum.saturating_add(Difficulty::from_target(&l.chain_target()).raw())
        })
    }

    /// Chain-target work of the held best chain's newest `n` links.
    fn held_newest_work(&self, n: usize) -> u128 {
        self.best_chain(n)
            .iter()
            .filter_map(|id| self.links.get(id))
            .fold(0u128, |sum, e| sum.saturating_add(e.difficulty))
    }
}
