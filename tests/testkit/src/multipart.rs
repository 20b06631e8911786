//! `multipart/form-data` bodies, built as a browser's `FormData` sends them (t1c-sdk-js's file
//! exchange download): text fields and files in the order they were added.

/// A form being built.
#[derive(Debug, Clone)]
pub struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self { boundary: "----t1c-testkit-form-7d93b1c4a2e8".to_owned(), body: Vec::new() }
    }

    /// Adds the text field `name`.
    #[must_use]
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.part_header(name, None);
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// Adds the file field `name` with `file_name` and `content`.
    #[must_use]
    pub fn file(mut self, name: &str, file_name: &str, content: &[u8]) -> Self {
        self.part_header(name, Some(file_name));
        self.body.extend_from_slice(content);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The `Content-Type` header value, with the boundary.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The body, closed.
    pub fn into_body(mut self) -> Vec<u8> {
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        self.body
    }

    fn part_header(&mut self, name: &str, file_name: Option<&str>) {
        let mut header =
            format!("--{}\r\nContent-Disposition: form-data; name=\"{name}\"", self.boundary);
        if let Some(file_name) = file_name {
            header.push_str(&format!(
                "; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream"
            ));
        }
        header.push_str("\r\n\r\n");
        self.body.extend_from_slice(header.as_bytes());
    }
}
