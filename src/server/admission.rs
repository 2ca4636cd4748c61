//! `--max-clients`: how many clients are served at once, counted by the places they hold.
//!
//! A handshake that is about to accept takes a [`Place`]; the client keeps it for as long as
//! it is served, and the place is given back when it is dropped, whichever way the client
//! goes (it leaves, its handshake fails after all, or the server shuts down first). No code
//! edits the count by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The places, shared by the handshake threads and the server.
#[derive(Debug)]
pub struct Admission {
    taken: AtomicU64,
    max: Option<u64>,
}

/// One client's place; given back when dropped.
#[derive(Debug)]
pub struct Place(Arc<Admission>);

impl Admission {
    /// At most `max` places (`None`: as many as come).
    pub fn new(max: Option<u64>) -> Arc<Admission> {
        Arc::new(Admission {
            taken: AtomicU64::new(0),
            max,
        })
    }

    /// How many places are taken now.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::SeqCst)
    }

    /// Takes a place; `None` when all are taken. Two handshakes finishing together cannot
    /// both take the last one.
    pub fn take(self: &Arc<Admission>) -> Option<Place> {
        let before = self.taken.fetch_add(1, Ordering::SeqCst);
        if self.max.is_some_and(|max| before >= max) {
            self.taken.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Place(self.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_when_dropped() {
        let admission = Admission::new(Some(2));
        let a = admission.take().expect("a first place");
        let b = admission.take().expect("a second place");
        assert!(admission.take().is_none(), "full");
        assert_eq!(admission.taken(), 2);
        drop(a);
        assert_eq!(admission.taken(), 1);
        let c = admission.take().expect("the freed place");
        drop((b, c));
        assert_eq!(admission.taken(), 0);
    }

    #[test]
    fn without_a_limit_every_client_gets_one() {
        let admission = Admission::new(None);
        let places: Vec<Place> = (0..100).map(|_| admission.take().unwrap()).collect();
        assert_eq!(admission.taken(), 100);
        drop(places);
        assert_eq!(admission.taken(), 0);
    }
}
