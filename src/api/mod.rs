//! The node's HTTP API (`node --http 127.0.0.1:8080`): read-only JSON
//! under `/api/v1`, live server-sent events (`/api/v1/events`),
//! Prometheus metrics (`/metrics`), the dashboard page (`/`), and admin
//! actions that need a bearer token (`POST /api/v1/admin/...`).
//!
//! A local API is reachable by any web page the operator opens, through
//! DNS rebinding; so every request's `Host` must be one the API was
//! bound for (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, or hosts
//! given explicitly), and no CORS header is ever sent. Bad input is a
//! JSON error (400 for a malformed id, 404 for an unknown one), never a
//! panic; every answer is built from bounded state the node already
//! keeps, and lists are capped, so no request can grow memory or wait on
//! the network (but the admin actions, which put to and read from the
//! DHT, and `/peers`, which asks the DHT task for its routing table and
//! answers 503 if it does not answer in time). Connections, event
//! streams and request bodies are capped; slow clients are timed out.

mod admin;
mod dashboard;
mod events;
mod json;
mod listener;
mod server;

pub use admin::{AdminToken, TOKEN_FILE};
pub use listener::CappedListener;
pub use server::{serve, ApiServer};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::{watch, Semaphore};

use crate::node::PoolNode;

/// Connections the API serves at once by default; more wait in the
/// listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Event streams open at once by default; more are answered 503.
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 16;
/// Largest request body, for any request (admin actions' JSON is the only
/// one read).
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Links of the best chain listed by `pool/<id>`.
pub const RECENT_LINKS: usize = 20;
/// Most blocks `/blocks` lists (the newest).
pub const MAX_BLOCKS_SHOWN: usize = 1_000;
/// Most routing-table peers `/peers` lists (in peer id order).
pub const MAX_PEERS_SHOWN: usize = 256;

/// How long [`serve`] waits for open requests after its shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection may take to send a request's head by default,
/// counted from when the server waits for one: an idle keep-alive
/// connection is closed after it too.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's body (at most [`MAX_BODY_BYTES`]) may take to
/// arrive once its head has, by default.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writes to a client may make no progress by default before
/// its connection is dropped (it stopped reading).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout [`serve`] takes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// How an API server answers.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `Host` values answered (see [`default_hosts`]); any other is
    /// refused with 421.
    pub hosts: Vec<String>,
    /// The token admin actions need; none: every admin action is refused
    /// (403).
    pub admin_token: Option<AdminToken>,
    /// Connections served at once. Default: [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Event streams open at once. Default:
    /// [`DEFAULT_MAX_EVENT_STREAMS`].
    pub max_event_streams: usize,
    /// How long [`serve`] gives a connection to send a request's head
    /// (unused by [`router`], whose server reads the heads),
    /// counted from when it waits for one (an idle connection is closed
    /// after it; an answer being streamed is not cut). Default:
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive once its head has
    /// (answered 408 past it). Default: [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// How long writes to a client may make no progress before [`serve`]
    /// drops its connection (a client that stopped reading an answer or
    /// an event stream, once the sockets' buffers are full; unused by
    /// [`router`]). Default: [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
}

impl ApiConfig {
    /// Answers the hosts of `addr` ([`default_hosts`]), no admin actions,
    /// default caps.
    pub fn new(addr: SocketAddr) -> Self {
        ApiConfig {
            hosts: default_hosts(addr),
            admin_token: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_event_streams: DEFAULT_MAX_EVENT_STREAMS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }

    /// Refuses a timeout of zero or over [`MAX_TIMEOUT`], naming it.
    fn check_timeouts(&self) -> std::io::Result<()> {
        for (field, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value.is_zero() || value > MAX_TIMEOUT {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "ApiConfig::{field} must be over zero and at most a day, not {value:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The same, with admin actions allowed to holders of `token`.
    pub fn with_admin(mut self, token: AdminToken) -> Self {
        self.admin_token = Some(token);
        self
    }
}

/// What the API answers from.
struct Api {
    node: Arc<PoolNode>,
    hosts: Vec<String>,
    admin_token: Option<AdminToken>,
    /// One permit per open event stream.
    streams: Arc<Semaphore>,
    /// Set when the server shuts down: event streams end.
    closing: watch::Sender<bool>,
    /// How long a request's body may take to arrive.
    body_read_timeout: Duration,
}

/// An error answer: a status and a JSON body `{"error": ...}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn not_found(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what.into())
}

fn bad_request(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what.into())
}

/// The `Host` values a server bound to `addr` answers: its address, and
/// `localhost` on its port when it is a loopback address.
pub fn default_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.extend([
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The API's routes for `node`, answering as `config` says. Their event
/// streams end when the node stops; [`serve`] also ends them when the
/// server shuts down. A program serving the routes with its own server
/// takes [`router_with_closer`] to end them at its shutdown.
///
/// # Errors
///
/// `InvalidInput`, naming the field, when `config.body_read_timeout` is
/// zero or over [`MAX_TIMEOUT`] (the header-read and write timeouts are
/// [`serve`]'s, unused here).
pub fn router(node: Arc<PoolNode>, config: ApiConfig) -> std::io::Result<Router> {
    config.check_timeouts()?;
    Ok(app(node, config).0)
}

/// [`router`], and what ends its event streams: call
/// [`StreamCloser::close`] when the server serving the routes shuts down,
/// so its graceful shutdown does not wait on them.
///
/// # Errors
///
/// As [`router`].
pub fn router_with_closer(
    node: Arc<PoolNode>,
    config: ApiConfig,
) -> std::io::Result<(Router, StreamCloser)> {
    config.check_timeouts()?;
    let (router, api) = app(node, config);
    Ok((router, StreamCloser(api.closing.clone())))
}

/// Ends the event streams of a [`router_with_closer`]'s routes.
#[derive(Debug, Clone)]
pub struct StreamCloser(watch::Sender<bool>);

impl StreamCloser {
    /// Ends every open event stream; streams opened later end at once.
    pub fn close(&self) {
        self.0.send_replace(true);
    }
}

/// The routes, and what ends their event streams.
fn app(node: Arc<PoolNode>, config: ApiConfig) -> (Router, Arc<Api>) {
    let api = Arc::new(Api {
        node,
        hosts: config
            .hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        admin_token: config.admin_token,
        streams: Arc::new(Semaphore::new(config.max_event_streams)),
        closing: watch::channel(false).0,
        body_read_timeout: config.body_read_timeout,
    });
    let router = Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard.css", get(dashboard::style))
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(json::health))
        .route("/api/v1/pools", get(json::pools))
        .route("/api/v1/pool/{id}", get(json::pool))
        .route("/api/v1/miner/{address}", get(json::miner))
        .route("/api/v1/blocks", get(json::blocks))
        .route("/api/v1/payouts/current", get(json::current_payouts))
        .route("/api/v1/peers", get(json::peers))
        .route("/api/v1/network", get(json::network))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/admin/republish", post(admin::republish))
        .route("/api/v1/admin/follow", post(admin::follow))
        .fallback(|| async { not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: admin actions are POST, everything else GET".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            read_body_in_time,
        ))
        .layer(middleware::from_fn_with_state(api.clone(), check_host))
        .layer(middleware::from_fn(security_headers))
        .with_state(api.clone());
    (router, api)
}

/// Reads a request's body whole, at most [`MAX_BODY_BYTES`], within
/// the configured time (`ApiConfig::body_read_timeout`), before any
/// handler runs: a client sending its body slowly cannot hold a
/// connection (the header-read timeout covers only the head). A request
/// without a body passes as it is; one announcing too large a body is
/// refused before it is read.
async fn read_body_in_time(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let hint = axum::body::HttpBody::size_hint(request.body());
    if hint.exact() == Some(0) {
        return next.run(request).await;
    }
    if hint.lower() > MAX_BODY_BYTES as u64 {
        return too_large().into_response();
    }
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(api.body_read_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return too_large().into_response();
        }
        Ok(Err(e)) => return bad_request(format!("request body unreadable: {e}")).into_response(),
        Err(_) => {
            return ApiError(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time".into(),
            )
            .into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn too_large() -> ApiError {
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {MAX_BODY_BYTES} bytes"),
    )
}

/// Headers every answer carries: no sniffing, no framing, no referrer,
/// and a page that loads only its own scripts and styles.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    response
}

/// Refuses a request whose `Host` the API was not bound for (DNS
/// rebinding), or that a browser says another site made, before any
/// handler runs.
async fn check_host(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !api.hosts.contains(&host) {
        return ApiError(StatusCode::MISDIRECTED_REQUEST, "host not allowed".into())
            .into_response();
    }
    // A page of another site may still name the right host (an image, a
    // no-cors fetch): browsers say where a request came from.
    let site = request
        .headers()
        .get("sec-fetch-site")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("none");
    if site == "cross-site" || site == "same-site" {
        return ApiError(
            StatusCode::FORBIDDEN,
            "cross-site requests are refused".into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// The node's metrics and libp2p's, in Prometheus' text format.
async fn metrics(State(api): State<Arc<Api>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.node.metrics_text(),
    )
        .into_response()
}
