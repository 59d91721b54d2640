//! Passwords as signup accepts them: 8 to 128 characters, and none of the most common ones
//! (the first guesses of any attacker). Never logged (no `Debug` of the value).

use std::collections::HashSet;
use std::sync::LazyLock;

use super::Invalid;

pub struct Password(String);

/// The bundled list: common passwords of 8 or more characters, lowercase, one a line, after a
/// header of `# ` lines that names its source (a password may itself start with `#`).
const COMMON_LIST: &str = include_str!("../../data/common-passwords.txt");
/// The list leaves out shorter passwords, which the length rule refuses anyway; lowering
/// `MIN_CHARS` below this would let them through, so it does not compile.
const COMMON_LIST_MIN_CHARS: usize = 8;
const _: () = assert!(Password::MIN_CHARS >= COMMON_LIST_MIN_CHARS);

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_LIST
        .lines()
        .skip_while(|line| line.starts_with("# "))
        .filter(|line| !line.is_empty())
        .collect()
});

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(Invalid(format!(
                "the password must have between {} and {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        if is_common(raw) {
            return Err(Invalid(
                "this password is one of the most common ones, which attackers try first; \
                 choose another (a few unrelated words make a strong one)"
                    .into(),
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Case-insensitive: "PassWord123" is as guessable as "password123".
fn is_common(raw: &str) -> bool {
    COMMON.contains(raw.to_lowercase().as_str())
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_count_characters_not_bytes() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("ñññññññ").is_err());
        assert!(Password::parse("ññññññññ").is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(!format!("{:?}", Password::parse("secret-pass").unwrap()).contains("secret"));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password123",
            "qwertyuiop",
            "QwertyUIOP",
            "Password123",
            "12345678",
        ] {
            let refused = Password::parse(common).err().map(|e| e.0);
            assert!(
                refused
                    .as_deref()
                    .is_some_and(|m| m.contains("most common")),
                "{common}: {refused:?}"
            );
        }
        // A password that itself starts with '#' is a password, not part of the header.
        assert!(Password::parse("#1stunna").is_err());
    }

    #[test]
    fn uncommon_passwords_are_accepted() {
        for fine in [
            "s3cret-pass",
            "Aforo-load-test-1",
            "Aforo-bench-password-1",
            "vq7#Lm2!xR9@pZ4w",
        ] {
            assert!(Password::parse(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_bundled_list_is_read_whole() {
        assert_eq!(COMMON.len(), 8354);
        assert!(
            COMMON
                .iter()
                .all(|p| p.chars().count() >= COMMON_LIST_MIN_CHARS && *p == p.to_lowercase())
        );
    }
}
