//! `--format raw`: only the payload of each received data frame, for scripts.
//!
//! Text gets one `\n` per frame; binary follows `--binary-output`. Nothing else is written.

use base64::Engine as _;

use super::BinaryOutput;
use crate::event::{Dir, Event, Kind};
use crate::term::escape;

/// Appends the bytes for `ev` to `out` (nothing for events other than received data).
///
/// On a terminal (`tty`), text is escaped and raw binary is shown as hex instead, so that a
/// peer cannot write escape sequences to the user's terminal.
pub fn render(ev: &Event, binary: BinaryOutput, tty: bool, out: &mut Vec<u8>) {
    if ev.dir != Dir::In {
        return;
    }
    match &ev.kind {
        Kind::Text(text) if tty => {
            out.extend_from_slice(escape(text).as_bytes());
            out.push(b'\n');
        }
        Kind::Text(text) => {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
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
        let mut buf = Vec::new();
        render(
            &Event {
                at: SystemTime::UNIX_EPOCH,
                client: None,
                dir,
                kind,
                wire: None,
            },
            binary,
            tty,
            &mut buf,
        );
        buf
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
