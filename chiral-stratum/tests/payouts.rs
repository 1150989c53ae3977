//! Payouts at the Stratum edge: a pool that pays in the coinbase takes
//! only addresses of its network as usernames, and a miner refuses a job
//! that would credit anyone else (a serving node swapping its payout id).

mod common;

use std::sync::Arc;

use chiral_pool_core::chain::{SyntheticChain, Tip, WorkError, WorkSource};
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::payout::{
    paying_outputs, payout_script, AddressNetwork, CoinbasePlan, OutputRules, PayoutOutput,
    RewardCuts,
};
use chiral_pool_core::pow::BlockHeader;
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::WorkTemplate;
use chiral_pool_core::sharechain::testing::label_address;
use chiral_pool_core::sharechain::{ChainParams, JobPosition};
use chiral_stratum::client::{ClientConfig, ClientError, JobRefused, StratumClient};
use chiral_stratum::server::{ServerConfig, StratumServer};
use chiral_stratum::wire::ErrorCode;
use common::{next_job, Collect, EASY, HARD_BITS};
use tokio::sync::watch;

fn address(label: &str, network: AddressNetwork) -> String {
    label_address(label, network)
}

fn config(addr: std::net::SocketAddr, user: &str) -> ClientConfig {
    let mut c = ClientConfig::new(addr.to_string(), user);
    c.suggest_difficulty = Some(EASY);
    c
}

#[tokio::test]
async fn an_address_of_another_network_is_refused_at_authorize_with_the_reason() {
    let mut regtest_pool = settings();
    regtest_pool.addresses = Some(AddressNetwork::Regtest);
    // A genesis position of a regtest pool that pays in the coinbase.
    let plan = CoinbasePlan {
        weights: Vec::new(),
        cuts: RewardCuts::default(),
        owner: vec![0x51],
        seed: [0; 32],
        rules: OutputRules::default(),
        network: Some(AddressNetwork::Regtest),
    };
    let position = JobPosition {
        parent: None,
        uncles: Vec::new(),
        chain_bits: ChainParams::new().floor_target().to_compact_lossy(),
        min_time: 0,
        payouts: Some(Arc::new(plan)),
    };
    let (_keep, positions) = watch::channel(position);
    let chain = SyntheticChain::new(HARD_BITS)
        .expect("valid bits")
        .with_reward(5_000_000_000);
    let (addr, stop, done) = serve_on(regtest_pool, Arc::new(chain), Some(positions)).await;
    let mainnet = address("alice", AddressNetwork::Bitcoin);
    for user in [format!("{mainnet}.rig1"), "alice.rig1".to_owned()] {
        match StratumClient::connect(config(addr, &user)).await {
            Err(ClientError::Server(e)) => {
                assert_eq!(e.kind(), Some(ErrorCode::Unauthorized));
                assert!(e.message.contains("regtest"), "{}", e.message);
            }
            other => panic!("{user}: expected a refusal, got {other:?}"),
        }
    }
    // A regtest address works, and its first job checks out.
    let regtest = address("alice", AddressNetwork::Regtest);
    let (client, mut events) = StratumClient::connect(config(addr, &format!("{regtest}.rig1")))
        .await
        .expect("a regtest address is authorized");
    let mut difficulty = 0.0;
    let job = next_job(&mut events, &mut difficulty).await;
    client.check_job(&job).expect("the job credits the miner");
    // The genesis job pays the whole reward to the miner's own address.
    let coinbase = job.coinbase(&client.session().extranonce1, &[0; 4]);
    let outputs = paying_outputs(&coinbase).expect("layout");
    let script = payout_script(
        &PayoutId::new(regtest).expect("an id"),
        AddressNetwork::Regtest,
    )
    .expect("an address");
    assert_eq!(
        outputs,
        vec![PayoutOutput {
            script,
            value: 5_000_000_000
        }]
    );
    let _ = stop.send(());
    let _ = done.await;
}

/// A work source that puts its operator's payout id in every commitment:
/// what a dishonest serving node would do. Peers cannot tell; the miner
/// can.
struct Thief {
    chain: Arc<SyntheticChain>,
    thief: PayoutId,
}

impl WorkSource for Thief {
    fn tip(&self) -> watch::Receiver<Tip> {
        self.chain.tip()
    }

    fn template(
        &self,
        commitment: &Commitment,
        payouts: &CoinbasePlan,
        finder: &[u8],
        extranonce_len: usize,
    ) -> Result<WorkTemplate, WorkError> {
        let swapped = Commitment {
            payout: self.thief.clone(),
            ..commitment.clone()
        };
        self.chain
            .template(&swapped, payouts, finder, extranonce_len)
    }

    fn block_found(&self, header: &BlockHeader, coinbase: &[u8]) -> bool {
        self.chain.block_found(header, coinbase)
    }
}

fn settings() -> ServerConfig {
    let mut settings = ServerConfig::new(PoolId::from_bytes([4; 32]));
    settings.vardiff.min_difficulty = 1.0 / 16_777_216.0;
    settings.initial_difficulty = EASY;
    settings
}

type Running = (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
);

/// Runs a server on loopback until the sender is used or dropped.
async fn serve(settings: ServerConfig, work: Arc<dyn WorkSource>) -> Running {
    serve_on(settings, work, None).await
}

/// [`serve`] building jobs on `positions` if given.
async fn serve_on(
    settings: ServerConfig,
    work: Arc<dyn WorkSource>,
    positions: Option<watch::Receiver<JobPosition>>,
) -> Running {
    let mut server =
        StratumServer::new(settings, work, Arc::new(Collect::default())).expect("valid");
    if let Some(positions) = positions {
        server = server.with_share_chain(positions);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let _ = server
            .run(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop, done)
}

#[tokio::test]
async fn a_miner_refuses_the_first_job_that_credits_someone_else() {
    let chain = Arc::new(SyntheticChain::new(HARD_BITS).expect("valid bits"));
    let thief = PayoutId::new(address("mallory", AddressNetwork::Bitcoin)).expect("an id");
    let work = Arc::new(Thief {
        chain,
        thief: thief.clone(),
    });
    let (addr, stop, done) = serve(settings(), work).await;

    let alice = address("alice", AddressNetwork::Bitcoin);
    let (client, mut events) = StratumClient::connect(config(addr, &format!("{alice}.rig1")))
        .await
        .expect("connect");
    let mut difficulty = 0.0;
    let job = next_job(&mut events, &mut difficulty).await;
    match client.check_job(&job) {
        Err(JobRefused::WrongPayout { expected, found }) => {
            assert_eq!(expected, alice);
            assert_eq!(found, thief.as_str());
        }
        other => panic!("expected the swapped payout to be caught, got {other:?}"),
    }

    // A miner configured for another pool refuses the job as well.
    let mut other_pool = config(addr, &format!("{}.rig2", thief.as_str()));
    other_pool.expect_pool = Some(PoolId::from_bytes([5; 32]));
    let (client, mut events) = StratumClient::connect(other_pool).await.expect("connect");
    let job = next_job(&mut events, &mut difficulty).await;
    assert!(matches!(
        client.check_job(&job),
        Err(JobRefused::WrongPool { .. })
    ));
    let _ = stop.send(());
    let _ = done.await;
}

#[tokio::test]
async fn a_ledger_pools_job_pays_the_whole_block_to_its_ledger_script() {
    let mut ledger = settings();
    ledger.ledger_script = vec![0x52];
    let chain = SyntheticChain::new(HARD_BITS)
        .expect("valid bits")
        .with_reward(5_000_000_000);
    let (addr, stop, done) = serve(ledger, Arc::new(chain)).await;
    let (client, mut events) = StratumClient::connect(config(addr, "alice.rig1"))
        .await
        .expect("connect");
    let mut difficulty = 0.0;
    let job = next_job(&mut events, &mut difficulty).await;
    client.check_job(&job).expect("credits alice");
    let coinbase = job.coinbase(&client.session().extranonce1, &[0; 4]);
    let outputs = paying_outputs(&coinbase).expect("layout");
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].script, vec![0x52]);
    assert_eq!(outputs[0].value, 5_000_000_000);
    let _ = stop.send(());
    let _ = done.await;
}
