//! The commitment a share's coinbase carries: pool, miner, and the share
//! chain position the work was done on.
//!
//! It is exactly the coinbase's **last output**, whose script is
//! `OP_RETURN <payload>` with a single minimal push and nothing else. It is
//! found by position, never by searching bytes, so a payout script that
//! happens to hold the tag (a 32-byte witness program can) changes nothing.
//!
//! Payload, version 2:
//!
//! ```text
//! "CHRLv2"     6 bytes, ASCII tag
//! pool id      32 bytes
//! chain bits   4 bytes, little-endian compact share chain target
//! parent       32 bytes, id of the parent link (all zero: none, a genesis link)
//! uncles       1 byte count (0..=8), then 32 bytes per uncle, strictly ascending
//! payout id    1 byte length (1..=64), then the id's ASCII bytes
//! ```
//!
//! Version 1 (`CHRLv1`, pool and payout only, found by searching) is
//! refused with [`CommitmentError::UnsupportedVersion`].

use crate::ids::{LinkId, PayoutId, PoolId};
use crate::pow::CompactTarget;

use super::coinbase::{CoinbaseError, ParsedCoinbase};

/// The tag that opens a commitment of the current version.
pub const COMMITMENT_TAG: &[u8; 6] = b"CHRLv2";
/// The commitment version this code reads and writes.
pub const COMMITMENT_VERSION: u8 = 2;
/// Most uncle ids the format holds (pool parameters may allow fewer).
pub const MAX_COMMITTED_UNCLES: usize = 8;

const TAG_FAMILY: &[u8; 5] = b"CHRLv";
const OP_RETURN: u8 = 0x6a;
const OP_PUSHDATA1: u8 = 0x4c;
const OP_PUSHDATA2: u8 = 0x4d;

/// Why a coinbase carries no usable commitment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    /// The coinbase transaction itself does not parse.
    #[error("coinbase: {0}")]
    Coinbase(#[from] CoinbaseError),
    /// The last output is not an `OP_RETURN` commitment, and none is
    /// anywhere else either.
    #[error("coinbase carries no commitment in its last output")]
    Missing,
    /// A commitment sits in an output other than the last one.
    #[error("the commitment must be the coinbase's last output")]
    NotLastOutput,
    /// A commitment of another version.
    #[error("commitment version {0} is not supported (this node reads version 2)")]
    UnsupportedVersion(u8),
    /// The payload is cut short, too long, not minimally pushed, or holds
    /// an invalid field.
    #[error("commitment is malformed: {0}")]
    Malformed(&'static str),
}

/// What a share's coinbase commits to.
///
/// ```
/// use chiral_pool_core::{ids::*, pow::CompactTarget, share::commitment::Commitment};
/// let c = Commitment {
///     pool: PoolId::from_bytes([1; 32]),
///     payout: PayoutId::new("alice").unwrap(),
///     chain_bits: CompactTarget::from_consensus(0x1f00ffff),
///     parent: Some(LinkId::from_bytes([2; 32])),
///     uncles: vec![LinkId::from_bytes([3; 32])],
/// };
/// assert_eq!(Commitment::from_script(&c.to_script()).unwrap(), c);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Commitment {
    /// The pool the work is for.
    pub pool: PoolId,
    /// The miner it pays.
    pub payout: PayoutId,
    /// The share chain target at this position, compact.
    pub chain_bits: CompactTarget,
    /// The link this one builds on; `None` for a genesis link.
    pub parent: Option<LinkId>,
    /// Recent links off this chain that this one cites, strictly ascending.
    pub uncles: Vec<LinkId>,
}

impl Commitment {
    /// A commitment with no share chain position (a genesis link at
    /// `chain_bits`), for pools and tests that do not follow a chain.
    pub fn genesis(pool: PoolId, payout: PayoutId, chain_bits: CompactTarget) -> Self {
        Commitment {
            pool,
            payout,
            chain_bits,
            parent: None,
            uncles: Vec::new(),
        }
    }

    /// The payload bytes (after the push opcode).
    ///
    /// # Panics
    /// Never for a commitment that [`Commitment::check`] accepts; more than
    /// [`MAX_COMMITTED_UNCLES`] uncles are cut to the limit.
    pub fn to_payload(&self) -> Vec<u8> {
        let id = self.payout.as_str().as_bytes();
        let uncles = &self.uncles[..self.uncles.len().min(MAX_COMMITTED_UNCLES)];
        let mut out = Vec::with_capacity(6 + 32 + 4 + 32 + 1 + 32 * uncles.len() + 1 + id.len());
        out.extend_from_slice(COMMITMENT_TAG);
        out.extend_from_slice(self.pool.as_bytes());
        out.extend_from_slice(&self.chain_bits.to_consensus().to_le_bytes());
        out.extend_from_slice(self.parent.as_ref().map_or(&[0; 32], |p| p.as_bytes()));
        out.push(uncles.len() as u8);
        for uncle in uncles {
            out.extend_from_slice(uncle.as_bytes());
        }
        // PayoutId guarantees 1..=64 bytes.
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out
    }

    /// The output script: `OP_RETURN` and one minimal push of the payload.
    pub fn to_script(&self) -> Vec<u8> {
        let payload = self.to_payload();
        let mut script = Vec::with_capacity(payload.len() + 4);
        script.push(OP_RETURN);
        match payload.len() {
            n @ 0..=75 => script.push(n as u8),
            n @ 76..=255 => script.extend([OP_PUSHDATA1, n as u8]),
            n => {
                script.push(OP_PUSHDATA2);
                script.extend((n as u16).to_le_bytes());
            }
        }
        script.extend_from_slice(&payload);
        script
    }

    /// Checks the uncle list: at most [`MAX_COMMITTED_UNCLES`], strictly
    /// ascending (so no duplicates), none equal to the parent.
    pub fn check(&self) -> Result<(), CommitmentError> {
        if self.uncles.len() > MAX_COMMITTED_UNCLES {
            return Err(CommitmentError::Malformed("too many uncles"));
        }
        if self.uncles.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CommitmentError::Malformed(
                "uncles are not strictly ascending",
            ));
        }
        if self.parent.is_some_and(|p| self.uncles.contains(&p)) {
            return Err(CommitmentError::Malformed("the parent is also an uncle"));
        }
        Ok(())
    }

    /// Reads the commitment of a coinbase: its last output, exactly.
    pub fn from_coinbase(coinbase: &[u8]) -> Result<Self, CommitmentError> {
        Self::from_parsed(&ParsedCoinbase::parse(coinbase)?, coinbase)
    }

    /// [`Commitment::from_coinbase`] for a coinbase already parsed.
    pub fn from_parsed(parsed: &ParsedCoinbase, coinbase: &[u8]) -> Result<Self, CommitmentError> {
        let script_of = |range: std::ops::Range<usize>| coinbase.get(range).unwrap_or_default();
        let last = parsed.last_output().ok_or(CoinbaseError::NoOutputs)?;
        match Self::from_script(script_of(last.script.clone())) {
            Err(CommitmentError::Missing) => {
                let earlier = parsed.outputs().iter().rev().skip(1);
                let elsewhere = earlier
                    .into_iter()
                    .any(|o| push_payload(script_of(o.script.clone())).is_some_and(is_tagged));
                Err(if elsewhere {
                    CommitmentError::NotLastOutput
                } else {
                    CommitmentError::Missing
                })
            }
            other => other,
        }
    }

    /// Reads a commitment from an output script; `Missing` if the script
    /// is not `OP_RETURN` with one tagged push.
    pub fn from_script(script: &[u8]) -> Result<Self, CommitmentError> {
        let payload = push_payload(script)
            .filter(|p| is_tagged(p))
            .ok_or(CommitmentError::Missing)?;
        Self::from_payload(payload)
    }

    fn from_payload(payload: &[u8]) -> Result<Self, CommitmentError> {
        let version = payload.get(TAG_FAMILY.len()).copied().unwrap_or(0);
        let version = version.wrapping_sub(b'0');
        if version != COMMITMENT_VERSION {
            return Err(CommitmentError::UnsupportedVersion(version));
        }
        let mut r = Fields(payload.get(COMMITMENT_TAG.len()..).unwrap_or_default());
        let pool = PoolId::from_bytes(r.array()?);
        let chain_bits = CompactTarget::from_consensus(u32::from_le_bytes(r.array()?));
        let parent: [u8; 32] = r.array()?;
        let parent = (parent != [0; 32]).then(|| LinkId::from_bytes(parent));
        let count = r.byte()? as usize;
        if count > MAX_COMMITTED_UNCLES {
            return Err(CommitmentError::Malformed("too many uncles"));
        }
        let mut uncles = Vec::with_capacity(count);
        for _ in 0..count {
            uncles.push(LinkId::from_bytes(r.array()?));
        }
        let len = r.byte()? as usize;
        let payout = PayoutId::from_bytes(r.take(len)?)
            .map_err(|_| CommitmentError::Malformed("invalid payout id"))?;
        if !r.0.is_empty() {
            return Err(CommitmentError::Malformed("trailing bytes"));
        }
        let commitment = Commitment {
            pool,
            payout,
            chain_bits,
            parent,
            uncles,
        };
        commitment.check()?;
        Ok(commitment)
    }
}

fn is_tagged(payload: &[u8]) -> bool {
    payload.starts_with(TAG_FAMILY)
}

/// The data of `OP_RETURN <one minimal push>`, or `None` for any other
/// script.
fn push_payload(script: &[u8]) -> Option<&[u8]> {
    let (&op, rest) = script.split_first()?;
    if op != OP_RETURN {
        return None;
    }
    let (&push, rest) = rest.split_first()?;
    let (len, data) = match push {
        1..=75 => (push as usize, rest),
        OP_PUSHDATA1 => {
            let (&n, data) = rest.split_first()?;
            (n as usize, data)
        }
        OP_PUSHDATA2 => {
            let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
            (n, rest.get(2..)?)
        }
        _ => return None,
    };
    // A push longer than its opcode needs is not minimal: one encoding only.
    let minimal = match push {
        OP_PUSHDATA1 => len > 75,
        OP_PUSHDATA2 => len > 255,
        _ => true,
    };
    (minimal && data.len() == len).then_some(data)
}

struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CommitmentError> {
        if self.0.len() < n {
            return Err(CommitmentError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CommitmentError> {
        self.take(N)?
            .try_into()
            .map_err(|_| CommitmentError::Malformed("truncated"))
    }

    fn byte(&mut self) -> Result<u8, CommitmentError> {
        Ok(self.array::<1>()?[0])
    }
}
