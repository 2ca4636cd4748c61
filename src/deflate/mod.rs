//! permessage-deflate (RFC 7692): what the two sides agree on in the handshake, and the codec
//! of the connections that agreed on it.
//!
//! tungstenite (0.30) knows no extensions: it rejects any frame with RSV1 set. So a compressed
//! connection keeps tungstenite for everything else (the close handshake, control frames,
//! fragments, UTF-8, size limits) and wsx does the compression at both ends of it:
//! [`Compressor`] turns an outgoing message into one RSV1 frame that tungstenite sends as it
//! is, and [`Inflater`] sits under tungstenite's reader and turns incoming compressed frames
//! back into plain ones before tungstenite parses them. Connections without the extension never
//! touch this module.

mod compress;
mod inflate;

pub use compress::{Compressor, QUIET};
pub use inflate::Inflater;

use std::fmt;

use tungstenite::protocol::Role;

/// What `wsx connect` offers, as browsers do: permessage-deflate, and the server may limit our
/// window.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The extension's name in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// The largest LZ77 window (32 KiB), used wherever nothing smaller was agreed.
const MAX_WINDOW_BITS: u8 = 15;

/// The window `wsx listen` compresses with and asks its clients to use: 4 KiB, as Python's
/// `websockets` does. A server keeps a compressor and an inflater for every client, and their
/// windows are most of that memory.
const SERVER_WINDOW_BITS: u8 = 12;

/// The parameters both sides agreed on (RFC 7692, section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params {
    /// The server starts every message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with (8-15; 15 when not stated).
    pub server_max_window_bits: Option<u8>,
    /// The largest window the client compresses with (8-15; 15 when not stated).
    pub client_max_window_bits: Option<u8>,
}

impl Params {
    /// How `role`'s side compresses: whether it starts each message afresh, and its window
    /// (a server's at most [`SERVER_WINDOW_BITS`]: a smaller window than agreed is always
    /// allowed).
    pub fn sending(&self, role: Role) -> (bool, u8) {
        match role {
            Role::Server => (
                self.server_no_context_takeover,
                self.server_max_window_bits
                    .unwrap_or(MAX_WINDOW_BITS)
                    .min(SERVER_WINDOW_BITS),
            ),
            Role::Client => (
                self.client_no_context_takeover,
                self.client_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
            ),
        }
    }

    /// The window `role`'s peer compresses with at most: what `role` inflates with.
    pub fn receiving(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
        .unwrap_or(MAX_WINDOW_BITS)
    }
}

/// The `Sec-WebSocket-Extensions` value that states these parameters (a server's answer).
impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        if let Some(bits) = self.client_max_window_bits {
            write!(f, "; client_max_window_bits={bits}")?;
        }
        Ok(())
    }
}

/// Why a compressed connection failed, with the close code the RFCs give for it. It travels
/// inside an `io::Error` through tungstenite's reader; [`Error::of`] finds it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: u16,
    pub text: String,
}

impl Error {
    fn new(code: u16, text: impl Into<String>) -> Error {
        Error {
            code,
            text: text.into(),
        }
    }

    /// The compression failure inside an I/O error, if that is what it is.
    pub fn of(err: &std::io::Error) -> Option<&Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }

    fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Error {}

/// One extension of a `Sec-WebSocket-Extensions` list: its name and parameters.
struct Extension<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits the header's values into extensions (`name; p1; p2=v, name2`), dropping the quotes
/// around a quoted value.
fn extensions<'a>(values: &[&'a str]) -> Vec<Extension<'a>> {
    let mut out = Vec::new();
    for value in values {
        for item in value.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
                    None => (p, None),
                })
                .collect();
            out.push(Extension { name, params });
        }
    }
    out
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// A window size parameter's value: 8 to 15, in plain digits.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Reads one permessage-deflate parameter list. `response` says whether it is a server's
/// answer (where `client_max_window_bits` must have a value) or a client's offer.
fn parse(params: &[(&str, Option<&str>)], response: bool) -> Result<Params, String> {
    let mut agreed = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for &(name, value) in params {
        let lower = name.to_ascii_lowercase();
        if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(format!("{name} is given twice"));
        }
        seen.push(name);
        let no_value = |flag: &mut bool| match value {
            None => {
                *flag = true;
                Ok(())
            }
            Some(v) => Err(format!("{name} takes no value (got {v:?})")),
        };
        let bits = |required: bool| match value {
            None if !required => Ok(None),
            None => Err(format!("{name} needs a value")),
            Some(v) => window_bits(v)
                .map(Some)
                .ok_or_else(|| format!("{name}={v} is not a window size (8 to 15)")),
        };
        match lower.as_str() {
            "server_no_context_takeover" => no_value(&mut agreed.server_no_context_takeover)?,
            "client_no_context_takeover" => no_value(&mut agreed.client_no_context_takeover)?,
            "server_max_window_bits" => agreed.server_max_window_bits = bits(true)?,
            "client_max_window_bits" => {
                // In an offer, a bare client_max_window_bits says the client can limit its
                // window (read here as 15, the most the server may allow).
                agreed.client_max_window_bits = Some(bits(response)?.unwrap_or(MAX_WINDOW_BITS));
            }
            _ => return Err(format!("unknown parameter {name}")),
        }
    }
    Ok(agreed)
}

/// The server's side: the first acceptable permessage-deflate offer among a request's
/// `Sec-WebSocket-Extensions` values, and the parameters to answer with. Offers with a
/// parameter this implementation does not know, or an invalid value, are passed over.
pub fn accept(values: &[&str]) -> Option<Params> {
    extensions(values)
        .into_iter()
        .filter(|e| e.name.eq_ignore_ascii_case(NAME))
        .find_map(|e| parse(&e.params, false).ok())
        .map(|offer| Params {
            // What the client asks of the server is granted and its hints confirmed; a client
            // that can limit its window is asked for at most SERVER_WINDOW_BITS.
            client_max_window_bits: offer
                .client_max_window_bits
                .map(|bits| bits.min(SERVER_WINDOW_BITS)),
            ..offer
        })
}

/// The client's side: what a 101 answer's `Sec-WebSocket-Extensions` values agree on, when
/// we offered [`OFFER`].
///
/// # Errors
/// The server answered with something we did not offer, or an invalid parameter: the client
/// must fail the connection (RFC 6455, section 4.1).
pub fn agreed(values: &[&str]) -> Result<Option<Params>, String> {
    let found = extensions(values);
    let Some(first) = found.first() else {
        return Ok(None);
    };
    if let Some(other) = found.iter().find(|e| !e.name.eq_ignore_ascii_case(NAME)) {
        return Err(format!(
            "the server chose the extension {:?}, which was not offered",
            other.name
        ));
    }
    if found.len() > 1 {
        return Err(format!("the server chose {NAME} {} times", found.len()));
    }
    parse(&first.params, true)
        .map(Some)
        .map_err(|e| format!("the server's {NAME} answer is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browser_offer_is_accepted_with_a_4_kib_window_for_the_client() {
        let agreed = accept(&["permessage-deflate; client_max_window_bits"]).unwrap();
        assert_eq!(
            agreed.to_string(),
            "permessage-deflate; client_max_window_bits=12"
        );
        assert_eq!(agreed.sending(Role::Server), (false, 12));
        assert_eq!(agreed.receiving(Role::Server), 12);
        // A client that cannot limit its window is not asked to.
        let agreed = accept(&["permessage-deflate"]).unwrap();
        assert_eq!(agreed.to_string(), "permessage-deflate");
        assert_eq!(agreed.receiving(Role::Server), 15);
        // A client that asks for less gets what it asked.
        let agreed = accept(&["permessage-deflate; client_max_window_bits=10"]).unwrap();
        assert_eq!(agreed.receiving(Role::Server), 10);
    }

    #[test]
    fn the_server_grants_what_the_client_asks_of_it() {
        let offer = "permessage-deflate; client_no_context_takeover; client_max_window_bits; \
                     server_no_context_takeover; server_max_window_bits=9";
        let agreed = accept(&[offer]).unwrap();
        assert_eq!(
            agreed.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=12"
        );
        assert_eq!(agreed.sending(Role::Server), (true, 9));
        assert_eq!(agreed.sending(Role::Client), (true, 12));
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        let values = [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=16, permessage-deflate; mystery",
            "permessage-deflate; server_max_window_bits=\"10\", permessage-deflate",
        ];
        let agreed = accept(&values).unwrap();
        assert_eq!(agreed.server_max_window_bits, Some(10));
        assert_eq!(accept(&["x-webkit-deflate-frame"]), None);
        assert_eq!(
            accept(&["permessage-deflate; server_max_window_bits"]),
            None
        );
        assert_eq!(
            accept(&["permessage-deflate; server_no_context_takeover=1"]),
            None
        );
        assert_eq!(
            accept(&["permessage-deflate; server_no_context_takeover; server_no_context_takeover"]),
            None
        );
        assert_eq!(accept(&[]), None);
    }

    #[test]
    fn a_client_reads_the_answer() {
        assert_eq!(agreed(&[]), Ok(None));
        let p =
            agreed(&["permessage-deflate; client_max_window_bits=9; server_no_context_takeover"])
                .unwrap()
                .unwrap();
        assert_eq!(p.sending(Role::Client), (false, 9));
        assert!(p.server_no_context_takeover);
        assert_eq!(
            agreed(&["Permessage-Deflate; Client_No_Context_Takeover"])
                .unwrap()
                .unwrap()
                .sending(Role::Client),
            (true, 15)
        );
    }

    #[test]
    fn a_client_refuses_what_it_did_not_offer() {
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=015",
            "permessage-deflate; foo",
            "permessage-deflate, permessage-deflate",
            "x-webkit-deflate-frame",
        ] {
            assert!(agreed(&[bad]).is_err(), "{bad}");
        }
    }
}
