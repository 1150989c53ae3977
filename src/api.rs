//! The node's HTTP API: read-only JSON under `/api/v1`, for operators and
//! miners (`node --http 127.0.0.1:8080`).
//!
//! A local API is reachable by any web page the operator opens, through
//! DNS rebinding; so every request's `Host` must be one the API was
//! bound for (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, or hosts
//! given explicitly), and no CORS header is ever sent. Bad input is a
//! JSON error (400 for a malformed id, 404 for an unknown one), never a
//! panic; every answer is built from bounded state the node already
//! keeps, so no request can grow memory or wait on the network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::manager::Source;
use chiral_pool_core::pow::{Difficulty, Target};
use chiral_stratum::server::RejectReason;
use serde_json::{json, Value};

use crate::node::PoolNode;

/// Most workers listed for one miner.
const MAX_WORKERS_SHOWN: usize = 256;

/// What the API answers from.
struct Api {
    node: Arc<PoolNode>,
    hosts: Vec<String>,
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

/// The API's routes for `node`, answering only requests whose `Host` is
/// one of `hosts`.
pub fn router(node: Arc<PoolNode>, hosts: Vec<String>) -> Router {
    let api = Arc::new(Api { node, hosts });
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/pools", get(pools))
        .route("/api/v1/pool/{id}", get(pool))
        .route("/api/v1/miner/{address}", get(miner))
        .route("/api/v1/blocks", get(blocks))
        .route("/api/v1/payouts/current", get(current_payouts))
        .route("/api/v1/peers", get(peers))
        .route("/api/v1/network", get(network))
        .fallback(|| async { not_found("no such endpoint") })
        .layer(middleware::from_fn_with_state(api.clone(), check_host))
        .with_state(api)
}

/// Refuses a request whose `Host` the API was not bound for (DNS
/// rebinding), before any handler runs.
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
    next.run(request).await
}

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(
    node: Arc<PoolNode>,
    listener: tokio::net::TcpListener,
    extra_hosts: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut hosts = default_hosts(listener.local_addr()?);
    hosts.extend(extra_hosts.into_iter().map(|h| h.to_ascii_lowercase()));
    axum::serve(listener, router(node, hosts))
        .with_graceful_shutdown(shutdown)
        .await
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
            })
        })
        .collect();
    Json(json!({ "pools": list }))
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
        if let Some((addr, stats)) = node.stratum() {
            let workers = stats.workers();
            let rejected: BTreeMap<&str, u64> = RejectReason::ALL
                .iter()
                .map(|r| (r.name(), stats.rejected(*r)))
                .collect();
            let miners: std::collections::BTreeSet<&str> = workers
                .iter()
                .map(|(w, _)| w.split_once('.').map_or(w.as_str(), |(a, _)| a))
                .collect();
            body["stratum"] = json!({
                "address": addr.to_string(),
                "connections": stats.connections_open.load(std::sync::atomic::Ordering::Relaxed),
                "miners": miners.len(),
                "workers": workers.len(),
                "hashrate": workers.iter().map(|(_, w)| w.hashrate()).sum::<u128>().to_string(),
                "shares_accepted": stats.accepted.load(std::sync::atomic::Ordering::Relaxed),
                "shares_rejected": rejected,
                "blocks_found": stats.blocks.load(std::sync::atomic::Ordering::Relaxed),
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
    let workers: Vec<Value> = node
        .stratum()
        .map(|(_, stats)| stats.workers())
        .unwrap_or_default()
        .into_iter()
        .filter(|(w, _)| w.split_once('.').map_or(w.as_str(), |(a, _)| a) == id.as_str())
        .take(MAX_WORKERS_SHOWN)
        .map(|(name, w)| {
            json!({
                "worker": name,
                "shares": w.shares,
                "hashrate": w.hashrate().to_string(),
                "last_share_ms": w.last_ms,
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
    if workers.is_empty() && paid.is_empty() && next == 0 {
        return Err(not_found("no work or payout for this payout id here"));
    }
    Ok(Json(json!({
        "payout_id": id.as_str(),
        "workers": workers,
        "next_block_estimate_atoms": next,
        "paid": paid,
    })))
}

async fn blocks(State(api): State<Arc<Api>>) -> Json<Value> {
    let list: Vec<Value> = api
        .node
        .blocks()
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
    Json(json!({ "blocks": list }))
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
