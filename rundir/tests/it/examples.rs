//! Fully populated example values, shared by the golden and layout tests.

use rundir::{
    EndpointSummary, FORMAT_VERSION, HostInfo, LatencySummary, LoadModel, Manifest, RunId,
    SkippedStep, StackKind, Stage, Summary, Target, ThresholdOutcome, ToolVersions,
};
use time::OffsetDateTime;
use time::macros::datetime;

pub fn manifest(id: &str, started_at: OffsetDateTime) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        run_id: RunId::parse(id).unwrap(),
        scenario: "scenario1".to_owned(),
        profile: "ramp".to_owned(),
        load_model: LoadModel::Open {
            max_rate_per_sec: 200.0,
            max_in_flight: 1000,
        },
        target: Target {
            url: "http://anb-alb-123.eu-west-1.elb.amazonaws.com".to_owned(),
            stack: StackKind::Aws {
                region: "eu-west-1".to_owned(),
                load_balancer: Some("app/anb-alb/50dc6c495c0c9188".to_owned()),
                target_groups: vec!["targetgroup/anb-api/73e2d6bc24d8a067".to_owned()],
                autoscaling_groups: vec!["anb-api".to_owned(), "anb-worker".to_owned()],
                queue_urls: vec![
                    "https://sqs.eu-west-1.amazonaws.com/123456789012/anb-tasks".to_owned(),
                ],
                db_instances: Vec::new(),
            },
        },
        started_at,
        ended_at: Some(started_at + time::Duration::seconds(110)),
        time_scale: 0.5,
        stages: vec![
            Stage {
                name: "ramp to 200/s".to_owned(),
                start_offset_ms: 0,
                duration_ms: 60_000,
                users: None,
                rate_per_sec: Some(200.0),
                ramp: true,
            },
            Stage {
                name: "hold 200/s".to_owned(),
                start_offset_ms: 60_000,
                duration_ms: 65_000,
                users: None,
                rate_per_sec: Some(200.0),
                ramp: false,
            },
        ],
        thresholds: vec!["p99<500ms".to_owned(), "errors<1%".to_owned()],
        tool: ToolVersions {
            aforo: "0.1.0".to_owned(),
            goose: "0.19.0".to_owned(),
            hdrhistogram: "7.6.0".to_owned(),
        },
        host: HostInfo {
            cores: 2,
            os: "linux".to_owned(),
            hostname: "loadgen-1".to_owned(),
        },
        command_line: vec![
            "loadgen".to_owned(),
            "run".to_owned(),
            "--scenario".to_owned(),
            "scenario1".to_owned(),
            "--profile".to_owned(),
            "ramp".to_owned(),
        ],
        workload: rundir::Workload {
            upload_bytes: Some(1_000_000),
            think_time_s: Some(0.0),
            ..Default::default()
        },
        shard: None,
    }
}

pub fn example_manifest() -> Manifest {
    manifest(
        "20261123T003105Z-scenario1-a3f9",
        datetime!(2026-11-23 00:31:05.123 UTC),
    )
}

fn endpoint(name: &str, requests: u64, errors: u64) -> EndpointSummary {
    EndpointSummary {
        name: name.to_owned(),
        requests,
        successes: requests - errors,
        errors,
        error_rate: errors as f64 / requests as f64,
        rps: requests as f64 / 110.0,
        bytes_sent: requests * 300,
        bytes_received: requests * 1500,
        latency_us: Some(LatencySummary {
            min: 812,
            mean: 15234.5,
            p50: 9871,
            p90: 30015,
            p95: 45023,
            p99: 120063,
            p999: 480255,
            max: 1002495,
        }),
    }
}

pub fn example_summary() -> Summary {
    Summary {
        format_version: FORMAT_VERSION,
        run_id: RunId::parse("20261123T003105Z-scenario1-a3f9").unwrap(),
        duration_ms: 110_000,
        interrupted: true,
        interruption: Some("--abort-on-fail: login:errors<0.1% failed".to_owned()),
        model_note: Some(
            "open model: latency includes time queued behind max_in_flight".to_owned(),
        ),
        endpoints: vec![
            endpoint("list_videos", 8800, 88),
            endpoint("login", 2200, 22),
        ],
        total: endpoint("all", 11000, 110),
        skipped: vec![SkippedStep {
            step: "upload video".to_owned(),
            reason: "target has no object storage (HTTP 501)".to_owned(),
            count: 12,
        }],
        thresholds: vec![
            ThresholdOutcome {
                expression: "p99<500ms".to_owned(),
                endpoint: None,
                observed: Some(120.063),
                limit: 500.0,
                unit: "ms".to_owned(),
                passed: true,
            },
            ThresholdOutcome {
                expression: "login:errors<0.1%".to_owned(),
                endpoint: Some("login".to_owned()),
                observed: Some(0.01),
                limit: 0.001,
                unit: "ratio".to_owned(),
                passed: false,
            },
        ],
        passed: false,
        worker: None,
    }
}
