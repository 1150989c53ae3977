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
        window: chiral_pool_core::payout::WindowBps::DEFAULT,
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
    // Per unit of difficulty, each miner earns (1 - fee) * R / D. All
    // comparisons are cross-multiplied integers, in per mille.
    let total_work = work[0] + work[1];
    let net_reward = REWARD as u128 * 9_800 / 10_000;
    for i in 0..2 {
        // Normalised by the run's luck (blocks found vs expected), what is
        // left is the scheme's own bias: paid_i / work_i over
        // net_reward * blocks / total_work.
        let bias = paid[i] * total_work * 1_000 / (work[i] * net_reward * counted_blocks as u128);
        eprintln!(
            "miner {i}: {} atoms over {} units, bias {bias} per mille",
            paid[i], work[i]
        );
        assert!(
            (970..=1_030).contains(&bias),
            "miner {i}: bias {bias} per mille"
        );
    }
    // Both miners earn the same per unit of difficulty.
    let (a, b) = (paid[0] * work[1], paid[1] * work[0]);
    assert!(
        a.abs_diff(b) * 1_000 <= 30 * b,
        "per-unit payouts differ: {a} vs {b}"
    );
    // The raw mean converges too: about 8,000 blocks give ~1.1 % noise.
    let mean = (paid[0] + paid[1]) * D as u128 * 1_000 / (total_work * net_reward);
    assert!(
        (950..=1_050).contains(&mean),
        "mean {mean} per mille of (1-f)R/D"
    );
}

/// Simulates a steady miner and a hopper who mines only the first `hop`
/// shares of each round; returns hopper / steady earnings per share, per mille.
fn hopping_advantage(pplns: bool, seed: u64) -> u128 {
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
    // Per mille: (paid_h / shares_h) / (paid_s / shares_s).
    paid_h * shares_s as u128 * 1_000 / (shares_h as u128 * paid_s)
}

#[test]
fn hopping_pays_under_prop_and_not_under_pplns() {
    let prop = hopping_advantage(false, 11);
    let pplns = hopping_advantage(true, 11);
    eprintln!("hopper earnings per share vs steady (per mille): PROP {prop}, PPLNS {pplns}");
    assert!(prop > 1_300, "PROP hopper advantage {prop} per mille");
    assert!(
        (950..=1_050).contains(&pplns),
        "PPLNS hopper advantage {pplns} per mille"
    );
}
