//! The scenario catalogue: what aforo's load generator can run against a target.
//!
//! - [`scenario1`]: escenario 1 of the course, the web layer (users, weighted API steps);
//! - [`get`]: one GET, for calibration;
//! - [`profile`]: the load shapes (smoke, ramp, sustained, search) and the time scale;
//! - [`contract`]: the target's API details, overridable for other teams' implementations;
//! - [`mp4`]: valid, decodable MP4 payloads of any size, made in-process;
//! - [`record`]: how requests are timed and reported.
//!
//! Scenarios send HTTP through [`record::Exchange`] and know nothing of Goose, histograms
//! or files: the load generator drives them and records what they report.

pub mod contract;
pub mod get;
pub mod mp4;
pub mod profile;
pub mod record;
pub mod scenario1;

/// A scenario's entry in `loadgen list`.
#[derive(Debug, Clone, Copy)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub summary: &'static str,
    /// `--param` keys with their defaults and meaning.
    pub params: &'static [(&'static str, &'static str, &'static str)],
}

pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "scenario1",
        summary: "escenario 1, web layer: each user signs up and logs in, then loops over \
                  weighted steps (upload, list_videos, get_video, public_videos, vote, rankings)",
        params: &[
            (
                "upload_size",
                "1MB",
                "size of each uploaded MP4 (a valid, decodable file made in-process)",
            ),
            (
                "weights",
                "upload:10,list_videos:25,get_video:20,public_videos:20,vote:15,rankings:10",
                "relative weights of the steps; name only those that change",
            ),
        ],
    },
    CatalogueEntry {
        name: "get",
        summary: "one GET of one path: calibration and quick checks",
        params: &[("path", "/health", "the path to GET")],
    },
];

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
}
