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
    /// The block's weight with the longest coinbase this job allows.
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

/// Builds the job for `commitment` on `template`: the coinbase pays
/// `plan.outputs(total, finder)`, then the witness commitment, then the
/// commitment; `extranonce_len` bytes are left in its input script. When
/// the coinbase needs room, the template's last transactions are left
/// out (and their fees with them) until the block fits its weight and
/// signature-operation limits.
pub fn assemble(
    template: &BlockTemplate,
    commitment: &Commitment,
    plan: &CoinbasePlan,
    finder: &[u8],
    extranonce_len: usize,
) -> Result<Assembly, AssembleError> {
    let height = bip34_push(template.height);
    let script_len = height.len() + extranonce_len;
    if !(2..=100).contains(&script_len) {
        return Err(AssembleError::ScriptSigLength(script_len));
    }
    let commitment_script = commitment.to_script();
    let segwit = template.default_witness_commitment.is_some();
    let txs = &template.transactions;
    let mut weight_of = Vec::with_capacity(txs.len() + 1);
    let mut sigops_of = Vec::with_capacity(txs.len() + 1);
    let mut fees_of = Vec::with_capacity(txs.len() + 1);
    let (mut w, mut s, mut f) = (0u64, 0u64, 0u64);
    for tx in txs {
        weight_of.push(w);
        sigops_of.push(s);
        fees_of.push(f);
        w = w.saturating_add(tx.weight);
        s = s.saturating_add(tx.sigops);
        f = f.saturating_add(tx.fee);
    }
    weight_of.push(w);
    sigops_of.push(s);
    fees_of.push(f);
    let all_fees = f;

    for kept in (0..=txs.len()).rev() {
        let total = template.coinbase_value - (all_fees - fees_of[kept]);
        let outputs = plan.outputs(total, finder).outputs;
        let witness = segwit.then(|| match (&template.default_witness_commitment, kept) {
            (Some(given), k) if k == txs.len() => given.clone(),
            _ => witness_commitment(&txs[..kept].iter().map(|t| t.wtxid).collect::<Vec<_>>()),
        });
        let (coinb1, coinb2) = coinbase_parts(
            &height,
            extranonce_len,
            &outputs,
            witness.as_deref(),
            &commitment_script,
        );
        let coinbase_len = (coinb1.len() + extranonce_len + coinb2.len()) as u64;
        let coinbase_weight = 4 * coinbase_len + if segwit { COINBASE_WITNESS_WEIGHT } else { 0 };
        let weight = HEADER_WEIGHT
            + 4 * compact_size_len(kept as u64 + 1)
            + coinbase_weight
            + weight_of[kept];
        let sigops = sigops_of[kept] + SIGOP_COST * checksigs(&outputs);
        if weight > template.weight_limit || sigops > template.sigop_limit {
            continue;
        }
        let txids: Vec<Hash256> = txs[..kept].iter().map(|t| t.txid).collect();
        let work = WorkTemplate {
            version: template.version,
            prev_hash: template.prev_hash,
            bits: template.bits,
            time: template.curtime.max(template.mintime),
            coinb1,
            coinb2,
            merkle_branch: coinbase_branch(&txids),
        };
        return Ok(Assembly {
            work,
            kept,
            witness_commitment: witness,
            total,
            weight,
        });
    }
    Err(AssembleError::CoinbaseTooLarge)
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
    coinb1.push((height.len() + extranonce_len) as u8); // checked <= 100
    coinb1.extend_from_slice(height);

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
    outputs
        .iter()
        .filter(|o| {
            o.script.len() == 25
                && o.script.starts_with(&[0x76, 0xa9, 0x14])
                && o.script.ends_with(&[0x88, 0xac])
        })
        .count() as u64
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
