//! Straight-line trends of a time series, and whether a queue keeps up with its arrivals.
//!
//! A queue whose consumers keep up has a depth that wobbles around a level; one that does
//! not grows roughly linearly at (arrival rate − service rate). [`queue_stability`] fits a
//! least-squares line to depth over time and calls the queue growing only when the slope is
//! both statistically clear and large enough to matter; see [`QueueStabilityRule`].

use serde::{Deserialize, Serialize};

/// Why a trend could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    #[error(
        "a trend needs at least 3 samples at 2 or more distinct times, got {points} samples \
         at {distinct_times} times (sample the series for longer)"
    )]
    TooFewPoints {
        points: usize,
        distinct_times: usize,
    },

    #[error("sample {index} of the series is ({t}, {value}); both must be finite")]
    InvalidPoint { index: usize, t: f64, value: f64 },

    #[error(
        "arrival rate must be a finite number > 0, got {0}; with no arrivals a queue cannot \
         grow, so there is nothing to judge"
    )]
    InvalidArrivalRate(f64),
}

/// The least-squares line value ≈ intercept + slope · t, with the uncertainty of the slope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearTrend {
    /// Change in value per unit of t (e.g. messages per second).
    pub slope: f64,
    /// The line's value at t = 0.
    pub intercept: f64,
    /// Standard error of the slope, √(s² / Σ(t − t̄)²) with s² the residual variance over
    /// n − 2 degrees of freedom. Zero when the points lie exactly on the line.
    pub slope_standard_error: f64,
    pub points: usize,
}

impl LinearTrend {
    /// slope / standard error; `None` when the points lie exactly on a line (the ratio would
    /// be infinite, or 0/0 for a flat line).
    pub fn t_statistic(&self) -> Option<f64> {
        (self.slope_standard_error > 0.0).then(|| self.slope / self.slope_standard_error)
    }
}

/// Fits a least-squares line to `(t, value)` samples. Needs three samples (two fix a line
/// and leave nothing to estimate its uncertainty from) at two or more distinct times.
pub fn linear_trend(series: &[(f64, f64)]) -> Result<LinearTrend, TrendError> {
    for (index, &(t, value)) in series.iter().enumerate() {
        if !t.is_finite() || !value.is_finite() {
            return Err(TrendError::InvalidPoint { index, t, value });
        }
    }
    let mut times: Vec<f64> = series.iter().map(|&(t, _)| t).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    if series.len() < 3 || times.len() < 2 {
        return Err(TrendError::TooFewPoints {
            points: series.len(),
            distinct_times: times.len(),
        });
    }

    // Centred sums: times are often epoch seconds, and Σt² would lose the digits that
    // matter.
    let n = series.len() as f64;
    let t_mean = series.iter().map(|&(t, _)| t).sum::<f64>() / n;
    let v_mean = series.iter().map(|&(_, v)| v).sum::<f64>() / n;
    let (mut stt, mut stv) = (0.0, 0.0);
    for &(t, v) in series {
        stt += (t - t_mean) * (t - t_mean);
        stv += (t - t_mean) * (v - v_mean);
    }
    let slope = stv / stt;
    let intercept = v_mean - slope * t_mean;
    let residual_squares: f64 = series
        .iter()
        .map(|&(t, v)| (v - (v_mean + slope * (t - t_mean))).powi(2))
        .sum();
    let residual_variance = residual_squares / (n - 2.0);
    Ok(LinearTrend {
        slope,
        intercept,
        slope_standard_error: (residual_variance / stt).sqrt(),
        points: series.len(),
    })
}

/// When a queue-depth slope counts as growth (or draining).
///
/// Both conditions must hold:
///
/// 1. **Clear**: |slope| ≥ `min_t_statistic` × its standard error. The default, 3, is
///    stricter than the textbook 2 because successive depth samples are correlated, which
///    makes the ordinary standard error too small.
/// 2. **Material**: |slope| ≥ `min_growth_fraction` × the arrival rate. With many samples
///    even a negligible drift becomes "significant"; a backlog growing by under 1 % of the
///    arrivals (the default) is noise for capacity purposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStabilityRule {
    pub min_t_statistic: f64,
    pub min_growth_fraction: f64,
}

impl Default for QueueStabilityRule {
    fn default() -> Self {
        Self {
            min_t_statistic: 3.0,
            min_growth_fraction: 0.01,
        }
    }
}

/// What the depth trend says about the consumers: rundir's type, so that summaries,
/// analyses and reports carry the verdict typed. `queue_stability` never answers `Unknown`.
pub use rundir::QueueVerdict;

/// The verdict on one queue, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStability {
    pub trend: LinearTrend,
    /// See [`LinearTrend::t_statistic`].
    pub t_statistic: Option<f64>,
    /// slope / arrival rate: the share of arrivals that piles up (negative when draining).
    pub growth_fraction_of_arrivals: f64,
    pub verdict: QueueVerdict,
}

impl QueueStability {
    /// Growing is the unstable case; steady and draining queues keep up.
    pub fn is_stable(&self) -> bool {
        !self.verdict.is_growing()
    }
}

/// Judges queue depth samples `(t seconds, depth)` taken while jobs arrived at
/// `arrival_rate` per second. See [`QueueStabilityRule`] for the rule.
pub fn queue_stability(
    depth: &[(f64, f64)],
    arrival_rate: f64,
    rule: &QueueStabilityRule,
) -> Result<QueueStability, TrendError> {
    if !(arrival_rate.is_finite() && arrival_rate > 0.0) {
        return Err(TrendError::InvalidArrivalRate(arrival_rate));
    }
    let trend = linear_trend(depth)?;
    let clear = trend.slope.abs() >= rule.min_t_statistic * trend.slope_standard_error;
    let material = trend.slope.abs() >= rule.min_growth_fraction * arrival_rate;
    let verdict = match (clear && material, trend.slope > 0.0) {
        (true, true) => QueueVerdict::Growing,
        (true, false) if trend.slope < 0.0 => QueueVerdict::Draining,
        _ => QueueVerdict::Steady,
    };
    Ok(QueueStability {
        t_statistic: trend.t_statistic(),
        growth_fraction_of_arrivals: trend.slope / arrival_rate,
        trend,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic wobble standing in for noise: mean zero over the period.
    fn wobble(i: usize) -> f64 {
        [0.0, 3.0, -2.0, 1.0, -4.0, 2.0][i % 6]
    }

    #[test]
    fn exact_line_is_recovered() {
        let series: Vec<_> = (0..10)
            .map(|i| (f64::from(i), 5.0 + 2.0 * f64::from(i)))
            .collect();
        let trend = linear_trend(&series).unwrap();
        assert!((trend.slope - 2.0).abs() < 1e-12);
        assert!((trend.intercept - 5.0).abs() < 1e-12);
        assert!(trend.slope_standard_error < 1e-12);
    }

    #[test]
    fn standard_error_matches_a_hand_computation() {
        // t = 0, 1, 2; v = 0, 2, 1: slope 0.5, residuals −0.5, 1, −0.5 → s² = 1.5/1,
        // Σ(t − t̄)² = 2, SE = √0.75.
        let trend = linear_trend(&[(0.0, 0.0), (1.0, 2.0), (2.0, 1.0)]).unwrap();
        assert!((trend.slope - 0.5).abs() < 1e-12);
        assert!((trend.intercept - 0.5).abs() < 1e-12);
        assert!((trend.slope_standard_error - 0.75f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn epoch_times_do_not_lose_precision() {
        let series: Vec<_> = (0..100)
            .map(|i| (1.7e9 + f64::from(i), 3.0 * f64::from(i)))
            .collect();
        assert!((linear_trend(&series).unwrap().slope - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_backlog_growing_with_the_arrivals_is_unstable() {
        // 50 jobs/s arrive, 45 are served: depth grows by 5/s under noise.
        let depth: Vec<_> = (0..120)
            .map(|i| (i as f64, 5.0 * i as f64 + 10.0 * wobble(i)))
            .collect();
        let verdict = queue_stability(&depth, 50.0, &QueueStabilityRule::default()).unwrap();
        assert_eq!(verdict.verdict, QueueVerdict::Growing);
        assert!(!verdict.is_stable());
        assert!((verdict.growth_fraction_of_arrivals - 0.1).abs() < 0.01);
    }

    #[test]
    fn a_wobbling_queue_is_steady() {
        let depth: Vec<_> = (0..120)
            .map(|i| (i as f64, 40.0 + 10.0 * wobble(i)))
            .collect();
        let verdict = queue_stability(&depth, 50.0, &QueueStabilityRule::default()).unwrap();
        assert_eq!(verdict.verdict, QueueVerdict::Steady);
        assert!(verdict.is_stable());
    }

    #[test]
    fn clear_but_negligible_growth_is_steady() {
        // Exactly linear (infinitely "significant") but 0.1 % of the arrivals.
        let depth: Vec<_> = (0..60).map(|i| (i as f64, 0.05 * i as f64)).collect();
        let verdict = queue_stability(&depth, 50.0, &QueueStabilityRule::default()).unwrap();
        // Rounding leaves a standard error of ~1e-18 rather than 0.
        assert!(verdict.t_statistic.is_none_or(|t| t > 1e6), "{verdict:?}");
        assert_eq!(verdict.verdict, QueueVerdict::Steady);
    }

    #[test]
    fn a_shrinking_backlog_is_draining() {
        let depth: Vec<_> = (0..60)
            .map(|i| (i as f64, 1000.0 - 8.0 * i as f64 + wobble(i)))
            .collect();
        let verdict = queue_stability(&depth, 50.0, &QueueStabilityRule::default()).unwrap();
        assert_eq!(verdict.verdict, QueueVerdict::Draining);
        assert!(verdict.is_stable());
    }

    #[test]
    fn refuses_too_little_data() {
        assert_eq!(
            linear_trend(&[(0.0, 1.0), (1.0, 2.0)]),
            Err(TrendError::TooFewPoints {
                points: 2,
                distinct_times: 2
            })
        );
        assert!(matches!(
            linear_trend(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]),
            Err(TrendError::TooFewPoints {
                distinct_times: 1,
                ..
            })
        ));
        assert!(matches!(
            queue_stability(
                &[(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)],
                0.0,
                &Default::default()
            ),
            Err(TrendError::InvalidArrivalRate(_))
        ));
    }
}
