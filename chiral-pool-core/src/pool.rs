//! Pool announcements: what a pool is, who owns it, how it pays.

use serde::{Deserialize, Serialize};

use crate::identity::PublicKey;
use crate::ids::PoolId;
use crate::payout::WindowBps;
use crate::sharechain::{ChainParams, ParamsError};

/// Longest pool name, bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest stratum URL, bytes.
pub const MAX_URL_LEN: usize = 256;
/// Longest description, bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Longest region tag, bytes.
pub const MAX_REGION_LEN: usize = 32;

/// A fee in basis points (1/10,000), at most 10,000.
///
/// ```
/// use chiral_pool_core::pool::FeeBps;
/// let fee = FeeBps::new(150).unwrap(); // 1.5 %
/// assert_eq!(fee.of(1_000_000), 15_000);
/// assert!(FeeBps::new(10_001).is_err());
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct FeeBps(u16);

impl FeeBps {
    /// No fee.
    pub const ZERO: FeeBps = FeeBps(0);

    /// A fee of `bps` basis points.
    pub fn new(bps: u16) -> Result<Self, PoolError> {
        if bps > 10_000 {
            return Err(PoolError::Fee(bps));
        }
        Ok(FeeBps(bps))
    }

    /// A fee of `bps` basis points, clamped to 10,000: for constants,
    /// where the value is known to be in range.
    pub const fn clamped(bps: u16) -> Self {
        FeeBps(if bps > 10_000 { 10_000 } else { bps })
    }

    /// The basis points.
    pub fn bps(self) -> u16 {
        self.0
    }

    /// `floor(amount * bps / 10_000)`, exact in u128.
    pub fn of(self, amount: u64) -> u64 {
        // bps <= 10_000 so the quotient is <= amount and fits u64.
        (amount as u128 * self.0 as u128 / 10_000) as u64
    }
}

/// How a pool pays its miners, with the scheme's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PayoutScheme {
    /// Pay per last N shares, with the window measured in work.
    Pplns {
        /// Window size as a multiple of the network difficulty.
        window: WindowBps,
        /// Weigh each share by its difficulty divided by the network
        /// difficulty at submission (hopping-proof across retargets).
        normalize_by_network: bool,
    },
    /// Pay per share: the pool pays the expected value of each share.
    Pps,
    /// Full pay per share: PPS plus the average transaction fees.
    Fpps,
    /// Proportional to work within each round.
    Prop,
    /// The finder takes the whole block reward.
    Solo,
}

/// What a pool says about its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PoolStatus {
    /// Accepting miners.
    Active,
    /// Temporarily not accepting work.
    Maintenance,
    /// Shut down; announcement kept until it expires.
    Closed,
}

/// Why an announcement is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Fee above 10,000 basis points.
    #[error("fee {0} bps is above 10000")]
    Fee(u16),
    /// A text field is empty where required or too long.
    #[error("field {field} is {len} bytes, allowed {min}..={max}")]
    FieldLength {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// The id is not derived from the owner key and name.
    #[error("pool id does not match owner key and name")]
    IdMismatch,
    /// The announcement expires before it was created.
    #[error("announcement expires before it was created")]
    Lifetime,
    /// PPLNS window of zero.
    #[error("PPLNS window must be positive")]
    EmptyWindow,
    /// The share chain rules are out of range.
    #[error("share chain rules: {0}")]
    Chain(#[from] ParamsError),
    /// The fee or window differs from the share chain's rules.
    #[error("fee or window differs from the share chain's rules")]
    ChainMismatch,
}

/// A signed-over description of a pool: the payload of a pool record.
///
/// ```
/// use chiral_pool_core::{identity::Keypair, pool::*};
/// let owner = Keypair::from_secret_bytes([1; 32]).public();
/// let ann = PoolAnnouncement::new(owner, "alpha", "stratum+tcp://127.0.0.1:3333", 1_000, 2_000);
/// assert!(ann.validate().is_ok());
/// assert_eq!(ann.id, chiral_pool_core::ids::PoolId::derive(&owner, "alpha"));
/// // The chain's rules are part of the id.
/// let mut rules = ann.chain.clone();
/// rules.max_window_links = 100;
/// let other = ann.clone().with_chain(rules);
/// assert_ne!(other.id, ann.id);
/// assert!(other.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAnnouncement {
    /// Derived from `owner` and `name`.
    pub id: PoolId,
    /// Human-readable name, 1..=64 bytes.
    pub name: String,
    /// Where miners connect, e.g. `stratum+tcp://host:3333`.
    pub stratum_url: String,
    /// Free text.
    pub description: String,
    /// Pool fee.
    pub fee: FeeBps,
    /// Payout scheme and its parameters.
    pub scheme: PayoutScheme,
    /// Smallest balance paid out, atoms.
    pub min_payout: u64,
    /// Region tag, e.g. `eu-west`.
    pub region: String,
    /// Operating status.
    pub status: PoolStatus,
    /// Connected miners, as reported by the owner.
    pub miners: u32,
    /// Hashrate in hashes per second, as reported by the owner.
    pub hashrate: u64,
    /// Unix time of the last block found, if any.
    pub last_block_time: Option<u64>,
    /// Blocks found in the last 24 hours.
    pub blocks_24h: u32,
    /// The owner's signing key.
    pub owner: PublicKey,
    /// Unix time of creation.
    pub created_at: u64,
    /// Unix time after which the announcement is void.
    pub expires_at: u64,
    /// The share chain's consensus rules; hashed into `id`, so anyone can
    /// check a member follows the pool's rules.
    pub chain: ChainParams,
}

impl PoolAnnouncement {
    /// An active PPLNS (2x window) pool with no fee and sane defaults.
    pub fn new(
        owner: PublicKey,
        name: &str,
        stratum_url: &str,
        created_at: u64,
        expires_at: u64,
    ) -> Self {
        let chain = ChainParams::new();
        PoolAnnouncement {
            id: chain.pool_id(&owner, name),
            name: name.to_owned(),
            stratum_url: stratum_url.to_owned(),
            description: String::new(),
            fee: FeeBps::ZERO,
            scheme: PayoutScheme::Pplns {
                window: WindowBps::DEFAULT,
                normalize_by_network: true,
            },
            min_payout: 0,
            region: String::new(),
            status: PoolStatus::Active,
            miners: 0,
            hashrate: 0,
            last_block_time: None,
            blocks_24h: 0,
            owner,
            created_at,
            expires_at,
            chain,
        }
    }

    /// The announcement with share chain rules `chain`: the id is derived
    /// again, and the fee and PPLNS window follow the rules.
    pub fn with_chain(mut self, chain: ChainParams) -> Self {
        self.id = chain.pool_id(&self.owner, &self.name);
        self.fee = chain.fee;
        if let PayoutScheme::Pplns { window, .. } = &mut self.scheme {
            *window = chain.window;
        }
        self.chain = chain;
        self
    }

    /// Checks lengths, fee, lifetime and that the id is bound to the owner.
    pub fn validate(&self) -> Result<(), PoolError> {
        check_len("name", &self.name, 1, MAX_NAME_LEN)?;
        check_len("stratum_url", &self.stratum_url, 0, MAX_URL_LEN)?;
        check_len("description", &self.description, 0, MAX_DESCRIPTION_LEN)?;
        check_len("region", &self.region, 0, MAX_REGION_LEN)?;
        FeeBps::new(self.fee.bps())?;
        if let PayoutScheme::Pplns { window, .. } = self.scheme {
            // A decoded window may be zero; `WindowBps::new` refuses it.
            WindowBps::new(window.bps())?;
        }
        if self.expires_at < self.created_at {
            return Err(PoolError::Lifetime);
        }
        self.chain.check().map_err(PoolError::Chain)?;
        if self.chain.pool_id(&self.owner, &self.name) != self.id {
            return Err(PoolError::IdMismatch);
        }
        let window_differs = matches!(self.scheme, PayoutScheme::Pplns { window, .. } if window != self.chain.window);
        if self.fee != self.chain.fee || window_differs {
            return Err(PoolError::ChainMismatch);
        }
        Ok(())
    }
}

fn check_len(field: &'static str, s: &str, min: usize, max: usize) -> Result<(), PoolError> {
    if s.len() < min || s.len() > max {
        return Err(PoolError::FieldLength {
            field,
            len: s.len(),
            min,
            max,
        });
    }
    Ok(())
}
