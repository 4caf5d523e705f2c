//! Webhooks on a cluster. Each node's scripts append the events to one Redis stream in the
//! same step as the change they report (so an event exists once for the whole cluster,
//! and the stream holds a room's events in the order they happened), and one node at a
//! time sends them: the holder of a lease in Redis, which it renews every [`RENEW`] and
//! loses [`LEASE`] after it stopped (a node killed mid-delivery hands over that long
//! after). The sender keeps each room's waiting events in order in memory, sends the first
//! of every room at once as the single node does, and drops an entry from the stream only
//! once it was delivered or given up: a new sender starts from whatever is left, so an
//! event is sent at least once and, while one node holds the lease, by that node alone. It
//! renews the lease before each round of tries, so a node that stalled past its lease
//! stops rather than sending beside the next holder (an event may still go out twice,
//! with the same id, for receivers to drop).

use super::deliver::{attempt, client, PER_PASS};
use super::{backoff, gives_up, WebhookConfig, MAX_PENDING};
use crate::server::bus::link::{BusError, Link};
use crate::server::bus::webhook_stream::{read_webhooks, Read, StreamEvent};
use crate::server::clock::now_ms;
use crate::server::metrics::{WEBHOOKS_DEAD, WEBHOOKS_DELIVERED, WEBHOOKS_FAILED, WEBHOOKS_PENDING};
use futures_util::future::join_all;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the lease lasts unrenewed: past a renewal, a read and a receiver's full
/// timeout, so a working sender never loses it.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often the sender renews the lease and the other nodes ask for it.
pub const RENEW: Duration = Duration::from_secs(2);
/// Bytes of waiting bodies the sender holds in memory; past it, it reads on only as it
/// delivers (the rest waits in Redis).
const HELD_BYTES: usize = 16 << 20;
/// Entries read per stream read.
const READ_COUNT: usize = 1000;

/// Starts asking for the lease on `link`'s cluster, and sending while this node holds it.
pub fn spawn(link: Arc<Link>, config: WebhookConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(client) = client() else { return };
        let mut tick = tokio::time::interval(RENEW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !link.is_up() {
                continue;
            }
            match link.webhook_backlog().await {
                Ok(waiting) => metrics::gauge!(WEBHOOKS_PENDING).set(waiting as f64),
                Err(err) => tracing::debug!("cannot read the webhook outbox: {err}"),
            }
            match link.hold_webhook_lease(LEASE).await {
                Ok(true) => {
                    tracing::info!(node = %link.node, "sending the cluster's webhooks");
                    let mut sender = Sender { link: &link, config: &config, client: &client, rooms: Rooms::default() };
                    match sender.run().await {
                        Ok(()) => tracing::info!("another node sends the cluster's webhooks now"),
                        Err(err) => tracing::warn!("stopped sending webhooks: {err}"),
                    }
                }
                Ok(false) => {}
                Err(err) => tracing::debug!("cannot ask for the webhook lease: {err}"),
            }
        }
    })
}

/// One event waiting, with its tries so far.
struct Waiting {
    event: StreamEvent,
    attempts: u32,
    next_at: u64,
}

/// What the sender holds of the stream: each room's events in order, and where to read on.
struct Rooms {
    queues: HashMap<String, VecDeque<Waiting>>,
    /// The last entry id read.
    after: String,
    bytes: usize,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms { queues: HashMap::new(), after: "0-0".into(), bytes: 0 }
    }
}

impl Rooms {
    fn push(&mut self, event: StreamEvent) {
        self.bytes += event.body.len();
        self.after.clone_from(&event.entry);
        self.queues.entry(event.room.clone()).or_default().push_back(Waiting { event, attempts: 0, next_at: 0 });
    }

    /// The first event of each room, if it is due at `now`, at most `limit`, oldest
    /// first (so with more busy rooms than `limit`, none waits for ever).
    fn due(&self, now: u64, limit: usize) -> Vec<(String, StreamEvent, u32)> {
        let heads = self.queues.iter().filter_map(|(room, queue)| queue.front().map(|w| (room, w)));
        let mut due: Vec<_> = heads.filter(|(_, w)| w.next_at <= now).collect();
        due.sort_by_key(|(_, w)| entry_order(&w.event.entry));
        due.into_iter().take(limit).map(|(room, w)| (room.clone(), w.event.clone(), w.attempts)).collect()
    }

    /// How long until the next retry falls due (`None` with nothing waiting).
    fn until_due(&self, now: u64) -> Option<Duration> {
        let next = self.queues.values().filter_map(|q| q.front()).map(|w| w.next_at).min()?;
        Some(Duration::from_millis(next.saturating_sub(now)))
    }

    /// Drops the first event of `room` (delivered or given up).
    fn pop(&mut self, room: &str) {
        if let Some(queue) = self.queues.get_mut(room) {
            if let Some(done) = queue.pop_front() {
                self.bytes -= done.event.body.len();
            }
            if queue.is_empty() {
                self.queues.remove(room);
            }
        }
    }

    /// Records a failed try of the first event of `room`.
    fn failed(&mut self, room: &str, attempts: u32, next_at: u64) {
        if let Some(head) = self.queues.get_mut(room).and_then(VecDeque::front_mut) {
            head.attempts = attempts;
            head.next_at = next_at;
        }
    }
}

/// A stream entry id (`<ms>-<n>`) as numbers, for ordering.
fn entry_order(entry: &str) -> (u64, u64) {
    let (ms, n) = entry.split_once('-').unwrap_or((entry, "0"));
    (ms.parse().unwrap_or(u64::MAX), n.parse().unwrap_or(u64::MAX))
}

/// The node's work while it holds the lease.
struct Sender<'a> {
    link: &'a Link,
    config: &'a WebhookConfig,
    client: &'a reqwest::Client,
    rooms: Rooms,
}

impl Sender<'_> {
    /// Sends until the lease is another node's (`Ok`) or Redis fails (`Err`).
    async fn run(&mut self) -> Result<(), BusError> {
        let mut reader = self.link.webhook_reader(RENEW).await?;
        self.bound().await?;
        let mut renewed = Instant::now();
        loop {
            if renewed.elapsed() >= RENEW {
                if !self.link.hold_webhook_lease(LEASE).await? {
                    return Ok(());
                }
                renewed = Instant::now();
                self.bound().await?;
            }
            // Until the next try is due (zero: one is due now), the renewal at the latest.
            let wait = self.rooms.until_due(now_ms()).unwrap_or(RENEW).min(RENEW);
            if self.rooms.bytes < HELD_BYTES {
                // With nothing to send, wait for new events (or that try, or the renewal).
                let block = (!wait.is_zero()).then_some(wait);
                let read = read_webhooks(&mut reader, &self.rooms.after, block, READ_COUNT).await?;
                self.take(read).await?;
            } else {
                tokio::time::sleep(wait).await;
            }
            // Due now, including what was just read; and still this node's to send (a
            // node that stalled past its lease must not send beside the next holder).
            let due = self.rooms.due(now_ms(), PER_PASS);
            if !due.is_empty() {
                if !self.link.hold_webhook_lease(LEASE).await? {
                    return Ok(());
                }
                renewed = Instant::now();
                self.send(due).await?;
            }
        }
    }

    /// Holds what was read; an entry that cannot be an event is given up at once.
    async fn take(&mut self, read: Vec<Read>) -> Result<(), BusError> {
        let mut bad = Vec::new();
        for (entry, event) in read {
            match event {
                Ok(event) => self.rooms.push(event),
                Err(err) => {
                    tracing::warn!(entry, "gave up an unreadable webhook entry: {err}");
                    metrics::counter!(WEBHOOKS_DEAD).increment(1);
                    self.rooms.after.clone_from(&entry);
                    bad.push(entry);
                }
            }
        }
        self.link.webhooks_done(&bad).await
    }

    /// One try of each of `due`, recorded.
    async fn send(&mut self, due: Vec<(String, StreamEvent, u32)>) -> Result<(), BusError> {
        if due.is_empty() {
            return Ok(());
        }
        let tries = due.iter().map(|(room, event, _)| attempt(self.client, self.config, room, &event.body));
        let answers = join_all(tries).await;
        let now = now_ms();
        let mut done = Vec::new();
        for ((room, event, attempts), delivered) in due.into_iter().zip(answers) {
            if delivered {
                metrics::counter!(WEBHOOKS_DELIVERED).increment(1);
            } else {
                metrics::counter!(WEBHOOKS_FAILED).increment(1);
                let attempts = attempts.saturating_add(1);
                if !gives_up(self.config.give_up, event.created_ms, now) {
                    self.rooms.failed(&room, attempts, now + backoff(attempts).as_millis() as u64);
                    continue;
                }
                metrics::counter!(WEBHOOKS_DEAD).increment(1);
                tracing::warn!(room, attempts, "gave up a webhook event");
            }
            self.rooms.pop(&room);
            done.push(event.entry);
        }
        self.link.webhooks_done(&done).await
    }

    /// Keeps the outbox within [`MAX_PENDING`]: the oldest events beyond it are given up
    /// (counted), and the sender reads again from what is left.
    async fn bound(&mut self) -> Result<(), BusError> {
        let waiting = self.link.webhook_backlog().await?;
        metrics::gauge!(WEBHOOKS_PENDING).set(waiting as f64);
        if waiting as usize > MAX_PENDING {
            let trimmed = self.link.trim_webhooks(MAX_PENDING).await?;
            tracing::warn!(trimmed, "the webhook outbox is full: gave up its oldest events");
            metrics::counter!(WEBHOOKS_DEAD).increment(trimmed);
            self.rooms = Rooms::default();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(entry: &str, room: &str) -> StreamEvent {
        StreamEvent { entry: entry.into(), room: room.into(), body: format!("{entry}@{room}"), created_ms: 0 }
    }

    #[test]
    fn each_room_sends_its_first_event_only_and_a_retry_waits_its_turn() {
        assert!(entry_order("1700000000000-2") < entry_order("1700000000000-10"));
        assert!(entry_order("999-5") < entry_order("1000-0"));
        let mut rooms = Rooms::default();
        for (entry, room) in [("1-0", "a"), ("2-0", "b"), ("3-0", "a")] {
            rooms.push(event(entry, room));
        }
        assert_eq!(rooms.after, "3-0");
        let due: Vec<String> = rooms.due(0, 10).into_iter().map(|(_, e, _)| e.entry).collect();
        assert_eq!(due, ["1-0", "2-0"], "one per room, the oldest, oldest first");
        assert_eq!(rooms.due(0, 1)[0].1.entry, "1-0", "the oldest room goes first");
        rooms.failed("a", 1, 1000);
        let due: Vec<String> = rooms.due(10, 10).into_iter().map(|(_, e, _)| e.entry).collect();
        assert_eq!(due, ["2-0"], "room a waits for its retry; its second event does not jump the queue");
        assert_eq!(rooms.until_due(10), Some(Duration::ZERO), "b is due now");
        rooms.pop("b");
        assert_eq!(rooms.until_due(10), Some(Duration::from_millis(990)));
        rooms.pop("a");
        assert_eq!(rooms.due(10, 10)[0].1.entry, "3-0");
        rooms.pop("a");
        assert_eq!((rooms.bytes, rooms.queues.len(), rooms.until_due(0)), (0, 0, None));
    }
}
