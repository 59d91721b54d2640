//! The CloudWatch and Auto Scaling calls at the wire level: the real SDK clients, with HTTP
//! responses replayed from `tests/data/aws/` (moto answers neither GetMetricData with
//! percentiles nor DescribeScalingActivities). The requests they sent are checked too:
//! pagination tokens, batching, statistics and dimensions.

use analyzer::aws::{
    MAX_QUERIES_PER_REQUEST, Resources, Series, fetch_activities, fetch_metrics, series_for,
};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use time::macros::datetime;

fn response(file: &str) -> http::Response<SdkBody> {
    let path = format!("{}/tests/data/aws/{file}", env!("CARGO_MANIFEST_DIR"));
    http::Response::builder()
        .status(200)
        .header("content-type", "text/xml")
        .body(SdkBody::from(std::fs::read(path).unwrap()))
        .unwrap()
}

fn event(file: &str) -> ReplayEvent {
    let request = http::Request::builder()
        .uri("https://replayed.invalid/")
        .body(SdkBody::empty())
        .unwrap();
    ReplayEvent::new(request, response(file))
}

fn body(request: &aws_smithy_runtime_api::client::orchestrator::HttpRequest) -> String {
    String::from_utf8(request.body().bytes().unwrap().to_vec()).unwrap()
}

fn cloudwatch(replay: &StaticReplayClient) -> aws_sdk_cloudwatch::Client {
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(replay.clone())
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

fn autoscaling(replay: &StaticReplayClient) -> aws_sdk_autoscaling::Client {
    use aws_sdk_autoscaling::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_autoscaling::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(replay.clone())
        .build();
    aws_sdk_autoscaling::Client::from_conf(config)
}

fn resources() -> Resources {
    Resources {
        region: "us-east-1".into(),
        load_balancer: Some("app/anb-alb/50dc6c495c0c9188".into()),
        target_groups: vec!["targetgroup/anb-api/73e2d6bc24d8a067".into()],
        autoscaling_groups: vec!["anb-api".into()],
        queue_urls: vec![],
        db_instances: vec![],
    }
}

#[tokio::test]
async fn get_metric_data_pages_through_next_token_and_keeps_each_series_apart() {
    let replay = StaticReplayClient::new(vec![
        event("get_metric_data_page1.xml"),
        event("get_metric_data_page2.xml"),
    ]);
    let series = series_for(&resources());
    let rows = fetch_metrics(
        &cloudwatch(&replay),
        &series,
        datetime!(2026-11-23 00:30 UTC),
        datetime!(2026-11-23 00:35 UTC),
        60,
    )
    .await
    .unwrap();

    let requests = replay.actual_requests().collect::<Vec<_>>();
    assert_eq!(requests.len(), 2, "two pages, two requests");
    let first = body(requests[0]);
    assert!(first.contains("Action=GetMetricData"), "{first}");
    assert!(first.contains("ScanBy=TimestampAscending"), "{first}");
    assert!(
        first.contains("StartTime=2026-11-23T00%3A30%3A00Z"),
        "{first}"
    );
    // The second query of the list is TargetResponseTime's p95, at the chosen period.
    assert!(
        first.contains("MetricDataQueries.member.3.Id=m2"),
        "{first}"
    );
    assert!(
        first.contains("MetricDataQueries.member.3.MetricStat.Stat=p95"),
        "{first}"
    );
    assert!(
        first.contains("MetricDataQueries.member.3.MetricStat.Period=60"),
        "{first}"
    );
    assert!(
        first.contains("Dimensions.member.1.Value=app%2Fanb-alb%2F50dc6c495c0c9188"),
        "{first}"
    );
    assert!(!first.contains("NextToken"), "{first}");
    assert!(body(requests[1]).contains("NextToken=page-2-token"));

    // Three RequestCount points (two pages) and two p95 points, with their own names.
    let count: Vec<f64> = rows
        .iter()
        .filter(|r| r.metric == "RequestCount")
        .map(|r| r.value)
        .collect();
    assert_eq!(count, [6000.0, 9000.0, 12000.0]);
    let p95: Vec<_> = rows
        .iter()
        .filter(|r| r.metric == "TargetResponseTime")
        .collect();
    assert_eq!(p95.len(), 2);
    assert!(
        p95.iter()
            .all(|r| r.statistic == "p95" && r.unit == "Seconds")
    );
    assert_eq!(p95[1].timestamp, datetime!(2026-11-23 00:32 UTC));
    assert_eq!(p95[1].value, 1.5);
    assert!(rows.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

#[tokio::test]
async fn more_series_than_one_request_takes_are_sent_in_batches() {
    let many: Vec<Series> = (0..MAX_QUERIES_PER_REQUEST + 1)
        .map(|i| Series {
            namespace: "AWS/EC2",
            metric: "CPUUtilization",
            dimensions: vec![("AutoScalingGroupName".into(), format!("g{i}"))],
            statistic: "Average",
            unit: "Percent",
        })
        .collect();
    let replay = StaticReplayClient::new(vec![
        event("get_metric_data_page2.xml"),
        event("get_metric_data_page2.xml"),
    ]);
    fetch_metrics(
        &cloudwatch(&replay),
        &many,
        datetime!(2026-11-23 00:30 UTC),
        datetime!(2026-11-23 00:35 UTC),
        60,
    )
    .await
    .unwrap();
    let requests = replay.actual_requests().collect::<Vec<_>>();
    assert_eq!(requests.len(), 2);
    let first = body(requests[0]);
    assert!(first.contains(&format!("member.{MAX_QUERIES_PER_REQUEST}.Id=")));
    assert!(!first.contains(&format!("member.{}.Id=", MAX_QUERIES_PER_REQUEST + 1)));
    assert!(body(requests[1]).contains("AutoScalingGroupName"));
}

#[tokio::test]
async fn scaling_activities_page_back_to_the_window_start_and_no_further() {
    let replay = StaticReplayClient::new(vec![
        event("describe_scaling_activities_page1.xml"),
        event("describe_scaling_activities_page2.xml"),
    ]);
    let activities = fetch_activities(
        &autoscaling(&replay),
        &["anb-api".to_string()],
        datetime!(2026-11-23 00:30 UTC),
        datetime!(2026-11-23 00:40 UTC),
    )
    .await
    .unwrap();
    let requests = replay.actual_requests().collect::<Vec<_>>();
    assert_eq!(
        requests.len(),
        2,
        "page 3 is older than the window: not requested"
    );
    let first = body(requests[0]);
    assert!(
        first.contains("Action=DescribeScalingActivities"),
        "{first}"
    );
    assert!(first.contains("AutoScalingGroupName=anb-api"), "{first}");
    assert!(body(requests[1]).contains("NextToken=activities-page-2"));

    // Oldest first, the one from the day before left out.
    assert_eq!(activities.len(), 2);
    assert_eq!(activities[0].start_time, datetime!(2026-11-23 00:31:22 UTC));
    let scale_out = &activities[1];
    assert_eq!(scale_out.auto_scaling_group_name, "anb-api");
    assert!(scale_out.cause.contains("from 2 to 3"));
    assert_eq!(scale_out.status_code, "Successful");
    assert_eq!(scale_out.progress, 100);
    assert_eq!(scale_out.end_time, Some(datetime!(2026-11-23 00:33:45 UTC)));
    assert!(scale_out.details.contains("us-east-1a"));
}
