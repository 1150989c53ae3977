//! The README's main job in a short mode: blocks are found, every node
//! discovers the pool and computes the same conserving splits; and its
//! serving mode, which mines past its blocks and duration until stopped.

use std::time::Duration;

use chiral_pool::demo::{run_local_pool, run_local_pool_until, LocalPoolConfig};

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
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.blocks_found >= 2);
    assert!(report.shares_accepted > 0);
    for node in &report.nodes {
        assert!(
            node.blocks.len() >= 2,
            "node {} settled {}",
            node.index,
            node.blocks.len()
        );
        assert!(node.pools_discovered.iter().any(|p| p == "local-demo"));
        assert!(node.ledger_ok);
        for (b, block) in node.blocks.iter().take(2).enumerate() {
            assert!(block.settlement.is_conserved());
            assert_eq!(block.settlement, report.nodes[0].blocks[b].settlement);
        }
    }
}

/// `run_local_pool_until` mines past `blocks` and `duration` and serves
/// the dashboards until its stop future completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_local_pool_runs_until_stopped() {
    let config = LocalPoolConfig {
        nodes: 2,
        miners: 1,
        blocks: 1,
        duration: Duration::from_secs(1),
        block_difficulty: 1.0 / 8192.0,
        restart: false,
        http: true,
        ..LocalPoolConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let mut dashboards = Vec::new();
    let run = run_local_pool_until(
        config,
        async move {
            let _ = stopped.await;
        },
        |p| {
            dashboards.clone_from(&p.dashboards);
            // Past the one block asked for: stop.
            if p.settled_min >= 2 {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        },
    );
    let report = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("stopped once two blocks settled")
        .expect("network starts");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    for node in &report.nodes {
        assert!(
            node.blocks.len() >= 2,
            "node {} settled {}",
            node.index,
            node.blocks.len()
        );
    }
    assert_eq!(dashboards.len(), 2, "{dashboards:?}");
    assert!(dashboards
        .iter()
        .all(|url| url.starts_with("http://127.0.0.1:")));
}
