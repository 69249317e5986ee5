"""Per-client rate limits in Redis: requests and tokens per minute, shared by every replica.

Requests are a sliding log (a sorted set of the last minute's requests), checked and
recorded in one Lua script, so N concurrent requests against a limit of L let exactly L
through. Tokens are known only once a call has finished, so they are counted afterwards
in a one-minute window and enforced on the next request. Redis's own clock is used, so
replicas with skewed clocks agree.

When Redis is unreachable the limiter fails open (configurable): the request is served,
a metric counts it, a warning is logged at most once per interval, and Redis is not
retried for a second, so an outage costs no latency per request.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.clients import Client

log = logging.getLogger("gateway.ratelimit")

WINDOW_MS = 60_000
RETRY_REDIS_AFTER_S = 1.0

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
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, 0, rpm, rpm - count - 1, tonumber(oldest[2]) + window - now}
end
return {1, 0, 0, 0, 0}
"""

_RECORD_TOKENS = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""


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


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        *,
        fail_open: bool,
        log_interval_s: float,
    ) -> None:
        self._redis = redis
        self._check = redis.register_script(_CHECK)
        self._record = redis.register_script(_RECORD_TOKENS)
        self.fail_open = fail_open
        self._log_interval_s = log_interval_s
        self._down_until = 0.0
        self._last_logged = -float("inf")
        self.unavailable_count = 0

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
        if not self.redis_up:
            return self._unavailable()
        keys = [f"gw:rpm:{client.name}", f"gw:tpm:{client.name}"]
        try:
            result = await self._check(keys=keys, args=[WINDOW_MS, rpm, tpm, secrets.token_hex(8)])
        except (RedisError, OSError) as error:
            self._mark_down(error)
            return self._unavailable()
        allowed, is_tokens, limit, remaining, reset_ms = (int(v) for v in result)
        if not rpm and allowed:
            return Decision(allowed=True)
        return Decision(
            allowed=bool(allowed),
            limit_name="tokens" if is_tokens else "requests",
            limit=limit,
            remaining=max(0, remaining),
            reset_ms=max(0, reset_ms),
        )

    def _unavailable(self) -> Decision:
        self.unavailable_count += 1
        return Decision(allowed=self.fail_open, limiter_available=False, reset_ms=1000)

    async def record_tokens(self, client: Client, tokens: int) -> None:
        if not client.tokens_per_minute or tokens <= 0 or not self.redis_up:
            return
        try:
            await self._record(keys=[f"gw:tpm:{client.name}"], args=[tokens, WINDOW_MS])
        except (RedisError, OSError) as error:
            self._mark_down(error)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
