"""Per-client rate limits in Redis: requests and tokens per minute, shared by every replica.

Requests are a sliding log (a sorted set of the last minute's requests), checked and
recorded in one Lua script, so N concurrent requests against a limit of L let exactly L
through (for large limits, see entries taken ahead below). Tokens are known only once a
call has finished, so they are counted afterwards in a one-minute window and enforced on
the next request. Redis's own clock is used, so replicas with skewed clocks agree.

When Redis is unreachable the limiter fails open (configurable): the request is served,
a metric counts it, a warning is logged at most once per interval, and Redis is not
retried for a second, so an outage costs no latency per request.

Entries taken ahead: for a client whose limit is at least 1,000 requests a minute, one
Redis call takes up to a thousandth of its limit (at most 16) entries beyond the one it
needs, and the replica's next requests of that client use them without a round trip (on
this hardware the round trip was a quarter of the gateway's CPU per request and ~0.3 ms
of its latency). Redis still holds every entry, so the count stays exact; what changes,
per replica and client, is bounded by that thousandth:
- an entry is used at most `ahead_s` after it was taken (older ones are given back), so
  in any minute a client gets at most its limit plus the entries each replica held;
- held entries count against the client until used or given back (at the client's next
  request, or at shutdown), so a client may be refused that many requests early;
- a held entry skips the token check, so a client past its token limit gets at most that
  many more requests per replica.
Clients with smaller limits get exactly the behaviour above, one round trip a request.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from gateway.clients import Client

log = logging.getLogger("gateway.ratelimit")

WINDOW_MS = 60_000
RETRY_REDIS_AFTER_S = 1.0
# Connections to Redis: a request waits (up to the Redis timeout) for a free one. redis-py's
# default pool instead fails the 101st concurrent call, which read as Redis being down.
REDIS_CONNECTIONS = 64
# Entries taken ahead: at most a thousandth of a client's per-minute limit, and 16.
AHEAD_PER_LIMIT = 1_000
AHEAD_MAX = 16

_CHECK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
if tpm > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= tpm then
    local ttl = redis.call('PTTL', KEYS[2])
    if ttl < 0 then ttl = window end
    return {0, 1, tpm, 0, ttl}
  end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[1])
  if count >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, 0, rpm, 0, tonumber(oldest[2]) + window - now}
  end
  local taken = math.min(tonumber(ARGV[5]), rpm - count)
  local entries = {}
  for i = 1, taken do
    entries[2 * i - 1] = now
    entries[2 * i] = ARGV[4] .. ':' .. i
  end
  redis.call('ZADD', KEYS[1], unpack(entries))
  redis.call('PEXPIRE', KEYS[1], window)
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {taken, 0, rpm, rpm - count - taken, tonumber(oldest[2]) + window - now}
end
return {1, 0, 0, 0, 0}
"""

_RECORD_TOKENS = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""


def requests_key(client_name: str) -> str:
    """The client's sliding log of requests (a sorted set)."""
    return f"gw:rpm:{client_name}"


def tokens_key(client_name: str) -> str:
    """The client's token count in the current one-minute window."""
    return f"gw:tpm:{client_name}"


def connect_redis(url: str, password: str | None, timeout_s: float) -> Redis:
    """The limiter's Redis client: every call bounded by timeout_s, no retries (one failed
    call marks Redis down for a second instead, see RateLimiter)."""
    pool = BlockingConnectionPool.from_url(
        url,
        password=password,
        max_connections=REDIS_CONNECTIONS,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis(connection_pool=pool)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Which limit decided: "requests" or "tokens"; None when no limit applies or Redis is down.
    limit_name: str | None = None
    limit: int = 0
    remaining: int = 0
    reset_ms: int = 0
    limiter_available: bool = True

    def headers(self) -> dict[str, str]:
        if self.limit_name is None:
            return {}
        reset_s = max(1, -(-self.reset_ms // 1000))
        headers = {
            f"x-ratelimit-limit-{self.limit_name}": str(self.limit),
            f"x-ratelimit-remaining-{self.limit_name}": str(self.remaining),
            f"x-ratelimit-reset-{self.limit_name}": f"{reset_s}s",
        }
        if not self.allowed:
            headers["retry-after"] = str(reset_s)
        return headers


UNLIMITED = Decision(allowed=True)


@dataclass(slots=True)
class _Ahead:
    """The entries one call took: the first is its own request's, the rest are held for the
    client's next requests."""

    entries: list[str]
    taken_at: float  # time.monotonic()
    limit: int
    remaining: int  # in Redis right after the take; the held entries come on top
    reset_ms: int

    def use(self) -> Decision:
        self.entries.pop()
        return Decision(allowed=True, limit_name="requests", limit=self.limit,
                        remaining=self.remaining + len(self.entries),
                        reset_ms=self.reset_ms)  # fmt: skip


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        fail_open: bool,
        log_interval_s: float,
        ahead_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._check = redis.register_script(_CHECK)
        self._record = redis.register_script(_RECORD_TOKENS)
        self.fail_open = fail_open
        self._log_interval_s = log_interval_s
        self._down_until = 0.0
        self._last_logged = -float("inf")
        self.unavailable_count = 0
        self.ahead_s = ahead_s
        self._ahead: dict[str, _Ahead] = {}
        self._taking_ahead: set[str] = set()
        self._giving_back: set[asyncio.Task[None]] = set()

    @property
    def redis_up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY_REDIS_AFTER_S
        if now - self._last_logged >= self._log_interval_s:
            self._last_logged = now
            log.warning(
                "redis unreachable (%s); rate limits are %s until it answers again",
                type(error).__name__,
                "not enforced" if self.fail_open else "refusing requests",
            )

    async def check(self, client: Client) -> Decision:
        rpm = client.requests_per_minute or 0
        tpm = client.tokens_per_minute or 0
        if not rpm and not tpm:
            return UNLIMITED
        held = self._held(client)
        if held is not None:
            return held
        if not self.redis_up:
            return self._unavailable()
        keys = [requests_key(client.name), tokens_key(client.name)]
        # Entries are named <random>:<n>: unique in the client's log, never the caller's id.
        prefix = secrets.token_hex(8)
        # One call at a time per client takes entries ahead: concurrent ones taking more
        # would hold many more than a thousandth of the limit while they are given back.
        ahead = 0 if client.name in self._taking_ahead else self._ahead_count(rpm)
        if ahead:
            self._taking_ahead.add(client.name)
        try:
            result = await self._check(keys=keys, args=[WINDOW_MS, rpm, tpm, prefix, 1 + ahead])
        except (RedisError, OSError) as error:
            self._mark_down(error)
            return self._unavailable()
        finally:
            if ahead:
                self._taking_ahead.discard(client.name)
        taken, is_tokens, limit, remaining, reset_ms = (int(v) for v in result)
        if not taken:
            # Refused; but a request of this replica may have taken entries ahead meanwhile.
            return self._held(client) or Decision(
                allowed=False, limit_name="tokens" if is_tokens else "requests", limit=limit,
                remaining=0, reset_ms=max(0, reset_ms),
            )  # fmt: skip
        if not rpm:
            return Decision(allowed=True)
        taken_now = _Ahead([f"{prefix}:{n}" for n in range(1, taken + 1)], time.monotonic(),
                           limit, max(0, remaining), max(0, reset_ms))  # fmt: skip
        decision = taken_now.use()
        if taken_now.entries:
            # None is held for this client now: _held() found none fresh before the call, and
            # only this call (see _taking_ahead) could have stored one since.
            self._ahead[client.name] = taken_now
        return decision

    def _ahead_count(self, rpm: int) -> int:
        return min(AHEAD_MAX, rpm // AHEAD_PER_LIMIT) if self.ahead_s > 0 else 0

    def _held(self, client: Client) -> Decision | None:
        """Use an entry taken ahead for this client, if one is fresh; give back stale ones."""
        ahead = self._ahead.get(client.name)
        if ahead is None:
            return None
        if time.monotonic() - ahead.taken_at >= self.ahead_s:
            del self._ahead[client.name]
            self._give_back(client.name, ahead.entries)
            return None
        decision = ahead.use()
        if not ahead.entries:
            del self._ahead[client.name]
        return decision

    def _give_back(self, name: str, entries: list[str]) -> None:
        if entries:
            task = asyncio.create_task(self._remove(name, entries))
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)

    async def _remove(self, name: str, entries: list[str]) -> None:
        if not self.redis_up:
            return  # they leave the window within a minute anyway
        try:
            await self._redis.zrem(requests_key(name), *entries)
        except (RedisError, OSError) as error:
            self._mark_down(error)

    async def close(self) -> None:
        """Give back every entry still held (at shutdown), and wait for what is under way."""
        for name in list(self._ahead):
            self._give_back(name, self._ahead.pop(name).entries)
        await asyncio.gather(*self._giving_back, return_exceptions=True)

    def _unavailable(self) -> Decision:
        self.unavailable_count += 1
        return Decision(allowed=self.fail_open, limiter_available=False, reset_ms=1000)

    async def record_tokens(self, client: Client, tokens: int) -> None:
        if not client.tokens_per_minute or tokens <= 0 or not self.redis_up:
            return
        try:
            await self._record(keys=[tokens_key(client.name)], args=[tokens, WINDOW_MS])
        except (RedisError, OSError) as error:
            self._mark_down(error)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
