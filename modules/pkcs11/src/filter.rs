//! The `filter` of `cert-list`: which roles to return. t1c-sdk-js sends `?filter=a,b`, which the
//! host passes on as `{"filter": "a,b"}`; an array (`filter` or `filters`) is accepted too. No
//! filter means every role.

use serde_json::Value;
use t1c_sdk::{Error, Result};

/// The items of `known` the request's filter names, in `known`'s order; all without a filter.
///
/// # Errors
/// [`Error::InvalidInput`] for a request that is not a JSON object, a malformed filter, or a
/// name not in `known`.
pub fn select<T: Copy>(request: &str, known: &[(&str, T)]) -> Result<Vec<T>> {
    let all = || known.iter().map(|(_, item)| *item).collect();
    if request.trim().is_empty() {
        return Ok(all());
    }
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(request) else {
        return Err(Error::invalid_input("the request must be a JSON object"));
    };
    let names: Vec<String> = match fields.get("filter").or_else(|| fields.get("filters")) {
        None | Some(Value::Null) => return Ok(all()),
        Some(Value::String(list)) => list.split(',').map(|n| n.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(|n| n.trim().to_owned()))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::invalid_input("`filter` must list strings"))?,
        Some(_) => return Err(Error::invalid_input("`filter` must be a string or an array")),
    };
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Ok(all());
    }
    if let Some(unknown) = names.iter().find(|n| !known.iter().any(|(name, _)| name == *n)) {
        return Err(Error::invalid_input(format!("unknown filter `{unknown}`")));
    }
    Ok(known.iter().filter(|(name, _)| names.iter().any(|n| n == name)).map(|(_, i)| *i).collect())
}
