//! The connected clients and where frames go: to everyone (the operator's lines), back to the
//! sender (`--echo`), to everyone else (`--chat`), to one (`/to`), or to a program (`--exec`).
//!
//! Pure bookkeeping: no sockets here. The server applies the decisions to the engine.

use super::listener::Peer;
use std::collections::BTreeMap;

use super::admission::Place;
use super::exec::Program;
use crate::pings::Pings;

/// What `wsx listen` does with what its clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Show it; the operator's lines go to every client.
    Broadcast,
    Echo,
    Chat,
    /// A program per client (`sh -c CMD`).
    Exec(String),
    /// `--forward`: each client to its own upstream connection.
    Forward,
}

/// One connected client.
pub struct Client {
    /// Its place among the clients served (`--max-clients`), given back when it leaves.
    _place: Place,
    pub peer: Peer,
    pub subprotocol: Option<String>,
    /// Its program, with `--exec`.
    pub program: Option<Box<Program>>,
    /// Pings sent to it, to show the round trip of each pong.
    pub pings: Pings,
    /// `--forward`: its upstream connection.
    pub upstream: Option<Box<Relayed>>,
    /// `--replay`: the server's side of its recorded conversation.
    pub script: Option<Box<crate::replay::Script>>,
}

/// The upstream side of a relayed client, as the hub sees it.
pub struct Relayed {
    /// The Close the upstream gets when the pair ends: going away (1001) unless the client
    /// closed with a code of its own, and none once the upstream's side has ended.
    pub close: Option<(u16, String)>,
}

/// Where a data frame from a client goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Shown only (the default mode).
    Nowhere,
    /// Back to these clients (`--echo`: the sender; `--chat`: all the others).
    Clients(Vec<u64>),
    /// To the sender's program (`--exec`).
    Program,
    /// To the sender's upstream (`--forward`).
    Upstream,
}

/// The clients by id; ids count up from 1 and are never reused.
#[derive(Default)]
pub struct Hub {
    clients: BTreeMap<u64, Client>,
    last_id: u64,
}

impl Hub {
    /// Registers a client and returns its id.
    pub fn add(&mut self, peer: Peer, subprotocol: Option<String>, place: Place) -> u64 {
        self.last_id += 1;
        let client = Client {
            _place: place,
            peer,
            subprotocol,
            program: None,
            pings: Pings::default(),
            upstream: None,
            script: None,
        };
        self.clients.insert(self.last_id, client);
        self.last_id
    }

    pub fn remove(&mut self, id: u64) -> Option<Client> {
        self.clients.remove(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Client> {
        self.clients.get_mut(&id)
    }

    pub fn contains(&self, id: u64) -> bool {
        self.clients.contains_key(&id)
    }

    /// Every client id, in order.
    pub fn ids(&self) -> Vec<u64> {
        self.clients.keys().copied().collect()
    }

    /// Every client, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Client)> {
        self.clients.iter().map(|(&id, c)| (id, c))
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Where a data frame from client `from` goes in `mode`.
    pub fn route(&self, mode: &Mode, from: u64) -> Route {
        match mode {
            Mode::Broadcast => Route::Nowhere,
            Mode::Echo => Route::Clients(vec![from]),
            Mode::Chat => Route::Clients(
                self.clients
                    .keys()
                    .copied()
                    .filter(|&id| id != from)
                    .collect(),
            ),
            Mode::Exec(_) => Route::Program,
            Mode::Forward => Route::Upstream,
        }
    }

    /// One line per client for `/clients`: `#2 127.0.0.1:5555 (subprotocol chat)`.
    pub fn listing(&self) -> String {
        if self.clients.is_empty() {
            return "no clients".to_string();
        }
        self.clients
            .iter()
            .map(|(id, c)| match &c.subprotocol {
                Some(p) => format!("#{id} {} (subprotocol {p})", c.peer),
                None => format!("#{id} {}", c.peer),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        super::super::admission::Admission::new(None)
            .take()
            .unwrap()
    }

    fn hub(n: usize) -> Hub {
        let mut hub = Hub::default();
        for i in 0..n {
            let addr = format!("127.0.0.1:{}", 5000 + i).parse().unwrap();
            hub.add(Peer::Tcp(addr), None, place());
        }
        hub
    }

    #[test]
    fn ids_count_up_and_are_not_reused() {
        let mut hub = hub(2);
        assert_eq!(hub.ids(), [1, 2]);
        hub.remove(2);
        assert_eq!(
            hub.add(
                Peer::Tcp("127.0.0.1:1".parse().unwrap()),
                Some("chat".into()),
                place()
            ),
            3
        );
        assert_eq!(
            hub.listing(),
            "#1 127.0.0.1:5000\n#3 127.0.0.1:1 (subprotocol chat)"
        );
    }

    #[test]
    fn routes_by_mode() {
        let hub = hub(3);
        assert_eq!(hub.route(&Mode::Broadcast, 2), Route::Nowhere);
        assert_eq!(hub.route(&Mode::Echo, 2), Route::Clients(vec![2]));
        assert_eq!(hub.route(&Mode::Chat, 2), Route::Clients(vec![1, 3]));
        assert_eq!(hub.route(&Mode::Exec("cat".into()), 2), Route::Program);
        assert_eq!(Hub::default().listing(), "no clients");
    }
}
