//! Blocks assembled from templates, checked by the `bitcoin` crate: merkle
//! root, witness commitment, BIP 34 height, weight, and coinbase outputs
//! that are exactly the pool's split. Then the whole work source against a
//! stand-in node: a job is mined, the block submitted, and the submitted
//! bytes checked the same way.

mod common;

use std::time::Duration;

use chiral_bitcoind::{
    assemble, block_bytes, Auth, BitcoinRpc, BlockTemplate, CoreConfig, CoreWork,
};
use chiral_pool_core::chain::WorkSource;
use chiral_pool_core::ids::{PayoutId, PoolId};
use chiral_pool_core::payout::{AddressNetwork, CoinbasePlan, OutputRules, RewardCuts};
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::pow::{CompactTarget, Target};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::WorkTemplate;
use common::blocks::{check_block, template};
use common::{start, Answer};
use serde_json::json;

/// A taproot script for miner `i`.
fn taproot(i: u32) -> Vec<u8> {
    let mut s = vec![0x51, 0x20];
    s.extend(chiral_pool_core::pow::sha256d(&i.to_le_bytes()));
    s
}

/// A P2PKH script for miner `i` (one legacy signature operation).
fn p2pkh(i: u32) -> Vec<u8> {
    let mut s = vec![0x76, 0xa9, 0x14];
    s.extend(&chiral_pool_core::pow::sha256d(&i.to_le_bytes())[..20]);
    s.extend([0x88, 0xac]);
    s
}

fn plan(scripts: Vec<Vec<u8>>, cap: u32) -> CoinbasePlan {
    CoinbasePlan {
        weights: scripts
            .into_iter()
            .enumerate()
            .map(|(i, s)| (s, 1 + i as u128 % 7))
            .collect(),
        cuts: RewardCuts {
            fee: FeeBps::new(100).expect("in range"),
            finder_bonus: FeeBps::new(50).expect("in range"),
        },
        owner: taproot(1_000_000),
        seed: [9; 32],
        rules: OutputRules {
            dust: 546,
            max_outputs: cap,
        },
        network: None,
    }
}

fn commitment() -> Commitment {
    Commitment::genesis(
        PoolId::from_bytes([6; 32]),
        PayoutId::new("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").expect("an id"),
        CompactTarget::from_consensus(0x1f00_ffff),
    )
}

/// Solves `work` at an easy test target with extranonce `en`; the header
/// and the coinbase.
fn solve(work: &WorkTemplate, en: &[u8]) -> (chiral_pool_core::pow::BlockHeader, Vec<u8>) {
    let target = Target::from_difficulty(1.0 / 65_536.0).expect("a target");
    let header = work.header(en, 0);
    let nonce = header
        .find_nonce(&target, 0..u32::MAX)
        .expect("a nonce at an easy target");
    (header.with_nonce(nonce), work.coinbase(en))
}

#[test]
fn a_block_from_a_template_passes_the_bitcoin_crates_checks() {
    let json = template(5, 200, 840_000, 312_500_000);
    let t = BlockTemplate::from_json(&json).expect("reads");
    let scripts: Vec<Vec<u8>> = (0..10)
        .map(|i| if i % 2 == 0 { taproot(i) } else { p2pkh(i) })
        .collect();
    let plan = plan(scripts, 200);
    let finder = taproot(77);
    let a = assemble(&t, &commitment(), &plan, &finder, 8).expect("assembles");
    assert_eq!(a.kept, 5);
    assert_eq!(a.total, t.coinbase_value);
    let (header, coinbase) = solve(&a.work, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let bytes = block_bytes(&header, &coinbase, true, &t.transactions[..a.kept]);
    let checked = check_block(&bytes, 840_000);
    assert_eq!(checked.block.block_hash().to_byte_array(), header.hash());
    assert_eq!(checked.block.txdata.len(), 6);
    assert_eq!(checked.coinbase_total, t.coinbase_value);
    assert_eq!(checked.payouts, plan.outputs(a.total, &finder).outputs);
    // The pool's commitment is the last output and reads back.
    assert_eq!(
        Commitment::from_coinbase(&coinbase).expect("a commitment"),
        commitment()
    );
    // The witness commitment is Bitcoin Core's own when nothing was left out.
    assert_eq!(a.witness_commitment, t.default_witness_commitment);
}

use bitcoin::hashes::Hash;

#[test]
fn a_full_template_with_the_output_cap_filled_makes_room_and_stays_within_weight() {
    // 40 transactions of about 99,000 weight units: 3.97 M of 4 M.
    let json = template(40, 98_800, 900_000, 312_500_000);
    let t = BlockTemplate::from_json(&json).expect("reads");
    let listed: u64 = t.transactions.iter().map(|x| x.weight).sum();
    assert!(listed > 3_900_000, "{listed}");
    let mut plan = plan((0..700).map(taproot).collect(), 700);
    // Equal weights: each of the 700 miners holds exactly one unit.
    for (_, w) in &mut plan.weights {
        *w = 1;
    }
    let finder = taproot(5_000_000); // not one of the window's miners
    let a = assemble(&t, &commitment(), &plan, &finder, 8).expect("assembles");
    assert!(a.kept < 40, "room was made");
    assert!(
        a.kept >= 38,
        "only what was needed was left out: kept {}",
        a.kept
    );
    let dropped: u64 = t.transactions[a.kept..].iter().map(|x| x.fee).sum();
    assert_eq!(a.total, t.coinbase_value - dropped);
    let (header, coinbase) = solve(&a.work, &[0; 8]);
    assert!(
        coinbase.len() > 30_000,
        "700 outputs: {} bytes",
        coinbase.len()
    );
    let bytes = block_bytes(&header, &coinbase, true, &t.transactions[..a.kept]);
    let checked = check_block(&bytes, 900_000);
    assert_eq!(checked.block.weight().to_wu(), a.weight);
    assert_eq!(
        checked.payouts.len(),
        702,
        "700 miners, the fee and the finder"
    );
    assert_eq!(checked.payouts, plan.outputs(a.total, &finder).outputs);
    // Bitcoin Core's commitment covered every transaction: this one is ours.
    assert_ne!(a.witness_commitment, t.default_witness_commitment);
}

#[test]
fn p2pkh_outputs_count_against_the_signature_operation_limit() {
    let mut json = template(10, 100, 900_000, 312_500_000);
    // Each transaction claims 7,950 sigop cost: 79,500 of 80,000.
    for tx in json["transactions"].as_array_mut().expect("a list") {
        tx["sigops"] = json!(7_950);
    }
    let t = BlockTemplate::from_json(&json).expect("reads");
    let plan = plan((0..200).map(p2pkh).collect(), 200);
    let a = assemble(&t, &commitment(), &plan, &taproot(77), 8).expect("assembles");
    // 200 P2PKH outputs cost 800: one transaction must go.
    assert_eq!(a.kept, 9);
}

#[tokio::test]
async fn the_work_source_mines_on_a_node_and_submits_a_block_the_bitcoin_crate_accepts() {
    let (addr, core) = start().await;
    let json = template(3, 150, 500, 5_000_000_000);
    core.answer(
        "getblockchaininfo",
        Answer::Result(json!({"chain": "regtest", "initialblockdownload": false})),
    );
    core.answer("getblocktemplate", Answer::Result(json.clone()));
    core.answer("getbestblockhash", Answer::Result(json!("5a".repeat(32))));
    core.answer("submitblock", Answer::Result(json!(null)));
    let rpc = BitcoinRpc::new(format!("http://{addr}"), Auth::None, Duration::from_secs(5))
        .expect("client");
    let work = CoreWork::connect(rpc, CoreConfig::new(AddressNetwork::Regtest))
        .await
        .expect("connects");
    assert_eq!(work.tip().borrow().height, 500);
    let plan = plan((0..5).map(taproot).collect(), 200);
    let finder = taproot(77);
    let job = work
        .template(&commitment(), &plan, &finder, 8)
        .expect("a job");
    let (header, coinbase) = solve(&job, &[3; 8]);
    assert!(work.block_found(&header, &coinbase), "the job is known");
    let submitted = core.wait_for("submitblock").await;
    assert_eq!(submitted.len(), 1);
    let hex_block = submitted[0][0].as_str().expect("block hex");
    let bytes = hex::decode(hex_block).expect("hex");
    let checked = check_block(&bytes, 500);
    assert_eq!(checked.block.txdata.len(), 4);
    assert_eq!(
        checked.payouts,
        plan.outputs(5_000_000_000 + 3_003, &finder).outputs
    );
    assert_eq!(work.next_height(&header.hash()), Some(501));
    // Reported twice (the Stratum server and the share chain), submitted once.
    assert!(work.block_found(&header, &coinbase));
    // A ledger plan paying `OP_TRUE` would let anyone take the block.
    let anyone = CoinbasePlan::whole_to(vec![0x51]);
    assert!(work.template(&commitment(), &anyone, &[], 8).is_err());
    // A header no job of this source built is not submitted.
    let (other, other_coinbase) = solve(&job, &[4; 8]);
    let mut foreign = other_coinbase.clone();
    foreign[50] ^= 1;
    assert!(!work.block_found(&other, &foreign));
}

/// Every recorded template (`tests/fixtures`, see its PROVENANCE.md): the
/// block assembled from it passes the `bitcoin` crate's checks, takes
/// every transaction, pays `coinbasevalue` exactly as the split says, and
/// carries Bitcoin Core's own witness commitment.
#[test]
fn recorded_templates_of_real_nodes_assemble_into_valid_blocks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        // One file is the whole RPC reply.
        let result = value.get("result").cloned().unwrap_or(value);
        let t =
            BlockTemplate::from_json(&result).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!t.transactions.is_empty());
        let plan = plan(
            (0..12)
                .map(|i| if i % 3 == 0 { p2pkh(i) } else { taproot(i) })
                .collect(),
            200,
        );
        let finder = taproot(99);
        let a = assemble(&t, &commitment(), &plan, &finder, 8).expect("assembles");
        assert_eq!(a.kept, t.transactions.len(), "{}", path.display());
        assert_eq!(a.witness_commitment, t.default_witness_commitment);
        let (header, coinbase) = solve(&a.work, &[7; 8]);
        let bytes = block_bytes(&header, &coinbase, true, &t.transactions);
        let checked = check_block(&bytes, t.height);
        assert_eq!(
            checked.coinbase_total,
            t.coinbase_value,
            "{}",
            path.display()
        );
        assert_eq!(
            checked.payouts,
            plan.outputs(t.coinbase_value, &finder).outputs
        );
        assert_eq!(checked.block.txdata.len(), t.transactions.len() + 1);
        for (tx, listed) in checked.block.txdata[1..].iter().zip(&t.transactions) {
            assert_eq!(tx.compute_txid().to_byte_array(), listed.txid);
        }
        seen += 1;
    }
    assert_eq!(seen, 4, "every recorded template was checked");
}

/// The recorded templates once more, served by the stand-in node to the
/// whole work source: connect, a job, a solved share, the block
/// submitted; the submitted bytes pass the `bitcoin` crate's checks.
#[tokio::test]
async fn recorded_templates_served_by_a_node_are_mined_and_submitted() {
    let cases = [
        (
            "testnet3_2442185_public-pool.json",
            "test",
            AddressNetwork::Testnet,
        ),
        (
            "testnet3_1633977_bitcoinrpc4java_rpcreply.json",
            "test",
            AddressNetwork::Testnet,
        ),
        ("signet_956_p2poolv2.json", "signet", AddressNetwork::Signet),
        (
            "regtest_506_p2poolv2_four-txns.json",
            "regtest",
            AddressNetwork::Regtest,
        ),
    ];
    for (file, chain, network) in cases {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file);
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("json");
        let result = value.get("result").cloned().unwrap_or(value);
        let (addr, core) = start().await;
        core.answer(
            "getblockchaininfo",
            Answer::Result(json!({"chain": chain, "initialblockdownload": false})),
        );
        core.answer("getblocktemplate", Answer::Result(result.clone()));
        core.answer(
            "getbestblockhash",
            Answer::Result(result["previousblockhash"].clone()),
        );
        core.answer("submitblock", Answer::Result(json!(null)));
        let rpc = BitcoinRpc::new(format!("http://{addr}"), Auth::None, Duration::from_secs(5))
            .expect("client");
        let work = CoreWork::connect(rpc, CoreConfig::new(network))
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let t = work.current();
        let plan = plan((0..6).map(taproot).collect(), 200);
        let finder = taproot(99);
        let job = work
            .template(&commitment(), &plan, &finder, 8)
            .expect("a job");
        let (header, coinbase) = solve(&job, &[5; 8]);
        assert!(work.block_found(&header, &coinbase), "{file}");
        let submitted = core.wait_for("submitblock").await;
        let bytes = hex::decode(submitted[0][0].as_str().expect("hex")).expect("hex");
        let checked = check_block(&bytes, t.height);
        assert_eq!(
            checked.block.txdata.len(),
            t.transactions.len() + 1,
            "{file}"
        );
        assert_eq!(
            checked.payouts,
            plan.outputs(t.coinbase_value, &finder).outputs
        );
    }
}
