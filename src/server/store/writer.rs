//! The store's one writer: a thread of its own that owns the write connection and
//! commits what it is handed in groups. Whatever is queued when a commit ends goes into the
//! next one, so one `fsync` (and any WAL checkpoint) is shared by every chat of the batch,
//! and none of it runs on an async worker or under a room's lock.
//!
//! Each write may carry a `done` callback, run on this thread after its batch committed
//! (or failed), in the order the writes were queued: rooms fan a chat out from there, so
//! every member sees chats in seq order and nothing is sent before it is on disk. When a
//! batch fails, everything queued behind it fails too and the store's *generation* moves
//! on: a chat numbered in an earlier generation is refused when it is queued, and a room
//! numbers again from what is stored once it sees the new generation, so a failed commit
//! leaves neither a gap nor a seq handed out twice.

use super::pending::Pending;
use super::webhooks;
use super::{token_key, StoreError};
use crate::protocol::{ChatMessage, ChatTarget, User};
use crate::server::metrics::{STORE_BATCH, STORE_COMMIT_SECONDS};
use crate::server::webhooks::{Kinds, WebhookKind};
use rusqlite::{params, Connection, TransactionBehavior};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Writes in one commit at most.
const MAX_BATCH: usize = 1024;
/// Writes the queue holds at most; past it (or [`MAX_QUEUED_BYTES`]) a write is refused
/// with [`StoreError::Busy`] and the client told to retry.
pub const MAX_QUEUED: usize = 16 * 1024;
/// Bytes of chat text and state the queue holds at most.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

/// What the writer stores.
pub enum Write {
    /// A chat, its seq already assigned; `generation` is the store's generation the seq
    /// was handed out in (see [`Shared::generation`]), `None` when it was numbered
    /// elsewhere (by the cluster's bus).
    Chat { room: String, msg: ChatMessage, reference: Option<String>, generation: Option<u64> },
    /// The identity a session token stands for, as of `now_ms`.
    Session { token: String, user: User, now_ms: u64 },
    /// Every session of identity `id` goes, and it is marked revoked as of `now_ms`.
    Revoke { id: Uuid, now_ms: u64 },
    /// A webhook event for the outbox (its body as it is sent).
    Webhook { id: Uuid, room: String, body: String, created_ms: u64 },
    /// The webhook event numbered `seq` in the outbox was delivered.
    WebhookDelivered { seq: i64 },
    /// A try of it failed: try again at `next_at` (unix ms), or never when `dead`.
    WebhookFailed { seq: i64, attempts: u32, next_at: u64, dead: bool },
    /// Gives up the oldest undelivered events beyond `keep`.
    WebhookTrim { keep: usize },
    /// Nothing: its `done` runs once everything queued before it is committed.
    Barrier,
}

impl Write {
    /// About the bytes it holds, for the queue's bound.
    fn bytes(&self) -> usize {
        match self {
            Write::Chat { room, msg, .. } => room.len() + msg.text.len() + msg.username.len() + 128,
            Write::Session { user, .. } => user.username.len() + user.state.len() * 64 + 256,
            Write::Revoke { .. } => 64,
            Write::Webhook { room, body, .. } => room.len() + body.len() + 64,
            Write::WebhookDelivered { .. } | Write::WebhookFailed { .. } | Write::WebhookTrim { .. } => 32,
            Write::Barrier => 0,
        }
    }
}

/// Runs after the write's batch committed (`Ok`) or failed.
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Job {
    write: Write,
    bytes: usize,
    done: Option<Done>,
}

/// What the store and its writer share.
pub struct Shared {
    pub pending: Mutex<Pending>,
    queued_bytes: AtomicUsize,
    /// A test hook: every commit waits this long first (`FLOCK_COMMIT_DELAY_MS`).
    delay_ms: AtomicU64,
    /// How many commits have failed; changed with `pending` locked.
    generation: AtomicU64,
    /// The webhook kinds the outbox takes (none without `--webhook-url`).
    webhook_kinds: AtomicU8,
    /// Wakes the webhook deliverer when events were committed.
    pub webhooks_added: tokio::sync::Notify,
}

impl Shared {
    pub fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts failed commits. A seq handed out from what was stored and queued in one
    /// generation is only good in that generation: the failure took everything queued
    /// with it, so a room that sees the generation change reads its latest seq again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn webhook_kinds(&self) -> Kinds {
        Kinds(self.webhook_kinds.load(Ordering::Relaxed))
    }

    pub fn set_webhook_kinds(&self, kinds: Kinds) {
        self.webhook_kinds.store(kinds.0, Ordering::Relaxed);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }
}

/// The handle the store queues writes through.
pub struct Writer {
    tx: mpsc::Sender<Job>,
    pub shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer thread on `conn`, keeping `keep` chats per room.
    pub fn start(conn: Connection, keep: u64) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(MAX_QUEUED);
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            queued_bytes: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            webhook_kinds: Default::default(),
            webhooks_added: tokio::sync::Notify::new(),
        });
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("flock-store-writer".into())
            .spawn(move || run(conn, rx, &thread_shared, keep))?;
        Ok((Writer { tx, shared }, handle))
    }

    /// Queues `write`; `done` runs once its batch is committed. Refused at once when the
    /// queue is full (the caller reports it and the client retries), and a chat numbered
    /// before the last failed commit is refused too (its seq may be taken).
    pub fn submit(&self, write: Write, done: Option<Done>) -> Result<(), StoreError> {
        let bytes = write.bytes();
        if self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > MAX_QUEUED_BYTES {
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return Err(StoreError::Busy);
        }
        // The generation is checked and the write queued under `pending`, which a failure
        // holds while it empties the queue: a write is either emptied out with the rest or
        // checked against the new generation.
        let mut pending = self.shared.pending();
        if let Write::Chat { generation: Some(generation), .. } = &write {
            if *generation != self.shared.generation() {
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                return Err(StoreError::Batch("an earlier chat could not be stored".into()));
            }
        }
        match &write {
            Write::Chat { room, msg, reference, .. } => pending.add(room, msg.seq, msg.from, reference.as_deref()),
            Write::Session { token, user, now_ms } => pending.add_session(&token_key(token), user, *now_ms),
            Write::Revoke { id, .. } => pending.add_revoke(*id),
            _ => {}
        }
        match self.tx.try_send(Job { write, bytes, done }) {
            Ok(()) => Ok(()),
            Err(refused) => {
                let job = match refused {
                    mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => job,
                };
                forget(&mut pending, &job.write);
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                Err(StoreError::Busy)
            }
        }
    }
}

fn forget(pending: &mut Pending, write: &Write) {
    match write {
        Write::Chat { room, msg, reference, .. } => pending.remove(room, msg.from, reference.as_deref()),
        Write::Session { token, .. } => pending.remove_session(&token_key(token)),
        Write::Revoke { id, .. } => pending.remove_revoke(*id),
        _ => {}
    }
}

/// The thread: take what is queued, commit it as one transaction, report, repeat; ends
/// when the store is dropped and the queue is empty.
fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, shared: &Shared, keep: u64) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let delay = shared.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let started = Instant::now();
        let result = commit(&mut conn, &batch, keep, shared);
        metrics::histogram!(STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::histogram!(STORE_BATCH).record(batch.len() as f64);
        match result {
            Ok(()) => finish(shared, batch, None),
            Err(err) => {
                let why = err.to_string();
                tracing::error!("cannot commit to the store: {why}; failing every write queued behind it");
                // Under `pending`: whatever is queued now fails with the batch, and what
                // is queued after is checked against the new generation.
                let mut pending = shared.pending();
                while let Ok(job) = rx.try_recv() {
                    batch.push(job);
                }
                forget_all(&mut pending, &batch);
                shared.generation.fetch_add(1, Ordering::AcqRel);
                drop(pending);
                run_callbacks(shared, batch, Some(&why));
            }
        }
    }
}

/// Takes the batch out of the pending set and runs its callbacks, in order.
fn finish(shared: &Shared, batch: Vec<Job>, failure: Option<&str>) {
    forget_all(&mut shared.pending(), &batch);
    run_callbacks(shared, batch, failure);
}

fn forget_all(pending: &mut Pending, batch: &[Job]) {
    for job in batch {
        forget(pending, &job.write);
    }
}

/// Releases the batch's bytes and runs its callbacks, in order.
fn run_callbacks(shared: &Shared, batch: Vec<Job>, failure: Option<&str>) {
    let bytes: usize = batch.iter().map(|job| job.bytes).sum();
    shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    for job in batch {
        if let Some(done) = job.done {
            done(failure.map_or(Ok(()), |why| Err(StoreError::Batch(why.to_owned()))));
        }
    }
}

fn commit(conn: &mut Connection, batch: &[Job], keep: u64, shared: &Shared) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let kinds = shared.webhook_kinds();
    let mut webhooks = false;
    for job in batch {
        match &job.write {
            Write::Chat { room, msg, reference, generation } => {
                append(&tx, room, msg, reference.as_deref(), keep)?;
                // Numbered here: this node created it, and its event is stored with it.
                if generation.is_some() && kinds.contains(WebhookKind::ChatCreated) {
                    let (id, body) = webhooks::chat_created(room, msg);
                    webhooks::insert(&tx, id, room, &body, msg.ts)?;
                    webhooks = true;
                }
            }
            Write::Session { token, user, now_ms } => save_session(&tx, token, user, *now_ms)?,
            Write::Revoke { id, now_ms } => revoke(&tx, *id, *now_ms)?,
            Write::Webhook { id, room, body, created_ms } => {
                webhooks::insert(&tx, *id, room, body, *created_ms)?;
                webhooks = true;
            }
            Write::WebhookDelivered { seq } => webhooks::delivered(&tx, *seq)?,
            Write::WebhookFailed { seq, attempts, next_at, dead } => {
                webhooks::failed(&tx, *seq, *attempts, *next_at, *dead)?
            }
            Write::WebhookTrim { keep } => webhooks::trim(&tx, *keep)?,
            Write::Barrier => {}
        }
    }
    tx.commit()?;
    if webhooks {
        shared.webhooks_added.notify_one();
    }
    Ok(())
}

/// Stores one chat and drops what falls out of the room's window.
pub(super) fn append(
    db: &Connection,
    room: &str,
    msg: &ChatMessage,
    reference: Option<&str>,
    keep: u64,
) -> Result<(), StoreError> {
    let to_id = match msg.to {
        ChatTarget::User(id) => Some(id.to_string()),
        ChatTarget::Room | ChatTarget::Others => None,
    };
    // OR IGNORE: on a cluster node the same chat may arrive twice (live and replayed).
    db.prepare_cached(
        "INSERT OR IGNORE INTO chats (room, seq, from_id, username, text, target, to_id, ts, ref)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        room,
        msg.seq as i64,
        msg.from.to_string(),
        msg.username,
        msg.text,
        msg.to.to_string(),
        to_id,
        msg.ts as i64,
        reference
    ])?;
    // Pruning every PRUNE_EVERY chats keeps at most that many extra rows per room.
    if msg.seq > keep && msg.seq.is_multiple_of(super::PRUNE_EVERY) {
        db.prepare_cached("DELETE FROM chats WHERE room = ?1 AND seq <= ?2")?
            .execute(params![room, (msg.seq - keep) as i64])?;
    }
    Ok(())
}

fn save_session(db: &Connection, token: &str, user: &User, now_ms: u64) -> Result<(), StoreError> {
    let state = serde_json::Value::Object(user.state.clone()).to_string();
    db.prepare_cached(
        "INSERT INTO sessions (token_sha256, id, username, color, state, touched) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (token_sha256) DO UPDATE SET username = ?3, color = ?4, state = ?5, touched = ?6",
    )?
    .execute(params![token_key(token), user.id.to_string(), user.username, user.color, state, now_ms as i64])?;
    Ok(())
}

fn revoke(db: &Connection, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
    let id = id.to_string();
    db.prepare_cached("DELETE FROM sessions WHERE id = ?1")?.execute([&id])?;
    db.prepare_cached("INSERT INTO revoked (id, at) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET at = ?2")?
        .execute(params![id, now_ms as i64])?;
    Ok(())
}
