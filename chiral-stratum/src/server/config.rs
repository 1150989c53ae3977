//! Settings of a [`StratumServer`](super::StratumServer) and their checks.

use std::net::IpAddr;
use std::time::Duration;

use chiral_pool_core::ids::PoolId;
use chiral_pool_core::payout::AddressNetwork;
use chiral_pool_core::pow::Difficulty;
use chiral_pool_core::share::ShareValidatorConfig;

use crate::vardiff::VardiffConfig;

/// Smallest extranonce2 a server hands out: fewer bytes leave a miner too
/// little to roll before its nonce space runs out.
pub const MIN_EXTRANONCE2_SIZE: usize = 2;
/// Largest extranonce2 a server hands out: miners keep it in a `u64`.
pub const MAX_EXTRANONCE2_SIZE: usize = 8;

/// Settings of a [`StratumServer`](super::StratumServer); each default is
/// on its field. [`StratumServer::new`](super::StratumServer::new) checks
/// them and names the field of any that is out of range.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The pool whose shares this server accepts.
    pub pool_id: PoolId,
    /// Bytes of extranonce2 the miner rolls. Default: 4; from
    /// [`MIN_EXTRANONCE2_SIZE`] to [`MAX_EXTRANONCE2_SIZE`].
    pub extranonce2_size: usize,
    /// First difficulty of a connection. Default: 1/1024.
    pub initial_difficulty: f64,
    /// Vardiff settings (bounds and target interval). Its
    /// `min_difficulty` is also the easiest share the server's validator
    /// accepts.
    pub vardiff: VardiffConfig,
    /// Version bits miners may roll (BIP 310). Default: `0x1fffe000`.
    pub version_mask: u32,
    /// Time to subscribe and authorize after connecting. Default: 30 s.
    pub handshake_timeout: Duration,
    /// A connection silent this long is closed. Default: 10 min.
    pub idle_timeout: Duration,
    /// A write blocked this long (a client not reading), or a share sink
    /// that has not made a share durable in this time, closes the
    /// connection. Default: 10 s.
    pub write_timeout: Duration,
    /// Most open connections. Default: 20,000.
    pub max_connections: usize,
    /// Jobs remembered per connection for late submits. Default: 8.
    pub max_jobs: usize,
    /// Ban points that close a connection. Default: 100 (an invalid share
    /// costs 5, a stale one 1, a line that is not Stratum 10; each accepted
    /// share takes one away).
    pub ban_threshold: u32,
    /// How long an address is refused after abuse. Default: 10 min.
    pub ban_duration: Duration,
    /// Addresses never banned (they are still disconnected on abuse).
    pub allow_list: Vec<IpAddr>,
    /// How many recent tips shares may build on. Default: 3.
    pub max_tips: usize,
    /// Most distinct shares remembered per tip for duplicate detection: the
    /// one duplicate memory of a node that serves miners. Default:
    /// 1,048,576 (about 40 MiB at the limit).
    pub max_shares_per_tip: usize,
    /// In a pool that pays in the coinbase: the network whose addresses
    /// usernames must start with (`<address>.<worker>`); an address of
    /// another network, or a name that is no address, is refused at
    /// `mining.authorize` with the reason. `None` (default): any payout id,
    /// for a ledger pool.
    pub addresses: Option<AddressNetwork>,
    /// The script a ledger pool's jobs pay the whole block to (the ledger
    /// says who is owed what). Default: `OP_TRUE`, spendable by anyone:
    /// for synthetic chains only.
    pub ledger_script: Vec<u8>,
}

/// A [`ServerConfig`] field out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `extranonce2_size` is outside the supported range.
    #[error(
        "extranonce2_size is {0}, must be {MIN_EXTRANONCE2_SIZE}..={MAX_EXTRANONCE2_SIZE} bytes"
    )]
    Extranonce2Size(usize),
    /// A difficulty is not a finite number above zero, or the vardiff
    /// bounds are inverted.
    #[error("{field} is {value}, must be finite, above zero and within the vardiff bounds")]
    Difficulty {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A count or period that must be above zero is zero.
    #[error("{0} must be above zero")]
    Zero(&'static str),
}

impl ServerConfig {
    /// Defaults for `pool_id`.
    pub fn new(pool_id: PoolId) -> Self {
        let validator = ShareValidatorConfig::new();
        ServerConfig {
            pool_id,
            extranonce2_size: 4,
            initial_difficulty: 1.0 / 1024.0,
            vardiff: VardiffConfig::new(),
            version_mask: 0x1fff_e000,
            handshake_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(10),
            max_connections: 20_000,
            max_jobs: 8,
            ban_threshold: 100,
            ban_duration: Duration::from_secs(600),
            allow_list: Vec::new(),
            max_tips: validator.max_tips,
            max_shares_per_tip: validator.max_shares_per_tip,
            addresses: None,
            ledger_script: vec![0x51],
        }
    }

    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(MIN_EXTRANONCE2_SIZE..=MAX_EXTRANONCE2_SIZE).contains(&self.extranonce2_size) {
            return Err(ConfigError::Extranonce2Size(self.extranonce2_size));
        }
        let v = &self.vardiff;
        let positive = |field, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::Difficulty { field, value })
            }
        };
        positive("vardiff.min_difficulty", v.min_difficulty)?;
        positive("vardiff.max_difficulty", v.max_difficulty)?;
        positive("vardiff.target_interval_secs", v.target_interval_secs)?;
        positive("vardiff.retarget_secs", v.retarget_secs)?;
        positive("initial_difficulty", self.initial_difficulty)?;
        if v.max_difficulty < v.min_difficulty {
            return Err(ConfigError::Difficulty {
                field: "vardiff.max_difficulty",
                value: v.max_difficulty,
            });
        }
        for (field, value) in [
            ("max_connections", self.max_connections),
            ("max_jobs", self.max_jobs),
            ("max_tips", self.max_tips),
            ("max_shares_per_tip", self.max_shares_per_tip),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(field));
            }
        }
        for (field, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero(field));
            }
        }
        if self.ban_threshold == 0 {
            return Err(ConfigError::Zero("ban_threshold"));
        }
        Ok(())
    }

    /// The validator settings the server runs with: the easiest share is
    /// vardiff's lowest difficulty, read when the server is built.
    pub(crate) fn validator(&self) -> Result<ShareValidatorConfig, ConfigError> {
        let min_difficulty = Difficulty::from_f64(self.vardiff.min_difficulty).map_err(|_| {
            ConfigError::Difficulty {
                field: "vardiff.min_difficulty",
                value: self.vardiff.min_difficulty,
            }
        })?;
        Ok(ShareValidatorConfig {
            min_difficulty,
            max_tips: self.max_tips,
            max_shares_per_tip: self.max_shares_per_tip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServerConfig {
        ServerConfig::new(PoolId::from_bytes([3; 32]))
    }

    #[test]
    fn the_defaults_pass_and_each_bad_field_is_named() {
        assert_eq!(config().check(), Ok(()));
        for size in [0, 1, 9, 32] {
            let mut c = config();
            c.extranonce2_size = size;
            assert_eq!(c.check(), Err(ConfigError::Extranonce2Size(size)));
        }
        for size in MIN_EXTRANONCE2_SIZE..=MAX_EXTRANONCE2_SIZE {
            let mut c = config();
            c.extranonce2_size = size;
            assert_eq!(c.check(), Ok(()));
        }
        let mut c = config();
        c.initial_difficulty = f64::NAN;
        let err = c.check().expect_err("NaN difficulty");
        assert!(err.to_string().contains("initial_difficulty"), "{err}");
        let mut c = config();
        c.vardiff.min_difficulty = 0.0;
        let err = c.check().expect_err("zero difficulty");
        assert!(err.to_string().contains("vardiff.min_difficulty"), "{err}");
        let mut c = config();
        c.vardiff.max_difficulty = c.vardiff.min_difficulty / 2.0;
        assert!(c.check().is_err());
        let mut c = config();
        c.max_shares_per_tip = 0;
        assert_eq!(c.check(), Err(ConfigError::Zero("max_shares_per_tip")));
    }

    #[test]
    fn the_validator_minimum_follows_vardiff_when_the_server_is_built() {
        let mut c = config();
        c.vardiff.min_difficulty = 1.0 / 256.0;
        let v = c.validator().expect("valid");
        assert_eq!(v.min_difficulty, Difficulty::from_raw(1 << 24));
        // Changed after `new`: still followed.
        c.vardiff.min_difficulty = 2.0;
        assert_eq!(
            c.validator().expect("valid").min_difficulty,
            Difficulty::from_integer(2)
        );
    }
}
