//! Jobs as `mining.notify` carries them, and the header rebuild of a submit.
//!
//! Byte orders, the classic trap: `prevhash` travels as the 32 internal
//! bytes with each 4-byte word byte-swapped; `version`, `nbits`, `ntime`
//! and the nonce travel as big-endian hex and sit little-endian in the
//! header; merkle branch hashes travel in internal order.

use chiral_pool_core::ids::PoolId;
use chiral_pool_core::pow::{
    merkle_root_from_branch, sha256d, BlockHeader, CompactTarget, Hash256,
};
use chiral_pool_core::share::commitment::CommitmentError;
use chiral_pool_core::share::WorkTemplate;
use serde_json::{json, Value};

use crate::wire::{hex_param, u32_param};

/// Most merkle branch steps accepted in a notify.
pub const MAX_BRANCH: usize = chiral_pool_core::pow::MAX_MERKLE_BRANCH;
/// Longest coinbase part accepted in a notify, bytes.
pub const MAX_COINBASE_PART: usize = 2048;

/// The content of one `mining.notify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobParams {
    /// Job id, chosen by the server.
    pub id: String,
    /// Header fields and coinbase parts.
    pub template: WorkTemplate,
    /// Whether older jobs are void.
    pub clean: bool,
}

/// Why a notify cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mining.notify parameter: {0}")]
pub struct NotifyError(&'static str);

/// Stratum's prevhash: every 4-byte word of the internal bytes reversed.
pub fn prevhash_to_stratum(internal: &Hash256) -> String {
    hex::encode(swap_words(internal))
}

/// Inverse of [`prevhash_to_stratum`].
pub fn prevhash_from_stratum(s: &str) -> Option<Hash256> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(swap_words(&out))
}

fn swap_words(h: &Hash256) -> Hash256 {
    let mut out = *h;
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    out
}

impl JobParams {
    /// The `mining.notify` params array.
    pub fn to_params(&self) -> Value {
        let t = &self.template;
        let branch: Vec<String> = t.merkle_branch.iter().map(hex::encode).collect();
        json!([
            self.id,
            prevhash_to_stratum(&t.prev_hash),
            hex::encode(&t.coinb1),
            hex::encode(&t.coinb2),
            branch,
            format!("{:08x}", t.version as u32),
            format!("{:08x}", t.bits.to_consensus()),
            format!("{:08x}", t.time),
            self.clean,
        ])
    }

    /// Reads a `mining.notify` params array.
    pub fn from_params(params: &Value) -> Result<Self, NotifyError> {
        let p = params.as_array().ok_or(NotifyError("params"))?;
        let get = |i: usize| p.get(i).ok_or(NotifyError("missing field"));
        let id = get(0)?.as_str().ok_or(NotifyError("job id"))?;
        if id.is_empty() || id.len() > 64 {
            return Err(NotifyError("job id"));
        }
        let prev = get(1)?
            .as_str()
            .and_then(prevhash_from_stratum)
            .ok_or(NotifyError("prevhash"))?;
        let part = |v: &Value| {
            v.as_str()
                .filter(|s| s.len() <= 2 * MAX_COINBASE_PART)
                .and_then(|s| hex::decode(s).ok())
                .ok_or(NotifyError("coinbase part"))
        };
        let coinb1 = part(get(2)?)?;
        let coinb2 = part(get(3)?)?;
        let branch_values = get(4)?.as_array().ok_or(NotifyError("branch"))?;
        if branch_values.len() > MAX_BRANCH {
            return Err(NotifyError("branch too long"));
        }
        let merkle_branch = branch_values
            .iter()
            .map(|b| {
                hex_param(b, 32)
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or(NotifyError("branch hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let version = u32_param(get(5)?).ok_or(NotifyError("version"))?;
        let bits = u32_param(get(6)?).ok_or(NotifyError("nbits"))?;
        let time = u32_param(get(7)?).ok_or(NotifyError("ntime"))?;
        let clean = get(8)?.as_bool().ok_or(NotifyError("clean_jobs"))?;
        Ok(JobParams {
            id: id.to_owned(),
            template: WorkTemplate {
                version: version as i32,
                prev_hash: prev,
                bits: CompactTarget::from_consensus(bits),
                time,
                coinb1,
                coinb2,
                merkle_branch,
            },
            clean,
        })
    }

    /// The coinbase for the extranonces: `coinb1 || en1 || en2 || coinb2`.
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        let t = &self.template;
        let mut out = Vec::with_capacity(
            t.coinb1.len() + extranonce1.len() + extranonce2.len() + t.coinb2.len(),
        );
        out.extend_from_slice(&t.coinb1);
        out.extend_from_slice(extranonce1);
        out.extend_from_slice(extranonce2);
        out.extend_from_slice(&t.coinb2);
        out
    }

    /// Rebuilds the header a miner hashed: coinbase from the extranonces,
    /// merkle root through the branch, and the submitted ntime, nonce and
    /// (already masked) version.
    pub fn header(&self, coinbase: &[u8], ntime: u32, nonce: u32, version: u32) -> BlockHeader {
        let root = merkle_root_from_branch(sha256d(coinbase), &self.template.merkle_branch);
        BlockHeader::new(
            version as i32,
            self.template.prev_hash,
            root,
            ntime,
            self.template.bits,
            nonce,
        )
    }
}

/// BIP 310 version rolling: `(job & !mask) | (bits & mask)`. Returns `None`
/// if `bits` sets anything outside `mask`.
pub fn roll_version(job_version: u32, bits: u32, mask: u32) -> Option<u32> {
    if bits & !mask != 0 {
        return None;
    }
    Some((job_version & !mask) | (bits & mask))
}

/// Why a miner refuses a job: its work would not be credited to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobRefused {
    /// The job's coinbase carries no readable commitment.
    #[error("the job's coinbase carries no commitment: {0}")]
    NoCommitment(#[from] CommitmentError),
    /// The commitment names another pool.
    #[error("the job is for pool {found}, not {expected}")]
    WrongPool {
        /// The configured pool.
        expected: PoolId,
        /// The job's.
        found: PoolId,
    },
    /// The commitment credits another payout id: the server would take
    /// this miner's shares and blocks (a link's finder bonus and window
    /// weight follow the commitment).
    #[error("the job credits `{found}`, not this miner's `{expected}`")]
    WrongPayout {
        /// The username's payout id.
        expected: String,
        /// The job's.
        found: String,
    },
}
