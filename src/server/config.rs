//! Every setting the server has: a clap flag with a `FLOCK_*` environment twin, so the
//! same binary is configured the same way from a shell, a unit file or a container.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest WebSocket frame (and message) a client may send; bigger ones close with 1009.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// Frames that may wait in one connection's outbound queue before it counts as too slow.
pub const DEFAULT_OUTBOX_FRAMES: usize = 1024;
/// Bytes that may wait in one connection's outbound queue before it counts as too slow.
pub const DEFAULT_OUTBOX_BYTES: usize = 1024 * 1024;

/// How often the server pings each connection.
pub const DEFAULT_PING_SECS: u64 = 15;
/// How long a connection may stay silent (no frame, no pong) before it counts as gone.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 45;

/// Steady messages per second per connection: a 60 Hz cursor plus chat and state.
pub const DEFAULT_RATE_PER_SEC: f64 = 120.0;
/// Burst allowance per connection above the steady rate.
pub const DEFAULT_RATE_BURST: f64 = 240.0;
/// `join`s one connection may send per minute (a `join` to the room it is in included):
/// each answers with a whole `welcome`.
pub const DEFAULT_JOINS_PER_MINUTE: f64 = 30.0;
/// `state` and `rename` messages one connection may send per second: each reaches the
/// whole room.
pub const DEFAULT_STATE_PER_SEC: f64 = 10.0;
/// App events one connection may send per second by default (twice that at once).
pub const DEFAULT_EVENTS_PER_SEC: f64 = 20.0;

/// How long a dropped connection's user keeps their place before `left` goes out.
pub const DEFAULT_LEAVE_GRACE_SECS: u64 = 5;
/// Chats kept per room for history and resume; a resume from before them gets `reset`.
pub const DEFAULT_HISTORY_KEEP: u64 = 1000;
/// New WebSocket connections one client may open per second.
pub const DEFAULT_CONNECTS_PER_SEC: f64 = 10.0;
/// Chats one client may send per second, all its connections together: many connections
/// from one address cannot pour more into a room than one person types.
pub const DEFAULT_CHATS_PER_SEC: f64 = 10.0;
/// New rooms one client may create per minute.
pub const DEFAULT_ROOMS_PER_MINUTE: f64 = 30.0;
/// Live rooms the server holds at most.
pub const DEFAULT_MAX_ROOMS: usize = 10_000;
/// Most chats a resuming member's `welcome` replays; the rest is paged with `history`.
pub const DEFAULT_REPLAY_MAX: usize = 200;
/// Days a chat is kept at most, in every room.
pub const DEFAULT_HISTORY_TTL_DAYS: u64 = 30;
/// Simultaneous connections one IP address may hold.
pub const DEFAULT_MAX_CONNS_PER_IP: usize = 64;
/// HTTP connections one IP address may hold open that are not (yet) WebSockets.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 32;
/// Seconds a connection has to send a request's headers before it is closed.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// In a cluster, how soon a stopped node's users are announced `left`.
pub const DEFAULT_PRESENCE_TTL_SECS: u64 = 15;
/// How long a minted invitation is valid.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Flock's command line.
#[derive(Parser, Debug, Clone)]
#[command(name = "flock", version, about = "Real-time multiplayer rooms: live cursors, presence, state and chat")]
pub struct Config {
    /// Address to listen on. Defaults to LEPTOS_SITE_ADDR, or the site-addr in Cargo.toml.
    #[arg(long, env = "FLOCK_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Largest incoming WebSocket frame in bytes; a larger one closes the connection with 1009.
    #[arg(long, env = "FLOCK_MAX_FRAME_BYTES", default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,

    /// Longest chat text in characters.
    #[arg(long, env = "FLOCK_MAX_CHAT_CHARS", default_value_t = crate::protocol::MAX_CHAT_CHARS)]
    pub max_chat_chars: usize,

    /// Largest user state in bytes of compact JSON.
    #[arg(long, env = "FLOCK_MAX_STATE_BYTES", default_value_t = crate::protocol::MAX_STATE_BYTES)]
    pub max_state_bytes: usize,

    /// Frames one connection may have queued before it is closed with 1013 as too slow.
    #[arg(long, env = "FLOCK_OUTBOX_FRAMES", default_value_t = DEFAULT_OUTBOX_FRAMES)]
    pub outbox_frames: usize,

    /// Bytes one connection may have queued before it is closed with 1013 as too slow (a
    /// frame onto an empty queue is always taken).
    #[arg(long, env = "FLOCK_OUTBOX_BYTES", default_value_t = DEFAULT_OUTBOX_BYTES)]
    pub outbox_bytes: usize,

    /// Seconds between the server's pings to each connection.
    #[arg(long, env = "FLOCK_PING_SECS", default_value_t = DEFAULT_PING_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_secs: u64,

    /// Seconds a connection may stay silent (not even a pong) before it is dropped and
    /// announced `left`.
    #[arg(long, env = "FLOCK_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,

    /// Messages per second one connection may send (a token bucket); over it a frame is
    /// dropped with `rate_limited`.
    #[arg(long, env = "FLOCK_RATE_PER_SEC", default_value_t = DEFAULT_RATE_PER_SEC)]
    pub rate_per_sec: f64,

    /// Messages one connection may send at once above the steady rate.
    #[arg(long, env = "FLOCK_RATE_BURST", default_value_t = DEFAULT_RATE_BURST)]
    pub rate_burst: f64,

    /// `join` messages one connection may send per minute; over it a join gets `rate_limited`.
    #[arg(long, env = "FLOCK_JOINS_PER_MINUTE", default_value_t = DEFAULT_JOINS_PER_MINUTE)]
    pub joins_per_minute: f64,

    /// `state` and `rename` messages one connection may send per second (twice that at
    /// once); over it one gets `rate_limited`.
    #[arg(long, env = "FLOCK_STATE_PER_SEC", default_value_t = DEFAULT_STATE_PER_SEC)]
    pub state_per_sec: f64,

    /// App `event` messages one connection may send per second (twice that at once); over
    /// it one gets `rate_limited`.
    #[arg(long, env = "FLOCK_EVENTS_PER_SEC", default_value_t = DEFAULT_EVENTS_PER_SEC)]
    pub events_per_sec: f64,

    /// Origins allowed to open `/ws` from a browser, comma-separated (e.g.
    /// `https://flock.example`). Empty: only the site's own origin. Clients that send no
    /// `Origin` header (not browsers) are always allowed.
    #[arg(long, env = "FLOCK_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Seconds a dropped connection's user keeps their place (no `left`, no `joined` on a
    /// quick reconnect); a close with code 1000 leaves at once.
    #[arg(long, env = "FLOCK_LEAVE_GRACE_SECS", default_value_t = DEFAULT_LEAVE_GRACE_SECS)]
    pub leave_grace_secs: u64,

    /// Directory of the chat and session store (`flock.db`, SQLite).
    #[arg(long, env = "FLOCK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Chats kept per room for history and resume.
    #[arg(long, env = "FLOCK_HISTORY_KEEP", default_value_t = DEFAULT_HISTORY_KEEP, value_parser = clap::value_parser!(u64).range(1..))]
    pub history_keep: u64,

    /// New WebSocket connections one client (IP address, /64 for IPv6) may open per second
    /// (twice that at once); over it, HTTP 429 with `Retry-After`.
    #[arg(long, env = "FLOCK_CONNECTS_PER_SEC", default_value_t = DEFAULT_CONNECTS_PER_SEC)]
    pub connects_per_sec: f64,

    /// Chats one client (IP address, /64 for IPv6) may send per second over all its
    /// connections (twice that at once); over it a chat gets `rate_limited` with its `ref`.
    #[arg(long, env = "FLOCK_CHATS_PER_SEC", default_value_t = DEFAULT_CHATS_PER_SEC)]
    pub chats_per_sec: f64,

    /// New rooms one client (IP address, /64 for IPv6) may create per minute (a third of
    /// that at once); over it, HTTP 429 or `rate_limited`.
    #[arg(long, env = "FLOCK_ROOMS_PER_MINUTE", default_value_t = DEFAULT_ROOMS_PER_MINUTE)]
    pub rooms_per_minute: f64,

    /// Live rooms this server holds at most; a join that would create one more gets HTTP
    /// 503 or `unavailable`.
    #[arg(long, env = "FLOCK_MAX_ROOMS", default_value_t = DEFAULT_MAX_ROOMS)]
    pub max_rooms: usize,

    /// Days a chat is kept at most, in every room, quiet ones included (on a cluster the
    /// room's Redis stream and counter expire after as long unused). A room whose every
    /// chat expired starts its numbering over.
    #[arg(long, env = "FLOCK_HISTORY_TTL_DAYS", default_value_t = DEFAULT_HISTORY_TTL_DAYS, value_parser = clap::value_parser!(u64).range(1..=36500))]
    pub history_ttl_days: u64,

    /// Most chats a resuming member's `welcome` replays (the newest of those missed); it
    /// says `more` when it left some out, and the client pages them with `history`.
    #[arg(long, env = "FLOCK_REPLAY_MAX", default_value_t = DEFAULT_REPLAY_MAX, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub replay_max: usize,

    /// A test hook: every store commit waits this many milliseconds first, to show what a
    /// slow disk does (and does not do) to the rooms. Not for production.
    #[arg(long, env = "FLOCK_COMMIT_DELAY_MS", default_value_t = 0, hide = true)]
    pub commit_delay_ms: u64,

    /// Simultaneous WebSocket connections one IP address (one /64 for IPv6) may hold; more
    /// get HTTP 429.
    #[arg(long, env = "FLOCK_MAX_CONNS_PER_IP", default_value_t = DEFAULT_MAX_CONNS_PER_IP)]
    pub max_conns_per_ip: usize,

    /// HTTP connections one IP address (one /64 for IPv6) may hold open that are not (yet)
    /// WebSockets; more get HTTP 429 and are closed.
    #[arg(long, env = "FLOCK_MAX_PENDING_PER_IP", default_value_t = DEFAULT_MAX_PENDING_PER_IP)]
    pub max_pending_per_ip: usize,

    /// Seconds a connection has to send a request's headers; a slower one is closed.
    #[arg(long, env = "FLOCK_HEADER_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,

    /// Secret that signs private-room invitations, at least 32 bytes (make one with
    /// `openssl rand -hex 32`). Without it, `private-*` rooms admit nobody.
    #[arg(long, env = "FLOCK_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub secret: Option<String>,

    /// Token that opens `/admin`, `/metrics` and `/api/cluster` to whoever presents it
    /// (`Authorization: Bearer <token>`, or as the password of HTTP Basic). Without it they
    /// answer only this machine's own clients.
    #[arg(long, env = "FLOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Secret (at least 32 bytes) the app's backend signs HS256 JWTs with: `/ws` then takes
    /// `&jwt=<token>` as the user's identity (see docs/api.md).
    #[arg(long, env = "FLOCK_JWT_SECRET", hide_env_values = true, value_parser = parse_jwt_secret)]
    pub jwt_secret: Option<String>,

    /// PEM file of the public key RS256 or ES256 JWTs are checked with (the app's backend
    /// signs with the private half).
    #[arg(long, env = "FLOCK_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// Refuse every connection without a valid JWT (403).
    #[arg(long, env = "FLOCK_REQUIRE_JWT")]
    pub require_jwt: bool,

    /// Where Flock POSTs signed webhook events for the app's backend (see docs/api.md);
    /// needs --webhook-secret.
    #[arg(long, env = "FLOCK_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Secret the webhooks are signed with (`Flock-Signature`, HMAC-SHA256), at least 32
    /// bytes; needs --webhook-url.
    #[arg(long, env = "FLOCK_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_webhook_secret)]
    pub webhook_secret: Option<String>,

    /// The webhook event types sent, comma-separated (room.occupied, room.vacated,
    /// user.joined, user.left, chat.created). Empty: all of them.
    #[arg(long, env = "FLOCK_WEBHOOK_EVENTS", value_delimiter = ',', value_parser = parse_webhook_kind)]
    pub webhook_events: Vec<crate::server::webhooks::WebhookKind>,

    /// Seconds an undelivered webhook event is retried before it is given up (dead).
    #[arg(long, env = "FLOCK_WEBHOOK_GIVE_UP_SECS", default_value_t = DEFAULT_WEBHOOK_GIVE_UP_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_give_up_secs: u64,

    /// A key for the HTTP API (`/api/v1`, as `Authorization: Bearer <key>`); repeat the
    /// flag, or comma-separate them in FLOCK_API_KEYS. Without a key the API answers 404.
    #[arg(long = "api-key", env = "FLOCK_API_KEYS", value_delimiter = ',', hide_env_values = true, value_parser = parse_api_key)]
    pub api_keys: Vec<String>,

    /// Who may show the pages in a frame: a CSP `frame-ancestors` source list, e.g.
    /// `https://app.example`. The default, `'none'`, allows nobody.
    #[arg(long, env = "FLOCK_FRAME_ANCESTORS", default_value = "'none'")]
    pub frame_ancestors: String,

    /// Join a cluster of nodes through this Redis, e.g. `redis://127.0.0.1:6379`,
    /// `rediss://redis.internal:6380` (TLS) or `redis://:password@host:6379` (AUTH).
    /// Without it the node stands alone (no Redis needed).
    #[arg(long, env = "FLOCK_BUS", hide_env_values = true)]
    pub bus: Option<String>,

    /// The PEM file of the certificate authority that signed the bus Redis's TLS
    /// certificate (`rediss://`), when the system's roots do not include it.
    #[arg(long, env = "FLOCK_BUS_CA_FILE")]
    pub bus_ca_file: Option<PathBuf>,

    /// In a cluster: how soon the users of a node that stopped are announced `left`.
    #[arg(long, env = "FLOCK_PRESENCE_TTL_SECS", default_value_t = DEFAULT_PRESENCE_TTL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub presence_ttl_secs: u64,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `flock=debug`.
    #[arg(long, env = "FLOCK_LOG", default_value = "info")]
    pub log: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does instead of serving.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Prints an invitation to a private room for one user name, signed with `--secret`.
    MintToken {
        /// The private room, e.g. `private-team`.
        #[arg(long)]
        room: String,
        /// The user name the invitation is for.
        #[arg(long)]
        username: String,
        /// Seconds until the invitation expires.
        #[arg(long, default_value_t = DEFAULT_TOKEN_TTL_SECS)]
        ttl_secs: u64,
    },
}

/// Shortest `--secret` accepted: a shorter one could be guessed offline from a single
/// invitation, and then any invitation could be forged.
pub const MIN_SECRET_BYTES: usize = 32;

/// Shortest API key taken: a key is a password for the app's backend.
pub const MIN_API_KEY_BYTES: usize = 16;

fn parse_api_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    if key.len() < MIN_API_KEY_BYTES || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "an API key must be at least {MIN_API_KEY_BYTES} characters without spaces (make one with `openssl rand -hex 32`)"
        ));
    }
    Ok(key.to_owned())
}

/// A day: how long a webhook event is retried by default.
pub const DEFAULT_WEBHOOK_GIVE_UP_SECS: u64 = 24 * 3600;

fn parse_webhook_secret(text: &str) -> Result<String, String> {
    if text.len() < MIN_SECRET_BYTES {
        return Err(format!("the webhook secret is {} bytes; it must be at least {MIN_SECRET_BYTES}", text.len()));
    }
    Ok(text.to_owned())
}

fn parse_webhook_kind(text: &str) -> Result<crate::server::webhooks::WebhookKind, String> {
    use crate::server::webhooks::WebhookKind;
    WebhookKind::parse(text.trim()).ok_or_else(|| {
        let known: Vec<&str> = WebhookKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown webhook event {text:?}; known: {}", known.join(", "))
    })
}

fn parse_jwt_secret(text: &str) -> Result<String, String> {
    let min = crate::server::jwt::MIN_JWT_SECRET_BYTES;
    if text.len() < min {
        return Err(format!("the JWT secret is {} bytes; it must be at least {min}", text.len()));
    }
    Ok(text.to_owned())
}

fn parse_secret(text: &str) -> Result<String, String> {
    if text.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the secret is {} bytes; it must be at least {MIN_SECRET_BYTES} (make one with `openssl rand -hex 32`)",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

impl Config {
    /// The settings a test server uses: every default, no flags read.
    pub fn defaults() -> Self {
        Config::parse_from(["flock"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_defaults() {
        let config = Config::parse_from(["flock", "--max-frame-bytes", "100", "--addr", "127.0.0.1:9"]);
        assert_eq!(config.max_frame_bytes, 100);
        assert_eq!(config.addr, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(Config::defaults().max_chat_chars, 2000);
        assert_eq!(Config::defaults().leave_grace_secs, 5);
        let secret = "0123456789abcdef0123456789abcdef";
        let mint =
            Config::parse_from(["flock", "--secret", secret, "mint-token", "--room", "private-a", "--username", "Al"]);
        assert!(matches!(mint.command, Some(Command::MintToken { ttl_secs: DEFAULT_TOKEN_TTL_SECS, .. })));
    }

    #[test]
    fn a_short_secret_is_refused_with_how_to_make_one() {
        let err = Config::try_parse_from(["flock", "--secret", "change-me"]).unwrap_err().to_string();
        assert!(err.contains("at least 32") && err.contains("openssl rand -hex 32"), "{err}");
    }
}
