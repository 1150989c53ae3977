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

use super::address::{payout_script, AddressError, AddressNetwork};
use super::cuts::RewardCuts;
use crate::ids::PayoutId;

/// Bitcoin Core's dust limit for the costliest standard output it relays
/// (P2PKH, 546 atoms; a taproot output's own limit is 330).
pub const DEFAULT_DUST: u64 = 546;
/// Weight units of one taproot output (8-byte value, 1-byte length,
/// 34-byte script, times 4): the largest standard payout script.
pub const TAPROOT_OUTPUT_WEIGHT: u64 = 172;
/// Default cap on the window's outputs: 200 taproot outputs are 34,400
/// weight units, under 1 % of a block (see [`OutputRules`]).
pub const DEFAULT_MAX_OUTPUTS: u32 = 200;

/// The highest output cap a pool may set: 700 taproot outputs are 30,100
/// bytes and 120,400 weight units, within a coinbase of
/// [`MAX_COINBASE_LEN`](crate::share::MAX_COINBASE_LEN).
pub const MAX_OUTPUT_CAP: u32 = 700;

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
    /// and [`MAX_OUTPUT_CAP`] outputs.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.dust == 0 {
            return Err("dust must be at least one atom");
        }
        if !(1..=MAX_OUTPUT_CAP).contains(&self.max_outputs) {
            return Err("max_outputs must be 1..=700");
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

/// Everything a job's coinbase outputs depend on but the total (the
/// template's reward and fees) and the finder (the miner the job is for):
/// what a node computes once per share chain tip and applies per job.
///
/// ```
/// use chiral_pool_core::payout::{CoinbasePlan, OutputRules, RewardCuts};
/// // A window of two miners, weights 3 and 1; no fee, no bonus.
/// let plan = CoinbasePlan {
///     weights: vec![(vec![0x51], 3), (vec![0x52], 1)],
///     cuts: RewardCuts::default(),
///     owner: vec![0x53],
///     seed: [0; 32],
///     rules: OutputRules { dust: 10, max_outputs: 4 },
///     network: None,
/// };
/// let paid = plan.outputs(1_000, &[0x54]);
/// assert_eq!(paid.outputs.iter().map(|o| o.value).sum::<u64>(), 1_000);
/// assert_eq!(paid.units, vec![(vec![0x51], 3), (vec![0x52], 1)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbasePlan {
    /// The window's weights by payout script (a script listed twice is
    /// one miner).
    pub weights: Vec<(Vec<u8>, u128)>,
    /// Fee and finder's bonus.
    pub cuts: RewardCuts,
    /// The owner's script (paid the fee).
    pub owner: Vec<u8>,
    /// The parent link's id (zero for a genesis link): the sampling seed.
    pub seed: [u8; 32],
    /// Dust limit and output cap.
    pub rules: OutputRules,
    /// The address format finders' payout ids have; `None` for a plan
    /// that pays one script whoever finds the block.
    pub network: Option<AddressNetwork>,
}

impl CoinbasePlan {
    /// The script a finder with payout id `payout` is paid to (its bonus,
    /// and the reward of a genesis link): the address's script; empty for
    /// a plan without a network, which never pays a finder.
    pub fn finder_script(&self, payout: &PayoutId) -> Result<Vec<u8>, AddressError> {
        match self.network {
            Some(network) => payout_script(payout, network),
            None => Ok(Vec::new()),
        }
    }

    /// A plan paying everything to `script` (a pool whose payouts are a
    /// ledger: the block's value goes to one script, the ledger says who
    /// is owed what).
    pub fn whole_to(script: Vec<u8>) -> Self {
        CoinbasePlan {
            weights: vec![(script.clone(), 1)],
            cuts: RewardCuts::default(),
            owner: script,
            seed: [0; 32],
            rules: OutputRules {
                dust: 1,
                max_outputs: 1,
            },
            network: None,
        }
    }

    /// The outputs of a coinbase worth `total` atoms mined by `finder`.
    pub fn outputs(&self, total: u64, finder: &[u8]) -> PayoutOutputs {
        CoinbaseSplit {
            total,
            cuts: self.cuts,
            owner: &self.owner,
            finder,
            seed: self.seed,
        }
        .outputs(&self.weights, &self.rules)
    }

    /// The most weight the payout outputs can take, weight units: the
    /// window's cap plus the fee and the finder's outputs, each at most a
    /// taproot output's size.
    pub fn max_weight(&self) -> u64 {
        self.rules.weight() + 2 * TAPROOT_OUTPUT_WEIGHT
    }
}

/// A witness commitment output's script opens with these bytes (BIP 141:
/// `OP_RETURN`, a 36-byte push, `aa21a9ed`), then the 32-byte commitment.
pub const WITNESS_COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Why a coinbase's outputs are not the ones its window pays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayoutMismatch {
    /// The coinbase does not parse.
    #[error("the coinbase does not parse")]
    Unparsed,
    /// The commitment output (the last) carries value: it would be burnt.
    #[error("the commitment output carries {0} atoms")]
    ValueInCommitment(u64),
    /// The outputs sum to more than a `u64` holds.
    #[error("the outputs overflow")]
    Overflow,
    /// The outputs sum to less than the block subsidy.
    #[error("the outputs pay {total} atoms, less than the subsidy of {subsidy}")]
    BelowSubsidy {
        /// What the outputs sum to.
        total: u64,
        /// The subsidy at the block's height.
        subsidy: u64,
    },
    /// Fewer outputs than the split has.
    #[error("{found} payout outputs where the split has {expected}")]
    Missing {
        /// Outputs of the split.
        expected: usize,
        /// Outputs of the coinbase.
        found: usize,
    },
    /// More outputs than the split has.
    #[error("{found} payout outputs where the split has {expected}")]
    Extra {
        /// Outputs of the split.
        expected: usize,
        /// Outputs of the coinbase.
        found: usize,
    },
    /// An output's script or value differs from the split's.
    #[error("payout output {index} is not the split's")]
    Differs {
        /// Its position.
        index: usize,
    },
}

/// The outputs of a coinbase that pay someone, in order: every output but
/// the last (the pool's commitment, which must carry no value) and a
/// witness commitment of no value just before it. This is the layout a
/// job's coinbase has: `payouts… [witness commitment] commitment`.
pub fn paying_outputs(coinbase: &[u8]) -> Result<Vec<PayoutOutput>, PayoutMismatch> {
    let parsed = crate::share::coinbase::ParsedCoinbase::parse(coinbase)
        .map_err(|_| PayoutMismatch::Unparsed)?;
    let script = |o: &crate::share::coinbase::CoinbaseOutput| {
        coinbase.get(o.script.clone()).unwrap_or_default()
    };
    let Some((last, mut rest)) = parsed.outputs().split_last() else {
        return Err(PayoutMismatch::Unparsed);
    };
    if last.value != 0 {
        return Err(PayoutMismatch::ValueInCommitment(last.value));
    }
    if let Some((witness, before)) = rest.split_last() {
        let s = script(witness);
        if witness.value == 0 && s.len() >= 38 && s.starts_with(&WITNESS_COMMITMENT_PREFIX) {
            rest = before;
        }
    }
    Ok(rest
        .iter()
        .map(|o| PayoutOutput {
            script: script(o).to_vec(),
            value: o.value,
        })
        .collect())
}

/// Checks that `found` (a coinbase's [`paying_outputs`]) are exactly the
/// outputs `plan` gives for their total and `finder`, and that the total
/// is at least `subsidy`.
pub fn check_outputs(
    found: &[PayoutOutput],
    plan: &CoinbasePlan,
    finder: &[u8],
    subsidy: u64,
) -> Result<(), PayoutMismatch> {
    let total = found
        .iter()
        .try_fold(0u64, |sum, o| sum.checked_add(o.value))
        .ok_or(PayoutMismatch::Overflow)?;
    if total < subsidy {
        return Err(PayoutMismatch::BelowSubsidy { total, subsidy });
    }
    let expected = plan.outputs(total, finder).outputs;
    let (e, f) = (expected.len(), found.len());
    match f.cmp(&e) {
        std::cmp::Ordering::Less => Err(PayoutMismatch::Missing {
            expected: e,
            found: f,
        }),
        std::cmp::Ordering::Greater => Err(PayoutMismatch::Extra {
            expected: e,
            found: f,
        }),
        std::cmp::Ordering::Equal => match expected.iter().zip(found).position(|(e, f)| e != f) {
            Some(index) => Err(PayoutMismatch::Differs { index }),
            None => Ok(()),
        },
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
        below = below.saturating_add(*w);
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
        below = below.saturating_add(*w);
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
