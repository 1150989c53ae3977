//! The PPLNS window of a link: a pure function of the link and its
//! ancestors. Walked from scratch for any link, and kept incrementally for
//! the best tip, where each new link costs O(links that enter or leave).

use std::collections::{BTreeMap, HashMap, VecDeque};

use ruint::aliases::U256;

use super::chain::Entry;
use super::params::ChainParams;
use crate::ids::{LinkId, PayoutId};

/// Why a window walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The window's work reached the pool's multiple of the network
    /// difficulty.
    Work,
    /// The window holds the most links it may.
    DepthCap,
    /// The next link is older than the window's time span.
    TimeCap,
    /// The walk reached the chain's genesis link (a young pool): the window
    /// holds every link there is and pays them the whole reward.
    Genesis,
    /// An ancestor is not known here: the window is not known yet.
    Missing,
}

/// The window that pays a block built on `tip`: the links from `tip` back,
/// with the weight each miner earned in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The newest link in the window (the parent of the block it pays).
    pub tip: LinkId,
    /// How many links it holds.
    pub links: usize,
    /// Their total work (difficulty fixed point, uncles included).
    pub work: u128,
    /// Weight per miner, sorted by payout id, no zero entries.
    pub weights: Vec<(PayoutId, u128)>,
    /// Why the walk stopped.
    pub end: WindowEnd,
}

/// The work a window of `tip` must reach: the pool's multiple of the
/// network difficulty of `tip`'s header.
pub(super) fn threshold(params: &ChainParams, tip: &Entry) -> u128 {
    let w = U256::from(tip.network_difficulty) * U256::from(params.window.bps())
        / U256::from(10_000u32);
    u128::try_from(w).unwrap_or(u128::MAX)
}

/// The oldest median time a link in `tip`'s window may have.
fn cutoff(params: &ChainParams, tip: &Entry) -> u32 {
    tip.median_time.saturating_sub(params.max_window_secs)
}

/// Whether a window whose oldest link is `back` (holding `count` links of
/// `work`) ends there, and why; `None` if it goes on to `back`'s parent.
/// The order of the checks is the window's definition.
fn end_after(
    params: &ChainParams,
    links: &HashMap<LinkId, Entry>,
    back: &Entry,
    work: u128,
    limit: u128,
    count: usize,
    oldest: u32,
) -> Option<WindowEnd> {
    if work >= limit {
        return Some(WindowEnd::Work);
    }
    if count >= params.max_window_links as usize {
        return Some(WindowEnd::DepthCap);
    }
    let Some(parent) = back.link.parent() else {
        return Some(WindowEnd::Genesis);
    };
    match links.get(&parent) {
        // An assumed link's own weights are not checked: no window that
        // reaches it is known.
        None => Some(WindowEnd::Missing),
        Some(p) if p.assumed => Some(WindowEnd::Missing),
        Some(p) if p.median_time < oldest => Some(WindowEnd::TimeCap),
        Some(_) => None,
    }
}

/// The window of `tip`, walked from scratch; `None` if `tip` is unknown.
pub(super) fn walk(
    params: &ChainParams,
    links: &HashMap<LinkId, Entry>,
    tip: LinkId,
) -> Option<Window> {
    let top = links.get(&tip)?;
    if top.assumed {
        return Some(Window {
            tip,
            links: 0,
            work: 0,
            weights: Vec::new(),
            end: WindowEnd::Missing,
        });
    }
    let (limit, oldest) = (threshold(params, top), cutoff(params, top));
    let mut weights: BTreeMap<PayoutId, u128> = BTreeMap::new();
    let (mut work, mut count) = (0u128, 0usize);
    let mut entry = top;
    let end = loop {
        for (id, w) in &entry.contributions {
            *weights.entry(id.clone()).or_default() += w;
        }
        work = work.saturating_add(entry.work);
        count += 1;
        if let Some(end) = end_after(params, links, entry, work, limit, count, oldest) {
            break end;
        }
        // end_after returned None: the parent is held and inside the span.
        match entry.link.parent().and_then(|p| links.get(&p)) {
            Some(parent) if !parent.assumed => entry = parent,
            _ => break WindowEnd::Missing,
        }
    };
    Some(Window {
        tip,
        links: count,
        work,
        weights: weights.into_iter().filter(|(_, w)| *w > 0).collect(),
        end,
    })
}

/// The best tip's window, kept as the tip moves one link at a time.
#[derive(Debug, Clone, Default)]
pub(super) struct TipWindow {
    /// Newest first.
    links: VecDeque<LinkId>,
    weights: BTreeMap<PayoutId, u128>,
    work: u128,
    limit: u128,
    tip: Option<LinkId>,
    end: Option<WindowEnd>,
}

impl TipWindow {
    /// Moves the window to `tip`: one step if `tip` extends the current one
    /// with the same threshold and the window was not cut by a missing
    /// ancestor, a walk from scratch otherwise (a reorganisation).
    pub(super) fn advance(
        &mut self,
        params: &ChainParams,
        links: &HashMap<LinkId, Entry>,
        tip: LinkId,
    ) {
        let Some(top) = links.get(&tip) else {
            *self = TipWindow::default();
            return;
        };
        let extends = self.tip.is_some() && top.link.parent() == self.tip;
        if !extends || threshold(params, top) != self.limit || self.end == Some(WindowEnd::Missing)
        {
            self.rebuild(params, links, tip);
            return;
        }
        self.push_front(tip, top);
        let oldest = cutoff(params, top);
        while self.links.len() > 1 {
            let Some(back) = self.links.back().and_then(|id| links.get(id)) else {
                break;
            };
            let drop = self.links.len() > params.max_window_links as usize
                || back.median_time < oldest
                || self.work.saturating_sub(back.work) >= self.limit;
            if !drop {
                break;
            }
            self.pop_back(back);
        }
        let back = self.links.back().and_then(|id| links.get(id));
        let end = back.and_then(|back| {
            end_after(
                params,
                links,
                back,
                self.work,
                self.limit,
                self.links.len(),
                oldest,
            )
        });
        match end {
            Some(end) => self.end = Some(end),
            // Cannot happen for a window that was whole; walk to be sure.
            None => self.rebuild(params, links, tip),
        }
    }

    fn rebuild(&mut self, params: &ChainParams, links: &HashMap<LinkId, Entry>, tip: LinkId) {
        *self = TipWindow::default();
        let Some(top) = links.get(&tip) else {
            return;
        };
        let Some(window) = walk(params, links, tip) else {
            return;
        };
        self.limit = threshold(params, top);
        self.tip = Some(tip);
        self.end = Some(window.end);
        self.work = window.work;
        self.weights = window.weights.into_iter().collect();
        let mut cursor = Some(tip);
        while self.links.len() < window.links {
            let Some(id) = cursor else { break };
            self.links.push_back(id);
            cursor = links.get(&id).and_then(|e| e.link.parent());
        }
    }

    fn push_front(&mut self, id: LinkId, entry: &Entry) {
        for (payout, w) in &entry.contributions {
            *self.weights.entry(payout.clone()).or_default() += w;
        }
        self.work = self.work.saturating_add(entry.work);
        self.links.push_front(id);
        self.tip = Some(id);
    }

    fn pop_back(&mut self, entry: &Entry) {
        for (payout, w) in &entry.contributions {
            if let Some(held) = self.weights.get_mut(payout) {
                *held -= w;
                if *held == 0 {
                    self.weights.remove(payout);
                }
            }
        }
        self.work = self.work.saturating_sub(entry.work);
        self.links.pop_back();
    }

    /// The window as a value, if it is the window of `tip`.
    pub(super) fn window_of(&self, tip: LinkId) -> Option<Window> {
        if self.tip != Some(tip) {
            return None;
        }
        Some(Window {
            tip,
            links: self.links.len(),
            work: self.work,
            weights: self
                .weights
                .iter()
                .map(|(id, w)| (id.clone(), *w))
                .collect(),
            end: self.end?,
        })
    }
}
