//! The completion scripts committed under `completions/` match what `wsx completions`
//! generates from the current CLI definition.

mod support;

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
