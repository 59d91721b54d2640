//! Server-side telemetry of an AWS target: CloudWatch GetMetricData and EC2 Auto Scaling
//! DescribeScalingActivities, turned into the run directory's own `metrics.csv` and
//! `activities.jsonl` rows, so that an AWS run is analysed exactly like a local one and,
//! once fetched, offline.
//!
//! The calls take SDK clients built by the caller (the standard credential chain and region
//! in the CLI, a replay client in tests), page through every result, and batch queries
//! within GetMetricData's limit of 500 per request.

use std::time::Duration;

use aws_sdk_autoscaling::Client as AutoScaling;
use aws_sdk_cloudwatch::Client as CloudWatch;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;
use rundir::{Activity, MetricRow};
use time::OffsetDateTime;

/// GetMetricData takes at most this many queries per request.
pub const MAX_QUERIES_PER_REQUEST: usize = 500;

/// The names CloudWatch and Auto Scaling know the deployment by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub region: String,
    /// The ALB's dimension value, `app/NAME/ID`.
    pub load_balancer: Option<String>,
    /// Target groups' dimension values, `targetgroup/NAME/ID`.
    pub target_groups: Vec<String>,
    pub autoscaling_groups: Vec<String>,
    pub queue_urls: Vec<String>,
    /// RDS DBInstanceIdentifiers.
    pub db_instances: Vec<String>,
}

impl Resources {
    pub fn from_stack(stack: &rundir::StackKind) -> Option<Resources> {
        match stack {
            rundir::StackKind::Aws {
                region,
                load_balancer,
                target_groups,
                autoscaling_groups,
                queue_urls,
                db_instances,
            } => Some(Resources {
                region: region.clone(),
                load_balancer: load_balancer.clone(),
                target_groups: target_groups.clone(),
                autoscaling_groups: autoscaling_groups.clone(),
                queue_urls: queue_urls.clone(),
                db_instances: db_instances.clone(),
            }),
            _ => None,
        }
    }
}

/// One series to fetch: CloudWatch's coordinates and the unit its values are in.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub namespace: &'static str,
    pub metric: &'static str,
    pub dimensions: Vec<(String, String)>,
    pub statistic: &'static str,
    pub unit: &'static str,
}

/// Every series the analysis reads, for these resources.
pub fn series_for(resources: &Resources) -> Vec<Series> {
    let mut all = Vec::new();
    let mut add = |namespace, metric, dimensions: Vec<(String, String)>, statistic, unit| {
        all.push(Series {
            namespace,
            metric,
            dimensions,
            statistic,
            unit,
        })
    };
    const ELB: &str = "AWS/ApplicationELB";
    if let Some(lb) = &resources.load_balancer {
        let dims = || vec![("LoadBalancer".to_string(), lb.clone())];
        add(ELB, "RequestCount", dims(), "Sum", "Count");
        add(ELB, "TargetResponseTime", dims(), "Average", "Seconds");
        add(ELB, "TargetResponseTime", dims(), "p95", "Seconds");
        add(ELB, "HTTPCode_Target_5XX_Count", dims(), "Sum", "Count");
        add(ELB, "HTTPCode_ELB_5XX_Count", dims(), "Sum", "Count");
        for tg in &resources.target_groups {
            let dims = || {
                vec![
                    ("TargetGroup".to_string(), tg.clone()),
                    ("LoadBalancer".to_string(), lb.clone()),
                ]
            };
            add(ELB, "HealthyHostCount", dims(), "Average", "Count");
            add(ELB, "UnHealthyHostCount", dims(), "Average", "Count");
            add(
                ELB,
                "RequestCountPerTarget",
                vec![("TargetGroup".to_string(), tg.clone())],
                "Sum",
                "Count",
            );
        }
    }
    for group in &resources.autoscaling_groups {
        let dims = || vec![("AutoScalingGroupName".to_string(), group.clone())];
        add("AWS/EC2", "CPUUtilization", dims(), "Average", "Percent");
        add("AWS/EC2", "CPUUtilization", dims(), "Maximum", "Percent");
        for metric in [
            "GroupDesiredCapacity",
            "GroupInServiceInstances",
            "GroupPendingInstances",
            "GroupTerminatingInstances",
        ] {
            add("AWS/AutoScaling", metric, dims(), "Average", "None");
        }
    }
    for url in &resources.queue_urls {
        let name = url.rsplit('/').next().unwrap_or(url).to_string();
        let dims = || vec![("QueueName".to_string(), name.clone())];
        add(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            dims(),
            "Average",
            "Count",
        );
        add(
            "AWS/SQS",
            "ApproximateNumberOfMessagesNotVisible",
            dims(),
            "Average",
            "Count",
        );
        add(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            dims(),
            "Maximum",
            "Seconds",
        );
        add("AWS/SQS", "NumberOfMessagesDeleted", dims(), "Sum", "Count");
    }
    for db in &resources.db_instances {
        let dims = || vec![("DBInstanceIdentifier".to_string(), db.clone())];
        add("AWS/RDS", "CPUUtilization", dims(), "Average", "Percent");
        add("AWS/RDS", "DatabaseConnections", dims(), "Average", "Count");
        add("AWS/RDS", "FreeableMemory", dims(), "Average", "Bytes");
    }
    all
}

/// The finest period CloudWatch still holds for a window that began `age` ago: AWS's own
/// metrics have one-minute resolution, kept for 15 days; then 5 minutes for 63 days; then
/// an hour for 455 days.
pub fn period_for(age: Duration) -> Result<u32, String> {
    const DAY: u64 = 86_400;
    match age.as_secs() {
        a if a <= 15 * DAY => Ok(60),
        a if a <= 63 * DAY => Ok(300),
        a if a <= 455 * DAY => Ok(3600),
        _ => Err(
            "CloudWatch keeps metrics for 455 days; this window is older, so its server-side \
             series are gone (analyse it with --offline)"
                .into(),
        ),
    }
}

fn to_smithy(t: OffsetDateTime) -> DateTime {
    DateTime::from_secs(t.unix_timestamp())
}

fn from_smithy(t: &DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.secs()).ok()
}

/// Fetches `series` over `[from, to)` at `period` seconds, paging and batching, as
/// `metrics.csv` rows in time order per series.
pub async fn fetch_metrics(
    client: &CloudWatch,
    series: &[Series],
    from: OffsetDateTime,
    to: OffsetDateTime,
    period: u32,
) -> anyhow::Result<Vec<MetricRow>> {
    let mut rows = Vec::new();
    for (batch_index, batch) in series.chunks(MAX_QUERIES_PER_REQUEST).enumerate() {
        let mut queries = Vec::with_capacity(batch.len());
        for (i, s) in batch.iter().enumerate() {
            let mut dimensions = Vec::new();
            for (name, value) in &s.dimensions {
                dimensions.push(Dimension::builder().name(name).value(value).build());
            }
            let metric = Metric::builder()
                .namespace(s.namespace)
                .metric_name(s.metric)
                .set_dimensions(Some(dimensions))
                .build();
            let stat = MetricStat::builder()
                .metric(metric)
                .period(period as i32)
                .stat(s.statistic)
                .build();
            queries.push(
                MetricDataQuery::builder()
                    .id(format!("m{i}"))
                    .metric_stat(stat)
                    .return_data(true)
                    .build(),
            );
        }
        let mut pages = client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(to_smithy(from))
            .end_time(to_smithy(to))
            .scan_by(ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "CloudWatch GetMetricData failed (batch {}): {}",
                    batch_index + 1,
                    aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                )
            })?;
            for result in page.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.strip_prefix('m'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < batch.len())
                else {
                    continue;
                };
                let s = &batch[index];
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    if let Some(timestamp) = from_smithy(t) {
                        rows.push(MetricRow {
                            timestamp,
                            namespace: s.namespace.into(),
                            metric: s.metric.into(),
                            dimensions: s.dimensions.clone(),
                            statistic: s.statistic.into(),
                            value: *v,
                            unit: s.unit.into(),
                        });
                    }
                }
            }
        }
    }
    rows.sort_by_key(|r| r.timestamp);
    Ok(rows)
}

/// Every scaling activity of `groups` that started in `[from, to)`, oldest first. Auto
/// Scaling lists newest first, so paging stops at the first activity older than `from`.
pub async fn fetch_activities(
    client: &AutoScaling,
    groups: &[String],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<Vec<Activity>> {
    let mut all = Vec::new();
    for group in groups {
        let mut pages = client
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(100)
            .into_paginator()
            .send();
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "Auto Scaling DescribeScalingActivities failed for {group}: {}",
                    aws_sdk_autoscaling::error::DisplayErrorContext(&e)
                )
            })?;
            for a in page.activities() {
                let Some(start) = a.start_time().and_then(from_smithy) else {
                    continue;
                };
                if start < from {
                    break 'pages;
                }
                if start >= to {
                    continue;
                }
                all.push(Activity {
                    activity_id: a.activity_id().unwrap_or_default().to_owned(),
                    auto_scaling_group_name: a
                        .auto_scaling_group_name()
                        .unwrap_or(group)
                        .to_owned(),
                    description: a.description().unwrap_or_default().to_owned(),
                    cause: a.cause().unwrap_or_default().to_owned(),
                    start_time: start,
                    end_time: a.end_time().and_then(from_smithy),
                    status_code: a.status_code().map_or("Unknown", |c| c.as_str()).to_owned(),
                    status_message: a.status_message().map(str::to_owned),
                    progress: a.progress().unwrap_or(0).clamp(0, 100) as u8,
                    details: a.details().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    all.sort_by_key(|a| a.start_time);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_follows_cloudwatch_retention() {
        let day = Duration::from_secs(86_400);
        assert_eq!(period_for(Duration::from_secs(3600)), Ok(60));
        assert_eq!(period_for(day * 15), Ok(60));
        assert_eq!(period_for(day * 16), Ok(300));
        assert_eq!(period_for(day * 100), Ok(3600));
        assert!(period_for(day * 500).unwrap_err().contains("455 days"));
    }

    #[test]
    fn every_resource_gets_its_series() {
        let r = Resources {
            region: "us-east-1".into(),
            load_balancer: Some("app/anb/1".into()),
            target_groups: vec!["targetgroup/api/2".into()],
            autoscaling_groups: vec!["web".into(), "worker".into()],
            queue_urls: vec!["https://sqs.us-east-1.amazonaws.com/1/anb-tasks".into()],
            db_instances: vec!["anb-db".into()],
        };
        let s = series_for(&r);
        assert_eq!(s.len(), 5 + 3 + 2 * 6 + 4 + 3);
        let db = s.iter().find(|s| s.namespace == "AWS/RDS").unwrap();
        assert_eq!(
            db.dimensions,
            [("DBInstanceIdentifier".into(), "anb-db".into())]
        );
        let age = s
            .iter()
            .find(|s| s.metric == "ApproximateAgeOfOldestMessage")
            .unwrap();
        assert_eq!(age.dimensions, [("QueueName".into(), "anb-tasks".into())]);
        assert!(s.iter().any(|s| s.metric == "HealthyHostCount"
            && s.dimensions.len() == 2
            && s.dimensions[0].0 == "TargetGroup"));
    }
}

/// What the CLI fetched for one run, for the summary's notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub metric_rows: usize,
    pub activities: usize,
    pub period: u32,
}

/// Fetches the telemetry of one AWS run over its window (one period either side) with the
/// standard credential chain, and saves it in the run directory as `metrics.csv` and
/// `activities.jsonl`, so that later analyses of the run are offline.
pub async fn fetch_and_save(
    run: &mut crate::runs::RunData,
    resources: &Resources,
    now: OffsetDateTime,
) -> anyhow::Result<Fetched> {
    use anyhow::Context;
    let start = run.manifest.started_at;
    let end = run.manifest.ended_at.unwrap_or(now);
    let age = (now - start).unsigned_abs();
    let period =
        period_for(age).map_err(|e| anyhow::anyhow!("{}: {e}", run.dir.path().display()))?;
    let margin = time::Duration::seconds(i64::from(period));
    let (from, to) = (start - margin, (end + margin).min(now));

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(resources.region.clone()))
        .load()
        .await;
    match config.credentials_provider() {
        None => anyhow::bail!(no_credentials("no credentials provider is configured")),
        Some(provider) => {
            use aws_credential_types::provider::ProvideCredentials;
            provider
                .provide_credentials()
                .await
                .map_err(|e| anyhow::anyhow!(no_credentials(&e.to_string())))?;
        }
    }
    let cloudwatch = CloudWatch::new(&config);
    let autoscaling = AutoScaling::new(&config);
    let metrics = fetch_metrics(&cloudwatch, &series_for(resources), from, to, period).await?;
    let activities =
        fetch_activities(&autoscaling, &resources.autoscaling_groups, from, to).await?;

    let metrics_path = run.dir.metrics_path();
    let file = std::fs::File::create(&metrics_path)
        .with_context(|| format!("cannot save {}", metrics_path.display()))?;
    let mut writer = rundir::MetricsWriter::new(std::io::BufWriter::new(file))?;
    for row in &metrics {
        writer.write_row(row)?;
    }
    writer.flush()?;
    let activities_path = run.dir.activities_path();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&activities_path)
            .with_context(|| format!("cannot save {}", activities_path.display()))?,
    );
    for a in &activities {
        rundir::write_activity(&mut out, a)?;
    }
    std::io::Write::flush(&mut out)
        .with_context(|| format!("cannot save {}", activities_path.display()))?;

    let fetched = Fetched {
        metric_rows: metrics.len(),
        activities: activities.len(),
        period,
    };
    run.metrics = metrics;
    run.activities = activities;
    Ok(fetched)
}

fn no_credentials(why: &str) -> String {
    format!(
        "no AWS credentials ({why}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or run on an instance with a role; or pass --offline to \
         analyse without CloudWatch"
    )
}
