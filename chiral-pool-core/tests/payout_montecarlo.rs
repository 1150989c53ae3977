//! Seeded Monte-Carlo checks of the schemes' economics. Deterministic (fixed
//! seeds), so they never flake; tolerances are several standard deviations.

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::payout::{PplnsConfig, PplnsWindow, PropRound, RewardCuts};
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::pow::Difficulty;
use rand::{rngs::StdRng, Rng, SeedableRng};

const REWARD: u64 = 5_000_000_000;
/// Network difficulty in share units: a share is a block with p = 1/D.
const D: u64 = 100;

fn id(s: &str) -> PayoutId {
    PayoutId::new(s).expect("valid")
}

#[test]
fn pplns_pays_each_unit_of_difficulty_its_expected_value() {
    let fee = FeeBps::new(200).expect("valid");
    let config = PplnsConfig {
        window_bps: 20_000,
        normalize_by_network: true,
    };
    let network = Difficulty::from_integer(D);
    let mut window = PplnsWindow::new(config.window(network));
    let mut rng = StdRng::seed_from_u64(7);
    // Two miners: one submits shares of difficulty 1, one of difficulty 3.
    let miners = [(id("small"), 1u64), (id("large"), 3u64)];
    let mut work = [0u128; 2];
    let mut paid = [0u128; 2];
    let warmup = 10 * D; // fill the window before counting
    let steps = 600_000u64;
    let mut counted_blocks = 0u64;
    for step in 0..steps {
        let who = (step % 2) as usize;
        let (miner, diff) = &miners[who];
        let share = Difficulty::from_integer(*diff);
        window.add(miner, config.weight(share, network));
        if step >= warmup {
            work[who] += *diff as u128;
        }
        // A share of difficulty d is a block with probability d / D.
        if rng.gen_range(0..D) < *diff {
            let s = window.settle(REWARD, RewardCuts::fee_only(fee), None);
            assert!(s.is_conserved());
            if step >= warmup {
                counted_blocks += 1;
                for (i, (m, _)) in miners.iter().enumerate() {
                    paid[i] += s.amount_for(m) as u128;
                }
            }
        }
    }
    // Per unit of difficulty, each miner earns (1 - fee) * R / D.
    let expected = (REWARD as f64) * (1.0 - 0.02) / D as f64;
    let total_work = (work[0] + work[1]) as f64;
    let luck = counted_blocks as f64 / (total_work / D as f64);
    for i in 0..2 {
        let per_unit = paid[i] as f64 / work[i] as f64;
        // Normalise by the run's luck (blocks found vs expected); what is
        // left is the scheme's own bias.
        let bias = per_unit / (expected * luck);
        eprintln!("miner {i}: per unit {per_unit:.0}, expected {expected:.0}, luck {luck:.4}, bias {bias:.4}");
        assert!((bias - 1.0).abs() < 0.03, "miner {i}: bias {bias}");
    }
    // The raw mean converges too: about 8,000 blocks give ~1.1 % noise.
    let mean = (paid[0] + paid[1]) as f64 / total_work;
    assert!(
        (mean / expected - 1.0).abs() < 0.05,
        "mean {mean} vs {expected}"
    );
}

/// Simulates a steady miner and a hopper who mines only the first `hop`
/// shares of each round; returns hopper / steady earnings per share.
fn hopping_advantage(pplns: bool, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let steady = id("steady");
    let hopper = id("hopper");
    let hop = D / 4;
    let mut window = PplnsWindow::new(2 * D as u128);
    let mut round = PropRound::default();
    let (mut shares_s, mut shares_h) = (0u64, 0u64);
    let (mut paid_s, mut paid_h) = (0u128, 0u128);
    let mut in_round = 0u64;
    for _ in 0..400_000 {
        let mut submitters = vec![&steady];
        if in_round < hop {
            submitters.push(&hopper);
        }
        in_round += 1;
        for who in submitters {
            if who == &steady {
                shares_s += 1
            } else {
                shares_h += 1
            }
            window.add(who, 1);
            round.add(who, 1);
            if rng.gen_range(0..D) == 0 {
                let s = if pplns {
                    window.settle(REWARD, RewardCuts::default(), None)
                } else {
                    round.settle(REWARD, RewardCuts::default(), None)
                };
                if !pplns {
                    // Each scheme pays from its own accounting only.
                    window = PplnsWindow::new(2 * D as u128);
                } else {
                    round = PropRound::default();
                }
                paid_s += s.amount_for(&steady) as u128;
                paid_h += s.amount_for(&hopper) as u128;
                in_round = 0;
            }
        }
    }
    (paid_h as f64 / shares_h as f64) / (paid_s as f64 / shares_s as f64)
}

#[test]
fn hopping_pays_under_prop_and_not_under_pplns() {
    let prop = hopping_advantage(false, 11);
    let pplns = hopping_advantage(true, 11);
    eprintln!("hopper earnings per share vs steady: PROP {prop:.3}, PPLNS {pplns:.3}");
    assert!(prop > 1.3, "PROP hopper advantage {prop}");
    assert!((pplns - 1.0).abs() < 0.05, "PPLNS hopper advantage {pplns}");
}
