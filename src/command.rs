//! One line of operator input turned into a [`Command`]: a frame to send or a local action.
//!
//! The parser is pure; [`load_file`] reads what a `/file` names (the console runs it on a
//! thread of its own). The same parser serves the REPL (slash commands always on) and piped
//! input (slash commands with `--slash`).

/// What one input line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Start the close handshake with this code and reason (1000 when none is given).
    Close {
        code: u16,
        reason: String,
    },
    /// Print the list of commands.
    Help,
    /// Close normally and exit.
    Quit,
    /// Server: send text to one client.
    To {
        id: u64,
        text: String,
    },
    /// Server: close one client's connection.
    Kick {
        id: u64,
        code: u16,
        reason: String,
    },
    /// Server: list the connected clients.
    Clients,
    /// Send a file as one message: text when it is valid UTF-8 and `binary` is not set,
    /// binary otherwise. The console reads it (see [`load_file`]); it never reaches a session.
    File {
        path: std::path::PathBuf,
        binary: bool,
    },
}

/// How lines without a slash command are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineMode {
    /// Interpret `/commands` (always in the REPL; `--slash` in a pipe).
    pub slash: bool,
    /// Plain lines become binary frames (`--binary`).
    pub binary: bool,
    /// `/to`, `/kick` and `/clients` are available (`wsx listen`).
    pub server: bool,
}

/// The text of `/help`.
pub const HELP: &str = "\
/ping [text]              send a ping; its pong is shown with the round-trip time
/pong [text]              send an unsolicited pong
/close [code [reason]]    start the close handshake (default 1000)
/binary <hex>, /bin <hex> send a binary frame, e.g. /bin 68 65 6c 6c 6f
/file [-b] <path>         send a file as one message (text if UTF-8, else binary; -b: binary)
/help                     show this list
/quit                     close normally and exit
//text                    send \"/text\" (a leading // escapes the slash)";

/// The extra commands of `wsx listen`, shown after [`HELP`].
pub const SERVER_HELP: &str = "\
/to <id> <text>           send text to one client
/kick <id> [code [reason]] close one client's connection (default 1000)
/clients                  list the connected clients
(/ping, /pong, /binary and plain lines go to every client; /close closes them all)";

/// The `/help` text for a client or a server.
pub fn help(server: bool) -> String {
    if server {
        format!("{HELP}\n{SERVER_HELP}")
    } else {
        HELP.to_string()
    }
}

/// Parses one line (without its line ending).
///
/// # Errors
/// A one-line reason when a slash command is unknown or its arguments are invalid; nothing
/// is to be sent then.
pub fn parse(line: &[u8], mode: LineMode) -> Result<Command, String> {
    if mode.slash && line.first() == Some(&b'/') {
        if line.get(1) == Some(&b'/') {
            return plain(&line[1..], mode.binary);
        }
        let text = std::str::from_utf8(line).map_err(|_| "a /command must be valid UTF-8")?;
        return parse_slash(&text[1..], mode.server);
    }
    plain(line, mode.binary)
}

fn plain(line: &[u8], binary: bool) -> Result<Command, String> {
    if binary {
        return Ok(Command::Binary(line.to_vec()));
    }
    match std::str::from_utf8(line) {
        Ok(text) => Ok(Command::Text(text.to_string())),
        Err(e) => Err(format!(
            "not valid UTF-8 at byte {} (use --binary to send raw bytes)",
            e.valid_up_to()
        )),
    }
}

fn parse_slash(body: &str, server: bool) -> Result<Command, String> {
    let (name, rest) = body.split_once(' ').unwrap_or((body, ""));
    match name {
        "to" | "kick" | "clients" if !server => {
            Err(format!("/{name} is a server command (wsx listen)"))
        }
        "to" => {
            let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
            Ok(Command::To {
                id: parse_id(id)?,
                text: text.to_string(),
            })
        }
        "kick" => {
            let (id, close) = rest.split_once(' ').unwrap_or((rest, ""));
            match parse_close(close)? {
                Command::Close { code, reason } => Ok(Command::Kick {
                    id: parse_id(id)?,
                    code,
                    reason,
                }),
                _ => unreachable!("parse_close returns Close"),
            }
        }
        "clients" => Ok(Command::Clients),
        "ping" => control_payload(rest).map(Command::Ping),
        "pong" => control_payload(rest).map(Command::Pong),
        "close" => parse_close(rest),
        "binary" | "bin" => parse_hex(rest).map(Command::Binary),
        "file" => {
            let (binary, path) = match rest.strip_prefix("-b ") {
                Some(path) => (true, path),
                None => (false, rest),
            };
            let path = path.trim();
            if path.is_empty() {
                return Err("/file needs a path: /file [-b] PATH".into());
            }
            Ok(Command::File {
                path: path.into(),
                binary,
            })
        }
        "help" => Ok(Command::Help),
        "quit" => Ok(Command::Quit),
        _ => Err(format!(
            "unknown command /{name} (type /help; start a line with // to send a leading /)"
        )),
    }
}

/// Reads the file of a `/file` command into the message it sends.
///
/// # Errors
/// The file cannot be read, with the reason in one line.
pub fn load_file(path: &std::path::Path, binary: bool) -> Result<Command, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("/file {}: {e}", path.display()))?;
    if binary {
        return Ok(Command::Binary(bytes));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Command::Text(text),
        Err(e) => Command::Binary(e.into_bytes()),
    })
}

fn parse_id(text: &str) -> Result<u64, String> {
    let digits = text.strip_prefix('#').unwrap_or(text);
    digits
        .parse()
        .map_err(|_| format!("'{text}' is not a client id (see /clients)"))
}

/// Control frames carry at most 125 bytes (RFC 6455, section 5.5).
fn control_payload(text: &str) -> Result<Vec<u8>, String> {
    if text.len() > 125 {
        return Err(format!(
            "a control frame carries at most 125 bytes, not {}",
            text.len()
        ));
    }
    Ok(text.as_bytes().to_vec())
}

fn parse_close(rest: &str) -> Result<Command, String> {
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Ok(Command::Close {
            code: 1000,
            reason: String::new(),
        });
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code
        .parse()
        .map_err(|_| format!("'{code}' is not a close code (1000-4999)"))?;
    if !sendable_close_code(code) {
        return Err(format!(
            "{code} cannot be sent as a close code (use 1000-1003, 1007-1014, or 3000-4999)"
        ));
    }
    // The close frame's body is 2 bytes of code plus the reason, within 125 bytes.
    if reason.len() > 123 {
        return Err(format!(
            "a close reason is at most 123 bytes, not {}",
            reason.len()
        ));
    }
    Ok(Command::Close {
        code,
        reason: reason.to_string(),
    })
}

/// The codes an endpoint may put in a Close frame (RFC 6455 section 7.4, IANA registry).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// `/binary 68 65 6c`: hex digits in pairs, spaces anywhere.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&digits).map_err(|e| match e {
        hex::FromHexError::OddLength => format!("odd number of hex digits ({})", digits.len()),
        hex::FromHexError::InvalidHexCharacter { c, .. } => format!("'{c}' is not a hex digit"),
        e => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPL: LineMode = LineMode {
        slash: true,
        binary: false,
        server: false,
    };
    const PIPE: LineMode = LineMode {
        slash: false,
        binary: false,
        server: false,
    };

    fn p(line: &str, mode: LineMode) -> Result<Command, String> {
        parse(line.as_bytes(), mode)
    }

    #[test]
    fn file_takes_a_path_and_an_optional_dash_b() {
        let file = |line: &str| parse(line.as_bytes(), REPL);
        assert_eq!(
            file("/file notes/a b.txt"),
            Ok(Command::File {
                path: "notes/a b.txt".into(),
                binary: false
            })
        );
        assert_eq!(
            file("/file -b x.bin"),
            Ok(Command::File {
                path: "x.bin".into(),
                binary: true
            })
        );
        assert!(file("/file").unwrap_err().contains("needs a path"));
    }

    #[test]
    fn plain_lines() {
        assert_eq!(p("hello", REPL), Ok(Command::Text("hello".into())));
        assert_eq!(p("", PIPE), Ok(Command::Text(String::new())));
        assert_eq!(p("/ping", PIPE), Ok(Command::Text("/ping".into())));
        let bin = LineMode {
            slash: false,
            binary: true,
            server: false,
        };
        assert_eq!(parse(b"\xff\x00", bin), Ok(Command::Binary(vec![0xff, 0])));
        assert!(parse(b"\xff", PIPE)
            .unwrap_err()
            .contains("not valid UTF-8"));
    }

    #[test]
    fn double_slash_escapes() {
        assert_eq!(p("//ping", REPL), Ok(Command::Text("/ping".into())));
        assert_eq!(p("//", REPL), Ok(Command::Text("/".into())));
    }

    #[test]
    fn ping_pong() {
        assert_eq!(p("/ping", REPL), Ok(Command::Ping(vec![])));
        assert_eq!(
            p("/ping hi there", REPL),
            Ok(Command::Ping(b"hi there".to_vec()))
        );
        assert_eq!(p("/pong x", REPL), Ok(Command::Pong(b"x".to_vec())));
        assert!(p(&format!("/ping {}", "a".repeat(126)), REPL).is_err());
    }

    #[test]
    fn close() {
        assert_eq!(
            p("/close", REPL),
            Ok(Command::Close {
                code: 1000,
                reason: String::new()
            })
        );
        assert_eq!(
            p("/close 4001 bad token", REPL),
            Ok(Command::Close {
                code: 4001,
                reason: "bad token".into()
            })
        );
        assert!(p("/close 1005", REPL)
            .unwrap_err()
            .contains("cannot be sent"));
        assert!(p("/close 70000", REPL)
            .unwrap_err()
            .contains("not a close code"));
        assert!(p("/close abc", REPL).is_err());
        assert!(p("/close 999", REPL).is_err());
        assert!(p(&format!("/close 1000 {}", "r".repeat(124)), REPL).is_err());
    }

    #[test]
    fn binary() {
        assert_eq!(
            p("/binary 68 65 6c", REPL),
            Ok(Command::Binary(b"hel".to_vec()))
        );
        assert_eq!(
            p("/bin 68656C6c6f", REPL),
            Ok(Command::Binary(b"hello".to_vec()))
        );
        assert_eq!(p("/bin", REPL), Ok(Command::Binary(vec![])));
        assert!(p("/bin 123", REPL).unwrap_err().contains("odd number"));
        assert_eq!(p("/bin zz", REPL).unwrap_err(), "'z' is not a hex digit");
        assert_eq!(p("/bin 4g", REPL).unwrap_err(), "'g' is not a hex digit");
    }

    const SERVER: LineMode = LineMode {
        slash: true,
        binary: false,
        server: true,
    };

    #[test]
    fn server_commands() {
        assert_eq!(
            p("/to 3 hi there", SERVER),
            Ok(Command::To {
                id: 3,
                text: "hi there".into()
            })
        );
        assert_eq!(
            p("/to #3 x", SERVER),
            Ok(Command::To {
                id: 3,
                text: "x".into()
            })
        );
        assert_eq!(
            p("/kick 2 4000 bye", SERVER),
            Ok(Command::Kick {
                id: 2,
                code: 4000,
                reason: "bye".into()
            })
        );
        assert_eq!(
            p("/kick 2", SERVER),
            Ok(Command::Kick {
                id: 2,
                code: 1000,
                reason: String::new()
            })
        );
        assert_eq!(p("/clients", SERVER), Ok(Command::Clients));
        assert!(p("/to x hi", SERVER)
            .unwrap_err()
            .contains("not a client id"));
        assert!(p("/kick 2 1005", SERVER).is_err());
        assert!(p("/clients", REPL).unwrap_err().contains("server command"));
    }

    #[test]
    fn local_commands_and_unknown() {
        assert_eq!(p("/help", REPL), Ok(Command::Help));
        assert_eq!(p("/quit", REPL), Ok(Command::Quit));
        assert!(p("/frobnicate", REPL)
            .unwrap_err()
            .contains("unknown command /frobnicate"));
    }
}
