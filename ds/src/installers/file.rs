//! Serving an installer file from the installers directory: validators, ranges, streaming.
//!
//! Multiple ranges are answered with the whole file (200): installers are fetched whole or
//! resumed from one offset, and RFC 9110 lets a server ignore `Range`, which spares us
//! `multipart/byteranges`.

use std::io::SeekFrom;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_range_header::{EndPosition, RangeUnsatisfiableError, StartPosition};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{InstallerError, content_disposition, resolve};

/// The largest piece read from disk and handed to the connection at a time.
pub(super) const CHUNK: usize = 64 * 1024;

pub(super) async fn serve(
    root: &Path,
    relative: &Path,
    request: &HeaderMap,
    download_name: &str,
) -> Result<Response, InstallerError> {
    let path = resolve(root, relative).await?;
    let mut file = tokio::fs::File::open(&path).await.map_err(|error| {
        tracing::warn!(path = %path.display(), %error, "cannot open installer file");
        if error.kind() == std::io::ErrorKind::NotFound {
            InstallerError::NotFound
        } else {
            InstallerError::Io(error)
        }
    })?;
    // The validators come from the open handle, so they describe the bytes we send.
    let metadata = file.metadata().await?;
    let len = metadata.len();
    let validators = Validators::of(&metadata);

    if let Some(tags) = text(request, &header::IF_NONE_MATCH)
        && validators.none_match_fails(tags)
    {
        return validators
            .headers(Response::builder().status(StatusCode::NOT_MODIFIED))
            .body(Body::empty())
            .map_err(unbuildable);
    }

    let builder = validators
        .headers(Response::builder())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, content_disposition(download_name))
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");

    let response = match wanted(request, len, &validators) {
        Wanted::Whole => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .body(stream(file, len)),
        Wanted::Slice { first, last } => {
            file.seek(SeekFrom::Start(first)).await?;
            let count = last - first + 1;
            builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_LENGTH, count)
                .header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}"))
                .body(stream(file, count))
        }
        Wanted::Unsatisfiable => builder
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .body(Body::empty()),
    };
    response.map_err(unbuildable)
}

/// Every header we set is built from valid parts, so building cannot fail; should it, it is
/// our fault (500), not a panic.
pub(super) fn unbuildable(error: axum::http::Error) -> InstallerError {
    InstallerError::Io(std::io::Error::other(error))
}

/// `count` bytes from the file's current position, in chunks of at most [`CHUNK`].
fn stream(file: tokio::fs::File, count: u64) -> Body {
    Body::from_stream(ReaderStream::with_capacity(file.take(count), CHUNK))
}

/// What part of the file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Whole,
    /// Bytes `first..=last`, both within the file.
    Slice {
        first: u64,
        last: u64,
    },
    Unsatisfiable,
}

/// Reads `Range` and `If-Range` against a file of `len` bytes.
fn wanted(request: &HeaderMap, len: u64, validators: &Validators) -> Wanted {
    let Some(range) = text(request, &header::RANGE) else {
        return Wanted::Whole;
    };
    if let Some(condition) = text(request, &header::IF_RANGE)
        && !validators.if_range_holds(condition)
    {
        return Wanted::Whole;
    }
    let parsed = match http_range_header::parse_range_header(range) {
        Ok(parsed) => parsed,
        // `bytes=-0` asks for nothing: unsatisfiable, not malformed.
        Err(RangeUnsatisfiableError::ZeroSuffix) => return Wanted::Unsatisfiable,
        Err(_) => return Wanted::Whole,
    };
    let [single] = parsed.ranges.as_slice() else {
        return Wanted::Whole;
    };
    let (first, last) = match (single.start, single.end) {
        (StartPosition::Index(first), EndPosition::Index(last)) if last < first => {
            // Syntactically invalid (RFC 9110 14.1.1): ignore the header.
            return Wanted::Whole;
        }
        (StartPosition::Index(first), EndPosition::Index(last)) => (first, last),
        (StartPosition::Index(first), EndPosition::LastByte) => (first, u64::MAX),
        // A suffix longer than the file means the whole file.
        (StartPosition::FromLast(n), _) => (len.saturating_sub(n), u64::MAX),
    };
    if len == 0 || first >= len {
        return Wanted::Unsatisfiable;
    }
    Wanted::Slice { first, last: last.min(len - 1) }
}

/// The file's `ETag` and `Last-Modified`.
#[derive(Debug, Clone)]
struct Validators {
    /// Strong, quoted: `"<32 hex>"`.
    etag: String,
    /// An IMF-fixdate.
    last_modified: String,
}

impl Validators {
    /// From length, modification time in nanoseconds and inode (where the platform has one):
    /// replacing or rewriting the file changes at least one of them.
    fn of(metadata: &std::fs::Metadata) -> Validators {
        let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
        let nanos = modified.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(metadata);
        #[cfg(not(unix))]
        let inode = 0u64;
        let digest = Sha256::new()
            .chain_update(metadata.len().to_le_bytes())
            .chain_update(nanos.to_le_bytes())
            .chain_update(inode.to_le_bytes())
            .finalize();
        let short = digest.get(..16).unwrap_or(&digest[..]);
        Validators {
            etag: format!("\"{}\"", hex::encode(short)),
            last_modified: http_date(modified),
        }
    }

    fn headers(&self, builder: axum::http::response::Builder) -> axum::http::response::Builder {
        builder.header(header::ETAG, &self.etag).header(header::LAST_MODIFIED, &self.last_modified)
    }

    /// `If-None-Match` fails (answer 304) when it is `*` or lists our tag, compared weakly.
    fn none_match_fails(&self, tags: &str) -> bool {
        tags.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag.as_str())
    }

    /// `If-Range` holds when it is our entity tag (strong comparison, so never a `W/` one) or
    /// exactly our `Last-Modified` date.
    fn if_range_holds(&self, condition: &str) -> bool {
        let condition = condition.trim();
        condition == self.etag || condition == self.last_modified
    }
}

/// A header as text; `None` when absent or not visible ASCII.
fn text<'a>(request: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    request.get(name).and_then(|v| HeaderValue::to_str(v).ok())
}

/// An HTTP date (IMF-fixdate, RFC 9110 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`. Times before
/// 1970 are written as the epoch.
fn http_date(time: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month_name = MONTHS.get(month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use futures_util::StreamExt;

    use super::*;
    use crate::installers::{InstallerSource, serve as serve_source};

    /// A 1000-byte installer whose byte `i` is `i % 251`.
    fn installer() -> (tempfile::TempDir, Vec<u8>) {
        let root = tempfile::tempdir().expect("tempdir");
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.path().join("t1c.msi"), &bytes).expect("write");
        (root, bytes)
    }

    async fn get(root: &Path, headers: &[(&str, &str)]) -> Response {
        let mut request = HeaderMap::new();
        for (name, value) in headers {
            request.insert(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        let source = InstallerSource::File(PathBuf::from("t1c.msi"));
        serve_source(&source, root, &request, &reqwest::Client::new(), "t1c-3.8.2-x64.msi")
            .await
            .expect("served")
    }

    fn head(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    async fn body(response: Response) -> Vec<u8> {
        let mut stream = response.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.expect("chunk"));
        }
        bytes
    }

    #[tokio::test]
    async fn whole_file_with_length_type_and_disposition() {
        let (root, bytes) = installer();
        let response = get(root.path(), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(head(&response, header::CONTENT_LENGTH), "1000");
        assert_eq!(head(&response, header::ACCEPT_RANGES), "bytes");
        assert_eq!(head(&response, header::CONTENT_TYPE), "application/octet-stream");
        assert_eq!(
            head(&response, header::CONTENT_DISPOSITION),
            "attachment; filename=\"t1c-3.8.2-x64.msi\""
        );
        assert!(head(&response, header::LAST_MODIFIED).ends_with(" GMT"));
        assert_eq!(body(response).await, bytes);
    }

    #[tokio::test]
    async fn etag_is_strong_and_stable_across_calls() {
        let (root, _) = installer();
        let first = get(root.path(), &[]).await;
        let second = get(root.path(), &[]).await;
        let etag = head(&first, header::ETAG);
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34);
        assert_eq!(etag, head(&second, header::ETAG));
    }

    #[tokio::test]
    async fn etag_changes_when_the_file_is_replaced() {
        let (root, _) = installer();
        let before = get(root.path(), &[]).await;
        std::fs::write(root.path().join("t1c.msi"), b"a different installer").expect("write");
        let after = get(root.path(), &[]).await;
        assert_ne!(head(&before, header::ETAG), head(&after, header::ETAG));
    }

    #[tokio::test]
    async fn if_none_match_with_the_etag_is_304_without_body() {
        let (root, _) = installer();
        let etag = head(&get(root.path(), &[]).await, header::ETAG).to_owned();
        for condition in
            [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".to_owned()]
        {
            let response = get(root.path(), &[("if-none-match", &condition)]).await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{condition}");
            assert_eq!(head(&response, header::ETAG), etag);
            assert!(body(response).await.is_empty());
        }
        let response = get(root.path(), &[("if-none-match", "\"other\"")]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn single_ranges_send_exactly_their_bytes() {
        let (root, bytes) = installer();
        for (range, first, last) in [
            ("bytes=0-99", 0, 99),
            ("bytes=500-509", 500, 509),
            ("bytes=-10", 990, 999),
            ("bytes=990-", 990, 999),
            ("bytes=995-5000", 995, 999),
            ("bytes=-5000", 0, 999),
            ("bytes=999-999", 999, 999),
        ] {
            let response = get(root.path(), &[("range", range)]).await;
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(
                head(&response, header::CONTENT_RANGE),
                format!("bytes {first}-{last}/1000"),
                "{range}"
            );
            assert_eq!(head(&response, header::CONTENT_LENGTH), (last - first + 1).to_string());
            assert_eq!(body(response).await, bytes[first..=last], "{range}");
        }
    }

    #[tokio::test]
    async fn ranges_past_the_end_are_416_with_the_length() {
        let (root, _) = installer();
        for range in ["bytes=1000-", "bytes=1000-2000", "bytes=-0"] {
            let response = get(root.path(), &[("range", range)]).await;
            assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(head(&response, header::CONTENT_RANGE), "bytes */1000");
            assert!(body(response).await.is_empty());
        }
    }

    #[tokio::test]
    async fn malformed_or_multiple_ranges_get_the_whole_file() {
        let (root, bytes) = installer();
        for range in ["bytes=0-1,5-6", "bytes=5-3", "items=0-1", "bytes=abc", "bytes="] {
            let response = get(root.path(), &[("range", range)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{range}");
            assert_eq!(body(response).await, bytes, "{range}");
        }
    }

    #[tokio::test]
    async fn if_range_decides_between_slice_and_whole() {
        let (root, bytes) = installer();
        let full = get(root.path(), &[]).await;
        let etag = head(&full, header::ETAG).to_owned();
        let date = head(&full, header::LAST_MODIFIED).to_owned();

        for holding in [&etag, &date] {
            let response = get(root.path(), &[("range", "bytes=0-9"), ("if-range", holding)]).await;
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{holding}");
        }
        let weak = format!("W/{etag}");
        for stale in ["\"0123\"", weak.as_str(), "Sun, 06 Nov 1994 08:49:37 GMT"] {
            let response = get(root.path(), &[("range", "bytes=0-9"), ("if-range", stale)]).await;
            assert_eq!(response.status(), StatusCode::OK, "{stale}");
            assert_eq!(body(response).await, bytes);
        }
    }

    #[tokio::test]
    async fn empty_file_is_200_empty_and_any_range_416() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("t1c.msi"), b"").expect("write");
        let response = get(root.path(), &[]).await;
        assert_eq!(head(&response, header::CONTENT_LENGTH), "0");
        let response = get(root.path(), &[("range", "bytes=-5")]).await;
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    }

    #[tokio::test]
    async fn a_missing_file_is_not_found_without_the_path() {
        let root = tempfile::tempdir().expect("tempdir");
        let source = InstallerSource::File(PathBuf::from("t1c.msi"));
        let error =
            serve_source(&source, root.path(), &HeaderMap::new(), &reqwest::Client::new(), "x")
                .await
                .unwrap_err();
        assert!(matches!(error, InstallerError::NotFound));
        assert_eq!(error.to_string(), "installer not found");
    }

    #[tokio::test]
    async fn a_large_file_is_streamed_in_bounded_chunks() {
        const SIZE: u64 = 64 * 1024 * 1024;
        let root = tempfile::tempdir().expect("tempdir");
        let file = std::fs::File::create(root.path().join("t1c.msi")).expect("create");
        file.set_len(SIZE).expect("sparse");
        drop(file);

        let response = get(root.path(), &[]).await;
        assert_eq!(head(&response, header::CONTENT_LENGTH), SIZE.to_string());
        let mut stream = response.into_body().into_data_stream();
        let first = stream.next().await.expect("a first chunk").expect("read");
        // The first piece arrives on its own, long before the whole: nothing is buffered whole.
        assert!(!first.is_empty() && first.len() <= CHUNK);
        let (mut total, mut chunks) = (first.len() as u64, 1u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("read");
            assert!(chunk.len() <= CHUNK, "a chunk of {} bytes", chunk.len());
            total += chunk.len() as u64;
            chunks += 1;
        }
        assert_eq!(total, SIZE);
        assert!(chunks >= SIZE / CHUNK as u64);
    }

    #[tokio::test]
    async fn a_range_of_a_large_file_reads_only_its_slice() {
        const SIZE: u64 = 64 * 1024 * 1024;
        let root = tempfile::tempdir().expect("tempdir");
        let file = std::fs::File::create(root.path().join("t1c.msi")).expect("create");
        file.set_len(SIZE).expect("sparse");
        drop(file);
        let response = get(root.path(), &[("range", "bytes=-3")]).await;
        assert_eq!(
            head(&response, header::CONTENT_RANGE),
            format!("bytes {}-{}/{SIZE}", SIZE - 3, SIZE - 1)
        );
        assert_eq!(body(response).await, [0, 0, 0]);
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        let at = |secs| http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
    }
}
