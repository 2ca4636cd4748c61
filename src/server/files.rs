//! `wsx listen --static DIR`: plain HTTP GET and HEAD requests (not upgrades) answered with
//! the files in DIR, on the WebSocket port, so that a page and its socket come from one
//! origin.
//!
//! A request never leaves DIR: `..` and `.` segments, backslashes and NUL bytes are refused,
//! and a path that resolves (through a symbolic link) outside DIR is answered 404.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use super::gate::Head;

/// Answers `head` from `dir` on `out`; returns the status, for the log.
///
/// # Errors
/// Writing to the client failed.
pub fn respond(dir: &Path, head: &Head, out: &mut impl Write) -> io::Result<u16> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if head.method != "GET" && head.method != "HEAD" {
        let body = b"method not allowed\n";
        write_head(
            out,
            405,
            PLAIN,
            body.len() as u64,
            &[("Allow", "GET, HEAD")],
        )?;
        out.write_all(body)?;
        return Ok(405);
    }
    let Some((path, mut file, len)) = resolve(dir, &head.path).and_then(|path| {
        let file = File::open(&path).ok()?;
        let len = file.metadata().ok()?.len();
        Some((path, file, len))
    }) else {
        let body = b"not found\n";
        write_head(out, 404, PLAIN, body.len() as u64, &[])?;
        if head.method == "GET" {
            out.write_all(body)?;
        }
        return Ok(404);
    };
    write_head(out, 200, &content_type(&path), len, &[])?;
    if head.method == "GET" {
        io::copy(&mut file, out)?;
    }
    out.flush()?;
    Ok(200)
}

/// A response head that ends the connection after its body (one request per connection).
fn write_head(
    out: &mut impl Write,
    status: u16,
    content_type: &str,
    len: u64,
    extra: &[(&str, &str)],
) -> io::Result<()> {
    let len = len.to_string();
    let mut headers = vec![
        ("Content-Type", content_type),
        ("Content-Length", &len),
        ("Cache-Control", "no-cache"),
        ("Connection", "close"),
    ];
    headers.extend_from_slice(extra);
    out.write_all(super::gate::response_head(status, &headers).as_bytes())
}

/// The file a request path names inside `dir` (`index.html` for a folder), or `None` when
/// it is missing or would be outside `dir`.
pub(crate) fn resolve(dir: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut file = dir.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.contains(['\\', '\0']) {
            return None;
        }
        // Only plain names: no `..`, no `.`, no drive or root (`C:` on Windows).
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(name)), None) => file.push(name),
            _ => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    // Symbolic links may point anywhere: what counts is where the file really is.
    let real = file.canonicalize().ok()?;
    let root = dir.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// The Content-Type for a file, by its extension (`mime_guess`'s table); text and scripts are
/// UTF-8.
fn content_type(path: &Path) -> String {
    use mime_guess::mime;
    let guess = mime_guess::from_path(path).first_or_octet_stream();
    if guess.type_() == mime::TEXT || guess.subtype() == mime::JAVASCRIPT {
        format!("{}; charset=utf-8", guess.essence_str())
    } else {
        guess.essence_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("index.html"), "sub").unwrap();
        std::fs::write(dir.path().join("sub").join("a b.js"), "js").unwrap();
        dir
    }

    #[test]
    fn paths_resolve_inside_the_folder_only() {
        let dir = site();
        let root = dir.path().canonicalize().unwrap();
        let at = |p: &str| resolve(dir.path(), p);
        assert_eq!(at("/"), Some(root.join("index.html")));
        assert_eq!(at("/sub/"), Some(root.join("sub").join("index.html")));
        assert_eq!(at("/sub"), Some(root.join("sub").join("index.html")));
        assert_eq!(
            at("/sub/a%20b.js?v=1"),
            Some(root.join("sub").join("a b.js"))
        );
        assert_eq!(at("/missing"), None);
        assert_eq!(at("/../etc/passwd"), None);
        assert_eq!(at("/sub/../index.html"), None);
        assert_eq!(at("/%2e%2e/etc/passwd"), None);
        assert_eq!(at("/sub%2f..%2f..%2fetc"), None);
        assert_eq!(at("/a\\..\\b"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_folder_is_not_followed() {
        let dir = site();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("leak")).unwrap();
        assert_eq!(resolve(dir.path(), "/leak"), None);
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type(Path::new("a.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }
}
