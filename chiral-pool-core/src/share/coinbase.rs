//! Reading a coinbase transaction: its input script (for the BIP 34
//! height) and its outputs (the commitment is the last one).
//!
//! Only what a share proof needs is read; the parser is strict about
//! structure (one input with a null prevout, no trailing bytes) and never
//! allocates more than the input's length allows.

use std::ops::Range;

/// Why a coinbase does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoinbaseError {
    /// The bytes end before the transaction does.
    #[error("coinbase transaction is truncated")]
    Truncated,
    /// Bytes follow the lock time.
    #[error("coinbase transaction has trailing bytes")]
    TrailingBytes,
    /// Not exactly one input, or its prevout is not null.
    #[error("coinbase must have exactly one input with a null prevout")]
    NotCoinbase,
    /// No outputs at all.
    #[error("coinbase has no outputs")]
    NoOutputs,
    /// A length prefix that is not minimally encoded or too large.
    #[error("coinbase holds a malformed length prefix")]
    BadLength,
}

/// One output of a parsed coinbase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseOutput {
    /// Value in atoms.
    pub value: u64,
    /// Where the output's script lies in the coinbase bytes.
    pub script: Range<usize>,
}

/// The parts of a coinbase transaction a share proof reads.
///
/// ```
/// use chiral_pool_core::share::coinbase::ParsedCoinbase;
/// // version, 1 input (null prevout, script `03 2a 00 00`), sequence,
/// // 1 output (value 50, script OP_TRUE), lock time.
/// let mut tx = vec![1, 0, 0, 0, 1];
/// tx.extend([0u8; 32]);
/// tx.extend([0xff; 4]);
/// tx.extend([4, 0x03, 0x2a, 0x00, 0x00]);
/// tx.extend([0xff; 4]);
/// tx.extend([1, 50, 0, 0, 0, 0, 0, 0, 0, 1, 0x51]);
/// tx.extend([0; 4]);
/// let parsed = ParsedCoinbase::parse(&tx).expect("parses");
/// assert_eq!(parsed.bip34_height(&tx), Some(42));
/// assert_eq!(parsed.outputs().len(), 1);
/// assert_eq!(&tx[parsed.outputs()[0].script.clone()], &[0x51]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCoinbase {
    script_sig: Range<usize>,
    outputs: Vec<CoinbaseOutput>,
}

impl ParsedCoinbase {
    /// Parses a coinbase in its non-witness serialization (the form a
    /// Stratum job's `coinb1 || extranonce || coinb2` has), or with a
    /// witness (marker and flag), whose witness is skipped.
    pub fn parse(tx: &[u8]) -> Result<Self, CoinbaseError> {
        let mut r = Reader { bytes: tx, at: 0 };
        r.take(4)?; // version
        let segwit = r.peek() == Some(0);
        if segwit {
            r.take(2)?; // marker, flag
        }
        if r.varint()? != 1 {
            return Err(CoinbaseError::NotCoinbase);
        }
        let prevout = r.take(36)?;
        let null_prevout =
            prevout[..32].iter().all(|&b| b == 0) && prevout[32..].iter().all(|&b| b == 0xff);
        if !null_prevout {
            return Err(CoinbaseError::NotCoinbase);
        }
        let script_len = r.len_prefix()?;
        let script_sig = r.range(script_len)?;
        r.take(4)?; // sequence
        let count = r.len_prefix()?;
        if count == 0 {
            return Err(CoinbaseError::NoOutputs);
        }
        // Each output takes at least 9 bytes: the count is bounded by the
        // input's length before anything is allocated.
        if count > r.remaining() / 9 {
            return Err(CoinbaseError::Truncated);
        }
        let mut outputs = Vec::with_capacity(count);
        for _ in 0..count {
            let value_bytes: [u8; 8] = r
                .take(8)?
                .try_into()
                .map_err(|_| CoinbaseError::Truncated)?;
            let len = r.len_prefix()?;
            let script = r.range(len)?;
            outputs.push(CoinbaseOutput {
                value: u64::from_le_bytes(value_bytes),
                script,
            });
        }
        if segwit {
            let items = r.len_prefix()?;
            for _ in 0..items {
                let len = r.len_prefix()?;
                r.take(len)?;
            }
        }
        r.take(4)?; // lock time
        if r.remaining() != 0 {
            return Err(CoinbaseError::TrailingBytes);
        }
        Ok(ParsedCoinbase {
            script_sig,
            outputs,
        })
    }

    /// The outputs in order.
    pub fn outputs(&self) -> &[CoinbaseOutput] {
        &self.outputs
    }

    /// The last output (a parsed coinbase has at least one).
    pub fn last_output(&self) -> Option<&CoinbaseOutput> {
        self.outputs.last()
    }

    /// Where the input script lies in the coinbase bytes.
    pub fn script_sig(&self) -> Range<usize> {
        self.script_sig.clone()
    }

    /// The block height the input script starts with (BIP 34): `OP_1` to
    /// `OP_16`, or a push of 1 to 4 bytes read as a little-endian number
    /// without its sign bit set. `None` if the script starts otherwise.
    pub fn bip34_height(&self, tx: &[u8]) -> Option<u32> {
        let script = tx.get(self.script_sig.clone())?;
        let first = *script.first()?;
        match first {
            0x51..=0x60 => Some(u32::from(first - 0x50)),
            1..=4 => {
                let bytes = script.get(1..1 + first as usize)?;
                let last = *bytes.last()?;
                if last & 0x80 != 0 {
                    return None;
                }
                let mut le = [0u8; 4];
                le.get_mut(..bytes.len())?.copy_from_slice(bytes);
                Some(u32::from_le_bytes(le))
            }
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CoinbaseError> {
        let range = self.range(n)?;
        self.bytes.get(range).ok_or(CoinbaseError::Truncated)
    }

    fn range(&mut self, n: usize) -> Result<Range<usize>, CoinbaseError> {
        let end = self.at.checked_add(n).ok_or(CoinbaseError::Truncated)?;
        if end > self.bytes.len() {
            return Err(CoinbaseError::Truncated);
        }
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    /// A Bitcoin compact size, minimally encoded.
    fn varint(&mut self) -> Result<u64, CoinbaseError> {
        let first = *self.take(1)?.first().ok_or(CoinbaseError::Truncated)?;
        let (width, min) = match first {
            0xfd => (2, 0xfd),
            0xfe => (4, 0x1_0000),
            0xff => (8, 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(self.take(width)?);
        let value = u64::from_le_bytes(le);
        if value < min {
            return Err(CoinbaseError::BadLength);
        }
        Ok(value)
    }

    /// A compact size used as a length or count: it cannot exceed what
    /// is left of the input.
    fn len_prefix(&mut self) -> Result<usize, CoinbaseError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or(CoinbaseError::BadLength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coinbase(outputs: &[(u64, &[u8])]) -> Vec<u8> {
        let mut tx = vec![2, 0, 0, 0, 1];
        tx.extend([0u8; 32]);
        tx.extend([0xff; 4]);
        tx.extend([2, 0x01, 0x07]);
        tx.extend([0xff; 4]);
        tx.push(outputs.len() as u8);
        for (value, script) in outputs {
            tx.extend(value.to_le_bytes());
            tx.push(script.len() as u8);
            tx.extend(*script);
        }
        tx.extend([0; 4]);
        tx
    }

    #[test]
    fn outputs_are_read_in_order_with_their_values() {
        let tx = coinbase(&[(5, &[0x51]), (0, &[0x6a, 1, 9])]);
        let parsed = ParsedCoinbase::parse(&tx).expect("parses");
        assert_eq!(parsed.outputs().len(), 2);
        assert_eq!(parsed.outputs()[0].value, 5);
        let last = parsed.last_output().expect("an output");
        assert_eq!(&tx[last.script.clone()], &[0x6a, 1, 9]);
        assert_eq!(parsed.bip34_height(&tx), Some(7));
    }

    #[test]
    fn every_truncation_and_extension_is_an_error() {
        let tx = coinbase(&[(5, &[0x51]), (0, &[0x6a, 1, 9])]);
        for cut in 0..tx.len() {
            assert!(ParsedCoinbase::parse(&tx[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = tx.clone();
        longer.push(0);
        assert_eq!(
            ParsedCoinbase::parse(&longer),
            Err(CoinbaseError::TrailingBytes)
        );
    }

    #[test]
    fn a_spending_input_is_not_a_coinbase() {
        let mut tx = coinbase(&[(5, &[0x51])]);
        tx[5] = 1; // prevout hash no longer null
        assert_eq!(ParsedCoinbase::parse(&tx), Err(CoinbaseError::NotCoinbase));
    }

    #[test]
    fn a_huge_output_count_is_refused_before_allocating() {
        let mut tx = coinbase(&[(5, &[0x51])]);
        // Replace the output count (after 4 + 1 + 36 + 3 + 4 bytes).
        let at = 4 + 1 + 36 + 3 + 4;
        tx.splice(at..at + 1, [0xfe, 0xff, 0xff, 0xff, 0x7f]);
        assert!(ParsedCoinbase::parse(&tx).is_err());
    }
}
