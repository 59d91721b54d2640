//! The life of a video: `uploaded` → `processing` → `processed` (or `failed`).

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    Uploaded,
    Processing,
    Processed,
    Failed,
}

impl VideoStatus {
    pub const ALL: [Self; 4] = [
        Self::Uploaded,
        Self::Processing,
        Self::Processed,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Processed => "processed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Invalid(format!("unknown video status {raw:?}")))
    }

    /// A processed video is public: it shows in the public listing and takes votes, and its
    /// owner can no longer delete it.
    pub fn is_public(self) -> bool {
        self == Self::Processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_text() {
        for status in VideoStatus::ALL {
            assert_eq!(VideoStatus::parse(status.as_str()).unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert!(VideoStatus::parse("done").is_err());
    }
}
