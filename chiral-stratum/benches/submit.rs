//! A submit's round trip through the Stratum server (parse, rebuild the
//! header, validate, dedupe, reply) next to the same round trip through a
//! canned-reply line server, and the parse of a submit line next to plain
//! `serde_json`, all measured in the same run.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chiral_pool_core::chain::SyntheticChain;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::pow::{CompactTarget, Difficulty};
use chiral_stratum::server::{DiscardShares, ServerConfig, StratumServer};
use chiral_stratum::wire::Message;
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One miner connection, subscribed and authorized, with its job.
struct Miner {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: tokio::net::tcp::OwnedWriteHalf,
    job: String,
    ntime: String,
    nonce: u32,
}

impl Miner {
    async fn connect(addr: std::net::SocketAddr) -> Miner {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (r, mut write) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        write
            .write_all(
                b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"bench.x\",\"\"]}\n",
            )
            .await
            .expect("handshake");
        loop {
            let line = lines.next_line().await.expect("read").expect("line");
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            if v["method"] == "mining.notify" {
                return Miner {
                    job: v["params"][0].as_str().expect("job id").to_owned(),
                    ntime: v["params"][7].as_str().expect("ntime").to_owned(),
                    lines,
                    write,
                    nonce: 0,
                };
            }
        }
    }

    /// Submits a fresh nonce and waits for its reply; panics on a reject so
    /// the bench cannot measure a cheaper error path by mistake.
    async fn submit(&mut self) {
        self.nonce += 1;
        let line = format!(
            "{{\"id\":9,\"method\":\"mining.submit\",\"params\":[\"bench.x\",\"{}\",\"00000000\",\"{}\",\"{:08x}\"]}}\n",
            self.job, self.ntime, self.nonce
        );
        self.write.write_all(line.as_bytes()).await.expect("write");
        loop {
            let reply = self.lines.next_line().await.expect("read").expect("line");
            if reply.contains("\"method\"") {
                continue;
            }
            assert!(reply.contains("\"result\":true"), "rejected: {reply}");
            return;
        }
    }
}

fn server_config() -> ServerConfig {
    let pool = PoolId::derive(&Keypair::from_secret_bytes([3; 32]).public(), "bench");
    let mut config = ServerConfig::new(pool);
    // Every hash meets the target: each submit is a valid share.
    // The easiest difficulty there is: one fixed-point unit.
    config.initial_difficulty = Difficulty::from_raw(1).as_f64();
    config.vardiff.min_difficulty = config.initial_difficulty;
    config.vardiff.max_difficulty = config.initial_difficulty;
    config.vardiff.retarget_secs = 1e9;
    config.max_shares_per_tip = 1 << 24;
    config
}

fn roundtrip(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (stratum, echo) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = StratumServer::new(
            server_config(),
            Arc::new(
                SyntheticChain::new(CompactTarget::from_consensus(0x1d00ffff)).expect("valid bits"),
            ),
            Arc::new(DiscardShares),
        )
        .expect("valid server config");
        tokio::spawn(server.run(listener, std::future::pending::<()>()));
        let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let echo_addr = echo_listener.local_addr().expect("addr");
        tokio::spawn(chiral_bench_support::echo::echo_server(echo_listener));
        (Miner::connect(addr).await, Miner::connect(echo_addr).await)
    });
    let mut g = c.benchmark_group("submit_roundtrip");
    g.measurement_time(Duration::from_secs(5));
    for (name, mut miner) in [("echo_baseline", echo), ("stratum_server", stratum)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        miner.submit().await;
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn parse(c: &mut Criterion) {
    let line = r#"{"id":9,"method":"mining.submit","params":["bench.x","1a","00000000","65000000","0000abcd"]}"#;
    let mut g = c.benchmark_group("submit_parse");
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_str::<serde_json::Value>(std::hint::black_box(line)).expect("json")
        })
    });
    g.bench_function("message_parse", |b| {
        b.iter(|| Message::parse(std::hint::black_box(line)).expect("message"))
    });
    g.finish();
}

criterion_group!(benches, parse, roundtrip);
criterion_main!(benches);
