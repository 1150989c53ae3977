//! The coinbase paying a window: conserved to the atom, no output below
//! dust, at most the cap, units fixed by weights and seed alone, and no
//! gain in expectation from splitting into many addresses.

use chiral_pool_core::payout::{CoinbaseSplit, OutputRules, RewardCuts};
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::pow::sha256d;
use proptest::prelude::*;

const OWNER: &[u8] = b"owner-script";
const FINDER: &[u8] = b"finder-script";

fn script(i: usize) -> Vec<u8> {
    format!("miner-{i:05}").into_bytes()
}

fn seed(i: u64) -> [u8; 32] {
    sha256d(&i.to_le_bytes())
}

fn split(total: u64, cuts: RewardCuts, seed: [u8; 32]) -> CoinbaseSplit<'static> {
    CoinbaseSplit {
        total,
        cuts,
        owner: OWNER,
        finder: FINDER,
        seed,
    }
}

fn cuts(fee: u16, bonus: u16) -> RewardCuts {
    RewardCuts {
        fee: FeeBps::clamped(fee),
        finder_bonus: FeeBps::clamped(bonus),
    }
}

proptest! {
    #[test]
    fn outputs_conserve_respect_dust_and_the_cap(
        total in 0u64..=2_100_000_000_000_000,
        weights in prop::collection::vec(1u128..=1u128 << 100, 0..300),
        fee in 0u16..=500,
        bonus in 0u16..=500,
        cap in 1u32..=300,
        s in any::<u64>(),
    ) {
        let rules = OutputRules { dust: 546, max_outputs: cap };
        let w: Vec<(Vec<u8>, u128)> = weights.iter().enumerate().map(|(i, w)| (script(i), *w)).collect();
        let out = split(total, cuts(fee, bonus), seed(s)).outputs(&w, &rules);
        let sum: u64 = out.outputs.iter().map(|o| o.value).sum();
        prop_assert_eq!(sum, total);
        if total >= rules.dust {
            prop_assert!(out.outputs.iter().all(|o| o.value >= rules.dust), "{:?}", out.outputs);
        }
        let window_outputs = out.outputs.iter().filter(|o| o.script != OWNER && o.script != FINDER).count();
        prop_assert!(window_outputs <= cap as usize);
        prop_assert!(out.outputs.windows(2).all(|p| p[0].script < p[1].script), "sorted, merged");
        let units: u64 = out.units.iter().map(|(_, n)| n).sum();
        if !w.is_empty() && out.grid > 0 {
            prop_assert!(units <= u64::from(cap));
        }
    }

    #[test]
    fn one_atom_more_changes_nobodys_units(
        total in 200_000_000u64..=2_100_000_000_000_000,
        weights in prop::collection::vec(1u128..=1u128 << 64, 1..300),
        s in any::<u64>(),
    ) {
        let rules = OutputRules::default();
        let w: Vec<(Vec<u8>, u128)> = weights.iter().enumerate().map(|(i, w)| (script(i), *w)).collect();
        let a = split(total, cuts(100, 50), seed(s)).outputs(&w, &rules);
        let b = split(total + 1, cuts(100, 50), seed(s)).outputs(&w, &rules);
        prop_assert_eq!(a.units, b.units);
    }
}

#[test]
fn an_empty_window_pays_the_finder_all_but_the_fee() {
    let out = split(312_500_000, cuts(100, 0), seed(1)).outputs(&[], &OutputRules::default());
    let value = |s: &[u8]| out.outputs.iter().find(|o| o.script == s).map(|o| o.value);
    assert_eq!(value(OWNER), Some(3_125_000));
    assert_eq!(value(FINDER), Some(312_500_000 - 3_125_000));
    assert_eq!(out.outputs.len(), 2);
}

/// Atoms paid to `scripts`, summed over `runs` seeds.
fn paid_over(weights: &[(Vec<u8>, u128)], scripts: &[Vec<u8>], total: u64, runs: u64) -> u128 {
    let rules = OutputRules::default();
    let mut sum = 0u128;
    for i in 0..runs {
        let out = split(total, cuts(0, 0), seed(i)).outputs(weights, &rules);
        sum += out
            .outputs
            .iter()
            .filter(|o| scripts.contains(&o.script))
            .map(|o| u128::from(o.value))
            .sum::<u128>();
    }
    sum
}

#[test]
fn splitting_into_as_many_addresses_as_the_cap_gains_nothing_in_expectation() {
    let total = 312_500_000u64;
    let cap = OutputRules::default().max_outputs as usize;
    // 400 other miners of uneven weights, and Alice with 3 % of the work.
    let others: Vec<(Vec<u8>, u128)> = (0..400)
        .map(|i| (script(i), 1_000 + (i as u128 * 7_919) % 5_000))
        .collect();
    let rest: u128 = others.iter().map(|(_, w)| w).sum();
    let alice_weight = rest * 3 / 97 / cap as u128 * cap as u128;
    let alice = b"alice-0".to_vec();
    let mut whole = others.clone();
    whole.push((alice.clone(), alice_weight));
    // Alice again, split into `cap` addresses of equal weight.
    let parts: Vec<Vec<u8>> = (0..cap)
        .map(|i| format!("alice-{i:03}").into_bytes())
        .collect();
    let mut split_up = others;
    for p in &parts {
        split_up.push((p.clone(), alice_weight / cap as u128));
    }
    let runs = 2_000u64;
    // Her exact share over all runs, and a tolerance of a twentieth of a
    // unit per block (the grid's spare of under one unit per block goes
    // to a weight-drawn miner).
    let exact = u128::from(runs) * u128::from(total) * alice_weight / (rest + alice_weight);
    let tolerance = u128::from(runs) * u128::from(total / cap as u64) / 20;
    let one = paid_over(&whole, std::slice::from_ref(&alice), total, runs);
    let many = paid_over(&split_up, &parts, total, runs);
    assert!(
        one.abs_diff(exact) < tolerance,
        "one address: {one} vs {exact}"
    );
    assert!(
        many.abs_diff(exact) < tolerance,
        "{cap} addresses: {many} vs {exact}"
    );
}

#[test]
fn a_miner_below_one_unit_is_paid_a_unit_as_often_as_its_weight_says() {
    let total = 312_500_000u64;
    let rules = OutputRules::default();
    // 1,000 miners of equal weight share 200 units: each is paid in one
    // block of five on average.
    let w: Vec<(Vec<u8>, u128)> = (0..1_000).map(|i| (script(i), 1)).collect();
    let runs = 2_000u64;
    let mut paid = 0u64;
    for i in 0..runs {
        let out = split(total, cuts(0, 0), seed(i)).outputs(&w, &rules);
        assert_eq!(out.units.len(), 200, "systematic sampling: 200 holders");
        if out.units.iter().any(|(s, _)| *s == script(7)) {
            paid += 1;
        }
    }
    // 400 expected; three standard deviations is about 54.
    assert!(paid.abs_diff(runs / 5) < 60, "{paid} of {runs}");
}
