//! The operator's commands in `wsx listen`: lines and `/binary` to every client, `/ping`
//! (each pong shows its round trip), `/close`, `/to`, `/kick`, `/clients`, `/quit`.

use std::time::Instant;

use tungstenite::Message;

use super::serve::Server;
use crate::command::Command;
use crate::engine::Net;
use crate::event::{Dir, Kind};

impl Server {
    /// Carries out one command typed or piped by the operator.
    pub(super) fn operator_command(&mut self, net: &mut Net, cmd: Command, now: Instant) {
        match cmd {
            Command::Text(t) => {
                let t = tungstenite::Utf8Bytes::from(t);
                self.broadcast(net, &Message::Text(t.clone()), now);
                self.show(None, Dir::Out, Kind::Text(t));
            }
            Command::Binary(b) => {
                let b = tungstenite::Bytes::from(b);
                self.broadcast(net, &Message::Binary(b.clone()), now);
                self.show(None, Dir::Out, Kind::Binary(b));
            }
            Command::Ping(p) => {
                for id in self.hub.ids() {
                    if let Some(client) = self.hub.get_mut(id) {
                        client.pings.sent(p.clone(), now, false);
                    }
                }
                self.broadcast(net, &Message::Ping(p.clone().into()), now);
                self.show(None, Dir::Out, Kind::Ping(p));
            }
            Command::Pong(p) => {
                self.broadcast(net, &Message::Pong(p.clone().into()), now);
                self.show(None, Dir::Out, Kind::Pong { data: p, rtt: None });
            }
            Command::Close { code, reason } => {
                for id in self.hub.ids() {
                    self.leave(net, id, Some((code, &reason)), None, now);
                }
            }
            Command::Quit => self.begin_shutdown(net, now),
            Command::To { id, text } => {
                if self.hub.contains(id) {
                    let text = tungstenite::Utf8Bytes::from(text);
                    let wire = self.send(net, id, Message::Text(text.clone()), now);
                    self.console
                        .show_sized(Some(id), Dir::Out, Kind::Text(text), wire);
                } else {
                    self.notice(&format!("wsx: no client #{id} (see /clients)"));
                }
            }
            Command::Kick { id, code, reason } => {
                if self.hub.contains(id) {
                    self.leave(net, id, Some((code, &reason)), None, now);
                } else {
                    self.notice(&format!("wsx: no client #{id} (see /clients)"));
                }
            }
            Command::Clients => {
                let listing = self.hub.listing();
                self.notice(&listing);
            }
            // The console has read the file into a Text or Binary already.
            Command::Help | Command::File { .. } => {}
        }
    }
}
