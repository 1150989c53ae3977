//! [`CoreWork`]: a [`WorkSource`] on a Bitcoin Core node. A task polls the
//! node's best block and refreshes the template; jobs are assembled from
//! the latest template without waiting on the node; a found block is
//! rebuilt from the job it solved and submitted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use chiral_pool_core::chain::{Tip, WorkError, WorkSource};
use chiral_pool_core::payout::{is_standard_payout, paying_outputs, AddressNetwork, CoinbasePlan};
use chiral_pool_core::pow::{merkle_root_from_branch, sha256d, BlockHeader, Hash256};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::WorkTemplate;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::assemble::{block_bytes, build, room, TxSet};
use crate::rpc::{BitcoinRpc, RpcError};
use crate::template::{BlockTemplate, TemplateError};

/// Jobs' transaction sets remembered for rebuilding a found block.
const MAX_PREPARED: usize = 64;
/// Block hashes whose height is remembered.
const MAX_HEIGHTS: usize = 4_096;

/// Settings of a [`CoreWork`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// The network the pool pays addresses of: the node must be on it.
    pub network: AddressNetwork,
    /// How often the node's best block is polled. Default: 1 s.
    pub poll: Duration,
    /// How often the template is refreshed on the same tip (new fees).
    /// Default: 30 s.
    pub refresh: Duration,
}

impl CoreConfig {
    /// The defaults for a pool on `network`.
    pub fn new(network: AddressNetwork) -> Self {
        CoreConfig {
            network,
            poll: Duration::from_secs(1),
            refresh: Duration::from_secs(30),
        }
    }
}

/// Why a [`CoreWork`] did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The template did not read.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The node is on another network than the pool.
    #[error("bitcoin core is on `{node}`, the pool pays {pool} addresses (chain `{}`)", pool.core_chain())]
    WrongNetwork {
        /// What `getblockchaininfo` says.
        node: String,
        /// The pool's network.
        pool: AddressNetwork,
    },
}

/// A job's transaction set on one template: what every job with the same
/// room shares, and what turns a solved header and coinbase back into a
/// block.
struct Prepared {
    template: Arc<BlockTemplate>,
    txs: Arc<TxSet>,
}

/// A work source on a Bitcoin Core node (or anything that answers its
/// RPC subset: `getblockchaininfo`, `getbestblockhash`, `getblocktemplate`,
/// `submitblock`).
pub struct CoreWork {
    rpc: BitcoinRpc,
    config: CoreConfig,
    tip: watch::Sender<Tip>,
    template: RwLock<Arc<BlockTemplate>>,
    prepared: Mutex<VecDeque<Prepared>>,
    heights: Mutex<Heights>,
    wake: Arc<Notify>,
}

/// Heights of known blocks by hash, and their order (for the bound).
type Heights = (HashMap<Hash256, u32>, VecDeque<Hash256>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads `getblocktemplate` with the segwit rule.
pub async fn fetch_template(rpc: &BitcoinRpc) -> Result<BlockTemplate, CoreError> {
    let reply = rpc
        .call("getblocktemplate", json!([{"rules": ["segwit"]}]))
        .await?;
    Ok(BlockTemplate::from_json(&reply)?)
}

/// Checks that the node is on `network` and not syncing.
pub async fn check_node(rpc: &BitcoinRpc, network: AddressNetwork) -> Result<(), CoreError> {
    let info = rpc.call("getblockchaininfo", json!([])).await?;
    let chain = info
        .get("chain")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::Malformed {
            method: "getblockchaininfo".into(),
            reason: "no `chain`".into(),
        })?;
    if AddressNetwork::from_core_chain(chain) != Some(network) {
        return Err(CoreError::WrongNetwork {
            node: chain.to_owned(),
            pool: network,
        });
    }
    if info.get("initialblockdownload").and_then(Value::as_bool) == Some(true) {
        let progress = info
            .get("verificationprogress")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        return Err(RpcError::Syncing(format!("{:.2} % verified", progress * 100.0)).into());
    }
    Ok(())
}

impl CoreWork {
    /// Connects: checks the node's network and sync state, reads a first
    /// template, and starts the task that follows the node's tip (it
    /// stops when the source is dropped).
    pub async fn connect(rpc: BitcoinRpc, config: CoreConfig) -> Result<Arc<Self>, CoreError> {
        check_node(&rpc, config.network).await?;
        let template = fetch_template(&rpc).await?;
        let (tip, _) = watch::channel(Tip {
            prev_hash: template.prev_hash,
            bits: template.bits,
            height: template.height,
        });
        let source = Arc::new(CoreWork {
            rpc,
            config,
            tip,
            template: RwLock::new(Arc::new(template.clone())),
            prepared: Mutex::new(VecDeque::new()),
            heights: Mutex::default(),
            wake: Arc::new(Notify::new()),
        });
        source.remember_height(template.prev_hash, template.height);
        info!(
            url = source.rpc.url(),
            height = template.height,
            txs = template.transactions.len(),
            "work source ready"
        );
        tokio::spawn(follow(Arc::downgrade(&source)));
        Ok(source)
    }

    /// The latest template.
    pub fn current(&self) -> Arc<BlockTemplate> {
        self.template
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember_height(&self, hash: Hash256, height: u32) {
        let mut heights = lock(&self.heights);
        if heights.0.insert(hash, height).is_none() {
            heights.1.push_back(hash);
        }
        while heights.1.len() > MAX_HEIGHTS {
            if let Some(old) = heights.1.pop_front() {
                heights.0.remove(&old);
            }
        }
    }

    fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Installs a new template; a new tip is announced.
    fn install(&self, template: BlockTemplate) {
        let new_tip = Tip {
            prev_hash: template.prev_hash,
            bits: template.bits,
            height: template.height,
        };
        self.remember_height(template.prev_hash, template.height);
        let prev_hash = template.prev_hash;
        *self.template.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(template);
        // Jobs on an older tip can no longer make a block: their templates
        // (megabytes each) go.
        lock(&self.prepared).retain(|p| p.template.prev_hash == prev_hash);
        if *self.tip.borrow() != new_tip {
            self.tip.send_replace(new_tip);
        }
    }
}

/// Follows the node: polls its best block, refreshes the template, and
/// submits found blocks.
async fn follow(source: Weak<CoreWork>) {
    let mut since_refresh = Duration::ZERO;
    loop {
        let Some(s) = source.upgrade() else { return };
        let (poll, refresh, rpc) = (s.config.poll, s.config.refresh, s.rpc.clone());
        let woken = async {
            s.wake.notified().await;
        };
        tokio::select! {
            _ = tokio::time::sleep(poll) => since_refresh += poll,
            _ = woken => {}
        }
        let current = s.current().prev_hash;
        drop(s);
        let best = match rpc.call("getbestblockhash", json!([])).await {
            Ok(Value::String(hash)) => hash,
            Ok(other) => {
                warn!(reply = %other, "getbestblockhash gave no hash");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "polling the node failed");
                continue;
            }
        };
        let mut shown = current;
        shown.reverse();
        if best == hex::encode(shown) && since_refresh < refresh {
            continue;
        }
        match fetch_template(&rpc).await {
            Ok(template) => {
                since_refresh = Duration::ZERO;
                debug!(height = template.height, "new template");
                match source.upgrade() {
                    Some(s) => s.install(template),
                    None => return,
                }
            }
            Err(e) => warn!(error = %e, "getblocktemplate failed"),
        }
    }
}

async fn submit(rpc: &BitcoinRpc, block: Vec<u8>) {
    match rpc.call("submitblock", json!([hex::encode(&block)])).await {
        Ok(Value::Null) => info!(node = rpc.url(), "block accepted"),
        // Another node of the pool submitted it first.
        Ok(Value::String(reason)) if reason == "duplicate" => {
            debug!(node = rpc.url(), "block already known")
        }
        Ok(reason) => warn!(node = rpc.url(), %reason, "block refused"),
        Err(e) => warn!(error = %e, "submitblock failed"),
    }
}

impl WorkSource for CoreWork {
    fn tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    fn template(
        &self,
        commitment: &Commitment,
        payouts: &CoinbasePlan,
        finder: &[u8],
        extranonce_len: usize,
    ) -> Result<WorkTemplate, WorkError> {
        let template = self.current();
        let no_work = |e: crate::assemble::AssembleError| WorkError(e.to_string());
        let commitment_len = commitment.to_script().len();
        let kept = room(
            &template,
            payouts,
            finder.len(),
            extranonce_len,
            commitment_len,
        )
        .map_err(no_work)?;
        let cached = lock(&self.prepared)
            .iter()
            .find(|p| Arc::ptr_eq(&p.template, &template) && p.txs.kept == kept)
            .map(|p| p.txs.clone());
        let txs = match cached {
            Some(txs) => txs,
            None => {
                // Hashing the template's transactions: once per template
                // and room, not per job.
                let txs = Arc::new(TxSet::new(&template, kept));
                let mut prepared = lock(&self.prepared);
                prepared.push_back(Prepared {
                    template: template.clone(),
                    txs: txs.clone(),
                });
                while prepared.len() > MAX_PREPARED {
                    prepared.pop_front();
                }
                txs
            }
        };
        let assembly =
            build(&template, &txs, commitment, payouts, finder, extranonce_len).map_err(no_work)?;
        // A real chain pays only scripts someone can be held to: never
        // `OP_TRUE` or any other non-standard script (a ledger pool must
        // give its operator's address).
        let coinbase = assembly.work.coinbase(&vec![0; extranonce_len]);
        if let Ok(outputs) = paying_outputs(&coinbase) {
            if let Some(bad) = outputs.iter().find(|o| !is_standard_payout(&o.script)) {
                return Err(WorkError(format!(
                    "refusing to pay the non-standard script {} on a real chain",
                    hex::encode(&bad.script)
                )));
            }
        }
        Ok(assembly.work)
    }

    /// Known for the blocks this source saw as tips or found itself.
    fn next_height(&self, hash: &Hash256) -> Option<u32> {
        lock(&self.heights).0.get(hash).copied()
    }

    fn block_found(&self, header: &BlockHeader, coinbase: &[u8]) -> bool {
        let hash = header.hash();
        if self.next_height(&hash).is_some() {
            // Submitted already (the Stratum server and the share chain
            // both report an own block).
            return true;
        }
        let txid = sha256d(coinbase);
        let block = {
            let prepared = lock(&self.prepared);
            prepared
                .iter()
                .rev()
                .find(|p| {
                    p.template.prev_hash == *header.prev_hash()
                        && merkle_root_from_branch(txid, &p.txs.branch) == *header.merkle_root()
                })
                .map(|p| {
                    (
                        block_bytes(
                            header,
                            coinbase,
                            p.txs.witness_commitment.is_some(),
                            &p.template.transactions[..p.txs.kept],
                        ),
                        p.template.height,
                    )
                })
        };
        // A block this node did not issue the job for (a peer's link): its
        // transactions are not known here; its finder's node submits it.
        let Some((bytes, height)) = block else {
            return false;
        };
        self.remember_height(hash, height.saturating_add(1));
        // Submitted at once on its own task: never behind a poll.
        let (rpc, wake) = (self.rpc.clone(), self.wake_handle());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    submit(&rpc, bytes).await;
                    wake.notify_one();
                });
                true
            }
            Err(_) => {
                warn!("a block was found outside a runtime; not submitted");
                false
            }
        }
    }
}
