//! From a template to a job and from a solved job to a block: the real
//! coinbase (BIP 34 height, the payouts, the witness commitment, the
//! pool's commitment last), room for it within the block's weight and
//! signature-operation limits, the merkle branch, and the block bytes
//! `submitblock` takes.

use chiral_pool_core::payout::{CoinbasePlan, PayoutOutput, WITNESS_COMMITMENT_PREFIX};
use chiral_pool_core::pow::{coinbase_branch, merkle_root, sha256d, BlockHeader, Hash256};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::WorkTemplate;

use crate::template::{BlockTemplate, TemplateTx};

/// Weight of a block header (80 bytes, times 4).
const HEADER_WEIGHT: u64 = 320;
/// Weight the coinbase's witness adds: marker and flag, one stack item of
/// 32 zero bytes (the witness reserved value of BIP 141).
const COINBASE_WITNESS_WEIGHT: u64 = 2 + 1 + 1 + 32;
/// Signature-operation cost of one legacy `OP_CHECKSIG` (scaled, BIP 141).
const SIGOP_COST: u64 = 4;

/// Why no job can be built from a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// The coinbase's input script would be outside 2..=100 bytes.
    #[error(
        "coinbase input script of {0} bytes (BIP 34 height and extranonce) is outside 2..=100"
    )]
    ScriptSigLength(usize),
    /// Even without any of the template's transactions, the coinbase does
    /// not fit the block's weight or signature-operation limit.
    #[error("the coinbase alone exceeds the block's limits")]
    CoinbaseTooLarge,
}

/// A job built from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembly {
    /// What the Stratum server sends.
    pub work: WorkTemplate,
    /// How many of the template's transactions the block takes: a prefix,
    /// so no child is kept without its parent (a template lists parents
    /// first, and Bitcoin Core lists packages by falling feerate, so the
    /// suffix dropped to make room is the cheapest).
    pub kept: usize,
    /// The witness commitment output's script, if the block commits to
    /// witnesses (segwit active).
    pub witness_commitment: Option<Vec<u8>>,
    /// What the payout outputs sum to: the subsidy and the kept
    /// transactions' fees.
    pub total: u64,
    /// The block's weight with this job's coinbase.
    pub weight: u64,
}

/// The BIP 34 height as Bitcoin Core writes it (`CScript() << height`):
/// `OP_1`..`OP_16`, or a minimal push of its little-endian bytes with a
/// clear sign bit.
pub fn bip34_push(height: u32) -> Vec<u8> {
    if (1..=16).contains(&height) {
        return vec![0x50 + height as u8];
    }
    let mut bytes = Vec::with_capacity(5);
    let mut n = height;
    while n > 0 {
        bytes.push((n & 0xff) as u8);
        n >>= 8;
    }
    if bytes.last().is_some_and(|b| b & 0x80 != 0) {
        bytes.push(0);
    }
    let mut push = vec![bytes.len() as u8];
    push.extend(bytes);
    push
}

/// The witness commitment output script of a block whose other
/// transactions have witness ids `wtxids` (BIP 141: the coinbase's is
/// zero, the witness reserved value is 32 zero bytes).
pub fn witness_commitment(wtxids: &[Hash256]) -> Vec<u8> {
    let mut leaves = Vec::with_capacity(wtxids.len() + 1);
    leaves.push([0u8; 32]);
    leaves.extend_from_slice(wtxids);
    let root = merkle_root(&leaves);
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(&root);
    let mut script = WITNESS_COMMITMENT_PREFIX.to_vec();
    script.extend(sha256d(&preimage));
    script
}

/// The transactions a job takes and what follows from them alone: the
/// merkle branch and the witness commitment. The same for every job on
/// one template with the same room, so a work source computes it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSet {
    /// How many of the template's transactions (a prefix).
    pub kept: usize,
    /// The coinbase's merkle branch over them.
    pub branch: Vec<Hash256>,
    /// The witness commitment output's script, if segwit is active.
    pub witness_commitment: Option<Vec<u8>>,
}

impl TxSet {
    /// The first `kept` transactions of `template` (all of them if `kept`
    /// is past the end).
    pub fn new(template: &BlockTemplate, kept: usize) -> Self {
        let txs = &template.transactions[..kept.min(template.transactions.len())];
        let txids: Vec<Hash256> = txs.iter().map(|t| t.txid).collect();
        let witness_commitment = template.default_witness_commitment.as_ref().map(|given| {
            if txs.len() == template.transactions.len() {
                given.clone()
            } else {
                witness_commitment(&txs.iter().map(|t| t.wtxid).collect::<Vec<_>>())
            }
        });
        TxSet {
            kept: txs.len(),
            branch: coinbase_branch(&txids),
            witness_commitment,
        }
    }
}

/// The most the coinbase of a job on `template` paying `plan` can weigh
/// and cost in signature operations, for any total and any finder whose
/// script is `finder_len` bytes or shorter.
fn coinbase_bounds(
    template: &BlockTemplate,
    plan: &CoinbasePlan,
    finder_len: usize,
    script_sig_len: usize,
    commitment_len: usize,
) -> (u64, u64) {
    let paid = plan.weights.len().min(plan.rules.max_outputs as usize) as u64 + 2;
    let longest = plan
        .weights
        .iter()
        .map(|(s, _)| s.len())
        .chain([plan.owner.len(), finder_len])
        .max()
        .unwrap_or(0) as u64;
    let output = |script: u64| 8 + compact_size_len(script) + script;
    let segwit = template.default_witness_commitment.is_some();
    let bytes = 4 + 1 + 36 + 1 + script_sig_len as u64 + 4
        + 5 // output count
        + paid * output(longest)
        + if segwit { output(38) } else { 0 }
        + output(commitment_len as u64)
        + 4;
    let weight = 4 * bytes + if segwit { COINBASE_WITNESS_WEIGHT } else { 0 };
    let p2pkh = plan
        .weights
        .iter()
        .map(|(s, _)| s.as_slice())
        .chain([plan.owner.as_slice()])
        .filter(|s| is_p2pkh(s))
        .count() as u64
        + 1; // the finder's
    (weight, SIGOP_COST * p2pkh.min(paid))
}

/// How many of the template's transactions fit beside the largest
/// coinbase a job paying `plan` can have: the longest prefix within the
/// block's weight and signature-operation limits.
pub fn room(
    template: &BlockTemplate,
    plan: &CoinbasePlan,
    finder_len: usize,
    extranonce_len: usize,
    commitment_len: usize,
) -> Result<usize, AssembleError> {
    let script_sig_len = bip34_push(template.height).len() + 1 + extranonce_len;
    let (cb_weight, cb_sigops) =
        coinbase_bounds(template, plan, finder_len, script_sig_len, commitment_len);
    let fits = |kept: usize| {
        let totals = template.totals(kept);
        let weight =
            HEADER_WEIGHT + 4 * compact_size_len(kept as u64 + 1) + cb_weight + totals.weight;
        weight <= template.weight_limit && totals.sigops + cb_sigops <= template.sigop_limit
    };
    // Totals only grow with `kept`: the fitting prefixes are 0..=k.
    let n = template.transactions.len();
    if !fits(0) {
        return Err(AssembleError::CoinbaseTooLarge);
    }
    let (mut lo, mut hi) = (0usize, n); // fits(lo), and the answer is in lo..=hi
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// Builds the job for `commitment` on `template` with the transactions of
/// `txs`: the coinbase pays `plan.outputs(total, finder)` (`total`: the
/// subsidy and the kept transactions' fees), then the witness
/// commitment, then the commitment; `extranonce_len` bytes (at most 75)
/// are left in its input script, inside one push so no extranonce byte
/// reads as an opcode.
pub fn build(
    template: &BlockTemplate,
    txs: &TxSet,
    commitment: &Commitment,
    plan: &CoinbasePlan,
    finder: &[u8],
    extranonce_len: usize,
) -> Result<Assembly, AssembleError> {
    let height = bip34_push(template.height);
    let script_len = height.len() + 1 + extranonce_len;
    if extranonce_len > 75 || !(2..=100).contains(&script_len) {
        return Err(AssembleError::ScriptSigLength(script_len));
    }
    let dropped = template
        .fees()
        .checked_sub(template.totals(txs.kept).fees)
        .ok_or(AssembleError::CoinbaseTooLarge)?;
    let total = template
        .coinbase_value
        .checked_sub(dropped)
        .ok_or(AssembleError::CoinbaseTooLarge)?;
    let outputs = plan.outputs(total, finder).outputs;
    let (coinb1, coinb2) = coinbase_parts(
        &height,
        extranonce_len,
        &outputs,
        txs.witness_commitment.as_deref(),
        &commitment.to_script(),
    );
    let coinbase_len = (coinb1.len() + extranonce_len + coinb2.len()) as u64;
    let segwit = txs.witness_commitment.is_some();
    let coinbase_weight = 4 * coinbase_len + if segwit { COINBASE_WITNESS_WEIGHT } else { 0 };
    let totals = template.totals(txs.kept);
    let weight =
        HEADER_WEIGHT + 4 * compact_size_len(txs.kept as u64 + 1) + coinbase_weight + totals.weight;
    let sigops = totals.sigops + SIGOP_COST * checksigs(&outputs);
    if weight > template.weight_limit || sigops > template.sigop_limit {
        return Err(AssembleError::CoinbaseTooLarge);
    }
    Ok(Assembly {
        work: WorkTemplate {
            version: template.version,
            prev_hash: template.prev_hash,
            bits: template.bits,
            time: template.curtime.max(template.mintime),
            coinb1,
            coinb2,
            merkle_branch: txs.branch.clone(),
        },
        kept: txs.kept,
        witness_commitment: txs.witness_commitment.clone(),
        total,
        weight,
    })
}

/// [`room`], [`TxSet::new`] and [`build`] in one: the job for
/// `commitment` on `template`, leaving out the template's last
/// transactions (and their fees) when the coinbase needs room.
pub fn assemble(
    template: &BlockTemplate,
    commitment: &Commitment,
    plan: &CoinbasePlan,
    finder: &[u8],
    extranonce_len: usize,
) -> Result<Assembly, AssembleError> {
    let commitment_len = commitment.to_script().len();
    let kept = room(template, plan, finder.len(), extranonce_len, commitment_len)?;
    build(
        template,
        &TxSet::new(template, kept),
        commitment,
        plan,
        finder,
        extranonce_len,
    )
}

/// The coinbase around its extranonce, non-witness serialization.
fn coinbase_parts(
    height: &[u8],
    extranonce_len: usize,
    outputs: &[PayoutOutput],
    witness: Option<&[u8]>,
    commitment: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut coinb1 = Vec::with_capacity(64);
    coinb1.extend_from_slice(&2u32.to_le_bytes()); // tx version
    coinb1.push(1); // one input
    coinb1.extend_from_slice(&[0u8; 32]); // null prevout
    coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
    coinb1.push((height.len() + 1 + extranonce_len) as u8); // checked <= 100
    coinb1.extend_from_slice(height);
    coinb1.push(extranonce_len as u8); // one push of the extranonce (<= 75)

    let mut coinb2 = Vec::with_capacity(64 + 43 * outputs.len() + commitment.len());
    coinb2.extend_from_slice(&u32::MAX.to_le_bytes()); // sequence
    let count = outputs.len() + usize::from(witness.is_some()) + 1;
    push_compact_size(&mut coinb2, count as u64);
    for o in outputs {
        push_output(&mut coinb2, o.value, &o.script);
    }
    if let Some(witness) = witness {
        push_output(&mut coinb2, 0, witness);
    }
    push_output(&mut coinb2, 0, commitment);
    coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time
    (coinb1, coinb2)
}

fn push_output(out: &mut Vec<u8>, value: u64, script: &[u8]) {
    out.extend_from_slice(&value.to_le_bytes());
    push_compact_size(out, script.len() as u64);
    out.extend_from_slice(script);
}

fn push_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend((n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend((n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend(n.to_le_bytes());
        }
    }
}

fn compact_size_len(n: u64) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Legacy `OP_CHECKSIG`s in payout scripts: one per P2PKH output (the
/// other standard payout scripts have none).
fn checksigs(outputs: &[PayoutOutput]) -> u64 {
    outputs.iter().filter(|o| is_p2pkh(&o.script)).count() as u64
}

fn is_p2pkh(script: &[u8]) -> bool {
    script.len() == 25 && script.starts_with(&[0x76, 0xa9, 0x14]) && script.ends_with(&[0x88, 0xac])
}

/// The block `submitblock` takes: the header, the coinbase (with its
/// witness reserved value when the block commits to witnesses) and the
/// template's first `kept` transactions.
pub fn block_bytes(
    header: &BlockHeader,
    coinbase: &[u8],
    witness: bool,
    txs: &[TemplateTx],
) -> Vec<u8> {
    let size: usize = txs.iter().map(|t| t.data.len()).sum();
    let mut out = Vec::with_capacity(80 + 9 + coinbase.len() + 38 + size);
    out.extend_from_slice(&header.to_bytes());
    push_compact_size(&mut out, txs.len() as u64 + 1);
    match (witness, coinbase.len()) {
        (true, n) if n >= 8 => {
            out.extend_from_slice(&coinbase[..4]);
            out.extend_from_slice(&[0x00, 0x01]); // marker, flag
            out.extend_from_slice(&coinbase[4..n - 4]);
            out.extend_from_slice(&[0x01, 0x20]); // one item of 32 bytes
            out.extend_from_slice(&[0u8; 32]);
            out.extend_from_slice(&coinbase[n - 4..]);
        }
        _ => out.extend_from_slice(coinbase),
    }
    for tx in txs {
        out.extend_from_slice(&tx.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_are_pushed_as_bitcoin_core_does() {
        assert_eq!(bip34_push(1), vec![0x51]);
        assert_eq!(bip34_push(16), vec![0x60]);
        assert_eq!(bip34_push(17), vec![1, 17]);
        assert_eq!(bip34_push(128), vec![2, 0x80, 0]);
        assert_eq!(bip34_push(840_000), vec![3, 0x40, 0xd1, 0x0c]);
        assert_eq!(bip34_push(8_388_608), vec![4, 0, 0, 0x80, 0]);
    }
}
