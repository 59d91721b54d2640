//! Passwords as signup accepts them: 8 to 128 characters. Never logged (no `Debug` of the value).

use super::Invalid;

pub struct Password(String);

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
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
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
}
