//! The server half: the hub behind `/ws`, the JSON endpoints, and the Leptos pages.
//!
//! Map (`docs/architecture.md` draws it): [`config`] holds every setting; [`ws`] upgrades
//! sockets and [`sse`] opens the fallback's event streams, after [`admission`] (with
//! [`query`], [`origin`], [`ip_limit`] and [`invite`]) has admitted them; [`connection`]
//! runs either, with [`rate`] as its token bucket; [`session`] turns one client's
//! messages into room calls; [`hub`] keeps the live rooms; [`room`] numbers, stores and fans
//! messages out; [`cursor_board`] holds each room's latest cursor moves for the writers to
//! read; [`outbox`] queues what each connection is sent; [`store`] keeps chats and sessions
//! on disk; [`bus`] links the node to the others of a cluster through Redis (`--bus`);
//! [`http`] answers the JSON endpoints, [`api`] the app backend's HTTP API and [`metrics`]
//! `/metrics`; [`jwt`] checks the app backend's tokens on `/ws`; [`webhooks`] tells the
//! app's backend what happened; [`shutdown`] says goodbye on Ctrl-C or SIGTERM; [`clock`]
//! is the one wall clock.

pub mod admission;
pub mod api;
pub mod assets;
pub mod bus;
pub mod clock;
pub mod config;
pub mod connection;
pub mod cursor_board;
pub mod http;
pub mod hub;
pub mod invite;
pub mod ip_limit;
pub mod jwt;
pub mod listen;
pub mod metrics;
pub mod operator;
pub mod origin;
pub mod outbox;
pub mod page_headers;
pub mod query;
pub mod quota;
pub mod rate;
pub mod room;
pub mod session;
pub mod shutdown;
pub mod sse;
pub mod store;
pub mod username;
pub mod webhooks;
pub mod ws;

use crate::app::{shell, App};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
use bus::link::{BusError, Link};
use bus::Bus;
use config::Config;
use hub::Hub;
use invite::Gate;
use ip_limit::IpLimiter;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use session::{Limits, Services};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoreError};
use tokio::net::TcpListener;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("bad --bus: {0}")]
    Bus(#[from] BusError),
    #[error("bad JWT settings: {0}")]
    Jwt(#[from] jwt::JwtError),
    #[error("bad webhook settings: {0}")]
    Webhooks(String),
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub store: Arc<Store>,
    pub gate: Arc<Gate>,
    /// Checks `/ws`'s `&jwt=` tokens; `None` when no key is configured.
    pub jwt: Option<Arc<jwt::JwtVerifier>>,
    pub ips: Arc<IpLimiter>,
    /// HTTP connections per client that are not (yet) WebSockets.
    pub pending: Arc<IpLimiter>,
    pub quotas: Arc<quota::Quotas>,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    pub shutdown: Arc<shutdown::Shutdown>,
    /// The event streams of the fallback transport this node holds.
    pub streams: Arc<sse::Streams>,
    /// This node's name in its stream tokens when it is in no cluster (a cluster node uses
    /// its bus id).
    pub node: uuid::Uuid,
}

impl AppState {
    /// Opens the store in `config.data_dir` and sets up an empty hub; with `config.bus`,
    /// starts joining the cluster (in the background: a node serves its own rooms while
    /// Redis is out of reach). Must be called inside a Tokio runtime.
    pub fn new(config: Config, leptos: LeptosOptions) -> Result<Self, StartError> {
        let ttl = Duration::from_secs(config.history_ttl_days * 24 * 3600);
        let store = Arc::new(Store::open(&config.data_dir, config.history_keep, ttl)?);
        store.set_commit_delay(Duration::from_millis(config.commit_delay_ms));
        let webhooks = webhooks::WebhookConfig::from_config(&config).map_err(StartError::Webhooks)?;
        if let Some(webhooks) = &webhooks {
            // A cluster's events go to its Redis outbox, not a node's own store.
            let outbox = if config.bus.is_none() {
                store.set_webhook_kinds(webhooks.kinds);
                webhooks::deliver::Outbox::Ours
            } else {
                webhooks::deliver::Outbox::Leftovers
            };
            webhooks::deliver::spawn(store.clone(), webhooks.clone(), outbox);
        }
        metrics::handle();
        let grace = Duration::from_secs(config.leave_grace_secs);
        let streams = Arc::new(sse::Streams::default());
        let hub = match config.bus.as_deref() {
            None => Hub::new(store.clone(), grace, Bus::Local, config.replay_max),
            Some(url) => {
                let (link, queue) = Link::new(url, config.history_keep, ttl, config.bus_ca_file.as_deref())?;
                if let Some(webhooks) = webhooks {
                    link.set_webhook_kinds(webhooks.kinds);
                    webhooks::cluster::spawn(link.clone(), webhooks);
                }
                let hub = Hub::new(store.clone(), grace, Bus::Redis(link.clone()), config.replay_max);
                sse::serve_forwarded(link.clone(), streams.clone());
                let ttl = Duration::from_secs(config.presence_ttl_secs);
                bus::supervisor::spawn(link, queue, hub.clone(), store.clone(), ttl);
                hub
            }
        };
        Ok(AppState {
            hub,
            store,
            gate: Arc::new(Gate::new(config.secret.as_deref())),
            jwt: jwt::JwtVerifier::new(
                config.jwt_secret.as_deref(),
                config.jwt_public_key.as_deref(),
                config.require_jwt,
            )?
            .map(Arc::new),
            ips: Arc::new(IpLimiter::new(config.max_conns_per_ip)),
            pending: Arc::new(IpLimiter::new(config.max_pending_per_ip)),
            quotas: Arc::new(quota::Quotas::new(quota::QuotaLimits {
                connects_per_sec: config.connects_per_sec,
                rooms_per_minute: config.rooms_per_minute,
                chats_per_sec: config.chats_per_sec,
                max_rooms: config.max_rooms,
            })),
            config: Arc::new(config),
            leptos,
            shutdown: Arc::new(shutdown::Shutdown::new()),
            streams,
            node: uuid::Uuid::new_v4(),
        })
    }

    /// This node's name in stream tokens: its bus id in a cluster, else its own.
    pub fn node_id(&self) -> uuid::Uuid {
        self.hub.bus().node().unwrap_or(self.node)
    }

    /// What a session needs of the server.
    pub fn services(&self) -> Services {
        let limits = Limits {
            max_chat_chars: self.config.max_chat_chars,
            max_state_bytes: self.config.max_state_bytes,
            joins_per_minute: self.config.joins_per_minute,
            state_per_sec: self.config.state_per_sec,
            events_per_sec: self.config.events_per_sec,
        };
        Services {
            hub: self.hub.clone(),
            store: self.store.clone(),
            gate: self.gate.clone(),
            quotas: self.quotas.clone(),
            limits,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Every route: the hub, the API, the pages and the static files; the operator's behind
/// [`operator::guard`], and every response with [`page_headers`].
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let leptos = state.leptos.clone();
    let hashed = state.leptos.hash_files.then(|| assets::hashed_names(&leptos)).flatten().unwrap_or_default();
    let frame_ancestors: Arc<str> = state.config.frame_ancestors.as_str().into();
    let page_context = {
        let frame_ancestors = frame_ancestors.clone();
        // Under `cargo leptos watch` the page also opens the live-reload socket.
        let reload = std::env::var_os("LEPTOS_WATCH").map(|_| format!("ws://*:{}", state.leptos.reload_port));
        move || page_headers::provide_page_policy(&frame_ancestors, reload.as_deref())
    };
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/sse", get(sse::open))
        .route("/sse/send", post(sse::send))
        .route("/sse/close", post(sse::goodbye))
        .route("/api/rooms", get(http::rooms))
        .route("/api/cluster", get(http::cluster))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(metrics::render))
        .nest(api::PREFIX, api::routes(state.clone()))
        .leptos_routes_with_context(&state, routes, page_context, move || shell(leptos.clone()))
        .nest_service(&format!("/{}", state.leptos.site_pkg_dir), assets::pkg(&state.leptos, hashed))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), operator::guard))
        .layer(axum::middleware::from_fn(move |request, next| {
            page_headers::add(frame_ancestors.clone(), request, next)
        }))
        .with_state(state)
}

/// Serves Flock on `listener` until the process gets Ctrl-C or SIGTERM.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, shutdown::signal()).await
}

/// Serves until `stop` completes, then closes every connection with 1001 and waits (at
/// most [`shutdown::DRAIN_GRACE`]) for them to finish.
pub async fn serve_until(
    listener: TcpListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let upkeep = tokio::spawn(metrics::upkeep());
    let expiry = tokio::spawn(expire_every(state.store.clone()));
    let listen = listen::Listen {
        pending: state.pending.clone(),
        shutdown: shutdown.clone(),
        header_timeout: Duration::from_secs(state.config.header_timeout_secs),
        user_timeout: Duration::from_secs(state.config.idle_timeout_secs),
        router: router(state),
    };
    listen::run(listener, listen, stop).await;
    // No new connections: tell the open ones (sockets with 1001, HTTP ones gracefully).
    shutdown.begin();
    shutdown.drained().await;
    upkeep.abort();
    expiry.abort();
    Ok(())
}

/// Drops expired chats and sessions every [`store::EXPIRE_EVERY`] (the store did at open),
/// on a blocking thread: a big deletion must not hold up an async worker.
async fn expire_every(store: Arc<Store>) {
    let mut every = tokio::time::interval(store::EXPIRE_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.expire(clock::now_ms())).await {
            Ok(Ok((chats, sessions))) if chats + sessions > 0 => tracing::info!(chats, sessions, "expired"),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!("cannot expire old chats and sessions: {err}"),
            Err(err) => tracing::warn!("the expiry task failed: {err}"),
        }
    }
}
