//! Logs written by HdrHistogram's Java library read to the figures its own tests assert
//! (`tests/data/expected.json`).

use rundir::{Interval, merge, read_intervals};
use serde_json::Value;

use crate::data;

fn expected(file: &str) -> Value {
    let all: Value = serde_json::from_slice(&data("expected.json")).unwrap();
    all["files"][file].clone()
}

fn u64_at(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("expected.json: no integer {key} in {v}"))
}

/// Java's `HistogramLogReader.nextIntervalHistogram(lo, hi)` with offsets from StartTime:
/// skip intervals that start before `lo`, stop at the first that starts after `hi`.
fn java_range(intervals: &[Interval], start_time_sec: f64, lo: i64, hi: i64) -> Vec<&Interval> {
    let start_ms = (start_time_sec * 1000.0).round() as i64;
    let mut selected = Vec::new();
    for i in intervals {
        let offset_ms = i.start.as_millis() as i64 - start_ms;
        if offset_ms < lo * 1000 {
            continue;
        }
        if offset_ms > hi * 1000 {
            break;
        }
        selected.push(i);
    }
    selected
}

/// Adds the intervals into a 3-digit histogram and checks count, p99.9 and max as stated.
fn assert_figures(name: &str, intervals: &[&Interval], stated: &Value) {
    assert_eq!(
        intervals.len() as u64,
        u64_at(stated, "histograms"),
        "{name}: histograms"
    );
    let h = merge(intervals.iter().copied());
    assert_eq!(
        h.len(),
        u64_at(stated, "total_count"),
        "{name}: total count"
    );
    assert_eq!(
        h.value_at_quantile(0.999),
        u64_at(stated, "p99_9"),
        "{name}: p99.9"
    );
    assert_eq!(h.max(), u64_at(stated, "max"), "{name}: max");
}

#[test]
fn jhiccup_log_gives_the_figures_java_states() {
    let file = "jHiccup-2.0.7S.logV2.hlog";
    let exp = expected(file);
    let stated = &exp["stated_by_repo"];
    let intervals = read_intervals(&data(file)).unwrap();
    let all: Vec<&Interval> = intervals.iter().collect();
    assert_figures("whole log", &all, &stated["whole_log"]);

    let start_time = stated["whole_log"]["start_time_sec"].as_f64().unwrap();
    for (key, lo, hi) in [("range_5_20", 5, 20), ("range_40_60", 40, 60)] {
        let selected = java_range(&intervals, start_time, lo, hi);
        assert_figures(key, &selected, &stated[key]);
    }
}

#[test]
fn jhiccup_log_intervals_keep_their_metadata() {
    let file = "jHiccup-2.0.7S.logV2.hlog";
    let exp = expected(file);
    let intervals = read_intervals(&data(file)).unwrap();
    let first = &intervals[0];
    // StartTime 1441812279.474 and no BaseTime: "0.127" is an offset from StartTime.
    assert_eq!(first.start.as_millis(), 1_441_812_279_474 + 127);
    assert_eq!(first.duration.as_millis(), 1007);
    assert_eq!(first.tag, None);
    let params = &exp["interval_histogram_params"];
    assert_eq!(
        u64::from(first.histogram.sigfig()),
        u64_at(params, "significant_digits")
    );
    assert_eq!(first.histogram.low(), u64_at(params, "lowest_discernible"));
    assert_eq!(first.histogram.high(), u64_at(params, "highest_trackable"));
}

/// Not stated upstream: computed by an independent decoder (see expected.json); checks that
/// the Rust quantile and mean arithmetic agree with it too.
#[test]
fn jhiccup_log_gives_the_derived_percentiles() {
    let file = "jHiccup-2.0.7S.logV2.hlog";
    let derived = expected(file)["derived_by_verify_hlog_py"]["whole_log"].clone();
    let h = merge(&read_intervals(&data(file)).unwrap());
    assert_eq!(h.min(), u64_at(&derived, "min"));
    assert_eq!(h.value_at_quantile(0.5), u64_at(&derived, "p50"));
    assert_eq!(h.value_at_quantile(0.9), u64_at(&derived, "p90"));
    assert_eq!(h.value_at_quantile(0.99), u64_at(&derived, "p99"));
    let mean = derived["mean"].as_f64().unwrap();
    assert!(
        (h.mean() - mean).abs() / mean < 1e-9,
        "{} vs {mean}",
        h.mean()
    );
}

#[test]
fn tagged_log_tag_a_equals_the_untagged_lines() {
    let file = "tagged-Log.logV2.hlog";
    let stated = expected(file)["stated_by_repo"].clone();
    let intervals = read_intervals(&data(file)).unwrap();
    assert_eq!(intervals.len() as u64, u64_at(&stated, "intervals"));

    let untagged: Vec<&Interval> = intervals.iter().filter(|i| i.tag.is_none()).collect();
    let tagged: Vec<&Interval> = intervals
        .iter()
        .filter(|i| i.tag.as_deref() == Some("A"))
        .collect();
    assert_eq!(untagged.len() as u64, u64_at(&stated, "untagged"));
    assert_eq!(tagged.len() as u64, u64_at(&stated, "tagged_A"));

    assert_eq!(merge(&intervals).len(), u64_at(&stated, "total_count"));
    let (untagged, tagged) = (merge(untagged), merge(tagged));
    assert_eq!(tagged, untagged);
    assert_eq!(tagged.len() * 2, u64_at(&stated, "total_count"));
}
