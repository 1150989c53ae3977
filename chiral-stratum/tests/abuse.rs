//! While honest miners submit, hostile connections send garbage, oversized
//! lines, slow-loris handshakes and floods of invalid shares. Honest miners
//! lose no accepted share and see no error; hostile ones are cut off.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chiral_stratum::client::{ClientConfig, StratumClient};
use common::{mine, next_job, TestServer, EASY, HARD_BITS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HONEST: usize = 100;
const SHARES_EACH: u32 = 3;

/// Reads until the server closes the connection; true if it did in time.
async fn closed_by_server(mut s: TcpStream) -> bool {
    let mut buf = vec![0u8; 4096];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_miners_are_unharmed_by_hostile_connections() {
    let rss_before = chiral_bench_support::rss::rss_kib();
    let mut server = TestServer::start(HARD_BITS, |c| {
        c.handshake_timeout = Duration::from_millis(500);
        // Everyone is on loopback: never ban the address, only cut the connection.
        c.allow_list = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let addr = server.addr;

    // Hostile connections, all at once.
    let mut hostile = Vec::new();
    for i in 0..10 {
        // Garbage lines until cut off.
        hostile.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            for _ in 0..50 {
                if s.write_all(format!("garbage {i} {{{{\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            closed_by_server(s).await
        }));
        // An oversized line.
        hostile.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s.write_all(&vec![b'x'; 64 * 1024]).await;
            closed_by_server(s).await
        }));
        // Slow loris: half a line, then nothing.
        hostile.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s.write_all(b"{\"id\":1,\"method\":\"mining.subscr").await;
            closed_by_server(s).await
        }));
        // A flood of invalid shares from a subscribed, authorized miner.
        hostile.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let hello = format!("{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"evil{i}.x\",\"\"]}}\n");
            let _ = s.write_all(hello.as_bytes()).await;
            for n in 0..200u32 {
                let bad = format!("{{\"id\":{n},\"method\":\"mining.submit\",\"params\":[\"evil{i}.x\",\"1\",\"00000000\",\"00000000\",\"{n:08x}\"]}}\n");
                if s.write_all(bad.as_bytes()).await.is_err() {
                    break;
                }
            }
            closed_by_server(s).await
        }));
    }

    // Honest miners, concurrently.
    let mut honest = Vec::new();
    for m in 0..HONEST {
        honest.push(tokio::spawn(async move {
            let mut c = ClientConfig::new(addr.to_string(), format!("honest{m}.rig"));
            c.suggest_difficulty = Some(EASY);
            // Two cores serve 100 miners and 40 attackers at once.
            c.request_timeout = Duration::from_secs(60);
            let (client, mut events) = StratumClient::connect(c).await.expect("honest connect");
            let mut diff = 0.0;
            let job = next_job(&mut events, &mut diff).await;
            let mut accepted = 0;
            for en2 in 0..SHARES_EACH {
                let (c, j) = (client.clone(), job.clone());
                let share = tokio::task::spawn_blocking(move || mine(&c, &j, diff, en2, None))
                    .await
                    .expect("mining thread");
                client.submit(&share).await.expect("honest share accepted");
                accepted += 1;
            }
            accepted
        }));
    }
    let mut total = 0;
    for h in honest {
        total += h.await.expect("honest miner task");
    }
    assert_eq!(total, HONEST as u32 * SHARES_EACH);
    for h in hostile {
        assert!(
            h.await.expect("hostile task"),
            "a hostile connection was not cut off"
        );
    }
    let stats = &server.stats;
    assert_eq!(
        stats.accepted.load(Ordering::Relaxed),
        (HONEST as u64) * SHARES_EACH as u64
    );
    assert_eq!(
        server.shares.shares.lock().expect("lock").len(),
        HONEST * SHARES_EACH as usize
    );
    assert!(stats.disconnected_for_abuse.load(Ordering::Relaxed) >= 20);
    // 64 KiB lines and floods never buffer without bound: the whole test
    // (server, 100 clients, 40 attackers) grew by 8.4 to 9.4 MiB over four
    // runs; the bound is about twice that.
    let grown = chiral_bench_support::rss::rss_kib().saturating_sub(rss_before);
    assert!(grown < 20 * 1024, "memory grew by {grown} KiB");
    server.shutdown().await;
}
