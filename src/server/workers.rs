//! Threads for the blocking part of a connection (TLS and the upgrade), so that a slow client
//! never stalls the loop: a thread takes another job when it is done with one, and ends after
//! a quiet while. Starting and ending a thread per connection was a third of the server's
//! CPU time at 12,000 handshakes a second.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long a thread with nothing to do waits for another job before it ends.
const LINGER: Duration = Duration::from_secs(2);

/// At most this many threads wait for jobs; the others end when they are done.
const MAX_IDLE: usize = 8;

/// Threads waiting for a job, each with its id and where to send it one.
type Idle = Arc<Mutex<Vec<(u64, SyncSender<Job>)>>>;

/// A pool of threads that grows with the jobs in progress (one thread each, as many as
/// there are) and shrinks when they are done.
pub struct Workers {
    idle: Idle,
    spawned: u64,
    name: &'static str,
    stack: usize,
}

impl Workers {
    /// Threads named `name` with `stack` bytes of stack each.
    pub fn new(name: &'static str, stack: usize) -> Workers {
        Workers {
            idle: Arc::default(),
            spawned: 0,
            name,
            stack,
        }
    }

    /// Runs `job` on a waiting thread, or on a new one.
    ///
    /// # Errors
    /// No thread was waiting and none could be started.
    pub fn run(&mut self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut job: Job = Box::new(job);
        while let Some((_, tx)) = lock(&self.idle).pop() {
            match tx.send(job) {
                Ok(()) => return Ok(()),
                // It ended (a job of its panicked): try the next.
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        self.spawned += 1;
        let (id, idle) = (self.spawned, Arc::clone(&self.idle));
        thread::Builder::new()
            .name(self.name.into())
            .stack_size(self.stack)
            .spawn(move || work(id, job, &idle))
            .map(drop)
    }
}

fn lock(idle: &Idle) -> MutexGuard<'_, Vec<(u64, SyncSender<Job>)>> {
    // A job never runs under the lock, so a poisoned lock holds a consistent list.
    idle.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A worker's life: its first job, then others while they come.
fn work(id: u64, mut job: Job, idle: &Idle) {
    let (tx, rx) = mpsc::sync_channel(1);
    loop {
        job();
        {
            let mut waiting = lock(idle);
            if waiting.len() >= MAX_IDLE {
                return;
            }
            waiting.push((id, tx.clone()));
        }
        job = loop {
            match rx.recv_timeout(LINGER) {
                Ok(next) => break next,
                Err(RecvTimeoutError::Timeout) => {
                    let mut waiting = lock(idle);
                    if let Some(at) = waiting.iter().position(|(w, _)| *w == id) {
                        waiting.swap_remove(at);
                        return;
                    }
                    // Taken off the list just now: its job is on the way.
                }
                // This thread holds a sender itself.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn jobs_run_on_threads_that_are_kept_for_the_next() {
        let mut workers = Workers::new("test-worker", 64 * 1024);
        let (done, finished) = channel();
        for i in 0..20 {
            let done = done.clone();
            workers
                .run(move || done.send((i, thread::current().id())).unwrap())
                .unwrap();
            // One at a time: the thread that ran one job runs the next.
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // At most a couple of threads were started for twenty jobs one after another (a
        // job's thread may not be back on the list when the next one comes).
        assert!(workers.spawned < 20, "{} threads", workers.spawned);
    }

    #[test]
    fn jobs_in_progress_each_have_a_thread() {
        let mut workers = Workers::new("test-worker", 64 * 1024);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let (done, finished) = channel();
        // Four jobs that wait for each other's go: they must run at once.
        for _ in 0..4 {
            let (wait, done) = (Arc::clone(&wait), done.clone());
            workers
                .run(move || {
                    let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
                    done.send(()).unwrap();
                })
                .unwrap();
        }
        for _ in 0..4 {
            go.send(()).unwrap();
        }
        for _ in 0..4 {
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(workers.spawned, 4);
    }
}
