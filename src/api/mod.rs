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
//! DHT). Connections, event streams and request bodies are capped.

mod admin;
mod dashboard;
mod events;
mod listener;

pub use admin::{AdminToken, TOKEN_FILE};
pub use listener::CappedListener;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::manager::Source;
use chiral_pool_core::pow::{Difficulty, Target};
use chiral_stratum::server::{RejectReason, HASHRATE_WINDOWS_SECS};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::metrics::WINDOW_LABELS;
use crate::node::{miner_of, PoolNode};

/// Connections the API serves at once by default; more wait in the
/// listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Event streams open at once by default; more are answered 503.
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 16;
/// Largest request body (admin actions' JSON).
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// How long [`serve`] waits for open requests after its shutdown.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Links of the best chain listed by `pool/<id>`.
pub const RECENT_LINKS: usize = 20;

/// Most workers listed for one miner.
const MAX_WORKERS_SHOWN: usize = 256;
/// Most blocks `/blocks` lists (the newest).
pub const MAX_BLOCKS_SHOWN: usize = 1_000;
/// Most miners listed by `pool/<id>` (the busiest over 15 minutes).
const MAX_MINERS_SHOWN: usize = 50;

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
        }
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
/// server shuts down (a program serving this router itself should stop
/// the node, or drop the connections, to end them).
pub fn router(node: Arc<PoolNode>, config: ApiConfig) -> Router {
    app(node, config).0
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
    });
    let router = Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard.css", get(dashboard::style))
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/pools", get(pools))
        .route("/api/v1/pool/{id}", get(pool))
        .route("/api/v1/miner/{address}", get(miner))
        .route("/api/v1/blocks", get(blocks))
        .route("/api/v1/payouts/current", get(current_payouts))
        .route("/api/v1/peers", get(peers))
        .route("/api/v1/network", get(network))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/admin/republish", post(admin::republish))
        .route("/api/v1/admin/follow", post(admin::follow))
        .fallback(|| async { not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here (admin actions are POST)".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(api.clone(), check_host))
        .layer(middleware::from_fn(security_headers))
        .with_state(api.clone());
    (router, api)
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

/// Serves the API on `listener` until `shutdown`, at most
/// `config.max_connections` connections at once. At `shutdown` the event
/// streams end and open requests get [`SHUTDOWN_GRACE`] to finish; then
/// it returns, whatever a stalled client still holds.
pub async fn serve(
    node: Arc<PoolNode>,
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = CappedListener::new(listener, config.max_connections);
    let (router, api) = app(node, config);
    let mut closing = api.closing.subscribe();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        api.closing.send_replace(true);
    });
    tokio::select! {
        served = server => served,
        _ = async {
            let _ = closing.wait_for(|c| *c).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
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

/// Hashrates by window label (`1m`, `15m`, `1h`, `24h`), hashes per
/// second.
fn by_window(rates: [f64; 4]) -> Value {
    let map: serde_json::Map<String, Value> = WINDOW_LABELS
        .iter()
        .zip(rates)
        .map(|(label, rate)| ((*label).to_owned(), json!(rate.round())))
        .collect();
    Value::Object(map)
}

async fn health(State(api): State<Arc<Api>>) -> Json<Value> {
    let node = &api.node;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "peer_id": node.store.peer_id().to_string(),
        "peers": node.store.peer_count(),
        "pool": node.pool().map(|p| p.to_hex()),
    }))
}

async fn pools(State(api): State<Arc<Api>>) -> Json<Value> {
    let followed = api.node.pool();
    let list: Vec<Value> = api
        .node
        .manager
        .list_local_pools()
        .into_iter()
        .map(|p| {
            let a = &p.announcement;
            json!({
                "id": a.id.to_hex(),
                "name": a.name,
                "stratum_url": a.stratum_url,
                "fee_bps": a.fee.bps(),
                "owner": a.owner.to_hex(),
                "source": match p.source { Source::Network => "dht", Source::Cache => "cache" },
                "p2p": true,
                "followed": Some(a.id) == followed,
                "chain": chain_params(&a.chain),
            })
        })
        .collect();
    Json(json!({ "pools": list }))
}

/// The share chain rules a pool runs by, as the API shows them.
fn chain_params(p: &chiral_pool_core::sharechain::ChainParams) -> Value {
    let payouts = match p.coinbase_rules() {
        Some(rules) => {
            json!({"mode": "coinbase", "network": rules.network.to_string(), "owner": rules.owner.as_str()})
        }
        None => json!({"mode": "ledger"}),
    };
    json!({
        "link_spacing_secs": p.target_spacing_secs,
        "window_bps": p.window.bps(),
        "max_window_links": p.max_window_links,
        "uncle_depth": p.uncle_depth,
        "uncle_share_bps": p.uncle_share.bps(),
        "fee_bps": p.fee.bps(),
        "finder_bonus_bps": p.finder_bonus.bps(),
        "payouts": payouts,
    })
}

fn parse_pool(id: &str) -> Result<PoolId, ApiError> {
    PoolId::from_hex(id).ok_or_else(|| bad_request("a pool id is 64 hex digits"))
}

async fn pool(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_pool(&id)?;
    let node = &api.node;
    let known = node
        .manager
        .list_local_pools()
        .into_iter()
        .find(|p| p.announcement.id == id);
    let followed = node.pool() == Some(id);
    if known.is_none() && !followed {
        return Err(not_found("pool not known to this node"));
    }
    let mut body = json!({
        "id": id.to_hex(),
        "name": known.as_ref().map(|p| p.announcement.name.clone()),
        "followed": followed,
    });
    if followed {
        let chain = node.chain_status();
        body["chain"] = json!({
            "height": chain.height,
            "tip": chain.tip.map(|t| t.to_hex()),
            "links": chain.links,
            "pending": chain.pending,
            "uncles": chain.uncles,
            "links_verified": chain.verified,
            "links_refused": chain.rejected,
        });
        body["payouts"] = match node.coinbase_rules() {
            Some(rules) => json!({"mode": "coinbase", "network": rules.network.to_string()}),
            None => json!({"mode": "ledger"}),
        };
        body["blocks_settled"] = json!(node.blocks().len());
        if let Some(keeper) = node.links() {
            let now = node.config().clock.now();
            body["hashrate"] = by_window(keeper.chain_hashrate(now, HASHRATE_WINDOWS_SECS));
            body["recent_links"] = json!(keeper.recent_links(RECENT_LINKS));
        }
        if let Some((addr, stats)) = node.stratum() {
            let now_ms = stats.now_ms();
            let rejected: BTreeMap<&str, u64> = RejectReason::ALL
                .iter()
                .map(|r| (r.name(), stats.rejected(*r)))
                .collect();
            // One pass under the server's lock; a miner's name is copied
            // once, not per worker.
            let mut miners: BTreeMap<String, (u64, usize, f64)> = BTreeMap::new();
            let workers = stats.fold_workers(0usize, |n, name, w| {
                let miner = miner_of(name);
                let rate = w.rates.rates(now_ms)[1];
                match miners.get_mut(miner) {
                    Some(m) => *m = (m.0 + w.shares, m.1 + 1, m.2 + rate),
                    None => {
                        miners.insert(miner.to_owned(), (w.shares, 1, rate));
                    }
                }
                n + 1
            });
            let mut top: Vec<(&str, (u64, usize, f64))> =
                miners.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            top.sort_by(|a, b| b.1 .2.total_cmp(&a.1 .2).then(a.0.cmp(b.0)));
            top.truncate(MAX_MINERS_SHOWN);
            let top: Vec<Value> = top
                .into_iter()
                .map(|(miner, (shares, workers, rate))| {
                    json!({"miner": miner, "shares": shares, "workers": workers, "hashrate_15m": rate.round()})
                })
                .collect();
            body["stratum"] = json!({
                "address": addr.to_string(),
                "connections": stats.connections_open.load(Ordering::Relaxed),
                "miners": miners.len(),
                "workers": workers,
                "hashrate": by_window(stats.hashrate()),
                "history": node.watch.history(),
                "shares_accepted": stats.accepted.load(Ordering::Relaxed),
                "shares_rejected": rejected,
                "blocks_found": stats.blocks.load(Ordering::Relaxed),
                "top_miners": top,
            });
        }
    }
    Ok(Json(body))
}

async fn miner(
    State(api): State<Arc<Api>>,
    Path(address): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = PayoutId::new(address.as_str())
        .map_err(|_| bad_request("a payout id is 1 to 64 letters, digits, '_', '-' or ':'"))?;
    let node = &api.node;
    let now_ms = node.stratum().map_or(0, |(_, stats)| stats.now_ms());
    let workers: Vec<Value> = node
        .stratum()
        .map(|(_, stats)| stats.workers_of(id.as_str()))
        .unwrap_or_default()
        .into_iter()
        .take(MAX_WORKERS_SHOWN)
        .map(|(name, w)| {
            json!({
                "worker": name,
                "shares": w.shares,
                "hashrate": by_window(w.rates.rates(now_ms)),
                "last_share_secs_ago": now_ms.saturating_sub(w.last_ms) / 1000,
            })
        })
        .collect();
    let paid: Vec<Value> = node
        .blocks()
        .iter()
        .filter_map(|b| {
            let atoms = b.settlement.amount_for(&id);
            (atoms > 0)
                .then(|| json!({"height": b.height, "link": b.link.to_hex(), "atoms": atoms}))
        })
        .collect();
    let next = node
        .links()
        .and_then(|k| k.current_split())
        .map_or(0, |s| s.amount_for(&id));
    let window = node.links().and_then(|k| k.current_window());
    let weight = window.as_ref().map_or(0, |w| {
        w.weights
            .binary_search_by(|(p, _)| p.cmp(&id))
            .map_or(0, |i| w.weights[i].1)
    });
    if workers.is_empty() && paid.is_empty() && next == 0 && weight == 0 {
        return Err(not_found("no work or payout for this payout id here"));
    }
    Ok(Json(json!({
        "payout_id": id.as_str(),
        "workers": workers,
        "window": {
            "weight": weight.to_string(),
            "total": window
                .as_ref()
                .map_or(0, |w| w.weights.iter().map(|(_, x)| *x).sum::<u128>())
                .to_string(),
            "links": window.as_ref().map_or(0, |w| w.links),
        },
        "next_block_estimate_atoms": next,
        "paid": paid,
    })))
}

/// `?limit=N` of `/blocks`: the newest N (default and most:
/// [`MAX_BLOCKS_SHOWN`]).
#[derive(Debug, serde::Deserialize)]
struct BlocksQuery {
    limit: Option<usize>,
}

async fn blocks(
    State(api): State<Arc<Api>>,
    query: Result<axum::extract::Query<BlocksQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(query) = query.map_err(|e| bad_request(format!("bad query: {e}")))?;
    let limit = query
        .limit
        .unwrap_or(MAX_BLOCKS_SHOWN)
        .min(MAX_BLOCKS_SHOWN);
    let all = api.node.blocks();
    let list: Vec<Value> = all[all.len().saturating_sub(limit)..]
        .iter()
        .map(|b| {
            let outputs: Vec<Value> = b
                .outputs
                .iter()
                .map(|(address, atoms)| json!({"address": address, "atoms": atoms}))
                .collect();
            let split: Vec<Value> = b
                .settlement
                .payouts
                .iter()
                .map(|(id, atoms)| json!({"payout_id": id.as_str(), "atoms": atoms}))
                .collect();
            json!({
                "height": b.height,
                "link": b.link.to_hex(),
                "finder": b.finder.as_str(),
                "reward": b.settlement.reward,
                "window_links": b.window_links,
                "coinbase_outputs": outputs,
                "outputs_agree": b.outputs_agree,
                "split": split,
            })
        })
        .collect();
    Ok(Json(json!({ "blocks": list, "settled": all.len() })))
}

async fn current_payouts(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let split = api
        .node
        .links()
        .and_then(|k| k.current_split())
        .ok_or_else(|| not_found("no window is known yet"))?;
    let payouts: Vec<Value> = split
        .payouts
        .iter()
        .map(|(id, atoms)| json!({"payout_id": id.as_str(), "atoms": atoms}))
        .collect();
    Ok(Json(json!({
        "reward": split.reward,
        "fee": split.fee,
        "payouts": payouts,
    })))
}

async fn peers(State(api): State<Arc<Api>>) -> Json<Value> {
    let store = &api.node.store;
    Json(json!({
        "peer_id": store.peer_id().to_string(),
        "peers": store.peer_count(),
        "listening": store.dial_addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    }))
}

async fn network(State(api): State<Arc<Api>>) -> Json<Value> {
    let tip = *api.node.chain.tip().borrow();
    let mut shown = tip.prev_hash;
    shown.reverse();
    let difficulty = Target::from_compact(tip.bits)
        .map(|t| Difficulty::from_target(&t).as_f64())
        .ok();
    Json(json!({
        "height": tip.height.saturating_sub(1),
        "best_block": hex::encode(shown),
        "bits": format!("{:08x}", tip.bits.to_consensus()),
        "difficulty": difficulty,
    }))
}
