//! What CloudWatch would record for the local stack, one row per metric per second, with
//! CloudWatch's own namespaces, metric names, dimensions, statistics and units, so the
//! analyzer reads a local run and an AWS run the same way.
//!
//! Pure: the stack gathers a [`Snapshot`] each second and [`rows`] turns it into
//! `metrics.csv` rows.

use rundir::MetricRow;
use time::OffsetDateTime;

/// The load balancer's second.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BalancerSecond {
    pub requests: u64,
    /// Mean TargetResponseTime in seconds, when any request completed.
    pub target_response_time: Option<f64>,
    /// TargetResponseTime's p95 extended statistic, in seconds.
    pub target_response_time_p95: Option<f64>,
    pub target_2xx: u64,
    pub target_4xx: u64,
    pub target_5xx: u64,
    pub elb_502: u64,
    pub elb_503: u64,
    pub elb_504: u64,
    pub healthy_hosts: u64,
    pub unhealthy_hosts: u64,
    /// `RequestCountPerTarget` (requests over healthy targets, or over every registered one
    /// when none is healthy); None without a registered target.
    #[serde(default)]
    pub request_count_per_target: Option<f64>,
}

/// One Auto Scaling group's second.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupSecond {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    /// AWS's InService: launched and up, warming ones included.
    pub in_service: u32,
    pub pending: u32,
    /// Of the in-service instances, those still in their warm-up (their metrics are left out
    /// of the policies' aggregates); not a CloudWatch metric.
    #[serde(default)]
    pub warming: u32,
    pub terminating: u32,
    /// Average CPU of the in-service instances, percent of an instance's capacity.
    pub cpu_average: Option<f64>,
    pub cpu_maximum: Option<f64>,
    /// Instances busy with work (workers running a task); not a CloudWatch metric.
    #[serde(default)]
    pub busy: Option<u32>,
}

/// The queue's second.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueSecond {
    pub visible: u64,
    pub not_visible: u64,
    pub oldest_age_seconds: Option<f64>,
    /// Messages deleted during the second; None where the queue does not tell (SQS).
    pub deleted: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The start of the second, UTC.
    pub at: OffsetDateTime,
    pub balancer: Option<BalancerSecond>,
    pub groups: Vec<GroupSecond>,
    pub queue: Option<QueueSecond>,
}

/// The resource names dimensions carry, in AWS's formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    /// `app/<name>/<id>`, as the LoadBalancer dimension is written.
    pub load_balancer: String,
    /// `targetgroup/<name>/<id>`.
    pub target_group: String,
    pub queue: String,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            load_balancer: "app/aforo-local/0000000000000000".into(),
            target_group: "targetgroup/aforo-web/0000000000000000".into(),
            queue: "anb-tasks".into(),
        }
    }
}

/// The rows CloudWatch would hold for this second.
pub fn rows(s: &Snapshot, names: &Names) -> Vec<MetricRow> {
    let mut out = Vec::new();
    let mut push = |namespace: &str,
                    metric: &str,
                    dimensions: Vec<(&str, &str)>,
                    statistic: &str,
                    value: f64,
                    unit: &str| {
        out.push(MetricRow {
            timestamp: s.at,
            namespace: namespace.into(),
            metric: metric.into(),
            dimensions: dimensions
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            statistic: statistic.into(),
            value,
            unit: unit.into(),
        });
    };
    if let Some(b) = &s.balancer {
        const ELB: &str = "AWS/ApplicationELB";
        let lb = || vec![("LoadBalancer", names.load_balancer.as_str())];
        let tg = || {
            vec![
                ("TargetGroup", names.target_group.as_str()),
                ("LoadBalancer", names.load_balancer.as_str()),
            ]
        };
        push(ELB, "RequestCount", lb(), "Sum", b.requests as f64, "Count");
        if let Some(seconds) = b.target_response_time {
            push(
                ELB,
                "TargetResponseTime",
                lb(),
                "Average",
                seconds,
                "Seconds",
            );
        }
        if let Some(seconds) = b.target_response_time_p95 {
            push(ELB, "TargetResponseTime", lb(), "p95", seconds, "Seconds");
        }
        push(
            ELB,
            "HTTPCode_Target_2XX_Count",
            lb(),
            "Sum",
            b.target_2xx as f64,
            "Count",
        );
        push(
            ELB,
            "HTTPCode_Target_4XX_Count",
            lb(),
            "Sum",
            b.target_4xx as f64,
            "Count",
        );
        push(
            ELB,
            "HTTPCode_Target_5XX_Count",
            lb(),
            "Sum",
            b.target_5xx as f64,
            "Count",
        );
        push(
            ELB,
            "HTTPCode_ELB_502_Count",
            lb(),
            "Sum",
            b.elb_502 as f64,
            "Count",
        );
        push(
            ELB,
            "HTTPCode_ELB_503_Count",
            lb(),
            "Sum",
            b.elb_503 as f64,
            "Count",
        );
        push(
            ELB,
            "HTTPCode_ELB_504_Count",
            lb(),
            "Sum",
            b.elb_504 as f64,
            "Count",
        );
        push(
            ELB,
            "HealthyHostCount",
            tg(),
            "Average",
            b.healthy_hosts as f64,
            "Count",
        );
        push(
            ELB,
            "UnHealthyHostCount",
            tg(),
            "Average",
            b.unhealthy_hosts as f64,
            "Count",
        );
        if let Some(per_target) = b.request_count_per_target {
            push(
                ELB,
                "RequestCountPerTarget",
                tg(),
                "Sum",
                per_target,
                "Count",
            );
        }
    }
    for g in &s.groups {
        let asg = || vec![("AutoScalingGroupName", g.name.as_str())];
        const AS: &str = "AWS/AutoScaling";
        push(
            AS,
            "GroupMinSize",
            asg(),
            "Average",
            f64::from(g.min),
            "None",
        );
        push(
            AS,
            "GroupMaxSize",
            asg(),
            "Average",
            f64::from(g.max),
            "None",
        );
        push(
            AS,
            "GroupDesiredCapacity",
            asg(),
            "Average",
            f64::from(g.desired),
            "None",
        );
        push(
            AS,
            "GroupInServiceInstances",
            asg(),
            "Average",
            f64::from(g.in_service),
            "None",
        );
        push(
            AS,
            "GroupPendingInstances",
            asg(),
            "Average",
            f64::from(g.pending),
            "None",
        );
        push(
            AS,
            "GroupTerminatingInstances",
            asg(),
            "Average",
            f64::from(g.terminating),
            "None",
        );
        let total = g.in_service + g.pending + g.terminating;
        push(
            AS,
            "GroupTotalInstances",
            asg(),
            "Average",
            f64::from(total),
            "None",
        );
        if let Some(cpu) = g.cpu_average {
            push(
                "AWS/EC2",
                "CPUUtilization",
                asg(),
                "Average",
                cpu,
                "Percent",
            );
        }
        if let Some(cpu) = g.cpu_maximum {
            push(
                "AWS/EC2",
                "CPUUtilization",
                asg(),
                "Maximum",
                cpu,
                "Percent",
            );
        }
    }
    if let Some(q) = &s.queue {
        const SQS: &str = "AWS/SQS";
        let queue = || vec![("QueueName", names.queue.as_str())];
        push(
            SQS,
            "ApproximateNumberOfMessagesVisible",
            queue(),
            "Average",
            q.visible as f64,
            "Count",
        );
        push(
            SQS,
            "ApproximateNumberOfMessagesNotVisible",
            queue(),
            "Average",
            q.not_visible as f64,
            "Count",
        );
        if let Some(age) = q.oldest_age_seconds {
            push(
                SQS,
                "ApproximateAgeOfOldestMessage",
                queue(),
                "Maximum",
                age,
                "Seconds",
            );
        }
        if let Some(deleted) = q.deleted {
            push(
                SQS,
                "NumberOfMessagesDeleted",
                queue(),
                "Sum",
                deleted as f64,
                "Count",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn find<'a>(rows: &'a [MetricRow], metric: &str, statistic: &str) -> &'a MetricRow {
        rows.iter()
            .find(|r| r.metric == metric && r.statistic == statistic)
            .unwrap_or_else(|| panic!("no {metric} {statistic}"))
    }

    #[test]
    fn a_second_becomes_cloudwatchs_rows() {
        let snapshot = Snapshot {
            at: datetime!(2026-11-23 01:00:05 UTC),
            balancer: Some(BalancerSecond {
                requests: 120,
                target_response_time: Some(0.015),
                target_response_time_p95: Some(0.040),
                target_2xx: 118,
                target_5xx: 2,
                healthy_hosts: 2,
                request_count_per_target: Some(60.0),
                ..Default::default()
            }),
            groups: vec![GroupSecond {
                name: "web".into(),
                min: 1,
                max: 3,
                desired: 2,
                in_service: 2,
                cpu_average: Some(71.5),
                ..Default::default()
            }],
            queue: Some(QueueSecond {
                visible: 9,
                oldest_age_seconds: Some(4.0),
                deleted: Some(3),
                ..Default::default()
            }),
        };
        let rows = rows(&snapshot, &Names::default());
        assert_eq!(find(&rows, "RequestCount", "Sum").value, 120.0);
        assert_eq!(find(&rows, "RequestCountPerTarget", "Sum").value, 60.0);
        let rt = find(&rows, "TargetResponseTime", "Average");
        assert_eq!(
            (rt.value, rt.unit.as_str(), rt.namespace.as_str()),
            (0.015, "Seconds", "AWS/ApplicationELB")
        );
        assert_eq!(find(&rows, "TargetResponseTime", "p95").value, 0.040);
        let cpu = find(&rows, "CPUUtilization", "Average");
        assert_eq!(
            cpu.dimensions,
            vec![("AutoScalingGroupName".to_string(), "web".to_string())]
        );
        assert_eq!(find(&rows, "GroupInServiceInstances", "Average").value, 2.0);
        assert_eq!(
            find(&rows, "ApproximateNumberOfMessagesVisible", "Average").value,
            9.0
        );
        assert_eq!(
            find(&rows, "ApproximateAgeOfOldestMessage", "Maximum").value,
            4.0
        );
        assert_eq!(find(&rows, "NumberOfMessagesDeleted", "Sum").value, 3.0);
        assert!(rows.iter().all(|r| r.timestamp == snapshot.at));
        // Every row is writable as metrics.csv.
        let mut writer = rundir::MetricsWriter::new(Vec::new()).unwrap();
        for row in &rows {
            writer.write_row(row).unwrap();
        }
    }

    #[test]
    fn absent_parts_and_missing_figures_write_nothing() {
        let snapshot = Snapshot {
            at: datetime!(2026-11-23 01:00:05 UTC),
            balancer: Some(BalancerSecond::default()),
            groups: vec![],
            queue: None,
        };
        let rows = rows(&snapshot, &Names::default());
        assert!(
            rows.iter().all(|r| r.metric != "TargetResponseTime"),
            "no request completed"
        );
        assert!(
            rows.iter().all(|r| r.metric != "RequestCountPerTarget"),
            "no registered target"
        );
        assert!(rows.iter().all(|r| r.namespace != "AWS/SQS"));
    }
}
