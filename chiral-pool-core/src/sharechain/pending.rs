//! Links held until what they need arrives: an ancestor, a block-chain
//! header, or the node's clock. Held, never refused: "not yet" is not
//! invalid. Bounded in total and per delivering peer.

use std::collections::{BTreeSet, HashMap};

use super::link::ProvenLink;
use crate::ids::LinkId;
use crate::pow::Hash256;

/// Who delivered a link: a number the network layer assigns per peer
/// (links are unsigned, so bounds are per delivering peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(pub u64);

impl Origin {
    /// A link this node mined or read from its own store.
    pub const LOCAL: Origin = Origin(0);
}

/// Why a link is held instead of accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Its parent is not known here yet.
    MissingParent(LinkId),
    /// One of its uncles is not known here yet.
    MissingUncle(LinkId),
    /// Its block-chain prevhash is not a header this node knows yet.
    UnknownBlock(Hash256),
    /// Its time is further ahead of this node's clock than the pool allows.
    AheadOfClock {
        /// The link's time.
        time: u32,
    },
}

/// Why a pending link is not even held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotHeld {
    /// Its work is far below the best chain's target: too cheap to hold
    /// on the strength of ancestors nobody has seen.
    #[error("pending link's target is far easier than the chain's")]
    TooWeak,
    /// The node holds as many pending links as it allows.
    #[error("too many pending links")]
    Full,
    /// This peer delivered as many pending links as it may.
    #[error("too many pending links from one peer")]
    OriginFull,
    /// A genesis link on a chain that has grown: valid by the rules, but
    /// it could only start a chain from nothing.
    #[error("genesis link on a grown chain")]
    LateGenesis,
    /// It builds on a fork deeper than the ancestors this node keeps, so
    /// the rules cannot be applied here (not a fault of the link).
    #[error("link's fork is deeper than this node keeps")]
    Deep,
}

/// Bounds on pending links (local policy, not consensus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Most pending links held. Default: 1,024.
    pub max_pending: usize,
    /// Most pending links held per delivering peer. Default: 128.
    pub max_per_origin: usize,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            max_pending: 1_024,
            max_per_origin: 128,
        }
    }
}

struct Held {
    link: ProvenLink,
    origin: Origin,
    reason: Pending,
}

/// The pending links and what each waits for.
#[derive(Default)]
pub(super) struct PendingLinks {
    held: HashMap<LinkId, Held>,
    on_link: HashMap<LinkId, Vec<LinkId>>,
    on_block: HashMap<Hash256, Vec<LinkId>>,
    on_time: BTreeSet<(u32, LinkId)>,
    per_origin: HashMap<Origin, usize>,
    limits: PendingLimits,
}

impl PendingLinks {
    pub(super) fn new(limits: PendingLimits) -> Self {
        PendingLinks {
            limits,
            ..Default::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    pub(super) fn contains(&self, id: &LinkId) -> bool {
        self.held.contains_key(id)
    }

    /// Holds `link` until `reason` is resolved.
    pub(super) fn hold(
        &mut self,
        link: ProvenLink,
        origin: Origin,
        reason: Pending,
    ) -> Result<(), NotHeld> {
        if self.held.len() >= self.limits.max_pending {
            return Err(NotHeld::Full);
        }
        let count = self.per_origin.entry(origin).or_default();
        if *count >= self.limits.max_per_origin {
            return Err(NotHeld::OriginFull);
        }
        *count += 1;
        let id = link.id();
        match reason {
            Pending::MissingParent(wanted) | Pending::MissingUncle(wanted) => {
                self.on_link.entry(wanted).or_default().push(id)
            }
            Pending::UnknownBlock(hash) => self.on_block.entry(hash).or_default().push(id),
            Pending::AheadOfClock { time } => {
                self.on_time.insert((time, id));
            }
        }
        self.held.insert(
            id,
            Held {
                link,
                origin,
                reason,
            },
        );
        Ok(())
    }

    /// Takes the links waiting for link `id`.
    pub(super) fn take_on_link(&mut self, id: &LinkId) -> Vec<(ProvenLink, Origin)> {
        let ids = self.on_link.remove(id).unwrap_or_default();
        self.take_all(ids)
    }

    /// Takes the links waiting for block-chain header `hash`.
    pub(super) fn take_on_block(&mut self, hash: &Hash256) -> Vec<(ProvenLink, Origin)> {
        let ids = self.on_block.remove(hash).unwrap_or_default();
        self.take_all(ids)
    }

    /// Takes the links whose time is at most `latest`.
    pub(super) fn take_due(&mut self, latest: u32) -> Vec<(ProvenLink, Origin)> {
        let mut ids = Vec::new();
        while let Some(&(time, id)) = self.on_time.first() {
            if time > latest {
                break;
            }
            self.on_time.pop_first();
            ids.push(id);
        }
        self.take_all(ids)
    }

    /// Ids that pending links wait for and nobody holds: what to fetch.
    /// Sorted, so every caller asks in the same order.
    pub(super) fn wanted(&self) -> Vec<LinkId> {
        // A block-chain header links wait for may itself be a link this
        // node never saw (a block whose link fell off the best chain, so no
        // parent or uncle walk reaches it): ask for it by the same id.
        let mut out: Vec<LinkId> = self
            .on_link
            .keys()
            .copied()
            .chain(self.on_block.keys().map(|hash| LinkId::from_bytes(*hash)))
            .filter(|id| !self.held.contains_key(id))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Drops pending links whose header time is below `time`: they fell
    /// out of any window they could have joined.
    pub(super) fn drop_older_than(&mut self, time: u32) -> usize {
        let old: Vec<LinkId> = self
            .held
            .iter()
            .filter(|(_, h)| h.link.header().time() < time)
            .map(|(id, _)| *id)
            .collect();
        let dropped = old.len();
        for id in old {
            self.remove(&id);
        }
        dropped
    }

    fn take_all(&mut self, ids: Vec<LinkId>) -> Vec<(ProvenLink, Origin)> {
        ids.into_iter().filter_map(|id| self.remove(&id)).collect()
    }

    fn remove(&mut self, id: &LinkId) -> Option<(ProvenLink, Origin)> {
        let held = self.held.remove(id)?;
        if let Some(count) = self.per_origin.get_mut(&held.origin) {
            *count -= 1;
            if *count == 0 {
                self.per_origin.remove(&held.origin);
            }
        }
        let unlist = |list: &mut Vec<LinkId>| list.retain(|x| x != id);
        match held.reason {
            Pending::MissingParent(wanted) | Pending::MissingUncle(wanted) => {
                if let Some(list) = self.on_link.get_mut(&wanted) {
                    unlist(list);
                    if list.is_empty() {
                        self.on_link.remove(&wanted);
                    }
                }
            }
            Pending::UnknownBlock(hash) => {
                if let Some(list) = self.on_block.get_mut(&hash) {
                    unlist(list);
                    if list.is_empty() {
                        self.on_block.remove(&hash);
                    }
                }
            }
            Pending::AheadOfClock { time } => {
                self.on_time.remove(&(time, *id));
            }
        }
        Some((held.link, held.origin))
    }
}
