//! `requests.csv`: counts per second and endpoint, in plain CSV for spreadsheets and pandas.
//!
//! No quoting is ever needed: endpoint names with commas, quotes or line breaks are refused on
//! write. The reader finds columns by header name, so files with extra columns still read,
//! and files written before the `responses` or `check_failures` column was added read with
//! `None` there.

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::RunDirError;
use crate::layout::REQUESTS_FILE;

/// The header line, without the line break.
pub const REQUESTS_HEADER: &str = "timestamp,endpoint,requests,successes,errors_4xx,errors_5xx,errors_other,bytes_sent,bytes_received,responses,check_failures";

/// One row: what one endpoint did in one second.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestsRow {
    /// Start of the second, UTC, whole seconds (`2026-11-23T00:31:05Z` in the file).
    #[serde(with = "crate::utc")]
    pub timestamp: OffsetDateTime,
    pub endpoint: String,
    /// The count columns.
    #[serde(flatten)]
    pub counts: RequestCounts,
}

/// One span's request counts: the count columns of `requests.csv`, and the one definition
/// of what loadgen records, the file holds and the analyzer adds up. Requests count in the
/// second they were due or sent, responses in the second they arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestCounts {
    pub requests: u64,
    pub successes: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    /// No HTTP status: connection refused, reset, timeout, an arrival never sent. (Where
    /// `check_failures` is unknown, the check failures too.)
    pub errors_other: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// HTTP responses (any status) that arrived in the span, from requests of any span:
    /// the completions throughput is counted from. An overloaded open-model span has more
    /// requests than responses. None in files written before loadgen counted them, and in
    /// sums that include such counts.
    #[serde(default)]
    pub responses: Option<u64>,
    /// Answers with a status below 400 that the scenario's checks failed (an unexpected
    /// status, body or JSON value): `requests` = `successes` + the three error columns +
    /// this. None in files written before they were counted apart, whose `errors_other`
    /// holds them, and in sums that include such counts.
    #[serde(default)]
    pub check_failures: Option<u64>,
}

impl Default for RequestCounts {
    fn default() -> Self {
        RequestCounts {
            requests: 0,
            successes: 0,
            errors_4xx: 0,
            errors_5xx: 0,
            errors_other: 0,
            bytes_sent: 0,
            bytes_received: 0,
            responses: Some(0),
            check_failures: Some(0),
        }
    }
}

impl RequestCounts {
    /// What throughput is counted from: the responses that arrived in the span. Requests
    /// are counted by the second they were due, so an overloaded open-model span is due
    /// more than the target answers; the due count stands in only for old files.
    pub fn completed(&self) -> u64 {
        self.responses.unwrap_or(self.requests)
    }

    pub fn errors(&self) -> u64 {
        self.errors_4xx + self.errors_5xx + self.errors_other + self.check_failures.unwrap_or(0)
    }

    /// Errors / requests; 0 without requests.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors() as f64 / self.requests as f64
        }
    }

    /// Requests answered with an HTTP status: successes, 4xx, 5xx and check failures
    /// (where counted apart).
    pub fn answered(&self) -> u64 {
        self.successes + self.errors_4xx + self.errors_5xx + self.check_failures.unwrap_or(0)
    }

    /// One more response arrived in the span.
    pub fn count_response(&mut self) {
        if let Some(responses) = &mut self.responses {
            *responses += 1;
        }
    }

    /// One more answer failed the scenario's checks.
    pub fn count_check_failure(&mut self) {
        match &mut self.check_failures {
            Some(failures) => *failures += 1,
            None => self.errors_other += 1,
        }
    }
}

impl std::ops::AddAssign<&RequestCounts> for RequestCounts {
    fn add_assign(&mut self, other: &RequestCounts) {
        self.requests += other.requests;
        self.successes += other.successes;
        self.errors_4xx += other.errors_4xx;
        self.errors_5xx += other.errors_5xx;
        self.errors_other += other.errors_other;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.responses = self.responses.zip(other.responses).map(|(a, b)| a + b);
        self.check_failures = match (self.check_failures, other.check_failures) {
            (Some(a), Some(b)) => Some(a + b),
            // Unknown on one side: as in an old file, errors_other holds them all.
            (a, b) => {
                self.errors_other += a.unwrap_or(0) + b.unwrap_or(0);
                None
            }
        };
    }
}

impl RequestsRow {
    /// The row of one endpoint's `counts` in the second starting at `timestamp`.
    pub fn new(timestamp: OffsetDateTime, endpoint: String, counts: RequestCounts) -> Self {
        RequestsRow {
            timestamp,
            endpoint,
            counts,
        }
    }
}

/// Writes `requests.csv`. It does not buffer; give it a `BufWriter` for a file.
#[derive(Debug)]
pub struct RequestsWriter<W: Write> {
    out: W,
    line: String,
}

impl<W: Write> RequestsWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> Result<Self, RunDirError> {
        writeln!(out, "{REQUESTS_HEADER}").map_err(write_error)?;
        Ok(RequestsWriter {
            out,
            line: String::with_capacity(128),
        })
    }

    /// Writes one row. Fails, writing nothing, if the endpoint name is empty or contains a
    /// comma, quote or line break, or if the timestamp is not a whole second.
    pub fn write_row(&mut self, row: &RequestsRow) -> Result<(), RunDirError> {
        if let Some(reason) = endpoint_problem(&row.endpoint) {
            return Err(unwritable("endpoint name", &row.endpoint, reason));
        }
        let ts = row.timestamp.to_offset(UtcOffset::UTC);
        if ts.nanosecond() != 0 {
            return Err(unwritable(
                "timestamp",
                &ts.to_string(),
                "rows are per whole second; truncate to the start of the second",
            ));
        }
        let ts = ts
            .format(&Rfc3339)
            .map_err(|e| unwritable("timestamp", &ts.to_string(), &e.to_string()))?;

        self.line.clear();
        let counts = &row.counts;
        write!(
            self.line,
            "{ts},{},{},{},{},{},{},{},{},",
            row.endpoint,
            counts.requests,
            counts.successes,
            counts.errors_4xx,
            counts.errors_5xx,
            counts.errors_other,
            counts.bytes_sent,
            counts.bytes_received
        )
        .expect("writing to a String cannot fail");
        // Unknown counts (a row converted from an old file) stay empty fields.
        if let Some(responses) = counts.responses {
            write!(self.line, "{responses}").expect("writing to a String cannot fail");
        }
        self.line.push(',');
        if let Some(check_failures) = counts.check_failures {
            write!(self.line, "{check_failures}").expect("writing to a String cannot fail");
        }
        self.line.push('\n');
        self.out
            .write_all(self.line.as_bytes())
            .map_err(write_error)
    }

    pub fn flush(&mut self) -> Result<(), RunDirError> {
        self.out.flush().map_err(write_error)
    }

    /// The underlying writer (not flushed: nothing is buffered here).
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn endpoint_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains([',', '"', '\r', '\n']) {
        Some("endpoint names must not contain commas, quotes or line breaks (no CSV quoting)")
    } else {
        None
    }
}

fn write_error(e: std::io::Error) -> RunDirError {
    RunDirError::io(REQUESTS_FILE, "write", e)
}

fn unwritable(what: &'static str, value: &str, reason: &str) -> RunDirError {
    RunDirError::Unwritable {
        path: REQUESTS_FILE.into(),
        what,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Column positions of the fields, found from the header.
struct Columns {
    count: usize,
    index: [usize; 9],
    /// Absent from files written before they were added.
    responses: Option<usize>,
    check_failures: Option<usize>,
}

const NAMES: [&str; 9] = [
    "timestamp",
    "endpoint",
    "requests",
    "successes",
    "errors_4xx",
    "errors_5xx",
    "errors_other",
    "bytes_sent",
    "bytes_received",
];

/// Reads a whole `requests.csv`. Errors name the line (1 is the header) and the column.
/// Blank lines are skipped; extra columns (from a newer writer) are ignored.
pub fn read_requests(r: impl BufRead) -> Result<Vec<RequestsRow>, RunDirError> {
    let mut lines = r.lines().enumerate().map(|(i, l)| (i + 1, l));
    let columns = match lines.next() {
        None => {
            return Err(malformed(
                None,
                None,
                format!("empty file; expected the header `{REQUESTS_HEADER}`"),
            ));
        }
        Some((n, line)) => parse_header(&line.map_err(|e| read_error(n, e))?)?,
    };
    let mut rows = Vec::new();
    for (n, line) in lines {
        let line = line.map_err(|e| read_error(n, e))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        rows.push(parse_row(n, line, &columns)?);
    }
    Ok(rows)
}

fn parse_header(line: &str) -> Result<Columns, RunDirError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    // A byte-order mark from a spreadsheet export is not part of the first name.
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let fields: Vec<&str> = line.split(',').collect();
    let mut index = [0; 9];
    for (slot, name) in index.iter_mut().zip(NAMES) {
        *slot = fields.iter().position(|f| *f == name).ok_or_else(|| {
            malformed(
                Some(1),
                Some(name),
                format!("missing from the header; expected `{REQUESTS_HEADER}`"),
            )
        })?;
    }
    Ok(Columns {
        count: fields.len(),
        index,
        responses: fields.iter().position(|f| *f == "responses"),
        check_failures: fields.iter().position(|f| *f == "check_failures"),
    })
}

fn parse_row(n: usize, line: &str, columns: &Columns) -> Result<RequestsRow, RunDirError> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != columns.count {
        return Err(malformed(
            Some(n),
            None,
            format!(
                "{} fields, but the header has {} (endpoint names never contain commas)",
                fields.len(),
                columns.count
            ),
        ));
    }
    let field = |i: usize| fields[columns.index[i]];
    let number = |i: usize| -> Result<u64, RunDirError> {
        field(i).parse().map_err(|_| {
            malformed(
                Some(n),
                Some(NAMES[i]),
                format!("{:?} is not a non-negative integer", field(i)),
            )
        })
    };
    let timestamp = OffsetDateTime::parse(field(0), &Rfc3339)
        .map_err(|e| {
            malformed(
                Some(n),
                Some(NAMES[0]),
                format!(
                    "{:?} is not an RFC 3339 time like 2026-11-23T00:31:05Z: {e}",
                    field(0)
                ),
            )
        })?
        .to_offset(UtcOffset::UTC);
    let endpoint = field(1);
    if endpoint.is_empty() || endpoint.contains('"') {
        return Err(malformed(
            Some(n),
            Some(NAMES[1]),
            format!("{endpoint:?}: endpoint names are non-empty and never quoted"),
        ));
    }
    // A column the file may lack, or leave empty: unknown, not 0.
    let optional = |column: Option<usize>, name: &'static str| match column.map(|i| fields[i]) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            malformed(
                Some(n),
                Some(name),
                format!("{text:?} is not a non-negative integer"),
            )
        }),
    };
    let counts = RequestCounts {
        responses: optional(columns.responses, "responses")?,
        check_failures: optional(columns.check_failures, "check_failures")?,
        requests: number(2)?,
        successes: number(3)?,
        errors_4xx: number(4)?,
        errors_5xx: number(5)?,
        errors_other: number(6)?,
        bytes_sent: number(7)?,
        bytes_received: number(8)?,
    };
    Ok(RequestsRow::new(timestamp, endpoint.to_owned(), counts))
}

fn malformed(line: Option<usize>, column: Option<&str>, message: String) -> RunDirError {
    RunDirError::malformed(REQUESTS_FILE, line, column, message)
}

fn read_error(line: usize, e: std::io::Error) -> RunDirError {
    malformed(Some(line), None, format!("cannot read: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn row(endpoint: &str) -> RequestsRow {
        RequestsRow::new(
            datetime!(2026-11-23 00:31:05 UTC),
            endpoint.to_owned(),
            RequestCounts {
                requests: 10,
                successes: 7,
                errors_4xx: 1,
                errors_5xx: 1,
                errors_other: 1,
                bytes_sent: 1234,
                bytes_received: 56789,
                responses: Some(8),
                check_failures: Some(2),
            },
        )
    }

    fn write(rows: &[RequestsRow]) -> String {
        let mut w = RequestsWriter::new(Vec::new()).unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        String::from_utf8(w.into_inner()).unwrap()
    }

    #[test]
    fn writes_the_documented_text() {
        assert_eq!(
            write(&[row("login")]),
            format!("{REQUESTS_HEADER}\n2026-11-23T00:31:05Z,login,10,7,1,1,1,1234,56789,8,2\n")
        );
    }

    #[test]
    fn refuses_names_that_would_need_quoting_and_fractional_seconds() {
        let mut w = RequestsWriter::new(Vec::new()).unwrap();
        for bad in ["", "a,b", "a\"b", "a\nb"] {
            let err = w.write_row(&row(bad)).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("requests.csv: cannot write endpoint name")
            );
        }
        let mut r = row("x");
        r.timestamp = datetime!(2026-11-23 00:31:05.5 UTC);
        assert!(w.write_row(&r).is_err());
        assert_eq!(w.into_inner(), format!("{REQUESTS_HEADER}\n").into_bytes());
    }

    #[test]
    fn reads_by_column_name_and_ignores_extra_columns() {
        let text = "endpoint,timestamp,new_column,responses,requests,successes,errors_4xx,errors_5xx,errors_other,check_failures,bytes_sent,bytes_received\r\n\
                    login,2026-11-23T01:31:05+01:00,x,8,10,7,1,1,1,2,1234,56789\r\n\r\n";
        assert_eq!(read_requests(text.as_bytes()).unwrap(), vec![row("login")]);
    }

    #[test]
    fn files_from_before_the_responses_column_read_as_unknown_responses() {
        let text = "timestamp,endpoint,requests,successes,errors_4xx,errors_5xx,errors_other,bytes_sent,bytes_received\n\
                    2026-11-23T00:31:05Z,login,10,7,1,1,1,1234,56789\n";
        let mut old = row("login");
        old.counts.responses = None;
        old.counts.check_failures = None;
        assert_eq!(read_requests(text.as_bytes()).unwrap(), vec![old.clone()]);
        // Written back, the unknown stays unknown (an empty field), not 0.
        assert_eq!(
            read_requests(write(&[old.clone()]).as_bytes()).unwrap(),
            vec![old]
        );
    }

    #[test]
    fn adding_fragments_sums_every_count_and_keeps_unknown_counts_unknown() {
        let mut sum = row("login").counts;
        sum += &row("login").counts;
        assert_eq!(
            (
                sum.requests,
                sum.successes,
                sum.errors_other,
                sum.bytes_received,
                sum.responses,
                sum.check_failures
            ),
            (20, 14, 2, 113_578, Some(16), Some(4))
        );
        assert_eq!(sum.errors(), 10);
        // An old file's row: its errors_other holds its check failures.
        let mut old = row("login").counts;
        old.responses = None;
        old.check_failures = None;
        sum += &old;
        assert_eq!(
            (sum.requests, sum.responses, sum.check_failures),
            (30, None, None)
        );
        // The known check failures move into errors_other: no error is lost.
        assert_eq!((sum.errors_other, sum.errors()), (7, 13));
        sum.count_check_failure();
        assert_eq!(sum.errors(), 14);
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = format!(
            "{REQUESTS_HEADER}\n2026-11-23T00:31:05Z,a,1,1,0,0,0,0,0,1,0\n2026-11-23T00:31:06Z,a,1,x,0,0,0,0,0,1,0\n"
        );
        let err = read_requests(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "requests.csv: line 3, column successes: \"x\" is not a non-negative integer"
        );

        let text = format!("{REQUESTS_HEADER}\nyesterday,a,1,1,0,0,0,0,0,1,0\n");
        let err = read_requests(text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("requests.csv: line 2, column timestamp:"),
            "{err}"
        );

        let text = format!("{REQUESTS_HEADER}\n2026-11-23T00:31:05Z,a,b,1,1,0,0,0,0,0,1,0\n");
        let err = read_requests(text.as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("requests.csv: line 2: 12 fields"), "{err}");

        let text = format!("{REQUESTS_HEADER}\n2026-11-23T00:31:05Z,a,1,1,0,0,0,0,0,-1,0\n");
        let err = read_requests(text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("requests.csv: line 2, column responses:"),
            "{err}"
        );

        let text = format!("{REQUESTS_HEADER}\n2026-11-23T00:31:05Z,a,1,1,0,0,0,0,0,1,many\n");
        let err = read_requests(text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("requests.csv: line 2, column check_failures:"),
            "{err}"
        );

        let err = read_requests("timestamp,endpoint\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("requests.csv: line 1, column requests: missing"),
            "{err}"
        );

        let err = read_requests("".as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("requests.csv: empty file"), "{err}");
    }

    prop_compose! {
        fn any_row()(
            secs in 0i64..4_102_444_800,
            endpoint in "[^,\"\r\n]{1,30}",
            n in prop::array::uniform7(any::<u64>()),
            responses in any::<Option<u64>>(),
            check_failures in any::<Option<u64>>(),
        ) -> RequestsRow {
            RequestsRow::new(
                OffsetDateTime::from_unix_timestamp(secs).unwrap(),
                endpoint,
                RequestCounts {
                    requests: n[0],
                    successes: n[1],
                    errors_4xx: n[2],
                    errors_5xx: n[3],
                    errors_other: n[4],
                    bytes_sent: n[5],
                    bytes_received: n[6],
                    responses,
                    check_failures,
                },
            )
        }
    }

    proptest! {
        #[test]
        fn rows_round_trip(rows in prop::collection::vec(any_row(), 0..20)) {
            let text = write(&rows);
            prop_assert_eq!(read_requests(text.as_bytes()).unwrap(), rows);
        }
    }
}
