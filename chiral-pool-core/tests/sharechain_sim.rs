//! Nodes agree on the chain, its windows and every block's payout, by
//! consensus: seeded simulations with delays, duplicates, partitions,
//! clock skew and a selfish miner.

mod common;

use std::collections::HashMap;

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::payout::Settlement;
use common::links::cheap_params;
use common::sim::{Sim, SimConfig};

const REWARD: u64 = common::sim::SETTLED_REWARD;

/// Every node holds the same tip and window, and every block settles to
/// the same bytes everywhere, conserving the reward.
fn assert_agreement(sim: &Sim) -> HashMap<LinkId, Settlement> {
    let tip = sim.nodes[0].chain.tip().expect("a tip");
    let window = sim.nodes[0].chain.window(tip).expect("window");
    let mut settled = HashMap::new();
    for (i, node) in sim.nodes.iter().enumerate() {
        assert_eq!(node.chain.tip(), Some(tip), "node {i} tip");
        assert_eq!(
            node.chain.window(tip).as_ref(),
            Some(&window),
            "node {i} window"
        );
        assert_eq!(node.chain.window_from_scratch(tip).as_ref(), Some(&window));
        for block in &sim.blocks {
            let s = node.chain.settle(*block, REWARD).expect("block settles");
            assert!(s.is_conserved());
            assert_eq!(s.fee + s.finder_bonus + s.paid_to_miners(), REWARD);
            let first = settled.entry(*block).or_insert_with(|| s.clone());
            assert_eq!(first, &s, "node {i} settles block {block} differently");
            let when_first_settled = sim.first_settled[i].get(block);
            assert_eq!(
                when_first_settled,
                Some(&s),
                "node {i}: block {block}'s payout changed"
            );
        }
    }
    settled
}

#[test]
fn five_nodes_agree_after_a_ten_minute_partition() {
    let mut config = SimConfig::new(7, cheap_params(), 5);
    config.duration_secs = 1_800;
    config.partition = Some((vec![0, 1], 300, 900));
    let mut sim = Sim::new(config);
    assert!(sim.run() < 10, "tips never converged");
    assert!(sim.blocks.len() >= 3, "blocks found: {}", sim.blocks.len());
    assert_agreement(&sim);
    // The minority's links from the partition are not on the best chain.
    let best = sim.nodes[2].chain.best_chain(usize::MAX);
    let total: u64 = sim.found.iter().sum();
    assert!((best.len() as u64) < total, "some links were orphaned");
}

#[test]
fn shuffled_and_duplicated_delivery_never_changes_a_settled_payout() {
    for seed in 0..100 {
        let mut config = SimConfig::new(seed, cheap_params(), 3);
        config.duration_secs = 240;
        config.delay_ms = (1, 3_000);
        config.duplicate = 0.3;
        config.links_per_block = 8;
        let mut sim = Sim::new(config);
        assert!(sim.run() < 10, "tips never converged");
        assert_agreement(&sim);
    }
}

#[test]
fn skewed_clocks_and_late_blocks_reach_identical_windows() {
    let mut config = SimConfig::new(11, cheap_params(), 4);
    config.duration_secs = 900;
    config.clock_offset = vec![0, 5, -5, 2];
    config.block_delay_ms = vec![0, 3_000, 1_500, 500];
    let mut sim = Sim::new(config);
    assert!(sim.run() < 10, "tips never converged");
    assert!(!sim.blocks.is_empty());
    assert_agreement(&sim);
}

#[test]
fn a_selfish_miner_with_a_fifth_of_the_hashrate_earns_no_more_than_a_fifth() {
    let mut config = SimConfig::new(3, cheap_params(), 5);
    config.duration_secs = 20_000;
    config.hashrate = vec![1, 1, 1, 1, 1];
    config.selfish = Some(4);
    config.delay_ms = (20, 100);
    let mut sim = Sim::new(config);
    assert!(sim.run() < 10, "tips never converged");
    assert_agreement(&sim);
    let credited = sim.credited_work(0);
    let total: u128 = credited.values().sum();
    let selfish = credited.get(&sim.nodes[4].payout).copied().unwrap_or(0);
    let share = selfish as f64 / total as f64;
    eprintln!(
        "selfish share of best-chain work: {share:.3} ({} links found of {})",
        sim.found[4],
        sim.found.iter().sum::<u64>()
    );
    assert!(share <= 0.20, "selfish miner earned {share:.3}");
}

#[test]
fn stale_and_orphaned_links_stay_under_five_percent_at_100_ms_per_hop() {
    // Twenty nodes, equal hashrate, 10 s links, every hop 100 ms: the
    // spacing the pool's defaults choose, under added latency.
    let mut config = SimConfig::new(5, cheap_params(), 20);
    config.duration_secs = 3_000;
    config.delay_ms = (100, 100);
    let mut sim = Sim::new(config);
    assert!(sim.run() < 10, "tips never converged");
    assert_agreement(&sim);
    let (stale, orphaned) = (sim.stale_rate(0), sim.orphan_rate(0));
    eprintln!(
        "{} links: stale {:.2} %, orphaned (not even an uncle) {:.2} %",
        sim.found.iter().sum::<u64>(),
        stale * 100.0,
        orphaned * 100.0
    );
    assert!(stale < 0.05, "stale {stale}");
    assert!(orphaned < 0.05, "orphaned {orphaned}");
}

#[test]
fn a_block_whose_finder_dies_right_after_pushing_it_is_still_submitted() {
    let mut config = SimConfig::new(13, cheap_params(), 4);
    config.duration_secs = 1_200;
    config.links_per_block = 4;
    config.finder_crashes = Some(1);
    let mut sim = Sim::new(config);
    assert!(sim.run() < 10, "tips never converged");
    let block = sim.crashed_with.expect("the finder found a block");
    assert!(
        sim.blocks.contains(&block),
        "a peer submitted the dead finder's block"
    );
    // The survivors agree on it and on every other block.
    let tip = sim.nodes[0].chain.tip();
    for node in [0, 2, 3] {
        assert_eq!(sim.nodes[node].chain.tip(), tip);
        for b in &sim.blocks {
            let here = sim.nodes[node].chain.settle(*b, REWARD).expect("settles");
            assert_eq!(Some(&here), sim.nodes[0].chain.settle(*b, REWARD).as_ref());
        }
    }
}
