//! One run's measurements on a common time grid of whole seconds: the client's latency
//! intervals and request counts, and the server's CloudWatch-shaped series, so that any
//! window (a stage, a slice of a ramp, the seconds after a scale-out) can be summarised
//! from the same data. Pure: it takes what `runs` loaded and does no I/O.
//!
//! Latency is never averaged: a window's percentiles come from the interval histograms it
//! covers, added exactly.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rundir::{Interval, MetricRow, RequestCounts, RequestsRow};
use time::OffsetDateTime;

/// Half-open `[from, to)` in whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn new(from: i64, to: i64) -> Window {
        Window { from, to }
    }

    pub fn seconds(&self) -> i64 {
        (self.to - self.from).max(0)
    }

    pub fn contains(&self, second: i64) -> bool {
        (self.from..self.to).contains(&second)
    }
}

/// A server-side quantity the analysis reasons about, read from CloudWatch-shaped rows.
/// Names are those of `analysis.json`'s KPIs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kpi {
    /// AWS/EC2 CPUUtilization (Average) of an Auto Scaling group, percent.
    Cpu(String),
    /// AWS/AutoScaling GroupInServiceInstances.
    InService(String),
    /// AWS/AutoScaling GroupDesiredCapacity.
    Desired(String),
    /// AWS/ApplicationELB HealthyHostCount (per target group, summed).
    HealthyHosts,
    /// AWS/ApplicationELB UnHealthyHostCount.
    UnhealthyHosts,
    /// AWS/ApplicationELB HTTPCode_Target_5XX_Count per second.
    Target5xx,
    /// AWS/ApplicationELB HTTPCode_ELB_5XX (502 + 503 + 504) per second.
    Elb5xx,
    /// AWS/ApplicationELB TargetResponseTime p95, milliseconds.
    TargetP95Ms,
    /// AWS/SQS ApproximateNumberOfMessagesVisible.
    QueueVisible,
    /// AWS/SQS ApproximateAgeOfOldestMessage, seconds.
    QueueAgeS,
    /// AWS/RDS CPUUtilization (Average) of a database instance, percent.
    DbCpu(String),
}

impl Kpi {
    /// The name in `analysis.json` and in the knee's KPI rules.
    pub fn name(&self) -> String {
        match self {
            Kpi::Cpu(group) => format!("cpu_percent:{group}"),
            Kpi::InService(group) => format!("in_service:{group}"),
            Kpi::Desired(group) => format!("desired:{group}"),
            Kpi::HealthyHosts => capacity_model::analysis::HEALTHY_HOSTS_KPI.into(),
            Kpi::UnhealthyHosts => "unhealthy_hosts".into(),
            Kpi::Target5xx => "target_5xx_per_s".into(),
            Kpi::Elb5xx => "elb_5xx_per_s".into(),
            Kpi::TargetP95Ms => "target_p95_ms".into(),
            Kpi::QueueVisible => "queue_visible".into(),
            Kpi::QueueAgeS => "queue_age_s".into(),
            Kpi::DbCpu(db) => format!("db_cpu_percent:{db}"),
        }
    }

    /// Which KPI a metric row feeds, and the factor to its unit; None for the rest.
    fn of(row: &MetricRow) -> Option<(Kpi, f64)> {
        let group = || {
            row.dimensions
                .iter()
                .find(|(name, _)| name == "AutoScalingGroupName")
                .map(|(_, value)| value.clone())
        };
        let per_target_group = row.dimensions.iter().any(|(name, _)| name == "TargetGroup");
        let kpi = match (
            row.namespace.as_str(),
            row.metric.as_str(),
            row.statistic.as_str(),
        ) {
            ("AWS/EC2", "CPUUtilization", "Average") => Kpi::Cpu(group()?),
            ("AWS/AutoScaling", "GroupInServiceInstances", _) => Kpi::InService(group()?),
            ("AWS/AutoScaling", "GroupDesiredCapacity", _) => Kpi::Desired(group()?),
            ("AWS/ApplicationELB", "HealthyHostCount", _) if per_target_group => Kpi::HealthyHosts,
            ("AWS/ApplicationELB", "UnHealthyHostCount", _) if per_target_group => {
                Kpi::UnhealthyHosts
            }
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum") if !per_target_group => {
                Kpi::Target5xx
            }
            ("AWS/ApplicationELB", m, "Sum")
                if !per_target_group && m.starts_with("HTTPCode_ELB_5") =>
            {
                Kpi::Elb5xx
            }
            ("AWS/ApplicationELB", "TargetResponseTime", "p95") if !per_target_group => {
                return Some((Kpi::TargetP95Ms, 1000.0));
            }
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", _) => Kpi::QueueVisible,
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", _) => Kpi::QueueAgeS,
            ("AWS/RDS", "CPUUtilization", "Average") => Kpi::DbCpu(
                row.dimensions
                    .iter()
                    .find(|(name, _)| name == "DBInstanceIdentifier")
                    .map(|(_, value)| value.clone())?,
            ),
            _ => return None,
        };
        Some((kpi, 1.0))
    }

    /// Counts per second are summed over a window and divided by its length; levels are
    /// averaged over the seconds that have a sample.
    fn is_count(&self) -> bool {
        matches!(self, Kpi::Target5xx | Kpi::Elb5xx)
    }
}

/// One series' samples: per second, their sum and how many there were.
type SecondSums = BTreeMap<i64, (f64, u32)>;

/// One interval of a latency log, kept as its recorded values: a decoded histogram holds
/// counts for every bucket up to its highest trackable value (about 190 KB for aforo's one
/// hour at 3 digits), its recorded values a few KB. Adding them into a histogram of the
/// same precision gives the same buckets as adding the histograms.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedInterval {
    pub tag: Option<String>,
    /// Since the Unix epoch (see `rundir::Interval::start`).
    pub start: std::time::Duration,
    /// (value, count), ascending; the value is its bucket's highest equivalent value.
    pub values: Vec<(u64, u64)>,
}

impl From<&Interval> for RecordedInterval {
    fn from(interval: &Interval) -> Self {
        RecordedInterval {
            tag: interval.tag.clone(),
            start: interval.start,
            values: interval
                .histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }
}

/// Records (value, count) pairs into `h` (which resizes to fit).
fn record_all(h: &mut Histogram<u64>, values: &[(u64, u64)]) {
    for &(value, count) in values {
        h.record_n(value, count)
            .expect("an auto-resizing histogram takes any value");
    }
}

/// A run's grid.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Per endpoint, per second: the recorded values (µs) of that second's intervals.
    latency: BTreeMap<String, BTreeMap<i64, Vec<(u64, u64)>>>,
    /// Per endpoint, per second.
    requests: BTreeMap<String, BTreeMap<i64, RequestCounts>>,
    /// Per KPI, per series (its metric name and dimensions), per second: the sum and the
    /// number of samples. A sampler that ticks late writes two samples into one second; a
    /// level is their mean, a count their sum. Series of one KPI add up (several target
    /// groups, the three ELB 5xx codes).
    server: BTreeMap<Kpi, BTreeMap<String, SecondSums>>,
}

fn second_of(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

impl Timeline {
    pub fn new(
        intervals: &[RecordedInterval],
        requests: &[RequestsRow],
        metrics: &[MetricRow],
    ) -> Self {
        let mut timeline = Timeline::default();
        for interval in intervals {
            let tag = interval.tag.clone().unwrap_or_else(|| "(untagged)".into());
            let second = interval.start.as_secs() as i64;
            timeline
                .latency
                .entry(tag)
                .or_default()
                .entry(second)
                .or_default()
                .extend_from_slice(&interval.values);
        }
        for row in requests {
            *timeline
                .requests
                .entry(row.endpoint.clone())
                .or_default()
                .entry(second_of(row.timestamp))
                .or_default() += &row.counts;
        }
        for row in metrics {
            if let Some((kpi, factor)) = Kpi::of(row) {
                let series = format!("{}{:?}", row.metric, row.dimensions);
                let slot = timeline
                    .server
                    .entry(kpi)
                    .or_default()
                    .entry(series)
                    .or_default()
                    .entry(second_of(row.timestamp))
                    .or_default();
                slot.0 += row.value * factor;
                slot.1 += 1;
            }
        }
        timeline
    }

    /// Endpoints with latency or requests, in name order.
    pub fn endpoints(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .latency
            .keys()
            .chain(self.requests.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The KPIs with at least one sample.
    pub fn kpis(&self) -> impl Iterator<Item = &Kpi> {
        self.server.keys()
    }

    /// One endpoint's latency over a window; None for all endpoints together.
    pub fn latency(&self, endpoint: Option<&str>, window: Window) -> Histogram<u64> {
        let mut total = rundir::merge(std::iter::empty());
        for (name, seconds) in &self.latency {
            if endpoint.is_some_and(|e| e != name) {
                continue;
            }
            for (_, values) in seconds.range(window.from..window.to) {
                record_all(&mut total, values);
            }
        }
        total
    }

    /// One endpoint's counts over a window; None for all endpoints together.
    pub fn counts(&self, endpoint: Option<&str>, window: Window) -> RequestCounts {
        let mut total = RequestCounts::default();
        for (name, seconds) in &self.requests {
            if endpoint.is_some_and(|e| e != name) {
                continue;
            }
            for (_, c) in seconds.range(window.from..window.to) {
                total += c;
            }
        }
        total
    }

    /// A KPI's value in each second of a window that has a sample, in time order.
    pub fn kpi_series(&self, kpi: &Kpi, window: Window) -> Vec<(i64, f64)> {
        let mut seconds: BTreeMap<i64, f64> = BTreeMap::new();
        for series in self.server.get(kpi).into_iter().flat_map(|s| s.values()) {
            for (t, (sum, n)) in series.range(window.from..window.to) {
                let value = if kpi.is_count() {
                    *sum
                } else {
                    sum / f64::from(*n)
                };
                *seconds.entry(*t).or_default() += value;
            }
        }
        seconds.into_iter().collect()
    }

    /// A KPI over a window: the mean level (or, for counts, the rate per second); None when
    /// the window has no sample of it.
    pub fn kpi_mean(&self, kpi: &Kpi, window: Window) -> Option<f64> {
        let samples = self.kpi_series(kpi, window);
        if samples.is_empty() {
            return None;
        }
        let sum: f64 = samples.iter().map(|(_, v)| v).sum();
        Some(if kpi.is_count() {
            sum / window.seconds().max(1) as f64
        } else {
            sum / samples.len() as f64
        })
    }

    /// The highest value of a KPI in a second of the window.
    pub fn kpi_max(&self, kpi: &Kpi, window: Window) -> Option<f64> {
        self.kpi_series(kpi, window)
            .into_iter()
            .map(|(_, v)| v)
            .reduce(f64::max)
    }

    /// The worst endpoint's p95 in each second of the window that had requests, in µs: the
    /// SLO is per endpoint, so a second breaches when any endpoint does.
    pub fn worst_p95_per_second(&self, window: Window) -> Vec<(i64, u64)> {
        let mut worst: BTreeMap<i64, u64> = BTreeMap::new();
        // One histogram, reset between seconds: reset keeps the size it grew to.
        let mut h = rundir::merge(std::iter::empty());
        for seconds in self.latency.values() {
            for (t, values) in seconds.range(window.from..window.to) {
                h.reset();
                record_all(&mut h, values);
                if !h.is_empty() {
                    let slot = worst.entry(*t).or_default();
                    *slot = (*slot).max(h.value_at_quantile(0.95));
                }
            }
        }
        worst.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn interval(tag: &str, second: u64, values: &[u64]) -> RecordedInterval {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            histogram.record(*v).unwrap();
        }
        RecordedInterval::from(&Interval {
            tag: Some(tag.into()),
            start: Duration::from_secs(second),
            duration: Duration::from_secs(1),
            histogram,
        })
    }

    fn metric(second: i64, metric: &str, dims: &[(&str, &str)], stat: &str, v: f64) -> MetricRow {
        MetricRow {
            timestamp: OffsetDateTime::from_unix_timestamp(second).unwrap(),
            namespace: match metric {
                "CPUUtilization" => "AWS/EC2",
                m if m.starts_with("Group") => "AWS/AutoScaling",
                m if m.starts_with("Approximate") => "AWS/SQS",
                _ => "AWS/ApplicationELB",
            }
            .into(),
            metric: metric.into(),
            dimensions: dims
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            statistic: stat.into(),
            value: v,
            unit: String::new(),
        }
    }

    #[test]
    fn a_window_adds_exactly_the_seconds_it_covers() {
        let intervals = [
            interval("login", 100, &[1_000, 2_000]),
            interval("login", 101, &[3_000]),
            interval("upload", 101, &[50_000]),
            interval("login", 102, &[9_000]),
        ];
        let t = Timeline::new(&intervals, &[], &[]);
        let w = Window::new(100, 102);
        assert_eq!(t.latency(Some("login"), w).len(), 3);
        assert_eq!(t.latency(None, w).len(), 4);
        assert_eq!(t.latency(None, Window::new(102, 103)).max(), 9_007);
        assert_eq!(
            t.worst_p95_per_second(w)
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
            [100, 101]
        );
        // In second 101 the worst endpoint is upload.
        assert!(t.worst_p95_per_second(w)[1].1 >= 50_000);
        assert_eq!(t.endpoints(), ["login", "upload"]);
    }

    #[test]
    fn server_series_become_kpis_with_their_units() {
        let asg = [("AutoScalingGroupName", "web")];
        let tg = [("TargetGroup", "tg"), ("LoadBalancer", "lb")];
        let lb = [("LoadBalancer", "lb")];
        let rows = [
            metric(10, "CPUUtilization", &asg, "Average", 40.0),
            metric(11, "CPUUtilization", &asg, "Average", 60.0),
            metric(11, "CPUUtilization", &asg, "Maximum", 99.0),
            metric(10, "HTTPCode_Target_5XX_Count", &lb, "Sum", 3.0),
            metric(10, "HTTPCode_ELB_502_Count", &lb, "Sum", 1.0),
            metric(10, "HTTPCode_ELB_503_Count", &lb, "Sum", 1.0),
            metric(10, "TargetResponseTime", &lb, "p95", 0.25),
            metric(10, "HealthyHostCount", &tg, "Average", 2.0),
            metric(11, "GroupInServiceInstances", &asg, "Average", 3.0),
            // A late tick: two samples of one level in one second are averaged, not added.
            metric(11, "HealthyHostCount", &tg, "Average", 2.0),
            metric(11, "HealthyHostCount", &tg, "Average", 2.0),
            // Two target groups add up.
            metric(12, "HealthyHostCount", &tg, "Average", 2.0),
            metric(
                12,
                "HealthyHostCount",
                &[("TargetGroup", "tg2")],
                "Average",
                1.0,
            ),
        ];
        let t = Timeline::new(&[], &[], &rows);
        let w = Window::new(10, 12);
        assert_eq!(t.kpi_mean(&Kpi::Cpu("web".into()), w), Some(50.0));
        assert_eq!(t.kpi_max(&Kpi::Cpu("web".into()), w), Some(60.0));
        // Counts are a rate over the whole window: 3 errors in 2 s.
        assert_eq!(t.kpi_mean(&Kpi::Target5xx, w), Some(1.5));
        assert_eq!(t.kpi_mean(&Kpi::Elb5xx, w), Some(1.0));
        assert_eq!(t.kpi_mean(&Kpi::TargetP95Ms, w), Some(250.0));
        assert_eq!(t.kpi_mean(&Kpi::HealthyHosts, w), Some(2.0));
        assert_eq!(
            t.kpi_series(&Kpi::HealthyHosts, Window::new(12, 13)),
            [(12, 3.0)]
        );
        assert_eq!(t.kpi_mean(&Kpi::InService("web".into()), w), Some(3.0));
        assert_eq!(t.kpi_mean(&Kpi::QueueVisible, w), None);
        assert_eq!(Kpi::Cpu("web".into()).name(), "cpu_percent:web");
    }

    fn recorded(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    proptest::proptest! {
        /// Samples spread over seconds and endpoints, written to an interval log, read back
        /// and merged by any window, equal a histogram that recorded those samples at once.
        #[test]
        fn merging_intervals_equals_recording_every_sample_in_one(
            samples in proptest::collection::vec((0u64..20, 0usize..3, 1u64..10_000_000), 1..300),
            from in 0i64..20,
            length in 1i64..20,
        ) {
            let start = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
            let mut log = rundir::LatencyLogWriter::new(Vec::new(), start).unwrap();
            for second in 0..20u64 {
                for endpoint in 0..3usize {
                    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
                    for (s, e, v) in &samples {
                        if *s == second && *e == endpoint {
                            h.record(*v).unwrap();
                        }
                    }
                    if !h.is_empty() {
                        let at = start + Duration::from_secs(second);
                        log.write_interval(&format!("e{endpoint}"), at, Duration::from_secs(1), &h)
                            .unwrap();
                    }
                }
            }
            let mut intervals = Vec::new();
            rundir::for_each_interval(&log.into_inner(), |i| intervals.push(RecordedInterval::from(&i)))
                .unwrap();
            let timeline = Timeline::new(&intervals, &[], &[]);
            let window = Window::new(1_000 + from, 1_000 + from + length);
            let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            let mut e1 = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            for (s, e, v) in &samples {
                if window.contains(1_000 + *s as i64) {
                    all.record(*v).unwrap();
                    if *e == 1 {
                        e1.record(*v).unwrap();
                    }
                }
            }
            proptest::prop_assert_eq!(recorded(&timeline.latency(None, window)), recorded(&all));
            proptest::prop_assert_eq!(recorded(&timeline.latency(Some("e1"), window)), recorded(&e1));
        }
    }
}
