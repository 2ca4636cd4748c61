//! `--record FILE`: every event shown is also written to a file, as HAR (a name ending in
//! `.har`, see [`har`]) or as the jsonl events of `--format jsonl` (any other name), whatever
//! the terminal shows.
//!
//! A jsonl recording is written as events happen (flushed before the loop waits); a HAR file
//! is valid from the start and after every connection that ends (see [`har`]). Either is
//! complete after every ending but SIGKILL; a failed write (a full disk) ends the run with
//! its reason, and a HAR file keeps the connections written before it.

mod har;

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::event::Event;
use crate::output::{self, Timestamps, View};

/// `--record`, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    /// `--record-credentials`: Authorization, Cookie and Set-Cookie values are written as
    /// they went (HAR), instead of `[redacted]`.
    pub credentials: bool,
}

/// An open recording; see the module docs.
pub struct Recorder {
    path: PathBuf,
    sink: Sink,
}

enum Sink {
    Jsonl(Lines),
    Har(Box<har::Har<File>>),
}

/// A jsonl recording: whole lines, written a batch at a time.
struct Lines {
    file: File,
    /// Rendered lines not written yet.
    pending: Vec<u8>,
    /// How much of the file holds whole lines.
    len: u64,
}

/// How much waits in memory before it is written, even before the loop waits.
const LINES_AT: usize = 64 * 1024;

impl Lines {
    /// Writes what waits. If that fails (a full disk), the file is cut back to its last
    /// whole line, and what waited is dropped with the error.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.pending);
        let batch = std::mem::take(&mut self.pending);
        match written {
            Ok(()) => {
                self.len += batch.len() as u64;
                self.pending = batch;
                self.pending.clear();
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }
}

impl Recorder {
    /// Creates (or truncates) the file. `server`: the events are `wsx listen`'s, whose
    /// clients sent what came in (HAR writes every conversation as its client saw it).
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(s: &Settings, server: bool) -> Result<Recorder> {
        let file =
            File::create(&s.path).with_context(|| format!("cannot create {}", s.path.display()))?;
        let sink = if is_har(&s.path) {
            let har = har::Har::new(file, server, s.credentials)
                .with_context(|| format!("writing to {}", s.path.display()))?;
            Sink::Har(Box::new(har))
        } else {
            Sink::Jsonl(Lines {
                file,
                pending: Vec::new(),
                len: 0,
            })
        };
        Ok(Recorder {
            path: s.path.clone(),
            sink,
        })
    }

    /// Records one event.
    ///
    /// # Errors
    /// Writing the file failed.
    pub fn event(&mut self, ev: &Event) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Jsonl(lines) => {
                output::jsonl(ev, &RECORDED, &mut lines.pending);
                if lines.pending.len() >= LINES_AT {
                    lines.flush()
                } else {
                    Ok(())
                }
            }
            Sink::Har(har) => har.event(ev),
        };
        result.with_context(|| format!("recording to {}", self.path.display()))
    }

    /// Writes out what waits (before the loop waits).
    ///
    /// # Errors
    /// Writing the file failed.
    pub fn flush(&mut self) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Jsonl(lines) => lines.flush(),
            Sink::Har(_) => Ok(()),
        };
        result.with_context(|| format!("recording to {}", self.path.display()))
    }

    /// Ends the recording: a HAR file gets the connections still open.
    ///
    /// # Errors
    /// Writing the file failed.
    pub fn finish(&mut self) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Jsonl(lines) => lines.flush(),
            Sink::Har(har) => har.finish(),
        };
        result.with_context(|| format!("recording to {}", self.path.display()))
    }
}

impl Drop for Recorder {
    /// A run that ends without [`Recorder::finish`] (an error on the way out) still leaves a
    /// complete file, as far as it can be written.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Whether a recording at `path` is HAR (its name ends in `.har`, in any case).
pub fn is_har(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("har"))
}

/// How a jsonl recording shows times: UTC, always (replay needs them).
const RECORDED: View = View {
    timestamps: Timestamps::Utc,
    show_ping_pong: true,
    pretty: false,
    wire_sizes: false,
    start: SystemTime::UNIX_EPOCH,
    utc_offset: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Dir, Kind, Opened};

    fn ev(kind: Kind, dir: Dir) -> Event {
        Event {
            at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_250),
            client: None,
            dir,
            kind,
            wire: None,
            replayed: false,
        }
    }

    #[test]
    fn jsonl_recordings_have_utc_times_whatever_the_terminal_shows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let settings = Settings {
            path: path.clone(),
            credentials: false,
        };
        let mut rec = Recorder::create(&settings, false).unwrap();
        let open = Opened {
            peer: "ws://h/".into(),
            ..Default::default()
        };
        rec.event(&ev(Kind::Open(Box::new(open)), Dir::Out))
            .unwrap();
        rec.event(&ev(Kind::Text("hi".into()), Dir::Out)).unwrap();
        rec.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            r#"{"ts":"1970-01-01T00:00:01.250Z","dir":"out","type":"text","data":"hi"}"#
        );
    }

    #[test]
    fn a_name_ending_in_har_is_har() {
        assert!(is_har(Path::new("a/b.har")));
        assert!(is_har(Path::new("B.HAR")));
        assert!(!is_har(Path::new("b.jsonl")));
        assert!(!is_har(Path::new("har")));
    }
}
