//! The chain target rule and the time rules, computed only from a link's
//! ancestors so every node gets the same answer.

use ruint::aliases::U256;

use super::params::ChainParams;
use crate::pow::{CompactTarget, Difficulty, Target};

/// What the retarget reads of one ancestor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    /// Header time.
    pub time: u32,
    /// Work the ancestor added (its difficulty plus weighted uncles).
    pub work: u128,
}

/// The chain bits a link must commit to, given its ancestors' samples
/// (parent first, at most `retarget_links`) and its parent's chain
/// difficulty; the floor's bits for a genesis link.
///
/// Like Monero P2Pool: drop the oldest and newest 10 % of the timestamps,
/// take the work done across the span that remains and aim for
/// `target_spacing_secs` per link:
/// `D = work * spacing / span_secs`. The step from the parent's difficulty
/// is clamped to a factor of `retarget_max_step` either way, and the result
/// never goes below the floor. Its target is never harder than
/// `network_cap` either (the network target of the parent's header, as its
/// bits): every block is then a link, so every block is paid by the chain
/// and every node learns it. The comparison is on the targets themselves:
/// the compact form rounds a target down, so a difficulty cap alone could
/// leave the chain target a hair harder than the network's. Everything is
/// integer arithmetic; the result goes through the compact form, so peers
/// compare four bytes.
pub(super) fn next_bits(
    params: &ChainParams,
    samples: &[Sample],
    parent_difficulty: Option<Difficulty>,
    network_cap: Option<CompactTarget>,
) -> CompactTarget {
    let bits = retarget(params, samples, parent_difficulty);
    let Some(network_bits) = network_cap else {
        return bits;
    };
    let (Ok(target), Ok(network)) = (
        Target::from_compact(bits),
        Target::from_compact(network_bits),
    ) else {
        return bits;
    };
    // Only where the network's target is within the floor: a network
    // easier than the floor leaves blocks that are not links (documented).
    if target < network && network <= params.floor_target() {
        return network_bits;
    }
    bits
}

/// The retarget alone, before the network cap.
fn retarget(
    params: &ChainParams,
    samples: &[Sample],
    parent_difficulty: Option<Difficulty>,
) -> CompactTarget {
    let floor = params.min_difficulty.raw();
    let Some(parent) = parent_difficulty.map(Difficulty::raw) else {
        return to_bits(params, floor);
    };
    let n = samples.len();
    if n < 2 {
        return to_bits(params, parent.max(floor));
    }
    let mut times: Vec<u32> = samples.iter().map(|s| s.time).collect();
    times.sort_unstable();
    let trim = n / 10;
    let (lo, hi) = (times[trim], times[n - 1 - trim]);
    let span_secs = u64::from(hi.saturating_sub(lo)).max(1);
    // n samples are n - 1 intervals; the work of an interval is that of
    // the newer end, so the oldest sample's work is left out.
    let work: U256 = samples[..n - 1].iter().map(|s| U256::from(s.work)).sum();
    let intervals = (n - 1) as u64;
    let kept = intervals - 2 * trim as u64;
    let numerator = work * U256::from(kept) * U256::from(params.target_spacing_secs);
    let denominator = U256::from(intervals) * U256::from(span_secs);
    let wanted = u128::try_from(numerator / denominator).unwrap_or(u128::MAX);
    let step = u128::from(params.retarget_max_step);
    let clamped = wanted.clamp(parent / step, parent.saturating_mul(step));
    to_bits(params, clamped.max(floor))
}

fn to_bits(params: &ChainParams, difficulty: u128) -> CompactTarget {
    let target = Target::from_fixed_difficulty(Difficulty::from_raw(difficulty));
    // The compact form rounds the target down (harder), never past the
    // floor's own compact form.
    let floor = params.floor_target();
    target.min(floor).to_compact_lossy()
}

/// The median of `times` (the upper one for an even count); `None` for
/// no times.
pub(super) fn median(times: &mut [u32]) -> Option<u32> {
    if times.is_empty() {
        return None;
    }
    times.sort_unstable();
    times.get(times.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChainParams {
        ChainParams::new()
    }

    fn samples(n: usize, spacing: u32, work: u128) -> Vec<Sample> {
        // Parent first: the newest time first.
        (0..n)
            .map(|i| Sample {
                time: 1_000_000 - (i as u32) * spacing,
                work,
            })
            .collect()
    }

    fn difficulty(bits: CompactTarget) -> u128 {
        Difficulty::from_target(&Target::from_compact(bits).expect("valid bits")).raw()
    }

    #[test]
    fn on_schedule_the_difficulty_holds() {
        let d = 1u128 << 40;
        let bits = next_bits(
            &params(),
            &samples(60, 10, d),
            Some(Difficulty::from_raw(d)),
            None,
        );
        let got = difficulty(bits);
        // The compact form keeps 23 bits of mantissa.
        assert!(got.abs_diff(d) < d >> 20, "{got} vs {d}");
    }

    #[test]
    fn the_chain_target_is_never_harder_than_the_network_target() {
        let d = 1u128 << 40;
        for divisor in [3u128, 7, 1_000] {
            // A network target whose compact form is not the chain's.
            let network = Target::from_fixed_difficulty(Difficulty::from_raw(d / divisor + 12_345))
                .to_compact_lossy();
            let bits = next_bits(
                &params(),
                &samples(60, 10, d),
                Some(Difficulty::from_raw(d)),
                Some(network),
            );
            let (chain, net) = (
                Target::from_compact(bits).expect("valid"),
                Target::from_compact(network).expect("valid"),
            );
            assert!(chain >= net, "chain target harder than the network's");
        }
    }

    #[test]
    fn links_twice_as_fast_double_it_and_the_step_is_clamped() {
        let d = 1u128 << 40;
        let faster = difficulty(next_bits(
            &params(),
            &samples(60, 5, d),
            Some(Difficulty::from_raw(d)),
            None,
        ));
        assert!(faster.abs_diff(2 * d) < d >> 19, "{faster}");
        let much_faster = difficulty(next_bits(
            &params(),
            &samples(60, 1, d),
            Some(Difficulty::from_raw(d)),
            None,
        ));
        assert!(much_faster <= 2 * d && much_faster > 2 * d - (d >> 19));
    }

    #[test]
    fn the_floor_holds_however_slow_the_links() {
        let p = params();
        let floor = p.min_difficulty.raw();
        let bits = next_bits(
            &p,
            &samples(60, 10_000, floor),
            Some(p.min_difficulty),
            None,
        );
        assert_eq!(bits, p.floor_target().to_compact_lossy());
        assert!(Target::from_compact(bits).expect("valid bits") <= p.floor_target());
    }

    #[test]
    fn genesis_is_at_the_floor() {
        let p = params();
        assert_eq!(
            next_bits(&p, &[], None, None),
            p.floor_target().to_compact_lossy()
        );
    }
}
