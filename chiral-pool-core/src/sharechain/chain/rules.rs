//! The rules that read a link's ancestors: parent and uncles known, block
//! height, chain target, time, uncles; and what a valid link adds.

use std::collections::BTreeMap;

use ruint::aliases::U256;

use super::{Entry, ShareChain, Verdict};
use crate::ids::PayoutId;
use crate::pow::{CompactTarget, Difficulty};
use crate::sharechain::link::{LinkError, ProvenLink};
use crate::sharechain::pending::{NotHeld, Pending};
use crate::sharechain::retarget::{median, next_bits, Sample};

impl ShareChain {
    /// Judges a proven link against what this node holds.
    pub(super) fn judge(&self, link: &ProvenLink, now: u64) -> Result<Verdict, LinkError> {
        let commitment = link.commitment();
        let parent = match commitment.parent {
            None => None,
            Some(id) if self.invalid.contains(&id) => return Err(LinkError::InvalidAncestor),
            Some(id) => match self.links.get(&id) {
                Some(entry) => Some(entry),
                None => return Ok(Verdict::Wait(Pending::MissingParent(id))),
            },
        };
        let mut uncles = Vec::with_capacity(commitment.uncles.len());
        for id in &commitment.uncles {
            if self.invalid.contains(id) {
                return Err(LinkError::InvalidAncestor);
            }
            match self.links.get(id) {
                Some(entry) => uncles.push(entry),
                None => return Ok(Verdict::Wait(Pending::MissingUncle(*id))),
            }
        }
        if let Some(parent) = parent {
            if !self.ancestry_known(parent) {
                return Ok(Verdict::Deep);
            }
        }
        let prev_hash = link.header().prev_hash();
        let Some(&expected_height) = self.blocks.get(prev_hash) else {
            return Ok(Verdict::Wait(Pending::UnknownBlock(*prev_hash)));
        };
        let height = link.block_height();
        if height != expected_height {
            return Err(LinkError::WrongBlockHeight {
                expected: expected_height,
                claimed: height,
            });
        }
        if let Some(parent) = parent {
            if height < parent.link.block_height() {
                return Err(LinkError::BlockHeightDecreased {
                    height,
                    parent: parent.link.block_height(),
                });
            }
        }
        let expected_bits = match parent {
            Some(parent) => self.bits_after(parent),
            None => next_bits(&self.params, &[], None, None),
        };
        if expected_bits != commitment.chain_bits {
            return Err(LinkError::WrongTarget {
                expected: expected_bits.to_consensus(),
                claimed: commitment.chain_bits.to_consensus(),
            });
        }
        let time = link.header().time();
        if parent
            .and_then(|p| self.median_time_after(p))
            .is_some_and(|m| time <= m)
        {
            return Err(LinkError::TimeTooOld);
        }
        let nearby = parent.map(|p| self.nearby_ancestors(p)).unwrap_or_default();
        for uncle in &uncles {
            self.uncle_rule(uncle, &nearby)?;
        }
        if !self.check_payouts(link)? {
            return Ok(Verdict::Deep);
        }
        if u64::from(time) > now.saturating_add(u64::from(self.params.max_future_secs)) {
            return Ok(Verdict::Wait(Pending::AheadOfClock { time }));
        }
        Ok(Verdict::Valid(Box::new(
            self.entry_for(link, parent, &uncles),
        )))
    }

    /// A genesis link is valid by the rules, but a node whose chain has
    /// grown past the uncle depth does not hold new ones: they could only
    /// start a chain from nothing.
    pub(super) fn check_genesis_policy(&self, link: &ProvenLink) -> Result<(), NotHeld> {
        let grown = self
            .height()
            .is_some_and(|h| h >= u64::from(self.params.uncle_depth));
        if link.parent().is_none() && grown {
            return Err(NotHeld::LateGenesis);
        }
        Ok(())
    }

    /// Whether every ancestor the rules read below `parent` is held (or
    /// the chain starts there): a link on a fork deeper than what this node
    /// keeps cannot be judged here, which is not its fault.
    pub(super) fn ancestry_known(&self, parent: &Entry) -> bool {
        let needed = self.params.rules_depth() as usize;
        let mut walked = 0;
        let mut cursor = Some(parent);
        while let Some(entry) = cursor {
            walked += 1;
            if walked >= needed {
                return true;
            }
            match entry.link.parent() {
                None => return true,
                Some(p) => cursor = self.links.get(&p),
            }
        }
        false
    }

    /// The median time a child of `parent` must exceed.
    pub(super) fn median_time_after(&self, parent: &Entry) -> Option<u32> {
        let mut times: Vec<u32> = self
            .lineage(parent)
            .take(self.params.median_time_links as usize)
            .map(|e| e.link.header().time())
            .collect();
        median(&mut times)
    }

    /// The chain target a child of `parent` must commit to.
    pub(super) fn bits_after(&self, parent: &Entry) -> CompactTarget {
        let samples: Vec<Sample> = self
            .lineage(parent)
            .take(self.params.retarget_links as usize)
            .map(|e| Sample {
                time: e.link.header().time(),
                work: e.work,
            })
            .collect();
        next_bits(
            &self.params,
            &samples,
            Some(Difficulty::from_raw(parent.difficulty)),
            Some(parent.link.header().bits()),
        )
    }

    /// `from` and its ancestors, newest first, as far as they are held.
    pub(super) fn lineage<'a>(&'a self, from: &'a Entry) -> impl Iterator<Item = &'a Entry> + 'a {
        std::iter::successors(Some(from), |e| {
            e.link.parent().and_then(|p| self.links.get(&p))
        })
    }

    /// The last `uncle_depth` links of a chain ending at `parent`: where an
    /// uncle's parent must be, and what may already cite it.
    pub(super) fn nearby_ancestors<'a>(&'a self, parent: &'a Entry) -> Vec<&'a Entry> {
        self.lineage(parent)
            .take(self.params.uncle_depth as usize)
            .collect()
    }

    /// Whether `uncle` may be cited by a link whose last ancestors are
    /// `nearby` (parent first).
    pub(super) fn uncle_rule(&self, uncle: &Entry, nearby: &[&Entry]) -> Result<(), LinkError> {
        let id = uncle.link.id();
        if nearby.iter().any(|a| a.link.id() == id) {
            return Err(LinkError::UncleOnChain);
        }
        let related = uncle
            .link
            .parent()
            .is_some_and(|p| nearby.iter().any(|a| a.link.id() == p));
        if !related {
            return Err(LinkError::UncleTooDeep);
        }
        if nearby
            .iter()
            .any(|a| a.link.commitment().uncles.contains(&id))
        {
            return Err(LinkError::UncleAlreadyCited);
        }
        Ok(())
    }

    /// An uncle mined on a block height too far below its nephew's did no
    /// useful work for the block chain: it is cited for free.
    pub(super) fn weighs_nothing(&self, uncle: &Entry, nephew_height: u32) -> bool {
        uncle
            .link
            .block_height()
            .saturating_add(self.params.max_height_lag)
            < nephew_height
    }

    pub(super) fn entry_for(
        &self,
        link: &ProvenLink,
        parent: Option<&Entry>,
        uncles: &[&Entry],
    ) -> Entry {
        let difficulty = Difficulty::from_target(&link.chain_target()).raw();
        let mut pays: BTreeMap<PayoutId, u128> = BTreeMap::new();
        *pays.entry(link.payout().clone()).or_default() += difficulty;
        let mut work = difficulty;
        let share = U256::from(self.params.uncle_share.bps());
        for uncle in uncles {
            if self.weighs_nothing(uncle, link.block_height()) {
                continue;
            }
            let full = uncle.difficulty;
            let to_uncle = U256::from(full) * share / U256::from(10_000u32);
            // to_uncle <= full, so it fits.
            let to_uncle = u128::try_from(to_uncle).unwrap_or(full);
            let slot = pays.entry(uncle.link.payout().clone()).or_default();
            *slot = slot.saturating_add(to_uncle);
            let slot = pays.entry(link.payout().clone()).or_default();
            *slot = slot.saturating_add(full - to_uncle);
            work = work.saturating_add(full);
        }
        let mut times: Vec<u32> = std::iter::once(link.header().time())
            .chain(
                parent
                    .into_iter()
                    .flat_map(|p| self.lineage(p))
                    .take(self.params.median_time_links as usize - 1)
                    .map(|e| e.link.header().time()),
            )
            .collect();
        Entry {
            assumed: false,
            height: parent.map_or(0, |p| p.height + 1),
            difficulty,
            work,
            cumulative_work: parent.map_or(0, |p| p.cumulative_work).saturating_add(work),
            median_time: median(&mut times).unwrap_or(link.header().time()),
            network_difficulty: Difficulty::from_target(&link.network_target()).raw(),
            contributions: pays.into_iter().filter(|(_, w)| *w > 0).collect(),
            link: link.clone(),
        }
    }
}
