//! The README's main job in its serving mode (`local_pool --serve`): it
//! mines past its blocks and duration, every node's dashboard answers
//! while it runs, and it stops when told. A test binary of its own, so its
//! miners do not share the two cores with the other local pool test's.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiral_pool::demo::{run_local_pool_until, LocalPoolConfig};

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
    let (urls_tx, urls_rx) = tokio::sync::oneshot::channel::<Vec<String>>();
    let (settled_tx, settled_rx) = tokio::sync::oneshot::channel::<()>();
    let (mut urls_tx, mut settled_tx) = (Some(urls_tx), Some(settled_tx));
    let answers: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    // Stop once every dashboard answered its health check while the pool
    // runs, and every node settled two blocks: past the one asked for.
    let stop = {
        let answers = answers.clone();
        async move {
            let urls = urls_rx.await.unwrap_or_default();
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client");
            for url in urls {
                let status = match http.get(format!("{url}api/v1/health")).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                answers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((url, status));
            }
            let _ = settled_rx.await;
        }
    };
    let run = run_local_pool_until(config, stop, |p| {
        if !p.dashboards.is_empty() {
            if let Some(tx) = urls_tx.take() {
                let _ = tx.send(p.dashboards.clone());
            }
        }
        if p.settled_min >= 2 {
            if let Some(tx) = settled_tx.take() {
                let _ = tx.send(());
            }
        }
    });
    let report = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("stopped once two blocks settled")
        .expect("network starts");
    common::assert_settled_everywhere(&report, 2);
    let answers = answers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers.iter().all(|(_, status)| *status == 200),
        "{answers:?}"
    );
}
