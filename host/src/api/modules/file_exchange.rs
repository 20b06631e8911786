//! Operations of modules with the `files` capability (`fileexchange`): the module runs with the
//! file exchange of the calling application, a multipart request's file is received whole
//! (bounded by `[server] max_upload_bytes`) before the module stores it, and a file the module
//! chose to send is streamed back as the response body instead of the JSON envelope.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use t1c_runtime::{FileCall, LoadedModule, Outgoing};

use super::Answer;
use super::extension::{answer_json, declared_without_device, request_object};
use crate::api::AppState;
use crate::api::error::{ApiError, ErrorKind};
use crate::api::guard::Caller;
use crate::file_exchange::{Spool, SpoolError, SpoolWriter};
use crate::files::FileReader;

/// Text fields of a multipart form, at most.
const MAX_FORM_FIELDS: usize = 64;
/// Bytes of one text field, at most.
const MAX_FORM_FIELD_BYTES: usize = 64 * 1024;
/// Bytes read from a file per piece of the response body (each read of tokio's file is a trip
/// to a blocking thread).
const SEND_BYTES: usize = 512 * 1024;
/// Bytes of a form besides its fields' contents (boundaries, part headers), at most.
const FORM_OVERHEAD_BYTES: u64 = 256 * 1024;

/// What an operation of a file module answered: JSON, or a file.
pub(super) enum FileAnswer {
    /// The JSON `data` of the envelope.
    Json(Answer),
    /// A file to stream, and the use case to count.
    File { file: Outgoing, use_case: String },
}

/// The application a request comes from: the JWT's label, else the page's origin.
///
/// # Errors
/// [`ErrorKind::Forbidden`] when the request names neither.
fn application(caller: &Caller, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(label) = caller.label.as_deref().filter(|l| !l.is_empty()) {
        return Ok(label.to_owned());
    }
    let origin = super::origin(headers);
    if origin.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "file exchange needs to know the calling application: a JWT with a label, or a page's Origin",
        ));
    }
    Ok(origin)
}

/// Runs the operation `name` of the file module `module` for the caller.
pub(super) async fn run(
    state: &AppState,
    caller: &Caller,
    module: Arc<LoadedModule>,
    name: &str,
    query: &std::collections::BTreeMap<String, String>,
    request: Request,
) -> Result<FileAnswer, ApiError> {
    let declared = declared_without_device(&module, name, request.method())?;
    let application = application(caller, request.headers())?;
    let exchange = state.file_exchange().clone();
    // A received file holds a blocking thread and up to `max_file_bytes` of disk until the
    // module stored it: only a few at once.
    let mut transfer = None;
    let (json, incoming) = if is_multipart(request.headers()) {
        transfer = Some(exchange.start_transfer().ok_or_else(|| {
            ApiError::new(ErrorKind::Busy, "too many files are being received; try again")
        })?);
        let (fields, spool) = read_form(request, &exchange).await?;
        let mut object = fields;
        for (key, value) in query {
            object.entry(key.clone()).or_insert_with(|| Value::String(value.clone()));
        }
        (Value::Object(object).to_string(), Some(spool))
    } else {
        let body = Bytes::from_request(request, &()).await.map_err(super::body_error)?;
        (request_object(&body, query)?, None)
    };
    let runtime = tokio::runtime::Handle::current();
    let operation = declared.name.clone();
    let (answer, outgoing) = tokio::task::spawn_blocking(move || {
        let access = exchange.for_application(&application, runtime);
        let call = FileCall {
            access: Box::new(access),
            incoming: incoming.map(|spool| Box::new(spool) as t1c_runtime::Content),
        };
        module.invoke_with_files(call, &operation, &json)
    })
    .await
    .map_err(|err| {
        tracing::error!(module = %declared.name, "the file exchange call ended abnormally: {err}");
        ApiError::new(ErrorKind::Internal, "the module call was cancelled")
    })??;
    drop(transfer);
    match outgoing {
        Some(file) => Ok(FileAnswer::File { file, use_case: declared.use_case }),
        None => Ok(FileAnswer::Json(Answer {
            data: answer_json(&answer)?,
            use_case: declared.use_case,
        })),
    }
}

/// The file as the response: its bytes, streamed from the open file.
pub(super) fn file_response(file: Outgoing) -> Result<Response, ApiError> {
    let reader = file.content.downcast::<FileReader>().map_err(|_| {
        ApiError::new(ErrorKind::Internal, "the module's file is not held by this connector")
    })?;
    // The length of the open file, and never more than it: a file replaced or growing while it
    // is sent still matches its Content-Length.
    let length = reader.len();
    let stream = ReaderStream::with_capacity(
        tokio::fs::File::from_std(reader.into_std()).take(length),
        SEND_BYTES,
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(file.entry.name())) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `attachment; filename*=UTF-8''...` (RFC 6266 / RFC 8187), every byte outside the
/// unreserved set percent-encoded.
fn content_disposition(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename*=UTF-8''{encoded}")
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads a multipart form: its text fields (a field given twice becomes an array) and its one
/// file, received whole into a spool file.
async fn read_form(
    request: Request,
    exchange: &crate::file_exchange::FileExchange,
) -> Result<(Map<String, Value>, Spool), ApiError> {
    let bad = |message: String| ApiError::new(ErrorKind::BadRequest, message);
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| bad("the multipart body has no boundary".to_owned()))?;
    let stream = request.into_body().into_data_stream();
    // The whole body is bounded too: multer holds what it reads while it looks for a boundary.
    let limit = exchange
        .max_file_bytes()
        .saturating_add((MAX_FORM_FIELDS * MAX_FORM_FIELD_BYTES) as u64)
        .saturating_add(FORM_OVERHEAD_BYTES);
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limit).per_field(limit));
    let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut fields = Map::new();
    let mut spool: Option<Spool> = None;
    let mut count = 0usize;
    while let Some(mut field) = form.next_field().await.map_err(|e| form_error(&e))? {
        count += 1;
        if count > MAX_FORM_FIELDS + 1 {
            return Err(bad(format!("the form has more than {MAX_FORM_FIELDS} fields")));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() || name == "file" {
            if spool.is_some() {
                return Err(bad("the form has more than one file".to_owned()));
            }
            let mut writer = SpoolWriter::create(exchange.spool_dir(), exchange.max_file_bytes())
                .map_err(spool_error)?;
            while let Some(chunk) = field.chunk().await.map_err(|e| form_error(&e))? {
                writer.write(&chunk).await.map_err(spool_error)?;
            }
            spool = Some(writer.finish().await.map_err(spool_error)?);
            continue;
        }
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| form_error(&e))? {
            if text.len() + chunk.len() > MAX_FORM_FIELD_BYTES {
                return Err(bad(format!(
                    "the form field `{name}` is longer than {MAX_FORM_FIELD_BYTES} bytes"
                )));
            }
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(text)
            .map_err(|_| bad(format!("the form field `{name}` is not UTF-8 text")))?;
        match fields.get_mut(&name) {
            None => {
                fields.insert(name, Value::String(text));
            }
            Some(Value::Array(values)) => values.push(Value::String(text)),
            Some(first) => {
                let first = first.take();
                fields.insert(name, Value::Array(vec![first, Value::String(text)]));
            }
        }
    }
    let spool = spool.ok_or_else(|| bad("the form has no file".to_owned()))?;
    Ok((fields, spool))
}

fn form_error(err: &multer::Error) -> ApiError {
    match err {
        multer::Error::StreamSizeExceeded { limit }
        | multer::Error::FieldSizeExceeded { limit, .. } => ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("the form is larger than the limit of {limit} bytes"),
        ),
        _ => {
            ApiError::new(ErrorKind::BadRequest, format!("the multipart body is malformed: {err}"))
        }
    }
}

fn spool_error(err: SpoolError) -> ApiError {
    match err {
        SpoolError::TooLarge { .. } => ApiError::new(ErrorKind::PayloadTooLarge, err.to_string()),
        SpoolError::NoSpace => ApiError::new(ErrorKind::Internal, err.to_string()),
        SpoolError::Io(ref io) => {
            tracing::error!("cannot receive a file: {io}");
            ApiError::new(ErrorKind::Internal, "the file could not be received")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_encoded_in_the_disposition() {
        assert_eq!(content_disposition("a b.pdf"), "attachment; filename*=UTF-8''a%20b.pdf");
        assert_eq!(content_disposition("é\"x"), "attachment; filename*=UTF-8''%C3%A9%22x");
    }
}
