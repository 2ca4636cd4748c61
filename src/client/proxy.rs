//! Proxies for `wsx connect`: which proxy a URL goes through (`--proxy`, or the environment
//! as curl reads it), and opening the tunnel: HTTP CONNECT, or SOCKS5 (see [`super::socks`]).
//!
//! `choose` is pure; `tunnel` talks to the proxy on a blocking socket that has a deadline.

use std::io::{Read, Write};
use std::time::Duration;

use base64::Engine as _;
use url::Url;

/// The proxy for `target`: `--proxy` if given, else the environment as curl reads it.
///
/// `ws://` uses `http_proxy` (lower case only, as curl does, since `HTTP_PROXY` can be set by a
/// web request in CGI environments), `wss://` uses `https_proxy` or `HTTPS_PROXY`, and
/// `all_proxy` / `ALL_PROXY` is the fallback. `no_proxy` / `NO_PROXY` lists hosts and domains
/// to reach directly (`*` for all).
///
/// # Errors
/// The proxy setting is not an `http://host:port` URL.
pub fn choose(
    target: &Url,
    flag: Option<&Url>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Url>, String> {
    if let Some(proxy) = flag {
        return check(proxy.clone()).map(Some);
    }
    let host = crate::target::bare_host(target);
    let no_proxy = env("no_proxy")
        .or_else(|| env("NO_PROXY"))
        .unwrap_or_default();
    if bypassed(&host, &no_proxy) {
        return Ok(None);
    }
    let setting = match target.scheme() {
        "wss" => env("https_proxy").or_else(|| env("HTTPS_PROXY")),
        _ => env("http_proxy"),
    }
    .or_else(|| env("all_proxy"))
    .or_else(|| env("ALL_PROXY"))
    .filter(|s| !s.trim().is_empty());
    let Some(setting) = setting else {
        return Ok(None);
    };
    // curl takes a bare host:port as http://host:port.
    let text = if setting.contains("://") {
        setting
    } else {
        format!("http://{setting}")
    };
    let proxy =
        Url::parse(&text).map_err(|e| format!("the proxy setting '{text}' is not a URL: {e}"))?;
    check(proxy).map(Some)
}

/// Checks a proxy URL: a scheme wsx speaks, and a host.
///
/// # Errors
/// Another scheme, or no host.
pub fn check(proxy: Url) -> Result<Url, String> {
    if !matches!(proxy.scheme(), "http" | "socks5" | "socks5h") {
        return Err(format!(
            "{}:// proxies are not supported (http://, socks5:// and socks5h:// are)",
            proxy.scheme()
        ));
    }
    if proxy.host_str().is_none_or(str::is_empty) {
        return Err(format!("the proxy {proxy} has no host"));
    }
    Ok(proxy)
}

/// Whether `host` is exempt by a `no_proxy` list.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('.').to_ascii_lowercase();
            let host = host.to_ascii_lowercase();
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

/// The port of a proxy URL: the one given, else 1080 for SOCKS and 80 for HTTP.
pub fn port(proxy: &Url) -> u16 {
    match proxy.scheme() {
        "socks5" | "socks5h" => proxy.port().unwrap_or(1080),
        _ => proxy.port_or_known_default().unwrap_or(80),
    }
}

/// Asks the proxy on `tcp` to open a tunnel to `host:port`; `limit` bounds resolving the name
/// here (`socks5://`).
///
/// # Errors
/// The proxy refused (an HTTP proxy's status line, or a SOCKS5 reason, is in the message),
/// closed the connection, or did not answer in time.
pub fn tunnel(
    tcp: &mut (impl Read + Write),
    proxy: &Url,
    host: &str,
    port: u16,
    limit: Option<Duration>,
) -> Result<(), String> {
    match proxy.scheme() {
        "socks5" | "socks5h" => {
            let credentials = crate::target::credentials(proxy).and_then(|c| {
                c.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            });
            let remote_dns = proxy.scheme() == "socks5h";
            super::socks::connect(tcp, host, port, credentials, remote_dns, limit)
        }
        _ => http_connect(tcp, proxy, host, port),
    }
}

/// HTTP CONNECT.
fn http_connect(
    tcp: &mut (impl Read + Write),
    proxy: &Url,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let authority = crate::target::authority(host, port);
    let request = connect_request(&authority, crate::target::credentials(proxy).as_deref());
    tcp.write_all(request.as_bytes())
        .map_err(|e| format!("talking to the proxy: {e}"))?;

    // Read the answer's head byte by byte: nothing of the tunnel may be consumed with it.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err("the proxy closed the connection".into()),
            Err(e) => return Err(format!("waiting for the proxy: {e}")),
        }
        if head.len() > 16 * 1024 {
            return Err("the proxy's answer is too long".into());
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) if response.code == Some(200) => Ok(()),
        Ok(httparse::Status::Complete(_)) => Err(format!(
            "the proxy refused to connect to {authority}: {} {}",
            response.code.unwrap_or_default(),
            crate::term::escape(response.reason.unwrap_or_default())
        )),
        Ok(httparse::Status::Partial) | Err(_) => Err(format!(
            "the proxy's answer is not HTTP: {}",
            crate::term::escape(&String::from_utf8_lossy(&head[..head.len().min(80)]))
        )),
    }
}

/// The CONNECT request for `authority`, with Basic credentials for the proxy if given.
fn connect_request(authority: &str, credentials: Option<&str>) -> String {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = credentials {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    request.push_str("\r\n");
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_requests_bracket_ipv6_literals() {
        assert_eq!(
            connect_request(&crate::target::authority("::1", 9001), None),
            "CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\r\n"
        );
        assert!(connect_request("h:1", Some("a:b")).contains("Proxy-Authorization: Basic YTpi\r\n"));
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn chosen(target: &str, vars: &[(&str, &str)]) -> Option<String> {
        let target = Url::parse(target).unwrap();
        choose(&target, None, env(vars))
            .unwrap()
            .map(|u| u.to_string())
    }

    #[test]
    fn the_flag_wins() {
        let flag = Url::parse("http://p:3128").unwrap();
        let target = Url::parse("ws://h/").unwrap();
        let got = choose(
            &target,
            Some(&flag),
            env(&[("http_proxy", "http://other:1")]),
        )
        .unwrap();
        assert_eq!(got.unwrap().as_str(), "http://p:3128/");
        let socks = Url::parse("socks5h://p:1080").unwrap();
        assert!(choose(&target, Some(&socks), env(&[])).is_ok());
        let other = Url::parse("socks4://p:1080").unwrap();
        assert!(choose(&target, Some(&other), env(&[])).is_err());
    }

    #[test]
    fn environment_by_scheme_as_curl_reads_it() {
        assert_eq!(
            chosen("ws://h/", &[("http_proxy", "http://a:1")]).as_deref(),
            Some("http://a:1/")
        );
        assert_eq!(
            chosen("ws://h/", &[("HTTP_PROXY", "http://a:1")]),
            None,
            "upper case is ignored"
        );
        assert_eq!(
            chosen("wss://h/", &[("HTTPS_PROXY", "b:2")]).as_deref(),
            Some("http://b:2/")
        );
        assert_eq!(chosen("wss://h/", &[("http_proxy", "http://a:1")]), None);
        assert_eq!(
            chosen("wss://h/", &[("all_proxy", "http://c:3")]).as_deref(),
            Some("http://c:3/")
        );
        assert_eq!(chosen("ws://h/", &[]), None);
        assert_eq!(
            chosen("wss://h/", &[("all_proxy", "socks5h://s:9050")]).as_deref(),
            Some("socks5h://s:9050")
        );
    }

    #[test]
    fn default_ports() {
        let port = |u: &str| super::port(&Url::parse(u).unwrap());
        assert_eq!(port("http://p"), 80);
        assert_eq!(port("http://p:3128"), 3128);
        assert_eq!(port("socks5://p"), 1080);
        assert_eq!(port("socks5h://p:9050"), 9050);
    }

    #[test]
    fn no_proxy_exempts_hosts_and_domains() {
        let vars = [
            ("http_proxy", "http://a:1"),
            ("no_proxy", "localhost, .internal,example.com"),
        ];
        assert_eq!(chosen("ws://localhost/", &vars), None);
        assert_eq!(chosen("ws://api.internal/", &vars), None);
        assert_eq!(chosen("ws://sub.example.com/", &vars), None);
        assert!(chosen("ws://notexample.com/", &vars).is_some());
        assert_eq!(
            chosen(
                "ws://anything/",
                &[("http_proxy", "http://a:1"), ("NO_PROXY", "*")]
            ),
            None
        );
    }
}
