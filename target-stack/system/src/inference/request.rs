//! What clients send, checked once: a `/predict` body becomes [`Features`], a `/load-test`
//! duration a bounded [`Duration`]. Every refusal names the problem and the fix.

use std::time::Duration;

use serde_json::Value;

use super::dataset::FEATURES;

/// The longest `/load-test` burns CPU: below both balancers' idle timeouts (60 s local, 120 s
/// on AWS), so a load test always gets its answer.
pub const MAX_LOAD_TEST: Duration = Duration::from_secs(30);
/// `/load-test` without `duration` burns this long (seed 000's default).
pub const DEFAULT_LOAD_TEST: Duration = MAX_LOAD_TEST;

const EXAMPLE: &str = r#"send {"features": [20 numbers]}"#;

/// The 20 numbers of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Features(pub [f64; FEATURES]);

/// Why a body is not a sample: `code` is the error's stable name, `message` the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: String) -> Refused {
    Refused { code, message }
}

impl Features {
    /// Parses a `/predict` body.
    pub fn from_json(body: &[u8]) -> Result<Self, Refused> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(refused(
                "invalid_json",
                format!("the request body is empty; {EXAMPLE}"),
            ));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            refused(
                "invalid_json",
                format!("the request body is not valid JSON ({e}); {EXAMPLE}"),
            )
        })?;
        let Value::Object(object) = value else {
            return Err(refused(
                "invalid_features",
                format!("the body is {}, not an object; {EXAMPLE}", kind(&value)),
            ));
        };
        let Some(features) = object.get("features") else {
            return Err(refused(
                "invalid_features",
                format!("the body has no \"features\" field; {EXAMPLE}"),
            ));
        };
        let Value::Array(items) = features else {
            return Err(refused(
                "invalid_features",
                format!("\"features\" is {}, not a list; {EXAMPLE}", kind(features)),
            ));
        };
        if items.len() != FEATURES {
            return Err(refused(
                "wrong_feature_count",
                format!(
                    "\"features\" has {} numbers; the model takes exactly {FEATURES}",
                    items.len()
                ),
            ));
        }
        let mut row = [0.0; FEATURES];
        for (i, (item, slot)) in items.iter().zip(&mut row).enumerate() {
            // JSON numbers too large for f64 are refused by the parser above; every f64 it
            // gives is finite.
            *slot = item.as_f64().ok_or_else(|| {
                refused(
                    "invalid_features",
                    format!(
                        "features[{i}] is {}, not a number; send {FEATURES} numbers",
                        kind(item)
                    ),
                )
            })?;
        }
        Ok(Self(row))
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() <= 20 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The `duration` of `/load-test` (seconds, fractions allowed; none: the default).
pub fn load_test_duration(raw: Option<&str>) -> Result<Duration, Refused> {
    let max = MAX_LOAD_TEST.as_secs();
    let Some(raw) = raw else {
        return Ok(DEFAULT_LOAD_TEST);
    };
    let seconds: f64 = raw.trim().parse().map_err(|_| {
        refused(
            "invalid_duration",
            format!(
                "duration={raw:?} is not a number of seconds; use 0 to {max}, e.g. duration=10"
            ),
        )
    })?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(refused(
            "invalid_duration",
            format!("duration={raw} is not a number of seconds from 0 to {max}"),
        ));
    }
    if seconds > MAX_LOAD_TEST.as_secs_f64() {
        return Err(refused(
            "duration_too_long",
            format!(
                "duration={raw} is above the cap of {max} s; ask for at most {max} s, or send \
                 several requests"
            ),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(features: &str) -> Vec<u8> {
        format!(r#"{{"features": {features}}}"#).into_bytes()
    }

    #[test]
    fn twenty_numbers_are_a_sample() {
        let numbers: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        let parsed = Features::from_json(&body(&format!("[{}]", numbers.join(",")))).unwrap();
        assert_eq!(parsed.0[0], 1.0);
        assert_eq!(parsed.0[19], 20.0);
        // Other fields are ignored, as the seed's app ignores them; decimals and negatives.
        let mixed = r#"{"id": 7, "features": [-1.5, 0, 0.25, 1e3, 2, 3, 4, 5, 6, 7, 8, 9,
            10, 11, 12, 13, 14, 15, 16, 17]}"#;
        let parsed = Features::from_json(mixed.as_bytes()).unwrap();
        assert_eq!(&parsed.0[..4], &[-1.5, 0.0, 0.25, 1000.0]);
    }

    #[test]
    fn refusals_name_the_problem_and_the_fix() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"", "invalid_json", "empty"),
            (b"{\"features\": [1, 2", "invalid_json", "not valid JSON"),
            (b"[1, 2]", "invalid_features", "a list, not an object"),
            (b"{}", "invalid_features", "no \"features\" field"),
            (
                &body("\"1,2,3\""),
                "invalid_features",
                "the string \"1,2,3\", not a list",
            ),
            (
                &body("[1, 2, 3]"),
                "wrong_feature_count",
                "has 3 numbers; the model takes exactly 20",
            ),
            (
                &body(&format!("[{}]", ["1"; 21].join(","))),
                "wrong_feature_count",
                "has 21",
            ),
            (
                &body(&format!("[\"a\", {}]", ["1"; 19].join(","))),
                "invalid_features",
                "features[0] is the string \"a\", not a number",
            ),
            (
                &body(&format!("[{}, null]", ["1"; 19].join(","))),
                "invalid_features",
                "features[19] is null",
            ),
            (
                &body(&format!("[1e999, {}]", ["1"; 19].join(","))),
                "invalid_json",
                "not valid JSON",
            ),
        ];
        for (input, code, words) in cases {
            let err = Features::from_json(input).unwrap_err();
            assert_eq!(err.code, *code, "{}", String::from_utf8_lossy(input));
            assert!(err.message.contains(words), "{}", err.message);
            assert!(
                err.message.contains("send") || err.message.contains("takes exactly"),
                "the fix is in the message: {}",
                err.message
            );
        }
    }

    #[test]
    fn load_test_durations_are_bounded_by_the_cap() {
        assert_eq!(load_test_duration(None).unwrap(), DEFAULT_LOAD_TEST);
        assert_eq!(load_test_duration(Some("0")).unwrap(), Duration::ZERO);
        assert_eq!(
            load_test_duration(Some("0.5")).unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(load_test_duration(Some("30")).unwrap(), MAX_LOAD_TEST);
        let err = load_test_duration(Some("31")).unwrap_err();
        assert_eq!(err.code, "duration_too_long");
        assert!(err.message.contains("cap of 30 s"), "{}", err.message);
        for bad in ["-1", "ten", "", "NaN", "inf"] {
            let err = load_test_duration(Some(bad)).unwrap_err();
            assert_eq!(err.code, "invalid_duration", "{bad}: {}", err.message);
        }
    }
}
