//! What a node reports of its share chain: its settled blocks (and, in a
//! pool that pays in the coinbase, what their outputs paid) and its
//! status.

use std::collections::BTreeMap;

use chiral_pool_core::ids::{LinkId, PayoutId};
use chiral_pool_core::payout::{address_of, paying_outputs, AddressNetwork, Settlement};
use chiral_pool_core::sharechain::{ProvenLink, ShareChain};

/// A block found by a link, and how its reward is split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBlock {
    /// Block height (BIP 34) of the block the link is.
    pub height: u32,
    /// The link that is the block.
    pub link: LinkId,
    /// The block it builds on.
    pub prev_hash: [u8; 32],
    /// Its miner (paid the finder's bonus).
    pub finder: PayoutId,
    /// Links in the window that paid it (the window of its parent).
    pub window_links: usize,
    /// The split, to the atom. In a pool that pays in the coinbase: what
    /// the block's outputs pay each address (fee and finder's bonus
    /// included in their address's amount).
    pub settlement: Settlement,
    /// The block's payout outputs in coinbase order: address (or script
    /// hex, for a non-standard one) and atoms. Empty in a ledger pool.
    pub outputs: Vec<(String, u64)>,
    /// Whether this node's own split of the parent's window gives exactly
    /// the block's outputs; `None` in a ledger pool or while the window is
    /// not known here. Every peer checked it before the link joined, so
    /// `Some(false)` would be a bug.
    pub outputs_agree: Option<bool>,
}

/// What a node's share chain looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainStatus {
    /// Height of the best tip (genesis is 0).
    pub height: Option<u64>,
    /// The best tip.
    pub tip: Option<LinkId>,
    /// Valid links held.
    pub links: usize,
    /// Links waiting for an ancestor, a block or the clock.
    pub pending: usize,
    /// Uncles cited by the best chain's last window of links (its depth
    /// cap).
    pub uncles: usize,
    /// Links this node found valid since start.
    pub verified: u64,
    /// Links this node refused since start.
    pub rejected: u64,
}

/// What a block paid: the settlement, its payout outputs (address,
/// atoms), and whether this node's own split gives the same outputs.
pub(super) type Paid = (Settlement, Vec<(String, u64)>, Option<bool>);

/// What a block of a pool that pays in the coinbase paid: its outputs as
/// a settlement by address, the outputs themselves, and whether this
/// node's split of the parent's window gives the same.
pub(super) fn coinbase_paid(
    chain: &ShareChain,
    link: &ProvenLink,
    network: AddressNetwork,
) -> Option<Paid> {
    let found = paying_outputs(&link.link().coinbase).ok()?;
    let total: u64 = found.iter().try_fold(0u64, |s, o| s.checked_add(o.value))?;
    let agree = chain.coinbase_plan(link.parent()).and_then(|plan| {
        let finder = plan.finder_script(link.payout()).ok()?;
        Some(plan.outputs(total, &finder).outputs == found)
    });
    let shown: Vec<(String, u64)> = found
        .iter()
        .map(|o| {
            let name = address_of(&o.script, network).unwrap_or_else(|| hex::encode(&o.script));
            (name, o.value)
        })
        .collect();
    let mut by_id: BTreeMap<PayoutId, u64> = BTreeMap::new();
    for (name, value) in &shown {
        // Every payout script is an address's (peers checked the outputs),
        // so the fallback only keeps the sum whole.
        let id = PayoutId::new(name.as_str())
            .or_else(|_| PayoutId::new("nonstandard"))
            .ok()?;
        *by_id.entry(id).or_default() += value;
    }
    Some((
        Settlement::paid(total, by_id.into_iter().collect()),
        shown,
        agree,
    ))
}
