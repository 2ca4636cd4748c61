//! The README's transcripts are real: every `console` block that can run offline is run
//! against the built binary, and its output must be the one shown.
//!
//! Each block is preceded by an HTML comment that GitHub does not show:
//! `<!-- readme-check: run -->`, with setup if it needs it, one directive a line before the
//! `-->` (`server: wsx listen 9001 --echo`, `file payload.json: {...}`), or
//! `<!-- readme-check: skip (why) -->` for what needs a terminal, a browser, certificates or a
//! second machine. A block without one fails the test, so a new transcript is either checked
//! or says why not.
//!
//! Servers (the `server:` setup, and `wsx listen ... &` lines) are started on port 0 and
//! waited for by their readiness line; the README's port is replaced by the real one in the
//! commands, and back in the output. What differs on every run is made alike on both sides:
//! times, clients' ephemeral ports, handshake keys. stdout and stderr are read apart, so the
//! shown lines must be the two streams' lines, each stream in its order.
#![cfg(unix)]

use crate::support;

use std::path::Path;
use std::process::Command;

use regex::Regex;
use support::Server;

/// One `console` block: its annotation and its lines.
struct Block {
    /// The README line of its opening fence, for messages.
    line: usize,
    annotation: String,
    text: Vec<String>,
}

/// One `$` command of a block and the lines shown after it.
struct Step {
    command: String,
    shown: Vec<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if fence != "```console" {
            i += 1;
            continue;
        }
        let indent = lines[i].len() - fence.len();
        let annotation = annotation(&lines[..i]);
        let start = i + 1;
        i = start;
        while i < lines.len() && lines[i].trim_start() != "```" {
            i += 1;
        }
        let text = lines[start..i]
            .iter()
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()).to_string())
            .collect();
        blocks.push(Block {
            line: start,
            annotation,
            text,
        });
        i += 1;
    }
    blocks
}

/// The `readme-check` comment that ends right above a block (its lines joined by `\n`), or
/// an empty string.
fn annotation(above: &[&str]) -> String {
    let above: Vec<&str> = above
        .iter()
        .rev()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty())
        .collect();
    if !above.first().is_some_and(|l| l.ends_with("-->")) {
        return String::new();
    }
    let Some(start) = above
        .iter()
        .position(|l| l.starts_with("<!-- readme-check:"))
    else {
        return String::new();
    };
    let mut lines: Vec<&str> = above[..=start].iter().rev().copied().collect();
    lines[0] = lines[0].trim_start_matches("<!-- readme-check:");
    let last = lines.len() - 1;
    lines[last] = lines[last].trim_end_matches("-->");
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn steps(block: &Block) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continued = false;
    for line in &block.text {
        if continued {
            let step = steps.last_mut().expect("a command to continue");
            step.command.push('\n');
            step.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_string(),
                shown: Vec::new(),
            });
            continued = command.ends_with('\\');
        } else {
            let step = steps.last_mut().expect("output after a command");
            step.shown.push(line.clone());
        }
    }
    steps
}

/// A server the block needs, started on port 0 (a Unix socket in the block's folder), and
/// what to put back for the README's address in commands and output.
struct Started {
    server: Server,
    readme: String,
    real: String,
}

/// `earlier`: the servers already started, whose README addresses the command may name (a
/// relay's `--forward`).
fn start_server(command: &str, dir: &Path, earlier: &[Started]) -> Started {
    let listen = Regex::new(r"^wsx listen (\S+)").unwrap();
    let addr = listen
        .captures(command)
        .unwrap_or_else(|| panic!("not a wsx listen command: {command}"))[1]
        .to_string();
    let (bind, readme_addr) = match addr.strip_prefix("unix:") {
        Some(path) => {
            let real = dir.join("listen.sock").display().to_string();
            (format!("unix:{real}"), path.to_string())
        }
        None => (
            "127.0.0.1:0".to_string(),
            addr.rsplit(':').next().unwrap().to_string(),
        ),
    };
    // The readiness line is what a test waits for: -q would silence it.
    let command = listen
        .replace(command, format!("wsx listen {bind}").as_str())
        .replace(" -q ", " ")
        .trim_end()
        .trim_end_matches('&')
        .to_string();
    let command = swap(&command, earlier, true);
    let mut sh = shell(dir);
    sh.arg("-c").arg(format!("exec {command}"));
    let server = Server::start_command(sh);
    let real = match bind.strip_prefix("unix:") {
        Some(path) => path.to_string(),
        None => server.port.to_string(),
    };
    Started {
        server,
        readme: readme_addr,
        real,
    }
}

/// `sh` in `dir`, with the built wsx first on PATH, in the environment of `wsx()`.
fn shell(dir: &Path) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_wsx")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = support::scrubbed("sh");
    sh.env("PATH", path).current_dir(dir);
    sh
}

/// A word-bounded replacement of the README's address by the real one, or back.
fn swap(text: &str, servers: &[Started], to_real: bool) -> String {
    let mut text = text.to_string();
    for s in servers {
        let (from, to) = if to_real {
            (&s.readme, &s.real)
        } else {
            (&s.real, &s.readme)
        };
        // A port as a whole number only; a path as it is.
        if from.bytes().all(|b| b.is_ascii_digit()) {
            let re = Regex::new(&format!(r"\b{from}\b")).unwrap();
            text = re.replace_all(&text, to.as_str()).into_owned();
        } else {
            text = text.replace(from.as_str(), to);
        }
    }
    text
}

/// What differs on every run, made alike.
fn alike(line: &str) -> String {
    let rules = [
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)",
            "<rfc3339>",
        ),
        (r"\b\d\d:\d\d:\d\d\.\d{3}\b", "<time>"),
        (r"127\.0\.0\.1:\d{5}\b", "127.0.0.1:<ephemeral>"),
        (r"(sec-websocket-(key|accept)): \S+", "$1: <key>"),
    ];
    let mut line = line.to_string();
    for (pattern, with) in rules {
        line = Regex::new(pattern)
            .unwrap()
            .replace_all(&line, with)
            .into_owned();
    }
    line
}

/// Checks that `shown` is `stdout` and `stderr` interleaved, each in its order.
fn check_interleaved(what: &str, shown: &[String], stdout: &[String], stderr: &[String]) {
    let (mut o, mut e) = (0, 0);
    for line in shown {
        let want = alike(line);
        if stdout.get(o).map(|l| alike(l)) == Some(want.clone()) {
            o += 1;
        } else if stderr.get(e).map(|l| alike(l)) == Some(want.clone()) {
            e += 1;
        } else {
            panic!(
                "{what}: the README shows\n    {line}\nbut the next lines were\n    stdout: {:?}\n    stderr: {:?}\n(all of stdout: {stdout:#?}\nall of stderr: {stderr:#?})",
                stdout.get(o),
                stderr.get(e)
            );
        }
    }
    assert!(
        o == stdout.len() && e == stderr.len(),
        "{what}: the README does not show\n    stdout: {:#?}\n    stderr: {:#?}",
        &stdout[o..],
        &stderr[e..]
    );
}

fn run_block(block: &Block) {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for directive in block.annotation.lines().skip(1) {
        if let Some(command) = directive.strip_prefix("server: ") {
            let started = start_server(command, dir.path(), &servers);
            servers.push(started);
        } else if let Some(file) = directive.strip_prefix("file ") {
            let (name, contents) = file.split_once(": ").expect("file NAME: CONTENTS");
            std::fs::write(dir.path().join(name), contents).unwrap();
        } else {
            panic!(
                "README line {}: unknown directive {directive:?}",
                block.line
            );
        }
    }
    let mut script = String::new();
    let mut checked = Vec::new();
    for step in steps(block) {
        let background = step.command.starts_with("wsx listen") && step.command.ends_with('&');
        if background {
            let started = start_server(&step.command, dir.path(), &servers);
            // Its readiness line, if the README shows it.
            if !step.shown.is_empty() {
                let url = started.server.url.trim_end_matches('/');
                let readiness = format!("listening on {url}");
                let readiness = swap(&readiness, std::slice::from_ref(&started), false);
                assert_eq!(
                    step.shown,
                    [readiness],
                    "README line {}: {}",
                    block.line,
                    step.command
                );
            }
            servers.push(started);
            continue;
        }
        script.push_str(&swap(&step.command, &servers, true));
        // The status survives the markers, for a following `echo $?`.
        script.push_str("\n__status=$?; echo @@@; echo @@@ >&2; (exit $__status)\n");
        checked.push(step);
    }
    let mut sh = shell(dir.path());
    sh.arg("-c").arg(&script);
    let out = support::run(sh, b"");
    let split = |bytes: &[u8]| -> Vec<Vec<String>> {
        let text = swap(&String::from_utf8_lossy(bytes), &servers, false);
        let mut parts: Vec<Vec<String>> = vec![Vec::new()];
        for line in text.lines() {
            if line == "@@@" {
                parts.push(Vec::new());
            } else {
                parts.last_mut().unwrap().push(line.to_string());
            }
        }
        parts
    };
    let (stdout, stderr) = (split(&out.stdout), split(out.stderr.as_bytes()));
    for (i, step) in checked.iter().enumerate() {
        let what = format!("README line {}: $ {}", block.line, step.command);
        check_interleaved(&what, &step.shown, &stdout[i], &stderr[i]);
    }
    drop(servers);
}

#[test]
fn every_console_block_is_checked_or_says_why_not() {
    let readme = include_str!("../../README.md");
    let blocks = blocks(readme);
    assert!(blocks.len() > 20, "found {} blocks", blocks.len());
    for block in &blocks {
        let kind = block.annotation.lines().next().unwrap_or_default();
        assert!(
            kind == "run" || (kind.starts_with("skip (") && kind.ends_with(')')),
            "README line {}: a console block needs <!-- readme-check: run --> or <!-- readme-check: skip (why) --> before it, not {:?}",
            block.line,
            block.annotation
        );
    }
}

#[test]
fn the_readmes_transcripts_are_what_wsx_prints() {
    let readme = include_str!("../../README.md");
    let runnable: Vec<Block> = blocks(readme)
        .into_iter()
        .filter(|b| b.annotation.lines().next() == Some("run"))
        .collect();
    assert!(runnable.len() >= 8, "only {} blocks run", runnable.len());
    // Each block on a thread of its own: several wait for a linger or a time limit.
    let handles: Vec<_> = runnable
        .into_iter()
        .map(|block| std::thread::spawn(move || run_block(&block)))
        .collect();
    let mut failures = Vec::new();
    for handle in handles {
        if let Err(panic) = handle.join() {
            failures.push(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
