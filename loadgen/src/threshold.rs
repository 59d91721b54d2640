//! Pass/fail criteria given on the command line, k6-style: `p95<1s`, `p99<=2000ms`,
//! `errors<5%`, `rps>100`, optionally for one endpoint: `upload:p95<3s`.

use std::fmt;

use capacity_model::SloBounds;
use rundir::{EndpointSummary, LatencySummary, ThresholdOutcome};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency quantile (0.5 … 0.999), or max/mean/min.
    Quantile(f64),
    Max,
    Mean,
    Min,
    /// Errors as a fraction of requests.
    Errors,
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Less,
    LessEq,
    Greater,
    GreaterEq,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    pub endpoint: Option<String>,
    pub metric: Metric,
    pub op: Op,
    /// Microseconds for latencies, a fraction for errors, requests/s for rps.
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const HELP: &str = "write thresholds like p95<1s, p99<=1500ms, mean<200ms, errors<5%, rps>50, \
                    or for one endpoint upload:p95<3s";

impl Threshold {
    /// The thresholds an SLO adds to a run: `p95<=` its latency bound and `errors<=` its
    /// error share, each unless the user gave a threshold on that figure for all endpoints,
    /// and no error threshold at 100 %.
    pub fn from_slo(slo: &SloBounds, given: &[Threshold]) -> Vec<Threshold> {
        let user_set = |metric: Metric| {
            given
                .iter()
                .any(|t| t.metric == metric && t.endpoint.is_none())
        };
        let p95 = slo
            .p95_ms
            .filter(|_| !user_set(Metric::Quantile(0.95)))
            .map(|ms| format!("p95<={ms}ms"));
        let errors = slo
            .max_error_ratio
            .filter(|share| *share < 1.0 && !user_set(Metric::Errors))
            .map(|share| format!("errors<={}", rundir::percent_text(share)));
        p95.into_iter()
            .chain(errors)
            .map(|text| Threshold::parse(&text).expect("an SLO formats as valid thresholds"))
            .collect()
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("threshold {text:?}: {why}; {HELP}");
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (endpoint, rest) = match compact.split_once(':') {
            Some((e, r)) if !e.is_empty() => (Some(e.to_string()), r),
            Some(_) => return Err(bad("the endpoint before ':' is empty")),
            None => (None, compact.as_str()),
        };
        let op_at = rest
            .find(['<', '>'])
            .ok_or_else(|| bad("no < or > comparison"))?;
        let (metric, tail) = rest.split_at(op_at);
        let (op, value) = if let Some(v) = tail.strip_prefix("<=") {
            (Op::LessEq, v)
        } else if let Some(v) = tail.strip_prefix(">=") {
            (Op::GreaterEq, v)
        } else if let Some(v) = tail.strip_prefix('<') {
            (Op::Less, v)
        } else {
            (Op::Greater, &tail[1..])
        };
        let metric = match metric {
            "p50" | "median" => Metric::Quantile(0.5),
            "p90" => Metric::Quantile(0.9),
            "p95" => Metric::Quantile(0.95),
            "p99" => Metric::Quantile(0.99),
            "p999" | "p99.9" => Metric::Quantile(0.999),
            "max" => Metric::Max,
            "mean" | "avg" => Metric::Mean,
            "min" => Metric::Min,
            "errors" | "error_rate" => Metric::Errors,
            "rps" => Metric::Rps,
            other => return Err(bad(&format!("unknown metric {other:?}"))),
        };
        let limit = match metric {
            Metric::Errors => rundir::parse_percent(value).map_err(|e| bad(&e))?,
            Metric::Rps => value
                .parse::<f64>()
                .map_err(|_| bad("rps takes a plain number"))?,
            _ => latency_micros(value).map_err(|e| bad(&e))?,
        };
        if !limit.is_finite() || limit < 0.0 {
            return Err(bad("the limit must be a non-negative number"));
        }
        Ok(Self {
            text: text.trim().to_string(),
            endpoint,
            metric,
            op,
            limit,
        })
    }

    /// The value this threshold looks at, in the threshold's base unit; None for a
    /// latency of an endpoint none of whose requests has one.
    fn observed(&self, figures: &EndpointSummary) -> Option<f64> {
        let latency = |figure: fn(&LatencySummary) -> f64| figures.latency_us.as_ref().map(figure);
        match self.metric {
            Metric::Quantile(q) if q <= 0.5 => latency(|l| l.p50 as f64),
            Metric::Quantile(q) if q <= 0.9 => latency(|l| l.p90 as f64),
            Metric::Quantile(q) if q <= 0.95 => latency(|l| l.p95 as f64),
            Metric::Quantile(q) if q <= 0.99 => latency(|l| l.p99 as f64),
            Metric::Quantile(_) => latency(|l| l.p999 as f64),
            Metric::Max => latency(|l| l.max as f64),
            Metric::Mean => latency(|l| l.mean),
            Metric::Min => latency(|l| l.min as f64),
            Metric::Errors => Some(figures.error_rate),
            Metric::Rps => Some(figures.rps),
        }
    }

    /// Judges the run's figures: the named endpoint's, or the total's.
    pub fn evaluate(
        &self,
        endpoints: &[EndpointSummary],
        total: &EndpointSummary,
    ) -> ThresholdOutcome {
        let figures = match &self.endpoint {
            None => Some(total),
            Some(name) => endpoints.iter().find(|e| &e.name == name),
        };
        // An endpoint that never ran, or a latency never measured, cannot pass.
        let observed = figures.and_then(|f| self.observed(f));
        let passed = observed.is_some_and(|observed| match self.op {
            Op::Less => observed < self.limit,
            Op::LessEq => observed <= self.limit,
            Op::Greater => observed > self.limit,
            Op::GreaterEq => observed >= self.limit,
        });
        let (scale, unit) = match self.metric {
            Metric::Errors => (100.0, "%"),
            Metric::Rps => (1.0, "req/s"),
            _ => (1e-3, "ms"),
        };
        ThresholdOutcome {
            expression: self.text.clone(),
            endpoint: self.endpoint.clone(),
            observed: observed.map(|o| o * scale),
            limit: self.limit * scale,
            unit: unit.to_string(),
            passed,
        }
    }
}

/// A latency limit in µs; a bare number is milliseconds, as k6's thresholds read it.
fn latency_micros(value: &str) -> Result<f64, String> {
    let duration = match value.parse::<f64>() {
        Ok(_) => rundir::parse_duration(&format!("{value}ms")),
        Err(_) => rundir::parse_duration(value),
    }?;
    Ok(duration.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(name: &str, p95_us: u64, error_rate: f64) -> EndpointSummary {
        EndpointSummary {
            name: name.into(),
            requests: 100,
            successes: 100,
            errors: 0,
            error_rate,
            rps: 50.0,
            bytes_sent: 0,
            bytes_received: 0,
            latency_us: Some(LatencySummary {
                min: 1,
                mean: 10.0,
                p50: 10,
                p90: 20,
                p95: p95_us,
                p99: 40,
                p999: 50,
                max: 60,
            }),
        }
    }

    #[test]
    fn parses_the_forms_users_write() {
        let t = Threshold::parse("p95<1s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit, t.endpoint.as_deref()),
            (Metric::Quantile(0.95), Op::Less, 1e6, None)
        );
        assert_eq!(Threshold::parse("p99 <= 1500ms").unwrap().limit, 1.5e6);
        assert_eq!(Threshold::parse("p50<500").unwrap().limit, 5e5);
        assert_eq!(Threshold::parse("max<800us").unwrap().limit, 800.0);
        assert_eq!(Threshold::parse("errors<5%").unwrap().limit, 0.05);
        assert_eq!(Threshold::parse("errors<0.05").unwrap().limit, 0.05);
        let per = Threshold::parse("upload:p95<3s").unwrap();
        assert_eq!((per.endpoint.as_deref(), per.limit), (Some("upload"), 3e6));
        assert_eq!(Threshold::parse("rps>=100").unwrap().op, Op::GreaterEq);
    }

    #[test]
    fn refuses_what_it_cannot_judge_and_says_how_to_write_it() {
        for bad in [
            "p95",
            "p42<1s",
            "p95<fast",
            "errors<x%",
            ":p95<1s",
            "p95<1d",
            "errors<150%",
        ] {
            let err = Threshold::parse(bad).unwrap_err();
            assert!(err.contains("p95<1s"), "{bad}: {err}");
        }
    }

    #[test]
    fn judges_the_total_or_one_endpoint() {
        let total = figures("all", 900_000, 0.01);
        let endpoints = [figures("upload", 2_500_000, 0.0), total.clone()];
        let ok = Threshold::parse("p95<1s")
            .unwrap()
            .evaluate(&endpoints, &total);
        assert!(ok.passed);
        assert_eq!(
            (ok.observed, ok.limit, ok.unit.as_str()),
            (Some(900.0), 1000.0, "ms")
        );
        let slow = Threshold::parse("upload:p95<2s")
            .unwrap()
            .evaluate(&endpoints, &total);
        assert!(!slow.passed);
        let errors = Threshold::parse("errors<1%")
            .unwrap()
            .evaluate(&endpoints, &total);
        assert!(!errors.passed, "1% is not below 1%");
        let missing = Threshold::parse("vote:p95<1s")
            .unwrap()
            .evaluate(&endpoints, &total);
        assert!(!missing.passed);
        assert_eq!(missing.observed, None);

        // Every upload refused: no latency is no data, and a latency limit fails.
        let mut refused = figures("upload", 0, 1.0);
        refused.latency_us = None;
        let outcome = Threshold::parse("upload:p95<1s")
            .unwrap()
            .evaluate(&[refused], &total);
        assert_eq!((outcome.passed, outcome.observed), (false, None));
    }

    fn errors_only(share: f64) -> SloBounds {
        SloBounds {
            p95_ms: None,
            max_error_ratio: Some(share),
        }
    }

    #[test]
    fn every_run_has_an_error_limit_unless_the_user_set_one() {
        let limits = Threshold::from_slo(&errors_only(0.05), &[]);
        let [limit] = limits.as_slice() else {
            panic!("one threshold: {limits:?}")
        };
        assert_eq!(
            (limit.to_string().as_str(), limit.limit),
            ("errors<=5%", 0.05)
        );
        let total = figures("all", 1_000, 0.38);
        assert!(
            !limit.evaluate(&[], &total).passed,
            "38% errors do not pass"
        );

        let own = [Threshold::parse("errors<20%").unwrap()];
        assert_eq!(Threshold::from_slo(&errors_only(0.05), &own), []);
        let per_endpoint = [Threshold::parse("upload:errors<20%").unwrap()];
        assert_eq!(
            Threshold::from_slo(&errors_only(0.05), &per_endpoint).len(),
            1
        );
        assert_eq!(
            Threshold::from_slo(&errors_only(1.0), &[]),
            [],
            "100% turns it off"
        );
    }

    /// The SLO's p95 bound is judged as the SLO judges it: a p95 equal to the bound holds,
    /// one above it breaks (as `SloBounds::violations` says).
    #[test]
    fn an_slo_p95_judges_as_the_slo_does() {
        let slo = SloBounds {
            p95_ms: Some(250.0),
            max_error_ratio: Some(0.01),
        };
        let limits = Threshold::from_slo(&slo, &[]);
        let texts: Vec<String> = limits.iter().map(|t| t.to_string()).collect();
        assert_eq!(texts, ["p95<=250ms", "errors<=1%"]);
        for p95_us in [249_000, 250_000, 251_000] {
            let total = figures("all", p95_us, 0.0);
            let passed = limits[0].evaluate(&[], &total).passed;
            let holds = slo
                .violations(Some(p95_us as f64 / 1000.0), Some(0.0))
                .is_empty();
            assert_eq!(passed, holds, "p95 {p95_us} µs");
        }
        let own = [Threshold::parse("p95<2s").unwrap()];
        let texts: Vec<String> = Threshold::from_slo(&slo, &own)
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(
            texts,
            ["errors<=1%"],
            "the user's own p95 replaces the SLO's"
        );
    }
}
