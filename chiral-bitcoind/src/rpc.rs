//! Bitcoin Core's JSON-RPC over HTTP: cookie or user/password auth, a
//! bound on every reply, and an error for each way a node can say no.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

/// Largest reply read, bytes: a template for a full block is about 8 MB of
/// hex with its JSON around it.
pub const MAX_REPLY_BYTES: usize = 32 * 1024 * 1024;

/// How a client proves itself to Bitcoin Core. Its `Debug` form hides the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (a server that asks for none, such as the example
    /// chain server on loopback).
    None,
    /// `-rpcuser` and `-rpcpassword` (or an `-rpcauth` entry).
    UserPass {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// The cookie file Bitcoin Core writes at start (`<datadir>/.cookie`,
    /// `<datadir>/regtest/.cookie`, ...): read at each request, so a
    /// restarted node's new cookie is picked up.
    Cookie(PathBuf),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("password", &"<hidden>")
                .finish(),
            Auth::Cookie(path) => f.debug_tuple("Cookie").field(path).finish(),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// No connection (refused, unreachable, timed out).
    #[error("bitcoin core at {url} is unreachable: {reason}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What the connection said.
        reason: String,
    },
    /// The credentials were refused (HTTP 401), or this client's address
    /// is not allowed (HTTP 403, `-rpcallowip`).
    #[error("the node refused this client (HTTP {0}): check the cookie or the user and password, and -rpcallowip")]
    Unauthorized(u16),
    /// The cookie file could not be read.
    #[error("cannot read the rpc cookie {path}: {reason}")]
    Cookie {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The node is still syncing (initial block download): it cannot give
    /// work on the chain's tip yet.
    #[error("bitcoin core is still syncing (initial block download): {0}")]
    Syncing(String),
    /// The node is starting (loading its block index).
    #[error("bitcoin core is starting: {0}")]
    Warmup(String),
    /// The node has no peers (outside regtest it gives no work then).
    #[error("bitcoin core is not connected to any peer: {0}")]
    NotConnected(String),
    /// Any other error the node answered with.
    #[error("bitcoin core error {code}: {message}")]
    Rpc {
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The reply is not what the call returns (not JSON, wrong shape, too
    /// long).
    #[error("malformed reply to {method}: {reason}")]
    Malformed {
        /// The call.
        method: String,
        /// What is wrong.
        reason: String,
    },
}

/// A JSON-RPC client of one Bitcoin Core node.
#[derive(Debug, Clone)]
pub struct BitcoinRpc {
    http: reqwest::Client,
    url: String,
    auth: Auth,
}

impl BitcoinRpc {
    /// A client of the node at `url` (`http://127.0.0.1:8332`); each call
    /// gives up after `timeout`.
    pub fn new(url: impl Into<String>, auth: Auth, timeout: Duration) -> Result<Self, RpcError> {
        let url = url.into();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RpcError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(BitcoinRpc { http, url, auth })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn credentials(&self) -> Result<Option<(String, String)>, RpcError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::UserPass { user, password } => Ok(Some((user.clone(), password.clone()))),
            Auth::Cookie(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| RpcError::Cookie {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let (user, password) =
                    text.trim()
                        .split_once(':')
                        .ok_or_else(|| RpcError::Cookie {
                            path: path.display().to_string(),
                            reason: "not `user:password`".into(),
                        })?;
                Ok(Some((user.to_owned(), password.to_owned())))
            }
        }
    }

    /// Calls `method` with `params` and returns its `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "1.0", "id": "chiral", "method": method, "params": params});
        let mut request = self.http.post(&self.url).json(&body);
        if let Some((user, password)) = self.credentials()? {
            request = request.basic_auth(user, Some(password));
        }
        let unreachable = |e: reqwest::Error| RpcError::Unreachable {
            url: self.url.clone(),
            reason: with_causes(&e),
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RpcError::Unauthorized(status));
        }
        let malformed = |reason: String| RpcError::Malformed {
            method: method.to_owned(),
            reason,
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_REPLY_BYTES as u64)
        {
            return Err(malformed("reply too long".into()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(malformed("reply too long".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        let reply: Value = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("HTTP {status}, not JSON: {e}")))?;
        match reply.get("error") {
            Some(Value::Null) | None => {}
            Some(error) => return Err(rpc_error(error)),
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| malformed("no result".into()))
    }
}

/// An error and its causes, `a: b: c` (an HTTP client's error alone
/// hides why: connection refused, timed out).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let shown = c.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        cause = c.source();
    }
    text
}

/// The error a node answered with, by its code.
fn rpc_error(error: &Value) -> RpcError {
    let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message: String = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(512)
        .collect();
    match code {
        -10 => RpcError::Syncing(message),
        -28 => RpcError::Warmup(message),
        -9 => RpcError::NotConnected(message),
        _ => RpcError::Rpc { code, message },
    }
}
