//! Exact payouts: every node computes the same atoms from the same shares.
//!
//! Amounts are `u64` atoms, weights `u128`, products 256-bit; nothing here
//! uses floating point. Schemes:
//!
//! - [`PplnsWindow`]: pay per last N shares, the window measured in work;
//! - [`PpsPricing`]: PPS and FPPS share values, and the operator's reserve;
//! - [`PropRound`]: proportional per round;
//! - [`settle_solo`]: the finder takes all.
//!
//! Every block settlement is a [`Settlement`] that conserves the reward to
//! the atom; a [`PayoutLedger`] keeps balances across blocks.

mod accounting;
mod address;
mod coinbase;
mod cuts;
mod ledger;
mod pplns;
mod pps;
mod prop;
mod settlement;
mod split;

pub use accounting::{Accounting, AccountingConfig, BlockPayout};
pub use address::{
    address_of, is_standard_payout, p2wpkh_address, payout_script, AddressError, AddressNetwork,
    MAX_PAYOUT_SCRIPT,
};
pub use coinbase::{
    check_outputs, paying_outputs, CoinbasePlan, CoinbaseSplit, OutputRules, PayoutMismatch,
    PayoutOutput, PayoutOutputs, DEFAULT_DUST, DEFAULT_MAX_OUTPUTS, MAX_OUTPUT_CAP,
    TAPROOT_OUTPUT_WEIGHT, WITNESS_COMMITMENT_PREFIX,
};
pub use cuts::{CutReward, RewardCuts};
pub use ledger::{Account, LedgerError, LedgerTotals, PayoutLedger};
pub use pplns::{rescan_weights, PplnsConfig, PplnsWindow, WindowBps, NORMALIZED_ONE};
pub use pps::PpsPricing;
pub use prop::{settle_solo, PropRound};
pub use settlement::Settlement;
pub use split::split;
