"""The Lua scripts of `RedisEventStore`: each call is one round trip and runs atomically.

Keys of a stream ``S`` (prefix ``ainative:``): ``ainative:{S}:log``, a Redis Stream whose
entry ids are ``N-0`` for event ``N`` (fields ``t``: type, ``j``: wire JSON), and
``ainative:{S}:meta``, a hash: ``n`` last id, ``b`` encoded size (characters, as
`StoredEvent.size`), ``f`` finished (0/1), ``o`` the producing process, ``c`` cancel
requested, ``pc`` how many processes follow it, ``g`` idle generation, ``k`` the API key
digest that owns it (if any), ``p:<process>`` one field per following process.
``ainative:replica:<process>`` lives while that process heartbeats. Appends are published
on ``ainative:n:S`` as ``"<first id> <finished>\\n"`` followed by ``type\\njson`` lines, cancel
requests on ``ainative:ctl:<process>``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CANCEL", "CREATE", "FLUSH", "PRESENCE", "READ", "TICK"]

CREATE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'n', 0, 'b', 0, 'f', 0, 'o', ARGV[1], 'pc', 0, 'g', 0)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
"""KEYS: meta. ARGV: process, ttl ms, owner ('' for none). 1 if created, 0 if the stream
exists."""

FLUSH: Final = """
local max_events, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local channels, running_ttl = ARGV[3], ARGV[4]
local out = {}
local a = 5
for i = 1, #KEYS, 2 do
  local log, meta = KEYS[i], KEYS[i + 1]
  local sid, fin, ttl = ARGV[a], ARGV[a + 2], tonumber(ARGV[a + 3])
  local first, sizes, body = tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6]
  a = a + 7
  local state = redis.call('HMGET', meta, 'n', 'b', 'f')
  local status = 'ok'
  if not state[1] then
    status = 'gone'
  elseif state[3] == '1' then
    status = 'fenced'
  else
    local n, b = tonumber(state[1]), tonumber(state[2])
    local start = n
    local pos, from, to = 1, nil, 0
    local j = 0
    for size in string.gmatch(sizes, '%d+') do
      local id = first + j
      j = j + 1
      local cut = string.find(body, '\\n', pos, true)
      local stop = (string.find(body, '\\n', cut + 1, true) or (#body + 1)) - 1
      if id > n then
        if id ~= n + 1 then status = 'gap' break end
        local kind = string.sub(body, pos, cut - 1)
        if n > 0 and kind ~= 'done' and kind ~= 'error'
            and (n >= max_events - 2 or b >= max_bytes) then
          status = 'limit' break
        end
        redis.call('XADD', log, 'MAXLEN', max_events, id .. '-0', 't', kind,
          'j', string.sub(body, cut + 1, stop))
        n, b = id, b + tonumber(size)
        from = from or pos
        to = stop
      end
      pos = stop + 2
    end
    local finished = status == 'ok' and fin == '1'
    if n > start then redis.call('HSET', meta, 'n', n, 'b', b) end
    if finished then redis.call('HSET', meta, 'f', 1) end
    if start == 0 and n > 0 then redis.call('PEXPIRE', log, running_ttl) end
    if ttl >= 0 and status == 'ok' then
      redis.call('PEXPIRE', log, ttl)
      redis.call('PEXPIRE', meta, ttl)
    end
    if n > start or finished then
      local head = (start + 1) .. ' ' .. (finished and '1' or '0')
      if from then head = head .. '\\n' .. string.sub(body, from, to) end
      redis.call('PUBLISH', channels .. sid, head)
    end
  end
  out[#out + 1] = status
end
return out
"""
"""KEYS: (log, meta) per stream. ARGV: max events, max bytes, channel prefix, running ttl ms,
then per stream: id, count, finish (0/1), expire ms (-1: none), first id, the events' sizes
(comma-separated) and their ``type\\njson`` lines (the published form). One status per
stream: ok, gone (no such stream), fenced (already finished by another process), limit (over a
bound), gap (ids out of order). Ids already logged are skipped, so a flush that is retried
after a lost reply is harmless."""

READ: Final = """
local state = redis.call('HMGET', KEYS[2], 'n', 'f', 'b', 'o')
if not state[1] then return false end
local after, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local entries = {}
if count > 0 and tonumber(state[1]) > after then
  entries = redis.call('XRANGE', KEYS[1], (after + 1) .. '-0', '+', 'COUNT', count)
end
return {tonumber(state[1]), tonumber(state[2]), tonumber(state[3]), state[4], entries}
"""
"""KEYS: log, meta. ARGV: after, count (0: none). nil for an unknown stream, else
{last id, finished, bytes, process, entries after ``after``}: one consistent view."""

TICK: Final = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
local owned = tonumber(ARGV[3])
local replicas, retention, channels = ARGV[4], ARGV[5], ARGV[10]
local cancels = {}
for i = 0, owned - 1 do
  local log, meta = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  redis.call('PEXPIRE', log, ARGV[2])
  redis.call('PEXPIRE', meta, ARGV[2])
  if redis.call('HGET', meta, 'c') == '1' then cancels[#cancels + 1] = i end
end
local states = {}
local w = 10
for i = 2 + 2 * owned, #KEYS, 2 do
  local log, meta = KEYS[i], KEYS[i + 1]
  w = w + 1
  local s = redis.call('HMGET', meta, 'n', 'f', 'o', 'b')
  if not s[1] then
    states[#states + 1] = -1
  elseif s[2] == '1' then
    states[#states + 1] = tonumber(s[1]) * 2 + 1
  elseif s[3] and redis.call('EXISTS', replicas .. s[3]) == 0 then
    local n, b = tonumber(s[1]), tonumber(s[4])
    redis.call('XADD', log, (n + 1) .. '-0', 't', 'error', 'j', ARGV[6])
    redis.call('XADD', log, (n + 2) .. '-0', 't', 'done', 'j', ARGV[8])
    redis.call('HSET', meta, 'n', n + 2, 'b', b + tonumber(ARGV[7]) + tonumber(ARGV[9]), 'f', 1)
    redis.call('PEXPIRE', log, retention)
    redis.call('PEXPIRE', meta, retention)
    redis.call('PUBLISH', channels .. ARGV[w],
      (n + 1) .. ' 1\\nerror\\n' .. ARGV[6] .. '\\ndone\\n' .. ARGV[8])
    states[#states + 1] = (n + 2) * 2 + 1
  else
    states[#states + 1] = tonumber(s[1]) * 2
  end
end
return {cancels, states}
"""
"""KEYS: this process's replica key, (log, meta) of each stream it produces, then of each
stream it follows from elsewhere. ARGV: lease ms, running ttl ms, number produced, replica
key prefix, retention ms, error json, error size, done json, done size, channel prefix, ids
of the followed streams. Renews the lease and the produced streams' keys, and ends a followed
stream whose producer's lease is gone (``producer_lost``). Returns {indexes of produced
streams with a cancel request, per followed stream: -1 gone, else 2 x last id + finished}."""

PRESENCE: Final = """
local out = {}
for i = 1, #KEYS do
  local meta = KEYS[i]
  local r = -1
  if redis.call('EXISTS', meta) == 0 then
    r = -2
  elseif ARGV[i + 1] == '1' then
    if redis.call('HSETNX', meta, ARGV[1], 1) == 1 then redis.call('HINCRBY', meta, 'pc', 1) end
  elseif redis.call('HDEL', meta, ARGV[1]) == 1 then
    if redis.call('HINCRBY', meta, 'pc', -1) <= 0 then
      redis.call('HSET', meta, 'pc', 0)
      r = redis.call('HINCRBY', meta, 'g', 1)
    end
  elseif tonumber(redis.call('HGET', meta, 'pc')) == 0 then
    r = tonumber(redis.call('HGET', meta, 'g'))
  end
  out[i] = r
end
return out
"""
"""KEYS: meta per change. ARGV: this process's field (``p:<process>``), then 1 (follows) or
0 (left) per key. Per change: -2 gone, -1 some process still follows, else (a leaving that
left none) the new idle generation."""

CANCEL: Final = """
local s = redis.call('HMGET', KEYS[1], 'f', 'o')
if not s[2] then return -1 end
if s[1] == '1' then return 0 end
redis.call('HSET', KEYS[1], 'c', 1)
redis.call('PUBLISH', ARGV[1] .. s[2], ARGV[2])
return 1
"""
"""KEYS: meta. ARGV: control channel prefix, stream id. -1 unknown, 0 finished, 1 asked."""
