//! Keeps a node in the cluster: connects to Redis (and reconnects with backoff after an
//! outage), resynchronises on every connect, applies the other nodes' events in the order
//! Redis delivers them, and runs the heartbeat that tells live nodes from dead ones.
//!
//! Liveness: every node refreshes `flock:node:<id>` every `ttl / 5` (its own task, so a
//! slow catch-up cannot starve it), with an expiry of two such beats. A node whose key
//! has been missing for two beats is dead: its users are announced `left` here and dropped
//! from Redis. In the worst case that is `ttl` after it stopped. After an outage every
//! known node gets two beats of grace again, so a node that lost Redis too (or a Redis
//! that restarted empty) is not mistaken for a dead one. Each beat every node also sends
//! each room's roster of its users, which heals any `joined` or `left` that got lost.

use super::event::{BusEvent, Envelope, PresenceEntry};
use super::heart::{heartbeat_cmd, AbortOnDrop, Heart};
use super::link::{forget_cmd, publish, scan, timed, webhook_args, BusError, Forget, Link, Want, REDIS_TIMEOUT};
use super::scripts::{CLAIM_SCRIPT, FLOOR_SCRIPT};
use super::{keys, Outgoing};
use crate::protocol::User;
use crate::server::hub::Hub;
use crate::server::metrics::{BUS_EVENTS_IN, BUS_FAILURES};
use crate::server::store::Store;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`] or one beat,
/// whichever is shorter: a node that lost Redis must be back well inside the two beats of
/// grace the others give it, or they would count it dead.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Beats without a node's roster of a room after which its members there are dropped.
const ROSTER_BEATS: u32 = 3;
/// Every this many beats the whole cluster's presence is looked over for the entries of
/// dead nodes in rooms no live node follows (the sweep only sees followed rooms).
const GHOST_BEATS: u32 = 5;
/// Presence hashes read per round trip when the whole cluster's presence is read.
const SNAPSHOT_ROOMS: usize = 256;

/// Starts the publisher and the supervisor of `link`'s node.
pub fn spawn(link: Arc<Link>, queue: mpsc::Receiver<Outgoing>, hub: Arc<Hub>, store: Arc<Store>, ttl: Duration) {
    tokio::spawn(publish(link.clone(), queue));
    let wants = link.take_wants();
    let node = Node {
        link,
        hub,
        store,
        beat: ttl / 5,
        seen: HashMap::new(),
        followed: HashMap::new(),
        missing: HashSet::new(),
        beats: 0,
    };
    tokio::spawn(supervise(node, wants));
}

/// What the supervisor works with.
struct Node {
    link: Arc<Link>,
    hub: Arc<Hub>,
    store: Arc<Store>,
    /// The heartbeat period.
    beat: Duration,
    /// When each other node was last seen alive.
    seen: HashMap<Uuid, Instant>,
    /// The rooms whose channel this node is subscribed to, with when each was last
    /// wanted: every room it holds someone in, and rooms someone is about to join.
    followed: HashMap<String, Instant>,
    /// The nodes with presence entries but no heartbeat at the last ghost sweep.
    missing: HashSet<Uuid>,
    /// Beats on the current connection.
    beats: u32,
}

async fn supervise(mut node: Node, wants: Option<mpsc::Receiver<Want>>) {
    let Some(mut wants) = wants else {
        tracing::error!("the bus supervisor was started twice");
        return;
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        if let Err(err) = node.connected(&mut backoff, &mut wants).await {
            metrics::counter!(BUS_FAILURES).increment(1);
            tracing::warn!("cluster bus down: {err}; reconnecting in {backoff:?}");
        }
        node.link.set_connection(None);
        // Joins meanwhile do not wait: the next connection follows every room held here.
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                want = wants.recv() => drop(want),
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF).min(node.beat);
    }
}

impl Node {
    /// One connection's life: subscribe, resynchronise, then apply events and beat until
    /// Redis fails.
    async fn connected(&mut self, backoff: &mut Duration, wants: &mut mpsc::Receiver<Want>) -> Result<(), BusError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let mut conn = self.link.client.get_multiplexed_async_connection_with_config(&config).await?;
        let pubsub = timed(self.link.client.get_async_pubsub()).await?;
        let (mut sink, mut messages) = pubsub.split();
        // Subscribed before the snapshot, so nothing falls between the two: what arrives
        // meanwhile waits in the stream and is applied after (events are idempotent).
        let now = Instant::now();
        self.followed = self.hub.local_rooms().into_iter().map(|room| (room, now)).collect();
        let mut channels: Vec<String> = self.followed.keys().map(|room| keys::room_channel(room)).collect();
        channels.push(keys::node_channel(self.link.node));
        timed(sink.subscribe(channels)).await?;
        // Beating from the start: a long catch-up must not let the key expire.
        let expired = Arc::new(Notify::new());
        let heart = Heart { conn: conn.clone(), node: self.link.node, beat: self.beat, expired: expired.clone() };
        let mut heart = AbortOnDrop(tokio::spawn(heart.run()));
        self.resync(&mut conn).await?;
        // After an outage every node gets its grace again, from here.
        self.missing.clear();
        self.link.set_connection(Some(conn.clone()));
        *backoff = MIN_BACKOFF;
        tracing::info!(node = %self.link.node, "cluster bus up");
        let mut beat = tokio::time::interval(self.beat);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = messages.next() => {
                    let msg = msg.ok_or(BusError::Down)?;
                    metrics::counter!(BUS_EVENTS_IN).increment(1);
                    self.on_message(&mut conn, msg.get_channel_name(), msg.get_payload_bytes()).await?;
                }
                want = wants.recv() => {
                    if let Some(want) = want {
                        self.follow(&mut sink, &mut conn, want).await?;
                    }
                }
                _ = beat.tick() => {
                    self.beats = self.beats.wrapping_add(1);
                    if self.beats.is_multiple_of(GHOST_BEATS) {
                        self.sweep_ghosts(&mut conn).await?;
                    }
                    self.sweep(&mut conn).await?;
                    self.reconcile(&mut sink, &mut conn).await?;
                    self.hub.publish_rosters();
                    self.hub.drop_unvouched(self.beat * ROSTER_BEATS);
                }
                () = expired.notified() => {
                    tracing::warn!("this node's heartbeat had expired: announcing its users again");
                    self.resync(&mut conn).await?;
                }
                () = &mut heart => return Err(BusError::Down),
            }
        }
    }

    /// Applies one pub/sub message: a room's event, or one on this node's own channel
    /// (see [`super::forward`]). A chat past a gap (one this node missed) first gets
    /// the chats before it from the room's stream, so members see every seq in order; if
    /// the stream cannot be read, the connection is dropped and the resync catches up.
    async fn on_message(
        &self,
        conn: &mut MultiplexedConnection,
        channel: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let Some(room) = channel.strip_prefix(keys::ROOM_CHANNEL_PREFIX) else {
            if channel == keys::node_channel(self.link.node) {
                self.link.forwarding.on_message(payload);
            }
            return Ok(());
        };
        if !self.followed.contains_key(room) {
            // Sent before this node unsubscribed: the room is no longer kept here.
            return Ok(());
        }
        let envelope = match Envelope::decode(payload) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(channel, "unreadable bus message: {err}");
                return Ok(());
            }
        };
        if let BusEvent::Chat { seq, .. } = &envelope.event {
            let latest = self.hub.latest_seq(room);
            if *seq > latest + 1 {
                self.catch_up(conn, room, latest + 1, seq - 1).await?;
            }
        }
        self.hub.apply_remote(room, envelope);
        Ok(())
    }

    /// Delivers the chats `from..=to` of `room` that its stream still holds.
    async fn catch_up(&self, conn: &mut MultiplexedConnection, room: &str, from: u64, to: u64) -> Result<(), BusError> {
        let chats = Link::range(conn, room, from, to).await?;
        if chats.first().is_some_and(|(c, _)| c.seq > from) || (chats.is_empty() && to != u64::MAX) {
            // Only after more than --history-keep chats while this node was cut off.
            tracing::warn!(room, "chats from {from} on are no longer in the stream: this node's history has a hole");
        }
        for (chat, reference) in chats {
            self.hub.deliver_chat(room, chat, reference.as_deref());
        }
        Ok(())
    }

    /// After (re)connecting: announce this node and its users in one transaction (a node's
    /// entries never exist without its live key; the other nodes upsert them, which brings
    /// them what changed here while the bus was down), make sure no room's seq counter is
    /// behind this node's store, catch up on chats missed, and merge the other nodes'
    /// presence, forgetting entries of this node for users it no longer holds.
    async fn resync(&mut self, conn: &mut MultiplexedConnection) -> Result<(), BusError> {
        let me = self.link.node;
        let local = self.hub.local_presence();
        let mut pipe = redis::pipe();
        pipe.atomic().add_command(heartbeat_cmd(me, self.beat)).ignore();
        for (room, user, taken_at, shared) in &local {
            let (taken_at, shared) = (*taken_at, *shared);
            let entry = PresenceEntry { node: me, taken_at, user: User { cursor: None, ..user.clone() } };
            let joined = Envelope { node: me, event: BusEvent::Joined { user: entry.user.clone(), taken_at, shared } };
            pipe.cmd("EVAL")
                .arg(CLAIM_SCRIPT)
                .arg(2)
                .arg(keys::presence(room))
                .arg(keys::WEBHOOKS)
                .arg(user.id.to_string())
                .arg(serde_json::to_string(&entry)?)
                .arg(PresenceEntry::prefix(me))
                .arg(keys::room_channel(room))
                .arg(serde_json::to_string(&joined)?)
                .arg(taken_at)
                .arg(webhook_args(room, self.link.webhook_letters()))
                .ignore();
        }
        timed(pipe.query_async::<()>(conn)).await?;

        let heads = self.store.room_heads().unwrap_or_else(|err| {
            tracing::error!("cannot read the rooms' latest seqs: {err}");
            Vec::new()
        });
        if !heads.is_empty() {
            let mut pipe = redis::pipe();
            for (room, seq) in &heads {
                // EVAL, not EVALSHA: a Redis that just restarted has no scripts loaded.
                pipe.cmd("EVAL").arg(FLOOR_SCRIPT).arg(1).arg(keys::seq(room)).arg(*seq).arg(self.link.ttl_ms).ignore();
            }
            timed(pipe.query_async::<()>(conn)).await?;
        }
        let followed: Vec<String> = self.followed.keys().cloned().collect();
        for room in &followed {
            self.catch_up(conn, room, self.hub.latest_seq(room) + 1, u64::MAX).await?;
        }

        let snapshot = self.snapshot(conn).await?;
        let nodes: HashSet<Uuid> = snapshot.iter().map(|(_, e)| e.node).filter(|n| *n != me).collect();
        let alive = self.alive(conn, &nodes).await?;
        // Read again now: someone may have joined while the catch-up ran.
        let local = self.hub.local_presence();
        let held: HashSet<(&str, Uuid)> = local.iter().map(|(room, u, ..)| (room.as_str(), u.id)).collect();
        let letters = self.link.webhook_letters();
        let mut forget = redis::pipe();
        let mut live = Vec::new();
        for (room, entry) in snapshot {
            if entry.node == me && !held.contains(&(room.as_str(), entry.user.id)) {
                // Left while the bus was down: the `left` never went out.
                let left = Envelope { node: me, event: BusEvent::Left { id: entry.user.id } };
                forget.add_command(forget_cmd(&room, entry.user.id, me, Forget::Mine, letters)).ignore();
                forget.cmd("PUBLISH").arg(keys::room_channel(&room)).arg(serde_json::to_string(&left)?).ignore();
            } else if entry.node != me && !alive.contains(&entry.node) {
                // A ghost of a node that is gone (a restarted node has a new id).
                forget.add_command(forget_cmd(&room, entry.user.id, entry.node, Forget::OfDeadNode, letters)).ignore();
            } else if entry.node != me && self.followed.contains_key(&room) {
                live.push((room, entry));
            }
        }
        if !forget.is_empty() {
            timed(forget.query_async::<()>(conn)).await?;
        }
        let scope: HashSet<String> = self.followed.keys().cloned().collect();
        self.hub.merge_presence(live, &alive, &scope);
        self.hub.vouch_all_now();
        let now = Instant::now();
        self.seen = self.hub.remote_nodes().into_iter().map(|n| (n, now)).collect();
        Ok(())
    }

    /// Starts following a room someone is about to join here (subscribe, take in its
    /// presence, deliver the chats the store lacks, and wait for the store to have them),
    /// then lets the join go on.
    async fn follow(
        &mut self,
        sink: &mut redis::aio::PubSubSink,
        conn: &mut MultiplexedConnection,
        want: Want,
    ) -> Result<(), BusError> {
        let Want { room, ready } = want;
        if self.followed.insert(room.clone(), Instant::now()).is_none() {
            timed(sink.subscribe(keys::room_channel(&room))).await?;
            let entries: HashMap<String, String> =
                timed(redis::cmd("HGETALL").arg(keys::presence(&room)).query_async(conn)).await?;
            let me = self.link.node;
            let snapshot: Vec<(String, PresenceEntry)> = entries
                .values()
                .filter_map(|json| serde_json::from_str::<PresenceEntry>(json).ok())
                .filter(|entry| entry.node != me)
                .map(|entry| (room.clone(), entry))
                .collect();
            let nodes: HashSet<Uuid> = snapshot.iter().map(|(_, e)| e.node).collect();
            let alive = self.alive(conn, &nodes).await?;
            let now = Instant::now();
            for node in &alive {
                self.seen.entry(*node).or_insert(now);
            }
            self.hub.merge_presence(snapshot, &alive, &HashSet::from([room.clone()]));
            self.catch_up(conn, &room, self.hub.latest_seq(&room) + 1, u64::MAX).await?;
            if let Err(err) = self.store.flushed().await {
                tracing::warn!(room, "cannot store the chats caught up from the stream: {err}");
            }
        }
        let _ = ready.send(());
        Ok(())
    }

    /// Follows the rooms this node holds someone in but does not follow yet (a join while
    /// the bus was coming up, or whose want found the queue full), and stops following the
    /// rooms it no longer holds anyone in (and that no one has been about to join for a
    /// beat), forgetting them.
    async fn reconcile(
        &mut self,
        sink: &mut redis::aio::PubSubSink,
        conn: &mut MultiplexedConnection,
    ) -> Result<(), BusError> {
        let held = self.hub.local_rooms();
        let missing: Vec<String> = held.iter().filter(|room| !self.followed.contains_key(*room)).cloned().collect();
        for room in missing {
            // No one waits for it: the join has happened, the chats and presence come now.
            let (ready, _) = tokio::sync::oneshot::channel();
            self.follow(sink, conn, Want { room, ready }).await?;
        }
        let beat = self.beat;
        let idle: Vec<String> = self
            .followed
            .iter()
            .filter(|(room, wanted)| !held.contains(*room) && wanted.elapsed() > beat)
            .map(|(room, _)| room.clone())
            .collect();
        if idle.is_empty() {
            return Ok(());
        }
        timed(sink.unsubscribe(idle.iter().map(|room| keys::room_channel(room)).collect::<Vec<_>>())).await?;
        for room in &idle {
            self.followed.remove(room);
            self.hub.forget_room(room);
        }
        Ok(())
    }

    /// Every presence entry in Redis, by room.
    async fn snapshot(&self, conn: &mut MultiplexedConnection) -> Result<Vec<(String, PresenceEntry)>, BusError> {
        let mut snapshot = Vec::new();
        let hashes = scan(conn, &format!("{}*", keys::PRESENCE_PREFIX)).await?;
        // In pipelines: one round trip per many rooms, not one per room.
        let mut rooms = Vec::with_capacity(hashes.len());
        for chunk in hashes.chunks(SNAPSHOT_ROOMS) {
            let mut pipe = redis::pipe();
            for hash in chunk {
                pipe.cmd("HGETALL").arg(hash);
            }
            let entries: Vec<HashMap<String, String>> = timed(pipe.query_async(conn)).await?;
            rooms.extend(chunk.iter().zip(entries));
        }
        for (hash, entries) in rooms {
            let room = hash[keys::PRESENCE_PREFIX.len()..].to_owned();
            for json in entries.values() {
                match serde_json::from_str::<PresenceEntry>(json) {
                    Ok(entry) => snapshot.push((room.clone(), entry)),
                    Err(err) => tracing::warn!(room, "unreadable presence entry: {err}"),
                }
            }
        }
        Ok(snapshot)
    }

    /// Which of `nodes` have their heartbeat key now.
    async fn alive(&self, conn: &mut MultiplexedConnection, nodes: &HashSet<Uuid>) -> Result<HashSet<Uuid>, BusError> {
        let nodes: Vec<Uuid> = nodes.iter().copied().collect();
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("EXISTS").arg(keys::node(*node));
        }
        let exists: Vec<bool> = timed(pipe.query_async(conn)).await?;
        Ok(nodes.into_iter().zip(exists).filter(|(_, up)| *up).map(|(n, _)| n).collect())
    }

    /// Drops the presence entries of nodes that had no heartbeat at this ghost sweep and
    /// the one before (at least [`GHOST_BEATS`] beats, past the two of grace), wherever
    /// they are: a node that died alone in a room leaves no one else to sweep it, and its
    /// users must leave the lobby (and make their `user.left` and `room.vacated`). The
    /// script checks the heartbeat again, so a node that came back keeps its users; of
    /// several nodes doing this at once, one removes each entry. This node's own entries
    /// for users it no longer holds go too (their removal was dropped with a full queue).
    async fn sweep_ghosts(&mut self, conn: &mut MultiplexedConnection) -> Result<(), BusError> {
        let me = self.link.node;
        let snapshot = self.snapshot(conn).await?;
        let nodes: HashSet<Uuid> = snapshot.iter().map(|(_, e)| e.node).filter(|n| *n != me).collect();
        let alive = self.alive(conn, &nodes).await?;
        let missing: HashSet<Uuid> = nodes.difference(&alive).copied().collect();
        let dead: HashSet<Uuid> = missing.intersection(&self.missing).copied().collect();
        self.missing = missing;
        // Read after the snapshot: a user who joined meanwhile is known, and an entry of
        // this node for a user no longer in the room lost its removal to a full queue.
        let known = self.hub.members_known();
        let letters = self.link.webhook_letters();
        let mut pipe = redis::pipe();
        for (room, entry) in &snapshot {
            if dead.contains(&entry.node) {
                pipe.add_command(forget_cmd(room, entry.user.id, entry.node, Forget::OfDeadNode, letters)).ignore();
            } else if entry.node == me && !known.contains(&(room.clone(), entry.user.id)) {
                pipe.add_command(forget_cmd(room, entry.user.id, me, Forget::Mine, letters)).ignore();
            }
        }
        if !pipe.is_empty() {
            tracing::info!(nodes = dead.len(), "dropping the stale entries of the cluster's presence");
            timed(pipe.query_async::<()>(conn)).await?;
        }
        Ok(())
    }

    /// Announces the users of nodes that stopped beating as `left`.
    async fn sweep(&mut self, conn: &mut MultiplexedConnection) -> Result<(), BusError> {
        let nodes = self.hub.remote_nodes();
        let alive = self.alive(conn, &nodes).await?;
        let now = Instant::now();
        let grace = self.beat * 2;
        let mut dead = Vec::new();
        for node in nodes {
            let seen = self.seen.entry(node).or_insert(now);
            if alive.contains(&node) {
                *seen = now;
            } else if now.duration_since(*seen) >= grace {
                dead.push(node);
            }
        }
        self.seen.retain(|n, _| !dead.contains(n));
        for node in dead {
            let gone = self.hub.drop_node(node);
            tracing::info!(%node, users = gone.len(), "node stopped beating: its users left");
            let mut pipe = redis::pipe();
            for (room, id) in &gone {
                pipe.add_command(forget_cmd(room, *id, node, Forget::OfDeadNode, self.link.webhook_letters())).ignore();
            }
            if !pipe.is_empty() {
                timed(pipe.query_async::<()>(conn)).await?;
            }
        }
        Ok(())
    }
}
