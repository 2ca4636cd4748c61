//! Benchmarks for `wsx connect`, side by side with a bare tungstenite client and, when it is
//! installed, websocat. Run with `bench/run` (or `cargo bench --bench wsx`).
//!
//! Everything talks to a reference echo server written here: a plain tungstenite loop, one
//! thread per connection, on 127.0.0.1 port 0. Targets (issue #2) are printed as PASS/MISS;
//! timings never gate the test suite.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

mod bulk;
mod load;
mod memory;
mod rate;
mod relay;
mod soak;

/// The wsx under test: this build, or another one named by `WSX_BENCH_BIN` (to run the same
/// benchmarks against the previous build side by side).
fn wsx_bin() -> PathBuf {
    std::env::var_os("WSX_BENCH_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wsx")), PathBuf::from)
}
const PIPE_LINES: usize = 200_000;
const LINE_BYTES: usize = 64;
const ROUND_TRIPS: usize = 5_000;
/// Unpinned round trips: runs, each with fresh processes, whose median is the figure.
const UNPINNED_RUNS: usize = 5;
const STARTUPS: usize = 40;
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        relay(&args[i + 1]);
        return;
    }
    // The reference echo server in a process of its own (for `bench/run load`).
    if args.iter().any(|a| a == "--echo-server") {
        eprintln!("listening on ws://{}", echo_server());
        loop {
            thread::park(); // serves on its own threads until killed
        }
    }
    // The plain TCP echo of `bench/run bulk`, in a process of its own.
    if args.iter().any(|a| a == "--tcp-echo-server") {
        eprintln!("listening on ws://{}", bulk::tcp_echo_server());
        loop {
            thread::park(); // serves on its own threads until killed
        }
    }
    if args.iter().any(|a| a == "--round-trip-child") {
        round_trip_child();
        return;
    }
    if relay::child(&args) {
        return;
    }
    // `bench/run load-at ADDR CONNECTIONS SIZE [binary] [PID] [raw]`: one run of the load against a
    // server started by hand (to profile it, say).
    if let Some(i) = args.iter().position(|a| a == "load-at") {
        load::at(&args[i + 1..]);
        return;
    }
    // `bench/run rate-at ADDR PID [raw]`: one run of the connection rate, likewise.
    if let Some(i) = args.iter().position(|a| a == "rate-at") {
        rate::at(&args[i + 1..]);
        return;
    }
    raise_open_files();
    let server = echo_server();
    let websocat = find_websocat();
    println!("wsx benchmarks against a tungstenite echo server on {server}");
    println!("wsx: {}", wsx_bin().display());
    match &websocat {
        Some(path) => println!("websocat: {}", path.display()),
        None => println!("websocat: not installed (cargo install websocat), its rows are skipped"),
    }
    println!();

    let mut misses = 0;
    // `bench/run load`: closed-loop echo load beside uWebSockets.js.
    if let Some(i) = args.iter().position(|a| a == "load") {
        misses += load::benches(&parts(&args[i + 1..]));
        return summary(misses);
    }
    // `bench/run bulk`: 1 MiB messages both ways at once, beside a plain TCP echo.
    if args.iter().any(|a| a == "bulk") {
        misses += bulk::benches();
        return summary(misses);
    }
    // `bench/run rate`: handshakes a second, beside uWebSockets.js.
    if args.iter().any(|a| a == "rate") {
        misses += rate::benches();
        return summary(misses);
    }
    // `bench/run memory [idle|many|compress]...`: what connections cost.
    if let Some(i) = args.iter().position(|a| a == "memory") {
        misses += memory::benches(&parts(&args[i + 1..]));
        return summary(misses);
    }
    // `bench/run soak [churn|volume|reconnect]...`: long runs, apart from the rest.
    if let Some(i) = args.iter().position(|a| a == "soak") {
        misses += soak::benches(&parts(&args[i + 1..]));
        return summary(misses);
    }
    // `bench/run relay [round-trip|throughput|bridge]...`: only wsx in the middle.
    if let Some(i) = args.iter().position(|a| a == "relay") {
        misses += relay::benches(websocat.as_ref(), &parts(&args[i + 1..]));
        return summary(misses);
    }
    // `bench/run pipe`: the pipe throughput alone.
    if args.iter().any(|a| a == "pipe") {
        misses += pipe_throughput(server, websocat.as_ref());
        return summary(misses);
    }
    // `bench/run round-trip`: the interactive round trip alone, pinned and unpinned.
    if args.iter().any(|a| a == "round-trip") {
        misses += round_trip(websocat.as_ref(), true);
        misses += round_trip(websocat.as_ref(), false);
        return summary(misses);
    }
    misses += pipe_throughput(server, websocat.as_ref());
    compression();
    misses += round_trip(websocat.as_ref(), true);
    misses += round_trip(websocat.as_ref(), false);
    misses += startup(server, websocat.as_ref());
    misses += idle(server);
    misses += server_benches(websocat.as_ref());
    misses += relay::benches(websocat.as_ref(), &[]);
    misses += load::benches(&[]);
    misses += rate::benches();
    misses += bulk::benches();
    misses += memory::benches(&[]);
    summary(misses);
}

/// The parts of a bench named after it on the command line (`bench/run relay throughput`).
fn parts(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect()
}

fn summary(misses: usize) {
    println!();
    if misses == 0 {
        println!("all targets met");
    } else {
        println!("{misses} target(s) missed");
    }
}

/// The 10,000-client scenario holds that many sockets here too: soft limit up to the hard one.
fn raise_open_files() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        let raised = Rlimit {
            current: limit.maximum,
            ..limit
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
}

/// The reference server: read a message, send it back, one thread per connection.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the echo server");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = tcp.set_nodelay(true);
                let Ok(mut ws) = tungstenite::accept(tcp) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn find_websocat() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home.map(|h| h.join(".cargo/bin")));
    candidates
        .map(|dir| dir.join("websocat"))
        .find(|p| p.is_file())
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

fn report(name: &str, value: String, target: Option<(bool, String)>) -> usize {
    match target {
        Some((ok, what)) => {
            println!(
                "  {name:<34} {value:>12}   {} ({what})",
                if ok { "PASS" } else { "MISS" }
            );
            usize::from(!ok)
        }
        None => {
            println!("  {name:<34} {value:>12}");
            0
        }
    }
}

fn lines_input() -> Vec<u8> {
    let mut input = Vec::with_capacity(PIPE_LINES * (LINE_BYTES + 1));
    for i in 0..PIPE_LINES {
        let line = format!("{i:08}-{}", "x".repeat(LINE_BYTES - 9));
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    input
}

/// Starts a client with piped stdin and stdout and a silenced stderr.
fn spawn_piped(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the client")
}

/// Runs a client command with `input` on stdin; returns the wall time and its stdout.
fn pipe_through(mut cmd: Command, input: &[u8]) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut child = spawn_piped(&mut cmd);
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("reading stdout");
    let _ = child.wait();
    let _ = writer.join();
    (start.elapsed(), out)
}

fn pipe_throughput(server: SocketAddr, websocat: Option<&PathBuf>) -> usize {
    println!("pipe throughput: {PIPE_LINES} lines of {LINE_BYTES} B out and back, in order");
    let input = lines_input();

    let bare = bare_pipe(server);
    report(
        "bare tungstenite client",
        format!("{:.3} s", bare.as_secs_f64()),
        None,
    );

    let mut cmd = Command::new(wsx_bin());
    cmd.args(["connect", &url(server), "-w", "0"]);
    let (wsx, out) = pipe_through(cmd, &input);
    let complete = out == input;
    let ratio = wsx.as_secs_f64() / bare.as_secs_f64();
    let misses = report(
        "wsx connect -w 0",
        format!("{:.3} s", wsx.as_secs_f64()),
        Some((
            ratio <= 1.2 && complete,
            format!("{ratio:.2}x bare, target <= 1.2x; all echoes in order: {complete}"),
        )),
    );
    if let Some(websocat) = websocat {
        let mut cmd = Command::new(websocat);
        cmd.args(["-t", &url(server)]);
        let (time, out) = pipe_through(cmd, &input);
        let got = out.iter().filter(|&&b| b == b'\n').count();
        report("websocat -t", format!("{:.3} s", time.as_secs_f64()), None);
        println!(
            "  {:<34} {:>12}",
            "  (echoes websocat printed)",
            format!("{got}/{PIPE_LINES}")
        );
    }
    println!();
    misses
}

/// Lines of JSON as a market feed sends them: `per_line` objects each (one object, or an array
/// of them), with varying numbers, so that they compress as real traffic does.
fn json_lines(lines: usize, per_line: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut out = Vec::new();
    for i in 0..lines {
        let objects: Vec<String> = (0..per_line)
            .map(|j| {
                let r = next();
                format!(
                    r#"{{"id":{},"type":"trade","symbol":"{}","price":"{}.{:02}","size":"0.{:04}","side":"{}","ts":"2026-11-27T21:{:02}:{:02}.{:03}Z"}}"#,
                    i * per_line + j,
                    ["BTC-USD", "ETH-USD", "SOL-USD"][r as usize % 3],
                    40_000 + r % 5_000,
                    r % 100,
                    r % 10_000,
                    if r & 1 == 0 { "buy" } else { "sell" },
                    r % 60,
                    (r >> 8) % 60,
                    (r >> 16) % 1000
                )
            })
            .collect();
        let line = match per_line {
            1 => objects.concat(),
            _ => format!("[{}]", objects.join(",")),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// permessage-deflate: the same JSON through `wsx connect` and `wsx listen --echo`, compressed
/// (both sides' default) and with `--no-compression`; the wire's size from `-v`'s figures.
fn compression() {
    println!("permessage-deflate: wsx connect through wsx listen --echo, out and back, in order");
    let (child, addr) = wsx_listen(&["--echo"]);
    for (name, input) in [
        ("50,000 JSON objects, a line each", json_lines(50_000, 1)),
        ("200 lines of 400 JSON objects", json_lines(200, 400)),
    ] {
        println!("  {name} ({:.1} MB)", input.len() as f64 / 1e6);
        for (label, extra) in [
            ("compressed", &[][..]),
            ("--no-compression", &["--no-compression"][..]),
        ] {
            let mut cmd = Command::new(wsx_bin());
            cmd.args(["connect", &url(addr), "-w", "0"]).args(extra);
            let (time, out) = pipe_through(cmd, &input);
            assert!(out == input, "every echo, in order");
            report(label, format!("{:.3} s", time.as_secs_f64()), None);
        }
        let mut cmd = Command::new(wsx_bin());
        cmd.args(["connect", &url(addr), "-w", "0", "-v", "--format", "human"])
            .args(["--timestamps", "none"]);
        let (_, out) = pipe_through(cmd, &input);
        let (plain, wire) = wire_sizes(&String::from_utf8_lossy(&out));
        report(
            "bytes on the wire, each way",
            format!(
                "{:.1}% of {:.1} MB",
                wire as f64 * 100.0 / plain as f64,
                plain as f64 / 1e6
            ),
            None,
        );
    }
    stop(child);
    println!();
}

/// Sums the received messages' `(N B, W B compressed)` figures of `-v`'s human output.
fn wire_sizes(out: &str) -> (u64, u64) {
    let (mut plain, mut wire) = (0, 0);
    for line in out.lines().filter(|l| l.starts_with("< ")) {
        let Some(figures) = line
            .rsplit_once(" (")
            .and_then(|(_, f)| f.strip_suffix(" B compressed)"))
        else {
            continue;
        };
        if let Some((p, w)) = figures.split_once(" B, ") {
            plain += p.parse::<u64>().unwrap_or(0);
            wire += w.parse::<u64>().unwrap_or(0);
        }
    }
    (plain, wire)
}

/// A bare tungstenite client: one thread writes every line, the other reads every echo.
fn bare_pipe(server: SocketAddr) -> Duration {
    let start = Instant::now();
    let tcp = TcpStream::connect(server).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut reader, _) = tungstenite::client(url(server), tcp).expect("handshake");
    let write_half = reader.get_ref().try_clone().expect("clone");
    let writer = thread::spawn(move || {
        let mut ws = WebSocket::from_raw_socket(write_half, Role::Client, None);
        for i in 0..PIPE_LINES {
            let line = format!("{i:08}-{}", "x".repeat(LINE_BYTES - 9));
            ws.write(Message::text(line)).expect("writing");
        }
        ws.flush().expect("flushing");
    });
    for i in 0..PIPE_LINES {
        match reader.read().expect("reading") {
            Message::Text(t) => assert!(t.as_str().starts_with(&format!("{i:08}-"))),
            other => panic!("unexpected {other:?}"),
        }
    }
    writer.join().expect("writer");
    start.elapsed()
}

/// The round trip of one line, wsx beside a bare tungstenite loop, a blocking stdin relay (the
/// floor of any client between a pipe and a socket) and websocat: pinned to one CPU (taskset),
/// or where the scheduler puts each process. wsx's target is websocat's figure, when websocat
/// is installed.
fn round_trip(websocat: Option<&PathBuf>, pinned: bool) -> usize {
    let (runs, how) = round_trip_runs(pinned);
    println!("round trip: one line in, its echo out, {ROUND_TRIPS} times, {how}");
    let Some(figures) = child_figures("--round-trip-child", pinned, runs, websocat) else {
        return 0;
    };
    let figure = |name: &str| median_of(&figures, name);
    let (Some((bare, bare_shown)), Some((wsx, wsx_shown))) = (figure("bare"), figure("wsx")) else {
        println!("  skipped: no figures");
        return 0;
    };
    report("bare tungstenite p50", bare_shown, None);
    let floor = figure("relay");
    if let Some((floor, shown)) = &floor {
        println!(
            "  {:<34} {shown:>12}   ({:.2}x bare)",
            "blocking stdin relay p50 (floor)",
            floor / bare
        );
    }
    let websocat = figure("websocat");
    if let Some((_, shown)) = &websocat {
        report("websocat -t p50", shown.clone(), None);
    }
    let vs_floor = floor
        .map(|(f, _)| format!("{:.2}x the floor, ", wsx / f))
        .unwrap_or_default();
    let verdict = match websocat {
        Some((w, _)) => Some((
            wsx <= w,
            format!("{vs_floor}{:.2}x websocat, target <= websocat", wsx / w),
        )),
        None => {
            println!("  (no websocat: the target, websocat's figure, is not checked)");
            None
        }
    };
    let misses = report("wsx connect p50", wsx_shown, verdict);
    println!();
    misses
}

/// Unpinned, a run's figures depend on where the scheduler happens to put its processes: the
/// median over several runs, each with fresh processes, is the figure. How many, and how it
/// is said.
fn round_trip_runs(pinned: bool) -> (usize, String) {
    if pinned {
        (1, "pinned to CPU 0 (taskset)".to_string())
    } else {
        (
            UNPINNED_RUNS,
            format!("unpinned, the median of {UNPINNED_RUNS} runs with fresh processes (min-max)"),
        )
    }
}

/// Runs this bench as `CHILD_ARG` `runs` times (each pinned to CPU 0, or not) and gathers the
/// `NAME VALUE` lines each run prints, by name; `None` (and says why) if a run failed.
fn child_figures(
    child_arg: &str,
    pinned: bool,
    runs: usize,
    websocat: Option<&PathBuf>,
) -> Option<Vec<(String, Vec<f64>)>> {
    let mut figures: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..runs {
        let me = std::env::current_exe().expect("current exe");
        let mut cmd = if pinned {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", "0"]).arg(me);
            cmd
        } else {
            Command::new(me)
        };
        cmd.arg(child_arg);
        if let Some(w) = websocat {
            cmd.env("WSX_BENCH_WEBSOCAT", w);
        }
        let out = match cmd.output() {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                println!("  skipped: {}", String::from_utf8_lossy(&out.stderr).trim());
                return None;
            }
            Err(e) => {
                println!("  skipped: {e}");
                return None;
            }
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((name, value)) = line.split_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            match figures.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => figures.push((name.to_string(), vec![value])),
            }
        }
    }
    Some(figures)
}

/// Runs this bench again with `args`, in a process of its own, and reads the numbers it
/// prints: every run of a load then starts the same, whatever the benches before it left in
/// this process (threads, a heap of a GB after the relay benches).
fn numbers_from_child(args: &[String]) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().expect("this bench"))
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("running this bench as a child");
    assert!(out.status.success(), "{args:?} failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect()
}

/// The middle value of some (the upper of the two middle ones for an even count).
fn middle<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut values: Vec<T> = values.collect();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values.get(values.len() / 2).copied()
}

/// The median of one client's p50s over the runs, and how it is shown (with their spread).
fn median_of(figures: &[(String, Vec<f64>)], name: &str) -> Option<(f64, String)> {
    let (_, values) = figures.iter().find(|(n, _)| n == name)?;
    let mut values = values.clone();
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let shown = match values.len() {
        1 => format!("{median:.1} µs"),
        _ => format!(
            "{median:.1} µs ({:.1}-{:.1})",
            values[0],
            values[values.len() - 1]
        ),
    };
    Some((median, shown))
}

/// Runs the round trips (pinned to one CPU or not, as the parent started it): prints
/// `NAME P50_MICROS` lines.
///
/// The clients stay connected and take turns in blocks, so a slow patch of the machine
/// affects them all alike.
fn round_trip_child() {
    const BLOCKS: usize = 10;
    let server = echo_server();
    let message = format!("{}\n", "x".repeat(LINE_BYTES));

    let tcp = TcpStream::connect(server).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut bare, _) = tungstenite::client(url(server), tcp).expect("handshake");
    let bare_text = message.trim_end().to_string();

    let mut clients: Vec<(&str, LineClient)> = Vec::new();
    let mut relay = Command::new(std::env::current_exe().expect("current exe"));
    relay.args(["--relay", &url(server)]);
    clients.push(("relay", LineClient::spawn(relay)));
    let mut wsx = Command::new(wsx_bin());
    wsx.args(["connect", &url(server), "-w", "-1"]);
    clients.push(("wsx", LineClient::spawn(wsx)));
    if let Some(w) = std::env::var_os("WSX_BENCH_WEBSOCAT") {
        let mut cmd = Command::new(w);
        cmd.args(["-t", &url(server)]);
        clients.push(("websocat", LineClient::spawn(cmd)));
    }
    for (_, client) in &mut clients {
        for _ in 0..50 {
            client.round(&message); // warm-up: the connection is up once echoes come back
        }
    }

    let mut bare_samples = Vec::with_capacity(ROUND_TRIPS);
    let mut samples: Vec<Vec<Duration>> = clients
        .iter()
        .map(|_| Vec::with_capacity(ROUND_TRIPS))
        .collect();
    for _ in 0..BLOCKS {
        for _ in 0..ROUND_TRIPS / BLOCKS {
            let start = Instant::now();
            bare.send(Message::text(bare_text.clone()))
                .expect("sending");
            bare.read().expect("reading");
            bare_samples.push(start.elapsed());
        }
        for ((_, client), samples) in clients.iter_mut().zip(&mut samples) {
            for _ in 0..ROUND_TRIPS / BLOCKS {
                samples.push(client.round(&message));
            }
        }
    }
    println!("bare {:.2}", p50_micros(&mut bare_samples));
    for ((name, client), mut samples) in clients.into_iter().zip(samples) {
        println!("{name} {:.2}", p50_micros(&mut samples));
        client.stop();
    }
}

/// A client that sends each stdin line as a frame and prints each reply as a line.
struct LineClient {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    echo: String,
}

impl LineClient {
    fn spawn(mut cmd: Command) -> LineClient {
        let mut child = spawn_piped(&mut cmd);
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        LineClient {
            child,
            stdin,
            stdout,
            echo: String::new(),
        }
    }

    /// Writes one line and waits for its echo.
    fn round(&mut self, message: &str) -> Duration {
        let start = Instant::now();
        self.stdin
            .write_all(message.as_bytes())
            .expect("writing a line");
        self.echo.clear();
        self.stdout
            .read_line(&mut self.echo)
            .expect("reading the echo");
        let elapsed = start.elapsed();
        assert_eq!(self.echo, message, "the echo");
        elapsed
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor for any stdin-to-WebSocket client: a blocking loop that reads a line, sends it,
/// waits for one reply and prints it. It cannot watch stdin and the socket at once, so it is
/// no usable client, but it shows what the extra process in the path costs by itself.
fn relay(url: &str) {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let tcp = TcpStream::connect(addr).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tungstenite::client(url, tcp).expect("handshake");
    let mut input = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    while input.read_line(&mut line).expect("reading stdin") > 0 {
        ws.send(Message::text(line.trim_end().to_string()))
            .expect("sending");
        let reply = ws.read().expect("reading");
        out.write_all(&reply.into_data()).expect("writing");
        out.write_all(b"\n").expect("writing");
        out.flush().expect("flushing");
        line.clear();
    }
}

fn p50_micros(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

fn startup(server: SocketAddr, websocat: Option<&PathBuf>) -> usize {
    println!("start-up: connect, send one piped line, get its echo, exit; median of {STARTUPS}");
    let once = |mut cmd: Command| -> Duration {
        let (time, out) = pipe_through(
            {
                cmd.stderr(Stdio::null());
                cmd
            },
            b"hello\n",
        );
        assert_eq!(out, b"hello\n", "the echo");
        time
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let wsx = median(
        (0..STARTUPS)
            .map(|_| {
                let mut cmd = Command::new(wsx_bin());
                cmd.args(["connect", &url(server), "--count", "1"]);
                once(cmd)
            })
            .collect(),
    );
    let ms = wsx.as_secs_f64() * 1000.0;
    let misses = report(
        "wsx connect --count 1",
        format!("{ms:.2} ms"),
        Some((ms < 10.0, "target < 10 ms".into())),
    );
    if let Some(w) = websocat {
        let t = median(
            (0..STARTUPS / 4)
                .map(|_| {
                    let mut cmd = Command::new(w);
                    cmd.args(["-t", "-1", &url(server)]);
                    pipe_through(cmd, b"hello\n").0
                })
                .collect(),
        );
        report(
            "websocat -t -1",
            format!("{:.2} ms", t.as_secs_f64() * 1000.0),
            None,
        );
    }
    println!();
    misses
}

/// CPU time of all threads of a process, in nanoseconds (`/proc/PID/task/*/schedstat`).
fn cpu_nanos(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn idle(server: SocketAddr) -> usize {
    println!("idle: one open connection for {}s", IDLE.as_secs());
    let mut child = Command::new(wsx_bin())
        .args(["connect", &url(server), "-w", "-1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning wsx");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdin.write_all(b"up?\n").expect("writing");
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the first echo");
    let before = cpu_nanos(child.id());
    thread::sleep(IDLE); // the quantity under test: time passing with nothing to do
    let used = cpu_nanos(child.id()).saturating_sub(before);
    drop(stdin);
    let _ = child.kill(); // -w -1: it would otherwise keep the connection open
    let _ = child.wait();
    let ms = used as f64 / 1e6;
    let misses = report(
        "wsx CPU time while idle",
        format!("{ms:.3} ms"),
        Some((ms < 1.0, "target < 1 ms".into())),
    );
    println!();
    misses
}

// ---- wsx listen ----------------------------------------------------------------------------

const ECHO_CLIENTS: usize = 50;
const MESSAGES: usize = 2_000;
const RECEIVERS: usize = 49;
const IDLE_CLIENTS: usize = 1_000;

/// A reference relay server: one thread per connection; each frame goes to every other client.
fn relay_server() -> SocketAddr {
    use std::sync::{Arc, Mutex};
    type Peers = Arc<Mutex<Vec<(usize, WebSocket<TcpStream>)>>>;
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the relay server");
    let addr = listener.local_addr().expect("local addr");
    let peers: Peers = Arc::new(Mutex::new(Vec::new()));
    thread::spawn(move || {
        for (id, tcp) in listener.incoming().flatten().enumerate() {
            let peers = peers.clone();
            thread::spawn(move || {
                let _ = tcp.set_nodelay(true);
                let Ok(mut ws) = tungstenite::accept(tcp) else {
                    return;
                };
                let Ok(write_half) = ws.get_ref().try_clone() else {
                    return;
                };
                let writer = WebSocket::from_raw_socket(write_half, Role::Server, None);
                peers.lock().expect("peers").push((id, writer));
                while let Ok(msg) = ws.read() {
                    if msg.is_text() || msg.is_binary() {
                        for (other, w) in peers.lock().expect("peers").iter_mut() {
                            if *other != id {
                                let _ = w.send(msg.clone());
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Starts `wsx listen 127.0.0.1:0 ARGS` and reads its port from the readiness line.
fn wsx_listen(args: &[&str]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(wsx_bin());
    cmd.args(["listen", "127.0.0.1:0"]).args(args);
    listening(cmd)
}

/// Starts a server that says `listening on ws://ADDR` first on stderr, and reads ADDR.
fn listening(mut cmd: Command) -> (Child, SocketAddr) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning a server");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("the readiness line");
    let addr = line
        .trim()
        .trim_start_matches("listening on ws://")
        .parse()
        .expect("an address");
    (child, addr)
}

/// Starts websocat as a text server and waits until it accepts connections.
fn websocat_listen(websocat: &PathBuf, target: &str) -> (Child, SocketAddr) {
    websocat_serving(websocat, &["-t", "-E"], target)
}

/// Starts `websocat FLAGS ws-l:ADDR TARGET` and waits until it accepts connections.
fn websocat_serving(websocat: &PathBuf, flags: &[&str], target: &str) -> (Child, SocketAddr) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut child = Command::new(websocat)
        .args(flags)
        .args([&format!("ws-l:{addr}"), target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning websocat");
    for _ in 0..500 {
        if TcpStream::connect(addr).is_ok() {
            return (child, addr);
        }
        thread::sleep(Duration::from_millis(10)); // websocat prints no readiness line
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("websocat did not start listening on {addr}");
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn ws_client(addr: SocketAddr) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(addr).expect("connecting");
    tcp.set_nodelay(true).expect("nodelay");
    tungstenite::client(url(addr), tcp).expect("handshake").0
}

fn payload(client: usize, n: usize) -> String {
    let head = format!("{client:03}-{n:06}-");
    format!("{head}{}", "e".repeat(LINE_BYTES - head.len()))
}

/// 50 clients each send 2,000 messages and check every echo; returns the wall time.
fn echo_load(addr: SocketAddr) -> Duration {
    let clients: Vec<_> = (0..ECHO_CLIENTS).map(|_| ws_client(addr)).collect();
    let start = Instant::now();
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut reader)| {
            thread::spawn(move || {
                let half = reader.get_ref().try_clone().expect("clone");
                let writer = thread::spawn(move || {
                    let mut ws = WebSocket::from_raw_socket(half, Role::Client, None);
                    for n in 0..MESSAGES {
                        ws.write(Message::text(payload(c, n))).expect("writing");
                    }
                    ws.flush().expect("flushing");
                });
                for n in 0..MESSAGES {
                    assert_eq!(
                        reader.read().expect("an echo"),
                        Message::text(payload(c, n))
                    );
                }
                writer.join().expect("writer");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client");
    }
    start.elapsed()
}

/// 1 sender, 49 receivers, 2,000 messages that each receiver must get in order.
fn chat_load(addr: SocketAddr) -> Duration {
    use std::sync::mpsc;
    let (ready_tx, ready) = mpsc::channel();
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| {
            let mut ws = ws_client(addr);
            let ready_tx = ready_tx.clone();
            thread::spawn(move || {
                let mut warm = true;
                let mut next = 0;
                while next < MESSAGES {
                    let msg = ws.read().expect("a relayed message");
                    let text = msg.to_text().expect("text");
                    if text.starts_with("warm") {
                        if warm {
                            warm = false;
                            let _ = ready_tx.send(());
                        }
                        continue;
                    }
                    assert_eq!(text, payload(0, next), "in order");
                    next += 1;
                }
            })
        })
        .collect();
    let mut sender = ws_client(addr);
    // Warm up until every receiver is registered and relaying: a server may admit a client
    // a moment after its handshake.
    let mut joined = 0;
    while joined < RECEIVERS {
        sender.send(Message::text("warm")).expect("warm-up");
        while ready.recv_timeout(Duration::from_millis(20)).is_ok() {
            joined += 1;
        }
    }
    let start = Instant::now();
    for n in 0..MESSAGES {
        sender.write(Message::text(payload(0, n))).expect("sending");
    }
    sender.flush().expect("flushing");
    for r in receivers {
        r.join().expect("receiver");
    }
    start.elapsed()
}

/// `wsx listen --echo` holding `n` idle clients: its peak memory, and a new client's echo.
fn idle_scenario(n: usize, target_mb: f64) -> usize {
    println!("listen with {n} idle clients, each verified with one echo");
    let (child, addr) = wsx_listen(&["--echo"]);
    let clients = memory::idle_clients(addr, n);
    let rtt = memory::new_client_round_trip(addr);
    let rss = memory::status_kb(child.id(), "VmHWM:");
    drop(clients);
    stop(child);
    let mb = rss as f64 / 1024.0;
    let mut misses = report(
        "wsx peak RSS",
        format!("{mb:.1} MB"),
        Some((mb < target_mb, format!("target < {target_mb} MB"))),
    );
    let ms = rtt.as_secs_f64() * 1000.0;
    misses += report(
        "wsx new client's round trip",
        format!("{ms:.2} ms"),
        Some((ms < 5.0, "connect + echo; target < 5 ms".into())),
    );
    println!();
    misses
}

fn server_benches(websocat: Option<&PathBuf>) -> usize {
    let mut misses = 0;
    let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());

    println!("listen --echo: {ECHO_CLIENTS} clients x {MESSAGES} messages of {LINE_BYTES} B, every echo verified");
    let reference = echo_load(echo_server());
    report("reference tungstenite server", secs(reference), None);
    let (child, addr) = wsx_listen(&["--echo"]);
    let wsx = echo_load(addr);
    stop(child);
    let ratio = wsx.as_secs_f64() / reference.as_secs_f64();
    misses += report(
        "wsx listen --echo",
        secs(wsx),
        Some((
            ratio <= 1.2,
            format!("{ratio:.2}x reference, target <= 1.2x"),
        )),
    );
    if let Some(w) = websocat {
        let (child, addr) = websocat_listen(w, "mirror:");
        report("websocat mirror:", secs(echo_load(addr)), None);
        stop(child);
    }
    println!();

    println!("listen --chat: 1 sender, {RECEIVERS} receivers, {MESSAGES} messages each, in order");
    let reference = chat_load(relay_server());
    report("reference tungstenite relay", secs(reference), None);
    let (child, addr) = wsx_listen(&["--chat"]);
    let wsx = chat_load(addr);
    stop(child);
    let ratio = wsx.as_secs_f64() / reference.as_secs_f64();
    misses += report(
        "wsx listen --chat",
        secs(wsx),
        Some((ratio <= 3.0, format!("{ratio:.2}x reference, target <= 3x"))),
    );
    if let Some(w) = websocat {
        let (child, addr) = websocat_listen(w, "broadcast:mirror:");
        report("websocat broadcast:mirror:", secs(chat_load(addr)), None);
        stop(child);
    }
    println!();

    misses += idle_scenario(IDLE_CLIENTS, 45.0);
    if let Some(w) = websocat {
        println!("websocat with {IDLE_CLIENTS} idle clients");
        let (child, addr) = websocat_listen(w, "mirror:");
        let clients = memory::idle_clients(addr, IDLE_CLIENTS);
        let rtt = memory::new_client_round_trip(addr);
        let rss = memory::status_kb(child.id(), "VmHWM:");
        drop(clients);
        stop(child);
        report(
            "websocat peak RSS",
            format!("{:.1} MB", rss as f64 / 1024.0),
            None,
        );
        report(
            "websocat new client's round trip",
            format!("{:.2} ms", rtt.as_secs_f64() * 1000.0),
            None,
        );
        println!();
    }
    misses += memory::benches(&[]);
    misses
}
