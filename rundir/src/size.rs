//! Sizes, durations, rates and shares as people write them on command lines (`50MB`,
//! `1m30s`, `6/min`, `5%`).

use std::time::Duration;

/// Parses sizes like `512KB`, `1MB`, `100MiB`, `2000000` (bytes). KB/MB/GB are decimal,
/// KiB/MiB/GiB binary.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("size {text:?} must be a number with an optional unit (KB, MB, MiB, …)")
    })?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    Ok((value * factor).round() as u64)
}

/// The longest duration a command line may give: ten years. Anything longer is a typo, and
/// larger values overflow the clocks they are added to or subtracted from.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses `30s`, `5m`, `1h`, `250ms`, `1m30s`, `800us` (at most [`MAX_DURATION`]): every
/// duration a command line, a threshold or a file gives.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration; write it like 30s, 5m, 1m30s or 250ms".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("duration {text:?} needs a unit (us, ms, s, m, h)"))?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("duration {text:?}: {number:?} is not a number"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "us" | "µs" => value / 1e6,
            "ms" => value / 1000.0,
            "s" => value,
            "m" | "min" => value * 60.0,
            "h" => value * 3600.0,
            other => {
                return Err(format!(
                    "duration {text:?}: unknown unit {other:?} (use us, ms, s, m, h)"
                ));
            }
        };
        total = Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|part| total.checked_add(part))
            .filter(|sum| *sum <= MAX_DURATION)
            .ok_or_else(|| {
                format!(
                    "duration {text:?} is too long: the longest accepted is 87600h (ten years); \
                     write a window like 30m, 1h or 24h"
                )
            })?;
        rest = next;
    }
    Ok(total)
}

/// `R`, `R/s` or `R/min` → per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, per) = match t.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("rate {text:?} must be a number with an optional /s or /min"))?;
    let seconds = match per {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown rate unit /{other} in {text:?}; use /s or /min"
            ));
        }
    };
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!("rate {text:?} must be above 0"));
    }
    Ok(value / seconds)
}

/// `5%` or `0.05` → 0.05: shares (error rates) as people write them.
/// A duration in milliseconds, as exact as the duration (`700ms` is 700, where
/// `as_secs_f64() * 1000.0` gives 700.0000000000001).
pub fn millis(duration: Duration) -> f64 {
    duration.as_nanos() as f64 / 1e6
}

/// A share as [`parse_percent`] reads it: 0.07 is `7%` (not `7.000000000000001%`).
pub fn percent_text(share: f64) -> String {
    format!("{}%", (share * 100.0 * 1e9).round() / 1e9)
}

pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a share; write it like 5% or 0.05"))?;
    let share = value / scale;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("{text:?} must lie between 0% and 100%"));
    }
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("100MiB").unwrap(), 104_857_600);
        assert_eq!(parse_size("2.5kb").unwrap(), 2_500);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert!(parse_size("MB").is_err());
        assert!(parse_size("3 parsecs").unwrap_err().contains("unit"));
    }

    #[test]
    fn rates_and_shares_read_like_people_write_them() {
        assert_eq!(parse_rate("6/min").unwrap(), 0.1);
        assert_eq!(parse_rate("50").unwrap(), 50.0);
        assert!(parse_rate("5/week").unwrap_err().contains("/week"));
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_percent("5%").unwrap(), 0.05);
        assert_eq!(parse_percent("0.25").unwrap(), 0.25);
        assert!(parse_percent("150%").is_err());
        assert!(parse_percent("lots").unwrap_err().contains("5%"));
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("800us").unwrap(), Duration::from_micros(800));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("30").unwrap_err().contains("unit"));
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn durations_too_long_for_a_clock_are_refused_not_panicked_on() {
        for text in ["99999999999999999999s", "1000000000h", "87601h"] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                error.contains("too long") || error.contains("not a number"),
                "{text}: {error}"
            );
        }
        assert_eq!(parse_duration("87600h").unwrap(), MAX_DURATION);
    }

    /// What people write reads back as they wrote it: no binary-fraction noise.
    #[test]
    fn milliseconds_and_percentages_are_written_as_given() {
        for (text, ms) in [
            ("700ms", 700.0),
            ("0.7s", 700.0),
            ("1s", 1000.0),
            ("250us", 0.25),
        ] {
            assert_eq!(millis(parse_duration(text).unwrap()), ms, "{text}");
        }
        for text in ["7%", "3.5%", "5%", "0.1%", "100%", "0%"] {
            assert_eq!(percent_text(parse_percent(text).unwrap()), text);
        }
    }
}
