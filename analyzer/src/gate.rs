//! `analyze gate`: SLOs and regressions against a baseline, as a verdict per check, an exit
//! code and JUnit XML for CI systems.
//!
//! The SLO file (TOML):
//!
//! ```toml
//! p95 = "1s"              # every endpoint, over all the analysed runs
//! errors = "5%"
//! min_rps_within_slo = 50 # optional: the knee's highest throughput within SLO
//! max_failed_tasks = 0    # optional: scenario 2
//!
//! [endpoints.upload]      # optional overrides per endpoint
//! p95 = "3s"
//!
//! [regression]            # used with --baseline; these are the defaults
//! p95_increase = "10%"
//! max_rps_decrease = "10%"
//! ```
//!
//! The file's `p95` and `errors` are the SLO the analysis found its knee under
//! (`analyze --slo-p95 --slo-errors`), one [`capacity_model::Slo`]: `min_rps_within_slo`
//! fails, saying so, when the two differ, and so does the baseline's throughput comparison
//! when the baseline's knee was found under another SLO.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::analysis::{ANALYSIS_FORMAT_VERSION, Analysis, Section};
use crate::model::SloBounds;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    p95: Option<String>,
    errors: Option<String>,
    min_rps_within_slo: Option<f64>,
    max_failed_tasks: Option<u64>,
    #[serde(default)]
    endpoints: BTreeMap<String, EndpointSlo>,
    #[serde(default)]
    regression: RegressionFile,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointSlo {
    p95: Option<String>,
    errors: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegressionFile {
    p95_increase: Option<String>,
    max_rps_decrease: Option<String>,
}

/// The parsed SLO file: milliseconds and shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// Every endpoint's bounds, and the knee's.
    pub slo: SloBounds,
    pub min_rps_within_slo: Option<f64>,
    pub max_failed_tasks: Option<u64>,
    /// Per endpoint: bounds overriding [`Gate::slo`]'s.
    pub endpoints: BTreeMap<String, SloBounds>,
    pub max_p95_increase: f64,
    pub max_rps_decrease: f64,
}

fn ms(text: &str, field: &str) -> anyhow::Result<f64> {
    rundir::parse_duration(text)
        .map(rundir::millis)
        .map_err(|e| anyhow::anyhow!("{field}: {e}"))
}

fn share(text: &str, field: &str) -> anyhow::Result<f64> {
    rundir::parse_percent(text).map_err(|e| anyhow::anyhow!("{field}: {e}"))
}

impl Gate {
    pub fn parse(text: &str) -> anyhow::Result<Gate> {
        let file: SloFile = toml::from_str(text)?;
        let mut endpoints = BTreeMap::new();
        for (name, e) in &file.endpoints {
            let p95 = e
                .p95
                .as_deref()
                .map(|t| ms(t, &format!("endpoints.{name}.p95")))
                .transpose()?;
            let max_error_ratio = e
                .errors
                .as_deref()
                .map(|t| share(t, &format!("endpoints.{name}.errors")))
                .transpose()?;
            endpoints.insert(
                name.clone(),
                SloBounds {
                    p95_ms: p95,
                    max_error_ratio,
                },
            );
        }
        Ok(Gate {
            slo: SloBounds {
                p95_ms: file.p95.as_deref().map(|t| ms(t, "p95")).transpose()?,
                max_error_ratio: file
                    .errors
                    .as_deref()
                    .map(|t| share(t, "errors"))
                    .transpose()?,
            },
            min_rps_within_slo: file.min_rps_within_slo,
            max_failed_tasks: file.max_failed_tasks,
            endpoints,
            max_p95_increase: file
                .regression
                .p95_increase
                .as_deref()
                .map(|t| share(t, "regression.p95_increase"))
                .transpose()?
                .unwrap_or(0.10),
            max_rps_decrease: file
                .regression
                .max_rps_decrease
                .as_deref()
                .map(|t| share(t, "regression.max_rps_decrease"))
                .transpose()?
                .unwrap_or(0.10),
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<Gate> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the SLO file {}", path.display()))?;
        Gate::parse(&text).with_context(|| {
            format!(
                "{} is not a valid SLO file (see `analyze gate --help` for its fields)",
                path.display()
            )
        })
    }
}

/// Reads an `analysis.json`, refusing one from a newer aforo.
pub fn read_analysis(path: &Path) -> anyhow::Result<Analysis> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: run `analyze` first, or point --analysis at one",
            path.display()
        )
    })?;
    let version: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if let Some(v) = version.get("format_version").and_then(|v| v.as_u64())
        && v > u64::from(ANALYSIS_FORMAT_VERSION)
    {
        anyhow::bail!(
            "{} has format version {v}, newer than this analyzer reads ({ANALYSIS_FORMAT_VERSION}): \
             upgrade aforo",
            path.display()
        );
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an analysis.json", path.display()))
}

/// One verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `slo` or `regression`.
    pub kind: &'static str,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn check(kind: &'static str, name: String, passed: bool, detail: String) -> Check {
    Check {
        kind,
        name,
        passed,
        detail,
    }
}

/// A check that could not be evaluated fails: a gate never passes what it did not see.
fn no_data(name: String, why: String) -> Check {
    check("slo", name, false, format!("no data: {why}"))
}

/// Every check of `gate` on `analysis` (and `baseline`).
pub fn run(gate: &Gate, analysis: &Analysis, baseline: Option<&Analysis>) -> Vec<Check> {
    let mut checks = Vec::new();
    if gate.slo != SloBounds::default() && analysis.latency.is_empty() {
        checks.push(no_data(
            "latency".into(),
            "the SLO sets p95 or errors, but the analysis holds no endpoint's latency (no \
             scenario-1 run)"
                .into(),
        ));
    }
    for e in &analysis.latency {
        let bounds = gate
            .endpoints
            .get(&e.endpoint)
            .copied()
            .unwrap_or_default()
            .or(gate.slo);
        if let Some(limit) = bounds.p95_ms {
            let name = format!("p95 {}", e.endpoint);
            checks.push(match e.p95_ms {
                Some(measured) => check(
                    "slo",
                    name,
                    bounds.violations(Some(measured), None).is_empty(),
                    format!(
                        "{measured:.1} ms over {} samples, limit {limit:.1} ms",
                        e.latency_samples
                    ),
                ),
                None => no_data(
                    name,
                    format!(
                        "no latency was recorded for its {} requests (refused at connect, or \
                         the interval log lacks them)",
                        e.samples
                    ),
                ),
            });
        }
        if let Some(limit) = bounds.max_error_ratio {
            let name = format!("errors {}", e.endpoint);
            checks.push(if e.samples == 0 {
                no_data(name, "no request was counted".into())
            } else {
                check(
                    "slo",
                    name,
                    bounds.violations(None, Some(e.error_ratio)).is_empty(),
                    format!(
                        "{:.2}% of {} requests, limit {:.2}%",
                        e.error_ratio * 100.0,
                        e.samples,
                        limit * 100.0
                    ),
                )
            });
        }
    }
    for name in gate.endpoints.keys() {
        if !analysis.latency.iter().any(|e| &e.endpoint == name) {
            checks.push(no_data(
                format!("p95 {name}"),
                format!("the SLO names endpoint {name}, which the analysed runs never called"),
            ));
        }
    }
    let knee_slo = &analysis.settings.slo;
    if let Some(min) = gate.min_rps_within_slo {
        let name = "max rps within SLO".to_string();
        let gate_slo = gate.slo.over(knee_slo);
        checks.push(match &analysis.capacity {
            _ if gate_slo != *knee_slo => no_data(
                name,
                format!(
                    "the analysis found its knee under {knee_slo}, this SLO file sets \
                     {gate_slo}: run `analyze --slo-p95 {}ms --slo-errors {}` so that one SLO \
                     judges both",
                    gate_slo.p95_ms,
                    rundir::percent_text(gate_slo.max_error_ratio)
                ),
            ),
            Section::Available(c) => match &c.knee.best_within_slo {
                Some(best) => check(
                    "slo",
                    name,
                    best.rps >= min,
                    format!(
                        "{:.1} req/s within SLO at {} ({} requests), at least {min:.1} required",
                        best.rps, best.label, best.samples
                    ),
                ),
                None => check(
                    "slo",
                    name,
                    false,
                    "no load point met the SLO (it broke at the first one)".into(),
                ),
            },
            Section::Unavailable { unavailable, .. } => no_data(name, unavailable.clone()),
        });
    }
    if let Some(max) = gate.max_failed_tasks {
        if analysis.workers.is_empty() {
            checks.push(no_data(
                "failed tasks".into(),
                "the SLO sets max_failed_tasks, but no scenario-2 run was analysed".into(),
            ));
        }
        for w in &analysis.workers {
            checks.push(check(
                "slo",
                format!(
                    "failed tasks {} c{} {}",
                    w.mode,
                    w.concurrency,
                    rundir::short_run_id(&w.run_id)
                ),
                w.failed <= max,
                format!(
                    "{} of {} failed, at most {max} allowed",
                    w.failed, w.enqueued
                ),
            ));
        }
    }
    if let Some(base) = baseline {
        let comparison = analysis.compare_with(base);
        for change in &comparison.endpoints {
            let name = format!("p95 {} against baseline", change.endpoint);
            let (Some((now, then)), Some(rise)) = (change.p95_ms, change.p95_rise()) else {
                checks.push(Check {
                    kind: "regression",
                    ..no_data(
                        name,
                        "the p95 is missing from this analysis or from the baseline".into(),
                    )
                });
                continue;
            };
            checks.push(check(
                "regression",
                name,
                rise <= gate.max_p95_increase,
                format!(
                    "{now:.1} ms against {then:.1} ms ({:+.1}%, at most +{:.0}%)",
                    rise * 100.0,
                    gate.max_p95_increase * 100.0
                ),
            ));
        }
        match (comparison.max_rps_now, comparison.max_rps_before) {
            (_, Some(_)) if base.settings.slo != *knee_slo => checks.push(Check {
                kind: "regression",
                ..no_data(
                    "max rps within SLO against baseline".into(),
                    format!(
                        "the baseline found its knee under {}, this analysis under {knee_slo}: \
                         analyse both with one SLO",
                        base.settings.slo
                    ),
                )
            }),
            (None, Some(before)) => checks.push(Check {
                kind: "regression",
                ..no_data(
                    "max rps within SLO against baseline".into(),
                    format!(
                        "the baseline held {before:.1} req/s within SLO; this analysis has no \
                         load point within SLO"
                    ),
                )
            }),
            (Some(now), Some(before)) if before > 0.0 => {
                let fall = 1.0 - now / before;
                checks.push(check(
                    "regression",
                    "max rps within SLO against baseline".into(),
                    fall <= gate.max_rps_decrease,
                    format!(
                        "{now:.1} req/s against {before:.1} ({:+.1}%, at most −{:.0}%)",
                        -fall * 100.0,
                        gate.max_rps_decrease * 100.0
                    ),
                ));
            }
            _ => {}
        }
    }
    checks
}

pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let _ = writeln!(
            out,
            "{}  {:<10} {:<44} {}",
            if c.passed { "pass" } else { "FAIL" },
            c.kind,
            c.name,
            c.detail
        );
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    let _ = writeln!(
        out,
        "\ngate: {} of {} checks passed{}",
        checks.len() - failed,
        checks.len(),
        if failed == 0 { "" } else { " — FAILED" }
    );
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML, the shape Jenkins, GitLab and GitHub's test reporters read.
pub fn junit(checks: &[Check]) -> String {
    let failures = checks.iter().filter(|c| !c.passed).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"aforo gate\" tests=\"{}\" failures=\"{failures}\">",
        checks.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"aforo gate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        checks.len()
    );
    for c in checks {
        let _ = write!(
            out,
            "    <testcase classname=\"aforo.{}\" name=\"{}\"",
            c.kind,
            xml_escape(&c.name)
        );
        if c.passed {
            let _ = writeln!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                xml_escape(&c.detail)
            );
        } else {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\"/>\n    </testcase>",
                xml_escape(&c.detail)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_slo_file_reads_like_people_write_it() {
        let gate = Gate::parse(
            "p95 = \"1s\"\nerrors = \"5%\"\n[endpoints.upload]\np95 = \"3s\"\n\
             [regression]\np95_increase = \"20%\"\n",
        )
        .unwrap();
        assert_eq!(
            gate.slo,
            SloBounds {
                p95_ms: Some(1000.0),
                max_error_ratio: Some(0.05)
            }
        );
        assert_eq!(gate.endpoints["upload"].p95_ms, Some(3000.0));
        assert_eq!(gate.endpoints["upload"].max_error_ratio, None);
        assert_eq!(gate.max_p95_increase, 0.2);
        assert_eq!(gate.max_rps_decrease, 0.1);
        let typo = Gate::parse("p59 = \"1s\"").unwrap_err();
        assert!(format!("{typo:#}").contains("p59"), "{typo:#}");
        let bad = Gate::parse("p95 = \"fast\"").unwrap_err();
        assert!(format!("{bad:#}").contains("p95"), "{bad:#}");
    }

    fn endpoint(name: &str, samples: u64, p95_ms: Option<f64>) -> crate::analysis::EndpointStats {
        crate::analysis::EndpointStats {
            endpoint: name.into(),
            samples,
            latency_samples: if p95_ms.is_some() { samples } else { 0 },
            errors: 0,
            error_ratio: 0.0,
            rps: 1.0,
            rps_interval: None,
            kb_per_s: 0.0,
            mean_ms: p95_ms,
            min_ms: p95_ms,
            p50_ms: p95_ms,
            p90_ms: p95_ms,
            p95_ms,
            p95_low_ms: p95_ms,
            p95_high_ms: p95_ms,
            p99_ms: p95_ms,
            max_ms: p95_ms,
        }
    }

    fn empty_analysis() -> Analysis {
        crate::analysis::analyze(
            &[],
            &crate::analysis::Settings::default(),
            time::OffsetDateTime::UNIX_EPOCH,
        )
    }

    /// Regression (issue 15, defect 2): a gate with `p95 = "1ms"` passed an analysis whose
    /// latency was missing (it read 0 ms). A check that cannot be evaluated fails.
    #[test]
    fn a_check_without_data_fails() {
        let gate = Gate::parse(
            "p95 = \"1ms\"\nerrors = \"5%\"\nmin_rps_within_slo = 1\nmax_failed_tasks = 0\n",
        )
        .unwrap();
        let mut analysis = empty_analysis();
        let checks = run(&gate, &analysis, None);
        assert!(checks.iter().all(|c| !c.passed), "{checks:?}");
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["latency", "max rps within SLO", "failed tasks"]);
        assert!(checks.iter().all(|c| c.detail.starts_with("no data")));

        analysis.latency = vec![endpoint("login", 12, None), endpoint("list", 0, None)];
        let checks = run(&gate, &analysis, None);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            failed.contains(&"p95 login")
                && failed.contains(&"errors list")
                && !failed.contains(&"errors login"),
            "{checks:?}"
        );

        // With the data, the same gate judges it.
        analysis.latency = vec![endpoint("login", 12, Some(0.5))];
        let checks = run(&gate, &analysis, None);
        let login = checks.iter().find(|c| c.name == "p95 login").unwrap();
        assert!(login.passed, "{login:?}");
        assert!(login.detail.contains("12 samples"), "{login:?}");

        // A baseline with a p95 this analysis lacks is a failed regression check.
        let mut now = analysis.clone();
        now.latency = vec![endpoint("login", 12, None)];
        let checks = run(&gate, &now, Some(&analysis));
        let regression = checks
            .iter()
            .find(|c| c.name == "p95 login against baseline")
            .unwrap();
        assert!(!regression.passed && regression.kind == "regression");
    }

    /// The knee's throughput is judged under the SLO the analysis found it with; a gate
    /// whose SLO is another, or a baseline analysed under another, cannot compare with it.
    #[test]
    fn the_knee_is_judged_under_one_slo() {
        let analysis = empty_analysis();
        let rps_check = |text: &str| {
            let gate = Gate::parse(text).unwrap();
            run(&gate, &analysis, None)
                .into_iter()
                .find(|c| c.name == "max rps within SLO")
                .unwrap()
        };
        // The default analysis SLO is p95 ≤ 1 s, errors ≤ 5 %.
        let other = rps_check("p95 = \"2s\"\nmin_rps_within_slo = 1\n");
        assert!(!other.passed, "{other:?}");
        assert!(
            other.detail.contains("p95 ≤ 1000 ms, errors ≤ 5%")
                && other.detail.contains("--slo-p95 2000ms --slo-errors 5%"),
            "{other:?}"
        );
        for same in [
            "p95 = \"1s\"\nerrors = \"5%\"\nmin_rps_within_slo = 1\n",
            "min_rps_within_slo = 1\n",
        ] {
            let check = rps_check(same);
            assert!(
                check.detail.contains("scenario 1") || check.detail.contains("scenario1"),
                "judged on the analysis's own capacity section: {check:?}"
            );
        }

        // The example analysis found a knee: against itself it holds, against a copy
        // analysed under another SLO it cannot be compared.
        let example: Analysis = serde_json::from_str(include_str!(
            "../../capacity-planning/examples/analysis.json"
        ))
        .unwrap();
        assert!(example.max_rps_within_slo().is_some());
        let regression = |baseline: &Analysis| {
            run(&Gate::parse("").unwrap(), &example, Some(baseline))
                .into_iter()
                .find(|c| c.name == "max rps within SLO against baseline")
                .unwrap()
        };
        assert!(regression(&example).passed);
        let mut stricter = example.clone();
        stricter.settings.slo.p95_ms /= 2.0;
        let check = regression(&stricter);
        assert!(!check.passed, "{check:?}");
        assert!(
            check.detail.contains("the baseline found its knee under"),
            "{check:?}"
        );
    }

    #[test]
    fn junit_escapes_and_counts_failures() {
        let checks = [
            check("slo", "p95 <a>".into(), true, "1 ms".into()),
            check("slo", "errors b".into(), false, "9% > 5% & more".into()),
        ];
        let xml = junit(&checks);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"p95 &lt;a&gt;\""));
        assert!(xml.contains("<failure message=\"9% &gt; 5% &amp; more\"/>"));
        assert!(render(&checks).contains("1 of 2 checks passed — FAILED"));
    }
}
