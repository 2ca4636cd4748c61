//! curl's `-b/--cookie`: `NAME=VALUE[; NAME=VALUE...]` sent as given, or, when the argument
//! has no `=`, a cookie file (the Netscape format that curl's `-c`, wget and browser
//! exporters write) from which the cookies that apply to the request's URL are taken.

use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

/// One `-b` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieArg {
    /// `NAME=VALUE[; ...]`, sent as is.
    Inline(String),
    /// The cookies read from a file.
    Jar(Vec<JarCookie>),
}

/// One line of a cookie file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JarCookie {
    domain: String,
    /// The cookie also applies to subdomains (a leading dot, or TRUE in the second column).
    subdomains: bool,
    path: String,
    secure: bool,
    /// Seconds since the epoch; 0 for a session cookie.
    expires: u64,
    name: String,
    value: String,
}

/// Parses a `-b` argument, reading the file it names if it has no `=`.
///
/// # Errors
/// The file cannot be read.
pub fn parse(arg: &str) -> Result<CookieArg, String> {
    if arg.contains('=') {
        return Ok(CookieArg::Inline(arg.trim().to_string()));
    }
    let text =
        std::fs::read_to_string(arg).map_err(|e| format!("cannot read cookie file {arg}: {e}"))?;
    Ok(CookieArg::Jar(parse_jar(&text)))
}

/// The cookies of a Netscape cookie file: seven tab-separated fields per line (domain,
/// subdomains, path, secure, expires, name, value); `#` starts a comment, except the
/// `#HttpOnly_` prefix curl writes before a domain.
pub(crate) fn parse_jar(text: &str) -> Vec<JarCookie> {
    text.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            let [domain, subdomains, path, secure, expires, name, value] = fields[..] else {
                return None;
            };
            // A name or value with a control character (a stray CR, say) would break the
            // request's head: such a line is not a cookie (curl drops it too).
            if name.chars().chain(value.chars()).any(char::is_control) {
                return None;
            }
            let dotted = domain.starts_with('.');
            Some(JarCookie {
                domain: domain.trim_start_matches('.').to_ascii_lowercase(),
                subdomains: dotted || subdomains.eq_ignore_ascii_case("TRUE"),
                path: path.to_string(),
                secure: secure.eq_ignore_ascii_case("TRUE"),
                expires: expires.parse().unwrap_or(0),
                name: name.to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

impl JarCookie {
    fn applies_to(&self, url: &Url, now: u64) -> bool {
        let host = crate::target::bare_host(url).to_ascii_lowercase();
        let domain_ok = host == self.domain
            || (self.subdomains && host.ends_with(&format!(".{}", self.domain)));
        let path_ok = url.path().starts_with(&self.path);
        let secure_ok = !self.secure || matches!(url.scheme(), "wss" | "https");
        let fresh = self.expires == 0 || self.expires > now;
        domain_ok && path_ok && secure_ok && fresh
    }
}

/// The `Cookie` header for a request to `url`, from every `-b` in order; `None` when no
/// cookie applies. A cookie file's cookies apply by their own domain, path and scheme rules;
/// inline cookies (`NAME=VALUE`) were given for the URL on the command line, and go only to
/// its host and port (`first_party`), never on to where a redirect leads (as curl does since
/// CVE-2018-1000007).
pub fn header(args: &[CookieArg], url: &Url, first_party: bool) -> Option<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut parts = Vec::new();
    for arg in args {
        match arg {
            CookieArg::Inline(text) if first_party => {
                parts.push(text.trim_end_matches(';').to_string());
            }
            CookieArg::Inline(_) => {}
            CookieArg::Jar(jar) => parts.extend(
                jar.iter()
                    .filter(|c| c.applies_to(url, now))
                    .map(|c| format!("{}={}", c.name, c.value)),
            ),
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn inline_cookies_are_sent_as_given() {
        let args = [
            parse("session=abc; theme=dark").unwrap(),
            parse("x=1").unwrap(),
        ];
        assert_eq!(
            header(&args, &url("ws://h/"), true).as_deref(),
            Some("session=abc; theme=dark; x=1")
        );
        assert_eq!(header(&args, &url("ws://elsewhere/"), false), None);
    }

    /// Found by the cookie_file fuzz target: a CR inside a value went into the request.
    #[test]
    fn a_line_with_a_control_character_in_its_cookie_is_not_a_cookie() {
        let jar = parse_jar("h\tFALSE\t/\tFALSE\t0\ta\tb\r#x\nh\tFALSE\t/\tFALSE\t0\tok\t1\n");
        assert_eq!(
            header(&[CookieArg::Jar(jar)], &url("ws://h/"), true).as_deref(),
            Some("ok=1")
        );
    }

    #[test]
    fn a_cookie_file_gives_the_cookies_for_the_url() {
        let jar = "# Netscape HTTP Cookie File\n\
            .example.com\tTRUE\t/\tFALSE\t0\tall\t1\n\
            example.com\tFALSE\t/\tFALSE\t0\texact\t2\n\
            #HttpOnly_api.example.com\tFALSE\t/ws\tTRUE\t0\tsecure\t3\n\
            example.com\tFALSE\t/\tFALSE\t1\texpired\t4\n\
            other.org\tFALSE\t/\tFALSE\t0\tother\t5\n";
        let args = [CookieArg::Jar(parse_jar(jar))];
        let at = |u| header(&args, &url(u), false);
        assert_eq!(at("ws://example.com/").as_deref(), Some("all=1; exact=2"));
        assert_eq!(at("ws://api.example.com/ws").as_deref(), Some("all=1"));
        assert_eq!(
            at("wss://api.example.com/ws/x").as_deref(),
            Some("all=1; secure=3")
        );
        assert_eq!(at("wss://api.example.com/other").as_deref(), Some("all=1"));
        assert_eq!(at("ws://nothing.test/"), None);
    }

    #[test]
    fn a_missing_cookie_file_is_an_error() {
        let err = parse("/no/such/cookie/file").unwrap_err();
        assert!(err.starts_with("cannot read cookie file /no/such/cookie/file"));
    }
}
