//! latency.hlog written by `LatencyLogWriter` reads back exactly, with our reader and with
//! hdrhistogram's own parser.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use proptest::prelude::*;
use rundir::{LatencyLogWriter, merge, read_intervals};

fn start() -> SystemTime {
    // 2026-11-23T00:31:05.123Z plus sub-millisecond noise the log cannot keep.
    UNIX_EPOCH + Duration::from_nanos(1_795_393_865_123_456_789)
}

/// What loadgen records into: microseconds up to an hour, 3 significant digits.
fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for v in values {
        h.record(v).unwrap();
    }
    h
}

struct Written {
    tag: &'static str,
    start: SystemTime,
    duration: Duration,
    histogram: Histogram<u64>,
}

fn sample() -> Vec<Written> {
    let mut out = Vec::new();
    for second in 0..3u64 {
        for (k, tag) in ["login", "list_videos", "upload"].into_iter().enumerate() {
            let k = k as u64;
            out.push(Written {
                tag,
                start: start() + Duration::from_millis(second * 1000 + k * 7),
                duration: Duration::from_millis(1000 - k),
                histogram: histogram((1..=50 * (k + 1)).map(|v| v * 997 + second * 13)),
            });
        }
    }
    // An endpoint with no requests in an interval still gets a line.
    out.push(Written {
        tag: "idle",
        start: start() + Duration::from_secs(3),
        duration: Duration::from_secs(1),
        histogram: histogram([]),
    });
    out
}

fn write(intervals: &[Written]) -> Vec<u8> {
    let mut w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
    for i in intervals {
        w.write_interval(i.tag, i.start, i.duration, &i.histogram)
            .unwrap();
    }
    w.flush().unwrap();
    w.into_inner()
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn written_intervals_read_back_the_same() {
    let written = sample();
    let read = read_intervals(&write(&written)).unwrap();
    assert_eq!(read.len(), written.len());
    for (r, w) in read.iter().zip(&written) {
        assert_eq!(r.tag.as_deref(), Some(w.tag));
        assert_eq!(r.start.as_millis(), millis(w.start), "{}", w.tag);
        assert_eq!(r.duration, w.duration);
        assert_eq!(r.histogram, w.histogram);
        assert_eq!(r.histogram.len(), w.histogram.len());
    }
}

#[test]
fn hdrhistogram_parses_the_written_log() {
    let written = sample();
    let log = write(&written);
    let entries: Vec<LogEntry> = IntervalLogIterator::new(&log)
        .collect::<Result<_, _>>()
        .expect("hdrhistogram's parser accepts every line");
    let start_ms = millis(start());
    assert_eq!(
        entries[0],
        LogEntry::StartTime(Duration::from_millis(start_ms as u64))
    );
    assert_eq!(
        entries[1],
        LogEntry::BaseTime(Duration::from_millis(start_ms as u64))
    );
    let intervals: Vec<_> = entries[2..]
        .iter()
        .map(|e| match e {
            LogEntry::Interval(i) => i,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(intervals.len(), written.len());
    for (i, w) in intervals.iter().zip(&written) {
        assert_eq!(i.tag().map(|t| t.as_str()), Some(w.tag));
        // With BaseTime, interval timestamps are offsets from it.
        assert_eq!(start_ms + i.start_timestamp().as_millis(), millis(w.start));
        assert_eq!(i.duration(), w.duration);
        assert_eq!(i.max(), w.histogram.max() as f64);
        assert!(i.encoded_histogram().starts_with("HISTFAAA"));
    }
}

proptest! {
    /// Splitting a stream of samples into intervals, writing them to the log, reading them
    /// back and merging gives the histogram of the whole stream.
    #[test]
    fn merged_intervals_equal_one_histogram_of_all_samples(
        samples in prop::collection::vec(
            prop_oneof![0u64..1_000, 1_000u64..100_000, 100_000u64..3_600_000_000],
            1..400,
        ),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        tags in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 13),
    ) {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(samples.len() + 1)).collect();
        bounds.push(0);
        bounds.push(samples.len());
        bounds.sort_unstable();

        let mut w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
        for (k, pair) in bounds.windows(2).enumerate() {
            let at = start() + Duration::from_secs(k as u64);
            let h = histogram(samples[pair[0]..pair[1]].iter().copied());
            w.write_interval(tags[k], at, Duration::from_secs(1), &h).unwrap();
        }
        let intervals = read_intervals(&w.into_inner()).unwrap();
        prop_assert_eq!(intervals.len(), bounds.len() - 1);

        let merged = merge(&intervals);
        let mut all = Histogram::<u64>::new(3).unwrap();
        for &s in &samples {
            all.record(s).unwrap();
        }
        prop_assert_eq!(merged.len(), all.len());
        prop_assert_eq!(merged.min(), all.min());
        prop_assert_eq!(merged.min_nz(), all.min_nz());
        prop_assert_eq!(merged.max(), all.max());
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            prop_assert_eq!(merged.value_at_quantile(q), all.value_at_quantile(q), "q={}", q);
        }
    }
}
