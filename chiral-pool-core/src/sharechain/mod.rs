//! The share chain: how every honest node agrees on the PPLNS window and
//! the payouts, whatever order links reached it in.
//!
//! A **link** is a share that also meets the pool's chain target (about
//! one every [`ChainParams::target_spacing_secs`] for the whole pool). Its
//! coinbase commitment names its parent link, a few uncles (recent links
//! off its chain) and the chain target at its position, so the links form
//! a hash-linked chain, as in Monero P2Pool. A link is self-certifying: its
//! id is its header hash, its proof the header, coinbase and merkle branch.
//!
//! - [`Link::prove`] checks what needs nothing else (once per link);
//! - [`ShareChain::insert`] checks what needs ancestors: the chain target
//!   ([`ChainParams`]' retarget), times, uncles, the block-chain header it
//!   builds on; a link missing any of these is [`Pending`], never invalid;
//! - [`ShareChain::window`] of a link is a pure function of the link and
//!   its ancestors, and the payout of a block is [`ShareChain::settle`]:
//!   the split of the window of its parent;
//! - the best tip has the most cumulative work, uncles included; on equal
//!   work the tip received first stays.
//!
//! Every rule parameter is in [`ChainParams`], and all of them are hashed
//! into the pool id ([`ChainParams::pool_id`]): a node with other rules is
//! on another pool.

mod chain;
pub mod gossip;
mod link;
mod params;
mod pending;
mod retarget;
pub mod sync;
mod window;

pub use chain::{
    Added, AssumeError, InsertError, Insertion, JobPosition, ShareChain, ASSUME_STALE_SECS,
};
pub use link::{Certified, Link, LinkError, ProvenLink, MAX_LINK_BYTES};
pub use params::{ChainParams, CoinbaseRules, ParamsError, PayoutMode};
pub use pending::{NotHeld, Origin, Pending, PendingLimits};
pub use window::{Window, WindowEnd};

#[cfg(feature = "test-utils")]
pub mod testing;
