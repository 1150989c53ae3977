//! The node's JSON API in-process (tower `oneshot`): every endpoint on a
//! node whose miner found blocks, the errors (400, 404), and the `Host`
//! check that keeps web pages out of a localhost API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chiral_pool::api::{default_hosts, router};
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PayoutId;
use chiral_pool::core::payout::AddressNetwork;
use chiral_pool::core::pow::Target;
use chiral_pool::core::sharechain::CoinbaseRules;
use chiral_pool::demo::demo_address;
use chiral_pool::miner::{run_cpu_miner, MinerStats};
use chiral_pool::node::{NodeConfig, PoolNode, PoolSpec};
use chiral_pool::stratum::client::ClientConfig;
use serde_json::Value;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:8080";

async fn get(app: &axum::Router, path: &str, host: &str) -> (StatusCode, Value) {
    let request = Request::get(path)
        .header("host", host)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("answered");
    let status = response.status();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_and_bad_input_is_a_json_error() {
    let mut config = NodeConfig::new(Keypair::generate());
    config.chain_bits = Target::from_difficulty(1.0 / 8192.0)
        .expect("difficulty")
        .to_compact_lossy();
    config.share_difficulty = 1.0 / 65_536.0;
    config.share_interval_secs = 1.0;
    config.stratum = Some("127.0.0.1:0".parse().expect("addr"));
    let owner = PayoutId::new(demo_address("owner")).expect("an id");
    config.announce = Some(PoolSpec {
        link_spacing_secs: 1,
        coinbase: Some(CoinbaseRules::bitcoin(AddressNetwork::Bitcoin, owner)),
        ..PoolSpec::new("api-test")
    });
    let node = PoolNode::start(config).await.expect("node");
    let pool = node.pool().expect("a pool");
    let app = router(node.clone(), default_hosts(HOST.parse().expect("addr")));

    // A miner until a block is settled.
    let miner_address = demo_address("api-miner");
    let stop = chiral_pool::node::stop_flag();
    let (stratum, _) = node.stratum().expect("serving");
    let mut c = ClientConfig::new(stratum.to_string(), format!("{miner_address}.rig1"));
    c.suggest_difficulty = Some(1.0 / 65_536.0);
    let mining = tokio::spawn(run_cpu_miner(
        c,
        Arc::new(MinerStats::default()),
        stop.clone(),
    ));
    let settled = tokio::time::timeout(Duration::from_secs(60), async {
        while node.blocks().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = mining.await;
    assert!(settled.is_ok(), "a block was settled");

    let (status, health) = get(&app, "/api/v1/health", HOST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["pool"], pool.to_hex());

    let (status, pools) = get(&app, "/api/v1/pools", "localhost:8080").await;
    assert_eq!(status, StatusCode::OK);
    assert!(pools["pools"]
        .as_array()
        .expect("a list")
        .iter()
        .any(|p| p["id"] == pool.to_hex() && p["followed"] == true));

    let (status, detail) = get(&app, &format!("/api/v1/pool/{pool}"), HOST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["payouts"]["mode"], "coinbase");
    assert!(detail["chain"]["height"].as_u64().is_some());
    assert!(
        detail["stratum"]["shares_accepted"]
            .as_u64()
            .expect("a count")
            > 0
    );

    let (status, blocks) = get(&app, "/api/v1/blocks", HOST).await;
    assert_eq!(status, StatusCode::OK);
    let first = &blocks["blocks"][0];
    assert_eq!(first["outputs_agree"], true);
    let paid_to_miner = first["coinbase_outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .any(|o| o["address"] == miner_address.as_str());
    assert!(paid_to_miner, "{first}");

    let (status, me) = get(&app, &format!("/api/v1/miner/{miner_address}"), HOST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["workers"][0]["worker"], format!("{miner_address}.rig1"));
    assert!(!me["paid"].as_array().expect("a list").is_empty());

    for path in [
        "/api/v1/payouts/current",
        "/api/v1/peers",
        "/api/v1/network",
    ] {
        let (status, body) = get(&app, path, HOST).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    // Errors: malformed, unknown, no such endpoint, a foreign Host.
    let (status, body) = get(&app, "/api/v1/pool/zz", HOST).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().is_some());
    let (status, _) = get(&app, &format!("/api/v1/pool/{}", "0".repeat(64)), HOST).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, "/api/v1/miner/not%20an%20id", HOST).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&app, "/api/v1/miner/nobody", HOST).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&app, "/api/v1/nothing", HOST).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().is_some());
    let (status, _) = get(&app, "/api/v1/health", "attacker.example:8080").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    let (status, _) = get(&app, "/api/v1/health", "127.0.0.1:9999").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);

    node.shutdown().await;
}
