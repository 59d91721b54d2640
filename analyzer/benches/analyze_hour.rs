//! How long `analyze` takes, and how much memory, on one hour of data: 1 s intervals for 10
//! endpoints (36,000 interval histograms), requests.csv, metrics.csv with the local stack's
//! series every second and 20 scaling activities, in one run directory.
//!
//! `cargo bench -p analyzer --bench analyze_hour` generates the run once, then runs the
//! `analyze` binary on it several times and prints wall time and peak RSS (the goal in the
//! analyzer issue: a few seconds at most; the performance issue asks ≤ 3 s and ≤ 500 MB),
//! then `analyze report` on the analysis it wrote (≤ 3 s asked).

use std::io::BufWriter;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use rundir::{
    Activity, HostInfo, LatencyLogWriter, LoadModel, Manifest, MetricRow, MetricsWriter,
    RequestCounts, RequestsRow, RequestsWriter, RunDir, RunId, StackKind, Stage, Target,
    ToolVersions,
};
use time::OffsetDateTime;

const SECONDS: i64 = 3600;
const ENDPOINTS: usize = 10;

fn generate(root: &std::path::Path) -> RunId {
    let started = OffsetDateTime::now_utc() - time::Duration::seconds(SECONDS + 60);
    let started = started.replace_nanosecond(0).unwrap();
    let id = RunId::generate(started, "scenario1");
    let dir = RunDir::create(root, &id).unwrap();
    let stages = (0..6)
        .map(|i| Stage {
            name: format!("hold {}", (i + 1) * 50),
            start_offset_ms: i * 600_000,
            duration_ms: 600_000,
            users: Some((i as u32 + 1) * 50),
            rate_per_sec: None,
            ramp: false,
        })
        .collect();
    dir.write_manifest(&Manifest {
        format_version: rundir::FORMAT_VERSION,
        run_id: id.clone(),
        scenario: "scenario1".into(),
        profile: "search".into(),
        load_model: LoadModel::Closed { max_users: 300 },
        target: Target {
            url: "http://127.0.0.1:8080".into(),
            stack: StackKind::Local { data_dir: None },
        },
        started_at: started,
        ended_at: Some(started + time::Duration::seconds(SECONDS)),
        time_scale: 1.0,
        stages,
        thresholds: Vec::new(),
        tool: ToolVersions {
            aforo: "bench".into(),
            goose: "0.19".into(),
            hdrhistogram: "7".into(),
        },
        host: HostInfo::current(),
        workload: rundir::Workload::default(),
        command_line: Vec::new(),
        shard: None,
    })
    .unwrap();

    let start = SystemTime::from(started);
    let log_file = std::fs::File::create(dir.latency_log_path()).unwrap();
    let mut log = LatencyLogWriter::new(BufWriter::new(log_file), start).unwrap();
    let requests_file = std::fs::File::create(dir.requests_path()).unwrap();
    let mut requests = RequestsWriter::new(BufWriter::new(requests_file)).unwrap();
    let metrics_file = std::fs::File::create(dir.metrics_path()).unwrap();
    let mut metrics = MetricsWriter::new(BufWriter::new(metrics_file)).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for s in 0..SECONDS {
        let at = started + time::Duration::seconds(s);
        let level = 1 + s / 600;
        for e in 0..ENDPOINTS {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
            let n = 40 + (next() % 40) as usize;
            for _ in 0..n {
                h.record(2_000 + next() % (20_000 * level as u64)).unwrap();
            }
            let name = format!("endpoint_{e}");
            log.write_interval(
                &name,
                start + Duration::from_secs(s as u64),
                Duration::from_secs(1),
                &h,
            )
            .unwrap();
            requests
                .write_row(&RequestsRow::new(
                    at,
                    name,
                    RequestCounts {
                        requests: n as u64,
                        successes: n as u64,
                        bytes_sent: 1_000 * n as u64,
                        bytes_received: 5_000 * n as u64,
                        responses: Some(n as u64),
                        ..RequestCounts::default()
                    },
                ))
                .unwrap();
        }
        let asg = |g: &str| vec![("AutoScalingGroupName".to_string(), g.to_string())];
        let tg = vec![
            (
                "TargetGroup".to_string(),
                "targetgroup/aforo-web/0".to_string(),
            ),
            ("LoadBalancer".to_string(), "app/aforo-local/0".to_string()),
        ];
        let lb = vec![("LoadBalancer".to_string(), "app/aforo-local/0".to_string())];
        let mut row = |ns: &str, metric: &str, dims: Vec<(String, String)>, stat: &str, v: f64| {
            metrics
                .write_row(&MetricRow {
                    timestamp: at,
                    namespace: ns.into(),
                    metric: metric.into(),
                    dimensions: dims,
                    statistic: stat.into(),
                    value: v,
                    unit: "None".into(),
                })
                .unwrap();
        };
        let elb = "AWS/ApplicationELB";
        row(elb, "RequestCount", lb.clone(), "Sum", 600.0);
        row(elb, "TargetResponseTime", lb.clone(), "Average", 0.02);
        row(elb, "TargetResponseTime", lb.clone(), "p95", 0.05);
        for code in ["2XX", "4XX", "5XX"] {
            row(
                elb,
                &format!("HTTPCode_Target_{code}_Count"),
                lb.clone(),
                "Sum",
                1.0,
            );
        }
        for code in ["502", "503", "504"] {
            row(
                elb,
                &format!("HTTPCode_ELB_{code}_Count"),
                lb.clone(),
                "Sum",
                0.0,
            );
        }
        row(elb, "HealthyHostCount", tg.clone(), "Average", 2.0);
        row(elb, "UnHealthyHostCount", tg.clone(), "Average", 0.0);
        for g in ["web", "worker"] {
            for m in [
                "GroupMinSize",
                "GroupMaxSize",
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupTerminatingInstances",
                "GroupTotalInstances",
            ] {
                row("AWS/AutoScaling", m, asg(g), "Average", 2.0);
            }
            row(
                "AWS/EC2",
                "CPUUtilization",
                asg(g),
                "Average",
                10.0 * level as f64,
            );
            row(
                "AWS/EC2",
                "CPUUtilization",
                asg(g),
                "Maximum",
                12.0 * level as f64,
            );
        }
        let q = vec![("QueueName".to_string(), "anb-tasks".to_string())];
        row(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            q.clone(),
            "Average",
            3.0,
        );
        row(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            q,
            "Maximum",
            4.0,
        );
    }
    log.flush().unwrap();
    requests.flush().unwrap();
    metrics.flush().unwrap();
    let mut activities = BufWriter::new(std::fs::File::create(dir.activities_path()).unwrap());
    for i in 0..20 {
        let at = started + time::Duration::seconds(120 + i * 170);
        rundir::write_activity(
            &mut activities,
            &Activity {
                activity_id: format!("a-{i}"),
                auto_scaling_group_name: "web".into(),
                description: "Launching a new EC2 instance: i-local-0009".into(),
                cause: format!(
                    "At {} a monitor alarm TargetTracking-web-AlarmHigh in state ALARM \
                     triggered policy web-cpu-70 changing the desired capacity from 1 to 2.",
                    at.format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                ),
                start_time: at,
                end_time: Some(at + time::Duration::seconds(30)),
                status_code: "Successful".into(),
                status_message: None,
                progress: 100,
                details: "{}".into(),
            },
        )
        .unwrap();
    }
    std::io::Write::flush(&mut activities).unwrap();
    id
}

#[allow(unsafe_code)]
fn children_peak_rss_kib() -> i64 {
    // SAFETY: getrusage writes into the struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

fn main() {
    // `cargo bench` passes --bench; any other argument is a filter we have no use for.
    let root = tempfile::tempdir().unwrap();
    let made = Instant::now();
    generate(root.path());
    let size: u64 = walk_size(root.path());
    println!(
        "generated 1 h × {ENDPOINTS} endpoints in {:.1} s ({:.1} MB on disk)",
        made.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let runs_dir = root.path().to_str().unwrap();
    let mut times = Vec::new();
    for round in 1..=5 {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_analyze"))
            .args(["--runs-dir", runs_dir, "--since", "3h"])
            .output()
            .unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        times.push(elapsed);
        println!("analyze, round {round}: {elapsed:.2} s");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "analyze on one hour: median {:.2} s (min {:.2}, max {:.2}); peak RSS {:.0} MB",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        children_peak_rss_kib() as f64 / 1024.0
    );

    // The report of that analysis: markdown and every chart (PNG + SVG).
    let analysis = root.path().join("analysis.json");
    let out = root.path().join("report");
    let mut report_times = Vec::new();
    for round in 1..=3 {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_analyze"))
            .args(["report", "--analysis"])
            .arg(&analysis)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let elapsed = started.elapsed().as_secs_f64();
        report_times.push(elapsed);
        println!("analyze report, round {round}: {elapsed:.2} s");
    }
    report_times.sort_by(f64::total_cmp);
    println!(
        "analyze report on one hour: median {:.2} s; peak RSS of all children {:.0} MB",
        report_times[1],
        children_peak_rss_kib() as f64 / 1024.0
    );
}

fn walk_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
