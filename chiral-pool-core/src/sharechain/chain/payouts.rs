//! Coinbase payouts: the outputs a link's coinbase must have, from the
//! window of its parent, and the check every peer runs.

use super::ShareChain;
use crate::ids::LinkId;
use crate::payout::{check_outputs, paying_outputs, payout_script, CoinbasePlan, RewardCuts};
use crate::sharechain::link::{LinkError, ProvenLink};
use crate::sharechain::window::WindowEnd;

impl ShareChain {
    /// What a coinbase built on `parent` (`None`: a genesis link) pays,
    /// but for its total and finder: the split of `parent`'s window in
    /// outputs. `None` for a ledger pool, an unknown parent, or a window
    /// that reaches an assumed link or an ancestor not held here (no
    /// window this node can know).
    pub fn coinbase_plan(&self, parent: Option<LinkId>) -> Option<CoinbasePlan> {
        let rules = self.params.coinbase_rules()?;
        let owner = payout_script(&rules.owner, rules.network).ok()?;
        let weights = match parent {
            None => Vec::new(),
            Some(parent) => {
                let window = self.window(parent)?;
                if window.end == WindowEnd::Missing {
                    return None;
                }
                // Every link's payout id was checked to be an address when
                // it joined; one that is not would be skipped on every node.
                window
                    .weights
                    .iter()
                    .filter_map(|(id, w)| Some((payout_script(id, rules.network).ok()?, *w)))
                    .collect()
            }
        };
        Some(CoinbasePlan {
            weights,
            cuts: RewardCuts {
                fee: self.params.fee,
                finder_bonus: self.params.finder_bonus,
            },
            owner,
            seed: parent.map_or([0; 32], |p| *p.as_bytes()),
            rules: rules.outputs,
            network: Some(rules.network),
        })
    }

    /// In a pool that pays in the coinbase: the link's payout id is an
    /// address of the pool's network, and its coinbase's outputs are the
    /// split of its parent's window, over their own total, which is at
    /// least the subsidy. A window that reaches an assumed link is not
    /// checked here (every node that joined on that base shares it).
    ///
    /// `Ok(false)`: this node cannot judge the outputs, because the window
    /// reaches an ancestor it does not hold (a fork deeper than it keeps):
    /// such a link is not held here, never taken unchecked.
    pub(super) fn check_payouts(&self, link: &ProvenLink) -> Result<bool, LinkError> {
        let Some(rules) = self.params.coinbase_rules() else {
            return Ok(true);
        };
        let finder = payout_script(link.payout(), rules.network)?;
        let Some(plan) = self.coinbase_plan(link.parent()) else {
            // The parent is held (the judge checked), so the window is
            // cut: by an assumed base, or by an ancestor not held here.
            return Ok(link.parent().is_some_and(|p| self.reaches_assumed(p)));
        };
        let found = paying_outputs(&link.link().coinbase)?;
        check_outputs(&found, &plan, &finder, rules.subsidy(link.block_height()))?;
        Ok(true)
    }

    /// Whether the lineage of `from` ends in an assumed link (rather than
    /// at a genesis link or an ancestor not held).
    fn reaches_assumed(&self, from: LinkId) -> bool {
        let mut cursor = Some(from);
        while let Some(id) = cursor {
            match self.links.get(&id) {
                Some(entry) if entry.assumed => return true,
                Some(entry) => cursor = entry.link.parent(),
                None => return false,
            }
        }
        false
    }
}
