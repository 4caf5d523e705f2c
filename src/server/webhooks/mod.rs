//! Signed webhooks: Flock tells the app's backend what happened in its rooms by POSTing
//! `{"id","type","room","ts","data"}` to `--webhook-url`, signed with `--webhook-secret`.
//!
//! Every event goes to a durable outbox in the store first (a chat's in the same
//! transaction as the chat), then [`deliver`] sends them, in order per room, at least
//! once: a 2xx answer within [`TIMEOUT`] is delivered, anything else is retried with
//! exponential backoff from 1 s to 10 min, and an event still undelivered after the give-up
//! time (24 h by default) is dead (counted in `/metrics`). An event keeps its `id` across
//! retries so the receiver can drop repeats. [`signature`] signs and checks the header.
//! On a cluster the outbox is a Redis stream and one node at a time sends it ([`cluster`]);
//! what a node's own store still holds (queued before it joined a cluster) goes out from there.

pub mod cluster;
pub mod deliver;
pub mod signature;

use serde_json::Value;
use std::time::Duration;

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Undelivered events the outbox holds at most; beyond it the oldest are given up (dead).
pub const MAX_PENDING: usize = 100_000;

/// What a webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    /// The first user entered a room.
    RoomOccupied,
    /// The last user left a room.
    RoomVacated,
    /// A user entered a room.
    UserJoined,
    /// A user left a room (after the leave grace).
    UserLeft,
    /// A chat was stored.
    ChatCreated,
}

impl WebhookKind {
    pub const ALL: [WebhookKind; 5] = [
        WebhookKind::RoomOccupied,
        WebhookKind::RoomVacated,
        WebhookKind::UserJoined,
        WebhookKind::UserLeft,
        WebhookKind::ChatCreated,
    ];

    /// The `type` as it is spelled in the body and in `--webhook-events`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::RoomOccupied => "room.occupied",
            WebhookKind::RoomVacated => "room.vacated",
            WebhookKind::UserJoined => "user.joined",
            WebhookKind::UserLeft => "user.left",
            WebhookKind::ChatCreated => "chat.created",
        }
    }

    pub fn parse(text: &str) -> Option<WebhookKind> {
        WebhookKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// This kind's letter in [`Kinds::letters`], as the Redis scripts test for it.
    fn letter(self) -> char {
        match self {
            WebhookKind::RoomOccupied => 'O',
            WebhookKind::RoomVacated => 'V',
            WebhookKind::UserJoined => 'J',
            WebhookKind::UserLeft => 'L',
            WebhookKind::ChatCreated => 'C',
        }
    }

    /// This kind's bit in a [`Kinds`] mask.
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of kinds, as a bit mask (so the store's writer reads it with one atomic load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kinds(pub u8);

impl Kinds {
    pub fn all() -> Kinds {
        Kinds(WebhookKind::ALL.iter().fold(0, |mask, kind| mask | kind.bit()))
    }

    pub fn of(kinds: &[WebhookKind]) -> Kinds {
        Kinds(kinds.iter().fold(0, |mask, kind| mask | kind.bit()))
    }

    pub fn contains(self, kind: WebhookKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The kinds as one letter each, for the cluster's Redis scripts (Lua has no bit
    /// operations of its own); empty for none.
    pub fn letters(self) -> String {
        WebhookKind::ALL.into_iter().filter(|kind| self.contains(*kind)).map(WebhookKind::letter).collect()
    }
}

/// Where webhooks go and how they are signed.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
    pub kinds: Kinds,
    /// How long an event is retried before it is given up.
    pub give_up: Duration,
}

impl WebhookConfig {
    /// The settings in `config`, checked: URL and secret come together, and the URL is
    /// http(s). `None` without webhooks; the refusal says why.
    pub fn from_config(config: &crate::server::config::Config) -> Result<Option<WebhookConfig>, String> {
        let (url, secret) = match (&config.webhook_url, &config.webhook_secret) {
            (None, None) => return Ok(None),
            (Some(url), Some(secret)) => (url.clone(), secret.clone()),
            _ => return Err("--webhook-url and --webhook-secret go together".into()),
        };
        let parsed = reqwest::Url::parse(&url).map_err(|err| format!("--webhook-url {url:?}: {err}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--webhook-url {url:?} must be http:// or https://"));
        }
        let kinds = if config.webhook_events.is_empty() { Kinds::all() } else { Kinds::of(&config.webhook_events) };
        let give_up = Duration::from_secs(config.webhook_give_up_secs);
        Ok(Some(WebhookConfig { url, secret, kinds, give_up }))
    }
}

/// The body of one event, exactly as it is sent (and signed) on every try.
pub fn body(id: uuid::Uuid, kind: WebhookKind, room: &str, ts: u64, data: Value) -> String {
    serde_json::json!({"id": id, "type": kind.as_str(), "room": room, "ts": ts, "data": data}).to_string()
}

/// The `data` of a chat's `chat.created`.
pub fn chat_data(msg: &crate::protocol::ChatMessage) -> Value {
    serde_json::json!({
        "seq": msg.seq, "from": msg.from, "username": msg.username, "to": msg.to, "text": msg.text, "server": msg.server,
    })
}

/// Whether an event made at `created_ms` is given up when a try at `now_ms` failed.
pub fn gives_up(give_up: Duration, created_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(created_ms) >= give_up.as_millis() as u64
}

/// The delay before try `attempt + 1` (after `attempt` failed ones, the first being 1).
pub fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_and_masks_hold_what_they_were_given() {
        for kind in WebhookKind::ALL {
            assert_eq!(WebhookKind::parse(kind.as_str()), Some(kind));
        }
        let some = Kinds::of(&[WebhookKind::ChatCreated, WebhookKind::UserLeft]);
        assert!(some.contains(WebhookKind::ChatCreated) && !some.contains(WebhookKind::UserJoined));
        assert!(WebhookKind::ALL.iter().all(|k| Kinds::all().contains(*k)));
        assert_eq!((some.letters().as_str(), Kinds::default().letters().as_str()), ("LC", ""));
        assert_eq!(Kinds::all().letters(), "OVJLC");
    }

    #[test]
    fn the_backoff_doubles_from_a_second_to_ten_minutes() {
        let secs: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    }
}
