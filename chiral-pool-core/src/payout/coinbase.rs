//! The outputs of a coinbase that pays a window: the block itself pays
//! the miners, and every peer recomputes the outputs to the atom.
//!
//! A coinbase has room for few outputs and none below the dust limit, so
//! amounts go out in whole **units** of a grid, and who gets a unit is
//! drawn by weight alone, with a seed every node knows before the job
//! exists (the parent link's id) and no node can grind:
//!
//! 1. the reward is cut ([`RewardCuts`]): the owner's fee, the finder's
//!    bonus, the rest `R` for the window;
//! 2. while `R >= max_outputs * dust`, there are exactly `K = max_outputs`
//!    units of `g = R / K` atoms (the grid follows the reward, the number
//!    of units does not: changing the total by one atom changes nobody's
//!    units); below that, units are the dust limit and `K = R / dust`;
//! 3. the `K` units are placed by **systematic sampling** over the miners'
//!    weights in script order, at offset `seed / 2^64` of a unit: a miner
//!    of weight `w` out of `W` gets `floor(K w / W)` or one more, and
//!    exactly `K w / W` units in expectation, so splitting into many
//!    addresses gains nothing, and no weight cut by the grid is handed to
//!    the others;
//! 4. what the grid leaves (`R - K g`, under one unit) goes to the holder
//!    of the first unit: a draw by weight, so nobody's expectation moves;
//!    so do a fee or bonus below the dust limit, which no output can carry;
//! 5. outputs are merged by script and sorted by script bytes.
//!
//! An empty window (a pool's first link) pays everything but the fee to
//! the finder.

use std::collections::BTreeMap;

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

use super::cuts::RewardCuts;

/// Bitcoin Core's dust limit for the costliest standard output it relays
/// (P2PKH, 546 atoms; a taproot output's own limit is 330).
pub const DEFAULT_DUST: u64 = 546;
/// Weight units of one taproot output (8-byte value, 1-byte length,
/// 34-byte script, times 4): the largest standard payout script.
pub const TAPROOT_OUTPUT_WEIGHT: u64 = 172;
/// Default cap on the window's outputs: 200 taproot outputs are 34,400
/// weight units, under 1 % of a block (see [`OutputRules`]).
pub const DEFAULT_MAX_OUTPUTS: u32 = 200;

/// How a coinbase pays a window: the dust limit and the output cap.
///
/// The cap is a weight budget: `max_outputs` taproot outputs weigh
/// `max_outputs * 172` weight units, which the block template must leave
/// free ([`OutputRules::weight`]). Bitcoin Core reserves 8,000 weight units
/// for the coinbase by default (`-blockreservedweight`), so a larger cap
/// means dropping template transactions; miner firmware limits the
/// coinbase's size as well (many ASICs take a few kilobytes of coinb1 and
/// coinb2 at most). The default, 200 outputs, weighs 34,400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutputRules {
    /// No output is smaller, atoms.
    pub dust: u64,
    /// Most outputs paying the window (the fee, the finder and the
    /// commitment come on top).
    pub max_outputs: u32,
}

impl Default for OutputRules {
    fn default() -> Self {
        OutputRules {
            dust: DEFAULT_DUST,
            max_outputs: DEFAULT_MAX_OUTPUTS,
        }
    }
}

impl OutputRules {
    /// The most weight the window's outputs can take, weight units.
    pub fn weight(&self) -> u64 {
        u64::from(self.max_outputs) * TAPROOT_OUTPUT_WEIGHT
    }

    /// Checks the ranges: a dust limit of at least one atom and between 1
    /// and 10,000 outputs.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.dust == 0 {
            return Err("dust must be at least one atom");
        }
        if !(1..=10_000).contains(&self.max_outputs) {
            return Err("max_outputs must be 1..=10,000");
        }
        Ok(())
    }
}

/// One coinbase output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutOutput {
    /// The output script (scriptPubKey).
    pub script: Vec<u8>,
    /// Atoms.
    pub value: u64,
}

/// What a block pays, and to whom besides the window.
#[derive(Debug, Clone, Copy)]
pub struct CoinbaseSplit<'a> {
    /// Reward plus the template's fees, atoms: what the outputs sum to.
    pub total: u64,
    /// Fee and finder's bonus.
    pub cuts: RewardCuts,
    /// The owner's script (paid the fee).
    pub owner: &'a [u8],
    /// The finder's script, from the link's own commitment.
    pub finder: &'a [u8],
    /// Known to every node before the job exists, and not something a node
    /// can vary per template: the parent link's id.
    pub seed: [u8; 32],
}

/// The outputs and how they were cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutOutputs {
    /// The outputs, merged by script and sorted by script bytes; they sum
    /// to the total exactly.
    pub outputs: Vec<PayoutOutput>,
    /// Atoms per unit.
    pub grid: u64,
    /// Units each window script got, sorted by script (scripts with none
    /// are left out).
    pub units: Vec<(Vec<u8>, u64)>,
}

impl CoinbaseSplit<'_> {
    /// The outputs paying `weights` (script, weight; a script listed twice
    /// is one miner) under `rules`.
    pub fn outputs(&self, weights: &[(Vec<u8>, u128)], rules: &OutputRules) -> PayoutOutputs {
        let cut = self.cuts.apply(self.total);
        let mut miners: BTreeMap<&[u8], u128> = BTreeMap::new();
        for (script, w) in weights {
            if *w > 0 {
                let slot = miners.entry(script.as_slice()).or_default();
                *slot = slot.saturating_add(*w);
            }
        }
        let total_weight: u128 = miners.values().fold(0, |s, w| s.saturating_add(*w));
        let rest = cut.miners;
        let dust = rules.dust.max(1);
        let cap = u64::from(rules.max_outputs.max(1));
        let (grid, units) = if total_weight == 0 {
            (0, 0)
        } else if rest / cap >= dust {
            (rest / cap, cap)
        } else {
            (dust, rest / dust)
        };
        let unit_counts = place_units(&miners, total_weight, units, offset(&self.seed));

        let mut paid: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for (script, n) in &unit_counts {
            *paid.entry(script.clone()).or_default() += n * grid;
        }
        // What no output of its own can carry goes to the first unit's
        // holder (a draw by weight), or the finder when nobody holds one.
        let mut spare = rest - units * grid;
        for (script, amount) in [(self.owner, cut.fee), (self.finder, cut.finder_bonus)] {
            if amount >= dust {
                *paid.entry(script.to_vec()).or_default() += amount;
            } else {
                spare += amount;
            }
        }
        let first = first_holder(&miners, total_weight, units, offset(&self.seed));
        let sink = first.unwrap_or(self.finder);
        if spare > 0 {
            *paid.entry(sink.to_vec()).or_default() += spare;
        }
        let mut outputs: Vec<PayoutOutput> = paid
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(script, value)| PayoutOutput { script, value })
            .collect();
        fold_dust(&mut outputs, dust);
        PayoutOutputs {
            outputs,
            grid,
            units: unit_counts.into_iter().filter(|(_, n)| *n > 0).collect(),
        }
    }
}

/// The sampling offset, a fraction of a unit in 64-bit fixed point.
fn offset(seed: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&seed[..8]);
    u64::from_le_bytes(b)
}

/// Systematic sampling: unit `k` sits at weight `(k + u / 2^64) * W / K`;
/// a miner holds the units that fall in its span of the cumulative weight.
fn place_units(
    miners: &BTreeMap<&[u8], u128>,
    total_weight: u128,
    units: u64,
    u: u64,
) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::with_capacity(miners.len());
    let mut below = 0u128;
    let mut before = 0u64;
    for (script, w) in miners {
        below += w;
        let upto = units_below(below, total_weight, units, u);
        out.push((script.to_vec(), upto - before));
        before = upto;
    }
    out
}

/// How many unit positions lie below cumulative weight `x`:
/// `clamp(ceil(x K / W - u / 2^64), 0, K)`, exactly.
fn units_below(x: u128, total_weight: u128, units: u64, u: u64) -> u64 {
    if units == 0 || total_weight == 0 {
        return 0;
    }
    let scale: U256 = U256::from(1u8) << 64;
    let a: U256 = U256::from(x) * U256::from(units) * scale;
    let b: U256 = U256::from(u) * U256::from(total_weight);
    if a <= b {
        return 0;
    }
    let d: U256 = U256::from(total_weight) * scale;
    let n: U256 = (a - b + d - U256::from(1u8)) / d;
    // n <= K by construction (x <= W); the clamp keeps it so.
    u64::try_from(n).unwrap_or(units).min(units)
}

/// The script holding unit 0, if there are units.
fn first_holder<'a>(
    miners: &BTreeMap<&'a [u8], u128>,
    total_weight: u128,
    units: u64,
    u: u64,
) -> Option<&'a [u8]> {
    let mut below = 0u128;
    for (script, w) in miners {
        below += w;
        if units_below(below, total_weight, units, u) > 0 {
            return Some(script);
        }
    }
    None
}

/// A reward too small for units (under the dust limit for the window) can
/// leave the finder's output below dust: it joins the largest output
/// (ties: the smaller script), unless it is the only one.
fn fold_dust(outputs: &mut Vec<PayoutOutput>, dust: u64) {
    while outputs.len() > 1 {
        let Some(small) = outputs.iter().position(|o| o.value < dust) else {
            return;
        };
        let moved = outputs.remove(small);
        let largest = outputs
            .iter_mut()
            .reduce(|a, b| if b.value > a.value { b } else { a });
        if let Some(largest) = largest {
            largest.value += moved.value;
        }
    }
}
