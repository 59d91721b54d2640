//! `RunId`: the name of a run and of its directory, safe to use as a path component.
//!
//! Generated ids start with the UTC start time, so sorting ids sorts runs by start.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset};

use crate::RunDirError;

/// The longest run id; keeps directory names well inside every file system's limit.
const MAX_LEN: usize = 128;

/// A run id: 1 to 128 characters of `[A-Za-z0-9._-]`, not `.` or `..`, so it is always one
/// path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

/// The part of a run id people read: a generated id's random suffix
/// (`20261204T002254Z-scenario1-65e3` → `65e3`, and the cells scenario 2 names after it,
/// `…-scenario2-86f3-50MB-c1-sustained` → `86f3`), or the whole id when it was not made by
/// [`RunId::generate`] (a name of the user's own). The suffix is the first segment of four
/// hex digits after the scenario's first segment.
pub fn short_run_id(id: &str) -> &str {
    let mut segments = id.split('-');
    let generated = segments.next().is_some_and(is_stamp);
    generated
        .then(|| {
            segments
                .skip(1)
                .find(|s| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .flatten()
        .unwrap_or(id)
}

/// A time as run ids write it, `YYYYMMDDTHHMMSSZ` in UTC: the stamp of every file name
/// aforo makes from a time.
pub fn stamp(started: OffsetDateTime) -> String {
    let compact = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    started
        .to_offset(UtcOffset::UTC)
        .format(&compact)
        .expect("a UTC time has every component of the stamp")
}

fn is_stamp(segment: &str) -> bool {
    segment.len() == 16 && segment.as_bytes()[8] == b'T' && segment.ends_with('Z')
}

impl RunId {
    /// The name a fleet's generators share, which the analyzer merges their runs under:
    /// `<UTC start as YYYYMMDDTHHMMSSZ>-<scenario>-fleet`.
    pub fn fleet(started: OffsetDateTime, scenario: &str) -> String {
        let scenario: String = scenario
            .chars()
            .map(|c| if is_allowed(c) { c } else { '-' })
            .collect();
        format!("{}-{scenario}-fleet", stamp(started))
    }

    /// `<UTC start as YYYYMMDDTHHMMSSZ>-<scenario>-<4 lowercase hex>`, e.g.
    /// `20261123T003105Z-scenario1-a3f9`.
    ///
    /// Characters of `scenario` outside `[A-Za-z0-9._-]` become `-` and it is shortened to fit,
    /// so any scenario name gives a valid id. The suffix tells apart runs started in the same
    /// second; it is not cryptographically random.
    pub fn generate(started: OffsetDateTime, scenario: &str) -> RunId {
        let stamp = stamp(started);
        // Room for the stamp, two dashes and the suffix.
        let room = MAX_LEN - stamp.len() - 2 - 4;
        let mut scenario: String = scenario
            .chars()
            .map(|c| if is_allowed(c) { c } else { '-' })
            .take(room)
            .collect();
        if scenario.is_empty() {
            scenario.push_str("run");
        }
        RunId(format!("{stamp}-{scenario}-{:04x}", random_u16()))
    }

    /// Accepts only `[A-Za-z0-9._-]`, 1 to 128 characters, and neither `.` nor `..`.
    pub fn parse(s: &str) -> Result<RunId, RunDirError> {
        let invalid = |reason| RunDirError::InvalidRunId {
            value: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        if s.len() > MAX_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if s == "." || s == ".." {
            return Err(invalid("`.` and `..` are not directory names"));
        }
        if !s.chars().all(is_allowed) {
            return Err(invalid(
                "only letters, digits, `.`, `_` and `-` are allowed (it names a directory)",
            ));
        }
        Ok(RunId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A few random bits without a `rand` dependency: std's `RandomState` is seeded from the OS
/// once per thread and advanced per instance; the clock, process id and a counter make
/// collisions within one process impossible in practice too.
fn random_u16() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 48) as u16
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RunId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RunId, D::Error> {
        let s = String::deserialize(d)?;
        RunId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn generate_has_the_documented_shape() {
        let id = RunId::generate(datetime!(2026-11-23 01:31:05 +01:00), "scenario1");
        let s = id.as_str();
        assert!(s.starts_with("20261123T003105Z-scenario1-"), "{s}");
        let suffix = &s["20261123T003105Z-scenario1-".len()..];
        assert_eq!(suffix.len(), 4);
        assert!(suffix.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    }

    #[test]
    fn a_fleet_is_named_by_its_start_and_scenario_and_its_short_id_is_whole() {
        let fleet = RunId::fleet(datetime!(2026-12-01 18:00:00 +01:00), "scenario1");
        assert_eq!(fleet, "20261201T170000Z-scenario1-fleet");
        assert!(RunId::parse(&fleet).is_ok());
        assert_eq!(short_run_id(&fleet), fleet, "no random part to shorten to");
    }

    #[test]
    fn generate_makes_odd_scenario_names_safe() {
        let t = datetime!(2026-11-23 00:31:05 UTC);
        let id = RunId::generate(t, "../my scenario/ü");
        assert!(id.as_str().starts_with("20261123T003105Z-..-my-scenario--"));
        assert!(RunId::generate(t, "").as_str().contains("-run-"));
        assert_eq!(RunId::generate(t, &"x".repeat(500)).as_str().len(), MAX_LEN);
    }

    #[test]
    fn generated_ids_differ() {
        let t = datetime!(2026-11-23 00:31:05 UTC);
        let ids: std::collections::HashSet<_> = (0..32).map(|_| RunId::generate(t, "s")).collect();
        // 32 draws of 16 bits: a few collisions are possible, all-equal is not.
        assert!(ids.len() > 16, "{ids:?}");
    }

    #[test]
    fn parse_rejects_what_is_not_one_path_component() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "/abs",
            "a b",
            "ü",
            "a:b",
            &"x".repeat(129),
        ] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "...",
            "20261123T003105Z-scenario1-a3f9",
            &"x".repeat(128),
        ] {
            assert_eq!(RunId::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let id: RunId = serde_json::from_str("\"abc-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc-1\"");
        let err = serde_json::from_str::<RunId>("\"../etc\"").unwrap_err();
        assert!(err.to_string().contains("invalid run id"), "{err}");
    }

    proptest! {
        #[test]
        fn generated_ids_parse_back(secs in 0i64..4_102_444_800, scenario in ".{0,200}") {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let id = RunId::generate(t, &scenario);
            let parsed = RunId::parse(id.as_str()).unwrap();
            prop_assert_eq!(&parsed, &id);
            prop_assert_eq!(parsed.to_string(), id.as_str());
        }

        #[test]
        fn valid_strings_round_trip(s in "[A-Za-z0-9._-]{1,128}") {
            prop_assume!(s != "." && s != "..");
            let id = RunId::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
        }

        #[test]
        fn path_separators_are_rejected(
            a in "[A-Za-z0-9._-]{0,20}",
            sep in prop::sample::select(vec!['/', '\\']),
            b in "[A-Za-z0-9._-]{0,20}",
        ) {
            let s = format!("{a}{sep}{b}");
            prop_assert!(RunId::parse(&s).is_err());
        }
    }

    #[test]
    fn the_short_id_is_a_generated_ids_suffix_whatever_dashes_its_scenario_has() {
        assert_eq!(short_run_id("20261204T002254Z-scenario1-65e3"), "65e3");
        assert_eq!(
            short_run_id("20261205T063534Z-scenario2-86f3-50MB-c1-sustained"),
            "86f3"
        );
        let generated = RunId::generate(OffsetDateTime::UNIX_EPOCH, "my-file-scenario");
        assert_eq!(short_run_id(generated.as_str()).len(), 4);
        // Not generated: shown whole, never a fragment.
        assert_eq!(short_run_id("baseline-run"), "baseline-run");
        assert_eq!(short_run_id("a-b-c0de"), "a-b-c0de");
        // Sixteen characters but no `T`: not a stamp.
        assert_eq!(
            short_run_id("202612011700000Z-x-65e3"),
            "202612011700000Z-x-65e3"
        );
    }
}
