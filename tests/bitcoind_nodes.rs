//! Two nodes mining one chain through its RPC, as separate processes
//! mine Bitcoin Core's: the synthetic chain served by `chain_rpc`, each
//! node on its own `CoreWork`. Blocks are submitted by the node whose
//! miner found them, learned by the other from the chain's tip, and every
//! block's coinbase (read back with `getblock` and decoded by the
//! `bitcoin` crate) pays exactly the outputs both nodes expect.

use std::sync::Arc;
use std::time::Duration;

use chiral_pool::bitcoind::{Auth, BitcoinRpc, CoreConfig, CoreWork};
use chiral_pool::chain_rpc;
use chiral_pool::core::chain::SyntheticChain;
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PayoutId;
use chiral_pool::core::payout::AddressNetwork;
use chiral_pool::core::pow::Target;
use chiral_pool::core::sharechain::CoinbaseRules;
use chiral_pool::demo::demo_address;
use chiral_pool::miner::{run_cpu_miner, MinerStats};
use chiral_pool::node::{NodeConfig, PoolNode, PoolSpec};
use chiral_pool::stratum::client::ClientConfig;
use serde_json::json;

const BLOCK_DIFFICULTY: f64 = 1.0 / 4096.0;
const REWARD: u64 = 5_000_000_000;

fn rpc(addr: std::net::SocketAddr) -> BitcoinRpc {
    BitcoinRpc::new(format!("http://{addr}"), Auth::None, Duration::from_secs(5)).expect("client")
}

async fn work(addr: std::net::SocketAddr) -> Arc<CoreWork> {
    let mut config = CoreConfig::new(AddressNetwork::Bitcoin);
    config.poll = Duration::from_millis(100);
    CoreWork::connect(rpc(addr), config)
        .await
        .expect("the chain server answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_mine_one_chain_over_rpc_and_its_blocks_pay_the_window() {
    let bits = Target::from_difficulty(BLOCK_DIFFICULTY)
        .expect("difficulty")
        .to_compact_lossy();
    let chain = Arc::new(SyntheticChain::new(bits).expect("bits").with_reward(REWARD));
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = chain_rpc::spawn(
        chain.clone(),
        AddressNetwork::Bitcoin,
        "127.0.0.1:0".parse().expect("addr"),
        async move {
            let _ = server_stopped.await;
        },
    )
    .await
    .expect("serves");

    let owner = PayoutId::new(demo_address("owner")).expect("an id");
    let mut a = NodeConfig::new(Keypair::generate());
    a.chain = Some(work(addr).await);
    a.share_difficulty = 1.0 / 65_536.0;
    a.share_interval_secs = 1.0;
    a.stratum = Some("127.0.0.1:0".parse().expect("addr"));
    a.announce = Some(PoolSpec {
        link_spacing_secs: 1,
        coinbase: Some(CoinbaseRules::bitcoin(AddressNetwork::Bitcoin, owner)),
        ..PoolSpec::new("rpc-test")
    });
    let a = PoolNode::start(a).await.expect("node a");
    let pool = a.pool().expect("a pool");
    let mut b = NodeConfig::new(Keypair::generate());
    b.chain = Some(work(addr).await);
    b.bootstrap = a.store.dial_addresses();
    let b = PoolNode::start(b).await.expect("node b");
    let ann = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(ann) = b.find_pool(&pool).await {
                return ann;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("b finds the pool");
    b.follow(&ann).await.expect("b follows");

    let stop = chiral_pool::node::stop_flag();
    let (stratum, _) = a.stratum().expect("serving");
    let mut miner = ClientConfig::new(
        stratum.to_string(),
        format!("{}.rig1", demo_address("miner1")),
    );
    miner.suggest_difficulty = Some(1.0 / 65_536.0);
    miner.expect_pool = Some(pool);
    let stats = Arc::new(MinerStats::default());
    let mining = tokio::spawn(run_cpu_miner(miner, stats.clone(), stop.clone()));

    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        while a.blocks().len() < 2 || b.blocks().len() < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = mining.await;
    assert!(
        waited.is_ok(),
        "blocks settled: a {}, b {}; chains {:?} {:?}",
        a.blocks().len(),
        b.blocks().len(),
        a.chain_status(),
        b.chain_status()
    );
    assert_eq!(
        stats
            .refused_jobs
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    let client = rpc(addr);
    let a_blocks = a.blocks();
    let b_blocks = b.blocks();
    let mut checked = 0;
    for block in a_blocks.iter().take(2) {
        let other = b_blocks
            .iter()
            .find(|x| x.link == block.link)
            .expect("b settled the same block");
        assert_eq!(other, block, "both nodes read the same outputs");
        assert_eq!(block.outputs_agree, Some(true), "a's own split");
        assert_eq!(other.outputs_agree, Some(true), "b's own split");
        // The chain holds the block; its coinbase, decoded by the bitcoin
        // crate, pays what the nodes expected.
        let raw = client
            .call("getblock", json!([block.link.to_hex(), 0]))
            .await
            .expect("the chain has the block");
        let bytes = hex::decode(raw.as_str().expect("hex")).expect("hex");
        let decoded: bitcoin::Block = bitcoin::consensus::deserialize(&bytes).expect("decodes");
        assert!(decoded.check_merkle_root());
        let coinbase = decoded.coinbase().expect("a coinbase");
        let paid: Vec<(String, u64)> = coinbase.output[..coinbase.output.len() - 1]
            .iter()
            .map(|o| {
                let address =
                    bitcoin::Address::from_script(&o.script_pubkey, bitcoin::Network::Bitcoin)
                        .expect("an address")
                        .to_string();
                (address, o.value.to_sat())
            })
            .collect();
        assert_eq!(paid, block.outputs);
        assert_eq!(paid.iter().map(|(_, v)| v).sum::<u64>(), REWARD);
        checked += 1;
    }
    assert_eq!(checked, 2);
    b.shutdown().await;
    a.shutdown().await;
    let _ = stop_server.send(());
    let _ = server.await;
}
