"""Entries taken ahead for busy clients (gateway/ratelimit.py), against the stack's real
Redis: fewer round trips, the count in Redis still exact, stale and leftover entries given
back, and the bounds the module documents."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from gateway.clients import Client
from gateway.ratelimit import AHEAD_MAX, RateLimiter, connect_redis, requests_key
from redis.asyncio import Redis

from devstack.processes import LOOPBACK
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration

T = TypeVar("T")


def _client(requests_per_minute: int) -> Client:
    # A fresh name per test: its sorted set in Redis is its own.
    return Client(
        name=f"ahead-{secrets.token_hex(4)}",
        key_sha256="0" * 64,
        models=("groq-llama",),
        requests_per_minute=requests_per_minute,
    )


def _run(stack: LocalStack, body: Callable[[RateLimiter, Redis], Awaitable[T]],
         ahead_s: float = 1.0) -> T:  # fmt: skip
    async def main() -> T:
        url = f"redis://{LOOPBACK}:{stack.ports.redis}/0"
        # The gateway's own client; a generous timeout, as 1,000 calls queue for it here.
        redis = connect_redis(url, stack.secrets.redis_password, timeout_s=5)
        limiter = RateLimiter(redis, fail_open=True, log_interval_s=3600, ahead_s=ahead_s)
        try:
            return await body(limiter, redis)
        finally:
            await limiter.close()
            await redis.aclose()

    return asyncio.run(main())


async def _entries(redis: Redis, client: Client) -> int:
    return int(await redis.zcard(requests_key(client.name)))


def test_a_busy_client_takes_entries_ahead_and_uses_them_without_redis(
    stack: LocalStack,
) -> None:
    client = _client(3_000)  # a thousandth of the limit: 3 ahead

    async def body(limiter: RateLimiter, redis: Redis) -> list[tuple[int, int]]:
        seen = []
        for _ in range(5):
            decision = await limiter.check(client)
            assert decision.allowed
            seen.append((decision.remaining, await _entries(redis, client)))
        return seen

    # (remaining, entries in Redis) after each request: one call took 1 + 3, the next three
    # requests used the held ones, the fifth took 1 + 3 again. Remaining counts down by one.
    assert _run(stack, body) == [(2999, 4), (2998, 4), (2997, 4), (2996, 4), (2995, 8)]


def test_small_limits_take_nothing_ahead(stack: LocalStack) -> None:
    client = _client(999)

    async def body(limiter: RateLimiter, redis: Redis) -> list[int]:
        counts = []
        for _ in range(3):
            await limiter.check(client)
            counts.append(await _entries(redis, client))
        return counts

    assert _run(stack, body) == [1, 2, 3]


def test_stale_entries_and_leftovers_at_shutdown_are_given_back(stack: LocalStack) -> None:
    client = _client(100_000)  # AHEAD_MAX ahead

    async def body(limiter: RateLimiter, redis: Redis) -> tuple[int, int]:
        await limiter.check(client)
        after_first = await _entries(redis, client)
        await asyncio.sleep(0.3)  # past ahead_s: the held entries are stale
        await limiter.check(client)  # gives them back, takes 1 + AHEAD_MAX afresh
        await limiter.close()  # gives back what it holds
        return after_first, await _entries(redis, client)

    after_first, at_end = _run(stack, body, ahead_s=0.2)
    assert after_first == 1 + AHEAD_MAX
    assert at_end == 2  # the two requests that were served, nothing held


def test_concurrent_requests_get_at_most_the_limit_and_hold_at_most_the_bound(
    stack: LocalStack,
) -> None:
    client = _client(1_000)  # one ahead

    async def body(limiter: RateLimiter, redis: Redis) -> tuple[int, int, int]:
        # More at once than the pool has connections: they wait for one, none fails.
        decisions = await asyncio.gather(*(limiter.check(client) for _ in range(1_050)))
        assert limiter.unavailable_count == 0
        allowed = sum(d.allowed for d in decisions)
        in_redis = await _entries(redis, client)
        await limiter.close()
        return allowed, in_redis, await _entries(redis, client)

    allowed, in_redis, after_close = _run(stack, body)
    assert in_redis == 1_000  # the log is full: every entry is used or held
    assert 1_000 - 1 <= allowed <= 1_000  # refused early by at most the one held entry
    assert after_close == allowed  # what was held is given back
