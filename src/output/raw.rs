//! `--format raw`: only the payload of each received data frame, for scripts.
//!
//! Text gets one `\n` per frame; binary follows `--binary-output`. Nothing else is written.
//! With `--stream` not even the newline: stdout is the payloads' bytes, one after the other.

use base64::Engine as _;

use super::BinaryOutput;
use crate::event::{Dir, Event, Kind};
use crate::term::escape;

/// Appends the bytes for `ev` to `out` (nothing for events other than received data).
///
/// On a terminal (`tty`), text is escaped and raw binary is shown as hex instead, so that a
/// peer cannot write escape sequences to the user's terminal (with `stream` too: a terminal
/// gets one line per frame).
/// Only events in direction `shown` are written (`In` but in a relay).
pub fn render(
    ev: &Event,
    shown: Dir,
    binary: BinaryOutput,
    tty: bool,
    stream: bool,
    out: &mut Vec<u8>,
) {
    if ev.dir != shown {
        return;
    }
    match &ev.kind {
        Kind::Text(text) if tty => {
            out.extend_from_slice(escape(text).as_bytes());
            out.push(b'\n');
        }
        Kind::Text(text) => {
            out.extend_from_slice(text.as_bytes());
            if !stream {
                out.push(b'\n');
            }
        }
        Kind::Binary(bytes) => match binary {
            BinaryOutput::Raw if !tty => out.extend_from_slice(bytes),
            BinaryOutput::Raw | BinaryOutput::Hex => {
                super::spaced_hex(bytes, out);
                out.push(b'\n');
            }
            BinaryOutput::Base64 => {
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(bytes)
                        .as_bytes(),
                );
                out.push(b'\n');
            }
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn out(kind: Kind, dir: Dir, binary: BinaryOutput, tty: bool) -> Vec<u8> {
        out_as(kind, dir, binary, tty, false)
    }

    fn out_as(kind: Kind, dir: Dir, binary: BinaryOutput, tty: bool, stream: bool) -> Vec<u8> {
        let mut buf = Vec::new();
        render(
            &Event {
                at: SystemTime::UNIX_EPOCH,
                client: None,
                dir,
                kind,
                wire: None,
                replayed: false,
            },
            Dir::In,
            binary,
            tty,
            stream,
            &mut buf,
        );
        buf
    }

    #[test]
    fn a_stream_is_the_payloads_and_nothing_else_unless_on_a_terminal() {
        let text = || Kind::Text("a\x1b".into());
        let raw = BinaryOutput::Raw;
        assert_eq!(out_as(text(), Dir::In, raw, false, true), b"a\x1b");
        assert_eq!(
            out_as(Kind::Binary(vec![0, 10].into()), Dir::In, raw, false, true),
            [0, 10]
        );
        assert_eq!(out_as(text(), Dir::In, raw, true, true), b"a\\x1b\n");
    }

    #[test]
    fn text_is_one_line_per_frame() {
        assert_eq!(
            out(Kind::Text("a b".into()), Dir::In, BinaryOutput::Raw, false),
            b"a b\n"
        );
        assert_eq!(
            out(Kind::Text("x".into()), Dir::Out, BinaryOutput::Raw, false),
            b""
        );
        assert_eq!(
            out(
                Kind::Text("\x1b[2J".into()),
                Dir::In,
                BinaryOutput::Raw,
                false
            ),
            b"\x1b[2J\n"
        );
        assert_eq!(
            out(
                Kind::Text("\x1b[2J".into()),
                Dir::In,
                BinaryOutput::Raw,
                true
            ),
            b"\\x1b[2J\n"
        );
    }

    #[test]
    fn binary_encodings() {
        let bin = || Kind::Binary(vec![0, 0xff, 0x10].into());
        assert_eq!(
            out(bin(), Dir::In, BinaryOutput::Raw, false),
            vec![0, 0xff, 0x10]
        );
        assert_eq!(out(bin(), Dir::In, BinaryOutput::Hex, false), b"00 ff 10\n");
        assert_eq!(out(bin(), Dir::In, BinaryOutput::Base64, false), b"AP8Q\n");
        assert_eq!(out(bin(), Dir::In, BinaryOutput::Raw, true), b"00 ff 10\n");
    }

    #[test]
    fn control_and_connection_events_are_silent() {
        assert!(out(Kind::Ping(vec![1]), Dir::In, BinaryOutput::Raw, false).is_empty());
        let close = Kind::Close(crate::event::CloseInfo::new(1000, ""));
        assert!(out(close, Dir::In, BinaryOutput::Raw, false).is_empty());
    }
}
