//! The deliverer: one task that sends the outbox's due events, one per room at a time (so
//! each room's arrive in order), all rooms at once, and records what became of each try.

use super::signature::{sign, HEADER};
use super::{backoff, gives_up, WebhookConfig, MAX_PENDING, TIMEOUT};
use crate::server::clock::{now_ms, unix_secs};
use crate::server::metrics::{WEBHOOKS_DEAD, WEBHOOKS_DELIVERED, WEBHOOKS_FAILED, WEBHOOKS_PENDING};
use crate::server::store::webhooks::PendingWebhook;
use crate::server::store::writer::Write;
use crate::server::store::{Store, StoreError};
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Duration;

/// Due events taken per pass (at most one per room).
pub(super) const PER_PASS: usize = 64;
/// How often the outbox is looked at when nothing wakes the deliverer (a retry falling due).
const POLL: Duration = Duration::from_secs(1);

/// What the deliverer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// The node's events: delivered for as long as the node runs.
    Ours,
    /// What the store holds from before the node joined a cluster (whose events go through
    /// Redis): delivered, then the deliverer stops. It reports no pending count: the
    /// cluster's is the one that counts.
    Leftovers,
}

/// Starts delivering `store`'s outbox to `config.url`.
pub fn spawn(store: Arc<Store>, config: WebhookConfig, outbox: Outbox) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(client) = client() else { return };
        // Whether the receiver refused every try of the last pass that tried any.
        let mut failing = false;
        loop {
            let done = pass(&store, &config, &client, outbox).await;
            if let Ok(done) = &done {
                if done.tried == 0 && done.waiting == 0 && outbox == Outbox::Leftovers {
                    return;
                }
                if done.tried > 0 {
                    failing = done.delivered == 0;
                }
            }
            match done {
                // While the receiver refuses everything, a new event does not wake the
                // deliverer: it looks again each POLL (the event's room gets its turn
                // then) rather than reading a growing backlog on every commit.
                Ok(_) | Err(_) if failing => tokio::time::sleep(POLL).await,
                Ok(Pass { tried: 0, .. }) | Err(_) => {
                    let woken = store.webhooks_added();
                    let _ = tokio::time::timeout(POLL, woken).await;
                }
                Ok(_) => {}
            }
        }
    })
}

/// What a pass did.
struct Pass {
    tried: usize,
    delivered: usize,
    /// Events that were waiting when it began.
    waiting: usize,
}

/// Sends every due event once.
async fn pass(
    store: &Arc<Store>,
    config: &WebhookConfig,
    client: &reqwest::Client,
    outbox: Outbox,
) -> Result<Pass, StoreError> {
    let reader = store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let pending = reader.pending_webhooks()?;
        Ok::<_, StoreError>((pending, reader.due_webhooks(now_ms(), PER_PASS)?))
    })
    .await
    .map_err(|err| StoreError::Batch(err.to_string()))
    .and_then(|read| read)
    .inspect_err(|err| tracing::error!("cannot read the webhook outbox: {err}"))?;
    let (pending, due) = read;
    if outbox == Outbox::Ours {
        metrics::gauge!(WEBHOOKS_PENDING).set(pending as f64);
    }
    if pending > MAX_PENDING {
        tracing::warn!(pending, "the webhook outbox is full: giving up its oldest events");
        metrics::counter!(WEBHOOKS_DEAD).increment((pending - MAX_PENDING) as u64);
        store.submit(Write::WebhookTrim { keep: MAX_PENDING }, None)?;
    }
    let tried = due.len();
    let answers = join_all(due.iter().map(|event| attempt(client, config, &event.room, &event.body))).await;
    let delivered = answers.iter().filter(|delivered| **delivered).count();
    for (event, delivered) in due.into_iter().zip(answers) {
        store.submit(outcome(config, &event, delivered, now_ms()), None)?;
    }
    // The next pass reads the outbox as these outcomes left it.
    store.flushed().await?;
    Ok(Pass { tried, delivered, waiting: pending })
}

/// What to record after a try of `event` at `now`.
fn outcome(config: &WebhookConfig, event: &PendingWebhook, delivered: bool, now: u64) -> Write {
    if delivered {
        metrics::counter!(WEBHOOKS_DELIVERED).increment(1);
        return Write::WebhookDelivered { seq: event.seq };
    }
    metrics::counter!(WEBHOOKS_FAILED).increment(1);
    let attempts = event.attempts.saturating_add(1);
    let dead = gives_up(config.give_up, event.created_ms, now);
    if dead {
        metrics::counter!(WEBHOOKS_DEAD).increment(1);
        tracing::warn!(room = event.room, attempts, "gave up a webhook event");
    }
    let next_at = now + backoff(attempts).as_millis() as u64;
    Write::WebhookFailed { seq: event.seq, attempts, next_at, dead }
}

/// The client every try goes out with (`None`, logged, if TLS cannot be set up).
pub(super) fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .inspect_err(|err| tracing::error!("cannot make the webhook client: {err}; no webhooks are sent"))
        .ok()
}

/// One POST of `body`, an event of `room`: whether the receiver answered 2xx in time.
pub(super) async fn attempt(client: &reqwest::Client, config: &WebhookConfig, room: &str, body: &str) -> bool {
    let signature = sign(&config.secret, unix_secs(), body);
    let sent = client
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(HEADER, signature)
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => true,
        Ok(response) => {
            tracing::debug!(room, status = %response.status(), "a webhook was refused");
            false
        }
        Err(err) => {
            tracing::debug!(room, "a webhook did not get through: {err}");
            false
        }
    }
}
