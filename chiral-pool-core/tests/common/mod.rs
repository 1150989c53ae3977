//! Shared fixtures for the core integration tests.
#![allow(dead_code)]

pub mod links;
pub mod sim;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::{CompactTarget, Difficulty, Target};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::{Share, ShareValidator, ShareValidatorConfig, WorkTemplate};

/// Chain bits of the commitment: these shares are not links.
pub const CHAIN_BITS: chiral_pool_core::pow::CompactTarget =
    chiral_pool_core::pow::CompactTarget::from_consensus(0x1f00_ffff);

/// Diff1 bits: shares at tiny difficulty are not blocks.
pub const DIFF1_BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
/// Network target about half the fixture's share target: about every
/// second share is a block.
pub const HALF_SHARE_BITS: CompactTarget = CompactTarget::from_consensus(0x1f7fffff);

pub struct Fixture {
    pub owner: Keypair,
    pub pool: PoolId,
    pub tip: [u8; 32],
    pub bits: CompactTarget,
    pub share_target: Target,
}

impl Fixture {
    pub fn new(bits: CompactTarget) -> Self {
        let owner = Keypair::from_secret_bytes([42; 32]);
        let pool = PoolId::derive(&owner.public(), "fixture");
        Fixture {
            owner,
            pool,
            tip: [0x11; 32],
            bits,
            share_target: Target::from_difficulty(1.0 / 16_777_216.0).expect("valid difficulty"),
        }
    }

    pub fn config(&self) -> ShareValidatorConfig {
        ShareValidatorConfig {
            min_difficulty: Difficulty::from_raw(1 << 4),
            ..ShareValidatorConfig::new()
        }
    }

    pub fn validator(&self) -> ShareValidator {
        let mut v = ShareValidator::new(self.pool, self.config());
        v.add_tip(self.tip, self.bits).expect("valid bits");
        v
    }

    pub fn payout(name: &str) -> PayoutId {
        PayoutId::new(name).expect("valid payout id")
    }

    pub fn template_for(&self, payout: &PayoutId) -> WorkTemplate {
        WorkTemplate::synthetic(
            &Commitment::genesis(self.pool, payout.clone(), CHAIN_BITS),
            self.tip,
            self.bits,
            1_700_000_000,
            7,
            8,
        )
    }

    /// A valid share for `payout`; `seed` picks the extranonce so shares differ.
    pub fn share(&self, payout: &str, seed: u64) -> Share {
        let payout = Self::payout(payout);
        self.template_for(&payout)
            .mine(
                self.pool,
                payout,
                self.share_target,
                &seed.to_le_bytes(),
                0..u32::MAX,
            )
            .expect("a share exists at difficulty 2^-24")
    }
}
