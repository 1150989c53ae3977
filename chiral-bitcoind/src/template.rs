//! A `getblocktemplate` reply, read strictly: every field this crate uses
//! is checked (hex, lengths, ranges) once, when the reply arrives, so the
//! assembly that follows cannot fail on a malformed template.

use chiral_pool_core::pow::{CompactTarget, Hash256, Target};
use serde::Deserialize;

/// Most transactions a template may list (a full block of the smallest
/// transactions holds about 25,000).
pub const MAX_TEMPLATE_TXS: usize = 100_000;

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The reply is not the JSON of a template.
    #[error("template json: {0}")]
    Json(String),
    /// A field is out of range or not valid hex; the message names it.
    #[error("template field `{field}`: {problem}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

fn bad(field: &'static str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Field {
        field,
        problem: problem.into(),
    }
}

/// One transaction of a template, in block order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateTx {
    /// Serialized transaction (with witness, if it has one).
    pub data: Vec<u8>,
    /// Its id, internal byte order (the hash of its non-witness form).
    pub txid: Hash256,
    /// Its witness id, internal byte order.
    pub wtxid: Hash256,
    /// Its fee, atoms.
    pub fee: u64,
    /// Its weight, weight units.
    pub weight: u64,
    /// Its signature operations, cost units.
    pub sigops: u64,
}

/// A block template from Bitcoin Core's `getblocktemplate` (BIP 22/23,
/// with the segwit rule of BIP 145). Only [`BlockTemplate::from_json`]
/// makes one, so its totals always match its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTemplate {
    /// Block version, version bits included.
    pub version: i32,
    /// The block this one builds on, internal byte order.
    pub prev_hash: Hash256,
    /// Network target, compact.
    pub bits: CompactTarget,
    /// Height of the block to mine (BIP 34).
    pub height: u32,
    /// Current time, as the node sees it.
    pub curtime: u32,
    /// Earliest time the block may have.
    pub mintime: u32,
    /// Subsidy plus the fees of every listed transaction, atoms.
    pub coinbase_value: u64,
    /// The transactions, in the order the block must have them (parents
    /// before children).
    pub transactions: Vec<TemplateTx>,
    /// The witness commitment output script Bitcoin Core computed for the
    /// whole list, if segwit is active.
    pub default_witness_commitment: Option<Vec<u8>>,
    /// Most weight a block may have. Default: 4,000,000.
    pub weight_limit: u64,
    /// Most signature operation cost a block may have. Default: 80,000.
    pub sigop_limit: u64,
    /// Bitcoin Core's long-poll id, if it gave one.
    pub longpoll_id: Option<String>,
    /// Weight, signature-operation cost and fees of the first `k`
    /// transactions, for every `k` (so finding room is a search, not a
    /// sum per job).
    prefix: Vec<Totals>,
}

/// What the first transactions of a template add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Weight units.
    pub weight: u64,
    /// Signature-operation cost.
    pub sigops: u64,
    /// Fees, atoms.
    pub fees: u64,
}

#[derive(Deserialize)]
struct Raw {
    version: i64,
    previousblockhash: String,
    bits: String,
    height: u64,
    curtime: u64,
    mintime: Option<u64>,
    coinbasevalue: u64,
    transactions: Vec<RawTx>,
    default_witness_commitment: Option<String>,
    weightlimit: Option<u64>,
    sigoplimit: Option<u64>,
    longpollid: Option<String>,
    target: Option<String>,
}

#[derive(Deserialize)]
struct RawTx {
    data: String,
    txid: String,
    hash: String,
    fee: u64,
    weight: u64,
    sigops: u64,
}

/// Decodes hex shown in display order (a hash) to internal order.
fn display_hash(field: &'static str, s: &str) -> Result<Hash256, TemplateError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| bad(field, e.to_string()))?;
    out.reverse();
    Ok(out)
}

impl BlockTemplate {
    /// Reads the `result` of a `getblocktemplate` reply.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, TemplateError> {
        let raw: Raw = serde_json::from_value(value.clone())
            .map_err(|e| TemplateError::Json(e.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, TemplateError> {
        let version = i32::try_from(raw.version)
            .or_else(|_| u32::try_from(raw.version).map(|v| v as i32))
            .map_err(|_| bad("version", "out of range"))?;
        let prev_hash = display_hash("previousblockhash", &raw.previousblockhash)?;
        let mut bits = [0u8; 4];
        hex::decode_to_slice(&raw.bits, &mut bits).map_err(|e| bad("bits", e.to_string()))?;
        let bits = CompactTarget::from_consensus(u32::from_be_bytes(bits));
        let target = Target::from_compact(bits).map_err(|e| bad("bits", e.to_string()))?;
        if let Some(shown) = &raw.target {
            let claimed = display_hash("target", shown)?;
            if claimed != target.to_le_bytes() {
                return Err(bad("target", "differs from bits"));
            }
        }
        let height = u32::try_from(raw.height).map_err(|_| bad("height", "out of range"))?;
        if height == 0 {
            return Err(bad("height", "a template cannot mine the genesis block"));
        }
        let curtime = u32::try_from(raw.curtime).map_err(|_| bad("curtime", "out of range"))?;
        let mintime =
            u32::try_from(raw.mintime.unwrap_or(0)).map_err(|_| bad("mintime", "out of range"))?;
        if raw.transactions.len() > MAX_TEMPLATE_TXS {
            return Err(bad("transactions", "too many"));
        }
        let mut transactions = Vec::with_capacity(raw.transactions.len());
        let mut prefix = Vec::with_capacity(raw.transactions.len() + 1);
        let mut sum = Totals::default();
        prefix.push(sum);
        for tx in raw.transactions {
            let data =
                hex::decode(&tx.data).map_err(|e| bad("transactions.data", e.to_string()))?;
            // The smallest transaction is 60 bytes.
            if data.len() < 60 || tx.weight < 4 * 60 {
                return Err(bad(
                    "transactions",
                    "shorter or lighter than any transaction",
                ));
            }
            let txid = display_hash("transactions.txid", &tx.txid)?;
            let wtxid = display_hash("transactions.hash", &tx.hash)?;
            let overflow = || bad("transactions", "totals overflow");
            sum = Totals {
                weight: sum.weight.checked_add(tx.weight).ok_or_else(overflow)?,
                sigops: sum.sigops.checked_add(tx.sigops).ok_or_else(overflow)?,
                fees: sum.fees.checked_add(tx.fee).ok_or_else(overflow)?,
            };
            prefix.push(sum);
            transactions.push(TemplateTx {
                data,
                txid,
                wtxid,
                fee: tx.fee,
                weight: tx.weight,
                sigops: tx.sigops,
            });
        }
        let fees = sum.fees;
        if fees > raw.coinbasevalue {
            return Err(bad("coinbasevalue", "below the fees of its transactions"));
        }
        let default_witness_commitment = match raw.default_witness_commitment {
            Some(h) => Some(
                hex::decode(&h).map_err(|e| bad("default_witness_commitment", e.to_string()))?,
            ),
            None => None,
        };
        Ok(BlockTemplate {
            version,
            prev_hash,
            bits,
            height,
            curtime,
            mintime,
            coinbase_value: raw.coinbasevalue,
            transactions,
            default_witness_commitment,
            weight_limit: raw.weightlimit.unwrap_or(4_000_000),
            sigop_limit: raw.sigoplimit.unwrap_or(80_000),
            longpoll_id: raw.longpollid,
            prefix,
        })
    }

    /// The fees of every listed transaction, atoms.
    pub fn fees(&self) -> u64 {
        self.totals(self.transactions.len()).fees
    }

    /// What the first `kept` transactions add up to (all of them if
    /// `kept` is past the end).
    pub fn totals(&self, kept: usize) -> Totals {
        let last = self.prefix.len().saturating_sub(1);
        self.prefix.get(kept.min(last)).copied().unwrap_or_default()
    }
}
