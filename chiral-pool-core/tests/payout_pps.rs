//! PPS and FPPS pricing and the operator's reserve.

use chiral_pool_core::payout::PpsPricing;
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::pow::Difficulty;
use proptest::prelude::*;

const REWARD: u64 = 312_500_000;

#[test]
fn known_values() {
    let network = Difficulty::from_integer(1_000_000);
    let pps = PpsPricing::pps(REWARD, FeeBps::new(250).expect("valid"));
    // 0.975 * 312,500,000 / 1,000,000 = 304.6875 -> 304 atoms.
    assert_eq!(pps.share_value(Difficulty::ONE, network), 304);
    let fpps = PpsPricing::fpps(REWARD, 20_000_000, FeeBps::new(250).expect("valid"));
    // 0.975 * 332,500,000 / 1,000,000 = 324.1875 -> 324.
    assert_eq!(fpps.share_value(Difficulty::ONE, network), 324);
    assert_eq!(pps.share_value(Difficulty::ONE, Difficulty::ZERO), 0);
    // Reserve: B * ln2 * k / (2 f) = 312.5M * 0.6932 * 20 / 0.05 = 86.65 coins.
    assert_eq!(pps.reserve_for_ruin(20), 86_650_000_000);
    assert_eq!(
        PpsPricing::pps(REWARD, FeeBps::ZERO).reserve_for_ruin(20),
        u64::MAX
    );
}

proptest! {
    #[test]
    fn share_values_are_linear_and_fees_only_lower_them(d in 1u64..1_000_000, n in 1u64..1_000_000_000, bps in 0u16..=10_000) {
        let network = Difficulty::from_integer(n);
        let p = PpsPricing::pps(REWARD, FeeBps::new(bps).expect("valid"));
        let one = p.share_value(Difficulty::from_integer(d), network) as u128;
        let two = p.share_value(Difficulty::from_integer(2 * d), network) as u128;
        prop_assert!(two == 2 * one || two == 2 * one + 1);
        let free = PpsPricing::pps(REWARD, FeeBps::ZERO).share_value(Difficulty::from_integer(d), network);
        prop_assert!(one as u64 <= free);
        let f = PpsPricing::fpps(REWARD, 1_000, FeeBps::new(bps).expect("valid"));
        prop_assert!(f.share_value(Difficulty::from_integer(d), network) as u128 >= one);
    }

    #[test]
    fn the_reserve_grows_with_safety_and_shrinks_with_the_fee(bits in 1u32..64, bps in 1u16..5_000) {
        let p = PpsPricing::pps(REWARD, FeeBps::new(bps).expect("valid"));
        prop_assert!(p.reserve_for_ruin(bits + 1) >= p.reserve_for_ruin(bits));
        let richer = PpsPricing::pps(REWARD, FeeBps::new(bps + 1).expect("valid"));
        prop_assert!(richer.reserve_for_ruin(bits) <= p.reserve_for_ruin(bits));
    }
}
