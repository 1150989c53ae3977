//! Framing: newline-delimited lines with a hard length cap.
//!
//! tokio-util's `LinesCodec` with `new_with_max_length` does the job; a
//! line over the cap is an error and the connection is closed.

use tokio_util::codec::LinesCodec;

use crate::wire::MAX_LINE_LEN;

/// The line codec every connection uses.
pub fn line_codec() -> LinesCodec {
    LinesCodec::new_with_max_length(MAX_LINE_LEN)
}
