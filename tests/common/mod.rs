//! Shared fixtures for the workspace-level tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::{PayoutId, PoolId};
use chiral_pool::core::pow::{CompactTarget, Difficulty, Target};
use chiral_pool::core::share::{
    Share, ShareValidator, ShareValidatorConfig, VerifiedShare, WorkTemplate,
};
use chiral_pool::core::store::{ManualClock, SharedClock};
use chiral_pool::dht::kad::Multiaddr;
use chiral_pool::dht::{KadConfig, KadStore};
use chiral_pool_core::share::commitment::Commitment;

/// Chain bits of the commitment: these shares are not links.
const CHAIN_BITS: chiral_pool_core::pow::CompactTarget =
    chiral_pool_core::pow::CompactTarget::from_consensus(0x1f00_ffff);

pub const T0: u64 = 1_900_000_000;
/// Diff1 bits: fixture shares are not blocks.
pub const BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
pub const TIP: [u8; 32] = [0x5a; 32];

/// Shares of one pool at difficulty 2^-24 (about 256 hashes each).
pub struct ShareFactory {
    pub pool: PoolId,
    pub target: Target,
    /// Header time of the shares.
    pub time: u32,
}

impl ShareFactory {
    pub fn new(pool: PoolId) -> Self {
        Self::at(pool, T0)
    }

    pub fn at(pool: PoolId, time: u64) -> Self {
        ShareFactory {
            pool,
            target: Target::from_difficulty(1.0 / 16_777_216.0).expect("valid"),
            time: time as u32,
        }
    }

    pub fn validator_config() -> ShareValidatorConfig {
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1),
            ..ShareValidatorConfig::new()
        }
    }

    pub fn share(&self, payout: &str, seed: u64) -> Share {
        self.share_on(TIP, payout, seed)
    }
}

/// A manual clock standing at the system time (Kademlia's record expiry
/// and the managers' leases then follow it), and its shared handle.
pub fn manual_clock() -> (ManualClock, SharedClock) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let manual = ManualClock::new(now);
    let shared: SharedClock = Arc::new(manual.clone());
    (manual, shared)
}

/// A Kademlia node on loopback with a fresh key, on `clock`.
pub async fn kad_node(clock: &SharedClock, bootstrap: Vec<Multiaddr>) -> (Keypair, KadStore) {
    let k = Keypair::generate();
    let store = KadStore::spawn(
        KadConfig::new()
            .with_keypair(k.clone())
            .with_clock(clock.clone())
            .with_bootstrap(bootstrap),
    )
    .await
    .expect("node starts");
    (k, store)
}

impl ShareFactory {
    /// What a Stratum server's validator hands over for `share` (built on
    /// `tip`): its verdict.
    pub fn verdict(tip: [u8; 32], share: &Share) -> VerifiedShare {
        let mut v = ShareValidator::new(share.pool_id, Self::validator_config());
        v.add_tip(tip, BITS).expect("tip");
        v.accept(share).expect("valid share")
    }

    /// A share like [`ShareFactory::share`] built on block `tip`.
    pub fn share_on(&self, tip: [u8; 32], payout: &str, seed: u64) -> Share {
        let payout = PayoutId::new(payout).expect("valid payout id");
        WorkTemplate::synthetic(
            &Commitment::genesis(self.pool, payout.clone(), CHAIN_BITS),
            tip,
            BITS,
            self.time,
            1,
            8,
        )
        .mine(
            self.pool,
            payout,
            self.target,
            &seed.to_le_bytes(),
            0..u32::MAX,
        )
        .expect("a share exists")
    }
}
