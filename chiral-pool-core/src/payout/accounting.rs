//! Turning verified shares into block payouts, the same on every node.
//!
//! Order of shares: (position of the tip the share builds on, header time,
//! hash). Block B is paid by the PPLNS window of every share up to and
//! including B in that order, so shares built on later tips never pay for
//! B. A node settles B only after it has seen B for a grace period, by
//! which time the pool's server has published every share it accepted on
//! B's tip (it rejects shares on old tips once the block is known).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{PayoutLedger, PplnsConfig, PplnsWindow, RewardCuts, Settlement};
use crate::ids::PayoutId;
use crate::pow::{Difficulty, Hash256};
use crate::share::VerifiedShare;

/// A settled block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockPayout {
    /// The block's hash.
    pub hash: Hash256,
    /// Position of its tip in the chain as this node saw it.
    pub tip_index: u64,
    /// Who found it.
    pub finder: PayoutId,
    /// Shares in its window.
    pub window_shares: usize,
    /// The split.
    pub settlement: Settlement,
}

/// Economic settings of a pool's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountingConfig {
    /// PPLNS window and weighting.
    pub pplns: PplnsConfig,
    /// Network difficulty the weights are normalised by.
    pub network: Difficulty,
    /// Block reward, atoms.
    pub reward: u64,
    /// Fee and finder bonus.
    pub cuts: RewardCuts,
    /// Smallest balance paid out, atoms.
    pub min_payout: u64,
    /// Seconds a block must have been seen before it is settled.
    pub grace_secs: u64,
}

/// One node's view of a pool's payouts.
#[derive(Debug)]
pub struct Accounting {
    config: AccountingConfig,
    tips: HashMap<Hash256, u64>,
    first_seen: BTreeMap<Hash256, u64>,
    settled: BTreeSet<Hash256>,
    ledger: PayoutLedger,
    blocks: Vec<BlockPayout>,
}

impl Accounting {
    /// Empty accounting.
    pub fn new(config: AccountingConfig) -> Self {
        Accounting {
            ledger: PayoutLedger::new(config.min_payout),
            config,
            tips: HashMap::new(),
            first_seen: BTreeMap::new(),
            settled: BTreeSet::new(),
            blocks: Vec::new(),
        }
    }

    /// Records the next chain tip (call in chain order).
    pub fn on_tip(&mut self, prev_hash: Hash256) {
        let next = self.tips.len() as u64;
        self.tips.entry(prev_hash).or_insert(next);
    }

    /// Settles every block among `shares` (the verified shares of the
    /// lookback, in any order) that has been seen for the grace period and
    /// was not settled before, in share order. Returns them.
    pub fn settle(&mut self, shares: &[VerifiedShare], now: u64) -> Vec<BlockPayout> {
        let mut ordered: Vec<(u64, &VerifiedShare)> = shares
            .iter()
            .filter_map(|s| self.tips.get(&s.prev_hash).map(|i| (*i, s)))
            .collect();
        ordered.sort_by_key(|(tip, s)| (*tip, s.time, s.hash));
        let mut out = Vec::new();
        for (pos, (tip, share)) in ordered.iter().enumerate() {
            if !share.is_block || self.settled.contains(&share.hash) {
                continue;
            }
            let seen = *self.first_seen.entry(share.hash).or_insert(now);
            if now < seen + self.config.grace_secs {
                // Later blocks wait for this one: settlement is in order.
                break;
            }
            let mut window = PplnsWindow::new(self.config.pplns.window(self.config.network));
            for (_, s) in &ordered[..=pos] {
                window.add(
                    &s.payout_id,
                    self.config.pplns.weight(s.difficulty, self.config.network),
                );
            }
            let reward = self.config.reward.saturating_add(self.ledger.carried());
            let settlement = window.settle(reward, self.config.cuts, Some(&share.payout_id));
            // A settlement always conserves; if one ever did not, settling
            // stops here with the ledger untouched (the carry included)
            // rather than credit part of it.
            if !settlement.is_conserved() {
                break;
            }
            self.ledger.take_carry();
            if self.ledger.credit(&settlement).is_ok() {
                self.settled.insert(share.hash);
                let payout = BlockPayout {
                    hash: share.hash,
                    tip_index: *tip,
                    finder: share.payout_id.clone(),
                    window_shares: pos + 1,
                    settlement,
                };
                self.blocks.push(payout.clone());
                out.push(payout);
            }
        }
        out
    }

    /// Re-credits blocks settled before a restart, in their original order
    /// (the same carry-over sequence, so the ledger ends identical).
    pub fn restore(&mut self, blocks: Vec<BlockPayout>) {
        for b in blocks {
            if self.settled.contains(&b.hash) {
                continue;
            }
            let _ = self.ledger.take_carry();
            if self.ledger.credit(&b.settlement).is_ok() {
                self.settled.insert(b.hash);
                self.blocks.push(b);
            }
        }
    }

    /// Blocks settled so far, in order.
    pub fn blocks(&self) -> &[BlockPayout] {
        &self.blocks
    }

    /// The ledger.
    pub fn ledger(&self) -> &PayoutLedger {
        &self.ledger
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PoolId;
    use crate::pool::FeeBps;

    fn config(grace_secs: u64) -> AccountingConfig {
        AccountingConfig {
            pplns: PplnsConfig {
                window: crate::payout::WindowBps::DEFAULT,
                normalize_by_network: true,
            },
            network: Difficulty::ONE,
            reward: 1_000_000,
            cuts: RewardCuts::fee_only(FeeBps::ZERO),
            min_payout: 0,
            grace_secs,
        }
    }

    fn share(tip: u8, time: u32, hash: u8, who: &str, is_block: bool) -> VerifiedShare {
        VerifiedShare {
            hash: [hash; 32],
            pool_id: PoolId::from_bytes([1; 32]),
            payout_id: PayoutId::new(who).expect("payout id"),
            difficulty: Difficulty::ONE,
            time,
            prev_hash: [tip; 32],
            is_block,
        }
    }

    fn paid(block: &BlockPayout, who: &str) -> u64 {
        block
            .settlement
            .payouts
            .iter()
            .find(|(id, _)| id.as_str() == who)
            .map_or(0, |(_, a)| *a)
    }

    #[test]
    fn a_block_is_paid_by_the_shares_up_to_it_in_tip_order_not_by_later_ones() {
        let mut a = Accounting::new(config(0));
        a.on_tip([10; 32]);
        a.on_tip([20; 32]);
        // Bob's share has an earlier header time but builds on the later
        // tip: it comes after the block in share order and is not paid.
        let shares = vec![
            share(20, 100, 9, "bob", false),
            share(10, 500, 1, "alice", false),
            share(10, 501, 2, "carol", true),
        ];
        let blocks = a.settle(&shares, 1_000);
        assert_eq!(blocks.len(), 1);
        let b = &blocks[0];
        assert_eq!((b.tip_index, b.window_shares), (0, 2));
        assert_eq!(b.finder.as_str(), "carol");
        assert_eq!(paid(b, "alice") + paid(b, "carol"), 1_000_000);
        assert_eq!(paid(b, "bob"), 0);
        // Shares on tips this node never saw are not ordered, so not paid.
        assert!(a.settle(&[share(99, 1, 3, "dave", true)], 2_000).is_empty());
    }

    #[test]
    fn settlement_waits_for_the_grace_period_happens_once_and_in_order() {
        let mut a = Accounting::new(config(3));
        a.on_tip([10; 32]);
        let shares = vec![share(10, 1, 1, "alice", true), share(10, 2, 2, "bob", true)];
        assert!(a.settle(&shares, 100).is_empty(), "first seen now");
        assert!(a.settle(&shares, 102).is_empty(), "still in grace");
        // Blocks settle in share order: bob's block waits behind alice's,
        // and its grace starts once alice's block is settled.
        let first = a.settle(&shares, 103);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].finder.as_str(), "alice");
        assert!(a.settle(&shares, 105).is_empty(), "bob's block in grace");
        let second = a.settle(&shares, 106);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].finder.as_str(), "bob");
        assert!(a.settle(&shares, 200).is_empty(), "settled once");
        assert!(a.ledger().check());
        assert_eq!(a.blocks().len(), 2);
    }

    #[test]
    fn restore_rebuilds_the_same_ledger() {
        let mut a = Accounting::new(config(0));
        a.on_tip([10; 32]);
        let shares = vec![
            share(10, 1, 1, "alice", false),
            share(10, 2, 2, "bob", true),
            share(10, 3, 3, "carol", true),
        ];
        a.settle(&shares, 10);
        let mut b = Accounting::new(config(0));
        b.restore(a.blocks().to_vec());
        // Restoring twice changes nothing.
        b.restore(a.blocks().to_vec());
        assert_eq!(b.blocks(), a.blocks());
        let accounts = |x: &Accounting| {
            x.ledger()
                .accounts()
                .map(|(id, acc)| (id.to_string(), acc.credited))
                .collect::<Vec<_>>()
        };
        assert_eq!(accounts(&a), accounts(&b));
        assert!(b.ledger().check());
    }
}
