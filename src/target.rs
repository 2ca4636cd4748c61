//! What a URL names, read the same way everywhere: its WebSocket scheme, its host as a bare
//! name or address (an IPv6 literal without its brackets), and the credentials in its
//! userinfo, percent-decoded.

use url::{Host, Url};

/// `url` as a WebSocket URL: `ws://` and `wss://` as they are, `http://` and `https://` taken
/// as their aliases (as a command line or a redirect's Location may give them).
///
/// # Errors
/// Another scheme, in words.
pub fn websocket(mut url: Url) -> Result<Url, String> {
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(format!(
                "{other}:// is not a WebSocket scheme (use ws:// or wss://)"
            ))
        }
    };
    url.set_scheme(scheme)
        .map_err(|()| format!("{url} cannot be a WebSocket URL"))?;
    Ok(url)
}

/// The host without IPv6 brackets: what name resolution, TLS and `no_proxy` want.
pub fn bare_host(url: &Url) -> String {
    match url.host() {
        Some(Host::Ipv6(addr)) => addr.to_string(),
        Some(host) => host.to_string(),
        None => String::new(),
    }
}

/// `host:port` for a bare host (as [`bare_host`] gives it): an IPv6 literal goes back in
/// brackets, `[::1]:9001`, as a request target and in messages (RFC 9110 section 4.2.3).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `user:password` from the URL's userinfo, percent-decoded (`us%40er` is `us@er`), or `None`
/// when the URL has no user name.
pub fn credentials(url: &Url) -> Option<String> {
    if url.username().is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some(format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_schemes_are_websocket_aliases() {
        let ws = |u: &str| websocket(Url::parse(u).unwrap()).map(|u| u.to_string());
        assert_eq!(ws("http://h/p").as_deref(), Ok("ws://h/p"));
        assert_eq!(ws("https://h:8443/").as_deref(), Ok("wss://h:8443/"));
        assert_eq!(ws("wss://h/").as_deref(), Ok("wss://h/"));
        assert_eq!(
            ws("ftp://h/"),
            Err("ftp:// is not a WebSocket scheme (use ws:// or wss://)".into())
        );
    }

    #[test]
    fn hosts_lose_their_brackets() {
        let host = |u: &str| bare_host(&Url::parse(u).unwrap());
        assert_eq!(host("ws://[::1]:9/"), "::1");
        assert_eq!(host("ws://127.0.0.1/"), "127.0.0.1");
        assert_eq!(host("wss://Example.COM/"), "example.com");
    }

    #[test]
    fn authorities_bracket_ipv6_literals() {
        assert_eq!(authority("::1", 9001), "[::1]:9001");
        assert_eq!(authority("example.com", 443), "example.com:443");
        assert_eq!(authority("10.0.0.7", 80), "10.0.0.7:80");
    }

    #[test]
    fn credentials_are_decoded() {
        let creds = |u: &str| credentials(&Url::parse(u).unwrap());
        assert_eq!(
            creds("http://us%40er:p%3Ass%25@proxy:3128").as_deref(),
            Some("us@er:p:ss%")
        );
        assert_eq!(creds("http://alice@h/").as_deref(), Some("alice:"));
        assert_eq!(creds("http://h/"), None);
    }
}
