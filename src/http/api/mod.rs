//! JSON handlers under `/api/v1`, one file per resource.

pub mod admin;
pub mod auth;
pub mod health;
pub mod incidents;
pub mod insights;
pub mod me;
pub mod posts;
pub mod search;
pub mod stream;
pub mod tags;
pub mod trends;
pub mod users;

/// For `#[serde(deserialize_with = "present")]` on an `Option<Option<T>>` field: tells a
/// field sent as `null` (`Some(None)`, "clear it") from one left out (`None`, "keep it").
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
