//! The README's main job in a short mode: blocks are found, every node
//! discovers the pool and computes the same conserving splits.

mod common;

use std::time::Duration;

use chiral_pool::demo::{run_local_pool, LocalPoolConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_pool_network_pays_identically_on_every_node() {
    let config = LocalPoolConfig {
        nodes: 3,
        miners: 2,
        blocks: 2,
        duration: Duration::from_secs(90),
        // Easy blocks so the debug build finds a few quickly.
        block_difficulty: 1.0 / 8192.0,
        ..LocalPoolConfig::default()
    };
    let report = run_local_pool(config, |_| {})
        .await
        .expect("network starts");
    common::assert_settled_everywhere(&report, 2);
    assert!(report.blocks_found >= 2);
    assert!(report.shares_accepted > 0);
    for node in &report.nodes {
        assert!(node.pools_discovered.iter().any(|p| p == "local-demo"));
        assert!(node.ledger_ok);
        for (b, block) in node.blocks.iter().take(2).enumerate() {
            assert!(block.settlement.is_conserved());
            assert_eq!(block.settlement, report.nodes[0].blocks[b].settlement);
        }
    }
}
