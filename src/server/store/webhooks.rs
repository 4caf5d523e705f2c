//! The webhook outbox's table: events wait here, in order, until the receiver took them
//! or they were given up. Written only by the writer thread; read by the deliverer.

use super::{Store, StoreError};
use crate::protocol::ChatMessage;
use crate::server::webhooks::{body, chat_data, Kinds, WebhookKind};
use rusqlite::{params, Connection};
use std::time::Duration;
use uuid::Uuid;

/// How long a given-up event stays in the table (for inspection) before it is dropped.
pub const DEAD_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// One event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWebhook {
    /// Its place in the outbox.
    pub seq: i64,
    pub room: String,
    pub body: String,
    pub created_ms: u64,
    /// Tries so far.
    pub attempts: u32,
}

/// The id and body of a chat's `chat.created`.
pub(super) fn chat_created(room: &str, msg: &ChatMessage) -> (Uuid, String) {
    let id = Uuid::new_v4();
    (id, body(id, WebhookKind::ChatCreated, room, msg.ts, chat_data(msg)))
}

pub(super) fn insert(db: &Connection, id: Uuid, room: &str, body: &str, created_ms: u64) -> Result<(), StoreError> {
    db.prepare_cached("INSERT INTO webhooks (id, room, body, created) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
        id.to_string(),
        room,
        body,
        created_ms as i64
    ])?;
    Ok(())
}

pub(super) fn delivered(db: &Connection, seq: i64) -> Result<(), StoreError> {
    db.prepare_cached("DELETE FROM webhooks WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

pub(super) fn failed(db: &Connection, seq: i64, attempts: u32, next_at: u64, dead: bool) -> Result<(), StoreError> {
    db.prepare_cached("UPDATE webhooks SET attempts = ?2, next_at = ?3, dead = ?4 WHERE seq = ?1")?
        .execute(params![seq, attempts, next_at as i64, dead])?;
    Ok(())
}

pub(super) fn trim(db: &Connection, keep: usize) -> Result<(), StoreError> {
    db.prepare_cached(
        "UPDATE webhooks SET dead = 1 WHERE seq IN
         (SELECT seq FROM webhooks WHERE dead = 0 ORDER BY seq DESC LIMIT -1 OFFSET ?1)",
    )?
    .execute([keep as i64])?;
    Ok(())
}

impl Store {
    /// Has the outbox take the events of `kinds` (none until this is called).
    pub fn set_webhook_kinds(&self, kinds: Kinds) {
        if let Some(writer) = &self.writer {
            writer.shared.set_webhook_kinds(kinds);
        }
    }

    /// Whether the outbox takes events of `kind`.
    pub fn takes_webhook(&self, kind: WebhookKind) -> bool {
        self.writer.as_ref().is_some_and(|w| w.shared.webhook_kinds().contains(kind))
    }

    /// Queues an event of `kind` in `room` for the outbox, if it takes that kind (`data`
    /// is only made then: joins and leaves pay nothing without webhooks); a store too busy
    /// to take it logs it (the event is lost, and counted).
    pub fn webhook(&self, kind: WebhookKind, room: &str, ts: u64, data: impl FnOnce() -> serde_json::Value) {
        if !self.takes_webhook(kind) {
            return;
        }
        let data = data();
        let id = Uuid::new_v4();
        let write = super::writer::Write::Webhook {
            id,
            room: room.to_owned(),
            body: body(id, kind, room, ts, data),
            created_ms: ts,
        };
        if let Err(err) = self.submit(write, None) {
            metrics::counter!(crate::server::metrics::WEBHOOKS_LOST).increment(1);
            tracing::error!(room, kind = kind.as_str(), "cannot queue a webhook: {err}");
        }
    }

    /// The first undelivered event of each room that is due at `now_ms`, oldest first, at
    /// most `limit`: a room's events go one at a time, in order.
    pub fn due_webhooks(&self, now_ms: u64, limit: usize) -> Result<Vec<PendingWebhook>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT seq, room, body, created, attempts FROM webhooks w
             WHERE dead = 0 AND next_at <= ?1
               AND seq = (SELECT MIN(seq) FROM webhooks WHERE room = w.room AND dead = 0)
             ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms as i64, limit as i64], |r| {
            Ok(PendingWebhook {
                seq: r.get(0)?,
                room: r.get(1)?,
                body: r.get(2)?,
                created_ms: r.get::<_, i64>(3)? as u64,
                attempts: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Completes when the writer has committed new events (or at once, without a writer).
    pub async fn webhooks_added(&self) {
        if let Some(writer) = &self.writer {
            writer.shared.webhooks_added.notified().await;
        }
    }

    /// Undelivered events in the outbox.
    pub fn pending_webhooks(&self) -> Result<usize, StoreError> {
        let count: i64 = self.db().query_row("SELECT COUNT(*) FROM webhooks WHERE dead = 0", [], |r| r.get(0))?;
        Ok(count as usize)
    }
}
