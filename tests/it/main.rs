//! wsx's integration tests, one binary (one link instead of eight): each module spawns the
//! built `wsx` and talks to it over 127.0.0.1 with the peers in `support`.

mod support;

mod cli;
mod completions;
mod compression;
mod connect;
mod faults;
mod listen;
mod network;
mod readme;
mod relay;
mod repl;
mod replay;
