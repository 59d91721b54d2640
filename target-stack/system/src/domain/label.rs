//! Short human text: names, cities, countries, video titles. Trimmed, non-empty, bounded,
//! no control characters.

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    FirstName,
    LastName,
    City,
    Country,
    Title,
}

impl LabelKind {
    fn field(self) -> &'static str {
        match self {
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::City => "city",
            Self::Country => "country",
            Self::Title => "title",
        }
    }

    fn max_chars(self) -> usize {
        match self {
            Self::Title => 200,
            _ => 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(kind: LabelKind, raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        let field = kind.field();
        if text.is_empty() {
            return Err(Invalid(format!("{field} must not be empty")));
        }
        if text.chars().count() > kind.max_chars() {
            return Err(Invalid(format!(
                "{field} must have at most {} characters",
                kind.max_chars()
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(Invalid(format!(
                "{field} must not contain control characters"
            )));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            Label::parse(LabelKind::City, "  Bogotá ").unwrap().as_str(),
            "Bogotá"
        );
        assert!(Label::parse(LabelKind::City, "   ").is_err());
        assert!(Label::parse(LabelKind::Title, &"t".repeat(201)).is_err());
        assert!(Label::parse(LabelKind::Title, &"t".repeat(200)).is_ok());
        let err = Label::parse(LabelKind::Title, "a\u{0}b").unwrap_err();
        assert!(err.0.contains("title"));
    }

    proptest! {
        #[test]
        fn an_accepted_label_is_accepted_again_unchanged(raw in "\\PC{0,120}") {
            if let Ok(label) = Label::parse(LabelKind::FirstName, &raw) {
                let again = Label::parse(LabelKind::FirstName, label.as_str()).unwrap();
                prop_assert_eq!(again, label);
            }
        }
    }
}
