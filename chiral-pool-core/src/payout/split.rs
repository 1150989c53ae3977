//! The largest-remainder split: exact, monotone, order-independent.

use ruint::aliases::U256;

/// Splits `amount` atoms in proportion to `weights`.
///
/// Each key first gets `floor(amount * w / W)`; the `< n` atoms left over
/// go one each to the largest remainders `amount * w mod W`, ties broken by
/// the larger weight, then the smaller key. So:
///
/// - conservation: the payouts sum to exactly `amount` (when `W > 0`);
/// - every payout is within one atom of `amount * w / W`;
/// - a larger weight never gets less;
/// - the result does not depend on the order of `weights`.
///
/// Duplicate keys are merged; the result is sorted by key. If all weights
/// are zero, every payout is zero and the caller keeps `amount`. Products
/// are computed in 256 bits, so any `u64` amount and `u128` weights work
/// (the weight total saturates at `2^256`, far beyond any input length).
///
/// ```
/// use chiral_pool_core::payout::split;
/// let out = split(100, &[("a", 1), ("b", 1), ("c", 1)]);
/// assert_eq!(out, vec![("a", 34), ("b", 33), ("c", 33)]);
/// let out = split(100_000_000, &[("alice", 600), ("bob", 400)]);
/// assert_eq!(out, vec![("alice", 60_000_000), ("bob", 40_000_000)]);
/// ```
pub fn split<K: Ord + Clone>(amount: u64, weights: &[(K, u128)]) -> Vec<(K, u64)> {
    let mut merged: Vec<(K, u128)> = weights.to_vec();
    merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    merged.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 = kept.1.saturating_add(later.1);
            true
        } else {
            false
        }
    });
    split_sorted(amount, merged)
}

/// [`split`] for keys already sorted and unique (skips the merge).
pub(crate) fn split_sorted<K: Ord + Clone>(amount: u64, weights: Vec<(K, u128)>) -> Vec<(K, u64)> {
    let total: U256 = weights.iter().map(|(_, w)| U256::from(*w)).sum();
    if total.is_zero() {
        return weights.into_iter().map(|(k, _)| (k, 0)).collect();
    }
    // Fast path: every product fits in u128 when amount * total does.
    let narrow = u128::try_from(total)
        .ok()
        .and_then(|t| (amount as u128).checked_mul(t).map(|_| t));

    let mut base: Vec<u64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(U256, usize)> = Vec::with_capacity(weights.len());
    let mut handed_out: u64 = 0;
    for (i, (_, w)) in weights.iter().enumerate() {
        let (q, r) = match narrow {
            Some(t) => {
                let p = amount as u128 * w;
                (p / t, U256::from(p % t))
            }
            None => {
                let p = U256::from(amount) * U256::from(*w);
                let (q, r) = p.div_rem(total);
                // q <= amount because w <= total.
                (u128::try_from(q).unwrap_or(u128::MAX), r)
            }
        };
        // q <= amount, so it fits u64 and the running sum never exceeds amount.
        let q = q as u64;
        handed_out += q;
        base.push(q);
        rems.push((r, i));
    }
    let leftover = (amount - handed_out) as usize;
    if leftover > 0 {
        // Order: larger remainder, then larger weight, then smaller key.
        let order = |a: &(U256, usize), b: &(U256, usize)| {
            b.0.cmp(&a.0)
                .then_with(|| weights[b.1].1.cmp(&weights[a.1].1))
                .then_with(|| weights[a.1].0.cmp(&weights[b.1].0))
        };
        if leftover < rems.len() {
            rems.select_nth_unstable_by(leftover - 1, order);
        }
        for &(_, i) in rems.iter().take(leftover) {
            base[i] += 1;
        }
    }
    weights
        .into_iter()
        .zip(base)
        .map(|((k, _), amount)| (k, amount))
        .collect()
}
