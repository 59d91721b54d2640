//! Standard base64 decoding for interval-log histograms.
//!
//! hdrhistogram's log parser hands back the base64 text undecoded and the crate does not
//! re-export its base64 dependency; this is the few lines we need instead of another one.

/// Decodes standard base64 (`A-Z a-z 0-9 + /`), with or without `=` padding.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, String> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return Err("more than two `=` padding characters".to_owned());
    }
    if body.len() % 4 == 1 {
        return Err(format!(
            "{} characters cannot be base64 (truncated?)",
            body.len()
        ));
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (i, c) in body.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => {
                return Err(format!(
                    "{:?} at position {} is not a base64 character",
                    char::from(c),
                    i + 1
                ));
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_known_text() {
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(encode(b"fooba"), "Zm9vYmE=");
        // The first bytes of every V2 compressed histogram: the cookie 0x1c849314.
        assert_eq!(decode("HISTFAAA").unwrap()[..4], [0x1c, 0x84, 0x93, 0x14]);
    }

    #[test]
    fn rejects_what_is_not_base64() {
        assert!(decode("Zm9v!").is_err());
        assert!(decode("Zm9vY").is_err());
        assert!(decode("Zg===").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }
}
