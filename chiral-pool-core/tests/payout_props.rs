//! Property tests of the payout engine.

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::payout::{
    rescan_weights, split, PayoutLedger, PplnsWindow, PropRound, RewardCuts,
};
use chiral_pool_core::pool::FeeBps;
use proptest::prelude::*;
use ruint::aliases::U256;

fn exact_floor(amount: u64, w: u128, total: U256) -> (u128, bool) {
    let p = U256::from(amount) * U256::from(w);
    let (q, r) = p.div_rem(total);
    (u128::try_from(q).expect("fits"), !r.is_zero())
}

fn weights() -> impl Strategy<Value = Vec<(u16, u128)>> {
    prop::collection::btree_map(
        any::<u16>(),
        prop_oneof![
            0u128..1_000,
            any::<u64>().prop_map(u128::from),
            any::<u128>().prop_map(|w| w >> 8)
        ],
        1..60,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn id(i: u8) -> PayoutId {
    PayoutId::new(format!("m{i}")).expect("valid")
}

fn shares() -> impl Strategy<Value = Vec<(u8, u128)>> {
    prop::collection::vec((0u8..12, 1u128..10_000), 0..200)
}

fn cuts() -> impl Strategy<Value = RewardCuts> {
    (0u16..=10_000, 0u16..=10_000).prop_map(|(f, b)| RewardCuts {
        fee: FeeBps::new(f).expect("in range"),
        finder_bonus: FeeBps::new(b).expect("in range"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn split_conserves_and_is_within_one_atom(amount in any::<u64>(), ws in weights()) {
        let out = split(amount, &ws);
        let total: U256 = ws.iter().map(|(_, w)| U256::from(*w)).sum();
        let paid: u128 = out.iter().map(|(_, a)| *a as u128).sum();
        if total.is_zero() {
            prop_assert_eq!(paid, 0);
        } else {
            prop_assert_eq!(paid, amount as u128);
            for ((k, w), (k2, a)) in ws.iter().zip(&out) {
                prop_assert_eq!(k, k2);
                let (floor, inexact) = exact_floor(amount, *w, total);
                let a = *a as u128;
                prop_assert!(a == floor || (inexact && a == floor + 1), "{} vs floor {}", a, floor);
            }
        }
    }

    #[test]
    fn split_is_monotone_in_weight(amount in any::<u64>(), ws in weights()) {
        let out = split(amount, &ws);
        for (i, (_, wi)) in ws.iter().enumerate() {
            for (j, (_, wj)) in ws.iter().enumerate() {
                if wi > wj {
                    prop_assert!(out[i].1 >= out[j].1);
                }
            }
        }
    }

    #[test]
    fn split_ignores_input_order(amount in any::<u64>(), ws in weights(), seed in any::<u64>()) {
        let mut shuffled = ws.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(split(amount, &ws), split(amount, &shuffled));
    }

    #[test]
    fn pplns_window_matches_a_full_rescan(seq in shares(), window in 1u128..200_000) {
        let mut w = PplnsWindow::new(window);
        let mut all = Vec::new();
        for (m, weight) in &seq {
            w.add(&id(*m), *weight);
            all.push((id(*m), *weight));
        }
        let weights = w.weights();
        prop_assert_eq!(&weights, &rescan_weights(&all, window));
        let sum: u128 = weights.iter().map(|(_, x)| x).sum();
        let held: u128 = seq.iter().map(|(_, x)| x).sum();
        // Exactly X*D when there is enough work, all of it otherwise.
        prop_assert_eq!(sum, held.min(window));
        prop_assert_eq!(w.filled_weight(), held.min(window));
    }

    #[test]
    fn nothing_older_than_the_crossing_share_is_paid(seq in shares(), window in 1u128..50_000) {
        let mut w = PplnsWindow::new(window);
        for (i, (_, weight)) in seq.iter().enumerate() {
            // Each share has its own miner so the window shows who is in.
            w.add(&PayoutId::new(format!("s{i:04}")).expect("valid"), *weight);
        }
        let mut filled = 0u128;
        let mut crossing = None;
        for (i, (_, weight)) in seq.iter().enumerate().rev() {
            filled += weight;
            if filled >= window { crossing = Some(i); break; }
        }
        if let Some(c) = crossing {
            for (id, _) in w.weights() {
                let i: usize = id.as_str()[1..].parse().expect("index");
                prop_assert!(i >= c, "share {} older than crossing {}", i, c);
            }
        }
    }

    #[test]
    fn a_share_of_2d_pays_as_two_shares_of_d(seq in shares(), at in any::<prop::sample::Index>(),
                                            window in 1u128..200_000, reward in any::<u64>()) {
        let mut one = PplnsWindow::new(window);
        let mut two = PplnsWindow::new(window);
        let at = if seq.is_empty() { 0 } else { at.index(seq.len()) };
        for (i, (m, weight)) in seq.iter().enumerate() {
            if i == at {
                one.add(&id(*m), 2 * weight);
                two.add(&id(*m), *weight);
                two.add(&id(*m), *weight);
            } else {
                one.add(&id(*m), *weight);
                two.add(&id(*m), *weight);
            }
        }
        prop_assert_eq!(one.weights(), two.weights());
        prop_assert_eq!(one.settle(reward, RewardCuts::default(), None), two.settle(reward, RewardCuts::default(), None));
    }

    #[test]
    fn settlements_conserve_every_atom(seq in shares(), window in 1u128..200_000, reward in any::<u64>(),
                                       cuts in cuts(), finder in 0u8..12) {
        let mut w = PplnsWindow::new(window);
        let mut round = PropRound::default();
        for (m, weight) in &seq {
            w.add(&id(*m), *weight);
            round.add(&id(*m), *weight);
        }
        let s = w.settle(reward, cuts, Some(&id(finder)));
        prop_assert!(s.is_conserved());
        let held: u128 = seq.iter().map(|(_, x)| x).sum();
        if held >= window {
            prop_assert_eq!(s.unfilled, 0);
        }
        if cuts.fee.bps() == 0 && cuts.finder_bonus.bps() == 0 && held >= window {
            prop_assert_eq!(s.paid_to_miners(), reward);
        }
        prop_assert!(round.settle(reward, cuts, None).is_conserved());
    }

    #[test]
    fn huge_rewards_and_weights_do_not_overflow(ws in prop::collection::vec(any::<u128>(), 1..20)) {
        let mut w = PplnsWindow::new(u128::MAX);
        for (i, weight) in ws.iter().enumerate() {
            w.add(&id(i as u8), *weight);
        }
        let s = w.settle(u64::MAX, RewardCuts::fee_only(FeeBps::new(1).expect("valid")), None);
        prop_assert!(s.is_conserved());
    }

    #[test]
    fn the_ledger_balances_after_any_history(blocks in prop::collection::vec((shares(), any::<u32>(), 0u16..2_000), 1..8),
                                             min_payout in 0u64..5_000) {
        let mut ledger = PayoutLedger::new(min_payout);
        let mut w = PplnsWindow::new(5_000);
        for (seq, reward, fee) in blocks {
            for (m, weight) in &seq {
                w.add(&id(*m), *weight);
            }
            let reward = reward as u64 + ledger.take_carry();
            let s = w.settle(reward, RewardCuts::fee_only(FeeBps::new(fee).expect("valid")), None);
            ledger.credit(&s).expect("conserved");
            prop_assert!(ledger.check());
            for (id, amount) in ledger.pay_all() {
                prop_assert!(amount >= min_payout);
                prop_assert_eq!(ledger.account(&id).outstanding(), 0);
            }
            prop_assert!(ledger.check());
        }
    }
}
