//! PPLNS with a window measured in work, maintained incrementally.

use std::collections::{HashMap, VecDeque};

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

use super::cuts::RewardCuts;
use super::settlement::{Settlement, SplitKey};
use super::split::split_sorted;
use crate::ids::PayoutId;
use crate::pool::PoolError;
use crate::pow::Difficulty;

/// Fixed-point scale of network-normalised weights: a share of exactly the
/// network difficulty weighs `2^96`. Wide enough that a CPU share of
/// difficulty 2^-24 against a network difficulty of 2^50 still weighs
/// about 2^22.
pub const NORMALIZED_ONE: u128 = 1 << 96;

/// A PPLNS window as a multiple of the network difficulty, in basis
/// points (20,000 = twice the network difficulty). Never zero.
///
/// ```
/// use chiral_pool_core::payout::WindowBps;
/// assert_eq!(WindowBps::DEFAULT.bps(), 20_000);
/// assert!(WindowBps::new(0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowBps(u32);

impl WindowBps {
    /// The window a pool gets unless it says otherwise: twice the network
    /// difficulty (the "N = 2" of the literature).
    pub const DEFAULT: WindowBps = WindowBps(20_000);

    /// A window of `bps` basis points of the network difficulty.
    pub fn new(bps: u32) -> Result<Self, PoolError> {
        if bps == 0 {
            return Err(PoolError::EmptyWindow);
        }
        Ok(WindowBps(bps))
    }

    /// The basis points.
    pub fn bps(self) -> u32 {
        self.0
    }
}

impl Default for WindowBps {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How PPLNS weighs shares and sizes its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PplnsConfig {
    /// Window size as a multiple of the network difficulty.
    pub window: WindowBps,
    /// Weigh each share by `share difficulty / network difficulty` at
    /// submission. Keeps the window fixed across retargets and makes pool
    /// hopping around them pointless. When false, weights are raw
    /// difficulties and the window is `X * D` for the `D` given at creation.
    pub normalize_by_network: bool,
}

impl PplnsConfig {
    /// The weight of a share of `share` difficulty submitted while the
    /// network was at `network` difficulty.
    pub fn weight(&self, share: Difficulty, network: Difficulty) -> u128 {
        if !self.normalize_by_network {
            return share.raw();
        }
        if network.raw() == 0 {
            return 0;
        }
        let w = (U256::from(share.raw()) << 96) / U256::from(network.raw());
        u128::try_from(w).unwrap_or(u128::MAX)
    }

    /// The window size in weight units for network difficulty `network`.
    pub fn window(&self, network: Difficulty) -> u128 {
        let unit = if self.normalize_by_network {
            NORMALIZED_ONE
        } else {
            network.raw()
        };
        let w = U256::from(unit) * U256::from(self.window.bps()) / U256::from(10_000u32);
        u128::try_from(w).unwrap_or(u128::MAX)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    miner: u32,
    weight: u128,
}

#[derive(Debug, Clone)]
struct MinerSlot {
    id: PayoutId,
    weight: u128,
    shares: u64,
}

/// The last N shares by work.
///
/// Shares are appended newest last. The window keeps the newest shares
/// whose weights add up to at least `window`; anything older than the share
/// that crosses the window boundary is dropped for good, and the crossing
/// share counts only with the part inside the window. Adding a share is
/// O(1) amortised; settling costs O(m log m) in the number of miners in
/// the window, independent of the number of shares.
///
/// An unfilled window does not inflate anyone's share: the missing work's
/// part of the reward is reported as [`Settlement::unfilled`] (the sink;
/// the ledger carries it to the next block).
///
/// ```
/// use chiral_pool_core::{ids::PayoutId, payout::*};
/// let mut w = PplnsWindow::new(100);
/// let (a, b) = (PayoutId::new("a").unwrap(), PayoutId::new("b").unwrap());
/// w.add(&a, 60);
/// w.add(&b, 60); // 120 > 100: a's share counts 40
/// assert_eq!(w.weights(), vec![(a.clone(), 40), (b.clone(), 60)]);
/// let s = w.settle(1_000, RewardCuts::default(), None);
/// assert_eq!(s.payouts, vec![(a, 400), (b, 600)]);
/// assert_eq!(s.unfilled, 0);
/// ```
#[derive(Debug, Clone)]
pub struct PplnsWindow {
    window: u128,
    shares: VecDeque<Entry>,
    total: u128,
    miners: Vec<MinerSlot>,
    index: HashMap<PayoutId, u32>,
    free: Vec<u32>,
}

impl PplnsWindow {
    /// An empty window of `window` weight units (see [`PplnsConfig::window`]).
    pub fn new(window: u128) -> Self {
        PplnsWindow {
            window: window.max(1),
            shares: VecDeque::new(),
            total: 0,
            miners: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
        }
    }

    /// The window size.
    pub fn window(&self) -> u128 {
        self.window
    }

    /// Total weight held, including the part of the oldest share that lies
    /// outside the window.
    pub fn held_weight(&self) -> u128 {
        self.total
    }

    /// Weight inside the window: `min(held, window)`.
    pub fn filled_weight(&self) -> u128 {
        self.total.min(self.window)
    }

    /// Number of shares held.
    pub fn len(&self) -> usize {
        self.shares.len()
    }

    /// Whether no share is held.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// Appends the newest share. Weights saturate rather than overflow.
    pub fn add(&mut self, miner: &PayoutId, weight: u128) {
        let slot = self.slot(miner);
        let m = &mut self.miners[slot as usize];
        m.weight = m.weight.saturating_add(weight);
        m.shares += 1;
        self.total = self.total.saturating_add(weight);
        self.shares.push_back(Entry {
            miner: slot,
            weight,
        });
        self.trim();
    }

    /// Drops the oldest shares while the rest still fill the window.
    fn trim(&mut self) {
        while let Some(oldest) = self.shares.front().copied() {
            if self.total - oldest.weight < self.window {
                break;
            }
            self.shares.pop_front();
            self.total -= oldest.weight;
            let m = &mut self.miners[oldest.miner as usize];
            m.weight -= oldest.weight;
            m.shares -= 1;
            if m.shares == 0 {
                self.index.remove(&m.id);
                self.free.push(oldest.miner);
            }
        }
    }

    fn slot(&mut self, miner: &PayoutId) -> u32 {
        if let Some(&i) = self.index.get(miner) {
            return i;
        }
        let fresh = MinerSlot {
            id: miner.clone(),
            weight: 0,
            shares: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.miners[i as usize] = fresh;
                i
            }
            None => {
                self.miners.push(fresh);
                (self.miners.len() - 1) as u32
            }
        };
        self.index.insert(miner.clone(), i);
        i
    }

    /// Each miner's weight inside the window, sorted by payout id; they
    /// sum to [`filled_weight`](Self::filled_weight).
    pub fn weights(&self) -> Vec<(PayoutId, u128)> {
        let excess = self.total.saturating_sub(self.window);
        let oldest = self.shares.front().map(|e| e.miner);
        let mut out: Vec<(PayoutId, u128)> = self
            .index
            .values()
            .map(|&i| {
                let m = &self.miners[i as usize];
                let w = if Some(i) == oldest {
                    m.weight.saturating_sub(excess)
                } else {
                    m.weight
                };
                (m.id.clone(), w)
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Splits `reward` over the window after `cuts`. `finder` receives the
    /// finder bonus (if none is given the bonus stays with the miners).
    pub fn settle(&self, reward: u64, cuts: RewardCuts, finder: Option<&PayoutId>) -> Settlement {
        let weights = self.weights();
        let unfilled_weight = self.window - self.filled_weight();
        Settlement::from_weights(reward, cuts, finder, weights, unfilled_weight)
    }
}

/// A full rescan of all shares from the newest back until the window is
/// full: the simple, slow way. Used as the baseline of benches and as an
/// oracle in tests. `shares` is oldest first.
pub fn rescan_weights(shares: &[(PayoutId, u128)], window: u128) -> Vec<(PayoutId, u128)> {
    let mut acc: std::collections::BTreeMap<PayoutId, u128> = Default::default();
    let mut filled: u128 = 0;
    for (id, w) in shares.iter().rev() {
        if filled >= window {
            break;
        }
        let take = (*w).min(window - filled);
        filled += take;
        *acc.entry(id.clone()).or_default() += take;
    }
    acc.into_iter().filter(|(_, w)| *w > 0).collect()
}

pub(super) fn split_with_sink(
    amount: u64,
    weights: Vec<(PayoutId, u128)>,
    sink_weight: u128,
) -> (Vec<(PayoutId, u64)>, u64) {
    let mut keyed: Vec<(SplitKey, u128)> = weights
        .into_iter()
        .map(|(id, w)| (SplitKey::Miner(id), w))
        .collect();
    if sink_weight > 0 {
        keyed.push((SplitKey::Unfilled, sink_weight));
    }
    let mut payouts = Vec::with_capacity(keyed.len());
    let mut sink = 0;
    for (key, atoms) in split_sorted(amount, keyed) {
        match key {
            SplitKey::Miner(id) => payouts.push((id, atoms)),
            SplitKey::Unfilled => sink = atoms,
        }
    }
    (payouts, sink)
}
