//! A Stratum V1 client: handshake, replies matched by id, server pushes as
//! events, and submits. [`StratumClient::connect_with_backoff`] retries the
//! first connection with backoff; a connection that drops later is not
//! re-established here: the client reports [`ClientEvent::Disconnected`]
//! and fails requests in flight, and the caller connects again (the
//! facade's CPU miner does, with backoff).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiral_pool_core::ids::PoolId;
use chiral_pool_core::share::commitment::Commitment;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use tracing::debug;

use crate::codec::client_line_codec;
use crate::job::JobParams;
pub use crate::job::JobRefused;
use crate::wire::{u32_param, ErrorCode, Message};

/// Settings of a [`StratumClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the server.
    pub addr: String,
    /// `<payout id>.<worker>`.
    pub username: String,
    /// Password (most pools ignore it). Default: `x`.
    pub password: String,
    /// Ask for BIP 310 version rolling with this mask. Default: none.
    pub version_rolling: Option<u32>,
    /// Suggest a starting difficulty. Default: none.
    pub suggest_difficulty: Option<f64>,
    /// Opt in to `mining.set_extranonce`. Default: true.
    pub extranonce_subscribe: bool,
    /// Time limit of each request. Default: 10 s.
    pub request_timeout: Duration,
    /// The pool this miner works for: a job whose commitment names
    /// another is refused ([`StratumClient::check_job`]). Default: none
    /// (any pool).
    pub expect_pool: Option<PoolId>,
}

impl ClientConfig {
    /// Defaults for `addr` and `username`.
    pub fn new(addr: impl Into<String>, username: impl Into<String>) -> Self {
        ClientConfig {
            addr: addr.into(),
            username: username.into(),
            password: "x".into(),
            version_rolling: None,
            suggest_difficulty: None,
            extranonce_subscribe: true,
            request_timeout: Duration::from_secs(10),
            expect_pool: None,
        }
    }
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// No reply in time.
    #[error("request timed out")]
    Timeout,
    /// The server answered with an error.
    #[error("server error: {0}")]
    Server(ServerError),
    /// The server's reply has the wrong shape.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

/// An error a server answered with: `[code, message, data]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct ServerError {
    /// The numeric code (20 to 25 by convention; servers may send others).
    pub code: i64,
    /// The server's message, cut to [`MAX_ERROR_MESSAGE`] characters.
    pub message: String,
}

/// Longest error message kept from a server.
pub const MAX_ERROR_MESSAGE: usize = 256;

impl ServerError {
    /// The conventional code, if it is one.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    fn from_value(error: &Value) -> Self {
        let code = ErrorCode::from_value(error).unwrap_or(ErrorCode::Other.code());
        let message = error
            .get(1)
            .or_else(|| error.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(MAX_ERROR_MESSAGE)
            .collect();
        ServerError { code, message }
    }

    fn of(kind: ErrorCode) -> Self {
        ServerError {
            code: kind.code(),
            message: kind.message().to_owned(),
        }
    }
}

/// Something the server pushed.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `mining.notify`.
    Job(JobParams),
    /// `mining.set_difficulty`: applies to jobs that follow.
    Difficulty(f64),
    /// `mining.set_extranonce`.
    Extranonce {
        /// New extranonce1.
        extranonce1: Vec<u8>,
        /// New extranonce2 size.
        extranonce2_size: usize,
    },
    /// `client.reconnect`: the server asks us to go away and come back.
    Reconnect,
    /// The connection ended.
    Disconnected,
}

/// What subscribe and configure negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Extranonce1 assigned by the server.
    pub extranonce1: Vec<u8>,
    /// Bytes of extranonce2 we roll.
    pub extranonce2_size: usize,
    /// Negotiated version-rolling mask, if any.
    pub version_mask: Option<u32>,
    /// Session id to resume with.
    pub session_id: Option<String>,
}

/// One share to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Job id from the notify.
    pub job_id: String,
    /// Extranonce2, `extranonce2_size` bytes.
    pub extranonce2: Vec<u8>,
    /// Header time.
    pub ntime: u32,
    /// Nonce.
    pub nonce: u32,
    /// Rolled version bits, if version rolling is on.
    pub version_bits: Option<u32>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<(Value, Value)>>>>;

/// Queued events per connection before the reader waits for the consumer.
const EVENT_QUEUE: usize = 64;

/// A connected, subscribed and authorized client.
#[derive(Debug, Clone)]
pub struct StratumClient {
    outgoing: mpsc::Sender<String>,
    pending: Pending,
    /// Set once the connection's reader has stopped.
    disconnected: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    config: ClientConfig,
    session: SessionInfo,
}

impl StratumClient {
    /// Connects and runs the handshake (configure, subscribe, authorize,
    /// suggest difficulty). Returns the client and its event stream.
    pub async fn connect(
        config: ClientConfig,
    ) -> Result<(StratumClient, mpsc::Receiver<ClientEvent>), ClientError> {
        Self::connect_resuming(config, None).await
    }

    /// Like [`connect`](Self::connect), asking to resume `session_id`.
    pub async fn connect_resuming(
        config: ClientConfig,
        session_id: Option<String>,
    ) -> Result<(StratumClient, mpsc::Receiver<ClientEvent>), ClientError> {
        let stream = TcpStream::connect(&config.addr).await?;
        let _ = stream.set_nodelay(true);
        let (mut sink, mut source) = Framed::new(stream, client_line_codec()).split::<String>();
        let (out_tx, mut out_rx) = mpsc::channel::<String>(64);
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let pending: Pending = Arc::default();
        // When every handle is dropped the writer ends, and tells the
        // reader to let go of the socket.
        let (closed_tx, mut closed_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                if sink.send(line).await.is_err() {
                    break;
                }
            }
            drop(closed_tx);
        });
        let reader_pending = pending.clone();
        let disconnected = Arc::new(AtomicBool::new(false));
        let reader_disconnected = disconnected.clone();
        tokio::spawn(async move {
            loop {
                let line = tokio::select! {
                    line = source.next() => line,
                    _ = &mut closed_rx => break,
                };
                let Some(Ok(line)) = line else { break };
                match Message::parse(&line) {
                    Ok(Message::Response { id, result, error }) => {
                        let waiter = id.as_u64().and_then(|id| {
                            reader_pending
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&id)
                        });
                        if let Some(w) = waiter {
                            let _ = w.send((result, error));
                        }
                    }
                    Ok(Message::Notification { method, params })
                    | Ok(Message::Request { method, params, .. }) => {
                        if let Some(ev) = to_event(&method, &params) {
                            if ev_tx.send(ev).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(e) => debug!(error = %e, "malformed line from server"),
                }
            }
            // Requests in flight get no reply now: fail them at once rather
            // than at their timeout. The flag comes first so a request
            // registered after the clear sees it.
            reader_disconnected.store(true, Ordering::SeqCst);
            reader_pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            let _ = ev_tx.try_send(ClientEvent::Disconnected);
        });

        let mut client = StratumClient {
            outgoing: out_tx,
            pending,
            disconnected,
            next_id: Arc::new(AtomicU64::new(1)),
            session: SessionInfo {
                extranonce1: Vec::new(),
                extranonce2_size: 0,
                version_mask: None,
                session_id: None,
            },
            config,
        };
        client.handshake(session_id).await?;
        Ok((client, ev_rx))
    }

    /// Connects, retrying with exponential backoff (100 ms doubling to
    /// 10 s) up to `attempts` times.
    pub async fn connect_with_backoff(
        config: ClientConfig,
        attempts: u32,
    ) -> Result<(StratumClient, mpsc::Receiver<ClientEvent>), ClientError> {
        let mut delay = Duration::from_millis(100);
        let mut last = ClientError::Closed;
        for _ in 0..attempts.max(1) {
            match Self::connect(config.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        Err(last)
    }

    async fn handshake(&mut self, resume: Option<String>) -> Result<(), ClientError> {
        if let Some(mask) = self.config.version_rolling {
            let r = self
                .request(
                    "mining.configure",
                    json!([["version-rolling"], {"version-rolling.mask": format!("{mask:08x}"), "version-rolling.min-bit-count": 2}]),
                )
                .await?;
            if r.get("version-rolling").and_then(Value::as_bool) == Some(true) {
                self.session.version_mask = r.get("version-rolling.mask").and_then(u32_param);
            }
        }
        let mut params = vec![json!("chiral-stratum/0.1")];
        if let Some(sid) = resume {
            params.push(json!(sid));
        }
        let r = self
            .request("mining.subscribe", Value::Array(params))
            .await?;
        let en1 = r
            .get(1)
            .and_then(Value::as_str)
            .and_then(|s| hex::decode(s).ok())
            .filter(|e| e.len() <= 16)
            .ok_or_else(|| ClientError::Protocol("extranonce1".into()))?;
        let en2 = r
            .get(2)
            .and_then(Value::as_u64)
            .filter(|n| (1..=16).contains(n))
            .ok_or_else(|| ClientError::Protocol("extranonce2 size".into()))?;
        self.session.extranonce1 = en1;
        self.session.extranonce2_size = en2 as usize;
        self.session.session_id = r
            .get(0)
            .and_then(|subs| subs.get(0))
            .and_then(|s| s.get(1))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if self.config.extranonce_subscribe {
            // Servers without the extension answer with an error; ignore it.
            let _ = self.request("mining.extranonce.subscribe", json!([])).await;
        }
        if let Some(d) = self.config.suggest_difficulty {
            let _ = self.request("mining.suggest_difficulty", json!([d])).await;
        }
        let ok = self
            .request(
                "mining.authorize",
                json!([self.config.username, self.config.password]),
            )
            .await?;
        if ok != Value::Bool(true) {
            return Err(ClientError::Server(ServerError::of(
                ErrorCode::Unauthorized,
            )));
        }
        Ok(())
    }

    /// What the handshake negotiated.
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }

    /// Sends a request and waits for its reply.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        if self.disconnected.load(Ordering::SeqCst) {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(ClientError::Closed);
        }
        let line = Message::Request {
            id: json!(id),
            method: method.to_owned(),
            params,
        }
        .to_line();
        self.outgoing
            .send(line)
            .await
            .map_err(|_| ClientError::Closed)?;
        let reply = tokio::time::timeout(self.config.request_timeout, rx).await;
        let (result, error) = match reply {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => return Err(ClientError::Closed),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                return Err(ClientError::Timeout);
            }
        };
        if !error.is_null() {
            return Err(ClientError::Server(ServerError::from_value(&error)));
        }
        Ok(result)
    }

    /// Checks a job before any work is spent on it: its coinbase's
    /// commitment (the last output) must credit this miner's payout id
    /// (the username before its first `.`), and name the configured pool
    /// if there is one. Peers check that the coinbase pays what the
    /// commitment's position and payout id say; only the miner can tell
    /// that the payout id is its own.
    pub fn check_job(&self, job: &JobParams) -> Result<(), JobRefused> {
        let extranonce2 = vec![0u8; self.session.extranonce2_size];
        let coinbase = job.coinbase(&self.session.extranonce1, &extranonce2);
        let commitment = Commitment::from_coinbase(&coinbase)?;
        if let Some(expected) = self.config.expect_pool {
            if commitment.pool != expected {
                return Err(JobRefused::WrongPool {
                    expected,
                    found: commitment.pool,
                });
            }
        }
        let user = &self.config.username;
        let expected = user.split_once('.').map_or(user.as_str(), |(id, _)| id);
        if commitment.payout.as_str() != expected {
            return Err(JobRefused::WrongPayout {
                expected: expected.to_owned(),
                found: commitment.payout.as_str().to_owned(),
            });
        }
        Ok(())
    }

    /// Submits a share; `Ok(())` when the server accepted it.
    pub async fn submit(&self, s: &Submission) -> Result<(), ClientError> {
        let mut params = vec![
            json!(self.config.username),
            json!(s.job_id),
            json!(hex::encode(&s.extranonce2)),
            json!(format!("{:08x}", s.ntime)),
            json!(format!("{:08x}", s.nonce)),
        ];
        if let Some(v) = s.version_bits {
            params.push(json!(format!("{v:08x}")));
        }
        match self.request("mining.submit", Value::Array(params)).await? {
            Value::Bool(true) => Ok(()),
            other => Err(ClientError::Protocol(format!("submit answered {other}"))),
        }
    }
}

fn to_event(method: &str, params: &Value) -> Option<ClientEvent> {
    match method {
        "mining.notify" => JobParams::from_params(params).ok().map(ClientEvent::Job),
        "mining.set_difficulty" => params
            .get(0)
            .and_then(Value::as_f64)
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(ClientEvent::Difficulty),
        "mining.set_extranonce" => {
            let en1 = params
                .get(0)
                .and_then(Value::as_str)
                .and_then(|s| hex::decode(s).ok())?;
            let size = params.get(1).and_then(Value::as_u64)? as usize;
            Some(ClientEvent::Extranonce {
                extranonce1: en1,
                extranonce2_size: size,
            })
        }
        "client.reconnect" => Some(ClientEvent::Reconnect),
        _ => None,
    }
}
