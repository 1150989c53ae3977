//! Stratum V1 wire messages: newline-delimited JSON-RPC 1.0-ish objects.
//!
//! Ids may be numbers, strings or null and are echoed exactly. Layers go
//! bytes -> line ([`crate::codec`]) -> [`Message`] -> method.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest line a server accepts from a miner, bytes (a submit or an
/// authorize is well under 1 KiB).
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// Longest line a client accepts from a server, bytes: a notify carries
/// the coinbase in hex, and a pool paying its window in the coinbase can
/// have one of up to
/// [`MAX_COINBASE_LEN`](chiral_pool_core::share::MAX_COINBASE_LEN) bytes.
pub const MAX_NOTIFY_LINE_LEN: usize = 2 * chiral_pool_core::share::MAX_COINBASE_LEN + 8 * 1024;

/// Stratum error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 20: other or unknown.
    Other = 20,
    /// 21: job not found (or stale).
    JobNotFound = 21,
    /// 22: duplicate share.
    Duplicate = 22,
    /// 23: low difficulty share.
    LowDifficulty = 23,
    /// 24: unauthorized worker.
    Unauthorized = 24,
    /// 25: not subscribed.
    NotSubscribed = 25,
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The code's variant, if it is a conventional one.
    pub fn from_code(code: i64) -> Option<Self> {
        [
            ErrorCode::Other,
            ErrorCode::JobNotFound,
            ErrorCode::Duplicate,
            ErrorCode::LowDifficulty,
            ErrorCode::Unauthorized,
            ErrorCode::NotSubscribed,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// The conventional message.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Other => "Other/Unknown",
            ErrorCode::JobNotFound => "Job not found",
            ErrorCode::Duplicate => "Duplicate share",
            ErrorCode::LowDifficulty => "Low difficulty share",
            ErrorCode::Unauthorized => "Unauthorized worker",
            ErrorCode::NotSubscribed => "Not subscribed",
        }
    }

    /// The `[code, message, null]` error value.
    pub fn to_value(self) -> Value {
        Value::Array(vec![
            Value::from(self.code()),
            Value::from(self.message()),
            Value::Null,
        ])
    }

    /// Reads a code from an error value (`[code, msg, data]` or `{code}`).
    pub fn from_value(v: &Value) -> Option<i64> {
        v.get(0)
            .and_then(Value::as_i64)
            .or_else(|| v.get("code").and_then(Value::as_i64))
    }
}

/// One line from the wire, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call expecting a response (`id` not null).
    Request {
        /// Echoed in the response.
        id: Value,
        /// Method name.
        method: String,
        /// Parameters (an array in Stratum V1).
        params: Value,
    },
    /// A call with a null or missing id: no response expected.
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
    /// A response to one of our requests.
    Response {
        /// The id of our request.
        id: Value,
        /// Result, if successful.
        result: Value,
        /// Error, if any (null when none).
        error: Value,
    },
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    id: Value,
    method: Option<String>,
    #[serde(default)]
    params: Value,
    result: Option<Value>,
    #[serde(default)]
    error: Value,
}

/// Why a line is not a Stratum message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not JSON, or not an object of the right shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Longer than [`MAX_NOTIFY_LINE_LEN`].
    #[error("line longer than {MAX_NOTIFY_LINE_LEN} bytes")]
    TooLong,
}

impl Message {
    /// Parses one line (without its newline).
    /// Lines from miners are cut at [`MAX_LINE_LEN`] by the server's
    /// framing before they get here.
    pub fn parse(line: &str) -> Result<Message, WireError> {
        if line.len() > MAX_NOTIFY_LINE_LEN {
            return Err(WireError::TooLong);
        }
        let raw: RawMessage =
            serde_json::from_str(line).map_err(|e| WireError::Malformed(e.to_string()))?;
        match (raw.method, raw.result) {
            (Some(method), _) if raw.id.is_null() => Ok(Message::Notification {
                method,
                params: raw.params,
            }),
            (Some(method), _) => Ok(Message::Request {
                id: raw.id,
                method,
                params: raw.params,
            }),
            (None, Some(result)) => Ok(Message::Response {
                id: raw.id,
                result,
                error: raw.error,
            }),
            (None, None) if !raw.error.is_null() => Ok(Message::Response {
                id: raw.id,
                result: Value::Null,
                error: raw.error,
            }),
            (None, None) => Err(WireError::Malformed("neither method nor result".into())),
        }
    }

    /// A successful response.
    pub fn ok(id: Value, result: Value) -> Message {
        Message::Response {
            id,
            result,
            error: Value::Null,
        }
    }

    /// An error response.
    pub fn err(id: Value, code: ErrorCode) -> Message {
        Message::Response {
            id,
            result: Value::Null,
            error: code.to_value(),
        }
    }

    /// An error response with a message of its own (a reason the miner's
    /// operator can act on).
    pub fn err_with(id: Value, code: ErrorCode, message: impl Into<String>) -> Message {
        Message::Response {
            id,
            result: Value::Null,
            error: Value::Array(vec![
                Value::from(code.code()),
                Value::from(message.into()),
                Value::Null,
            ]),
        }
    }

    /// A notification.
    pub fn notify(method: &str, params: Value) -> Message {
        Message::Notification {
            method: method.to_owned(),
            params,
        }
    }

    /// Encodes the message as one line, without the newline.
    pub fn to_line(&self) -> String {
        #[derive(Serialize)]
        struct Call<'a> {
            id: &'a Value,
            method: &'a str,
            params: &'a Value,
        }
        #[derive(Serialize)]
        struct Reply<'a> {
            id: &'a Value,
            result: &'a Value,
            error: &'a Value,
        }
        let out = match self {
            Message::Request { id, method, params } => {
                serde_json::to_string(&Call { id, method, params })
            }
            Message::Notification { method, params } => serde_json::to_string(&Call {
                id: &Value::Null,
                method,
                params,
            }),
            Message::Response { id, result, error } => {
                serde_json::to_string(&Reply { id, result, error })
            }
        };
        // Serializing a Value tree cannot fail.
        out.unwrap_or_default()
    }
}

/// Reads a hex string parameter of exactly `len` bytes.
pub fn hex_param(v: &Value, len: usize) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    if s.len() != len * 2 {
        return None;
    }
    hex::decode(s).ok()
}

/// Reads a big-endian hex u32 parameter (8 hex digits).
pub fn u32_param(v: &Value) -> Option<u32> {
    let bytes: [u8; 4] = hex_param(v, 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}
