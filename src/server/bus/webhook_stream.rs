//! The cluster's webhook outbox as the sending node sees it: the lease that makes one
//! node at a time the sender, reading the stream the scripts append to, and dropping what
//! was delivered or given up. Entries are turned into the exact body sent (and signed)
//! here, so every node, and every try, sends the same bytes for an event.

use super::event::PresenceEntry;
use super::keys;
use super::link::{timed, BusError, Link, REDIS_TIMEOUT};
use super::scripts::LEASE_SCRIPT;
use crate::protocol::ChatMessage;
use crate::server::webhooks::{body, chat_data, WebhookKind};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamReadReply};
use redis::AsyncConnectionConfig;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// One event of the outbox, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// Its entry id in the stream.
    pub entry: String,
    pub room: String,
    pub body: String,
    /// When the change it reports happened (unix ms).
    pub created_ms: u64,
}

/// Why an entry cannot be sent (another version wrote it, or it is damaged): it is dropped
/// and counted as given up, never retried forever.
#[derive(Debug, thiserror::Error)]
pub enum BadEntry {
    #[error("no {0} field")]
    Missing(&'static str),
    #[error("unknown type {0:?}")]
    Kind(String),
    #[error("unreadable payload: {0}")]
    Json(#[from] serde_json::Error),
}

/// An entry read off the stream: its id, and the event or why it cannot be one.
pub type Read = (String, Result<StreamEvent, BadEntry>);

impl Link {
    /// Takes the webhook lease for `lease`, or renews it if this node holds it; whether
    /// this node is the sender now.
    pub async fn hold_webhook_lease(&self, lease: Duration) -> Result<bool, BusError> {
        let mut conn = self.connection()?;
        let cmd = redis::cmd("EVAL")
            .arg(LEASE_SCRIPT)
            .arg(1)
            .arg(keys::WEBHOOK_LEASE)
            .arg(self.node.to_string())
            .arg(lease.as_millis() as u64)
            .clone();
        let held: u8 = timed(cmd.query_async(&mut conn)).await?;
        Ok(held == 1)
    }

    /// A connection of its own for reading the stream: a blocking read would hold up
    /// every other command on the shared one. Its replies may take `block` longer.
    pub async fn webhook_reader(&self, block: Duration) -> Result<MultiplexedConnection, BusError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT + block));
        timed(self.client.get_multiplexed_async_connection_with_config(&config)).await
    }

    /// How many events wait in the outbox.
    pub async fn webhook_backlog(&self) -> Result<u64, BusError> {
        let mut conn = self.connection()?;
        timed(redis::cmd("XLEN").arg(keys::WEBHOOKS).query_async(&mut conn)).await
    }

    /// Drops the oldest events beyond `keep`; returns how many went.
    pub async fn trim_webhooks(&self, keep: usize) -> Result<u64, BusError> {
        let mut conn = self.connection()?;
        timed(redis::cmd("XTRIM").arg(keys::WEBHOOKS).arg("MAXLEN").arg(keep).query_async(&mut conn)).await
    }

    /// Drops the entries `done` (delivered or given up) from the outbox.
    pub async fn webhooks_done(&self, done: &[String]) -> Result<(), BusError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection()?;
        timed(redis::cmd("XDEL").arg(keys::WEBHOOKS).arg(done).query_async::<u64>(&mut conn)).await.map(drop)
    }
}

/// Up to `count` entries after entry id `after`, oldest first, waiting up to `block` for
/// the first one (not at all without it).
pub async fn read_webhooks(
    reader: &mut MultiplexedConnection,
    after: &str,
    block: Option<Duration>,
    count: usize,
) -> Result<Vec<Read>, BusError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(count);
    if let Some(block) = block {
        // BLOCK 0 would wait for ever.
        cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
    }
    cmd.arg("STREAMS").arg(keys::WEBHOOKS).arg(after);
    let wait = REDIS_TIMEOUT + block.unwrap_or_default();
    let reply: Option<StreamReadReply> = match tokio::time::timeout(wait, cmd.query_async(reader)).await {
        Ok(reply) => reply?,
        Err(_) => return Err(BusError::Timeout),
    };
    let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|key| key.ids);
    Ok(entries.map(|entry| (entry.id.clone(), event(&entry))).collect())
}

/// The event an entry holds, with its body as it is sent.
fn event(entry: &StreamId) -> Result<StreamEvent, BadEntry> {
    let field = |name: &'static str| entry.get::<String>(name).ok_or(BadEntry::Missing(name));
    let id: Uuid = field("id")?.parse().map_err(|_| BadEntry::Missing("id"))?;
    let kind = field("type")?;
    let kind = WebhookKind::parse(&kind).ok_or(BadEntry::Kind(kind))?;
    let room = field("room")?;
    let ts: u64 = field("ts")?.parse().map_err(|_| BadEntry::Missing("ts"))?;
    let data: Value = if let Some(chat) = entry.get::<String>("chat") {
        let seq: u64 = field("seq")?.parse().map_err(|_| BadEntry::Missing("seq"))?;
        let chat: ChatMessage = serde_json::from_str(&chat)?;
        chat_data(&ChatMessage { seq, ..chat })
    } else if let Some(presence) = entry.get::<String>("entry") {
        let presence: PresenceEntry = serde_json::from_str(&presence)?;
        json!({ "user": presence.user })
    } else {
        serde_json::from_str(&field("data")?)?
    };
    Ok(StreamEvent { entry: entry.id.clone(), body: body(id, kind, &room, ts, data), room, created_ms: ts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChatTarget, User, UserState};

    fn entry(fields: &[(&str, &str)]) -> StreamId {
        let map = fields.iter().map(|(k, v)| ((*k).to_owned(), redis::Value::BulkString(v.as_bytes().to_vec())));
        StreamId { id: "1-0".into(), map: map.collect(), ..Default::default() }
    }

    #[test]
    fn each_payload_reads_back_as_the_body_a_single_node_would_send() {
        let id = Uuid::new_v4().to_string();
        let user = User {
            id: Uuid::new_v4(),
            username: "ann".into(),
            color: "#123456".into(),
            state: UserState::default(),
            cursor: None,
        };
        let presence =
            serde_json::to_string(&PresenceEntry { node: Uuid::new_v4(), taken_at: 5, user: user.clone() }).unwrap();
        let base = [("id", id.as_str()), ("room", "r"), ("ts", "42")];
        let joined = [&base[..], &[("type", "user.joined"), ("entry", &presence)]].concat();
        let sent: Value = serde_json::from_str(&event(&entry(&joined)).unwrap().body).unwrap();
        assert_eq!(sent, json!({"id": id, "type": "user.joined", "room": "r", "ts": 42, "data": {"user": user}}));

        let chat = ChatMessage {
            seq: 0,
            from: user.id,
            username: "ann".into(),
            text: "hi".into(),
            ts: 42,
            to: ChatTarget::Room,
            server: false,
        };
        let chat = serde_json::to_string(&chat).unwrap();
        let created = [&base[..], &[("type", "chat.created"), ("chat", &chat), ("seq", "7")]].concat();
        let sent: Value = serde_json::from_str(&event(&entry(&created)).unwrap().body).unwrap();
        assert_eq!((sent["data"]["seq"].as_u64(), sent["data"]["text"].as_str()), (Some(7), Some("hi")));

        let vacated = [&base[..], &[("type", "room.vacated"), ("data", "{}")]].concat();
        let got = event(&entry(&vacated)).unwrap();
        assert_eq!((got.room.as_str(), got.created_ms, got.entry.as_str()), ("r", 42, "1-0"));
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_refused_not_guessed() {
        let id = Uuid::new_v4().to_string();
        assert!(matches!(event(&entry(&[("id", &id)])), Err(BadEntry::Missing("type"))));
        let odd = [("id", id.as_str()), ("type", "chat.deleted"), ("room", "r"), ("ts", "1"), ("data", "{}")];
        assert!(matches!(event(&entry(&odd)), Err(BadEntry::Kind(_))));
        let broken = [("id", id.as_str()), ("type", "room.vacated"), ("room", "r"), ("ts", "1"), ("data", "{")];
        assert!(matches!(event(&entry(&broken)), Err(BadEntry::Json(_))));
    }
}
