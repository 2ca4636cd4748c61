//! The REPL through a real pseudo-terminal: prompt, send, receive with a timestamp, slash
//! commands, Ctrl-C / Ctrl-D, history, a 100 KB paste, and the terminal restored afterwards.

#![cfg(unix)] // pseudo-terminals and `sh`

use crate::support;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use expectrl::{Expect, Regex, Session};
use support::{close_with, record, record_until_end, Peer, Seen, PATIENCE};
use tungstenite::Message;

type Pty = expectrl::session::OsSession;

/// Runs `wsx connect URL ARGS` in a pseudo-terminal under `sh`, which afterwards prints the
/// exit status and whether the terminal is back in canonical (cooked) mode.
fn repl(url: &str, args: &str, home: &Path) -> Pty {
    let script = format!(
        "trap true INT; {} connect {url} {args}; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{{0,1\\}}icanon'",
        env!("CARGO_BIN_EXE_wsx")
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "XDG_DATA_HOME"] {
        cmd.env_remove(var);
    }
    cmd.env("TERM", "xterm")
        .env("HOME", home)
        .env("NO_COLOR", "1");
    let mut pty = Session::spawn(cmd).expect("spawning wsx in a pty");
    pty.set_expect_timeout(Some(PATIENCE));
    pty
}

/// Waits for the prompt.
fn prompt(pty: &mut Pty) {
    pty.expect("> ").expect("the prompt");
}

/// Waits for the end and checks the exit status and that the terminal was restored.
fn ends_with(pty: &mut Pty, status: i32) {
    let found = pty
        .expect(Regex(r"EXIT=(\d+)\r?\n(-?icanon)"))
        .expect("wsx to exit");
    let code = String::from_utf8_lossy(found.get(1).unwrap()).to_string();
    let mode = String::from_utf8_lossy(found.get(2).unwrap()).to_string();
    assert_eq!(code, status.to_string(), "exit status");
    assert_eq!(mode, "icanon", "the terminal is back in canonical mode");
}

#[test]
fn type_a_line_receive_the_echo_with_a_timestamp_then_ctrl_d() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    pty.expect(Regex(
        r"\d\d:\d\d:\d\d\.\d{3} connected to ws://127\.0\.0\.1",
    ))
    .unwrap();
    prompt(&mut pty);
    pty.send_line("hello there").unwrap();
    pty.expect(Regex(r"\d\d:\d\d:\d\d\.\d{3} < hello there"))
        .unwrap();
    pty.send("\x04").unwrap(); // Ctrl-D
    pty.expect("> [close 1000 normal]").unwrap();
    ends_with(&mut pty, 0);
    assert_eq!(
        peer.all()[..2],
        [
            Seen::Text("hello there".into()),
            Seen::Close(1000, String::new())
        ]
    );
}

/// What a terminal shows after the output so far: the screen's rows, trailing blanks removed.
fn screen(output: &[u8], cols: u16) -> Vec<String> {
    use std::num::NonZeroU16;
    let size = |n: u16| NonZeroU16::new(n).expect("a non-zero size");
    let mut term = vt100::Parser::new(size(24), size(cols), 0);
    term.process(output);
    term.screen()
        .rows(0, cols)
        .map(|row| row.trim_end().to_string())
        .collect()
}

#[test]
fn a_sent_line_is_replaced_by_its_timestamped_event() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    pty.get_process_mut().set_window_size(60, 24).unwrap();
    let mut output = Vec::new();
    let mut take = |found: expectrl::Captures| {
        output.extend_from_slice(found.before());
        for m in found.matches() {
            output.extend_from_slice(m);
        }
    };
    // The first prompt is the one after the connected line: typed before that, the line
    // can meet the connected line being printed, and an erase meant for it misses.
    take(
        pty.expect(Regex(r"connected to ws://127\.0\.0\.1[^\n]*\n"))
            .unwrap(),
    );
    take(pty.expect("> ").unwrap());
    pty.send_line("hello there").unwrap();
    take(pty.expect("< hello there").unwrap());
    // The next line is typed at the next prompt, as a person would: what this test checks is
    // the editor's own rendering of a typed line, which a line typed ahead (while the
    // terminal is between two prompts, cooked, echoing it itself) does not get.
    take(pty.expect("> ").unwrap());
    // Longer than a row: the prompt and the text take two rows, and both go.
    let long = "x".repeat(70);
    pty.send_line(&long).unwrap();
    take(pty.expect(Regex(r"< x{20}")).unwrap());
    take(pty.expect("\n> ").unwrap());
    pty.send("\x04").unwrap();
    take(pty.expect(Regex(r"EXIT=\d+")).unwrap());

    let rows = screen(&output, 60);
    let time = regex::Regex::new(r"^\d\d:\d\d:\d\d\.\d{3} ").unwrap();
    let shown: Vec<String> = rows
        .iter()
        .filter(|r| r.contains("hello there") || r.contains("xxxx"))
        .map(|r| time.replace(r, "TIME ").to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "TIME > hello there".to_string(),
            "TIME < hello there".to_string(),
            format!("TIME > {}", &long[..45]),
            long[45..].to_string(),
            format!("TIME < {}", &long[..45]),
            long[45..].to_string(),
        ],
        "each sent line shows once, as an event; the screen was:\n{}",
        rows.join("\n")
    );
    assert_eq!(peer.next(), Seen::Text("hello there".into()));
}

/// Lines that arrive in one burst (typed ahead while wsx was busy, `tmux send-keys`, an
/// `expect` script, a terminal without bracketed paste) are each sent, in order: none is lost
/// between one prompt and the next.
#[test]
fn lines_typed_ahead_in_one_burst_are_all_sent_in_order() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send("one\ntwo\nthree\n").unwrap();
    pty.expect("< three").unwrap();
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
    assert_eq!(
        peer.all()[..4],
        [
            Seen::Text("one".into()),
            Seen::Text("two".into()),
            Seen::Text("three".into()),
            Seen::Close(1000, String::new())
        ]
    );
}

#[test]
fn a_frame_arriving_while_typing_leaves_the_line_intact() {
    let home = support::temp_home();
    let (go_tx, go) = mpsc::channel::<()>();
    let peer = Peer::ws(move |ws, seen| {
        go.recv_timeout(PATIENCE).expect("the go-ahead");
        ws.send(Message::text("news flash")).unwrap();
        record_until_end(ws, seen);
    });
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send("half of a").unwrap();
    pty.expect("half of a").unwrap();
    go_tx.send(()).unwrap();
    pty.expect("< news flash").unwrap();
    // rustyline redraws the prompt with the partial line below the printed frame.
    pty.expect("> half of a").unwrap();
    pty.send_line(" line").unwrap();
    assert_eq!(peer.next(), Seen::Text("half of a line".into()));
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
    assert_eq!(peer.next(), Seen::Close(1000, String::new()));
}

#[test]
fn close_command_sends_its_code_and_reason() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send_line("/close 4000 all done").unwrap();
    ends_with(&mut pty, 0);
    assert_eq!(peer.next(), Seen::Close(4000, "all done".into()));
}

#[test]
fn ctrl_c_clears_a_line_and_closes_on_an_empty_one() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send("never sent").unwrap();
    pty.send("\x03").unwrap(); // clears the line
    pty.send_line("sent").unwrap();
    pty.expect(Regex(r"< sent")).unwrap();
    pty.send("\x03").unwrap(); // on an empty line: close
    ends_with(&mut pty, 0);
    assert_eq!(
        peer.all()[..2],
        [Seen::Text("sent".into()), Seen::Close(1000, String::new())]
    );
}

#[test]
fn slash_commands_ping_binary_help_and_errors() {
    let home = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send_line("/ping probe").unwrap();
    pty.expect(Regex(r"< \[pong\] probe \(\d+\.\d+ ms\)"))
        .unwrap();
    pty.send_line("/bin 68 69").unwrap();
    pty.expect("< [binary 2 B] 68 69").unwrap();
    pty.send_line("/bin 6").unwrap();
    pty.expect("wsx: odd number of hex digits (1)").unwrap();
    pty.send_line("/close 1005").unwrap();
    pty.expect("cannot be sent as a close code").unwrap();
    pty.send_line("/help").unwrap();
    pty.expect("/quit").unwrap();
    pty.send_line("//not a command").unwrap();
    pty.expect("< /not a command").unwrap();
    pty.send_line("/quit").unwrap();
    ends_with(&mut pty, 0);
    let seen = peer.all();
    assert_eq!(
        seen[..4],
        [
            Seen::Ping(b"probe".to_vec()),
            Seen::Binary(b"hi".to_vec()),
            Seen::Text("/not a command".into()),
            Seen::Close(1000, String::new())
        ]
    );
}

#[test]
fn control_characters_from_the_peer_are_escaped() {
    let home = support::temp_home();
    let peer = Peer::ws(|ws, seen| {
        ws.send(Message::text("\x1b[2J\x1b]0;owned\x07ok")).unwrap();
        record_until_end(ws, seen);
    });
    let mut pty = repl(&peer.url(), "", home.path());
    pty.expect(r"< \x1b[2J\x1b]0;owned\x07ok").unwrap();
    prompt(&mut pty);
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
}

#[test]
fn the_terminal_is_restored_when_the_peer_closes_mid_prompt() {
    let home = support::temp_home();
    let (go_tx, go) = mpsc::channel::<()>();
    let peer = Peer::ws(move |ws, seen| {
        record(ws, seen); // "first"
        go.recv_timeout(PATIENCE).expect("the go-ahead");
        ws.send(Message::text("last words")).unwrap();
        close_with(ws, 4001, "bye");
        record_until_end(ws, seen);
    });
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send_line("first").unwrap();
    assert_eq!(peer.next(), Seen::Text("first".into()));
    pty.send("half typ").unwrap(); // the user is typing when the peer closes
    pty.expect("half typ").unwrap();
    go_tx.send(()).unwrap();
    pty.expect("< last words").unwrap();
    pty.expect("< [close 4001 \"bye\"]").unwrap();
    pty.expect("wsx: the server closed the connection: 4001 \"bye\"")
        .unwrap();
    ends_with(&mut pty, 6);
}

#[test]
fn a_second_interrupt_while_closing_exits_130() {
    let home = support::temp_home();
    let peer = Peer::tcp(|tcp, seen| {
        let mut ws = tungstenite::accept(Box::new(tcp) as Box<dyn support::Io>).unwrap();
        record(&mut ws, seen); // our Close, never answered
        let mut tcp = ws.into_inner();
        let mut buf = [0; 64];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut pty = repl(&peer.url(), "--close-timeout 30", home.path());
    prompt(&mut pty);
    pty.send("\x04").unwrap(); // Ctrl-D: close gracefully...
    assert_eq!(peer.next(), Seen::Close(1000, String::new()));
    pty.send("\x03").unwrap(); // ...and Ctrl-C while waiting for the answer
    pty.expect("wsx: interrupted").unwrap();
    ends_with(&mut pty, 130);
}

#[test]
fn a_pasted_100_kb_line_arrives_whole_as_one_frame() {
    let home = support::temp_home();
    let (len_tx, len_rx) = mpsc::channel();
    let peer = Peer::ws(move |ws, seen| {
        if let Some(Message::Text(t)) = record(ws, seen) {
            let _ = len_tx.send(t.len());
        }
        record_until_end(ws, seen);
    });
    let mut pty = repl(&peer.url(), "--no-history", home.path());
    prompt(&mut pty);
    let line = "0123456789".repeat(10_000);
    // A terminal wraps a paste in bracketed-paste markers once the editor asks for them.
    let paste = format!("\x1b[200~{line}\x1b[201~\r");
    // Feed it in pieces and keep reading the echo, as a terminal emulator would: otherwise
    // both pty buffers fill up.
    let mut sink = [0u8; 65536];
    for chunk in paste.as_bytes().chunks(1024) {
        pty.send(chunk).unwrap();
        while let Ok(n) = pty.try_read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
    let len = loop {
        match len_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(len) => break len,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = pty.try_read(&mut sink); // keep draining the echo
            }
            Err(e) => panic!("the peer went away: {e}"),
        }
    };
    assert_eq!(len, 100_000);
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
}

#[test]
fn history_is_kept_between_sessions_unless_disabled() {
    let home = support::temp_home();
    let file = home.path().join(".local/share/wsx/history");

    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send_line("remember me").unwrap();
    pty.expect("< remember me").unwrap();
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
    drop(peer);
    let saved = std::fs::read_to_string(&file).expect("the history file");
    assert!(saved.contains("remember me"), "{saved}");

    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    pty.send("\x1b[A").unwrap(); // Up: the previous session's line
    pty.send("\r").unwrap();
    pty.expect("< remember me").unwrap();
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
    assert_eq!(peer.next(), Seen::Text("remember me".into()));
    drop(peer);

    let other = support::temp_home();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "--no-history", other.path());
    prompt(&mut pty);
    pty.send_line("forget me").unwrap();
    pty.expect("< forget me").unwrap();
    pty.send("\x04").unwrap();
    ends_with(&mut pty, 0);
    assert!(!other.path().join(".local/share/wsx/history").exists());
}

#[test]
fn the_server_repl_broadcasts_shows_clients_and_shuts_down_on_ctrl_d() {
    let home = support::temp_home();
    let script = format!(
        "{} listen 127.0.0.1:0 --timestamps none; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{{0,1\\}}icanon'",
        env!("CARGO_BIN_EXE_wsx")
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("TERM", "xterm")
        .env("HOME", home.path())
        .env("NO_COLOR", "1");
    let mut pty = Session::spawn(cmd).expect("spawning wsx listen in a pty");
    pty.set_expect_timeout(Some(PATIENCE));
    let found = pty
        .expect(Regex(r"listening on ws://127\.0\.0\.1:(\d+)"))
        .unwrap();
    let port: u16 = String::from_utf8_lossy(found.get(1).unwrap())
        .parse()
        .unwrap();
    prompt(&mut pty);
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let (mut client, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/"), tcp).unwrap();
    pty.expect("#1 connected from 127.0.0.1:").unwrap();
    pty.send_line("to everyone").unwrap();
    assert_eq!(client.read().unwrap(), Message::text("to everyone"));
    client.send(Message::text("hi operator")).unwrap();
    pty.expect("#1 < hi operator").unwrap();
    pty.send("\x04").unwrap(); // Ctrl-D: close every client with 1001 and exit
    match client.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected Close 1001, got {other:?}"),
    }
    ends_with(&mut pty, 0);
}

#[test]
fn alt_enter_makes_one_message_of_several_lines_and_file_sends_a_file() {
    let home = support::temp_home();
    let file = home.path().join("payload.json");
    std::fs::write(&file, "{\n  \"from\": \"a file\"\n}\n").unwrap();
    let peer = Peer::echo();
    let mut pty = repl(&peer.url(), "", home.path());
    prompt(&mut pty);
    // Alt+Enter is ESC then CR in a terminal.
    pty.send("first line\x1b\rsecond line\r").unwrap();
    pty.expect("< first line\\nsecond line").unwrap();
    pty.send_line(format!("/file {}", file.display())).unwrap();
    pty.expect("< {").unwrap();
    pty.send("\x04").unwrap(); // Ctrl-D
    ends_with(&mut pty, 0);
    assert_eq!(
        peer.all()[..2],
        [
            Seen::Text("first line\nsecond line".into()),
            Seen::Text("{\n  \"from\": \"a file\"\n}\n".into()),
        ]
    );
}
