//! How sure a figure is: 95 % confidence intervals for the figures a capacity claim rests
//! on, and the sample sizes below which a figure says "not enough data" instead.
//!
//! - A **percentile** of n samples: the distribution-free interval between two order
//!   statistics. The count of samples below the true q-quantile is Binomial(n, q), so the
//!   ranks ⌊n·q − z·√(n·q·(1−q))⌋ and ⌈n·q + z·√(n·q·(1−q))⌉ + 1 bound it (normal
//!   approximation, as in Conover's *Practical Nonparametric Statistics*, §3.2; the + 1
//!   because the true quantile lies below the k-th value when fewer than k samples are at or
//!   below it). It needs no assumption about the latency's shape, which is never normal.
//!   When the upper rank passes n the sample cannot bound the percentile from above: a p95
//!   needs at least [`min_samples_for_quantile`]`(0.95)` = 110 samples.
//! - A **rate** from k events in t seconds (requests, completions): Poisson, with the
//!   square-root approximation of its exact interval, ((√k ∓ z/2)², (√(k+1) + z/2)²) / t,
//!   within a few percent of the exact one from k = 1 on.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Fewest completions a rate needs before a verdict rests on it: with 10 events the 95 %
/// interval is still about −48 %/+84 % of the rate.
pub const MIN_EVENTS_FOR_RATE: u64 = 10;

/// A 95 % interval; `high` is None when the sample cannot bound the figure from above.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: Option<f64>,
}

/// The 1-based ranks of the order statistics that bound the q-quantile of `n` samples with
/// 95 % confidence; the upper is None when it would pass `n`. None for no samples.
pub fn quantile_rank_bounds(n: u64, q: f64) -> Option<(u64, Option<u64>)> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let n_f = n as f64;
    let spread = Z_95 * (n_f * q * (1.0 - q)).sqrt();
    let low = (n_f * q - spread).floor().max(1.0) as u64;
    let high = (n_f * q + spread).ceil() as u64 + 1;
    Some((low.min(n), (high <= n).then_some(high)))
}

/// The fewest samples whose 95 % interval for the q-quantile has an upper bound.
pub fn min_samples_for_quantile(q: f64) -> u64 {
    (1..100_000)
        .find(|&n| matches!(quantile_rank_bounds(n, q), Some((_, Some(_)))))
        .unwrap_or(u64::MAX)
}

/// The 95 % interval of a percentile, given the value at a rank (1-based, of `n`).
pub fn quantile_interval(n: u64, q: f64, value_at_rank: impl Fn(u64) -> f64) -> Option<Interval> {
    let (low, high) = quantile_rank_bounds(n, q)?;
    Some(Interval {
        low: value_at_rank(low),
        high: high.map(value_at_rank),
    })
}

/// The 95 % interval of a least-squares slope from its standard error (normal
/// approximation; successive queue samples are correlated, so read it as a lower bound on
/// the uncertainty).
pub fn slope_interval(slope: f64, standard_error: f64) -> Interval {
    Interval {
        low: slope - Z_95 * standard_error,
        high: Some(slope + Z_95 * standard_error),
    }
}

/// The 95 % interval of a rate of `events` in `seconds` (per second).
pub fn rate_interval(events: u64, seconds: f64) -> Option<Interval> {
    if seconds <= 0.0 || !seconds.is_finite() {
        return None;
    }
    let k = events as f64;
    let half = Z_95 / 2.0;
    let low = if events == 0 {
        0.0
    } else {
        (k.sqrt() - half).max(0.0).powi(2)
    };
    let high = ((k + 1.0).sqrt() + half).powi(2);
    Some(Interval {
        low: low / seconds,
        high: Some(high / seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_p95_needs_110_samples_to_be_bounded_from_above() {
        assert_eq!(min_samples_for_quantile(0.95), 110);
        assert_eq!(min_samples_for_quantile(0.5), 8);
        assert!(matches!(quantile_rank_bounds(5, 0.95), Some((_, None))));
        // 1,000 samples: the p95 lies between the 937th and the 965th value.
        assert_eq!(quantile_rank_bounds(1000, 0.95), Some((936, Some(965))));
    }

    #[test]
    fn the_interval_covers_the_true_quantile_of_a_known_sample() {
        // Values 1..=n: the q-quantile is n·q; the interval must hold it.
        let n = 400;
        let interval = quantile_interval(n, 0.95, |rank| rank as f64).unwrap();
        assert!(
            interval.low <= 380.0 && interval.high.unwrap() >= 380.0,
            "{interval:?}"
        );
    }

    #[test]
    fn rate_intervals_match_the_exact_poisson_ones() {
        // Exact 95 % limits for k = 10: 4.795 and 18.39 (Garwood); the approximation is
        // within 5 %.
        let i = rate_interval(10, 1.0).unwrap();
        assert!((i.low - 4.795).abs() / 4.795 < 0.05, "{i:?}");
        assert!((i.high.unwrap() - 18.39).abs() / 18.39 < 0.05, "{i:?}");
        // k = 0: from 0 up to 3.69 (exact) per unit time.
        let zero = rate_interval(0, 2.0).unwrap();
        assert_eq!(zero.low, 0.0);
        assert!((zero.high.unwrap() * 2.0 - 3.69).abs() < 0.3, "{zero:?}");
        assert_eq!(rate_interval(5, 0.0), None);
    }

    proptest! {
        #[test]
        fn rank_bounds_are_ordered_and_inside_the_sample(n in 1u64..5000, q in 0.01f64..0.99) {
            let (low, high) = quantile_rank_bounds(n, q).unwrap();
            prop_assert!(low >= 1 && low <= n);
            if let Some(high) = high {
                prop_assert!(high <= n && high > low);
                prop_assert!((low as f64) <= n as f64 * q + 1.0);
                prop_assert!((high as f64) >= n as f64 * q);
            }
        }

        #[test]
        fn a_rate_interval_holds_the_rate(events in 0u64..100_000, seconds in 0.5f64..10_000.0) {
            let i = rate_interval(events, seconds).unwrap();
            let rate = events as f64 / seconds;
            prop_assert!(i.low <= rate && rate <= i.high.unwrap());
        }
    }
}
