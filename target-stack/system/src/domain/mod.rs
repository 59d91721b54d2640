//! Typed domain values. Each has a private field and one fallible constructor, so a value
//! of the type is valid by construction and handlers never re-check it.

mod email;
mod label;
mod mp4;
mod page;
mod password;
mod video_status;

pub use email::Email;
pub use label::{Label, LabelKind};
pub use mp4::{Mp4Structure, NotAVideo, check_mp4};
pub use page::Page;
pub use password::Password;
pub use video_status::VideoStatus;

/// Why a raw value was refused, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);
