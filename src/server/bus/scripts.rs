//! The Lua scripts Flock runs in Redis: each is one atomic step that must not interleave
//! with another node's (numbering a chat, claiming a user, raising a counter).
//!
//! With webhooks on, the steps that change what the cluster has (a chat numbered, a user
//! in or out of a room's presence) also append the webhook events they make to the
//! cluster's outbox stream, in the same step: an event exists exactly when its change
//! does, once for the whole cluster, in the order Redis ran the changes. The webhook
//! arguments come last: the kinds taken as letters ([`crate::server::webhooks::Kinds::letters`];
//! empty without webhooks, and then nothing is appended), fresh event ids and the time.

/// The helper each webhook-making script starts with: appends one event to the outbox
/// stream if its kind's letter is among those taken. Its payload is one field: `data` (the
/// JSON as sent), `entry` (a presence entry, whose user is the data) or `chat` (the chat,
/// numbered by the `seq` field).
macro_rules! hook_lua {
    () => {
        r#"
local function hook(stream, taken, letter, id, kind, room, ts, field, value, seq)
  if not string.find(taken, letter, 1, true) then return end
  if seq then
    redis.call('XADD', stream, '*', 'id', id, 'type', kind, 'room', room, 'ts', ts, field, value, 'seq', seq)
  else
    redis.call('XADD', stream, '*', 'id', id, 'type', kind, 'room', room, 'ts', ts, field, value)
  end
end
"#
    };
}

/// Numbers, stores and publishes one chat atomically, so every node receives a room's
/// chats in seq order. The next seq is past the counter, the caller's floor and the
/// stream's newest entry, so neither a lost counter nor a stale floor hands a seq out
/// twice, and XADD cannot fail after the counter moved. Seqs are formatted with %d (Lua's
/// default turns 1e14 into "1e+14"). KEYS: seq counter, stream, ref key. ARGV: floor (the
/// caller's latest seq, in case Redis lost its counter), the chat as JSON with seq 0, node id,
/// stream length, whether there is a ref, ref TTL, channel, the ref as JSON, the room's TTL
/// in ms (each chat refreshes it on the counter and the stream); then the webhook kinds,
/// the event id, the room and the chat's time, with the outbox as KEYS[4]. Returns {seq, duplicate}.
pub const CHAT_SCRIPT: &str = concat!(
    hook_lua!(),
    r#"
if ARGV[5] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {tonumber(prev), 1} end
end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if seq < floor then seq = floor end
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if top then
  local newest = tonumber(string.match(top[1], '%-(%d+)$'))
  if newest and seq < newest then seq = newest end
end
seq = string.format('%d', seq + 1)
redis.call('SET', KEYS[1], seq, 'PX', ARGV[9])
local payload = '{"node":"' .. ARGV[3] .. '","kind":"chat","seq":' .. seq .. ',"chat":' .. ARGV[2] .. ',"ref":' .. ARGV[8] .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '0-' .. seq, 'm', payload)
redis.call('PEXPIRE', KEYS[2], ARGV[9])
if ARGV[5] == '1' then redis.call('SET', KEYS[3], seq, 'EX', ARGV[6]) end
hook(KEYS[4], ARGV[10], 'C', ARGV[11], 'chat.created', ARGV[12], ARGV[13], 'chat', ARGV[2], seq)
redis.call('PUBLISH', ARGV[7], payload)
return {tonumber(seq), 0}
"#
);

/// Raises a room's seq counter to at least ARGV[1]: after Redis lost its data, the nodes'
/// stores still know how far each room got, and seqs must never be handed out twice.
/// ARGV[2]: the room's TTL in ms, as the chat script sets it.
pub const FLOOR_SCRIPT: &str = r#"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 0
"#;

/// Removes a user's presence entry only if it names the given node: a user who has since
/// moved to another node keeps the entry that node wrote. For a node counted dead, only if
/// its heartbeat key is still missing (it may have come back and claimed its users again).
/// Removing the entry is the user leaving the cluster's room: `user.left`, and
/// `room.vacated` when no one is left. KEYS: presence hash, the node's heartbeat key, the
/// outbox. ARGV: user id, the entry prefix naming the node, '1' if the node must be dead,
/// the room, the webhook kinds, the `user.left` and `room.vacated` ids, the time.
pub const FORGET_SCRIPT: &str = concat!(
    hook_lua!(),
    r#"
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[2])) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  hook(KEYS[3], ARGV[5], 'L', ARGV[6], 'user.left', ARGV[4], ARGV[8], 'entry', v)
  if redis.call('HLEN', KEYS[1]) == 0 then
    hook(KEYS[3], ARGV[5], 'V', ARGV[7], 'room.vacated', ARGV[4], ARGV[8], 'data', '{}')
  end
end
return 0
"#
);

/// Puts a user's presence entry in place (a join, or a change of name or state). An
/// entry new to the hash is the user entering the cluster's room: `user.joined`, after
/// `room.occupied` when it is the first. KEYS: presence hash, the outbox. ARGV: user id,
/// entry, the room, the webhook kinds, the `room.occupied` and `user.joined` ids, the time.
pub const PUT_SCRIPT: &str = concat!(
    hook_lua!(),
    r#"
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if new == 1 then
  if redis.call('HLEN', KEYS[1]) == 1 then
    hook(KEYS[2], ARGV[4], 'O', ARGV[5], 'room.occupied', ARGV[3], ARGV[7], 'data', '{}')
  end
  hook(KEYS[2], ARGV[4], 'J', ARGV[6], 'user.joined', ARGV[3], ARGV[7], 'entry', ARGV[2])
end
return new
"#
);

/// Puts a user's presence entry in place and announces them, unless the entry names
/// another node that took the user later (it resumed there while this node was cut off:
/// that node keeps them, and the snapshot merge lets go here). An earlier take elsewhere
/// loses: both nodes took the user during a partition, and the later one is the user's
/// real connection. An entry new to the hash makes the webhooks [`PUT_SCRIPT`] makes.
/// KEYS: presence hash, the outbox. ARGV: user id, entry, this node's entry prefix,
/// channel, `joined` envelope, when this node took the user (unix ms), then as
/// [`PUT_SCRIPT`]'s from its third: the room, the webhook kinds, the two ids, the time.
pub const CLAIM_SCRIPT: &str = concat!(
    hook_lua!(),
    r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[3])) ~= ARGV[3] then
  local ok, other = pcall(cjson.decode, v)
  if not ok or (tonumber(other.taken_at) or 0) >= tonumber(ARGV[6]) then return 0 end
end
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  if redis.call('HLEN', KEYS[1]) == 1 then
    hook(KEYS[2], ARGV[8], 'O', ARGV[9], 'room.occupied', ARGV[7], ARGV[11], 'data', '{}')
  end
  hook(KEYS[2], ARGV[8], 'J', ARGV[10], 'user.joined', ARGV[7], ARGV[11], 'entry', ARGV[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"#
);

/// Takes or keeps the webhook lease: the node named in KEYS[1] is the one that sends the
/// cluster's webhooks. ARGV: this node's id, the lease in ms. Returns 1 while it is this node's.
pub const LEASE_SCRIPT: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;
