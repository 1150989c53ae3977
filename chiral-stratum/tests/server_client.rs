//! Our client against our server on loopback: the whole protocol.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chiral_stratum::client::{ClientConfig, ClientError, ClientEvent, StratumClient, Submission};
use chiral_stratum::server::RejectReason;
use chiral_stratum::wire::ErrorCode;
use common::{mine, next_job, TestServer, EASY, HARD_BITS};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn config(addr: std::net::SocketAddr, user: &str) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string(), user);
    c.suggest_difficulty = Some(EASY);
    c
}

#[tokio::test]
async fn shares_are_accepted_and_every_rejection_has_its_code() {
    let mut server = TestServer::start(HARD_BITS, |_| {}).await;
    let (client, mut events) = StratumClient::connect(config(server.addr, "alice.rig1"))
        .await
        .expect("connect");
    assert_eq!(client.session().extranonce1.len(), 4);
    assert_eq!(client.session().extranonce2_size, 4);
    let mut diff = 0.0;
    let job = next_job(&mut events, &mut diff).await;
    assert_eq!(diff, EASY);

    let share = mine(&client, &job, diff, 1, None);
    client.submit(&share).await.expect("accepted");
    assert!(matches!(
        client.submit(&share).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Duplicate)
    ));

    let stale = Submission {
        job_id: "ffff".into(),
        ..share.clone()
    };
    assert!(matches!(
        client.submit(&stale).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::JobNotFound)
    ));

    // A nonce that misses the target.
    let mut low = mine(&client, &job, diff, 2, None);
    let target = chiral_pool_core::pow::Target::from_difficulty(diff).expect("valid");
    let coinbase = job.coinbase(&client.session().extranonce1, &low.extranonce2);
    loop {
        low.nonce = low.nonce.wrapping_add(1);
        let h = job.header(&coinbase, low.ntime, low.nonce, job.template.version as u32);
        if !target.is_met_by(&h.hash()) {
            break;
        }
    }
    assert!(matches!(
        client.submit(&low).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::LowDifficulty)
    ));

    // A worker this connection never authorized.
    let other = client
        .request(
            "mining.submit",
            serde_json::json!([
                "mallory.x",
                share.job_id,
                "00000003",
                format!("{:08x}", share.ntime),
                "00000000"
            ]),
        )
        .await;
    assert!(
        matches!(other, Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Unauthorized))
    );

    // Malformed params and a bad extranonce2 length.
    let bad = client
        .request(
            "mining.submit",
            serde_json::json!(["alice.rig1", job.id, "00"]),
        )
        .await;
    assert!(matches!(bad, Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)));

    // Version bits without negotiated rolling are outside the (empty) mask.
    let rolled = Submission {
        version_bits: Some(0x0000_2000),
        ..mine(&client, &job, diff, 4, None)
    };
    assert!(matches!(
        client.submit(&rolled).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)
    ));

    // Unknown methods get an error, and the connection lives on.
    assert!(matches!(
        client
            .request("mining.teleport", serde_json::json!([]))
            .await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)
    ));
    client
        .submit(&mine(&client, &job, diff, 5, None))
        .await
        .expect("still serving");

    let stats = &server.stats;
    assert_eq!(stats.accepted.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(stats.rejected(RejectReason::Duplicate), 1);
    assert_eq!(stats.rejected(RejectReason::Stale), 1);
    assert_eq!(stats.rejected(RejectReason::LowDifficulty), 1);
    assert_eq!(stats.rejected(RejectReason::Unauthorized), 1);
    assert_eq!(stats.rejected(RejectReason::Invalid), 2);
    assert_eq!(server.shares.shares.lock().expect("lock").len(), 2);
    let workers = stats.workers();
    assert_eq!(workers[0].0, "alice.rig1");
    assert_eq!(workers[0].1.shares, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn version_rolling_is_negotiated_and_enforced() {
    let mut server = TestServer::start(HARD_BITS, |_| {}).await;
    let mut cfg = config(server.addr, "bob.asic");
    cfg.version_rolling = Some(0xffff_ffff);
    let (client, mut events) = StratumClient::connect(cfg).await.expect("connect");
    assert_eq!(client.session().version_mask, Some(0x1fff_e000));
    let mut diff = 0.0;
    let job = next_job(&mut events, &mut diff).await;
    assert_eq!(
        job.template.version as u32 & 0x1fff_e000,
        0,
        "no job bits inside the mask"
    );
    client
        .submit(&mine(&client, &job, diff, 1, Some(0x0000_6000)))
        .await
        .expect("rolled share accepted");
    let outside = Submission {
        version_bits: Some(0x0000_0001),
        ..mine(&client, &job, diff, 2, None)
    };
    assert!(matches!(
        client.submit(&outside).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn a_block_moves_the_tip_and_clean_jobs_follow_then_shutdown_says_reconnect() {
    // Regtest-easy network target: every share is a block.
    let mut server = TestServer::start(
        chiral_pool_core::pow::CompactTarget::from_consensus(0x207fffff),
        |_| {},
    )
    .await;
    let (client, mut events) = StratumClient::connect(config(server.addr, "carol"))
        .await
        .expect("connect");
    let mut diff = 0.0;
    let job = next_job(&mut events, &mut diff).await;
    client
        .submit(&mine(&client, &job, diff, 1, None))
        .await
        .expect("block accepted");
    assert_eq!(
        server
            .stats
            .blocks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let next = next_job(&mut events, &mut diff).await;
    assert!(next.clean);
    assert_ne!(next.template.prev_hash, job.template.prev_hash);
    // The server verifies against the new tip at once.
    client
        .submit(&mine(&client, &next, diff, 3, None))
        .await
        .expect("share on the new tip accepted");
    // The old job is stale now.
    let late = mine(&client, &job, diff, 2, None);
    assert!(matches!(
        client.submit(&late).await,
        Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::JobNotFound)
    ));
    server.shutdown().await;
    // Jobs for the second block may come first; the last word is reconnect.
    let reconnect = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = events.recv().await {
            if ev == ClientEvent::Reconnect {
                return true;
            }
        }
        false
    })
    .await
    .expect("event");
    assert!(reconnect);
}

#[tokio::test]
async fn raw_protocol_abuse_is_answered_without_harm() {
    let mut server = TestServer::start(HARD_BITS, |c| {
        c.handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    // Submit before subscribe: 25, with the id echoed as sent (a string).
    w.write_all(b"{\"id\":\"s1\",\"method\":\"mining.submit\",\"params\":[\"a\",\"1\",\"00000000\",\"00000000\",\"00000000\"]}\n").await.expect("write");
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.expect("read").expect("line")).expect("json");
    assert_eq!(reply["id"], "s1");
    assert_eq!(reply["error"][0], 25);
    // Garbage JSON gets an error reply and the connection stays.
    w.write_all(b"{not json\n").await.expect("write");
    let reply: serde_json::Value =
        serde_json::from_str(&lines.next_line().await.expect("read").expect("line")).expect("json");
    assert_eq!(reply["error"][0], 20);
    // Several messages in one write, one message split across writes.
    w.write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.extranonce.subscribe\",\"params\":[]}\n{\"id\":3,\"meth").await.expect("write");
    w.write_all(b"od\":\"mining.suggest_difficulty\",\"params\":[0.5]}\n")
        .await
        .expect("write");
    for expected in [1, 2, 3] {
        let reply: serde_json::Value =
            serde_json::from_str(&lines.next_line().await.expect("read").expect("line"))
                .expect("json");
        assert_eq!(reply["id"], expected);
        assert!(reply["error"].is_null(), "{reply}");
    }
    // No authorize within the handshake timeout: closed.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = lines.next_line().await {}
    })
    .await;
    assert!(end.is_ok(), "server closed the idle handshake");

    // An oversized line closes the connection.
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(&vec![b'a'; 20_000]).await.expect("write");
    s.write_all(b"\n").await.ok();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut s, &mut buf),
    )
    .await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "closed after an oversized line"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sessions_resume_with_their_extranonce() {
    let mut server = TestServer::start(HARD_BITS, |_| {}).await;
    let (first, _ev) = StratumClient::connect(config(server.addr, "dave"))
        .await
        .expect("connect");
    let sid = first.session().session_id.clone().expect("session id");
    let en1 = first.session().extranonce1.clone();
    drop(first);
    drop(_ev);
    // Wait until the server has released the first connection's extranonce.
    for _ in 0..500 {
        if server
            .stats
            .connections_open
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (second, _ev2) = StratumClient::connect_resuming(config(server.addr, "dave"), Some(sid))
        .await
        .expect("resume");
    assert_eq!(second.session().extranonce1, en1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_share_the_sink_could_not_keep_is_an_error_reply() {
    let mut server = TestServer::start(HARD_BITS, |_| {}).await;
    *server.shares.fail.lock().expect("lock") = true;
    let (client, mut events) = StratumClient::connect(config(server.addr, "faye"))
        .await
        .expect("connect");
    let mut diff = 0.0;
    let job = next_job(&mut events, &mut diff).await;
    let share = mine(&client, &job, diff, 1, None);
    let lost = client.submit(&share).await;
    assert!(
        matches!(lost, Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)),
        "a share that was not kept was confirmed: {lost:?}"
    );
    assert_eq!(server.stats.accepted.load(Ordering::Relaxed), 0);
    assert_eq!(server.stats.rejected(RejectReason::NotStored), 1);

    // The sink recovers: the same share, sent again, is accepted (a share
    // that was not kept is no duplicate).
    *server.shares.fail.lock().expect("lock") = false;
    client.submit(&share).await.expect("accepted");
    assert_eq!(server.stats.accepted.load(Ordering::Relaxed), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn the_reply_waits_until_the_sink_made_the_share_durable() {
    let mut server = TestServer::start(HARD_BITS, |c| {
        c.write_timeout = Duration::from_millis(500);
    })
    .await;
    let (gate, held) = tokio::sync::watch::channel(false);
    *server.shares.gate.lock().expect("lock") = Some(held);
    let (client, mut events) = StratumClient::connect(config(server.addr, "erin"))
        .await
        .expect("connect");
    let mut diff = 0.0;
    let job = next_job(&mut events, &mut diff).await;

    // The sink has the share, the miner has no answer while it is held.
    let share = mine(&client, &job, diff, 1, None);
    let submit = client.submit(&share);
    tokio::pin!(submit);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut submit)
            .await
            .is_err(),
        "replied before the share was durable"
    );
    assert_eq!(server.shares.shares.lock().expect("lock").len(), 1);
    gate.send_replace(true);
    submit.await.expect("accepted once durable");

    // A sink that never finishes: the connection gives up after the write
    // timeout instead of confirming.
    let (_never, held) = tokio::sync::watch::channel(false);
    *server.shares.gate.lock().expect("lock") = Some(held);
    let stuck = client.submit(&mine(&client, &job, diff, 2, None)).await;
    assert!(
        matches!(stuck, Err(ClientError::Closed)),
        "confirmed a share that was never durable: {stuck:?}"
    );
    server.shutdown().await;
}
