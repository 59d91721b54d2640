//! The Universal Scalability Law (Gunther): how throughput grows with concurrency.
//!
//! ```text
//! X(N) = λN / (1 + σ(N − 1) + κN(N − 1))
//! ```
//!
//! λ is the throughput of one unit of concurrency with nothing else running, σ the cost of
//! contention (the serial fraction: queueing for a shared resource) and κ the cost of
//! coherency (crosstalk: every pair of workers exchanging state). With κ > 0 throughput peaks
//! and then falls; with κ = 0 it only flattens towards λ/σ.
//!
//! [`UslFit::fit`] fits the three coefficients to measured (concurrency, throughput) points by
//! unconstrained least squares on the throughput residuals, the method of the reference
//! implementations (usl4j, usl-rs) and of Baron Schwartz's "Practical Scalability Analysis
//! with the Universal Scalability Law"; the test reproduces their fit of the Cisco benchmark.

use serde::{Deserialize, Serialize};

/// Three coefficients need more points than three to say anything: with few levels any
/// smooth curve fits and the coefficients are noise. Six distinct levels is the smallest
/// number the reference material uses and still leaves three degrees of freedom.
pub const MIN_CONCURRENCY_LEVELS: usize = 6;

/// Levenberg–Marquardt gives up after this many iterations. The Cisco data need a few dozen;
/// reaching the cap means the points do not settle on any USL curve.
const MAX_ITERATIONS: usize = 1000;

/// A step that changes no coefficient by more than this fraction ends the search.
const STEP_TOLERANCE: f64 = 1e-12;

/// A step that lowers the squared error by less than this fraction ends the search: what is
/// left is rounding.
const ERROR_TOLERANCE: f64 = 1e-15;

/// The damping at which no step lowers the error any more: the search stands at the minimum
/// as far as floating point can tell.
const MAX_DAMPING: f64 = 1e20;

/// Why [`UslFit::fit`] refused to fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UslError {
    #[error(
        "the USL fit needs at least {MIN_CONCURRENCY_LEVELS} distinct concurrency levels, got \
         {levels}; its three coefficients would fit any few points and mean nothing \
         (measure more levels, e.g. a ramp with more stages)"
    )]
    TooFewLevels { levels: usize },

    #[error(
        "point {index} of the USL input has concurrency {concurrency} and throughput \
         {throughput}; both must be finite and greater than zero (leave out failed or empty \
         stages)"
    )]
    InvalidPoint {
        index: usize,
        concurrency: f64,
        throughput: f64,
    },

    #[error(
        "the USL fit did not converge after {iterations} iterations; the points do not follow \
         a USL curve (look for outliers, or stages from different runs or configurations)"
    )]
    DidNotConverge { iterations: usize },
}

/// A USL curve: the three coefficients and what follows from them.
///
/// Usually made by [`UslFit::fit`]; build one directly to evaluate a curve with known
/// coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UslModel {
    /// Contention (serial fraction), σ.
    pub sigma: f64,
    /// Coherency (crosstalk), κ.
    pub kappa: f64,
    /// Throughput at concurrency 1 without contention, λ.
    pub lambda: f64,
}

impl UslModel {
    /// The denominator 1 + σ(N − 1) + κN(N − 1): how much slower than ideal each unit runs.
    fn slowdown(&self, n: f64) -> f64 {
        1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)
    }

    /// Predicted throughput at concurrency `n`, X(n). Trust it within, or a little beyond,
    /// the measured levels; far outside them it is extrapolation.
    pub fn throughput_at(&self, n: f64) -> f64 {
        self.lambda * n / self.slowdown(n)
    }

    /// Predicted response time at concurrency `n`, n / X(n) by Little's law, in the time
    /// unit of the throughput (seconds for requests per second). Written as
    /// slowdown(n) / λ, which needs no division by a throughput near zero.
    pub fn latency_at(&self, n: f64) -> f64 {
        self.slowdown(n) / self.lambda
    }

    /// The concurrency with the highest throughput, ⌊√((1 − σ)/κ)⌋ (rounded down as usl4j and
    /// usl-rs do, so results match theirs), at least 1. `None` when κ ≤ 0: the curve never
    /// turns down, so there is no peak to report (see [`UslModel::is_limitless`]).
    pub fn peak_concurrency(&self) -> Option<u64> {
        if self.kappa <= 0.0 {
            return None;
        }
        let peak = ((1.0 - self.sigma) / self.kappa).max(0.0).sqrt().floor();
        // A peak beyond u64 is no peak in practice; saturate rather than wrap.
        Some((peak as u64).max(1))
    }

    /// Throughput at [`UslModel::peak_concurrency`]; `None` when there is no peak.
    pub fn max_throughput(&self) -> Option<f64> {
        self.peak_concurrency()
            .map(|peak| self.throughput_at(peak as f64))
    }

    /// Contention dominates (σ > κ): the system flattens because workers queue for a shared
    /// resource (a lock, a connection pool, one disk). Remedy: shorten or split that resource.
    pub fn is_contention_constrained(&self) -> bool {
        self.sigma > self.kappa
    }

    /// Coherency dominates (κ > σ): adding workers costs more than it gives because they keep
    /// one another's state in step (cache invalidation, chatty coordination).
    pub fn is_coherency_constrained(&self) -> bool {
        self.kappa > self.sigma
    }

    /// No coherency cost (κ ≤ 0; an unconstrained fit can land a hair below zero): throughput
    /// never peaks, it only approaches λ/σ.
    pub fn is_limitless(&self) -> bool {
        self.kappa <= 0.0
    }

    /// Coefficients a real system can have: σ between a hair below 0 and 1 (full
    /// serialisation), κ from a hair below 0 up. Least squares on points whose throughput
    /// falls from the lowest load (a system saturated from the start, or one whose work per
    /// request grew during the run) can land on σ ≈ 10¹⁴, κ ≈ −10¹² with a fine R²: a curve
    /// that fits and means nothing.
    pub fn is_physical(&self) -> bool {
        (-PHYSICAL_SLACK..=1.0).contains(&self.sigma)
            && self.kappa >= -PHYSICAL_SLACK / 100.0
            && self.kappa <= 1.0
            && self.lambda.is_finite()
            && self.lambda > 0.0
    }
}

/// How far below zero σ (and, a hundredth of it, κ) may land and still be read as "no such
/// cost" rather than as a curve without physical meaning.
pub const PHYSICAL_SLACK: f64 = 0.05;

/// A USL curve fitted to measurements, with how well it fits.
#[derive(Debug, Clone, PartialEq)]
pub struct UslFit {
    model: UslModel,
    r_squared: f64,
    rmse: f64,
    points: usize,
    iterations: usize,
}

impl UslFit {
    /// Fits X(N) to `points` of (concurrency, throughput) by least squares on throughput,
    /// with Levenberg–Marquardt from σ = 0.1, κ = 0.01, λ = max(X/N).
    ///
    /// The coefficients are not constrained: a fit with σ or κ slightly below zero says the
    /// data show no such cost, and forcing zero would bend the other two. Repeated levels
    /// are fine (each point counts once); at least [`MIN_CONCURRENCY_LEVELS`] distinct
    /// levels are required.
    pub fn fit(points: &[(f64, f64)]) -> Result<UslFit, UslError> {
        for (index, &(concurrency, throughput)) in points.iter().enumerate() {
            let valid = |v: f64| v.is_finite() && v > 0.0;
            if !valid(concurrency) || !valid(throughput) {
                return Err(UslError::InvalidPoint {
                    index,
                    concurrency,
                    throughput,
                });
            }
        }
        let levels = distinct_levels(points);
        if levels < MIN_CONCURRENCY_LEVELS {
            return Err(UslError::TooFewLevels { levels });
        }

        let start = UslModel {
            sigma: 0.1,
            kappa: 0.01,
            lambda: points.iter().map(|&(n, x)| x / n).fold(f64::MIN, f64::max),
        };
        let (model, iterations) = levenberg_marquardt(points, start)?;

        let sse =
            sum_squared_error(points, &model).ok_or(UslError::DidNotConverge { iterations })?;
        let mean = points.iter().map(|&(_, x)| x).sum::<f64>() / points.len() as f64;
        let total: f64 = points.iter().map(|&(_, x)| (x - mean).powi(2)).sum();
        // All throughputs equal: nothing to explain, and the flat curve (σ = 1) explains it.
        let r_squared = if total > 0.0 { 1.0 - sse / total } else { 1.0 };
        Ok(UslFit {
            model,
            r_squared,
            rmse: (sse / points.len() as f64).sqrt(),
            points: points.len(),
            iterations,
        })
    }

    /// The fitted curve.
    pub fn model(&self) -> &UslModel {
        &self.model
    }

    pub fn sigma(&self) -> f64 {
        self.model.sigma
    }

    pub fn kappa(&self) -> f64 {
        self.model.kappa
    }

    pub fn lambda(&self) -> f64 {
        self.model.lambda
    }

    /// 1 − SSE/SST: the share of the throughput's variance the curve explains (1 is perfect).
    /// High values are normal for throughput curves; read [`UslFit::rmse`] too.
    pub fn r_squared(&self) -> f64 {
        self.r_squared
    }

    /// Root-mean-square throughput residual, in the throughput's unit.
    pub fn rmse(&self) -> f64 {
        self.rmse
    }

    /// How many points were fitted.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Levenberg–Marquardt iterations used (a diagnostic).
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    pub fn throughput_at(&self, n: f64) -> f64 {
        self.model.throughput_at(n)
    }

    pub fn latency_at(&self, n: f64) -> f64 {
        self.model.latency_at(n)
    }

    pub fn peak_concurrency(&self) -> Option<u64> {
        self.model.peak_concurrency()
    }

    pub fn max_throughput(&self) -> Option<f64> {
        self.model.max_throughput()
    }

    /// Everything a report needs, in one serializable value.
    pub fn summary(&self) -> UslSummary {
        UslSummary {
            sigma: self.model.sigma,
            kappa: self.model.kappa,
            lambda: self.model.lambda,
            r_squared: self.r_squared,
            rmse: self.rmse,
            points: self.points,
            peak_concurrency: self.model.peak_concurrency(),
            max_throughput: self.model.max_throughput(),
            contention_constrained: self.model.is_contention_constrained(),
            coherency_constrained: self.model.is_coherency_constrained(),
            limitless: self.model.is_limitless(),
        }
    }
}

/// The fit as it goes into `analysis.json`. Field meanings are those of [`UslFit`] and
/// [`UslModel`]; `peak_concurrency` and `max_throughput` are absent when κ ≤ 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslSummary {
    pub sigma: f64,
    pub kappa: f64,
    pub lambda: f64,
    pub r_squared: f64,
    pub rmse: f64,
    pub points: usize,
    pub peak_concurrency: Option<u64>,
    pub max_throughput: Option<f64>,
    pub contention_constrained: bool,
    pub coherency_constrained: bool,
    pub limitless: bool,
}

fn distinct_levels(points: &[(f64, f64)]) -> usize {
    let mut levels: Vec<f64> = points.iter().map(|&(n, _)| n).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    levels.len()
}

/// Σ (X − X̂)², or `None` when the model is meaningless at some measured level (slowdown
/// ≤ 0, which negative coefficients allow) or overflows. The search treats `None` as worse
/// than anything, so it never steps there.
fn sum_squared_error(points: &[(f64, f64)], model: &UslModel) -> Option<f64> {
    let mut sse = 0.0;
    for &(n, x) in points {
        if model.slowdown(n) <= 0.0 {
            return None;
        }
        sse += (x - model.throughput_at(n)).powi(2);
    }
    sse.is_finite().then_some(sse)
}

/// Minimises the squared throughput error from `start`; returns the model and the
/// iterations used.
///
/// Each iteration builds the normal equations JᵀJ δ = Jᵀr from the analytic Jacobian
/// (coefficients ordered σ, κ, λ; D is the slowdown):
///
/// ```text
/// ∂X/∂σ = −λN(N − 1)/D²    ∂X/∂κ = −λN²(N − 1)/D²    ∂X/∂λ = N/D
/// ```
///
/// and damps them Marquardt's way, (JᵀJ + μ·diag(JᵀJ)) δ = Jᵀr, so that σ and κ (around
/// 0.01) and λ (around 1000) are stepped in proportion to their own scales. A step that
/// lowers the error is taken and μ shrinks tenfold (towards Gauss–Newton); one that does not
/// is retried with μ ten times larger (towards short gradient steps).
fn levenberg_marquardt(
    points: &[(f64, f64)],
    start: UslModel,
) -> Result<(UslModel, usize), UslError> {
    let mut model = start;
    let mut sse =
        sum_squared_error(points, &model).ok_or(UslError::DidNotConverge { iterations: 0 })?;
    let mut damping = 1e-3;

    for iteration in 1..=MAX_ITERATIONS {
        if sse == 0.0 {
            return Ok((model, iteration - 1));
        }
        let (normal, gradient) = normal_equations(points, &model);

        loop {
            let mut damped = normal;
            for (i, row) in damped.iter_mut().enumerate() {
                row[i] += damping * normal[i][i].max(f64::MIN_POSITIVE);
            }
            let step = solve3(damped, gradient);
            let trial = step.map(|[ds, dk, dl]| UslModel {
                sigma: model.sigma + ds,
                kappa: model.kappa + dk,
                lambda: model.lambda + dl,
            });
            let trial_sse = trial.and_then(|t| sum_squared_error(points, &t).map(|e| (t, e)));
            match (step, trial_sse) {
                (Some(step), Some((trial, trial_sse))) if trial_sse < sse => {
                    let reduction = (sse - trial_sse) / sse;
                    let largest_relative_step = [
                        (step[0], model.sigma),
                        (step[1], model.kappa),
                        (step[2], model.lambda),
                    ]
                    .iter()
                    .map(|&(d, p)| d.abs() / p.abs().max(f64::MIN_POSITIVE))
                    .fold(0.0, f64::max);
                    model = trial;
                    sse = trial_sse;
                    damping = (damping / 10.0).max(1e-15);
                    if reduction < ERROR_TOLERANCE || largest_relative_step < STEP_TOLERANCE {
                        return Ok((model, iteration));
                    }
                    break;
                }
                _ => {
                    damping *= 10.0;
                    if damping > MAX_DAMPING {
                        return Ok((model, iteration));
                    }
                }
            }
        }
    }
    Err(UslError::DidNotConverge {
        iterations: MAX_ITERATIONS,
    })
}

/// JᵀJ and Jᵀr for the current model (r = measured − predicted).
fn normal_equations(points: &[(f64, f64)], model: &UslModel) -> ([[f64; 3]; 3], [f64; 3]) {
    let mut normal = [[0.0; 3]; 3];
    let mut gradient = [0.0; 3];
    for &(n, x) in points {
        let d = model.slowdown(n);
        let common = -model.lambda * n * (n - 1.0) / (d * d);
        let jacobian = [common, common * n, n / d];
        let residual = x - model.throughput_at(n);
        for i in 0..3 {
            gradient[i] += jacobian[i] * residual;
            for j in 0..3 {
                normal[i][j] += jacobian[i] * jacobian[j];
            }
        }
    }
    (normal, gradient)
}

/// Solves a 3×3 system by Gaussian elimination with partial pivoting; `None` when singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col] == 0.0 || !a[pivot][col].is_finite() {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..3 {
            let factor = a[row][col] / pivot_row[col];
            for (entry, pivot_entry) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *entry -= factor * pivot_entry;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let tail: f64 = (row + 1..3).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CISCO_CSV: &str = include_str!("../tests/data/usl/cisco.csv");
    const CISCO_EXPECTED: &str = include_str!("../tests/data/usl/expected.json");

    fn cisco() -> Vec<(f64, f64)> {
        CISCO_CSV
            .lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (n, x) = line.split_once(',').expect("two columns");
                (
                    n.parse().expect("concurrency"),
                    x.parse().expect("throughput"),
                )
            })
            .collect()
    }

    fn assert_relative(actual: f64, expected: f64, tolerance: f64, what: &str) {
        let error = ((actual - expected) / expected).abs();
        assert!(
            error <= tolerance,
            "{what}: got {actual}, expected {expected} (relative error {error:e} > {tolerance:e})"
        );
    }

    #[test]
    fn reproduces_the_reference_fit_of_the_cisco_benchmark() {
        let expected: serde_json::Value = serde_json::from_str(CISCO_EXPECTED).unwrap();
        let reference = &expected["expected"];
        let fit = UslFit::fit(&cisco()).unwrap();

        assert_relative(
            fit.sigma(),
            reference["sigma"].as_f64().unwrap(),
            1e-5,
            "sigma",
        );
        assert_relative(
            fit.kappa(),
            reference["kappa"].as_f64().unwrap(),
            1e-5,
            "kappa",
        );
        assert_relative(
            fit.lambda(),
            reference["lambda"].as_f64().unwrap(),
            1e-5,
            "lambda",
        );
        assert_eq!(fit.peak_concurrency(), reference["n_max"].as_u64());
        assert_eq!(fit.peak_concurrency(), Some(35));
        assert_relative(
            fit.max_throughput().unwrap(),
            reference["x_max"].as_f64().unwrap(),
            1e-5,
            "max throughput",
        );
        assert_eq!(
            fit.model().is_contention_constrained(),
            reference["contention_constrained"].as_bool().unwrap()
        );
        assert_eq!(
            fit.model().is_coherency_constrained(),
            reference["coherency_constrained"].as_bool().unwrap()
        );
        assert_eq!(
            fit.model().is_limitless(),
            reference["limitless"].as_bool().unwrap()
        );
        assert!(fit.r_squared() > 0.99, "r² = {}", fit.r_squared());
        assert_eq!(fit.points(), 32);
    }

    #[test]
    fn cisco_predictions_match_the_reference_implementation() {
        let expected: serde_json::Value = serde_json::from_str(CISCO_EXPECTED).unwrap();
        let predictions = &expected["predictions_usl_rs"];
        let fit = UslFit::fit(&cisco()).unwrap();

        for (kind, evaluate) in [
            (
                "throughput_at_concurrency",
                UslFit::throughput_at as fn(&UslFit, f64) -> f64,
            ),
            ("latency_at_concurrency_s", UslFit::latency_at),
        ] {
            let table = predictions[kind].as_object().unwrap();
            assert!(!table.is_empty());
            for (n, value) in table {
                let n: f64 = n.parse().unwrap();
                assert_relative(
                    evaluate(&fit, n),
                    value.as_f64().unwrap(),
                    1e-4,
                    &format!("{kind} at {n}"),
                );
            }
        }
    }

    #[test]
    fn refuses_three_points() {
        let points = [(1.0, 100.0), (2.0, 190.0), (4.0, 350.0)];
        assert_eq!(
            UslFit::fit(&points),
            Err(UslError::TooFewLevels { levels: 3 })
        );
    }

    #[test]
    fn repeated_levels_do_not_count_as_distinct() {
        let points: Vec<_> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .flat_map(|&n| [(n, 100.0 * n), (n, 101.0 * n)])
            .collect();
        assert_eq!(
            UslFit::fit(&points),
            Err(UslError::TooFewLevels { levels: 5 })
        );
    }

    #[test]
    fn refuses_non_finite_or_non_positive_values() {
        let mut points = cisco();
        points[3].1 = f64::NAN;
        assert!(matches!(
            UslFit::fit(&points),
            Err(UslError::InvalidPoint { index: 3, .. })
        ));
        let mut points = cisco();
        points[0].0 = 0.0;
        assert!(matches!(
            UslFit::fit(&points),
            Err(UslError::InvalidPoint { index: 0, .. })
        ));
        let mut points = cisco();
        points[7].1 = -1.0;
        assert!(matches!(
            UslFit::fit(&points),
            Err(UslError::InvalidPoint { index: 7, .. })
        ));
    }

    #[test]
    fn error_messages_name_the_problem_and_the_fix() {
        let message = UslError::TooFewLevels { levels: 3 }.to_string();
        assert!(message.contains("at least 6"), "{message}");
        assert!(message.contains("measure more levels"), "{message}");
    }

    #[test]
    fn without_coherency_cost_there_is_no_peak() {
        let model = UslModel {
            sigma: 0.05,
            kappa: 0.0,
            lambda: 100.0,
        };
        assert!(model.is_limitless());
        assert!(model.is_contention_constrained());
        assert_eq!(model.peak_concurrency(), None);
        assert_eq!(model.max_throughput(), None);
    }

    #[test]
    fn little_law_ties_latency_to_throughput() {
        let model = UslModel {
            sigma: 0.06,
            kappa: 0.06,
            lambda: 40.0,
        };
        for n in [1.0, 3.5, 10.0] {
            let little = n / model.throughput_at(n);
            assert_relative(model.latency_at(n), little, 1e-12, "latency");
        }
        assert!(!model.is_contention_constrained() && !model.is_coherency_constrained());
    }

    #[test]
    fn summary_serializes_every_figure() {
        let summary = UslFit::fit(&cisco()).unwrap().summary();
        let json = serde_json::to_value(&summary).unwrap();
        for key in [
            "sigma",
            "kappa",
            "lambda",
            "r_squared",
            "rmse",
            "points",
            "peak_concurrency",
            "max_throughput",
            "contention_constrained",
            "coherency_constrained",
            "limitless",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["peak_concurrency"], 35);
        let back: UslSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn fits_back_perfectly_linear_scaling() {
        // σ = κ = 0: the edge of the property's range, where the fit may land a hair either
        // side of zero.
        let points: Vec<_> = (1..=16)
            .map(|n| (f64::from(n), 250.0 * f64::from(n)))
            .collect();
        let fit = UslFit::fit(&points).unwrap();
        for &(n, x) in &points {
            assert_relative(fit.throughput_at(n), x, 1e-9, "throughput");
        }
        assert!(
            fit.sigma().abs() < 1e-9 && fit.kappa().abs() < 1e-9,
            "{fit:?}"
        );
    }

    proptest! {
        #[test]
        fn fits_back_an_exact_usl_curve(
            sigma in 0.0..=0.3f64,
            kappa in 0.0..=0.01f64,
            lambda in 1.0..=1000.0f64,
        ) {
            let truth = UslModel { sigma, kappa, lambda };
            let points: Vec<_> = (1..=16)
                .map(|n| (f64::from(n), truth.throughput_at(f64::from(n))))
                .collect();
            let fit = UslFit::fit(&points).unwrap();
            // The coefficients can trade off against one another when σ and κ are tiny;
            // the curve itself must come back.
            for &(n, x) in &points {
                let error = ((fit.throughput_at(n) - x) / x).abs();
                prop_assert!(error <= 1e-6, "at N = {n}: fitted {} vs {x} ({fit:?})", fit.throughput_at(n));
            }
        }
    }
}
