//! The Lua scripts Flock runs in Redis: each is one atomic step that must not interleave
//! with another node's (numbering a chat, claiming a user, raising a counter).

/// Numbers, stores and publishes one chat atomically, so every node receives a room's
/// chats in seq order. The next seq is past the counter, the caller's floor and the
/// stream's newest entry, so neither a lost counter nor a stale floor hands a seq out
/// twice, and XADD cannot fail after the counter moved. Seqs are formatted with %d (Lua's
/// default turns 1e14 into "1e+14"). KEYS: seq counter, stream, ref key. ARGV: floor (the
/// caller's latest seq, in case Redis lost its counter), the chat as JSON with seq 0, node id,
/// stream length, whether there is a ref, ref TTL, channel, the ref as JSON, the room's TTL
/// in ms (each chat refreshes it on the counter and the stream). Returns {seq, duplicate}.
pub const CHAT_SCRIPT: &str = r#"
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
redis.call('PUBLISH', ARGV[7], payload)
return {tonumber(seq), 0}
"#;

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
/// KEYS: presence hash, the node's heartbeat key. ARGV: user id, the entry prefix naming
/// the node, '1' if the node must be dead.
pub const FORGET_SCRIPT: &str = r#"
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[2])) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"#;

/// Puts a user's presence entry in place and announces them, unless the entry names
/// another node that took the user later (it resumed there while this node was cut off:
/// that node keeps them, and the snapshot merge lets go here). An earlier take elsewhere
/// loses: both nodes took the user during a partition, and the later one is the user's
/// real connection. KEYS: presence hash. ARGV: user id, entry, this node's entry prefix,
/// channel, `joined` envelope, when this node took the user (unix ms).
pub const CLAIM_SCRIPT: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, string.len(ARGV[3])) ~= ARGV[3] then
  local ok, other = pcall(cjson.decode, v)
  if not ok or (tonumber(other.taken_at) or 0) >= tonumber(ARGV[6]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"#;
