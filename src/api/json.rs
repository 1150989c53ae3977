//! The read-only JSON endpoints under `/api/v1`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::pow::{Difficulty, Target};
use chiral_stratum::server::{RejectReason, HASHRATE_WINDOWS_SECS};
use serde_json::{json, Value};

use super::{
    bad_request, not_found, Api, ApiError, MAX_BLOCKS_SHOWN, MAX_PEERS_SHOWN, RECENT_LINKS,
};
use crate::node::miner_of;
use crate::node::ByWindow;

/// Most workers listed for one miner.
const MAX_WORKERS_SHOWN: usize = 256;
/// Most miners listed by `pool/<id>` (the busiest over 15 minutes).
const MAX_MINERS_SHOWN: usize = 50;

pub(super) async fn health(State(api): State<Arc<Api>>) -> Json<Value> {
    let node = &api.node;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "peer_id": node.store.peer_id().to_string(),
        "peers": node.store.peer_count(),
        "pool": node.pool().map(|p| p.to_hex()),
    }))
}

pub(super) async fn pools(State(api): State<Arc<Api>>) -> Json<Value> {
    let followed = api.node.pool();
    let own_key = api.node.manager.local_key();
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
                // The node's cache holds what it announced and what it
                // read from the DHT; nothing else fills it.
                "source": if a.owner == own_key { "announced" } else { "dht" },
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

pub(super) fn parse_pool(id: &str) -> Result<PoolId, ApiError> {
    PoolId::from_hex(id).ok_or_else(|| bad_request("a pool id is 64 hex digits"))
}

/// One miner's workers on this node, summed.
#[derive(Default)]
struct MinerTotals {
    shares: u64,
    workers: usize,
    /// Hashes per second over the four windows.
    rates: [f64; 4],
}

pub(super) async fn pool(
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
            body["hashrate"] = json!(ByWindow(keeper.chain_hashrate(now, HASHRATE_WINDOWS_SECS)));
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
            let mut miners: BTreeMap<String, MinerTotals> = BTreeMap::new();
            let workers = stats.fold_workers(0usize, |n, name, w| {
                let rates = w.rates.rates(now_ms);
                let totals = match miners.get_mut(miner_of(name)) {
                    Some(totals) => totals,
                    None => miners.entry(miner_of(name).to_owned()).or_default(),
                };
                totals.shares += w.shares;
                totals.workers += 1;
                for (sum, rate) in totals.rates.iter_mut().zip(rates) {
                    *sum += rate;
                }
                n + 1
            });
            // The busiest by their 15 minute hashrate.
            let mut top: Vec<(&String, &MinerTotals)> = miners.iter().collect();
            top.sort_by(|a, b| b.1.rates[1].total_cmp(&a.1.rates[1]).then(a.0.cmp(b.0)));
            top.truncate(MAX_MINERS_SHOWN);
            let top: Vec<Value> = top
                .into_iter()
                .map(|(miner, t)| {
                    json!({"miner": miner, "shares": t.shares, "workers": t.workers, "hashrate": ByWindow(t.rates)})
                })
                .collect();
            body["stratum"] = json!({
                "address": addr.to_string(),
                "connections": stats.connections_open.load(Ordering::Relaxed),
                "miners": miners.len(),
                "workers": workers,
                "hashrate": ByWindow(stats.hashrate()),
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

pub(super) async fn miner(
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
                "hashrate": ByWindow(w.rates.rates(now_ms)),
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
pub(super) struct BlocksQuery {
    limit: Option<usize>,
}

pub(super) async fn blocks(
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

pub(super) async fn current_payouts(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
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

pub(super) async fn peers(State(api): State<Arc<Api>>) -> Result<Json<Value>, ApiError> {
    let store = &api.node.store;
    let listed = store.peers(MAX_PEERS_SHOWN).await.map_err(|e| {
        ApiError(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("the DHT node does not answer: {e}"),
        )
    })?;
    let listed: Vec<Value> = listed
        .iter()
        .map(|p| {
            json!({
                "peer_id": p.peer_id.to_string(),
                "addresses": p.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "connected": p.connected,
            })
        })
        .collect();
    Ok(Json(json!({
        "peer_id": store.peer_id().to_string(),
        "peers": store.peer_count(),
        "listening": store.dial_addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "routing_table": listed,
    })))
}

pub(super) async fn network(State(api): State<Arc<Api>>) -> Json<Value> {
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
