//! Sizes as people write them on command lines and in manifests (`50MB`, `100MiB`).

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
