//! The `filter` of `all-data` and `cert-list` requests: which parts of the response to read.
//!
//! The T1C SDK sends `?filter=a,b`; the host passes it on as `{"filter": "a,b"}`. An array
//! (`{"filter": ["a", "b"]}`, or `filters` as the SDK's object form names it) is accepted too.
//! No filter, an empty body or an empty filter means everything.

use serde_json::Value;
use t1c_sdk::{Error, Result};

/// The names in the request's filter, or `None` when it has none.
///
/// # Errors
/// [`Error::InvalidInput`] for a body that is not a JSON object, or a filter that is neither
/// a string nor an array of strings.
pub fn names(request: &str) -> Result<Option<Vec<String>>> {
    if request.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(request)
        .map_err(|err| Error::invalid_input(format!("the request is not JSON: {err}")))?;
    let Value::Object(fields) = value else {
        return Err(Error::invalid_input("the request must be a JSON object"));
    };
    let filter = fields.get("filter").or_else(|| fields.get("filters"));
    let names: Vec<String> = match filter {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(list)) => list.split(',').map(|name| name.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(|name| name.trim().to_owned()))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::invalid_input("`filter` must list strings"))?,
        Some(_) => return Err(Error::invalid_input("`filter` must be a string or an array")),
    };
    let names: Vec<String> = names.into_iter().filter(|name| !name.is_empty()).collect();
    Ok(if names.is_empty() { None } else { Some(names) })
}

/// Which of `known` the request asks for: all of them without a filter.
///
/// # Errors
/// [`Error::InvalidInput`] for a name not in `known`, and the errors of [`names`].
pub fn select<T: Copy>(request: &str, known: &[(&str, T)]) -> Result<Vec<T>> {
    let Some(names) = names(request)? else {
        return Ok(known.iter().map(|(_, item)| *item).collect());
    };
    let mut selected = Vec::new();
    for (name, item) in known {
        if names.iter().any(|wanted| wanted == name) {
            selected.push(*item);
        }
    }
    if let Some(unknown) =
        names.iter().find(|wanted| !known.iter().any(|(name, _)| name == *wanted))
    {
        let valid: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
        return Err(Error::invalid_input(format!(
            "unknown filter `{unknown}`; use {}",
            valid.join(", ")
        )));
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, u8); 3] = [("biometric", 1), ("address", 2), ("picture", 3)];

    #[test]
    fn no_filter_selects_everything() {
        for request in ["", "{}", r#"{"filter": null}"#, r#"{"filter": ""}"#] {
            assert_eq!(select(request, &KNOWN), Ok(vec![1, 2, 3]), "{request}");
        }
    }

    #[test]
    fn string_and_array_filters() {
        assert_eq!(select(r#"{"filter": "picture, biometric"}"#, &KNOWN), Ok(vec![1, 3]));
        assert_eq!(select(r#"{"filters": ["address"]}"#, &KNOWN), Ok(vec![2]));
    }

    #[test]
    fn unknown_names_and_bad_json_are_invalid_input() {
        assert!(matches!(select(r#"{"filter": "photo"}"#, &KNOWN), Err(Error::InvalidInput(_))));
        assert!(matches!(select("filter=a", &KNOWN), Err(Error::InvalidInput(_))));
        assert!(matches!(select(r#"{"filter": 3}"#, &KNOWN), Err(Error::InvalidInput(_))));
    }
}
