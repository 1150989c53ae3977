//! The one place that turns domain values into wire bytes and back.
//!
//! bincode 2 in serde mode with the `standard()` configuration and a hard
//! byte limit; trailing bytes are an error so every value has exactly one
//! encoding. Swapping the format means changing this file only.

use serde::{de::DeserializeOwned, Serialize};

/// The largest encoded value any decoder here accepts (64 KiB).
pub const MAX_ENCODED_BYTES: usize = 64 * 1024;

/// Errors of the wire codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Input or output longer than the limit.
    #[error("encoded value is {len} bytes, limit is {limit}")]
    TooLarge {
        /// Actual length.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// A valid value followed by more bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_ENCODED_BYTES>()
}

/// Encodes a value. Fails only if the encoding would exceed the limit.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit: MAX_ENCODED_BYTES,
        });
    }
    Ok(bytes)
}

/// Decodes a value from exactly `bytes`, at most `limit` long (clamped to
/// [`MAX_ENCODED_BYTES`]).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    let limit = limit.min(MAX_ENCODED_BYTES);
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}
