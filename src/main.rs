//! The Flock server binary: parse the settings, start logging, bind, serve; or, with
//! `mint-token`, print a private-room invitation.

use clap::Parser;
use flock::protocol::validate_room;
use flock::server::clock::unix_secs;
use flock::server::config::{Command, Config};
use flock::server::invite::{mint, Claims, Gate, PRIVATE_PREFIX};
use flock::server::username::normalize_username;
use flock::server::{assets, serve, AppState};
use leptos::prelude::get_configuration;
use std::process::ExitCode;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Some(Command::MintToken { room, username, ttl_secs }) = &config.command {
        return mint_token(&config, room, username, *ttl_secs);
    }
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let mut leptos = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(err) => {
            tracing::error!("bad LEPTOS_* settings: {err}");
            return ExitCode::FAILURE;
        }
    };
    // A binary built by plain cargo (not cargo-leptos) has no output name baked in.
    if leptos.output_name.is_empty() {
        leptos.output_name = "flock".into();
    }
    // Pages ask for the bundle's hashed names when the build left them.
    leptos.hash_files = assets::hashed_names(&leptos).is_some();
    let addr = config.addr.unwrap_or(leptos.site_addr);
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // With port 0 the system picks one: log the real address, which tests read.
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!("Flock listening on http://{addr}");
    let state = match AppState::new(config, leptos) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!("cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match serve(listener, state).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `flock mint-token`: prints an invitation signed with the configured secret.
fn mint_token(config: &Config, room: &str, username: &str, ttl_secs: u64) -> ExitCode {
    let Some(secret) = config.secret.as_deref().filter(|s| !s.is_empty()) else {
        eprintln!("mint-token needs the server's secret: pass --secret or set FLOCK_SECRET");
        return ExitCode::FAILURE;
    };
    if !Gate::is_private(room) || validate_room(room).is_err() {
        eprintln!("invitations are for private rooms: the room must be a valid name starting with {PRIVATE_PREFIX:?}");
        return ExitCode::FAILURE;
    }
    let username = match normalize_username(username) {
        Ok(username) => username,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let claims = Claims { room: room.to_owned(), name: username, exp: unix_secs() + ttl_secs };
    println!("{}", mint(secret, &claims));
    ExitCode::SUCCESS
}
