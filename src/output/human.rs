//! `--format human`: one line per event with time, direction and type, for people.
//!
//! Pure: the caller stamps events and decides color; remote text is always escaped here.

use std::fmt::Write as _;

use colored::Colorize;

use super::{render_time, View};
use crate::event::{Dir, Event, Kind, Opened};
use crate::term::escape;

/// How many bytes of a binary payload are shown in hex before the rest is counted.
const HEX_PREVIEW: usize = 32;

/// Appends the line for `ev` (with its `\n`) to `out`, or nothing when the event is hidden.
pub fn render(ev: &Event, view: &View, out: &mut String) {
    if hidden(ev, view) {
        return;
    }
    // The column where the payload starts, for --pretty's continuation lines.
    let mut column = 2;
    if let Some(time) = render_time(ev.at, view) {
        column += time.len() + 1;
        let _ = write!(out, "{} ", time.dimmed());
    }
    if let Some(id) = ev.client {
        let id = format!("#{id}");
        column += id.len() + 1;
        let _ = write!(out, "{} ", id.bold());
    }
    match &ev.kind {
        Kind::Open(open) => {
            let Opened {
                peer,
                subprotocol,
                extension,
                subject,
                upstream,
                ..
            } = &**open;
            let mut line = match ev.dir {
                Dir::Out => format!("connected to {}", escape(peer)),
                Dir::In => format!("connected from {}", escape(peer)),
            };
            if let Some(url) = upstream {
                let _ = write!(line, ", relayed to {}", escape(url));
            }
            if let Some(p) = subprotocol {
                let _ = write!(line, " (subprotocol {})", escape(p));
            }
            if let Some(e) = extension {
                let _ = write!(line, " ({})", escape(e));
            }
            if let Some(subject) = subject {
                let _ = write!(line, " (certificate {})", escape(subject));
            }
            let _ = write!(out, "{}", line.dimmed());
        }
        Kind::Disconnected { reason } => {
            let line = match reason {
                Some(r) => format!("disconnected: {}", escape(r)),
                None => "disconnected".to_string(),
            };
            let _ = write!(out, "{}", line.dimmed());
        }
        kind => {
            let arrow = match ev.dir {
                Dir::In => "<".green().bold(),
                Dir::Out => ">".blue().bold(),
            };
            let _ = write!(out, "{arrow}");
            let wire = ev.wire.filter(|_| view.wire_sizes);
            body(kind, view.pretty.then_some(column), wire, out);
            if ev.replayed {
                let _ = write!(out, " {}", "(replayed)".dimmed());
            }
        }
    }
    out.push('\n');
}

fn hidden(ev: &Event, view: &View) -> bool {
    match &ev.kind {
        // A pong that answers our /ping is what the user asked to see.
        Kind::Pong { rtt: Some(_), .. } => false,
        k if k.is_ping_pong() => !view.show_ping_pong,
        _ => false,
    }
}

/// What follows the arrow, each part after a space: the payload exactly as it came (escaped,
/// never trimmed), so an empty one leaves nothing. `wire`: the compressed size, shown beside
/// the size.
fn body(kind: &Kind, pretty: Option<usize>, wire: Option<usize>, out: &mut String) {
    match kind {
        Kind::Text(text) => {
            let color = colored::control::SHOULD_COLORIZE.should_colorize();
            if !text.is_empty() {
                out.push(' ');
                if !super::json::render(text, pretty, color, out) {
                    out.push_str(&escape(text));
                }
            }
            if let Some(wire) = wire {
                let sizes = format!("({} B, {wire} B compressed)", text.len());
                let _ = write!(out, " {}", sizes.dimmed());
            }
        }
        Kind::Binary(bytes) => {
            let label = match wire {
                Some(wire) => format!("[binary {} B, {wire} B compressed]", bytes.len()),
                None => format!("[binary {} B]", bytes.len()),
            };
            let _ = write!(out, " {}", label.magenta());
            hex_preview(bytes, out);
        }
        Kind::Ping(data) => {
            let _ = write!(out, " {}", "[ping]".yellow());
            control_payload(data, out);
        }
        Kind::Pong { data, rtt } => {
            let _ = write!(out, " {}", "[pong]".yellow());
            control_payload(data, out);
            if let Some(rtt) = rtt {
                let text = format!("({})", format_rtt(*rtt));
                let _ = write!(out, " {}", text.cyan());
            }
        }
        Kind::Close(info) => {
            let text = match info.code {
                Some(_) => format!("[close {}]", info.describe()),
                None => "[close]".to_string(),
            };
            let styled = if info.is_normal() {
                text.yellow()
            } else {
                text.red()
            };
            let _ = write!(out, " {styled}");
        }
        Kind::Open(_) | Kind::Disconnected { .. } => {}
    }
}

/// A ping's or pong's payload after a space, as text (escaped); nothing when it is empty.
fn control_payload(data: &[u8], out: &mut String) {
    if !data.is_empty() {
        out.push(' ');
        out.push_str(&escape(&String::from_utf8_lossy(data)));
    }
}

/// Up to [`HEX_PREVIEW`] bytes in hex, after a space, then a count of the rest.
fn hex_preview(bytes: &[u8], out: &mut String) {
    if bytes.is_empty() {
        return;
    }
    let mut hex = vec![b' '];
    super::spaced_hex(&bytes[..bytes.len().min(HEX_PREVIEW)], &mut hex);
    out.push_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"));
    if bytes.len() > HEX_PREVIEW {
        let _ = write!(out, " … (+{} B)", bytes.len() - HEX_PREVIEW);
    }
}

/// `0.42 ms`, `12.3 ms`, `1.204 s`.
pub fn format_rtt(rtt: std::time::Duration) -> String {
    let ms = rtt.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.3} s", rtt.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CloseInfo;
    use crate::output::Timestamps;
    use std::time::{Duration, SystemTime};

    fn view(ts: Timestamps) -> View {
        View {
            timestamps: ts,
            show_ping_pong: false,
            pretty: false,
            wire_sizes: false,
            start: SystemTime::UNIX_EPOCH,
            utc_offset: 0,
        }
    }

    fn line(kind: Kind, dir: Dir, client: Option<u64>, v: &View) -> String {
        sized(kind, dir, client, None, v)
    }

    fn sized(kind: Kind, dir: Dir, client: Option<u64>, wire: Option<usize>, v: &View) -> String {
        colored::control::set_override(false);
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(3_723_045); // 01:02:03.045
        let mut out = String::new();
        render(
            &Event {
                at,
                client,
                dir,
                kind,
                wire,
                replayed: false,
            },
            v,
            &mut out,
        );
        out
    }

    #[test]
    fn compressed_sizes_show_with_verbose() {
        let mut v = view(Timestamps::None);
        let text = || Kind::Text("hello hello".into());
        let binary = || Kind::Binary(vec![0u8; 40].into());
        assert_eq!(sized(text(), Dir::In, None, Some(9), &v), "< hello hello\n");
        v.wire_sizes = true;
        assert_eq!(
            sized(text(), Dir::In, None, Some(9), &v),
            "< hello hello (11 B, 9 B compressed)\n"
        );
        assert_eq!(sized(text(), Dir::Out, None, None, &v), "> hello hello\n");
        assert!(sized(binary(), Dir::In, None, Some(5), &v)
            .starts_with("< [binary 40 B, 5 B compressed] 00 00"));
    }

    #[test]
    fn text_lines_with_each_timestamp_style() {
        let k = || Kind::Text("hello".into());
        assert_eq!(
            line(k(), Dir::In, None, &view(Timestamps::Utc)),
            "01:02:03.045 < hello\n"
        );
        assert_eq!(
            line(k(), Dir::Out, None, &view(Timestamps::None)),
            "> hello\n"
        );
        assert_eq!(
            line(k(), Dir::In, None, &view(Timestamps::Elapsed)),
            "+3723.045 < hello\n"
        );
        let mut local = view(Timestamps::Local);
        local.utc_offset = 3600;
        assert_eq!(line(k(), Dir::In, None, &local), "02:02:03.045 < hello\n");
        assert_eq!(
            line(k(), Dir::In, Some(3), &view(Timestamps::None)),
            "#3 < hello\n"
        );
        assert_eq!(
            line(
                Kind::Text("".into()),
                Dir::In,
                None,
                &view(Timestamps::None)
            ),
            "<\n"
        );
    }

    #[test]
    fn payloads_are_shown_as_they_came_spaces_included() {
        let v = view(Timestamps::None);
        let text = |t: &str| line(Kind::Text(t.into()), Dir::In, None, &v);
        assert_eq!(text("hello "), "< hello \n");
        assert_eq!(text("  "), "<   \n");
        assert_eq!(text(" a  b "), "<  a  b \n");
        assert_eq!(
            line(
                Kind::Ping(b"p ".to_vec()),
                Dir::In,
                None,
                &View {
                    show_ping_pong: true,
                    ..v.clone()
                }
            ),
            "< [ping] p \n"
        );
        assert_eq!(
            line(
                Kind::Ping(Vec::new()),
                Dir::In,
                None,
                &View {
                    show_ping_pong: true,
                    ..v.clone()
                }
            ),
            "< [ping]\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let v = view(Timestamps::None);
        let got = line(Kind::Text("\x1b]0;pwned\x07\r\n".into()), Dir::In, None, &v);
        assert_eq!(got, "< \\x1b]0;pwned\\x07\\r\\n\n");
    }

    #[test]
    fn binary_is_a_hex_preview() {
        let v = view(Timestamps::None);
        assert_eq!(
            line(Kind::Binary(b"hello".to_vec().into()), Dir::In, None, &v),
            "< [binary 5 B] 68 65 6c 6c 6f\n"
        );
        let long = line(Kind::Binary(vec![0xab; 40].into()), Dir::In, None, &v);
        assert!(long.starts_with("< [binary 40 B] ab ab"), "{long}");
        assert!(long.ends_with(" ab … (+8 B)\n"), "{long}");
    }

    #[test]
    fn control_frames_need_show_ping_pong() {
        let mut v = view(Timestamps::None);
        assert_eq!(line(Kind::Ping(b"x".to_vec()), Dir::In, None, &v), "");
        let rtt = Kind::Pong {
            data: vec![],
            rtt: Some(Duration::from_micros(1500)),
        };
        assert_eq!(line(rtt, Dir::In, None, &v), "< [pong] (1.50 ms)\n");
        v.show_ping_pong = true;
        assert_eq!(
            line(Kind::Ping(b"x".to_vec()), Dir::In, None, &v),
            "< [ping] x\n"
        );
    }

    #[test]
    fn close_and_connection_events() {
        let v = view(Timestamps::None);
        let close = |c, r: &str| Kind::Close(CloseInfo::new(c, r));
        assert_eq!(
            line(close(1000, ""), Dir::In, None, &v),
            "< [close 1000 normal]\n"
        );
        assert_eq!(
            line(close(4001, "bye"), Dir::Out, None, &v),
            "> [close 4001 \"bye\"]\n"
        );
        let open = Kind::Open(Box::new(Opened {
            peer: "ws://h/".into(),
            subprotocol: Some("chat".into()),
            extension: None,
            subject: None,
            upstream: None,
            ..Default::default()
        }));
        assert_eq!(
            line(open, Dir::Out, None, &v),
            "connected to ws://h/ (subprotocol chat)\n"
        );
        let open = Kind::Open(Box::new(Opened {
            peer: "ws://h/".into(),
            subprotocol: None,
            extension: Some("permessage-deflate; server_no_context_takeover".into()),
            subject: None,
            upstream: None,
            ..Default::default()
        }));
        assert_eq!(
            line(open, Dir::Out, None, &v),
            "connected to ws://h/ (permessage-deflate; server_no_context_takeover)\n"
        );
        let gone = Kind::Disconnected {
            reason: Some("reset".into()),
        };
        assert_eq!(line(gone, Dir::In, Some(2), &v), "#2 disconnected: reset\n");
    }

    #[test]
    fn rtt_units() {
        assert_eq!(format_rtt(Duration::from_micros(420)), "0.42 ms");
        assert_eq!(format_rtt(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(format_rtt(Duration::from_millis(1204)), "1.204 s");
    }
}
