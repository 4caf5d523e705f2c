//! What outlives a connection and a restart: every room's chat log, numbered per room, and
//! the identity behind each session token. One SQLite file (`flock.db` in the data
//! directory), so a fresh machine needs no database server.
//!
//! Writes go to the [`writer`] thread, which commits them in groups; a chat is sent to
//! anyone only from there, after its batch committed, so whatever a client saw (or was
//! acknowledged) is on disk. Reads use connections of their own: the file is in WAL
//! mode, so they never wait for a commit. With `synchronous=NORMAL` a commit survives the
//! process being killed at any point; only a power cut may lose the last few.

mod pending;
pub mod webhooks;
pub mod writer;

use super::clock::now_ms;
use crate::protocol::{ChatMessage, ChatTarget, User, UserState};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;
use writer::{Done, Write, Writer};

/// The database file inside the data directory.
pub const DB_FILE: &str = "flock.db";
/// Held locked while a store is open: one server per data directory, or two would hand
/// out the same seqs.
pub const LOCK_FILE: &str = "flock.lock";
/// Read connections: the async workers, the blocking pool's page reads and the hourly
/// expiry each find one free.
const READERS: usize = 4;
/// How long a write waits for another process holding the file (e.g. a stopping server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Old chats are pruned once every this many chats of a room.
pub const PRUNE_EVERY: u64 = 64;
/// About the most chat text one page of history carries, so no `welcome` or `history`
/// frame is one giant frame: a page holds fewer chats when they are long (`more` says so).
pub const PAGE_BYTES: usize = 128 * 1024;
/// How often a running server drops expired chats and sessions.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(3600);
/// A session token unused this long is refused and forgotten.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chats (
    room     TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    from_id  TEXT    NOT NULL,
    username TEXT    NOT NULL,
    text     TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    to_id    TEXT,
    ts       INTEGER NOT NULL,
    ref      TEXT,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS chats_by_ref ON chats (room, from_id, ref) WHERE ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS chats_by_ts ON chats (ts);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    id       TEXT NOT NULL,
    username TEXT NOT NULL,
    color    TEXT NOT NULL,
    state    TEXT NOT NULL,
    touched  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_id ON sessions (id);
CREATE TABLE IF NOT EXISTS webhooks (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL,
    room     TEXT    NOT NULL,
    body     TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at  INTEGER NOT NULL DEFAULT 0,
    dead     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhooks_by_room ON webhooks (room, dead, seq);
CREATE TABLE IF NOT EXISTS revoked (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
";

/// The seqs a page of history is taken from: `after < seq < before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub after: u64,
    pub before: u64,
}

impl SeqRange {
    /// Every chat.
    pub const ALL: SeqRange = SeqRange { after: 0, before: u64::MAX };
}

/// Which end of a range a page is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Newest,
    Oldest,
}

/// One page of history, oldest first; `more` when its range held more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub chats: Vec<ChatMessage>,
    pub more: bool,
}

/// A store operation failed; the caller refuses the one message, the hub carries on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("chat store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("another Flock server uses the data directory {0}")]
    Locked(PathBuf),
    #[error("the store is busy; try again")]
    Busy,
    #[error("chat store: the batch was not committed: {0}")]
    Batch(String),
    #[error("the store has stopped")]
    Stopped,
}

/// The chat log and the sessions: a connection for reads (and the hourly expiry), and the
/// writer thread for everything else.
pub struct Store {
    // Std Mutexes: every call is one short statement and nothing is awaited while one is
    // held. Several, so one slow read (a page from the disk) does not hold up the others.
    readers: Vec<Mutex<Connection>>,
    /// Which reader a caller waits for when all are busy.
    next_reader: std::sync::atomic::AtomicUsize,
    writer: Option<Writer>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// How long a chat is kept at most, in every room (busy or quiet).
    ttl: Duration,
    /// The data directory's lock, held as long as the store is open.
    _lock: std::fs::File,
}

impl Store {
    /// Opens (or creates) the store in `dir`, keeping the newest `keep` chats per room and
    /// none older than `ttl`, drops what has expired already, and starts the writer.
    pub fn open(dir: &Path, keep: u64, ttl: Duration) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir { path: dir.to_owned(), source })?;
        let lock = lock_dir(dir)?;
        let open = || -> Result<Connection, StoreError> {
            let db = Connection::open(dir.join(DB_FILE))?;
            db.busy_timeout(BUSY_TIMEOUT)?;
            db.pragma_update(None, "journal_mode", "WAL")?;
            db.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(db)
        };
        let write = open()?;
        migrate(&write)?;
        write.execute_batch(SCHEMA)?;
        let keep = keep.max(1);
        let (writer, thread) =
            Writer::start(write, keep).map_err(|source| StoreError::Dir { path: dir.to_owned(), source })?;
        let readers = (0..READERS).map(|_| open().map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        let next_reader = std::sync::atomic::AtomicUsize::new(0);
        let store = Store { readers, next_reader, writer: Some(writer), thread: Some(thread), ttl, _lock: lock };
        store.expire(now_ms())?;
        Ok(store)
    }

    /// Queues `write`; `done` runs on the writer thread once its batch committed (or
    /// failed), in the order writes were queued.
    pub fn submit(&self, write: Write, done: Option<Done>) -> Result<(), StoreError> {
        self.writer.as_ref().ok_or(StoreError::Stopped)?.submit(write, done)
    }

    /// How many commits have failed so far (see [`writer::Shared::generation`]); a seq
    /// numbered from [`Store::latest_seq`] is only good while this stays the same.
    pub fn generation(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.shared.generation())
    }

    /// Stores one chat (its `seq` already assigned) and waits for the commit; for tests,
    /// tools and benchmarks (a room queues its chats with [`Store::submit`]).
    pub fn append(&self, room: &str, msg: &ChatMessage, reference: Option<&str>) -> Result<(), StoreError> {
        self.write_and_wait(Write::Chat {
            room: room.to_owned(),
            msg: msg.clone(),
            reference: reference.map(str::to_owned),
            generation: None,
        })
    }

    /// Queues `write` and blocks until its batch is committed (or failed).
    fn write_and_wait(&self, write: Write) -> Result<(), StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.submit(write, Some(Box::new(move |result| drop(tx.send(result)))))?;
        rx.recv().unwrap_or(Err(StoreError::Stopped))
    }

    /// Queues a chat that is sent on without waiting for the store (a cluster node's copy
    /// of a chat Redis holds); a failure is only logged.
    pub fn append_later(&self, room: &str, msg: &ChatMessage, reference: Option<&str>) {
        let write = Write::Chat {
            room: room.to_owned(),
            msg: msg.clone(),
            reference: reference.map(str::to_owned),
            generation: None,
        };
        let (name, seq) = (room.to_owned(), msg.seq);
        let done: Done = Box::new(move |result| {
            if let Err(err) = result {
                tracing::error!(room = name, seq, "cannot store a delivered chat: {err}");
            }
        });
        if let Err(err) = self.submit(write, Some(done)) {
            tracing::error!(room, seq = msg.seq, "cannot store a delivered chat: {err}");
        }
    }

    /// Records (or updates) the identity a session token stands for. It is queued for the
    /// writer, and [`Store::load_session`] sees it at once; a failure is only logged (the
    /// user keeps the session on this connection and gets a new identity on the next).
    pub fn save_session(&self, token: &str, user: &User, now_ms: u64) {
        let write = Write::Session { token: token.to_owned(), user: user.clone(), now_ms };
        let done: Done = Box::new(|result| {
            if let Err(err) = result {
                tracing::error!("cannot save a session: {err}");
            }
        });
        if let Err(err) = self.submit(write, Some(done)) {
            tracing::error!("cannot save a session: {err}");
        }
    }

    /// Stops every session token of identity `id` (the HTTP API's revoke): their rows go,
    /// and for [`SESSION_TTL`] no token loads as `id` again. Queued; wait with
    /// [`Store::flushed`] to know it is on disk.
    pub fn revoke(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
        self.submit(Write::Revoke { id, now_ms }, None)
    }

    /// Whether identity `id` was revoked within [`SESSION_TTL`] (a revocation still queued
    /// included).
    pub fn is_revoked(&self, id: Uuid) -> Result<bool, StoreError> {
        if self.writer.as_ref().is_some_and(|w| w.shared.pending().is_revoked(id)) {
            return Ok(true);
        }
        let at: Option<i64> = self
            .db()
            .prepare_cached("SELECT at FROM revoked WHERE id = ?1 AND at >= ?2")?
            .query_row(params![id.to_string(), cutoff(now_ms(), SESSION_TTL)], |r| r.get(0))
            .optional()?;
        Ok(at.is_some())
    }

    /// Waits until everything queued so far is committed (or failed).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.write_and_wait(Write::Barrier)
    }

    /// Waits, without blocking a thread, until everything queued so far is committed; an
    /// error when the commit failed (or the store could not take the barrier).
    pub async fn flushed(&self) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Write::Barrier, Some(Box::new(move |result| drop(tx.send(result)))))?;
        rx.await.unwrap_or(Err(StoreError::Stopped))
    }

    /// A test hook: every commit waits `delay` first (`FLOCK_COMMIT_DELAY_MS`).
    pub fn set_commit_delay(&self, delay: Duration) {
        if let Some(writer) = &self.writer {
            writer.shared.set_delay(delay);
        }
    }

    /// Deletes the chats older than the store's TTL, in every room, and the sessions not
    /// used for [`SESSION_TTL`]; returns how many of each. Run at open and then every
    /// [`EXPIRE_EVERY`] by the server, on a blocking thread (it may touch many rows).
    pub fn expire(&self, now_ms: u64) -> Result<(usize, usize), StoreError> {
        let db = self.db();
        let chats = db.execute("DELETE FROM chats WHERE ts < ?1", [cutoff(now_ms, self.ttl)])?;
        let sessions = db.execute("DELETE FROM sessions WHERE touched < ?1", [cutoff(now_ms, SESSION_TTL)])?;
        // A revocation outlives every token it stopped: those are at most this old.
        db.execute("DELETE FROM revoked WHERE at < ?1", [cutoff(now_ms, SESSION_TTL)])?;
        db.execute("DELETE FROM webhooks WHERE dead = 1 AND created < ?1", [cutoff(now_ms, webhooks::DEAD_KEPT)])?;
        Ok((chats, sessions))
    }

    /// A free read connection, or the next one in turn when all are busy.
    fn db(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let turn = self.next_reader.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.readers.len();
        self.readers[turn].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The room's latest sequence number (0 before its first chat), counting chats still
    /// queued for the writer.
    pub fn latest_seq(&self, room: &str) -> Result<u64, StoreError> {
        let queued = self.writer.as_ref().and_then(|w| w.shared.pending().head(room));
        let seq: Option<i64> =
            self.db().prepare_cached("SELECT MAX(seq) FROM chats WHERE room = ?1")?.query_row([room], |r| r.get(0))?;
        Ok((seq.unwrap_or(0) as u64).max(queued.unwrap_or(0)))
    }

    /// The oldest sequence number still kept for the room, if any chat is.
    pub fn oldest_seq(&self, room: &str) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> =
            self.db().prepare_cached("SELECT MIN(seq) FROM chats WHERE room = ?1")?.query_row([room], |r| r.get(0))?;
        Ok(seq.map(|s| s as u64))
    }

    /// The sequence number under which `from` stored a chat with `reference` in `room`, if
    /// that chat is still kept (a ref is remembered as long as its chat) or still queued.
    pub fn seq_of_ref(&self, room: &str, from: Uuid, reference: &str) -> Result<Option<u64>, StoreError> {
        if let Some(seq) = self.writer.as_ref().and_then(|w| w.shared.pending().seq_of_ref(room, from, reference)) {
            return Ok(Some(seq));
        }
        let seq: Option<i64> = self
            .db()
            .prepare_cached("SELECT seq FROM chats WHERE room = ?1 AND from_id = ?2 AND ref = ?3")?
            .query_row(params![room, from.to_string(), reference], |r| r.get(0))
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }

    /// Every room with a stored chat and its latest seq.
    pub fn room_heads(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT room, MAX(seq) FROM chats GROUP BY room")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A page of the chats of `room` that `viewer` may see with `after < seq < before`,
    /// oldest first: at most `limit` of them and about [`PAGE_BYTES`] of text (always at
    /// least one), taken from the newest or the oldest end of the range. `more` says the
    /// range holds chats the page left out.
    ///
    /// Who may see a chat is [`ChatMessage::visible_to`], applied to the rows as they are
    /// read (so the scan stops with the page), not said again in SQL.
    pub fn page(&self, room: &str, viewer: Uuid, range: SeqRange, limit: usize, end: End) -> Result<Page, StoreError> {
        self.page_seen_by(room, Some(viewer), range, limit, end)
    }

    /// [`Store::page`] on a blocking thread (a page may have to come from the disk), for
    /// `viewer`, or with every chat, direct ones included, for `None` (the app's backend).
    pub async fn read_page(
        self: &Arc<Self>,
        room: &str,
        viewer: Option<Uuid>,
        range: SeqRange,
        limit: usize,
        end: End,
    ) -> Result<Page, StoreError> {
        let (store, room) = (self.clone(), room.to_owned());
        tokio::task::spawn_blocking(move || store.page_seen_by(&room, viewer, range, limit, end))
            .await
            .unwrap_or_else(|err| Err(StoreError::Batch(format!("the read did not finish: {err}"))))
    }

    fn page_seen_by(
        &self,
        room: &str,
        viewer: Option<Uuid>,
        range: SeqRange,
        limit: usize,
        end: End,
    ) -> Result<Page, StoreError> {
        let db = self.db();
        let sql = match end {
            End::Newest => {
                "SELECT seq, from_id, username, text, target, ts FROM chats
                 WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC"
            }
            End::Oldest => {
                "SELECT seq, from_id, username, text, target, ts FROM chats
                 WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq"
            }
        };
        let mut stmt = db.prepare_cached(sql)?;
        let before = i64::try_from(range.before).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![room, range.after as i64, before], chat_from_row)?;
        let (mut chats, mut bytes, mut more) = (Vec::new(), 0usize, false);
        for chat in visible(rows, viewer) {
            let chat = chat?;
            if chats.len() == limit || (!chats.is_empty() && bytes + chat.text.len() > PAGE_BYTES) {
                more = true;
                break;
            }
            bytes += chat.text.len() + chat.username.len();
            chats.push(chat);
        }
        if end == End::Newest {
            chats.reverse();
        }
        Ok(Page { chats, more })
    }

    /// The identity behind a session token, without a cursor (a save still queued
    /// included); `None` for a token never issued, unused for [`SESSION_TTL`], or of a
    /// revoked identity.
    pub fn load_session(&self, token: &str) -> Result<Option<User>, StoreError> {
        let cutoff = cutoff(now_ms(), SESSION_TTL);
        let queued = self.writer.as_ref().and_then(|w| {
            let pending = w.shared.pending();
            pending.session(&token_key(token)).map(|(user, saved)| (user.clone(), saved))
        });
        if let Some((user, saved)) = queued {
            let fresh = saved as i64 >= cutoff && !self.is_revoked(user.id)?;
            return Ok(fresh.then_some(User { cursor: None, ..user }));
        }
        let row = self
            .db()
            .query_row(
                "SELECT id, username, color, state FROM sessions WHERE token_sha256 = ?1 AND touched >= ?2",
                params![token_key(token), cutoff],
                |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                },
            )
            .optional()?;
        let user = row.and_then(|(id, username, color, state)| {
            Some(User {
                id: Uuid::parse_str(&id).ok()?,
                username,
                color,
                cursor: None,
                state: serde_json::from_str::<UserState>(&state).unwrap_or_default(),
            })
        });
        match user {
            Some(user) if self.is_revoked(user.id)? => Ok(None),
            user => Ok(user),
        }
    }
}

impl Drop for Store {
    /// Lets the writer commit what is queued and stop, so the file is closed (and the
    /// directory free for the next server) when the store is gone. When the last handle
    /// goes on the writer thread itself (a callback held it), the thread ends on its own.
    fn drop(&mut self) {
        self.writer = None;
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Locks the data directory for this process, or says who holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::File::create(&path).map_err(|source| StoreError::Dir { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_owned())),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Dir { path, source }),
    }
}

/// The schema this code writes, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Brings a store written by older code up to [`SCHEMA_VERSION`]. Before version 1,
/// sessions were keyed by the token in clear: they are dropped (those users get a new
/// identity once) rather than carried over.
fn migrate(db: &Connection) -> Result<(), StoreError> {
    let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        db.execute_batch("DROP TABLE IF EXISTS sessions")?;
    }
    db.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Sessions are looked up by the token's SHA-256, so the file alone does not hand out
/// tokens that would let someone resume as another user.
pub fn token_key(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The unix-ms time before which something `ttl` old has expired, as SQLite compares it.
fn cutoff(now_ms: u64, ttl: Duration) -> i64 {
    now_ms.saturating_sub(ttl.as_millis().min(u64::MAX as u128) as u64) as i64
}

/// The rows `viewer` may see (errors pass through, so the caller still reports them).
fn visible(
    rows: impl Iterator<Item = rusqlite::Result<ChatMessage>>,
    viewer: Option<Uuid>,
) -> impl Iterator<Item = rusqlite::Result<ChatMessage>> {
    rows.filter(move |row| row.as_ref().map_or(true, |chat| viewer.is_none_or(|viewer| chat.visible_to(viewer))))
}

fn chat_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let from: String = row.get(1)?;
    let target: String = row.get(4)?;
    let bad = |i: usize, text: &str| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, format!("bad id {text:?}").into())
    };
    let to = target.parse::<ChatTarget>().map_err(|_| bad(4, &target))?;
    let from = Uuid::parse_str(&from).map_err(|_| bad(1, &from))?;
    Ok(ChatMessage {
        seq: row.get::<_, i64>(0)? as u64,
        from,
        username: row.get(2)?,
        text: row.get(3)?,
        to,
        ts: row.get::<_, i64>(5)? as u64,
        // Only the app's backend sends as the nil UUID.
        server: from.is_nil(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30 * 24 * 3600);

    fn chat(seq: u64, from: Uuid, to: ChatTarget) -> ChatMessage {
        ChatMessage { seq, from, username: "a".into(), text: format!("m{seq}"), to, ts: now_ms() + seq, server: false }
    }

    #[test]
    fn chats_survive_reopening_and_keep_only_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        {
            let store = Store::open(dir.path(), 3, TTL).unwrap();
            store.append("r", &chat(1, a, ChatTarget::Room), Some("x")).unwrap();
            store.append("r", &chat(2, a, ChatTarget::User(b)), None).unwrap();
            store.append("r", &chat(3, b, ChatTarget::Others), None).unwrap();
        }
        let store = Store::open(dir.path(), 3, TTL).unwrap();
        assert_eq!(store.latest_seq("r").unwrap(), 3);
        assert_eq!(store.latest_seq("other").unwrap(), 0);
        assert_eq!(store.seq_of_ref("r", a, "x").unwrap(), Some(1));
        assert_eq!(store.seq_of_ref("other", a, "x").unwrap(), None, "a ref belongs to its room");
        let seqs = |p: Page| (p.chats.iter().map(|m| m.seq).collect::<Vec<_>>(), p.more);
        let after = |after| SeqRange { after, before: u64::MAX };
        assert_eq!(seqs(store.page("r", c, after(0), 10, End::Oldest).unwrap()), (vec![1, 3], false), "no DM for c");
        assert_eq!(seqs(store.page("r", b, after(1), 10, End::Oldest).unwrap()), (vec![2, 3], false));
        assert_eq!(seqs(store.page("r", a, SeqRange::ALL, 2, End::Newest).unwrap()), (vec![2, 3], true));
        assert_eq!(seqs(store.page("r", a, SeqRange::ALL, 2, End::Oldest).unwrap()), (vec![1, 2], true));
        let before_3 = SeqRange { after: 0, before: 3 };
        assert_eq!(seqs(store.page("r", c, before_3, 5, End::Newest).unwrap()), (vec![1], false));
        for seq in 4..=PRUNE_EVERY {
            store.append("r", &chat(seq, a, ChatTarget::Room), None).unwrap();
        }
        assert_eq!(store.oldest_seq("r").unwrap(), Some(PRUNE_EVERY - 2), "only the newest 3 are kept");
    }

    /// Queues `msg` as numbered in `generation` and waits for what became of it.
    fn submit_and_wait(store: &Store, msg: &ChatMessage, generation: u64) -> Result<(), StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let write = Write::Chat { room: "r".into(), msg: msg.clone(), reference: None, generation: Some(generation) };
        store.submit(write, Some(Box::new(move |result| drop(tx.send(result)))))?;
        rx.recv().unwrap()
    }

    #[test]
    fn a_failed_commit_starts_a_generation_and_chats_numbered_before_it_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100, TTL).unwrap();
        let a = Uuid::new_v4();
        store
            .db()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON chats WHEN NEW.seq = 2
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        assert_eq!(store.generation(), 0);
        submit_and_wait(&store, &chat(1, a, ChatTarget::Room), 0).unwrap();
        assert!(submit_and_wait(&store, &chat(2, a, ChatTarget::Room), 0).is_err(), "the trigger refuses seq 2");
        assert_eq!(store.generation(), 1, "the failure started a new generation");
        assert_eq!(store.latest_seq("r").unwrap(), 1, "nothing of the failed batch is counted");
        // Numbered before the room saw the failure: seq 3 would leave 2 as a gap.
        assert!(matches!(submit_and_wait(&store, &chat(3, a, ChatTarget::Room), 0), Err(StoreError::Batch(_))));
        store.db().execute_batch("DROP TRIGGER refuse;").unwrap();
        submit_and_wait(&store, &chat(2, a, ChatTarget::Room), 1).unwrap();
        assert_eq!(store.latest_seq("r").unwrap(), 2);
    }

    #[test]
    fn a_session_token_brings_back_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10, TTL).unwrap();
        let mut state = UserState::new();
        state.insert("mood".into(), "ok".into());
        let user = User { id: Uuid::new_v4(), username: "Al".into(), color: "#000".into(), cursor: None, state };
        store.save_session("t", &user, now_ms());
        store.save_session("old", &user, 1);
        store.flush().unwrap();
        assert_eq!(store.load_session("t").unwrap(), Some(user));
        assert_eq!(store.load_session("nope").unwrap(), None);
        let stored_in_clear: i64 = store
            .db()
            .query_row("SELECT COUNT(*) FROM sessions WHERE token_sha256 IN ('t', 'old')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored_in_clear, 0, "only hashes of tokens are stored");
        drop(store);
        let store = Store::open(dir.path(), 10, TTL).unwrap();
        assert!(store.load_session("t").unwrap().is_some());
        assert_eq!(store.load_session("old").unwrap(), None, "unused for longer than the TTL");
    }

    #[test]
    fn a_revoked_identity_loads_from_no_token_and_others_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 10, TTL).unwrap();
        let user = |n: u128| User {
            id: Uuid::from_u128(n),
            username: "Al".into(),
            color: "#000".into(),
            cursor: None,
            state: UserState::new(),
        };
        store.save_session("phone", &user(1), now_ms());
        store.save_session("laptop", &user(1), now_ms());
        store.save_session("other", &user(2), now_ms());
        store.revoke(Uuid::from_u128(1), now_ms()).unwrap();
        assert!(store.is_revoked(Uuid::from_u128(1)).unwrap(), "at once, while still queued");
        assert_eq!(store.load_session("phone").unwrap(), None);
        store.flush().unwrap();
        assert_eq!(store.load_session("laptop").unwrap(), None);
        assert_eq!(store.load_session("other").unwrap(), Some(user(2)));
        // A save after the revocation (a closing connection's) does not bring it back.
        store.save_session("phone", &user(1), now_ms());
        store.flush().unwrap();
        assert_eq!(store.load_session("phone").unwrap(), None);
        drop(store);
        let store = Store::open(dir.path(), 10, TTL).unwrap();
        assert!(store.is_revoked(Uuid::from_u128(1)).unwrap(), "kept across a restart");
    }

    #[test]
    fn expired_chats_go_from_quiet_rooms_too_and_stale_sessions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1000, Duration::from_secs(3600)).unwrap();
        let a = Uuid::new_v4();
        let old = ChatMessage { ts: now_ms() - 7_200_000, ..chat(1, a, ChatTarget::Room) };
        store.append("quiet", &old, None).unwrap();
        store.append("busy", &chat(1, a, ChatTarget::Room), None).unwrap();
        let user = User { id: a, username: "Al".into(), color: "#000".into(), cursor: None, state: UserState::new() };
        store.save_session("stale", &user, now_ms() - SESSION_TTL.as_millis() as u64 - 1);
        store.flush().unwrap();
        assert_eq!(store.load_session("stale").unwrap(), None, "refused before any purge");
        assert_eq!(store.expire(now_ms()).unwrap(), (1, 1));
        assert_eq!(store.latest_seq("quiet").unwrap(), 0);
        assert_eq!(store.latest_seq("busy").unwrap(), 1);
    }
}
