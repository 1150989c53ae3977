//! The node's HTTP API in-process (tower `oneshot`): every endpoint on a
//! node whose miner found blocks, the event stream, metrics, the
//! dashboard's files, admin actions and their token, the errors (400, 401,
//! 403, 404, 405, 503), and the `Host` check that keeps web pages out of
//! a localhost API.

mod common;

use common::{serve_api, stop_api, MiningNode};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chiral_pool::api::{router, AdminToken, ApiConfig};
use chiral_pool::core::identity::Keypair;
use chiral_pool::node::{NodeConfig, NodeEvent, PoolNode};
use serde_json::Value;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:8080";

/// The value of an unlabelled metric in a Prometheus text scrape.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Server-sent events from `body` (name, JSON data) until `enough` says
/// so; the events it needs were sent already, so no wait is long.
async fn read_events(body: Body, enough: impl Fn(&[String]) -> bool) -> Vec<(String, Value)> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(Duration::from_secs(10), stream.next()).await
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let name = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(name), Some(data)) = (name, data) {
                events.push((
                    name.to_owned(),
                    serde_json::from_str(data).unwrap_or(Value::Null),
                ));
            }
        }
        let names: Vec<String> = events.iter().map(|(n, _)| n.clone()).collect();
        if enough(&names) {
            break;
        }
    }
    events
}

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
    let mut fixture = MiningNode::start("api-test", "api-miner").await;
    let node = fixture.node.clone();
    let miner_address = fixture.miner_address.clone();
    let pool = node.pool().expect("a pool");
    let token = AdminToken::generate();
    let mut config = ApiConfig::new(HOST.parse().expect("addr")).with_admin(token.clone());
    config.max_event_streams = 1;
    let app = router(node.clone(), config).expect("a router");

    // Subscribed before any link: the stream holds what happens next.
    let events = app
        .clone()
        .oneshot(
            Request::get("/api/v1/events")
                .header("host", HOST)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answered");
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(
        events.headers()["content-type"],
        "text/event-stream",
        "an event stream"
    );
    // One stream is the cap here: a second is refused.
    let (status, body) = get(&app, "/api/v1/events", HOST).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    // A miner until a block is settled and the chain holds three links
    // (the pool-wide hashrate leaves the oldest link's work out; the
    // miner's own starts at its second share).
    fixture.mine();
    let settled = fixture.wait_for(|e| matches!(e, NodeEvent::Block(_))).await;
    let grown = fixture
        .wait_for(|e| matches!(e, NodeEvent::Link(l) if l.height >= 2))
        .await;
    fixture.stop_miner().await;
    assert!(settled, "a block was settled");
    assert!(grown, "the chain grew to three links");

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
    let height = detail["chain"]["height"].as_u64().expect("a height");
    let stratum = &detail["stratum"];
    assert!(stratum["shares_accepted"].as_u64().expect("a count") > 0);
    for window in ["1m", "15m", "1h", "24h"] {
        let local = stratum["hashrate"][window].as_f64().expect("a rate");
        let pool_wide = detail["hashrate"][window].as_f64().expect("a rate");
        assert!(local > 0.0 && pool_wide > 0.0, "{window}: {detail}");
    }
    assert_eq!(stratum["top_miners"][0]["miner"], miner_address.as_str());
    assert!(
        stratum["top_miners"][0]["hashrate"]["15m"]
            .as_f64()
            .expect("a rate")
            > 0.0
    );
    assert_eq!(stratum["shares_rejected"]["stale"].as_u64(), Some(0));
    let recent = detail["recent_links"].as_array().expect("links");
    assert_eq!(recent[0]["height"].as_u64(), Some(height), "tip first");
    assert_eq!(recent[0]["id"], detail["chain"]["tip"]);

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
    assert!(me["workers"][0]["hashrate"]["1m"].as_f64().expect("a rate") > 0.0);
    assert!(!me["paid"].as_array().expect("a list").is_empty());
    // The only miner holds the whole window.
    assert_eq!(me["window"]["weight"], me["window"]["total"]);
    assert_ne!(me["window"]["weight"], "0");

    // The events that happened while mining: every link that joined, in
    // order of joining, and the settled block.
    let seen = read_events(events.into_body(), |names| {
        names.iter().any(|n| n == "block")
    })
    .await;
    let links: Vec<&Value> = seen
        .iter()
        .filter(|(n, _)| n == "link")
        .map(|(_, v)| v)
        .collect();
    assert!(!links.is_empty(), "link events: {seen:?}");
    assert!(links.iter().all(|l| l["payout"] == miner_address.as_str()));
    assert!(links.iter().any(|l| l["height"] == 0), "genesis was seen");
    let block = seen
        .iter()
        .find(|(n, _)| n == "block")
        .map(|(_, v)| v)
        .expect("a block event");
    assert_eq!(block["finder"], miner_address.as_str());
    let blocks_list = node.blocks();
    assert!(blocks_list.iter().any(|b| block["link"] == b.link.to_hex()));

    // Metrics: the node's own and libp2p's, one label set per reason.
    let response = app
        .clone()
        .oneshot(
            Request::get("/metrics")
                .header("host", HOST)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf-8");
    let accepted = metric(&text, "chiral_stratum_shares_accepted_total").expect("accepted");
    assert!(accepted > 0.0);
    assert_eq!(
        metric(&text, "chiral_sharechain_height"),
        Some(height as f64)
    );
    assert!(
        text.contains("chiral_stratum_shares_rejected_total{reason=\"stale\"} 0"),
        "{text}"
    );
    assert!(text.contains("chiral_stratum_hashrate_hashes_per_second{window=\"15m\"}"));
    for (name, _) in chiral_pool::metrics::METRICS {
        assert!(
            text.contains(&format!("# HELP chiral_{name} ")),
            "{name} exported"
        );
    }
    assert!(
        text.contains("libp2p_swarm_"),
        "libp2p's metrics share the registry"
    );
    assert!(
        !text.contains(miner_address.as_str()),
        "no per-miner labels"
    );

    // The dashboard's files, under a strict content policy.
    for (path, kind) in [
        ("/", "text/html"),
        ("/dashboard.js", "text/javascript"),
        ("/dashboard.css", "text/css"),
    ] {
        let response = app
            .clone()
            .oneshot(
                Request::get(path)
                    .header("host", HOST)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert!(headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with(kind));
        assert!(headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("default-src 'none'"));
    }

    // Admin actions: only a POST with the token.
    let admin = |path: &str, auth: Option<String>, body: &str| {
        let mut request = Request::post(path)
            .header("host", HOST)
            .header("content-type", "application/json");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.body(Body::from(body.to_owned())).expect("request")
    };
    let bearer = Some(format!("Bearer {}", token.as_str()));
    let status_of = |request: Request<Body>| {
        let app = app.clone();
        async move { app.oneshot(request).await.expect("answered").status() }
    };
    assert_eq!(
        status_of(admin("/api/v1/admin/republish", None, "")).await,
        StatusCode::UNAUTHORIZED
    );
    let wrong = Some(format!("Bearer {}", AdminToken::generate().as_str()));
    assert_eq!(
        status_of(admin("/api/v1/admin/republish", wrong, "")).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = get(&app, "/api/v1/admin/republish", HOST).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].as_str().is_some(), "a JSON error: {body}");
    assert_eq!(
        status_of(admin("/api/v1/admin/republish", bearer.clone(), "")).await,
        StatusCode::OK
    );
    let lower = Some(format!("bearer {}", token.as_str()));
    assert_eq!(
        status_of(admin("/api/v1/admin/republish", lower, "")).await,
        StatusCode::OK
    );
    let follow = format!("{{\"pool\": \"{pool}\"}}");
    assert_eq!(
        status_of(admin("/api/v1/admin/follow", bearer.clone(), &follow)).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(admin(
            "/api/v1/admin/follow",
            bearer.clone(),
            "{\"pool\": 1}"
        ))
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(admin(
            "/api/v1/admin/follow",
            bearer.clone(),
            "{\"pool\": \"zz\"}"
        ))
        .await,
        StatusCode::BAD_REQUEST
    );
    let huge = format!("{{\"pool\": \"{}\"}}", "0".repeat(64 * 1024));
    assert_eq!(
        status_of(admin("/api/v1/admin/follow", bearer.clone(), &huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A server without a token obeys no admin action.
    let tokenless =
        router(node.clone(), ApiConfig::new(HOST.parse().expect("addr"))).expect("a router");
    let response = tokenless
        .oneshot(admin("/api/v1/admin/republish", bearer, ""))
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    for path in [
        "/api/v1/payouts/current",
        "/api/v1/peers",
        "/api/v1/network",
    ] {
        let (status, body) = get(&app, path, HOST).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // A lone node: its routing table is empty, and listed as such.
    let (_, peers) = get(&app, "/api/v1/peers", HOST).await;
    assert_eq!(
        peers["routing_table"].as_array().map(Vec::len),
        Some(0),
        "{peers}"
    );

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
    // A page of another site that names the right host is refused too.
    let request = Request::get("/api/v1/health")
        .header("host", HOST)
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().contains_key("content-security-policy"));
    // The newest blocks only, on request; a bad limit is a 400.
    let (status, newest) = get(&app, "/api/v1/blocks?limit=1", HOST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(newest["blocks"].as_array().map(Vec::len), Some(1));
    let (status, _) = get(&app, "/api/v1/blocks?limit=many", HOST).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    node.shutdown().await;
}

/// A stalled client (half a request line) and an open event stream do not
/// hold the server past its grace period, and the stream ends at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_at_shutdown_whatever_clients_hold() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = lone_node().await;
    let server = serve_api(node.clone(), |_| {}).await;
    let addr = server.addr();
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"GET / HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.expect("a reply");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let limit = chiral_pool::api::SHUTDOWN_GRACE + Duration::from_secs(5);
    assert!(
        stop_api(server, limit).await,
        "serve returned within its grace period"
    );
    // The event stream was ended, not left hanging: reading reaches its end.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the event stream ended");
    drop(stalled);
    node.shutdown().await;
}

/// Reads from `socket` until the server closes it (end of stream or a
/// reset), failing after `limit`.
async fn closed_by_server(socket: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let closed = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(limit, closed).await.is_ok()
}

/// An idle connection, a half-sent request and a keep-alive connection
/// between requests are closed after the header-read timeout, a body that
/// does not arrive is answered 408 after the body-read timeout, and a
/// client that stops reading is dropped after the write timeout, each
/// freeing its slot; an event stream being answered is not cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_but_event_streams_stay() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = lone_node().await;
    let server = serve_api(node.clone(), |config| {
        config.max_connections = 3;
        // Long enough for every request's head below to arrive whole on
        // a loaded machine; short enough to wait out.
        config.header_read_timeout = Duration::from_secs(2);
        config.body_read_timeout = Duration::from_millis(300);
        config.write_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = server.addr();
    let limit = Duration::from_secs(10);

    // The event stream first: it is older than every connection cut below.
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.expect("a reply");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));

    // Two more connections fill the cap: one silent, one half a request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"GET /api/v1/health HTTP/1.1\r\n")
        .await
        .expect("write");
    assert!(
        closed_by_server(&mut idle, limit).await,
        "idle connection cut"
    );
    assert!(
        closed_by_server(&mut stalled, limit).await,
        "stalled request cut"
    );

    // Their slots are free again: a request is answered, and the
    // connection, idle after it, is cut in turn.
    let mut kept = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    kept.write_all(request.as_bytes()).await.expect("write");
    let n = kept.read(&mut head).await.expect("a reply");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_by_server(&mut kept, limit).await,
        "keep-alive connection cut"
    );

    // A body that never comes in full is answered 408, and the slot
    // freed; a chunked one, of no announced length, too.
    let post = format!("POST /api/v1/admin/republish HTTP/1.1\r\nHost: {addr}\r\n");
    for stalled_body in [
        "Content-Length: 100\r\n\r\n{\"pool\"",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("{post}{stalled_body}");
        slow.write_all(request.as_bytes()).await.expect("write");
        let n = tokio::time::timeout(limit, slow.read(&mut head))
            .await
            .expect("answered in time")
            .expect("a reply");
        let reply = String::from_utf8_lossy(&head[..n]);
        assert!(reply.starts_with("HTTP/1.1 408"), "{stalled_body}: {reply}");
        assert!(closed_by_server(&mut slow, limit).await, "slow body cut");
    }

    // A client that never reads: pipelined requests for the metrics fill
    // the sockets until the server's writes stall; past the write timeout
    // it drops the connection, and the client's own writes fail. (The
    // server's loopback send buffer, megabytes, fills after a few hundred
    // answers of tens of kilobytes; without the timeout this would hang.)
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let mut deaf = socket.connect(addr).await.expect("connect");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let writing = async { while deaf.write_all(request.as_bytes()).await.is_ok() {} };
    assert!(
        tokio::time::timeout(limit, writing).await.is_ok(),
        "a client that stopped reading was dropped"
    );

    // The event stream has outlived the timeouts and is still open.
    let mut buf = [0u8; 1024];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => panic!("the event stream was closed"),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("the event stream failed: {e}"),
        }
    }

    assert!(stop_api(server, limit).await, "serve returned");
    node.shutdown().await;
}

/// A timeout of zero is refused, naming the field.
#[tokio::test]
async fn serve_refuses_a_zero_timeout() {
    let node = lone_node().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut config = ApiConfig::new(listener.local_addr().expect("bound"));
    config.write_timeout = Duration::ZERO;
    let refused = chiral_pool::api::serve(node.clone(), listener, config, std::future::pending())
        .await
        .expect_err("refused");
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    assert!(refused.to_string().contains("write_timeout"), "{refused}");
    node.shutdown().await;
}

/// A program serving the routes itself ends their event streams with the
/// closer, without stopping the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closer_ends_the_event_streams_of_an_embedded_router() {
    let node = lone_node().await;
    let (app, closer) = chiral_pool::api::router_with_closer(
        node.clone(),
        ApiConfig::new(HOST.parse().expect("addr")),
    )
    .expect("a router");
    let request = Request::get("/api/v1/events")
        .header("host", HOST)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    closer.close();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20);
    let ended = tokio::time::timeout(Duration::from_secs(10), body).await;
    assert!(matches!(ended, Ok(Ok(_))), "the stream ended");
    // The node still runs and answers.
    let (status, _) = get(&app, "/api/v1/health", HOST).await;
    assert_eq!(status, StatusCode::OK);
    node.shutdown().await;
}

/// A body of unknown length is read no further than the cap: 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_over_the_cap_is_refused() {
    let node = lone_node().await;
    let token = AdminToken::generate();
    let config = ApiConfig::new(HOST.parse().expect("addr")).with_admin(token.clone());
    let app = router(node.clone(), config).expect("a router");
    let chunk = axum::body::Bytes::from(vec![b' '; 1024]);
    let chunks = (0..5).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let request = Request::post("/api/v1/admin/follow")
        .header("host", HOST)
        .header("authorization", format!("Bearer {}", token.as_str()))
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("request");
    let response = app.oneshot(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    node.shutdown().await;
}

/// A node of no pool, serving no miners.
async fn lone_node() -> std::sync::Arc<PoolNode> {
    PoolNode::start(NodeConfig::new(Keypair::generate()))
        .await
        .expect("node")
}
