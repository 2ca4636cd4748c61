//! The completion scripts committed under `completions/` and the manual pages under `man/`
//! match what `wsx completions` and `wsx man` generate from the current CLI definition.

use crate::support;

use std::path::Path;

const SCRIPTS: [(&str, &str); 5] = [
    ("bash", "wsx.bash"),
    ("zsh", "_wsx"),
    ("fish", "wsx.fish"),
    ("elvish", "wsx.elv"),
    ("powershell", "_wsx.ps1"),
];

#[test]
fn committed_completions_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in SCRIPTS {
        let mut cmd = support::wsx();
        cmd.args(["completions", shell]);
        let out = support::run(cmd, b"");
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(
            committed == out.stdout,
            "completions/{file} is out of date; regenerate it with:\n    cargo run -- completions {shell} > completions/{file}"
        );
    }
}

#[test]
fn completions_know_the_subcommands_and_flags() {
    let mut cmd = support::wsx();
    cmd.args(["completions", "bash"]);
    let script = support::run(cmd, b"").stdout_text();
    for word in [
        "connect",
        "completions",
        "--format",
        "--timestamps",
        "--binary-output",
        "jsonl",
    ] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completions"
        );
    }
}

#[test]
fn committed_man_pages_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for command in [
        None,
        Some("connect"),
        Some("listen"),
        Some("completions"),
        Some("man"),
    ] {
        let mut cmd = support::wsx();
        cmd.arg("man").args(command);
        let out = support::run(cmd, b"");
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let file = command.map_or("wsx.1".to_string(), |c| format!("wsx-{c}.1"));
        let committed = std::fs::read(dir.join(&file)).unwrap_or_default();
        let args = command.unwrap_or_default();
        assert!(
            committed == out.stdout,
            "man/{file} is out of date; regenerate it with:\n    cargo run -- man {args} > man/{file}"
        );
    }
    let page = String::from_utf8(std::fs::read(dir.join("wsx-connect.1")).unwrap()).unwrap();
    assert!(
        page.contains("wsx\\-connect"),
        "named as git names its pages"
    );
    assert!(page.contains("\\-\\-echo"), "with the command's flags");
}

#[test]
fn man_refuses_an_unknown_command() {
    let mut cmd = support::wsx();
    cmd.args(["man", "nope"]);
    let out = support::run(cmd, b"");
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}
