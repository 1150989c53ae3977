//! Framing: newline-delimited lines with a hard length cap.
//!
//! tokio-util's `LinesCodec` with `new_with_max_length` does the job; a
//! line over the cap is an error and the connection is closed.

use tokio_util::codec::LinesCodec;

use crate::wire::{MAX_LINE_LEN, MAX_NOTIFY_LINE_LEN};

/// The line codec of a server's connections: miners send short lines.
pub fn line_codec() -> LinesCodec {
    LinesCodec::new_with_max_length(MAX_LINE_LEN)
}

/// The line codec of a client: a job's coinbase can be long (a pool that
/// pays hundreds of outputs in it).
pub fn client_line_codec() -> LinesCodec {
    LinesCodec::new_with_max_length(MAX_NOTIFY_LINE_LEN)
}
