//! `--exec CMD`: one program per client, run with `sh -c` (on Windows, `cmd /C`). Each text
//! frame from the client is a line on the program's stdin; each line of its stdout is a text
//! frame back; its stderr goes to wsx's stderr tagged with the client id.
//!
//! The engine never blocks on a program: a thread writes its stdin (through a bounded queue) and
//! a thread reads each of its outputs. When the program ends, its client is closed; when the
//! client goes, the program is ended with everything it started (its process group on Unix:
//! SIGTERM, then SIGKILL after [`GRACE`]; its job object on Windows). Either way it is reaped,
//! on a thread of its own: no zombies, and the engine never waits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::engine::Waker;

/// How many lines may wait for a program that is slow to read its stdin.
const STDIN_QUEUE: usize = 1024;

/// How long a program and what it started have to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_millis(500);

/// What a program did, reported to the engine.
#[derive(Debug, PartialEq, Eq)]
pub enum ProgramEvent {
    /// A line of its stdout, for client `id`.
    Line(u64, String),
    /// Its stdout closed: it ended (or will not write again).
    Ended(u64),
}

/// A running program for one client.
pub struct Program {
    child: Child,
    /// The program and what it starts, to end together.
    tree: tree::Tree,
    stdin: Option<SyncSender<Vec<u8>>>,
}

/// Why a line could not be handed to the program.
pub enum Refused {
    /// Its stdin queue is full: it does not keep up.
    Slow,
    /// It no longer reads its stdin.
    Gone,
}

impl Program {
    /// Starts `sh -c cmd` (`cmd /C cmd` on Windows) for client `id`, with `env` (the request,
    /// CGI-style) and `WSX_CLIENT_ID` and `WSX_PEER` set for it.
    ///
    /// # Errors
    /// The shell could not be started.
    pub fn spawn(
        cmd: &str,
        id: u64,
        peer: &str,
        env: &[(String, String)],
        events: SyncSender<ProgramEvent>,
        waker: Waker,
    ) -> std::io::Result<Program> {
        let mut command = tree::shell(cmd);
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("WSX_CLIENT_ID", id.to_string())
            .env("WSX_PEER", peer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let tree = match tree::Tree::new(&child) {
            Ok(tree) => tree,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(STDIN_QUEUE);
        thread::Builder::new()
            .name(format!("exec-{id}-in"))
            .spawn(move || {
                for line in rx {
                    if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
                        return; // the program closed its stdin
                    }
                }
                // Dropping stdin here closes the program's input.
            })?;
        thread::Builder::new()
            .name(format!("exec-{id}-out"))
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = line.strip_suffix(b"\n").unwrap_or(&line);
                            let text = text.strip_suffix(b"\r").unwrap_or(text);
                            let text = String::from_utf8_lossy(text).into_owned();
                            if events.send(ProgramEvent::Line(id, text)).is_err() {
                                return;
                            }
                            waker.wake();
                        }
                    }
                }
                let _ = events.send(ProgramEvent::Ended(id));
                waker.wake();
            })?;
        thread::Builder::new()
            .name(format!("exec-{id}-err"))
            .spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    let text = crate::term::escape(text.trim_end_matches(['\n', '\r']));
                    crate::diag::say(&format!("#{id} {text}"));
                    line.clear();
                }
            })?;
        Ok(Program {
            child,
            tree,
            stdin: Some(tx),
        })
    }

    /// Queues one line for the program's stdin (a newline is added). Never blocks.
    ///
    /// # Errors
    /// The program is not keeping up, or no longer reads.
    pub fn send_line(&self, text: &[u8]) -> Result<(), Refused> {
        let Some(stdin) = &self.stdin else {
            return Err(Refused::Gone);
        };
        let mut line = Vec::with_capacity(text.len() + 1);
        line.extend_from_slice(text);
        line.push(b'\n');
        stdin.try_send(line).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Slow,
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    /// Ends the program: closes its stdin, asks it and whatever it started to stop, kills
    /// what is left after [`GRACE`], and reaps it, on a thread that the caller joins before
    /// exiting (so that nothing outlives wsx).
    pub fn stop(mut self) -> std::io::Result<JoinHandle<()>> {
        self.stdin = None;
        self.tree.terminate();
        thread::Builder::new()
            .name("exec-reaper".into())
            .spawn(move || {
                thread::sleep(GRACE);
                self.tree.kill();
                let _ = self.child.kill();
                let _ = self.child.wait();
            })
    }
}

/// The platform side: how a command line is run, and how a program is ended together with
/// the processes it started.
#[cfg(unix)]
mod tree {
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    use rustix::process::{kill_process_group, Pid, Signal};

    /// `sh -c cmd`, in a process group of its own.
    pub fn shell(cmd: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(cmd).process_group(0);
        command
    }

    /// The program's process group (its id is the program's pid).
    pub struct Tree(Option<Pid>);

    impl Tree {
        pub fn new(child: &Child) -> std::io::Result<Tree> {
            Ok(Tree(i32::try_from(child.id()).ok().and_then(Pid::from_raw)))
        }

        /// Asks every process in the group to stop.
        pub fn terminate(&self) {
            self.signal(Signal::TERM);
        }

        /// Kills every process left in the group.
        pub fn kill(&self) {
            self.signal(Signal::KILL);
        }

        fn signal(&self, signal: Signal) {
            if let Some(group) = self.0 {
                // ESRCH: the group is already empty. The leader is reaped only after the last
                // signal, so its group id cannot have been reused.
                let _ = kill_process_group(group, signal);
            }
        }
    }
}

#[cfg(windows)]
mod tree {
    use std::os::windows::io::AsRawHandle;
    use std::os::windows::process::CommandExt;
    use std::process::{Child, Command};

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    };

    /// `cmd /C cmd`, the command line passed as typed (cmd.exe parses it itself).
    pub fn shell(cmd: &str) -> Command {
        let mut command = Command::new("cmd");
        command.arg("/C").raw_arg(cmd);
        command
    }

    /// A job object holding the program and every process it starts; closing it (when wsx
    /// exits, however it exits) ends them all.
    pub struct Tree(HANDLE);

    // SAFETY: a job handle may be used and closed from any thread.
    unsafe impl Send for Tree {}

    impl Tree {
        pub fn new(child: &Child) -> std::io::Result<Tree> {
            // SAFETY: plain Win32 calls on a handle we own and the child's process handle,
            // with a correctly sized, zero-initialised limit structure.
            unsafe {
                let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
                if job.is_null() {
                    return Err(std::io::Error::last_os_error());
                }
                let tree = Tree(job);
                let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
                limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
                let set = SetInformationJobObject(
                    job,
                    JobObjectExtendedLimitInformation,
                    (&raw const limits).cast(),
                    std::mem::size_of_val(&limits) as u32,
                );
                if set == 0 || AssignProcessToJobObject(job, child.as_raw_handle() as HANDLE) == 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(tree)
            }
        }

        /// Ends every process in the job (Windows has no gentler request to make).
        pub fn terminate(&self) {
            self.kill();
        }

        /// Ends every process in the job.
        pub fn kill(&self) {
            // SAFETY: the handle is valid until drop.
            unsafe {
                TerminateJobObject(self.0, 1);
            }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            // SAFETY: closed once, here.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }
}
