//! The SOCKS5 client handshake (RFC 1928), with username/password authentication (RFC 1929),
//! on a blocking socket with timeouts.
//!
//! `socks5://` resolves the server's name here and sends the proxy an address; `socks5h://`
//! sends the name and lets the proxy resolve it (what curl means by the two schemes).

use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::Duration;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 1;
const IPV4: u8 = 1;
const DOMAIN: u8 = 3;
const IPV6: u8 = 4;

/// Asks the SOCKS5 proxy on `tcp` for a connection to `host:port`; `limit` bounds resolving
/// the name here (`socks5://`).
///
/// # Errors
/// The proxy refused (the reason in words), wanted authentication we do not have, or broke
/// the protocol; or the name could not be resolved (`socks5://`).
pub fn connect(
    tcp: &mut (impl Read + Write),
    host: &str,
    port: u16,
    credentials: Option<(String, String)>,
    remote_dns: bool,
    limit: Option<Duration>,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("talking to the SOCKS5 proxy: {e}");
    let methods: &[u8] = if credentials.is_some() {
        &[NO_AUTH, USER_PASS]
    } else {
        &[NO_AUTH]
    };
    let mut greeting = vec![VERSION, methods.len() as u8];
    greeting.extend_from_slice(methods);
    tcp.write_all(&greeting).map_err(io)?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice).map_err(io)?;
    if choice[0] != VERSION {
        return Err("the proxy does not speak SOCKS5".into());
    }
    match (choice[1], credentials) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, pass))) => authenticate(tcp, &user, &pass)?,
        (NO_ACCEPTABLE, None) => {
            return Err(
                "the SOCKS5 proxy requires authentication (give user:pass@ in --proxy)".into(),
            )
        }
        (NO_ACCEPTABLE, Some(_)) => {
            return Err("the SOCKS5 proxy accepts none of our authentication methods".into())
        }
        (other, _) => return Err(format!("the SOCKS5 proxy chose an unknown method {other}")),
    }

    let mut request = vec![VERSION, CONNECT, 0];
    request.extend(address(host, port, remote_dns, limit)?);
    request.extend_from_slice(&port.to_be_bytes());
    tcp.write_all(&request).map_err(io)?;

    let mut reply = [0u8; 4];
    tcp.read_exact(&mut reply).map_err(io)?;
    if reply[0] != VERSION {
        return Err("the proxy does not speak SOCKS5".into());
    }
    if reply[1] != 0 {
        return Err(format!(
            "the SOCKS5 proxy could not connect to {}: {}",
            crate::target::authority(host, port),
            refusal(reply[1])
        ));
    }
    // The address the proxy bound: read and ignored, so that nothing of it is taken for data.
    let rest = match reply[3] {
        IPV4 => 4 + 2,
        IPV6 => 16 + 2,
        DOMAIN => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).map_err(io)?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(format!(
                "the SOCKS5 proxy sent an unknown address type {other}"
            ))
        }
    };
    let mut bound = vec![0u8; rest];
    tcp.read_exact(&mut bound).map_err(io)?;
    Ok(())
}

/// RFC 1929: version 1, the user name and the password, each with its length.
fn authenticate(tcp: &mut (impl Read + Write), user: &str, pass: &str) -> Result<(), String> {
    let io = |e: std::io::Error| format!("authenticating with the SOCKS5 proxy: {e}");
    let (user, pass) = (user.as_bytes(), pass.as_bytes());
    if user.len() > 255 || pass.len() > 255 {
        return Err("SOCKS5 user names and passwords are at most 255 bytes".into());
    }
    let mut message = vec![1, user.len() as u8];
    message.extend_from_slice(user);
    message.push(pass.len() as u8);
    message.extend_from_slice(pass);
    tcp.write_all(&message).map_err(io)?;
    let mut status = [0u8; 2];
    tcp.read_exact(&mut status).map_err(io)?;
    if status[1] != 0 {
        return Err("the SOCKS5 proxy refused the user name and password".into());
    }
    Ok(())
}

/// The address part of the request: the name itself (`socks5h`), or an IP address (given,
/// or resolved here for `socks5`).
fn address(
    host: &str,
    port: u16,
    remote_dns: bool,
    limit: Option<Duration>,
) -> Result<Vec<u8>, String> {
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) if remote_dns => {
            if host.len() > 255 {
                return Err(format!("the host name {host} is too long for SOCKS5"));
            }
            let mut out = vec![DOMAIN, host.len() as u8];
            out.extend_from_slice(host.as_bytes());
            return Ok(out);
        }
        Err(_) => super::resolve::resolve(host, port, limit)
            .map_err(|e| format!("could not resolve {host}: {e}"))?
            .first()
            .ok_or_else(|| format!("could not resolve {host}: no addresses"))?
            .ip(),
    };
    Ok(match ip {
        IpAddr::V4(v4) => [&[IPV4][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[IPV6][..], &v6.octets()].concat(),
    })
}

/// RFC 1928's reply codes, in words.
fn refusal(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "an unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_by_scheme() {
        assert_eq!(
            address("example.test", 80, true, None).unwrap(),
            [&[DOMAIN, 12][..], b"example.test"].concat()
        );
        assert_eq!(
            address("10.0.0.1", 80, true, None).unwrap(),
            [IPV4, 10, 0, 0, 1]
        );
        assert_eq!(
            address("127.0.0.1", 80, false, None).unwrap(),
            [IPV4, 127, 0, 0, 1]
        );
        let v6 = address("::1", 80, false, None).unwrap();
        assert_eq!((v6[0], v6.len()), (IPV6, 17));
    }

    #[test]
    fn refusals_are_in_words() {
        assert_eq!(refusal(5), "connection refused");
        assert_eq!(refusal(42), "an unknown error");
    }
}
