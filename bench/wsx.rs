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

const WSX: &str = env!("CARGO_BIN_EXE_wsx");
const PIPE_LINES: usize = 200_000;
const LINE_BYTES: usize = 64;
const ROUND_TRIPS: usize = 5_000;
const STARTUPS: usize = 40;
const IDLE: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        relay(&args[i + 1]);
        return;
    }
    if args.iter().any(|a| a == "--round-trip-child") {
        round_trip_child();
        return;
    }
    let server = echo_server();
    let websocat = find_websocat();
    println!("wsx benchmarks against a tungstenite echo server on {server}");
    match &websocat {
        Some(path) => println!("websocat: {}", path.display()),
        None => println!("websocat: not installed (cargo install websocat), its rows are skipped"),
    }
    println!();

    let mut misses = 0;
    misses += pipe_throughput(server, websocat.as_ref());
    misses += round_trip(websocat.as_ref());
    misses += startup(server, websocat.as_ref());
    misses += idle(server);
    println!();
    if misses == 0 {
        println!("all targets met");
    } else {
        println!("{misses} target(s) missed");
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

    let mut cmd = Command::new(WSX);
    cmd.args(["connect", &url(server), "-w", "0"]);
    let (wsx, out) = pipe_through(cmd, &input);
    let complete = out == input;
    let ratio = wsx.as_secs_f64() / bare.as_secs_f64();
    let mut misses = report(
        "wsx connect -w 0",
        format!("{:.3} s", wsx.as_secs_f64()),
        Some((
            ratio <= 2.0 && complete,
            format!("{ratio:.2}x bare, target <= 2x; all echoes in order: {complete}"),
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
        misses += usize::from(wsx >= time);
    }
    println!();
    misses
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

fn round_trip(websocat: Option<&PathBuf>) -> usize {
    println!(
        "round trip: one line in, its echo out, {ROUND_TRIPS} times, pinned to CPU 0 (taskset)"
    );
    let me = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]).arg(me).arg("--round-trip-child");
    if let Some(w) = websocat {
        cmd.env("WSX_BENCH_WEBSOCAT", w);
    }
    let out = match cmd.output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!("  skipped: {}", String::from_utf8_lossy(&out.stderr).trim());
            return 0;
        }
        Err(e) => {
            println!("  skipped: taskset: {e}");
            return 0;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let p50 = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    let (Some(bare), Some(wsx)) = (p50("bare "), p50("wsx ")) else {
        println!("  skipped: {text}");
        return 0;
    };
    report("bare tungstenite p50", format!("{bare:.1} µs"), None);
    let floor = p50("relay ");
    if let Some(floor) = floor {
        let text = format!("{floor:.1} µs");
        println!(
            "  {:<34} {text:>12}   ({:.2}x bare)",
            "blocking stdin relay p50 (floor)",
            floor / bare
        );
    }
    let ratio = wsx / bare;
    let vs_floor = floor
        .map(|f| format!("; {:.2}x the floor", wsx / f))
        .unwrap_or_default();
    let misses = report(
        "wsx connect p50",
        format!("{wsx:.1} µs"),
        Some((
            ratio <= 1.5,
            format!("{ratio:.2}x bare, target <= 1.5x{vs_floor}"),
        )),
    );
    if let Some(w) = p50("websocat ") {
        report("websocat -t p50", format!("{w:.1} µs"), None);
    }
    println!();
    misses
}

/// Runs pinned to one CPU (the parent uses taskset): prints `NAME P50_MICROS` lines.
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
    let mut wsx = Command::new(WSX);
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
                let mut cmd = Command::new(WSX);
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
    let mut child = Command::new(WSX)
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
