//! A [`SyntheticChain`] served over the subset of Bitcoin Core's JSON-RPC a
//! [`CoreWork`](chiral_bitcoind::CoreWork) uses (`getblockchaininfo`,
//! `getbestblockhash`, `getblocktemplate`, `submitblock`, and `getblock
//! HASH 0`), so several node processes mine one chain, exactly as they
//! would mine Bitcoin Core's. No credentials: bind it to loopback.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chiral_pool_core::chain::{SyntheticChain, WorkSource};
use chiral_pool_core::payout::AddressNetwork;
use chiral_pool_core::pow::{sha256d, BlockHeader, Hash256, Target};
use chiral_pool_core::share::coinbase::ParsedCoinbase;
use serde_json::{json, Value};

/// Submitted blocks kept for `getblock`.
const MAX_BLOCKS: usize = 4_096;

/// Submitted blocks by hash, and their order (for the bound).
type Stored = (HashMap<Hash256, Vec<u8>>, VecDeque<Hash256>);

/// The served chain and the blocks submitted to it.
pub struct ChainRpc {
    chain: Arc<SyntheticChain>,
    network: AddressNetwork,
    blocks: Mutex<Stored>,
}

fn display(hash: &Hash256) -> String {
    let mut shown = *hash;
    shown.reverse();
    hex::encode(shown)
}

fn error(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

impl ChainRpc {
    /// Serves `chain`, reporting `network`'s chain name (the address
    /// format of the pools mining it).
    pub fn new(chain: Arc<SyntheticChain>, network: AddressNetwork) -> Arc<Self> {
        Arc::new(ChainRpc {
            chain,
            network,
            blocks: Mutex::default(),
        })
    }

    /// The routes (one: `POST /`).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", post(handle))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    fn call(&self, method: &str, params: &Value) -> Result<Value, Value> {
        let tip = *self.chain.tip().borrow();
        match method {
            "getblockchaininfo" => Ok(json!({
                "chain": self.network.core_chain(),
                "blocks": tip.height.saturating_sub(1),
                "bestblockhash": display(&tip.prev_hash),
                "initialblockdownload": false,
                "verificationprogress": 1.0,
            })),
            "getbestblockhash" => Ok(json!(display(&tip.prev_hash))),
            "getblocktemplate" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let target =
                    Target::from_compact(tip.bits).map_err(|e| error(-1, &e.to_string()))?;
                Ok(json!({
                    "version": 0x2000_0000,
                    "rules": [],
                    "previousblockhash": display(&tip.prev_hash),
                    "transactions": [],
                    "coinbasevalue": self.chain.reward(),
                    "longpollid": display(&tip.prev_hash),
                    "target": display(&target.to_le_bytes()),
                    "mintime": 0,
                    "curtime": now,
                    "bits": format!("{:08x}", tip.bits.to_consensus()),
                    "height": tip.height,
                    "weightlimit": 4_000_000,
                    "sigoplimit": 80_000,
                }))
            }
            "submitblock" => {
                let hex_block = params.get(0).and_then(Value::as_str).unwrap_or_default();
                let bytes =
                    hex::decode(hex_block).map_err(|_| error(-22, "Block decode failed"))?;
                Ok(self.submit(bytes))
            }
            "getblock" => {
                let hash = params
                    .get(0)
                    .and_then(Value::as_str)
                    .and_then(|h| {
                        let mut out = [0u8; 32];
                        hex::decode_to_slice(h, &mut out).ok()?;
                        out.reverse();
                        Some(out)
                    })
                    .ok_or_else(|| error(-8, "blockhash must be 64 hex digits"))?;
                if params.get(1).and_then(Value::as_u64) != Some(0) {
                    return Err(error(-8, "only verbosity 0 (raw hex) is served"));
                }
                let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
                blocks
                    .0
                    .get(&hash)
                    .map(|b| json!(hex::encode(b)))
                    .ok_or_else(|| error(-5, "Block not found"))
            }
            _ => Err(error(-32601, "Method not found")),
        }
    }

    /// `submitblock`: `null` when accepted, else Bitcoin Core's reason.
    fn submit(&self, bytes: Vec<u8>) -> Value {
        let Some(header) = bytes.get(..80).and_then(BlockHeader::from_slice) else {
            return json!("rejected");
        };
        // A synthetic block holds its coinbase alone.
        if bytes.get(80) != Some(&1) {
            return json!("bad-txns");
        }
        let coinbase = &bytes[81..];
        if ParsedCoinbase::parse(coinbase).is_err() {
            return json!("bad-cb-missing");
        }
        if sha256d(coinbase) != *header.merkle_root() {
            return json!("bad-txnmrklroot");
        }
        let hash = header.hash();
        if self.chain.next_height(&hash).is_some() {
            return json!("duplicate");
        }
        if self.chain.next_height(header.prev_hash()).is_none() {
            return json!("prev-blk-not-found");
        }
        if !self.chain.block_found(&header, coinbase) && self.chain.next_height(&hash).is_none() {
            return json!("high-hash");
        }
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        blocks.0.insert(hash, bytes);
        blocks.1.push_back(hash);
        while blocks.1.len() > MAX_BLOCKS {
            if let Some(old) = blocks.1.pop_front() {
                blocks.0.remove(&old);
            }
        }
        Value::Null
    }
}

async fn handle(State(rpc): State<Arc<ChainRpc>>, Json(body): Json<Value>) -> Json<Value> {
    let method = body
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = body.get("params").cloned().unwrap_or(Value::Null);
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    match rpc.call(method, &params) {
        Ok(result) => Json(json!({"result": result, "error": null, "id": id})),
        Err(error) => Json(json!({"result": null, "error": error, "id": id})),
    }
}

/// Binds `addr` and serves `chain` until `shutdown`; the bound address.
pub async fn spawn(
    chain: Arc<SyntheticChain>,
    network: AddressNetwork,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let rpc = ChainRpc::new(chain, network);
    let task = tokio::spawn(async move { rpc.serve(listener, shutdown).await });
    Ok((bound, task))
}
