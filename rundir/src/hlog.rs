//! `latency.hlog`: per-second, per-endpoint latency histograms in HdrHistogram's standard
//! interval log format, so that any HdrHistogram tool (Java, Rust, ...) can read our runs and
//! we can read theirs.
//!
//! Writing goes through the `hdrhistogram` crate's `IntervalLogWriterBuilder` and
//! `V2DeflateSerializer`. Reading uses its `IntervalLogIterator` one line at a time, so errors
//! name the line, and applies the StartTime/BaseTime rules of Java's `HistogramLogReader`.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::RunDirError;
use crate::base64;
use crate::layout::LATENCY_LOG_FILE;

/// The column legend every interval log carries after its header.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Java's reader treats interval timestamps as offsets from StartTime when they are more than
/// a year smaller than it (and as absolute otherwise).
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Writes `latency.hlog`. It does not buffer; give it a `BufWriter` for a file.
pub struct LatencyLogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    /// The log's BaseTime: the start, truncated to the millisecond the log can express.
    base: SystemTime,
    /// One line is built here and written at once, so a failure leaves no half line.
    line: Vec<u8>,
}

impl<W: Write> LatencyLogWriter<W> {
    /// Writes the header: a comment naming aforo, the format version,
    /// `#[StartTime: <secs.millis> (seconds since epoch), <rfc3339>]`, `#[BaseTime: ...]` (the
    /// same instant, so interval timestamps are seconds since the start) and the legend line.
    pub fn new(mut out: W, start: SystemTime) -> Result<Self, RunDirError> {
        let millis = start
            .duration_since(UNIX_EPOCH)
            .map_err(|_| unwritable("start time", format!("{start:?}"), "it is before 1970"))?
            .as_millis();
        let millis = u64::try_from(millis)
            .map_err(|_| unwritable("start time", format!("{start:?}"), "it is too late"))?;
        let base = UNIX_EPOCH + Duration::from_millis(millis);
        let secs = format!("{}.{:03}", millis / 1000, millis % 1000);
        let rfc3339 = OffsetDateTime::from(base)
            .format(&Rfc3339)
            .map_err(|e| unwritable("start time", format!("{start:?}"), &e.to_string()))?;
        let mut serializer = V2DeflateSerializer::new();
        // StartTime and BaseTime are written as comments because the builder's own StartTime
        // line carries no human-readable date; the text is what Java's writer produces.
        IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "[Logged with aforo {}: one histogram per endpoint (tag) per interval, values in microseconds]",
                env!("CARGO_PKG_VERSION")
            ))
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "[StartTime: {secs} (seconds since epoch), {rfc3339}]"
            ))
            .add_comment(&format!("[BaseTime: {secs} (seconds since epoch)]"))
            .begin_log_with(&mut out, &mut serializer)
            .map_err(write_error)?;
        writeln!(out, "{LEGEND}").map_err(write_error)?;
        Ok(LatencyLogWriter {
            out,
            serializer,
            base,
            line: Vec::new(),
        })
    }

    /// Writes one interval. `tag` is the endpoint name (non-empty, no commas or whitespace);
    /// `interval_start` is wall time, written to the millisecond as seconds since the start;
    /// `histogram` holds microseconds.
    pub fn write_interval(
        &mut self,
        tag: &str,
        interval_start: SystemTime,
        duration: Duration,
        histogram: &Histogram<u64>,
    ) -> Result<(), RunDirError> {
        let checked_tag = Tag::new(tag)
            .filter(|_| !tag.is_empty() && !tag.contains(char::is_whitespace))
            .ok_or_else(|| {
                unwritable(
                    "tag",
                    tag.to_owned(),
                    "tags are endpoint names: non-empty, without commas or whitespace",
                )
            })?;
        let offset = interval_start.duration_since(self.base).map_err(|_| {
            unwritable(
                "interval start",
                format!("{interval_start:?}"),
                "it is before the log's start time",
            )
        })?;
        // Truncate rather than let the writer round, so the reader gets back this millisecond.
        let offset = Duration::from_millis(offset.as_millis().try_into().unwrap_or(u64::MAX));

        self.line.clear();
        IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.line, &mut self.serializer)
            .map_err(write_error)?
            .write_histogram(histogram, offset, duration, Some(checked_tag))
            .map_err(|e| unwritable("histogram for tag", tag.to_owned(), &e.to_string()))?;
        self.out.write_all(&self.line).map_err(write_error)
    }

    pub fn flush(&mut self) -> Result<(), RunDirError> {
        self.out.flush().map_err(write_error)
    }

    /// The underlying writer (not flushed: nothing is buffered here).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> std::fmt::Debug for LatencyLogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyLogWriter")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn write_error(e: std::io::Error) -> RunDirError {
    RunDirError::io(LATENCY_LOG_FILE, "write", e)
}

fn unwritable(what: &'static str, value: String, reason: &str) -> RunDirError {
    RunDirError::Unwritable {
        path: LATENCY_LOG_FILE.into(),
        what,
        value,
        reason: reason.to_owned(),
    }
}

/// One interval histogram read from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The line's `Tag=`; aforo writes the endpoint name.
    pub tag: Option<String>,
    /// Since the Unix epoch when the log has a StartTime or BaseTime, else as written.
    pub start: Duration,
    pub duration: Duration,
    /// The recorded values (microseconds in aforo's logs; other tools' units vary).
    pub histogram: Histogram<u64>,
}

/// Reads any standard interval log (also those written by the Java library: tagged or not,
/// with or without BaseTime), returning every interval histogram in file order.
///
/// Interval start times follow Java's `HistogramLogReader`: with a BaseTime they are offsets
/// from it; with only a StartTime, offsets from it when more than a year smaller than it;
/// otherwise absolute. Corrupt lines give an error naming the line; a log with a header but
/// no intervals (a run killed in its first second) gives an empty list.
pub fn read_intervals(input: &[u8]) -> Result<Vec<Interval>, RunDirError> {
    let mut intervals = Vec::new();
    for_each_interval(input, |interval| intervals.push(interval))?;
    Ok(intervals)
}

/// [`read_intervals`], one interval at a time: a decoded histogram is as large as its
/// highest trackable value (about 190 KB for aforo's hour at 3 digits), so a reader of a
/// long log keeps what it needs of each (e.g. its recorded values) rather than them all.
pub fn for_each_interval(input: &[u8], mut each: impl FnMut(Interval)) -> Result<(), RunDirError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(RunDirError::malformed(
            LATENCY_LOG_FILE,
            None,
            None,
            "empty file; an interval log starts with `#` header lines (was the writer killed before it started?)",
        ));
    }
    let mut start_time = None;
    let mut base_time = None;
    let mut deserializer = Deserializer::new();
    for (index, raw) in input.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let error = |message: String| {
            RunDirError::malformed(LATENCY_LOG_FILE, Some(line_no), None, message)
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // The crate's parser needs every line, the last one too, to end with a line break.
        let owned;
        let line = if raw.ends_with(b"\n") {
            raw
        } else {
            owned = [raw, b"\n"].concat();
            &owned
        };
        let entry = match IntervalLogIterator::new(line).next() {
            None => continue, // a comment or the legend
            Some(Ok(entry)) => entry,
            Some(Err(_)) => {
                return Err(error(
                    "not an interval log line; expected `[Tag=<tag>,]<start s>,<length s>,<max>,<base64 histogram>`, a `#` comment or the legend"
                        .to_owned(),
                ));
            }
        };
        match entry {
            LogEntry::StartTime(t) => start_time = Some(t),
            LogEntry::BaseTime(t) => base_time = Some(t),
            LogEntry::Interval(line) => {
                let histogram =
                    decode_histogram(&mut deserializer, line.encoded_histogram()).map_err(error)?;
                let written = line.start_timestamp();
                let start = match (base_time, start_time) {
                    (Some(base), _) => base + written,
                    (None, Some(start)) if written + YEAR < start => start + written,
                    _ => written,
                };
                each(Interval {
                    tag: line.tag().map(|t| t.as_str().to_owned()),
                    start,
                    duration: line.duration(),
                    histogram,
                });
            }
        }
    }
    Ok(())
}

/// Decodes one base64 V2 (optionally DEFLATE-compressed) histogram.
fn decode_histogram(deserializer: &mut Deserializer, text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::decode(text.trim()).map_err(|e| format!("histogram is not base64: {e}"))?;
    check_declared_length(&bytes)?;
    // hdrhistogram 7.6's decoder can panic on corrupt counts (it negates i64::MIN); a corrupt
    // line must be an error, not a crash.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        deserializer.deserialize::<u64, _>(&mut &bytes[..])
    }));
    match decoded {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(format!(
            "histogram cannot be decoded (corrupt or truncated?): {e}"
        )),
        Err(_) => {
            *deserializer = Deserializer::new();
            Err("histogram cannot be decoded: its counts are corrupt".to_owned())
        }
    }
}

/// Refuses payloads shorter than their header says, before the crate allocates the stated
/// length (up to 4 GiB) for them: the usual shape of a truncated line.
fn check_declared_length(bytes: &[u8]) -> Result<(), String> {
    const V2: u32 = 0x1c84_9313;
    const V2_DEFLATE: u32 = 0x1c84_9314;
    /// cookie, length, normalizing offset, digits, lowest, highest, integer-to-double ratio
    const V2_HEADER: usize = 40;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let (Some(cookie), Some(declared)) = (word(0), word(4)) else {
        return Err(format!(
            "histogram is truncated: {} bytes, not even a header",
            bytes.len()
        ));
    };
    let available = match cookie {
        V2 => bytes.len().saturating_sub(V2_HEADER),
        V2_DEFLATE => bytes.len() - 8,
        // Let the decoder name what it does not support.
        _ => return Ok(()),
    };
    if declared as usize > available {
        return Err(format!(
            "histogram is truncated: its header declares {declared} bytes of payload, {available} follow"
        ));
    }
    Ok(())
}

/// Adds intervals into one histogram of 3 significant digits that resizes to fit, as Java's
/// `Histogram(3)` does. To merge one endpoint, filter first:
/// `merge(intervals.iter().filter(|i| i.tag.as_deref() == Some("login")))`.
pub fn merge<'a>(intervals: impl IntoIterator<Item = &'a Interval>) -> Histogram<u64> {
    let mut total = Histogram::<u64>::new(3).expect("3 significant digits are supported");
    for interval in intervals {
        // Only a resize beyond what usize can index fails, i.e. never on 64-bit targets.
        total
            .add(&interval.histogram)
            .expect("an auto-resizing histogram takes any histogram");
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_393_865_123)
    }

    #[test]
    fn header_is_what_other_tools_expect() {
        let w = LatencyLogWriter::new(Vec::new(), start() + Duration::from_nanos(999_999)).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("#[Logged with aforo "), "{text}");
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert_eq!(
            lines[2],
            "#[StartTime: 1795393865.123 (seconds since epoch), 2026-11-23T00:31:05.123Z]"
        );
        assert_eq!(
            lines[3],
            "#[BaseTime: 1795393865.123 (seconds since epoch)]"
        );
        assert_eq!(lines[4], LEGEND);
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn interval_lines_are_offsets_from_the_start() {
        let mut w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
        let at = start() + Duration::from_millis(2_000) + Duration::from_micros(999);
        w.write_interval("login", at, Duration::from_secs(1), &hist(&[1500]))
            .unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("Tag=login,2.000,1.000,1500.000,HISTFAAA"),
            "{last}"
        );
    }

    #[test]
    fn refuses_bad_tags_and_early_intervals_writing_nothing() {
        let mut w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
        let before = w.out.len();
        for bad in ["", "a b", "a,b", "a\tb"] {
            let err = w
                .write_interval(bad, start(), Duration::from_secs(1), &hist(&[1]))
                .unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("latency.hlog: cannot write tag"),
                "{err}"
            );
        }
        let early = start() - Duration::from_secs(1);
        assert!(
            w.write_interval("a", early, Duration::from_secs(1), &hist(&[1]))
                .is_err()
        );
        assert_eq!(w.out.len(), before);
    }

    #[test]
    fn applies_java_start_and_base_time_rules() {
        let line = |ts: &str| {
            let mut w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
            w.write_interval("a", start(), Duration::from_secs(1), &hist(&[7]))
                .unwrap();
            let text = String::from_utf8(w.into_inner()).unwrap();
            let hist = text
                .lines()
                .last()
                .unwrap()
                .rsplit(',')
                .next()
                .unwrap()
                .to_owned();
            format!("{ts},1.000,7.000,{hist}\n")
        };
        let st = "#[StartTime: 1000000000.000 (seconds since epoch), whenever]\n";
        let bt = "#[BaseTime: 2000000000.000 (seconds since epoch)]\n";
        let starts = |log: String| -> Vec<u64> {
            read_intervals(log.as_bytes())
                .unwrap()
                .iter()
                .map(|i| i.start.as_millis() as u64)
                .collect()
        };
        // No header: as written.
        assert_eq!(starts(line("5.500")), [5_500]);
        // StartTime only: small values are offsets, absolute-looking ones stay absolute.
        assert_eq!(
            starts(format!("{st}{}", line("5.500"))),
            [1_000_000_005_500]
        );
        assert_eq!(
            starts(format!("{st}{}", line("999999999.000"))),
            [999_999_999_000]
        );
        // BaseTime wins.
        assert_eq!(
            starts(format!("{st}{bt}{}", line("5.500"))),
            [2_000_000_005_500]
        );
        // No final line break is fine.
        assert_eq!(starts(line("5.500").trim_end().to_owned()), [5_500]);
    }

    #[test]
    fn a_header_without_intervals_is_an_empty_log() {
        let w = LatencyLogWriter::new(Vec::new(), start()).unwrap();
        assert_eq!(read_intervals(&w.into_inner()).unwrap(), []);
    }

    /// A V2 (uncompressed) histogram whose one count is the varint of u64::MAX, which the
    /// crate's decoder zig-zags to i64::MIN and then negates.
    #[test]
    fn counts_that_crash_the_decoder_are_an_error() {
        let mut bytes = Vec::new();
        bytes.extend(0x1c84_9313u32.to_be_bytes()); // V2 cookie
        bytes.extend(9u32.to_be_bytes()); // payload length
        bytes.extend(0u32.to_be_bytes()); // normalizing offset
        bytes.extend(3u32.to_be_bytes()); // significant digits
        bytes.extend(1u64.to_be_bytes()); // lowest
        bytes.extend(1_000_000u64.to_be_bytes()); // highest
        bytes.extend(1.0f64.to_be_bytes()); // integer to double ratio
        bytes.extend([0xff; 9]);
        let log = format!("#c\n0.000,1.000,1.000,{}\n", base64::encode(&bytes));
        let err = read_intervals(log.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("latency.hlog: line 2: histogram cannot be decoded"),
            "{err}"
        );
    }

    #[test]
    fn truncated_payloads_are_refused_before_decoding() {
        let mut bytes = Vec::new();
        bytes.extend(0x1c84_9314u32.to_be_bytes());
        bytes.extend(u32::MAX.to_be_bytes());
        bytes.extend([0; 10]);
        let err = check_declared_length(&bytes).unwrap_err();
        assert!(
            err.contains("4294967295 bytes of payload, 10 follow"),
            "{err}"
        );
        assert!(check_declared_length(&[0x1c]).is_err());
    }

    #[test]
    fn merge_of_nothing_is_empty() {
        assert!(merge([]).is_empty());
    }
}
