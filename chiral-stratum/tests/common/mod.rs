//! A server on loopback for the Stratum tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiral_pool_core::chain::SyntheticChain;
use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::PoolId;
use chiral_pool_core::pow::{CompactTarget, Target};
use chiral_pool_core::share::{Share, VerifiedShare};
use chiral_stratum::client::{ClientEvent, StratumClient, Submission};
use chiral_stratum::job::JobParams;
use chiral_stratum::server::{
    Durable, ServerConfig, ServerStats, ShareSink, SinkError, StratumServer,
};
use tokio::sync::{mpsc, oneshot, watch};

/// Network target at difficulty 1: out of reach of test shares.
pub const HARD_BITS: CompactTarget = CompactTarget::from_consensus(0x1d00ffff);
/// Difficulty miners ask for: about 4,096 hashes a share.
pub const EASY: f64 = 1.0 / 1_048_576.0;

/// Collects accepted shares. While `gate` holds a receiver, every share
/// is made "durable" only once the gate opens (a slow journal); while
/// `fail` is set, every share fails to be kept (a full disk).
#[derive(Default)]
pub struct Collect {
    pub shares: Mutex<Vec<VerifiedShare>>,
    pub gate: Mutex<Option<watch::Receiver<bool>>>,
    pub fail: Mutex<bool>,
}

impl ShareSink for Collect {
    fn accepted(&self, _: &Share, verified: &VerifiedShare) -> Durable {
        self.shares.lock().expect("lock").push(verified.clone());
        if *self.fail.lock().expect("lock") {
            return Durable::after(async { Err(SinkError::new("no space left on device")) });
        }
        match self.gate.lock().expect("lock").clone() {
            Some(mut gate) => Durable::after(async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok(())
            }),
            None => Durable::now(),
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    pub chain: Arc<SyntheticChain>,
    pub shares: Arc<Collect>,
    pub pool: PoolId,
    stop: Option<oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(bits: CompactTarget, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let pool = PoolId::derive(
            &Keypair::from_secret_bytes([8; 32]).public(),
            "stratum-test",
        );
        let mut config = ServerConfig::new(pool);
        config.vardiff.min_difficulty = 1.0 / 16_777_216.0;
        config.initial_difficulty = EASY;
        tweak(&mut config);
        let chain = Arc::new(SyntheticChain::new(bits).expect("valid bits"));
        let shares = Arc::new(Collect::default());
        let server =
            StratumServer::new(config, chain.clone(), shares.clone()).expect("valid server config");
        let stats = server.stats();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            server
                .run(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        TestServer {
            addr,
            stats,
            chain,
            shares,
            pool,
            stop: Some(stop),
            done: Some(done),
        }
    }

    pub async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            tokio::time::timeout(Duration::from_secs(10), d)
                .await
                .expect("stops")
                .expect("no panic");
        }
    }
}

/// Waits for the next job (and the difficulty before it).
pub async fn next_job(events: &mut mpsc::Receiver<ClientEvent>, difficulty: &mut f64) -> JobParams {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(ClientEvent::Job(j))) => return j,
            Ok(Some(ClientEvent::Difficulty(d))) => *difficulty = d,
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Ok(None) | Err(_) => panic!("no job arrived"),
        }
    }
}

/// Mines one share on `job` with extranonce2 `en2` and returns it.
pub fn mine(
    client: &StratumClient,
    job: &JobParams,
    difficulty: f64,
    en2: u32,
    version_bits: Option<u32>,
) -> Submission {
    let session = client.session();
    let target = Target::from_difficulty(difficulty).expect("valid difficulty");
    let en2_bytes = en2.to_be_bytes()[4 - session.extranonce2_size.min(4)..].to_vec();
    let job_version = job.template.version as u32;
    let version = match (version_bits, session.version_mask) {
        (Some(bits), Some(mask)) => (job_version & !mask) | (bits & mask),
        _ => job_version,
    };
    let coinbase = job.coinbase(&session.extranonce1, &en2_bytes);
    let nonce = job
        .header(&coinbase, job.template.time, 0, version)
        .find_nonce(&target, 0..u32::MAX)
        .expect("a share exists");
    Submission {
        job_id: job.id.clone(),
        extranonce2: en2_bytes,
        ntime: job.template.time,
        nonce,
        version_bits,
    }
}
