//! 256-bit targets and fixed-point difficulty, compared only in integers.

use ruint::aliases::{U256, U512};
use serde::{Deserialize, Serialize};

use super::Hash256;

/// Errors turning a compact number or a difficulty into a [`Target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The compact encoding has its sign bit set with a non-zero mantissa.
    #[error("compact target {0:#010x} is negative")]
    NegativeCompact(u32),
    /// The compact encoding names a number wider than 256 bits.
    #[error("compact target {0:#010x} overflows 256 bits")]
    OverflowCompact(u32),
    /// A difficulty must be a finite number above zero.
    #[error("difficulty must be finite and positive")]
    InvalidDifficulty,
}

/// A target in Bitcoin's compact ("nBits") form, as headers and block
/// templates carry it. Not every value names a target: decode it with
/// [`Target::from_compact`].
///
/// ```
/// use chiral_pool_core::pow::{CompactTarget, Target};
/// let bits = CompactTarget::from_consensus(0x1d00ffff);
/// assert_eq!(Target::from_compact(bits), Ok(Target::DIFF1));
/// assert_eq!(bits.to_consensus(), 0x1d00ffff);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// The compact form as the consensus encoding carries it.
    pub const fn from_consensus(bits: u32) -> Self {
        CompactTarget(bits)
    }

    /// The consensus encoding.
    pub const fn to_consensus(self) -> u32 {
        self.0
    }
}

impl std::fmt::LowerHex for CompactTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// diff1, the target of difficulty 1: `0x00000000FFFF0000…0000`.
const DIFF1: U256 = U256::from_limbs([0, 0, 0, 0x0000_0000_FFFF_0000]);

/// Bits of fraction carried by [`Difficulty`].
const DIFFICULTY_FRACTION_BITS: usize = 32;

/// A 256-bit proof-of-work target: a hash meets it when the hash, read as a
/// little-endian number, is at most the target.
///
/// ```
/// use chiral_pool_core::pow::{CompactTarget, Target};
/// let bits = CompactTarget::from_consensus(0x1d00ffff);
/// let t = Target::from_compact(bits).unwrap();
/// assert_eq!(t, Target::DIFF1);
/// assert_eq!(t.to_compact_lossy(), bits);
/// let easy = Target::from_difficulty(1.0 / 4096.0).unwrap();
/// assert!(easy > t);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    /// The largest target: every hash meets it.
    pub const MAX: Target = Target(U256::MAX);
    /// The target of difficulty 1 (Bitcoin's `0x1d00ffff`).
    pub const DIFF1: Target = Target(DIFF1);

    /// Reads a target from 32 little-endian bytes.
    pub fn from_le_bytes(bytes: [u8; 32]) -> Self {
        Target(U256::from_le_bytes(bytes))
    }

    /// The 32 little-endian bytes of the target.
    pub fn to_le_bytes(&self) -> [u8; 32] {
        self.0.to_le_bytes()
    }

    /// Decodes Bitcoin's compact ("nBits") form, rejecting negative and
    /// overflowing encodings as consensus does.
    pub fn from_compact(bits: CompactTarget) -> Result<Self, TargetError> {
        let bits = bits.to_consensus();
        let exponent = (bits >> 24) as usize;
        let mantissa = bits & 0x007f_ffff;
        if mantissa != 0 && bits & 0x0080_0000 != 0 {
            return Err(TargetError::NegativeCompact(bits));
        }
        if mantissa != 0
            && (exponent > 34
                || (mantissa > 0xff && exponent > 33)
                || (mantissa > 0xffff && exponent > 32))
        {
            return Err(TargetError::OverflowCompact(bits));
        }
        let value = if exponent <= 3 {
            U256::from(mantissa >> (8 * (3 - exponent)))
        } else {
            U256::from(mantissa) << (8 * (exponent - 3))
        };
        Ok(Target(value))
    }

    /// Encodes the target in compact form. Lossy: only the top 23 bits of
    /// the mantissa survive, so `from_compact(t.to_compact_lossy()) <= t`.
    pub fn to_compact_lossy(&self) -> CompactTarget {
        let mut size = self.0.bit_len().div_ceil(8);
        let mut compact: u32 = if size <= 3 {
            (self.0.as_limbs()[0] << (8 * (3 - size))) as u32
        } else {
            (self.0 >> (8 * (size - 3))).as_limbs()[0] as u32
        };
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        CompactTarget(compact | ((size as u32) << 24))
    }

    /// The target of a (possibly fractional) difficulty: `diff1 / difficulty`.
    ///
    /// The float is decomposed exactly into `m * 2^e` and the division is
    /// done in 512-bit integers, so the result is the exact floor; it
    /// saturates at [`Target::MAX`] for tiny difficulties.
    pub fn from_difficulty(difficulty: f64) -> Result<Self, TargetError> {
        if !difficulty.is_finite() || difficulty <= 0.0 {
            return Err(TargetError::InvalidDifficulty);
        }
        let bits = difficulty.to_bits();
        let raw_exp = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        let (mantissa, exp) = if raw_exp == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), raw_exp - 1075)
        };
        let num = U512::from(DIFF1);
        let quotient = if exp >= 0 {
            // difficulty >= 2^exp; past 2^300 the target is zero anyway.
            if exp > 300 {
                return Ok(Target(U256::ZERO));
            }
            num / (U512::from(mantissa) << (exp as usize))
        } else {
            let shift = (-exp) as usize;
            // diff1 is 224 bits wide; past a 288-bit shift the result
            // cannot fit in 256 bits.
            if shift > 288 {
                return Ok(Target::MAX);
            }
            (num << shift) / U512::from(mantissa)
        };
        Ok(Target(narrow(quotient)))
    }

    /// The target whose fixed-point difficulty is `difficulty`.
    pub fn from_fixed_difficulty(difficulty: Difficulty) -> Self {
        if difficulty.0 == 0 {
            return Target::MAX;
        }
        let num = U512::from(DIFF1) << DIFFICULTY_FRACTION_BITS;
        Target(narrow(num / U512::from(difficulty.0)))
    }

    /// Difficulty of this target, `diff1 / target`, as a float for display.
    /// Never use it for comparisons; use [`Target::is_met_by`].
    pub fn difficulty(&self) -> f64 {
        if self.0.is_zero() {
            return f64::INFINITY;
        }
        u256_to_f64(DIFF1) / u256_to_f64(self.0)
    }

    /// Whether `hash` (internal byte order, read as a little-endian number)
    /// is at most this target.
    pub fn is_met_by(&self, hash: &Hash256) -> bool {
        U256::from_le_bytes(*hash) <= self.0
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_le_bytes().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <[u8; 32]>::deserialize(deserializer).map(Target::from_le_bytes)
    }
}

/// Difficulty as an unsigned fixed-point number with 32 fractional bits
/// (`diff1 * 2^32 / target`), so that fractional difficulties of CPU miners
/// weigh exactly and all accounting stays in integers.
///
/// ```
/// use chiral_pool_core::pow::{Difficulty, Target};
/// let d = Difficulty::from_target(&Target::DIFF1);
/// assert_eq!(d, Difficulty::ONE);
/// assert_eq!(Difficulty::from_target(&Target::from_difficulty(2.0).unwrap()).raw(), 2 << 32);
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Difficulty(u128);

impl Difficulty {
    /// Difficulty 1.
    pub const ONE: Difficulty = Difficulty(1 << DIFFICULTY_FRACTION_BITS);
    /// Difficulty 0: every target meets it.
    pub const ZERO: Difficulty = Difficulty(0);

    /// From the raw fixed-point value (difficulty times 2^32).
    pub const fn from_raw(raw: u128) -> Self {
        Difficulty(raw)
    }

    /// The raw fixed-point value (difficulty times 2^32).
    pub const fn raw(self) -> u128 {
        self.0
    }

    /// A whole-number difficulty.
    pub const fn from_integer(difficulty: u64) -> Self {
        Difficulty((difficulty as u128) << DIFFICULTY_FRACTION_BITS)
    }

    /// A (possibly fractional) difficulty as fixed point: `floor(d * 2^32)`,
    /// saturating at `u128::MAX`. The scaling is exact (a power of two);
    /// the floor drops what lies below 2^-32, so a difficulty under 2^-32,
    /// which would floor to zero (no minimum at all), is an error, as is
    /// one that is not finite and above zero.
    pub fn from_f64(difficulty: f64) -> Result<Self, TargetError> {
        if !difficulty.is_finite() || difficulty <= 0.0 {
            return Err(TargetError::InvalidDifficulty);
        }
        // `as` saturates at u128::MAX and floors.
        let fixed = (difficulty * (1u64 << DIFFICULTY_FRACTION_BITS) as f64) as u128;
        if fixed == 0 {
            return Err(TargetError::InvalidDifficulty);
        }
        Ok(Difficulty(fixed))
    }

    /// `floor(diff1 * 2^32 / target)`, saturating at `u128::MAX`.
    pub fn from_target(target: &Target) -> Self {
        if target.0.is_zero() {
            return Difficulty(u128::MAX);
        }
        let num = DIFF1 << DIFFICULTY_FRACTION_BITS;
        let q = num / target.0;
        Difficulty(u128::try_from(q).unwrap_or(u128::MAX))
    }

    /// The difficulty a hash actually reached (its "share difficulty").
    pub fn of_hash(hash: &Hash256) -> Self {
        Self::from_target(&Target::from_le_bytes(*hash))
    }

    /// Approximate value as a float, for display and vardiff only.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / (1u64 << DIFFICULTY_FRACTION_BITS) as f64
    }
}

fn narrow(value: U512) -> U256 {
    if value.bit_len() > 256 {
        return U256::MAX;
    }
    let limbs = value.as_limbs();
    U256::from_limbs([limbs[0], limbs[1], limbs[2], limbs[3]])
}

fn u256_to_f64(value: U256) -> f64 {
    let bits = value.bit_len();
    if bits <= 64 {
        return value.as_limbs()[0] as f64;
    }
    let shift = bits - 64;
    let top = (value >> shift).as_limbs()[0] as f64;
    top * 2f64.powi(shift as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trips_for_mainnet_bits() {
        for bits in [0x1d00ffff, 0x1b0404cb, 0x170331db, 0x1705dd01, 0x207fffff] {
            let bits = CompactTarget::from_consensus(bits);
            let t = Target::from_compact(bits).expect("valid bits");
            assert_eq!(t.to_compact_lossy(), bits, "{bits:#x}");
        }
    }

    #[test]
    fn compact_rejects_negative_and_overflow() {
        assert_eq!(
            Target::from_compact(CompactTarget::from_consensus(0x04923456)),
            Err(TargetError::NegativeCompact(0x04923456))
        );
        assert_eq!(
            Target::from_compact(CompactTarget::from_consensus(0xff123456)),
            Err(TargetError::OverflowCompact(0xff123456))
        );
        assert_eq!(
            Target::from_compact(CompactTarget::from_consensus(0x01003456)),
            Ok(Target(U256::ZERO))
        );
        assert_eq!(
            Target::from_compact(CompactTarget::from_consensus(0x01123456)),
            Ok(Target(U256::from(0x12u8)))
        );
    }

    #[test]
    fn difficulty_maps_to_target_exactly() {
        assert_eq!(Target::from_difficulty(1.0), Ok(Target::DIFF1));
        assert_eq!(
            Target::from_difficulty(0.5).map(|t| t.0),
            Ok(DIFF1 << 1usize)
        );
        assert_eq!(
            Target::from_difficulty(1.0 / 4096.0).map(|t| t.0),
            Ok(DIFF1 << 12usize)
        );
        assert_eq!(
            Target::from_difficulty(3.0).map(|t| t.0),
            Ok(DIFF1 / U256::from(3u8))
        );
        assert_eq!(Target::from_difficulty(1e-300), Ok(Target::MAX));
        assert_eq!(
            Target::from_difficulty(1e300).map(|t| t.0.is_zero()),
            Ok(true)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Target::from_difficulty(bad),
                Err(TargetError::InvalidDifficulty)
            );
        }
    }

    #[test]
    fn difficulty_from_f64_is_exact_and_refuses_nonsense() {
        assert_eq!(Difficulty::from_f64(1.0), Ok(Difficulty::ONE));
        assert_eq!(
            Difficulty::from_f64(1.0 / 65_536.0),
            Ok(Difficulty::from_raw(1 << 16))
        );
        assert_eq!(
            Difficulty::from_f64(1e300),
            Ok(Difficulty::from_raw(u128::MAX))
        );
        assert_eq!(
            Difficulty::from_f64(1.0 / 4_294_967_296.0),
            Ok(Difficulty::from_raw(1))
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12] {
            assert_eq!(
                Difficulty::from_f64(bad),
                Err(TargetError::InvalidDifficulty)
            );
        }
    }

    #[test]
    fn fixed_difficulty_inverts_target() {
        for d in [1u64, 2, 7, 1000, 1 << 40] {
            let fixed = Difficulty::from_integer(d);
            let t = Target::from_fixed_difficulty(fixed);
            assert_eq!(Target::from_difficulty(d as f64), Ok(t));
            assert_eq!(Difficulty::from_target(&t), fixed);
        }
        assert!((Target::DIFF1.difficulty() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn comparison_is_inclusive_and_little_endian() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x1d00ffff)).expect("valid");
        let mut at = t.to_le_bytes();
        assert!(t.is_met_by(&at));
        at[0] = 1; // t + 1 (the low byte of diff1 is zero)
        assert!(!t.is_met_by(&at));
        let mut small = [0u8; 32];
        small[31] = 0x00;
        small[0] = 0xff;
        assert!(t.is_met_by(&small));
    }
}
