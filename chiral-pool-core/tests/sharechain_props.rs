//! Property: the window kept incrementally for the best tip equals the
//! window walked from scratch, for random chains with uncles and reorgs.

mod common;

use chiral_pool_core::pow::{Difficulty, Target};
use chiral_pool_core::sharechain::{Insertion, JobPosition};
use common::links::{cheap_params, LinkFixture, T0};
use proptest::prelude::*;

const MINERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_incremental_window_equals_a_walk_from_scratch(
        ops in prop::collection::vec((0u8..5, 0usize..4, 1u32..25), 1..120),
        max_links in 2u32..16,
        max_secs in 30u32..400,
        network_links in 2u128..12,
    ) {
        let mut params = cheap_params();
        params.max_window_links = max_links;
        params.max_window_secs = max_secs;
        let mut f = LinkFixture::new(params.clone());
        // Network difficulty worth `network_links` floor links: windows are
        // cut by work, depth and time in turn.
        let network = Difficulty::from_raw(params.min_difficulty.raw() * network_links);
        f.block.bits = Target::from_fixed_difficulty(network).to_compact_lossy();
        let mut time = T0;
        for (i, (kind, who, dt)) in ops.into_iter().enumerate() {
            time += dt;
            let position = match (kind, f.chain.tip()) {
                // A sibling of the tip: a stale link, a later uncle.
                (4, Some(tip)) => {
                    let tip_link = f.chain.get(&tip).expect("tip");
                    JobPosition {
                        parent: tip_link.parent(),
                        uncles: Vec::new(),
                        chain_bits: tip_link.commitment().chain_bits,
                        min_time: 0,
                        payouts: None,
                    }
                }
                _ => f.chain.job(),
            };
            let link = f.link_at(&position, MINERS[who], time, i as u64);
            let result = f.insert(link);
            prop_assert!(matches!(result, Ok(Insertion::Added(_))), "{:?}", result);
            let tip = f.chain.tip().expect("a tip");
            prop_assert_eq!(f.chain.window(tip), f.chain.window_from_scratch(tip));
        }
        let tip = f.chain.tip().expect("a tip");
        if let Some(settlement) = f.chain.settle(tip, 1_234_567_891) {
            prop_assert!(settlement.is_conserved());
        }
    }
}
