//! Work templates: the parts a miner needs to build shares, and a simple
//! CPU search over nonces (for examples, tests and benches).

use std::ops::Range;

use super::commitment::Commitment;
use super::Share;
use crate::ids::{PayoutId, PoolId};
use crate::payout::PayoutOutput;
use crate::pow::{merkle_root_from_branch, sha256d, BlockHeader, CompactTarget, Hash256, Target};

/// A job: everything but the extranonce and the nonce. The coinbase is
/// `coinb1 || extranonce || coinb2`, as in Stratum V1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkTemplate {
    /// Block version.
    pub version: i32,
    /// Previous block hash, internal byte order.
    pub prev_hash: Hash256,
    /// Network target, compact.
    pub bits: CompactTarget,
    /// Header time.
    pub time: u32,
    /// Coinbase bytes before the extranonce.
    pub coinb1: Vec<u8>,
    /// Coinbase bytes after the extranonce.
    pub coinb2: Vec<u8>,
    /// Merkle branch of the coinbase.
    pub merkle_branch: Vec<Hash256>,
}

impl WorkTemplate {
    /// A template for a synthetic chain: a coinbase-only block whose
    /// coinbase is a well-formed transaction with the block height and the
    /// extranonce in its script, one output, and as the last output the
    /// `OP_RETURN` commitment. `extranonce_len` bytes are left for the
    /// extranonce.
    pub fn synthetic(
        commitment: &Commitment,
        prev_hash: Hash256,
        bits: CompactTarget,
        time: u32,
        height: u32,
        extranonce_len: usize,
    ) -> Self {
        let anyone = [PayoutOutput {
            script: vec![0x51],
            value: 0,
        }];
        Self::synthetic_paying(
            commitment,
            &anyone,
            prev_hash,
            bits,
            time,
            height,
            extranonce_len,
        )
    }

    /// [`WorkTemplate::synthetic`] whose coinbase pays `outputs`, in
    /// order, before the commitment.
    pub fn synthetic_paying(
        commitment: &Commitment,
        outputs: &[PayoutOutput],
        prev_hash: Hash256,
        bits: CompactTarget,
        time: u32,
        height: u32,
        extranonce_len: usize,
    ) -> Self {
        let mut coinb1 = Vec::with_capacity(64);
        coinb1.extend_from_slice(&1u32.to_le_bytes()); // tx version
        coinb1.push(1); // one input
        coinb1.extend_from_slice(&[0u8; 32]); // null prevout hash
        coinb1.extend_from_slice(&u32::MAX.to_le_bytes()); // prevout index
        let height_push = [4u8]; // push 4 bytes: the height
        let script_len = height_push.len() + 4 + extranonce_len;
        coinb1.push(script_len as u8);
        coinb1.extend_from_slice(&height_push);
        coinb1.extend_from_slice(&height.to_le_bytes());

        let commitment = commitment.to_script();
        let mut coinb2 = Vec::with_capacity(64 + commitment.len());
        coinb2.extend_from_slice(&u32::MAX.to_le_bytes()); // sequence
        push_compact_size(&mut coinb2, outputs.len() + 1);
        for output in outputs {
            coinb2.extend_from_slice(&output.value.to_le_bytes());
            push_compact_size(&mut coinb2, output.script.len());
            coinb2.extend_from_slice(&output.script);
        }
        coinb2.extend_from_slice(&0u64.to_le_bytes());
        push_compact_size(&mut coinb2, commitment.len());
        coinb2.extend_from_slice(&commitment);
        coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time
        WorkTemplate {
            version: 0x2000_0000,
            prev_hash,
            bits,
            time,
            coinb1,
            coinb2,
            merkle_branch: Vec::new(),
        }
    }

    /// The coinbase for one extranonce.
    pub fn coinbase(&self, extranonce: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.coinb1.len() + extranonce.len() + self.coinb2.len());
        out.extend_from_slice(&self.coinb1);
        out.extend_from_slice(extranonce);
        out.extend_from_slice(&self.coinb2);
        out
    }

    /// The header for one extranonce and nonce.
    pub fn header(&self, extranonce: &[u8], nonce: u32) -> BlockHeader {
        let root =
            merkle_root_from_branch(sha256d(&self.coinbase(extranonce)), &self.merkle_branch);
        BlockHeader::new(
            self.version,
            self.prev_hash,
            root,
            self.time,
            self.bits,
            nonce,
        )
    }

    /// Searches `nonces` for a header meeting `target` and returns it as a
    /// share claiming `pool` and `payout`.
    pub fn mine(
        &self,
        pool: PoolId,
        payout: PayoutId,
        target: Target,
        extranonce: &[u8],
        nonces: Range<u32>,
    ) -> Option<Share> {
        let base = self.header(extranonce, 0);
        let nonce = base.find_nonce(&target, nonces)?;
        Some(Share {
            pool_id: pool,
            payout_id: payout,
            target,
            header: base.with_nonce(nonce),
            coinbase: self.coinbase(extranonce),
            merkle_branch: self.merkle_branch.clone(),
        })
    }
}

/// Appends a Bitcoin compact size.
pub(crate) fn push_compact_size(out: &mut Vec<u8>, n: usize) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend((n as u16).to_le_bytes());
        }
        _ => {
            out.push(0xfe);
            out.extend((n as u32).to_le_bytes());
        }
    }
}
