//! The server half: the hub behind `/ws`, the JSON endpoints, and the Leptos pages.
//!
//! Map: [`config`] holds every setting; [`ws`] upgrades and runs sockets; [`session`] turns
//! one client's messages into room calls; [`hub`] keeps the live rooms; [`room`] fans
//! messages out; [`outbox`] queues and coalesces what each connection is sent.

pub mod config;
pub mod http;
pub mod hub;
pub mod origin;
pub mod outbox;
pub mod rate;
pub mod room;
pub mod session;
pub mod ws;

use crate::app::{shell, App};
use axum::extract::FromRef;
use axum::routing::get;
use axum::Router;
use config::Config;
use hub::Hub;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use session::Limits;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
}

impl AppState {
    pub fn new(config: Config, leptos: LeptosOptions) -> Self {
        AppState { hub: Arc::new(Hub::new()), config: Arc::new(config), leptos }
    }

    pub fn limits(&self) -> Limits {
        Limits { max_chat_chars: self.config.max_chat_chars, max_state_bytes: self.config.max_state_bytes }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Every route: the hub, the API, the pages and the static files.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let leptos = state.leptos.clone();
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/rooms", get(http::rooms))
        .route("/healthz", get(http::healthz))
        .leptos_routes(&state, routes, move || shell(leptos.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}

/// Serves Flock on `listener` until the process gets Ctrl-C or SIGTERM.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
