//! Serde helpers that write timestamps as RFC 3339 in UTC, whatever offset the caller used.
//!
//! `time::serde::rfc3339` keeps the value's offset; the contract says UTC, so we convert first
//! (and normalise on reading, so values compare and print the same).

use serde::{Deserializer, Serializer};
use time::{OffsetDateTime, UtcOffset};

pub(crate) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(&t.to_offset(UtcOffset::UTC), s)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(d).map(|t| t.to_offset(UtcOffset::UTC))
}

pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        time::serde::rfc3339::option::serialize(&t.map(|t| t.to_offset(UtcOffset::UTC)), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(d).map(|t| t.map(|t| t.to_offset(UtcOffset::UTC)))
    }
}
