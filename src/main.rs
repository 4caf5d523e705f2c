//! The Flock server binary: parse the settings, start logging, bind, serve.

use clap::Parser;
use flock::server::{config::Config, serve, AppState};
use leptos::prelude::get_configuration;
use std::process::ExitCode;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
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
    match serve(listener, AppState::new(config, leptos)).await {
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
