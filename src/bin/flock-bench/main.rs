//! `flock-bench`: a load generator that drives a running Flock server through the public
//! wire contract only, with real WebSocket clients (or clients of the fallback transport,
//! `--transport sse`), from one process.
//!
//! Scenarios: [`idle`] (many quiet connections: memory per connection, connect rate),
//! [`cursors`] (one busy room: end-to-end move latency, coalescing, final positions),
//! [`chat`] (many rooms chatting: delivery rate and latency) and [`abuse`] (attacks from
//! one address beside an honest room). Each prints a summary table, or JSON with `--json`. See docs/performance.md for the commands and the figures.

mod abuse;
mod chat;
mod client;
mod cursors;
mod idle;
mod pace;
mod report;
mod sse;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flock-bench", version, about = "Load generator for a running Flock server")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

/// Settings every scenario shares.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// The server's address; for a cluster, the nodes' addresses separated by commas:
    /// user n connects to node n mod count, so every room is split over the nodes.
    #[arg(long, global = true, default_value = "127.0.0.1:3000", value_delimiter = ',')]
    pub server: Vec<SocketAddr>,
    /// The server's process id (several, comma-separated, for a cluster): CPU time and
    /// memory are read from /proc and reported, summed over the processes.
    #[arg(long, global = true, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Print the summary as one JSON object instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Spread connections over this many source addresses 127.0.0.1, 127.0.0.2, ... (one
    /// address runs out of ports at about 28,000 connections).
    #[arg(long, global = true, default_value_t = 1)]
    pub source_ips: u8,
    /// Connections being opened at the same time.
    #[arg(long, global = true, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// Senders all send at the same instant each period (the worst case) instead of
    /// spread evenly over it, as independent users are.
    #[arg(long, global = true)]
    pub in_phase: bool,
    /// What carries the connections: WebSockets, or the fallback's event stream and POSTs
    /// (each POST a request: raise FLOCK_MAX_PENDING_PER_IP or use --source-ips).
    #[arg(long, global = true, value_enum, default_value_t = Transport::Websocket)]
    pub transport: Transport,
}

/// What carries a benchmark connection.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Websocket,
    Sse,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Open N quiet connections over M rooms and hold them: memory per connection, connect rate.
    Idle(idle::Params),
    /// N users in one room, each moving at R Hz for D seconds: move latency and delivery.
    Cursors(cursors::Params),
    /// M rooms of K users, each chatting at R messages per second: delivery rate and latency.
    Chat(chat::Params),
    /// Attacks from one address while an honest room chats: is anyone honest cut off or
    /// short of a chat, and does the server's memory stay within its budget.
    Abuse(abuse::Params),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Tens of thousands of sockets need as many file descriptors.
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: cannot raise the open-file limit: {err}");
    }
    let result = match cli.scenario {
        Scenario::Idle(params) => idle::run(&cli.common, params).await,
        Scenario::Cursors(params) => cursors::run(&cli.common, params).await,
        Scenario::Chat(params) => chat::run(&cli.common, params).await,
        Scenario::Abuse(params) => abuse::run(&cli.common, params).await,
    };
    match result {
        Ok(report) => {
            report.print(cli.common.json);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("flock-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
