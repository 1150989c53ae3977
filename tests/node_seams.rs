//! A node's seams: an acknowledged share always reaches publication (a
//! full queue makes the reply wait), a failed journal commit is an error
//! reply and never "accepted", the miner rolls the extranonce2 size the
//! pool asked for, a restarted node says what it replayed and pruned, and
//! invalid settings are errors naming the field.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chiral_pool::core::chain::{SyntheticChain, WorkSource};
use chiral_pool::core::identity::Keypair;
use chiral_pool::core::ids::PoolId;
use chiral_pool::core::pow::{sha256d, CompactTarget, Target};
use chiral_pool::core::share::{Share, VerifiedShare};
use chiral_pool::miner::{run_cpu_miner, MinerStats};
use chiral_pool::node::{
    GroupCommit, JournalEntry, JournalError, JournalWriter, NodeConfig, NodeError, PoolNode,
    PoolSpec, PublishingSink, ShareJournal,
};
use chiral_pool::stratum::client::{
    ClientConfig, ClientError, ClientEvent, StratumClient, Submission,
};
use chiral_pool::stratum::server::{Durable, RejectReason, ServerConfig, ShareSink, StratumServer};
use chiral_pool::stratum::wire::ErrorCode;
use common::{ShareFactory, BITS, TIP};
use tokio::sync::mpsc;

fn pool() -> PoolId {
    PoolId::derive(&Keypair::from_secret_bytes([6; 32]).public(), "seams")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_share_reaches_publication_through_a_queue_of_one() {
    const N: u64 = 40;
    let f = ShareFactory::new(pool());
    let (tx, mut rx) = mpsc::channel(1);
    let sink = PublishingSink::new(tx, None);
    let mut replies = tokio::task::JoinSet::new();
    let mut expected = Vec::new();
    for i in 0..N {
        let share = f.share("alice", i);
        let v = ShareFactory::verdict(TIP, &share);
        expected.push(v.hash);
        replies.spawn(sink.accepted(&share, &v).wait());
    }
    // A slow publisher: it takes one share at a time, yielding between.
    let publisher = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some((share, v)) = rx.recv().await {
            assert_eq!(v.hash, sha256d(&share.header.to_bytes()));
            got.push(v.hash);
            tokio::task::yield_now().await;
        }
        got
    });
    let mut acknowledged = 0;
    while let Some(reply) = replies.join_next().await {
        reply.expect("task").expect("acknowledged");
        acknowledged += 1;
    }
    drop(sink);
    let mut got = publisher.await.expect("publisher");
    got.sort();
    expected.sort();
    assert_eq!(acknowledged, N);
    assert_eq!(got, expected, "every acknowledged share was published");
}

/// A journal whose disk is full.
struct FailingCommit;

impl GroupCommit for FailingCommit {
    fn commit(&self, _: &[JournalEntry]) -> Result<(), JournalError> {
        Err(redb::Error::Corrupted("no space left on device".into()).into())
    }
}

async fn server(
    config: ServerConfig,
    sink: Arc<dyn ShareSink>,
) -> (
    std::net::SocketAddr,
    Arc<chiral_pool::stratum::server::ServerStats>,
) {
    let chain =
        Arc::new(SyntheticChain::new(CompactTarget::from_consensus(0x1d00ffff)).expect("bits"));
    let server = StratumServer::new(config, chain, sink).expect("valid config");
    let stats = server.stats();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.run(listener, std::future::pending::<()>()));
    (addr, stats)
}

fn easy_config() -> ServerConfig {
    let mut config = ServerConfig::new(pool());
    config.initial_difficulty = 1.0 / 16_777_216.0;
    config.vardiff.min_difficulty = config.initial_difficulty;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_journal_commit_is_an_error_reply_never_accepted() {
    let writer = JournalWriter::spawn(Arc::new(FailingCommit), 16).expect("writer");
    let (tx, mut rx) = mpsc::channel(16);
    let sink = PublishingSink::new(tx, Some(writer.clone()));
    let (addr, stats) = server(easy_config(), Arc::new(sink)).await;

    let (client, mut events) =
        StratumClient::connect(ClientConfig::new(addr.to_string(), "alice.rig"))
            .await
            .expect("connects");
    let (mut difficulty, mut job) = (None, None);
    while job.is_none() || difficulty.is_none() {
        match events.recv().await.expect("events") {
            ClientEvent::Difficulty(d) => difficulty = Some(d),
            ClientEvent::Job(j) => job = Some(j),
            _ => {}
        }
    }
    let (job, difficulty) = (job.expect("job"), difficulty.expect("difficulty"));
    let session = client.session().clone();
    let en2 = vec![0u8; session.extranonce2_size];
    let coinbase = job.coinbase(&session.extranonce1, &en2);
    let header = job.header(&coinbase, job.template.time, 0, job.template.version as u32);
    let target = Target::from_difficulty(difficulty).expect("target");
    let nonce = header.find_nonce(&target, 0..u32::MAX).expect("a nonce");
    let result = client
        .submit(&Submission {
            job_id: job.id.clone(),
            extranonce2: en2,
            ntime: job.template.time,
            nonce,
            version_bits: None,
        })
        .await;
    assert!(
        matches!(result, Err(ClientError::Server(ref e)) if e.kind() == Some(ErrorCode::Other)),
        "the miner must not hear accepted: {result:?}"
    );
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 0);
    assert_eq!(stats.rejected(RejectReason::NotStored), 1);
    assert_eq!(writer.failures(), 1);
    assert!(
        rx.try_recv().is_err(),
        "an unjournaled share is not published"
    );
}

/// Counts accepted shares and says when each arrives.
struct Notify(mpsc::UnboundedSender<()>);

impl ShareSink for Notify {
    fn accepted(&self, _: &Share, _: &VerifiedShare) -> Durable {
        let _ = self.0.send(());
        Durable::now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_rolls_the_extranonce2_size_the_pool_asked_for() {
    let mut config = easy_config();
    config.extranonce2_size = 8;
    let (tx, mut accepted) = mpsc::unbounded_channel();
    let (addr, stats) = server(config, Arc::new(Notify(tx))).await;
    let miner_stats = Arc::new(MinerStats::default());
    let stop = chiral_pool::node::stop_flag();
    let mut c = ClientConfig::new(addr.to_string(), "bob.cpu");
    c.suggest_difficulty = Some(1.0 / 16_777_216.0);
    let miner = tokio::spawn(run_cpu_miner(c, miner_stats.clone(), stop.clone()));
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(60), accepted.recv())
            .await
            .expect("a share within a minute")
            .expect("server running");
    }
    stop.store(true, Ordering::Relaxed);
    miner.await.expect("miner");
    assert_eq!(stats.rejected(RejectReason::Invalid), 0);
    assert_eq!(miner_stats.rejected.load(Ordering::Relaxed), 0);
    assert!(miner_stats.accepted.load(Ordering::Relaxed) >= 3);
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_prunes_old_shares_and_says_what_it_replayed() {
    let dir = std::env::temp_dir().join(format!("chiral-replay-{}", rand::random::<u64>()));
    let key = Keypair::generate();
    let pool = PoolId::derive(&key.public(), "replay");
    let mut config = NodeConfig::new(key);
    config.data_dir = Some(dir.clone());
    config.announce = Some(PoolSpec::new("replay"));
    {
        let journal = ShareJournal::open(&dir.join("journal.redb")).expect("journal");
        let fresh = ShareFactory::at(pool, now() - 10);
        let old = ShareFactory::at(pool, now() - config.lookback.as_secs() - 600);
        for i in 0..30 {
            let s = fresh.share("alice", i);
            journal
                .append(&sha256d(&s.header.to_bytes()), &s)
                .expect("append");
        }
        for i in 0..50 {
            let s = old.share("alice", 1_000 + i);
            journal
                .append(&sha256d(&s.header.to_bytes()), &s)
                .expect("append");
        }
    }
    let node = PoolNode::start(config).await.expect("starts");
    assert_eq!(node.counters.shares_replayed.load(Ordering::Relaxed), 30);
    assert_eq!(node.counters.shares_pruned.load(Ordering::Relaxed), 50);
    node.shutdown().await;
    let journal = ShareJournal::open(&dir.join("journal.redb")).expect("reopens after shutdown");
    assert_eq!(journal.len().expect("len"), 30);
    drop(journal);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn invalid_node_settings_are_errors_naming_the_field() {
    let mut config = NodeConfig::new(Keypair::generate());
    config.chain_bits = CompactTarget::from_consensus(0x0480_0001); // negative: no target
    let err = PoolNode::start(config).await.err().expect("refused");
    assert!(
        matches!(
            err,
            NodeError::Config {
                field: "chain_bits",
                ..
            }
        ),
        "{err}"
    );

    let mut config = NodeConfig::new(Keypair::generate());
    config.share_difficulty = f64::NAN;
    config.announce = Some(PoolSpec::new("nan"));
    let err = PoolNode::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("share_difficulty"), "{err}");

    let mut server = ServerConfig::new(pool());
    server.extranonce2_size = 12;
    let chain = Arc::new(SyntheticChain::new(BITS).expect("bits"));
    let tip = chain.tip().borrow().height;
    assert_eq!(tip, 1);
    let err = StratumServer::new(
        server,
        chain,
        Arc::new(chiral_pool::stratum::server::DiscardShares),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("extranonce2_size"), "{err}");
}
