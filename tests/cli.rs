//! One-shot command-line behaviour: help, version, and usage errors (exit 2).

mod support;

use support::{run, wsx};

fn wsx_with(args: &[&str]) -> support::Run {
    let mut cmd = wsx();
    cmd.args(args);
    run(cmd, b"")
}

#[test]
fn help_shows_the_exit_status_table() {
    for args in [&["--help"][..], &["connect", "--help"]] {
        let out = wsx_with(args);
        assert_eq!(out.code, Some(0));
        let help = out.stdout_text();
        for row in [
            "0    finished normally",
            "3    could not connect",
            "4    handshake rejected",
            "6    the peer started a close",
            "130  interrupted",
        ] {
            assert!(help.contains(row), "{args:?} --help lacks {row:?}");
        }
    }
}

#[test]
fn version() {
    let out = wsx_with(&["--version"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout_text(),
        format!("wsx {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn exit_2_for_usage_errors() {
    for args in [
        &["connect"][..],
        &["connect", "ftp://example.com/"],
        &["connect", "ws://h/", "--format", "xml"],
        &["connect", "ws://h/", "--count", "0"],
        &["connect", "ws://h/", "-w", "soon"],
        &["connect", "ws://h/", "--no-such-flag"],
        &["frobnicate"],
    ] {
        let out = wsx_with(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error:"), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn negative_wait_is_a_value_not_a_flag() {
    // Parsing succeeds; the connection to a closed port then fails with 3, not 2.
    let url = format!("ws://127.0.0.1:{}/", support::closed_port());
    let out = wsx_with(&["connect", &url, "-w", "-1"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
}
