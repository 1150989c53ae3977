//! The consensus parameters of a share chain: every rule a peer applies
//! to a link. Two nodes agree on windows and payouts only if they agree on
//! all of these, so all of them are hashed into the pool id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::PublicKey;
use crate::ids::PayoutId;
use crate::ids::PoolId;
use crate::payout::{payout_script, AddressNetwork, OutputRules, WindowBps};
use crate::pool::FeeBps;
use crate::pow::{Difficulty, Hash256, Target};
use crate::share::commitment::{COMMITMENT_VERSION, MAX_COMMITTED_UNCLES};

/// Domain separator of pool ids bound to chain parameters.
const POOL_ID_DOMAIN: &[u8] = b"chiral/pool-id/v2";

/// Why a parameter set is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A field is out of its range; the message names it.
    #[error("chain parameter `{field}` {problem}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

fn bad(field: &'static str, problem: &'static str) -> ParamsError {
    ParamsError::Field { field, problem }
}

/// The rules of one pool's share chain. Every field is consensus: a node
/// with another value derives another pool id ([`ChainParams::pool_id`]),
/// so it can never mix its links with this pool's.
///
/// Defaults follow Monero P2Pool where a choice had to be made (10 s links,
/// a window of 2,160 links, uncles of depth 3 counting 80 %) and p2poolv2
/// for time bounds (median of 11, at most 60 s ahead).
///
/// ```
/// use chiral_pool_core::{identity::Keypair, sharechain::ChainParams};
/// let owner = Keypair::from_secret_bytes([7; 32]).public();
/// let params = ChainParams::new();
/// params.check().unwrap();
/// let mut other = params.clone();
/// other.max_window_links = 1_000;
/// assert_ne!(params.pool_id(&owner, "alpha"), other.pool_id(&owner, "alpha"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainParams {
    /// Hash of the block chain's genesis block (internal byte order), so a
    /// pool is bound to one network. Default: zero, the synthetic chain.
    pub network: Hash256,
    /// Commitment format version links must carry. Default: 2.
    pub commitment_version: u8,
    /// Seconds between links the retarget aims for, whole pool. Default: 10.
    pub target_spacing_secs: u32,
    /// Easiest chain difficulty ever required (the floor). Default: 1/65,536.
    pub min_difficulty: Difficulty,
    /// Ancestors the retarget reads (parent first). Default: 60.
    pub retarget_links: u32,
    /// Most the chain difficulty may change from one link to the next, as
    /// a factor either way. Default: 2.
    pub retarget_max_step: u32,
    /// Ancestors whose median time a link's time must exceed. Default: 11.
    pub median_time_links: u32,
    /// How far ahead of a node's clock a link's time may be before the node
    /// holds it as pending. Not a validity rule (clocks differ): a link
    /// ahead is retried later, never refused. Default: 60.
    pub max_future_secs: u32,
    /// Window work as a multiple of the network difficulty. Default: 2x.
    pub window: WindowBps,
    /// Most links in a window (the depth cap). Default: 2,160.
    pub max_window_links: u32,
    /// Most seconds of median time a window spans. Default: 86,400.
    pub max_window_secs: u32,
    /// How many links back an uncle's parent may be from its nephew.
    /// Default: 3.
    pub uncle_depth: u32,
    /// Most uncles one link cites. Default: 3.
    pub max_uncles: u32,
    /// Part of an uncle's work paid to the uncle's miner, in basis points;
    /// the rest goes to the nephew's. Default: 8,000 (80 %).
    pub uncle_share: FeeBps,
    /// Blocks an uncle's block height may lag its nephew's before the
    /// uncle weighs nothing. Default: 2.
    pub max_height_lag: u32,
    /// The operator's fee. Default: 0.
    pub fee: FeeBps,
    /// The finder's bonus, taken after the fee. Default: 0.
    pub finder_bonus: FeeBps,
    /// How blocks pay: a ledger, or the window in the coinbase itself.
    /// Default: [`PayoutMode::Ledger`].
    pub payouts: PayoutMode,
}

/// How a pool's blocks pay its miners.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PayoutMode {
    /// A block pays one script and a ledger says who is owed what: for
    /// schemes where the operator carries the risk (PPS, FPPS, PROP), and
    /// for payout ids that are not addresses. No peer checks the outputs.
    Ledger,
    /// The block pays the window itself: every link's coinbase outputs
    /// are the split of the window of its parent
    /// ([`crate::payout::CoinbasePlan`]), and every peer refuses a link
    /// that pays otherwise. Payout ids must be addresses of the network.
    Coinbase(CoinbaseRules),
}

/// The rules of a pool whose blocks pay the window in the coinbase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CoinbaseRules {
    /// The address format payout ids must have.
    pub network: AddressNetwork,
    /// The owner's address: the pool's fee is paid to it.
    pub owner: PayoutId,
    /// Dust limit and output cap.
    pub outputs: OutputRules,
    /// The block subsidy at height 0, atoms: a coinbase's outputs must sum
    /// to at least the subsidy of its height.
    pub initial_subsidy: u64,
    /// Blocks between halvings of the subsidy.
    pub halving_interval: u32,
}

impl CoinbaseRules {
    /// Bitcoin's subsidy schedule (50 BTC halving every 210,000 blocks;
    /// every 150 on regtest) and the default output rules, paying the fee
    /// to `owner`.
    pub fn bitcoin(network: AddressNetwork, owner: PayoutId) -> Self {
        CoinbaseRules {
            network,
            owner,
            outputs: OutputRules::default(),
            initial_subsidy: 50 * 100_000_000,
            halving_interval: match network {
                AddressNetwork::Regtest => 150,
                _ => 210_000,
            },
        }
    }

    /// The subsidy of a block at `height`, atoms.
    pub fn subsidy(&self, height: u32) -> u64 {
        let halvings = height / self.halving_interval.max(1);
        if halvings >= 64 {
            0
        } else {
            self.initial_subsidy >> halvings
        }
    }
}
impl ChainParams {
    /// The defaults documented on each field.
    pub fn new() -> Self {
        ChainParams {
            network: [0; 32],
            commitment_version: COMMITMENT_VERSION,
            target_spacing_secs: 10,
            min_difficulty: Difficulty::from_raw(1 << 16),
            retarget_links: 60,
            retarget_max_step: 2,
            median_time_links: 11,
            max_future_secs: 60,
            window: WindowBps::DEFAULT,
            max_window_links: 2_160,
            max_window_secs: 86_400,
            uncle_depth: 3,
            max_uncles: 3,
            uncle_share: FeeBps::clamped(8_000),
            max_height_lag: 2,
            fee: FeeBps::ZERO,
            finder_bonus: FeeBps::ZERO,
            payouts: PayoutMode::Ledger,
        }
    }

    /// Checks every field's range; the error names the field.
    pub fn check(&self) -> Result<(), ParamsError> {
        if self.commitment_version != COMMITMENT_VERSION {
            return Err(bad("commitment_version", "is not one this node reads"));
        }
        if self.target_spacing_secs == 0 {
            return Err(bad("target_spacing_secs", "must be at least 1"));
        }
        if self.min_difficulty == Difficulty::ZERO {
            return Err(bad("min_difficulty", "must be above zero"));
        }
        if !(2..=10_000).contains(&self.retarget_links) {
            return Err(bad("retarget_links", "must be 2..=10,000"));
        }
        if !(2..=16).contains(&self.retarget_max_step) {
            return Err(bad("retarget_max_step", "must be 2..=16"));
        }
        if !(1..=101).contains(&self.median_time_links) {
            return Err(bad("median_time_links", "must be 1..=101"));
        }
        if !(1..=1_000_000).contains(&self.max_window_links) {
            return Err(bad("max_window_links", "must be 1..=1,000,000"));
        }
        if self.max_window_secs == 0 {
            return Err(bad("max_window_secs", "must be at least 1"));
        }
        if !(1..=16).contains(&self.uncle_depth) {
            return Err(bad("uncle_depth", "must be 1..=16"));
        }
        for (field, bps) in [
            ("uncle_share", self.uncle_share),
            ("fee", self.fee),
            ("finder_bonus", self.finder_bonus),
        ] {
            if FeeBps::new(bps.bps()).is_err() {
                return Err(bad(field, "exceeds 10,000 basis points"));
            }
        }
        if WindowBps::new(self.window.bps()).is_err() {
            return Err(bad("window", "must be above zero"));
        }
        if self.max_uncles as usize > MAX_COMMITTED_UNCLES {
            return Err(bad("max_uncles", "exceeds what a commitment holds (8)"));
        }
        if let PayoutMode::Coinbase(rules) = &self.payouts {
            if payout_script(&rules.owner, rules.network).is_err() {
                return Err(bad("payouts.owner", "is not an address of the network"));
            }
            rules
                .outputs
                .check()
                .map_err(|problem| bad("payouts.outputs", problem))?;
            if rules.halving_interval == 0 {
                return Err(bad("payouts.halving_interval", "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The easiest chain target, from the floor difficulty.
    pub fn floor_target(&self) -> Target {
        Target::from_fixed_difficulty(self.min_difficulty)
    }

    /// The canonical bytes of the parameters: every field, in declaration
    /// order, fixed width, little-endian. The pool id hashes these.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Destructured so that a new field cannot be left out silently.
        let ChainParams {
            network,
            commitment_version,
            target_spacing_secs,
            min_difficulty,
            retarget_links,
            retarget_max_step,
            median_time_links,
            max_future_secs,
            window,
            max_window_links,
            max_window_secs,
            uncle_depth,
            max_uncles,
            uncle_share,
            max_height_lag,
            fee,
            finder_bonus,
            payouts,
        } = self;
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(network);
        out.push(*commitment_version);
        out.extend(target_spacing_secs.to_le_bytes());
        out.extend(min_difficulty.raw().to_le_bytes());
        out.extend(retarget_links.to_le_bytes());
        out.extend(retarget_max_step.to_le_bytes());
        out.extend(median_time_links.to_le_bytes());
        out.extend(max_future_secs.to_le_bytes());
        out.extend(window.bps().to_le_bytes());
        out.extend(max_window_links.to_le_bytes());
        out.extend(max_window_secs.to_le_bytes());
        out.extend(uncle_depth.to_le_bytes());
        out.extend(max_uncles.to_le_bytes());
        out.extend(uncle_share.bps().to_le_bytes());
        out.extend(max_height_lag.to_le_bytes());
        out.extend(fee.bps().to_le_bytes());
        out.extend(finder_bonus.bps().to_le_bytes());
        match payouts {
            PayoutMode::Ledger => out.push(0),
            PayoutMode::Coinbase(rules) => {
                let CoinbaseRules {
                    network,
                    owner,
                    outputs,
                    initial_subsidy,
                    halving_interval,
                } = rules;
                out.push(1);
                out.push(network.to_byte());
                // PayoutId guarantees 1..=64 bytes.
                out.push(owner.as_str().len() as u8);
                out.extend_from_slice(owner.as_str().as_bytes());
                out.extend(outputs.dust.to_le_bytes());
                out.extend(outputs.max_outputs.to_le_bytes());
                out.extend(initial_subsidy.to_le_bytes());
                out.extend(halving_interval.to_le_bytes());
            }
        }
        out
    }

    /// The id of the pool `name` owned by `owner` with these rules:
    /// `sha256("chiral/pool-id/v2" || owner || len(name) || name || canonical bytes)`.
    pub fn pool_id(&self, owner: &PublicKey, name: &str) -> PoolId {
        let mut h = Sha256::new();
        h.update(POOL_ID_DOMAIN);
        h.update(owner.as_bytes());
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(self.canonical_bytes());
        PoolId::from_bytes(h.finalize().into())
    }

    /// How many ancestors the rules read below a link (retarget, median
    /// time, uncles): the links of an assumed base
    /// ([`super::ShareChain::assume`]).
    pub fn rules_depth(&self) -> u32 {
        self.retarget_links
            .max(self.median_time_links)
            .max(self.uncle_depth)
    }

    /// The coinbase rules, if blocks pay the window in the coinbase.
    pub fn coinbase_rules(&self) -> Option<&CoinbaseRules> {
        match &self.payouts {
            PayoutMode::Coinbase(rules) => Some(rules),
            PayoutMode::Ledger => None,
        }
    }

    /// Links a node keeps behind its best tip: two windows, plus what the
    /// retarget and uncle rules read below the deeper one.
    pub fn retained_links(&self) -> u32 {
        2 * self.max_window_links + self.retarget_links + self.median_time_links + self.uncle_depth
    }
}

impl Default for ChainParams {
    fn default() -> Self {
        Self::new()
    }
}
