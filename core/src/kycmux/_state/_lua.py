"""The Lua scripts behind ``RedisState``: one per contract method, each atomic in Redis.

Each script ports the matching resilience primitive (``SubjectLockout``, ``CircuitBreaker``,
``RateLimiter``, ``RetryBudget``) line for line, with the same float arithmetic, so that a
``RedisState`` and a ``MemoryState`` fed the same calls at the same times give the same
answers. Time is ``ARGV[1]`` (the caller's clock, wall-clock seconds), never Redis ``TIME``.

Numbers cross the wire as text: Python sends ``repr`` (exact), the scripts store and return
``%.17g`` (exact too); Lua's own ``tostring`` keeps only 14 digits and Redis truncates a Lua
number returned as a reply to an integer, so neither is used for a fraction.

Keys (``P`` is the vendor's prefix ``{ns}:v:{<vendor>}``, ``S`` the subject's
``{ns}:s:{<subject>}``; the braces keep one vendor's or one subject's keys in one slot):

- ``S:lock`` hash ``until``, ``reason``; ``S:count`` and ``S:captures`` hashes ``n`` (the
  count) and ``expires`` (when it lapses, compared with ``now``). Their Redis expiry is the
  same length (garbage collection that agrees with the stored time on a real clock).
- ``P:breaker`` hash ``state``, ``gen``, ``at``, ``until``, ``probe`` (never expires: one
  small record per vendor, and its generation must not restart while permits are out).
- ``P:w:<gen>:<bucket>`` hash ``c`` (calls), ``f`` (failures): the sliding window.
- ``P:rate`` hash ``tokens``, ``updated``, ``paused``: the token bucket and the pause.
- ``P:budget`` hash ``tokens``, ``floor``, ``floor_at``: the retry budget.

Every expiry but the lockout's is generous garbage collection; the logic reads stored times.
"""

from __future__ import annotations

__all__ = [
    "ADMIT",
    "BREAKER_STATS",
    "COUNT",
    "PAUSE",
    "RELEASE",
    "RESET_BREAKER",
    "RETRY",
    "SETTLE",
    "SUBJECT",
]

# Helpers every script starts with. `until` is a Lua keyword: records call it `till`.
_PRELUDE = r"""
local EPS = 1e-9
local INF = math.huge
local DAY = 86400
local MAX_MS = 31536000000

local function num(s)
  if not s or s == '' then return nil end
  if s == 'inf' then return INF end
  if s == '-inf' then return -INF end
  if s == 'nan' then return 0 / 0 end
  return tonumber(s)
end

local function fmt(x) return string.format('%.17g', x) end
local function int(x) return string.format('%.0f', x) end
local function opt(x) if x == nil then return '' end return fmt(x) end

local function expire(key, seconds)
  local ms = math.ceil(seconds * 1000)
  if ms ~= ms or ms > MAX_MS then ms = MAX_MS end
  if ms < 1 then ms = 1 end
  redis.call('PEXPIRE', key, int(ms))
end
"""

_BREAKER = r"""
local function breaker_load(key)
  local v = redis.call('HMGET', key, 'state', 'gen', 'at', 'until', 'probe')
  if not v[1] then return {state = 'closed', gen = 0, at = 0} end
  local probe = v[5]
  if probe == '' then probe = false end
  return {state = v[1], gen = tonumber(v[2]), at = num(v[3]), till = num(v[4]), probe = probe}
end

local function breaker_save(key, rec)
  redis.call('HSET', key, 'state', rec.state, 'gen', int(rec.gen), 'at', fmt(rec.at),
    'until', opt(rec.till), 'probe', rec.probe or '')
end

local function retry_after(rec, now)
  if rec.state == 'closed' then return 0 end
  if rec.state == 'half_open' and not rec.probe then return 0 end
  return math.max((rec.till or 0) - now, 0)
end

-- Move to `new` with a fresh generation (so a fresh window): {old, new} if the state changed.
local function swap(key, rec, new, now, open_seconds)
  local till = nil
  if new == 'open' then till = now + open_seconds end
  breaker_save(key, {state = new, gen = rec.gen + 1, at = now, till = till})
  if new ~= rec.state then return {rec.state, new} end
  return {}
end

local function bucket_key(prefix, gen, bucket)
  return prefix .. ':' .. int(gen) .. ':' .. int(bucket)
end

local function window(prefix, gen, now, width, buckets)
  local last = math.floor(now / width)
  local calls, failures = 0, 0
  for b = last - buckets + 1, last do
    local v = redis.call('HMGET', bucket_key(prefix, gen, b), 'c', 'f')
    calls = calls + (tonumber(v[1]) or 0)
    failures = failures + (tonumber(v[2]) or 0)
  end
  return calls, failures
end
"""

_LIMITER = r"""
local function limiter_load(key, now, burst)
  local v = redis.call('HMGET', key, 'tokens', 'updated', 'paused')
  local lim = {tokens = num(v[1]), updated = num(v[2]), paused = num(v[3]) or -INF}
  if lim.tokens == nil or lim.updated == nil then
    lim.tokens = burst
    lim.updated = now
  end
  return lim
end

local function limiter_save(key, lim, now, rate, burst)
  redis.call('HSET', key, 'tokens', fmt(lim.tokens), 'updated', fmt(lim.updated))
  if lim.paused ~= -INF then redis.call('HSET', key, 'paused', fmt(lim.paused)) end
  -- Kept a day past the moment it would read as a full bucket with no pause anyway.
  local ahead = math.max(lim.paused - now, lim.updated - now, 0)
  if rate then ahead = ahead + burst / rate end
  expire(key, DAY + ahead)
end

local function refill(lim, now, rate, burst)
  if rate == nil or now <= lim.updated then return end
  local gained = (now - lim.updated) * rate
  lim.tokens = math.min(burst, lim.tokens + gained)
  lim.updated = now
end

-- When the next token (after those reserved) is free, pauses included.
local function ready_at(lim, now, rate, burst)
  refill(lim, now, rate, burst)
  local ready = math.max(now, lim.paused)
  if rate ~= nil and lim.tokens < 1.0 - EPS then
    ready = math.max(ready, lim.updated + (1.0 - lim.tokens) / rate)
  end
  return ready
end
"""

_BUDGET = r"""
local function budget_load(key, now, floor_cap)
  local v = redis.call('HMGET', key, 'tokens', 'floor', 'floor_at')
  if not v[1] then return {tokens = 0, floor = floor_cap, floor_at = now} end
  return {tokens = num(v[1]), floor = num(v[2]), floor_at = num(v[3])}
end

local function budget_save(key, b)
  redis.call('HSET', key, 'tokens', fmt(b.tokens), 'floor', fmt(b.floor),
    'floor_at', fmt(b.floor_at))
  expire(key, DAY)
end
"""


def _script(*parts: str) -> str:
    return "\n".join(part.strip("\n") for part in parts) + "\n"


# KEYS: lock, count, captures. ARGV: now.
# -> {until or '', reason or '', counted 0/1}
SUBJECT = _script(
    _PRELUDE,
    r"""
local now = num(ARGV[1])
local lock = redis.call('HMGET', KEYS[1], 'until', 'reason')
local counted = 0
for i = 2, 3 do
  local c = redis.call('HMGET', KEYS[i], 'n', 'expires')
  local n, expires = tonumber(c[1]), num(c[2])
  if n and n ~= 0 and expires and expires > now then counted = 1 end
end
return {lock[1] or '', lock[2] or '', counted}
""",
)

# KEYS: lock, count, captures. ARGV: now, event, limit, capture_limit, cooldown, memory.
# -> {} or, when this event locked the subject, {until, reason}
COUNT = _script(
    _PRELUDE,
    r"""
local now, event = num(ARGV[1]), ARGV[2]
if event == 'success' then
  redis.call('DEL', KEYS[2], KEYS[3])
  return {}
end
local cooldown = num(ARGV[5])
local key, limit, keep, reason = KEYS[2], tonumber(ARGV[3]), num(ARGV[6]), 'definitive_failures'
if event == 'capture' then
  key, limit, keep, reason = KEYS[3], tonumber(ARGV[4]), cooldown, 'capture_retries'
end
local c = redis.call('HMGET', key, 'n', 'expires')
local n, expires = tonumber(c[1]) or 0, num(c[2])
if not expires or expires <= now then n = 0 end
n = n + 1
if n < limit then
  redis.call('HSET', key, 'n', int(n), 'expires', fmt(now + keep))
  expire(key, keep)
  return {}
end
local till = now + cooldown
redis.call('DEL', KEYS[1], key)
redis.call('HSET', KEYS[1], 'until', fmt(till), 'reason', reason)
expire(KEYS[1], cooldown)
return {fmt(till), reason}
""",
)

# KEYS: breaker, rate, budget.
# ARGV: now, probe token, probe_lease, rate ('' for none), burst, max_wait, first (1/0),
#       ratio, cap, floor_cap.
# -> {refusal or '', wait or retry_after, gen, probe 1/0, old state or '', new state or ''}
ADMIT = _script(
    _PRELUDE,
    _BREAKER,
    _LIMITER,
    _BUDGET,
    r"""
local now = num(ARGV[1])
local rec = breaker_load(KEYS[1])
local claim = rec.state ~= 'closed'
if claim and now < (rec.till or 0) then
  if rec.state == 'open' or rec.probe then
    return {'circuit_open', fmt(retry_after(rec, now)), '0', 0, '', ''}
  end
end

local rate, burst = num(ARGV[4]), tonumber(ARGV[5])
local lim = limiter_load(KEYS[2], now, burst)
local wait = ready_at(lim, now, rate, burst) - now

local claimed, old, new = nil, '', ''
if claim then
  claimed = {state = 'half_open', gen = rec.gen, at = rec.at}
  if rec.state == 'open' then
    claimed.gen, claimed.at, old, new = rec.gen + 1, now, 'open', 'half_open'
  end
end

if wait > 0 and wait >= num(ARGV[6]) then
  -- As MemoryState does: the refilled bucket is kept, no token is taken, and a probe slot
  -- claimed here is handed back at once (the breaker reads half-open with the slot free).
  if rate then limiter_save(KEYS[2], lim, now, rate, burst) end
  if claimed then breaker_save(KEYS[1], claimed) end
  return {'client_rate_limit', fmt(math.max(lim.paused - now, 0)), '0', 0, old, new}
end

if rate then
  lim.tokens = lim.tokens - 1.0
  limiter_save(KEYS[2], lim, now, rate, burst)
end
local gen, probe = rec.gen, 0
if claimed then
  claimed.till, claimed.probe = now + num(ARGV[3]), ARGV[2]
  breaker_save(KEYS[1], claimed)
  gen, probe = claimed.gen, 1
end
if ARGV[7] == '1' then
  local b = budget_load(KEYS[3], now, num(ARGV[10]))
  b.tokens = math.min(num(ARGV[9]), b.tokens + num(ARGV[8]))
  budget_save(KEYS[3], b)
end
return {'', fmt(math.max(wait, 0)), int(gen), probe, old, new}
""",
)

# KEYS: breaker, window prefix.
# ARGV: now, gen, probe token ('' for none), outcome, window, buckets, min_calls,
#       failure_ratio, open_seconds.
# -> {} or {old state, new state}
SETTLE = _script(
    _PRELUDE,
    _BREAKER,
    r"""
local now, gen, probe, outcome = num(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local open_seconds = num(ARGV[9])
local rec = breaker_load(KEYS[1])
if probe ~= '' then
  if rec.state ~= 'half_open' or rec.gen ~= gen or rec.probe ~= probe then
    return {}  -- the lease lapsed and someone else probes now
  end
  local new = 'closed'
  if outcome == 'failure' then new = 'open' end
  return swap(KEYS[1], rec, new, now, open_seconds)
end
if outcome == 'neutral' or rec.state ~= 'closed' or rec.gen ~= gen then return {} end
local span, buckets = num(ARGV[5]), tonumber(ARGV[6])
local width = span / buckets
local key = bucket_key(KEYS[2], gen, math.floor(now / width))
redis.call('HINCRBY', key, 'c', 1)
if outcome == 'failure' then redis.call('HINCRBY', key, 'f', 1) end
expire(key, 2 * (span + width) + 60)
if outcome ~= 'failure' then return {} end
local calls, failures = window(KEYS[2], gen, now, width, buckets)
if calls >= tonumber(ARGV[7]) and failures / calls >= num(ARGV[8]) then
  return swap(KEYS[1], rec, 'open', now, open_seconds)
end
return {}
""",
)

# KEYS: breaker, rate. ARGV: now, gen, probe token ('' for none), refund (1/0), rate, burst.
RELEASE = _script(
    _PRELUDE,
    _BREAKER,
    _LIMITER,
    r"""
local now, gen, probe = num(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if probe ~= '' then
  local rec = breaker_load(KEYS[1])
  -- No generation given: an admit that never came back; its random token is enough.
  if rec.state == 'half_open' and (gen == nil or rec.gen == gen) and rec.probe == probe then
    rec.till, rec.probe = nil, false
    breaker_save(KEYS[1], rec)
  end
end
local rate, burst = num(ARGV[5]), tonumber(ARGV[6])
if ARGV[4] == '1' and rate then
  local lim = limiter_load(KEYS[2], now, burst)
  refill(lim, now, rate, burst)
  lim.tokens = math.min(burst, lim.tokens + 1.0)
  limiter_save(KEYS[2], lim, now, rate, burst)
end
return {}
""",
)

# KEYS: rate. ARGV: now, seconds, rate ('' for none), burst.
PAUSE = _script(
    _PRELUDE,
    _LIMITER,
    r"""
local now, seconds, rate, burst = num(ARGV[1]), num(ARGV[2]), num(ARGV[3]), tonumber(ARGV[4])
local lim = limiter_load(KEYS[1], now, burst)
refill(lim, now, rate, burst)
lim.paused = math.max(lim.paused, now + seconds)
if rate then
  -- After the pause one request may go at once; nothing accumulates while it lasts.
  lim.tokens = math.min(lim.tokens, 1.0)
  lim.updated = math.max(lim.updated, lim.paused)
end
limiter_save(KEYS[1], lim, now, rate, burst)
return {}
""",
)

# KEYS: budget. ARGV: now, min_per_second, floor_cap. -> 1 (retry) or 0
RETRY = _script(
    _PRELUDE,
    _BUDGET,
    r"""
local now, per_second, floor_cap = num(ARGV[1]), num(ARGV[2]), num(ARGV[3])
local b = budget_load(KEYS[1], now, floor_cap)
local ok = 0
if b.tokens >= 1.0 - EPS then
  b.tokens = math.max(b.tokens - 1.0, 0.0)
  ok = 1
else
  local elapsed = math.max(now - b.floor_at, 0.0)
  b.floor = math.min(floor_cap, b.floor + elapsed * per_second)
  b.floor_at = now
  if b.floor >= 1.0 then
    b.floor = b.floor - 1.0
    ok = 1
  end
end
budget_save(KEYS[1], b)
return ok
""",
)

# KEYS: breaker, window prefix. ARGV: now, window, buckets.
# -> {state, calls, failures, retry_after}
BREAKER_STATS = _script(
    _PRELUDE,
    _BREAKER,
    r"""
local now = num(ARGV[1])
local rec = breaker_load(KEYS[1])
local calls, failures = 0, 0
if rec.state == 'closed' then
  local span, buckets = num(ARGV[2]), tonumber(ARGV[3])
  calls, failures = window(KEYS[2], rec.gen, now, span / buckets, buckets)
end
return {rec.state, calls, failures, fmt(retry_after(rec, now))}
""",
)

# KEYS: breaker. ARGV: now. -> {} or {old state, 'closed'}
RESET_BREAKER = _script(
    _PRELUDE,
    _BREAKER,
    r"""
return swap(KEYS[1], breaker_load(KEYS[1]), 'closed', num(ARGV[1]), 0)
""",
)
