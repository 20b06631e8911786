//! What the OpenAPI document says about input text: the same rules as [`crate::catalog`] and
//! [`crate::installers`], as JSON Schema patterns, so a client (and the schema fuzzer) knows
//! what will be accepted. Documentation types only: handlers take plain strings and the
//! catalog's checks decide.

use utoipa::ToSchema;

/// A string schema with `pattern` and length bounds.
fn text(
    pattern: &str,
    min_length: usize,
    max_length: usize,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
        .min_length(Some(min_length))
        .max_length(Some(max_length))
        .into()
}

/// A registered domain (`https://shop.example`): an https origin, http only for loopback
/// (checked by [`crate::catalog::origin`]).
pub struct Origin;

impl utoipa::PartialSchema for Origin {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // No pattern: what URL parsing accepts as an origin is richer than a portable regex.
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(8))
            .max_length(Some(256))
            .into()
    }
}

impl ToSchema for Origin {}

/// A billing tag: 1 to 64 printable characters.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text(r"^[^\x00-\x1f\x7f-\x9f]{1,64}$", 1, 64)
    }
}

impl ToSchema for Tag {}

/// An installer platform in a download path.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum PlatformName {
    /// Windows, 32-bit.
    Win32,
    /// Windows, 64-bit.
    Win64,
    /// Linux and other Unix desktops.
    Unix,
    /// macOS, Intel.
    Macos,
    /// macOS, Apple silicon.
    Macosarm,
}

/// Accepts a whole number written as an integer or as a float with no fraction (`1.0`), as JSON
/// Schema's `integer` allows; anything else is a deserialisation error.
pub fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize as _;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            // Exact: |f| < 2^53 and no fraction.
            #[allow(clippy::cast_possible_truncation)]
            Ok(Some(f as i64))
        }
        _ => Err(serde::de::Error::custom("expected a whole number of seconds")),
    }
}
