//! One-shot command-line behaviour: help, version, and usage errors (exit 2).

use crate::support;

use support::{run, wsx};

fn wsx_with(args: &[&str]) -> support::Run {
    let mut cmd = wsx();
    cmd.args(args);
    run(cmd, b"")
}

/// The rows of the README's exit-status table for `wsx COMMAND`: (status, meaning as plain
/// text).
fn readme_exit_table(command: &str) -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let heading = format!("### `wsx {command}`\n");
    let at = readme.find(&heading).expect("the README's table");
    readme[at + heading.len()..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            (
                cells[0].trim().to_string(),
                cells[1].trim().replace('`', ""),
            )
        })
        .collect()
}

#[test]
fn each_commands_help_has_its_whole_exit_table() {
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for command in ["connect", "listen"] {
        let rows = readme_exit_table(command);
        assert!(rows.len() >= 4, "{rows:?}");
        let out = wsx_with(&[command, "--help"]);
        assert_eq!(out.code, Some(0));
        let help = out.stdout_text();
        let (_, table) = help
            .split_once("Exit status:")
            .unwrap_or_else(|| panic!("wsx {command} --help has no exit table"));
        let expected: Vec<String> = rows.iter().map(|(c, m)| format!("{c} {m}")).collect();
        assert_eq!(words(table), expected.join(" "), "wsx {command} --help");
    }
    let top = wsx_with(&["--help"]).stdout_text();
    assert!(
        top.contains("wsx connect --help") && top.contains("wsx listen --help"),
        "{top}"
    );
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
