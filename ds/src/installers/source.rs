//! Where an installer's bytes come from: a file under the installers directory or an https URL.
//!
//! Outside text becomes an [`InstallerSource`] here and nowhere else. A file source is a
//! relative path of plain components; [`resolve`] then checks, on the real file system, that
//! the file it names lies inside the installers directory, so neither `..` nor a symlink can
//! reach anything else.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use reqwest::Url;

use super::InstallerError;

/// The longest source text accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 1024;

/// Where an installer is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallerSource {
    /// A file, relative to the installers directory, normalised to plain components joined
    /// by `/` (no `.`, no `..`, no empty components).
    File(PathBuf),
    /// An `https` URL (or `http` to a loopback host, for tests), proxied as it is streamed.
    Url(Url),
}

/// Why a source text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSource {
    /// Nothing to name a file with.
    #[error("the source is empty")]
    Empty,
    /// Longer than [`MAX_SOURCE_LEN`] bytes.
    #[error("the source is longer than {MAX_SOURCE_LEN} bytes")]
    TooLong,
    /// A NUL or other control character.
    #[error("the source contains a control character")]
    ControlCharacter,
    /// A `\`: paths use `/`, and a Windows separator would be a file name character here.
    #[error("the path contains a backslash; use '/'")]
    Backslash,
    /// A `:` in a path: a drive letter or a URL scheme we do not take.
    #[error("the path contains ':' (a drive letter or an unsupported URL scheme)")]
    Colon,
    /// A path starting at the file system root.
    #[error("the path is absolute; give it relative to the installers directory")]
    Absolute,
    /// A `..` component.
    #[error("the path contains a '..' component")]
    ParentComponent,
    /// A URL that does not parse.
    #[error("the URL does not parse: {0}")]
    Url(String),
    /// A URL with a user name or password, which would be shown wherever the source is.
    #[error("the URL carries credentials")]
    Credentials,
    /// A URL scheme other than `https` (or `http` to a loopback host).
    #[error("only https URLs are accepted (plain http only for loopback hosts)")]
    Scheme,
}

impl InstallerSource {
    /// Parses an operator's source text: an `https://` URL (`http://` only for loopback hosts)
    /// or a path relative to the installers directory.
    ///
    /// # Errors
    ///
    /// [`InstallerError::Invalid`] saying why: empty, too long, control characters, a
    /// backslash, a `:`, an absolute path, a `..` component, or an unusable URL.
    pub fn parse(text: &str) -> Result<InstallerSource, InstallerError> {
        Self::parse_inner(text).map_err(InstallerError::Invalid)
    }

    fn parse_inner(text: &str) -> Result<InstallerSource, InvalidSource> {
        if text.is_empty() {
            return Err(InvalidSource::Empty);
        }
        if text.len() > MAX_SOURCE_LEN {
            return Err(InvalidSource::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(InvalidSource::ControlCharacter);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return parse_url(scheme, text);
        }
        parse_path(text).map(InstallerSource::File)
    }
}

impl fmt::Display for InstallerSource {
    /// The text to store: [`InstallerSource::parse`] gives the same source back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallerSource::File(path) => {
                let mut first = true;
                for component in path.components() {
                    if !first {
                        f.write_str("/")?;
                    }
                    first = false;
                    f.write_str(&component.as_os_str().to_string_lossy())?;
                }
                Ok(())
            }
            InstallerSource::Url(url) => f.write_str(url.as_str()),
        }
    }
}

/// The file `relative` names under `root`, canonicalised, after checking that it exists, is a
/// regular file and lies inside `root` once every symlink is followed.
///
/// A symlink swapped in between this check and the open is not caught; that needs write
/// access to the installers directory, which is already the operator's.
///
/// # Errors
///
/// [`InstallerError::NotFound`] when the file or the root is missing or not a regular file,
/// [`InstallerError::OutsideRoot`] when it resolves outside `root` (`..`, absolute, symlink),
/// [`InstallerError::Io`] for other file system failures.
pub async fn resolve(root: &Path, relative: &Path) -> Result<PathBuf, InstallerError> {
    // The variant is public, so a path built without `parse` is checked here too.
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        tracing::warn!(path = %relative.display(), "installer path is not plain and relative");
        return Err(InstallerError::OutsideRoot);
    }
    let root = canonical(root).await?;
    let file = canonical(&root.join(relative)).await?;
    if !file.starts_with(&root) {
        tracing::warn!(
            path = %file.display(),
            root = %root.display(),
            "installer file resolves outside the installers directory"
        );
        return Err(InstallerError::OutsideRoot);
    }
    let metadata = tokio::fs::metadata(&file).await?;
    if !metadata.is_file() {
        tracing::warn!(path = %file.display(), "installer path is not a regular file");
        return Err(InstallerError::NotFound);
    }
    Ok(file)
}

async fn canonical(path: &Path) -> Result<PathBuf, InstallerError> {
    tokio::fs::canonicalize(path).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), "installer file not found");
            InstallerError::NotFound
        } else {
            tracing::warn!(path = %path.display(), %error, "installer file unreadable");
            InstallerError::Io(error)
        }
    })
}

fn parse_url(scheme: &str, text: &str) -> Result<InstallerSource, InvalidSource> {
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(InvalidSource::Scheme);
    }
    let url = Url::parse(text).map_err(|e| InvalidSource::Url(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidSource::Credentials);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(InstallerSource::Url(url)),
        "http" if is_loopback(&url) => Ok(InstallerSource::Url(url)),
        _ => Err(InvalidSource::Scheme),
    }
}

/// `localhost` or a loopback address: where a test's plain-http upstream lives.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_path(text: &str) -> Result<PathBuf, InvalidSource> {
    if text.contains('\\') {
        return Err(InvalidSource::Backslash);
    }
    if text.contains(':') {
        return Err(InvalidSource::Colon);
    }
    if text.starts_with('/') {
        return Err(InvalidSource::Absolute);
    }
    let mut path = PathBuf::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(InvalidSource::ParentComponent),
            name => path.push(name),
        }
    }
    if path.as_os_str().is_empty() {
        return Err(InvalidSource::Empty);
    }
    // What is left is plain names; this only guards against a platform reading them otherwise.
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(InvalidSource::Absolute);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> InvalidSource {
        match InstallerSource::parse(text) {
            Err(InstallerError::Invalid(why)) => why,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn relative_paths_are_normalised_and_round_trip() {
        for (text, stored) in [
            ("t1c-3.8.2.msi", "t1c-3.8.2.msi"),
            ("3.8.2/win64/t1c.msi", "3.8.2/win64/t1c.msi"),
            ("./3.8.2//macos/./t1c.pkg", "3.8.2/macos/t1c.pkg"),
            ("3.8.2/unix/", "3.8.2/unix"),
        ] {
            let source = InstallerSource::parse(text).expect(text);
            assert_eq!(source.to_string(), stored);
            assert_eq!(InstallerSource::parse(stored).expect(stored), source);
        }
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        assert_eq!(refused("../x"), InvalidSource::ParentComponent);
        assert_eq!(refused("a/../../x"), InvalidSource::ParentComponent);
        assert_eq!(refused("a/.."), InvalidSource::ParentComponent);
        assert_eq!(refused("/etc/passwd"), InvalidSource::Absolute);
        assert_eq!(refused("//server/share"), InvalidSource::Absolute);
        assert_eq!(refused("C:\\x"), InvalidSource::Backslash);
        assert_eq!(refused("a\\..\\b"), InvalidSource::Backslash);
        assert_eq!(refused("C:/x"), InvalidSource::Colon);
        assert_eq!(refused("file:/etc/passwd"), InvalidSource::Colon);
    }

    #[test]
    fn empty_overlong_and_control_characters_are_refused() {
        assert_eq!(refused(""), InvalidSource::Empty);
        assert_eq!(refused("."), InvalidSource::Empty);
        assert_eq!(refused("./"), InvalidSource::Empty);
        assert_eq!(refused("a\0b"), InvalidSource::ControlCharacter);
        assert_eq!(refused("a\nb"), InvalidSource::ControlCharacter);
        assert_eq!(refused(&"a".repeat(MAX_SOURCE_LEN + 1)), InvalidSource::TooLong);
        assert!(InstallerSource::parse(&"a".repeat(MAX_SOURCE_LEN)).is_ok());
    }

    #[test]
    fn https_urls_are_accepted_and_round_trip() {
        let text = "https://downloads.example.com/t1c/3.8.2/t1c-x64.msi?sig=abc";
        let source = InstallerSource::parse(text).expect("https");
        assert!(matches!(source, InstallerSource::Url(_)));
        assert_eq!(source.to_string(), text);
        assert_eq!(InstallerSource::parse(&source.to_string()).ok(), Some(source));
        assert!(InstallerSource::parse("HTTPS://Example.com/a").is_ok());
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in ["http://127.0.0.1:8080/a.msi", "http://localhost/a", "http://[::1]:9/a"] {
            assert!(matches!(InstallerSource::parse(ok), Ok(InstallerSource::Url(_))), "{ok}");
        }
        assert_eq!(refused("http://example.com/a.msi"), InvalidSource::Scheme);
        assert_eq!(refused("http://10.0.0.1/a.msi"), InvalidSource::Scheme);
        assert_eq!(refused("ftp://example.com/a.msi"), InvalidSource::Scheme);
        assert_eq!(refused("file:///etc/passwd"), InvalidSource::Scheme);
        assert_eq!(refused("https://user:pw@example.com/a"), InvalidSource::Credentials);
        assert!(matches!(refused("https://"), InvalidSource::Url(_)));
    }

    #[tokio::test]
    async fn resolve_finds_files_inside_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("3.8.2")).expect("mkdir");
        std::fs::write(root.path().join("3.8.2/t1c.msi"), b"msi").expect("write");
        let found = resolve(root.path(), Path::new("3.8.2/t1c.msi")).await.expect("inside");
        assert_eq!(std::fs::read(found).expect("read"), b"msi");
    }

    #[tokio::test]
    async fn resolve_reports_missing_files_and_directories_as_not_found() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("dir")).expect("mkdir");
        for missing in ["nope.msi", "dir"] {
            let error = resolve(root.path(), Path::new(missing)).await.unwrap_err();
            assert!(matches!(error, InstallerError::NotFound), "{missing}: {error:?}");
            assert!(!error.to_string().contains(&*root.path().to_string_lossy()));
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn resolve_refuses_a_symlink_pointing_out_of_the_root() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), b"secret").expect("write");
        let root = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .expect("symlink");
        std::os::unix::fs::symlink(outside.path(), root.path().join("dir")).expect("symlink");
        for escaping in ["link", "dir/secret"] {
            let error = resolve(root.path(), Path::new(escaping)).await.unwrap_err();
            assert!(matches!(error, InstallerError::OutsideRoot), "{escaping}: {error:?}");
            assert_eq!(error.status(), axum::http::StatusCode::NOT_FOUND);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn resolve_follows_symlinks_that_stay_inside_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("t1c-3.8.2.msi"), b"msi").expect("write");
        std::os::unix::fs::symlink("t1c-3.8.2.msi", root.path().join("latest.msi"))
            .expect("symlink");
        assert!(resolve(root.path(), Path::new("latest.msi")).await.is_ok());
    }

    #[tokio::test]
    async fn resolve_refuses_paths_not_built_by_parse() {
        let root = tempfile::tempdir().expect("tempdir");
        for path in ["/etc/passwd", "../x", "a/../../x"] {
            let error = resolve(root.path(), Path::new(path)).await.unwrap_err();
            assert!(matches!(error, InstallerError::OutsideRoot), "{path}: {error:?}");
        }
    }
}
