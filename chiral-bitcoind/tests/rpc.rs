//! The JSON-RPC client and the work source's start against a stand-in
//! node: each way a node says no is its own clear error, never a panic.

mod common;

use std::time::Duration;

use chiral_bitcoind::{Auth, BitcoinRpc, CoreConfig, CoreError, CoreWork, RpcError};
use chiral_pool_core::payout::AddressNetwork;
use common::{basic, start, Answer};
use serde_json::json;

fn client(addr: std::net::SocketAddr, auth: Auth) -> BitcoinRpc {
    BitcoinRpc::new(format!("http://{addr}"), auth, Duration::from_secs(5)).expect("client")
}

fn chain_info(chain: &str, ibd: bool) -> Answer {
    Answer::Result(json!({
        "chain": chain,
        "blocks": 100,
        "initialblockdownload": ibd,
        "verificationprogress": if ibd { 0.25 } else { 1.0 },
    }))
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_right_ones_pass() {
    let (addr, core) = start().await;
    *core.auth.lock().expect("lock") = Some(basic("__cookie__", "secret"));
    core.answer("getbestblockhash", Answer::Result(json!("00ab")));
    let wrong = client(
        addr,
        Auth::UserPass {
            user: "alice".into(),
            password: "nope".into(),
        },
    );
    assert_eq!(
        wrong.call("getbestblockhash", json!([])).await,
        Err(RpcError::Unauthorized(401))
    );
    let none = client(addr, Auth::None);
    assert_eq!(
        none.call("getbestblockhash", json!([])).await,
        Err(RpcError::Unauthorized(401))
    );
    let dir = std::env::temp_dir().join(format!("chiral-cookie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cookie = dir.join(".cookie");
    std::fs::write(&cookie, "__cookie__:secret\n").expect("cookie");
    let right = client(addr, Auth::Cookie(cookie.clone()));
    assert_eq!(
        right.call("getbestblockhash", json!([])).await,
        Ok(json!("00ab"))
    );
    let missing = client(addr, Auth::Cookie(dir.join("absent")));
    assert!(matches!(
        missing.call("getbestblockhash", json!([])).await,
        Err(RpcError::Cookie { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let rpc = client(addr, Auth::None);
    assert!(matches!(
        rpc.call("getbestblockhash", json!([])).await,
        Err(RpcError::Unreachable { .. })
    ));
    let started = CoreWork::connect(rpc, CoreConfig::new(AddressNetwork::Regtest)).await;
    assert!(matches!(
        started,
        Err(CoreError::Rpc(RpcError::Unreachable { .. }))
    ));
}

#[tokio::test]
async fn a_syncing_node_gives_no_work() {
    let (addr, core) = start().await;
    core.answer("getblockchaininfo", chain_info("regtest", true));
    let started = CoreWork::connect(
        client(addr, Auth::None),
        CoreConfig::new(AddressNetwork::Regtest),
    )
    .await;
    assert!(matches!(started, Err(CoreError::Rpc(RpcError::Syncing(_)))));
    // The template call's own answer during sync (code -10).
    core.answer("getblockchaininfo", chain_info("regtest", false));
    core.answer(
        "getblocktemplate",
        Answer::Error(
            -10,
            "Bitcoin Core is in initial sync and waiting for blocks...",
        ),
    );
    let started = CoreWork::connect(
        client(addr, Auth::None),
        CoreConfig::new(AddressNetwork::Regtest),
    )
    .await;
    match started {
        Err(CoreError::Rpc(RpcError::Syncing(message))) => {
            assert!(message.contains("initial sync"));
        }
        other => panic!("expected a syncing error, got {:?}", other.err()),
    }
    core.answer(
        "getblocktemplate",
        Answer::Error(-9, "Bitcoin Core is not connected!"),
    );
    assert!(matches!(
        CoreWork::connect(
            client(addr, Auth::None),
            CoreConfig::new(AddressNetwork::Regtest)
        )
        .await,
        Err(CoreError::Rpc(RpcError::NotConnected(_)))
    ));
}

#[tokio::test]
async fn a_node_on_another_network_is_refused() {
    let (addr, core) = start().await;
    core.answer("getblockchaininfo", chain_info("main", false));
    match CoreWork::connect(
        client(addr, Auth::None),
        CoreConfig::new(AddressNetwork::Regtest),
    )
    .await
    {
        Err(e @ CoreError::WrongNetwork { .. }) => {
            let shown = e.to_string();
            assert!(
                shown.contains("main") && shown.contains("regtest"),
                "{shown}"
            );
        }
        other => panic!("expected a network mismatch, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn malformed_replies_are_errors() {
    let (addr, core) = start().await;
    let rpc = client(addr, Auth::None);
    core.answer("getbestblockhash", Answer::Garbage);
    assert!(matches!(
        rpc.call("getbestblockhash", json!([])).await,
        Err(RpcError::Malformed { .. })
    ));
    // An unknown method: Bitcoin Core's own error.
    assert!(matches!(
        rpc.call("nosuchmethod", json!([])).await,
        Err(RpcError::Rpc { code: -32601, .. })
    ));
    core.answer("getblockchaininfo", chain_info("regtest", false));
    for bad in [
        json!({"height": 5}),
        json!("a string"),
        json!({"version": 536870912, "previousblockhash": "zz", "bits": "207fffff", "height": 1,
               "curtime": 1, "coinbasevalue": 1, "transactions": []}),
        json!({"version": 536870912, "previousblockhash": "00".repeat(32), "bits": "207fffff",
               "height": 1, "curtime": 1, "coinbasevalue": 1,
               "transactions": [{"data": "nothex", "txid": "00".repeat(32), "hash": "00".repeat(32),
                                 "fee": 0, "sigops": 0, "weight": 400}]}),
        json!({"version": 536870912, "previousblockhash": "00".repeat(32), "bits": "207fffff",
               "height": 1, "curtime": 1, "coinbasevalue": 1,
               "transactions": [{"data": "00".repeat(60), "txid": "00".repeat(32),
                                 "hash": "00".repeat(32), "fee": 5, "sigops": 0, "weight": 400}]}),
    ] {
        core.answer("getblocktemplate", Answer::Result(bad.clone()));
        let started = CoreWork::connect(
            client(addr, Auth::None),
            CoreConfig::new(AddressNetwork::Regtest),
        )
        .await;
        assert!(
            matches!(started, Err(CoreError::Template(_))),
            "{bad}: {:?}",
            started.err()
        );
    }
}
