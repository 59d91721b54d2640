//! The JSON contract, pinned: any change to `manifest.json` or `summary.json` shows up as a
//! diff of `tests/data/*.example.json` in review. Regenerate with `UPDATE_EXPECT=1`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::examples::{example_manifest, example_summary};
use crate::{data, data_dir};

fn check_golden<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    file: &str,
    value: &T,
) {
    let mut actual = serde_json::to_string_pretty(value).unwrap();
    actual.push('\n');
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(data_dir().join(file), &actual).unwrap();
    }
    let expected = String::from_utf8(data(file)).unwrap();
    assert_eq!(
        actual, expected,
        "{file} differs from the serialised example; if the change is intended, rerun with UPDATE_EXPECT=1 and review the diff"
    );
    let read: T = serde_json::from_str(&expected).unwrap();
    assert_eq!(&read, value);
}

#[test]
fn manifest_json_matches_the_example() {
    check_golden("manifest.example.json", &example_manifest());
}

#[test]
fn summary_json_matches_the_example() {
    check_golden("summary.example.json", &example_summary());
}

/// Readers accept files from newer writers that only added fields.
#[test]
fn unknown_fields_are_ignored() {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&data("manifest.example.json")).unwrap();
    manifest["added_later"] = serde_json::json!({"anything": [1, 2]});
    manifest["target"]["stack"]["added_later"] = serde_json::json!(true);
    let read: rundir::Manifest = serde_json::from_value(manifest).unwrap();
    assert_eq!(read, example_manifest());
}

/// A manifest written at the start of a run has `ended_at: null`.
#[test]
fn a_running_manifest_has_null_ended_at() {
    let mut m = example_manifest();
    m.ended_at = None;
    let json = serde_json::to_value(&m).unwrap();
    assert!(json["ended_at"].is_null());
    let read: rundir::Manifest = serde_json::from_value(json).unwrap();
    assert_eq!(read.ended_at, None);
}

/// Version 1 wrote every latency as a number; its files still read, as measured values.
#[test]
fn a_version_1_summary_still_reads() {
    let read: rundir::Summary = serde_json::from_slice(&data("summary.v1.example.json")).unwrap();
    assert_eq!(read.format_version, 1);
    let mut expected = example_summary();
    expected.format_version = 1;
    assert_eq!(read, expected);
}

/// An endpoint without a single latency (every connection refused) says so: `null`, not 0.
#[test]
fn an_endpoint_without_latency_writes_null() {
    let mut summary = example_summary();
    summary.endpoints[0].latency_us =
        rundir::LatencySummary::of(&hdrhistogram::Histogram::<u64>::new(3).unwrap());
    summary.thresholds[0].observed = None;
    let json = serde_json::to_value(&summary).unwrap();
    assert!(json["endpoints"][0]["latency_us"].is_null());
    assert!(json["thresholds"][0]["observed"].is_null());
    let read: rundir::Summary = serde_json::from_value(json).unwrap();
    assert_eq!(read, summary);
}
