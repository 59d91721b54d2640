//! Load points: the windows of a run at one load, summarised from its timeline.
//!
//! A hold stage is one point. A ramp is cut into slices (a tenth of the ramp, at least
//! [`MIN_SLICE_SECONDS`]) whose load is the level at the slice's midpoint, so that one ramp
//! run already gives the users → latency curve and the points a scalability fit needs. A
//! window is trimmed to the whole seconds inside it, the grid of the interval log.

use std::collections::BTreeMap;

use capacity_model::analysis::{EndpointStats, LoadKind, LoadPoint, Tier};
use capacity_model::confidence::{quantile_rank_bounds, rate_interval};
use rundir::{LatencySummary, LoadModel, Manifest, RequestCounts};

use crate::timeline::{Kpi, Timeline, Window};

/// Ramp slices are never shorter than this: a second or two of a ramp is mostly noise.
pub const MIN_SLICE_SECONDS: i64 = 3;

/// One endpoint's (or, with None, every endpoint's) figures over a window.
pub fn endpoint_stats(
    timeline: &Timeline,
    endpoint: Option<&str>,
    window: Window,
) -> EndpointStats {
    let counts = timeline.counts(endpoint, window);
    stats_of(
        endpoint.unwrap_or("all"),
        &timeline.latency(endpoint, window),
        &counts,
        counts.requests,
        window.seconds(),
    )
}

/// An endpoint's figures from its latency histogram (µs) and counts over `seconds`.
pub fn stats_of(
    endpoint: &str,
    histogram: &hdrhistogram::Histogram<u64>,
    counts: &RequestCounts,
    samples: u64,
    seconds: i64,
) -> EndpointStats {
    let latency = LatencySummary::from_histogram(histogram);
    let seconds = seconds.max(1) as f64;
    // No recorded latency is "no data", never 0 ms.
    let recorded = !histogram.is_empty();
    let ms = |us: u64| recorded.then(|| us as f64 / 1000.0);
    let n = histogram.len();
    let at_rank = |rank: u64| ms(histogram.value_at_quantile(rank as f64 / n as f64));
    let p95_bounds = quantile_rank_bounds(n, 0.95);
    EndpointStats {
        endpoint: endpoint.to_owned(),
        samples,
        latency_samples: histogram.len(),
        errors: counts.errors(),
        error_ratio: counts.error_ratio(),
        rps: counts.completed() as f64 / seconds,
        rps_interval: rate_interval(counts.completed(), seconds),
        kb_per_s: (counts.bytes_received + counts.bytes_sent) as f64 / 1024.0 / seconds,
        mean_ms: recorded.then(|| latency.mean / 1000.0),
        min_ms: ms(latency.min),
        p50_ms: ms(latency.p50),
        p90_ms: ms(latency.p90),
        p95_ms: ms(latency.p95),
        p95_low_ms: p95_bounds.and_then(|(low, _)| at_rank(low)),
        p95_high_ms: p95_bounds.and_then(|(_, high)| at_rank(high?)),
        p99_ms: ms(latency.p99),
        max_ms: ms(latency.max),
    }
}

/// The level of the run's load at `offset_ms` from its start. An open-model ramp moves its
/// rate linearly from the previous stage's level. A closed-model ramp up starts its users
/// one at a time, the first at the ramp's start and one every `duration / users` after
/// (Goose's launch), so `⌊fraction × added⌋ + 1` of them are running: the straight line
/// would count half a user too few, which Little's law shows on a perfect system.
fn level_at(manifest: &Manifest, offset_ms: f64) -> f64 {
    let closed = matches!(manifest.load_model, LoadModel::Closed { .. });
    let mut previous = 0.0;
    for stage in &manifest.stages {
        let level = stage_level(stage);
        let start = stage.start_offset_ms as f64;
        let end = start + stage.duration_ms as f64;
        if offset_ms < end || std::ptr::eq(stage, manifest.stages.last().expect("not empty")) {
            if stage.ramp && stage.duration_ms > 0 {
                let fraction = ((offset_ms - start) / (end - start)).clamp(0.0, 1.0);
                let added = level - previous;
                if closed && added > 0.0 && offset_ms >= start {
                    return previous + ((fraction * added).floor() + 1.0).min(added);
                }
                return previous + added * fraction;
            }
            return level;
        }
        previous = level;
    }
    previous
}

/// The mean load over `[from_ms, to_ms)` from the run's start: a closed ramp's users step
/// up within a slice, so the slice's load is their time average.
fn mean_level(manifest: &Manifest, from_ms: f64, to_ms: f64) -> f64 {
    const SAMPLES: usize = 400;
    let width = (to_ms - from_ms) / SAMPLES as f64;
    (0..SAMPLES)
        .map(|i| level_at(manifest, from_ms + (i as f64 + 0.5) * width))
        .sum::<f64>()
        / SAMPLES as f64
}

pub(crate) fn stage_level(stage: &rundir::Stage) -> f64 {
    stage
        .users
        .map(f64::from)
        .or(stage.rate_per_sec)
        .unwrap_or(0.0)
}

/// The load points of one run, in time order, each judged against `slo_p95_ms` by the
/// endpoints with enough samples. Windows without a request are left out.
pub fn load_points(manifest: &Manifest, timeline: &Timeline, slo_p95_ms: f64) -> Vec<LoadPoint> {
    let load_kind = match manifest.load_model {
        LoadModel::Closed { .. } => LoadKind::Users,
        LoadModel::Open { .. } => LoadKind::Rate,
    };
    let start_ms = manifest.started_at.unix_timestamp_nanos() / 1_000_000;
    let mut points = Vec::new();
    for stage in &manifest.stages {
        let stage_from_ms = start_ms + i128::from(stage.start_offset_ms);
        let stage_to_ms = stage_from_ms + i128::from(stage.duration_ms);
        // Whole seconds inside the stage.
        let from = (stage_from_ms + 999).div_euclid(1000) as i64;
        let to = stage_to_ms.div_euclid(1000) as i64;
        if to <= from {
            continue;
        }
        let slices: Vec<Window> = if stage.ramp {
            let length = ((to - from) / 10).max(MIN_SLICE_SECONDS);
            (from..to)
                .step_by(length as usize)
                .map(|s| Window::new(s, (s + length).min(to)))
                .collect()
        } else {
            vec![Window::new(from, to)]
        };
        for window in slices {
            let total = endpoint_stats(timeline, None, window);
            if total.samples == 0 {
                continue;
            }
            let from_ms = window.from as f64 * 1000.0 - start_ms as f64;
            let to_ms = window.to as f64 * 1000.0 - start_ms as f64;
            let endpoints: Vec<EndpointStats> = timeline
                .endpoints()
                .iter()
                .map(|e| endpoint_stats(timeline, Some(e), window))
                .filter(|e| e.samples > 0)
                .collect();
            // The worst endpoint among those with a latency; requests that all failed at
            // connect have none, and count in the errors only.
            let worst = endpoints
                .iter()
                .filter(|e| e.p95_judges(slo_p95_ms))
                .filter_map(|e| e.p95_ms.map(|p95| (e, p95)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let thin_endpoints = endpoints
                .iter()
                .filter(|e| e.latency_samples > 0 && !e.p95_judges(slo_p95_ms))
                .map(|e| e.endpoint.clone())
                .collect();
            let label = if stage.ramp {
                format!(
                    "{}, {}–{} s",
                    stage.name,
                    window.from - from,
                    window.to - from
                )
            } else {
                stage.name.clone()
            };
            points.push(LoadPoint {
                run_id: manifest.run_id.as_str().to_owned(),
                label,
                from: at(window.from),
                to: at(window.to),
                ramp: stage.ramp,
                load_kind,
                load: if stage.ramp {
                    mean_level(manifest, from_ms, to_ms)
                } else {
                    stage_level(stage)
                },
                worst_endpoint: worst.map_or_else(String::new, |(e, _)| e.endpoint.clone()),
                worst_p95_ms: worst.map(|(_, p95)| p95),
                thin_endpoints,
                kpis: kpis(timeline, window),
                total,
                endpoints,
            });
        }
    }
    points
}

pub fn at(second: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(second).expect("a second within the calendar")
}

/// The server KPIs of a window, by name.
pub fn kpis(timeline: &Timeline, window: Window) -> BTreeMap<String, f64> {
    timeline
        .kpis()
        .filter_map(|kpi| {
            let value = match kpi {
                Kpi::UnhealthyHosts | Kpi::QueueAgeS => timeline.kpi_max(kpi, window),
                _ => timeline.kpi_mean(kpi, window),
            }?;
            Some((kpi.name(), value))
        })
        .collect()
}

/// Whether a KPI can judge degradation (higher is worse); instance counts cannot.
fn is_degradation_kpi(name: &str) -> bool {
    !(name.starts_with("in_service:") || name.starts_with("desired:") || name == "healthy_hosts")
}

/// The tier a KPI (by its name, see `Kpi::name`) measures. A group is the worker tier when
/// its name says `worker` (the local stack's `worker`, the AWS template's `<app>-worker`),
/// the web tier otherwise.
pub fn kpi_tier(name: &str) -> Tier {
    let group = name.split_once(':').map(|(_, group)| group);
    if name.starts_with("db_") {
        Tier::Database
    } else if name.starts_with("queue_") || group.is_some_and(|g| g.contains("worker")) {
        Tier::Worker
    } else if name.starts_with("elb_") {
        Tier::LoadBalancer
    } else {
        Tier::Web
    }
}

/// Whether a KPI may explain the web tier's knee: a degradation KPI on the path of a web
/// request (balancer, web instances, database). The queue and the workers answer scenario
/// 2's question, not this one.
pub fn judges_the_web_tier(name: &str) -> bool {
    is_degradation_kpi(name) && kpi_tier(name) != Tier::Worker
}

#[cfg(test)]
mod tests {
    use super::*;
    use rundir::{Interval, RequestsRow};
    use std::time::Duration;

    fn manifest(stages: Vec<rundir::Stage>) -> Manifest {
        let text = include_str!("../../rundir/tests/data/manifest.example.json");
        let mut m: Manifest = serde_json::from_str(text).unwrap();
        m.started_at = time::OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        m.load_model = LoadModel::Closed { max_users: 100 };
        m.stages = stages;
        m
    }

    fn stage(name: &str, start_s: u64, secs: u64, users: u32, ramp: bool) -> rundir::Stage {
        rundir::Stage {
            name: name.into(),
            start_offset_ms: start_s * 1000,
            duration_ms: secs * 1000,
            users: Some(users),
            rate_per_sec: None,
            ramp,
        }
    }

    /// One request a second, taking `level(second)` ms.
    fn timeline(seconds: std::ops::Range<u64>, level: impl Fn(u64) -> u64) -> Timeline {
        timeline_n(seconds, 1, level)
    }

    /// `n` requests a second, each taking `level(second)` ms.
    fn timeline_n(seconds: std::ops::Range<u64>, n: u64, level: impl Fn(u64) -> u64) -> Timeline {
        timeline_answered(seconds, n, Some(n), level)
    }

    /// `n` requests due a second and `responses` answers arriving in it.
    fn timeline_answered(
        seconds: std::ops::Range<u64>,
        n: u64,
        responses: Option<u64>,
        level: impl Fn(u64) -> u64,
    ) -> Timeline {
        let mut intervals = Vec::new();
        let mut rows = Vec::new();
        for s in seconds {
            let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            h.record_n(level(s) * 1000, n).unwrap();
            intervals.push(crate::timeline::RecordedInterval::from(&Interval {
                tag: Some("get".into()),
                start: Duration::from_secs(s),
                duration: Duration::from_secs(1),
                histogram: h,
            }));
            rows.push(RequestsRow::new(
                at(s as i64),
                "get".into(),
                rundir::RequestCounts {
                    requests: n,
                    successes: n,
                    bytes_received: 1024,
                    responses,
                    ..Default::default()
                },
            ));
        }
        Timeline::new(&intervals, &rows, &[])
    }

    #[test]
    fn a_ramp_is_sliced_and_a_hold_is_one_point() {
        let m = manifest(vec![
            stage("ramp to 100", 0, 60, 100, true),
            stage("hold 100", 60, 30, 100, false),
        ]);
        let t = timeline(1_000..1_090, |s| s - 999);
        let points = load_points(&m, &t, 1000.0);
        assert_eq!(points.len(), 11, "ten 6 s slices and the hold");
        assert_eq!(points[0].label, "ramp to 100, 0–6 s");
        // Over the first 6 s of a 60 s ramp to 100 a user starts every 0.6 s, the first at
        // 0 s: 1, 2, … 10 users, 5.5 on average (the straight line would say 5).
        assert!((points[0].load - 5.5).abs() < 1e-6, "{}", points[0].load);
        assert!((points[9].load - 95.5).abs() < 1e-6, "{}", points[9].load);
        let hold = &points[10];
        assert_eq!((hold.label.as_str(), hold.load), ("hold 100", 100.0));
        assert_eq!(hold.total.samples, 30);
        assert_eq!(hold.total.rps, 1.0);
        assert_eq!(hold.total.kb_per_s, 1.0);
        // Seconds 1060..1089 took 61..90 ms; the p95 of 30 values is the 29th, 89 ms (to
        // the histogram's precision).
        let p95 = hold.total.p95_ms.unwrap();
        assert!((p95 - 89.0).abs() < 0.05, "{p95}");
        // 30 samples cannot bound a p95 from above, and within a 1 s SLO they show no
        // certain breach: the point has no judged p95 and names the thin endpoint.
        assert_eq!(hold.total.p95_high_ms, None);
        assert_eq!(hold.worst_p95_ms, None);
        assert_eq!(hold.thin_endpoints, ["get"]);
        assert!(points.windows(2).all(|w| w[0].to <= w[1].from));
    }

    /// Regression (issue 15, defect 5): an SLO breach was declared from the p95 of five
    /// signups. A p95 judges a point only with enough samples to bound it (110), or when
    /// even its lower bound breaks the SLO.
    #[test]
    fn a_p95_of_few_samples_judges_only_a_certain_breach() {
        let m = manifest(vec![stage("hold 100", 0, 30, 100, false)]);
        let t = timeline(1_000..1_030, |s| s - 939);
        // 61..90 ms: the p95's lower bound (the 26th value, 86 ms) is over a 50 ms SLO.
        let breach = &load_points(&m, &t, 50.0)[0];
        let low = breach.total.p95_low_ms.unwrap();
        assert!((low - 86.0).abs() < 0.05, "{low}");
        assert!(breach.worst_p95_ms.is_some() && breach.thin_endpoints.is_empty());
        // Against 88 ms the breach is not certain: no judgement.
        let unsure = &load_points(&m, &t, 88.0)[0];
        assert_eq!(unsure.worst_p95_ms, None);

        // 120 samples bound the p95 either way: judged within a 1 s SLO.
        let t = timeline_n(1_000..1_030, 4, |_| 10);
        let point = &load_points(&m, &t, 1000.0)[0];
        assert_eq!(point.total.latency_samples, 120);
        assert!(point.total.p95_high_ms.is_some());
        assert!(point.worst_p95_ms.is_some() && point.thin_endpoints.is_empty());
    }

    /// Regression (issue 15): an overloaded open hold was due 48 requests a second by a
    /// server that answers at most 40; counted by due second its throughput read 48/s.
    /// Throughput is the responses that arrived in the window.
    #[test]
    fn an_overloaded_open_point_reports_the_responses_not_the_offered_rate() {
        let mut hold = stage("hold 48/s", 0, 20, 0, false);
        hold.users = None;
        hold.rate_per_sec = Some(48.0);
        let mut m = manifest(vec![hold]);
        m.load_model = LoadModel::Open {
            max_rate_per_sec: 48.0,
            max_in_flight: 1000,
        };
        let t = timeline_answered(1_000..1_020, 48, Some(40), |_| 900);
        let point = &load_points(&m, &t, 1000.0)[0];
        assert_eq!((point.load, point.total.rps), (48.0, 40.0));
        assert_eq!(
            point.total.samples,
            20 * 48,
            "requests are still all counted"
        );

        // A file from before responses were recorded can only show the due requests.
        let old = timeline_answered(1_000..1_020, 48, None, |_| 900);
        assert_eq!(load_points(&m, &old, 1000.0)[0].total.rps, 48.0);
    }

    #[test]
    fn each_kpi_belongs_to_its_tier_and_the_queue_does_not_judge_the_web_tier() {
        let tiers = [
            ("cpu_percent:web", Tier::Web),
            ("cpu_percent:aforo-web", Tier::Web),
            ("cpu_percent:aforo-worker", Tier::Worker),
            ("queue_age_s", Tier::Worker),
            ("queue_visible", Tier::Worker),
            ("db_cpu_percent:aforo-db", Tier::Database),
            ("elb_5xx_per_s", Tier::LoadBalancer),
            ("target_5xx_per_s", Tier::Web),
            ("unhealthy_hosts", Tier::Web),
        ];
        for (name, tier) in tiers {
            assert_eq!(kpi_tier(name), tier, "{name}");
        }
        assert!(judges_the_web_tier("cpu_percent:web"));
        assert!(judges_the_web_tier("db_cpu_percent:db"));
        assert!(!judges_the_web_tier("queue_age_s"));
        assert!(!judges_the_web_tier("cpu_percent:worker"));
        assert!(!judges_the_web_tier("in_service:web"));
    }

    #[test]
    fn a_stage_that_starts_mid_second_keeps_only_its_whole_seconds() {
        let mut hold = stage("hold 5", 0, 10, 5, false);
        hold.start_offset_ms = 500;
        hold.duration_ms = 9_000;
        let m = manifest(vec![hold]);
        let t = timeline(1_000..1_020, |_| 1);
        let points = load_points(&m, &t, 1000.0);
        assert_eq!(points.len(), 1);
        // 1000.5 .. 1009.5 holds the whole seconds 1001..1009.
        assert_eq!(points[0].total.samples, 8);
    }
}
