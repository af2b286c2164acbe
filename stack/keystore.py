"""Expiring keys and counters behind the rate limiter, the token denylist and the response cache.

Redis when REDIS_URL is set (shared by every worker and host), an in-process dict otherwise.
"""

from __future__ import annotations

import time
from typing import Protocol


class KeyStore(Protocol):
    backend: str

    async def incr_window(self, key: str, ttl_s: int) -> int: ...
    async def put(self, key: str, value: str, ttl_s: float) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def any_exists(self, keys: list[str]) -> bool: ...
    async def incr(self, key: str) -> int: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def count_prefix(self, prefix: str) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryKeyStore:
    """Per-process store; entries expire lazily and by a sweep when the dict grows."""

    backend = "memory"

    def __init__(self, max_entries: int = 200_000) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._max_entries = max_entries

    def _live(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[0]

    def _make_room(self) -> None:
        if len(self._entries) < self._max_entries:
            return
        now = time.monotonic()
        for key in [k for k, (_, exp) in self._entries.items() if exp <= now]:
            del self._entries[key]
        # Still full: drop the oldest insertions, as an LRU-less cache would.
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]

    async def incr_window(self, key: str, ttl_s: int) -> int:
        current = self._live(key)
        if current is None:
            self._make_room()
            self._entries[key] = ("1", time.monotonic() + ttl_s)
            return 1
        count = int(current) + 1
        self._entries[key] = (str(count), self._entries[key][1])
        return count

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        self._make_room()
        self._entries.pop(key, None)
        self._entries[key] = (value, time.monotonic() + ttl_s)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def any_exists(self, keys: list[str]) -> bool:
        return any(self._live(k) is not None for k in keys)

    async def incr(self, key: str) -> int:
        current = self._live(key)
        count = int(current or 0) + 1
        self._entries[key] = (str(count), float("inf"))
        return count

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self._entries if k.startswith(prefix)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    async def count_prefix(self, prefix: str) -> int:
        return sum(1 for k in list(self._entries) if k.startswith(prefix) and self._live(k) is not None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()


class RedisKeyStore:
    """Every key carries the configured prefix, so several stacks (and test runs) share one Redis."""

    backend = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        self._prefix = prefix

    async def incr_window(self, key: str, ttl_s: int) -> int:
        full = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.expire(full, ttl_s, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))

    async def get(self, key: str) -> str | None:
        return await self._redis.get(self._prefix + key)

    async def any_exists(self, keys: list[str]) -> bool:
        return bool(await self._redis.exists(*[self._prefix + k for k in keys]))

    async def incr(self, key: str) -> int:
        return int(await self._redis.incr(self._prefix + key))

    async def _scan(self, prefix: str):
        async for key in self._redis.scan_iter(match=self._prefix + prefix + "*", count=500):
            yield key

    async def delete_prefix(self, prefix: str) -> int:
        batch: list[str] = []
        deleted = 0
        async for key in self._scan(prefix):
            batch.append(key)
            if len(batch) >= 500:
                deleted += await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await self._redis.unlink(*batch)
        return deleted

    async def count_prefix(self, prefix: str) -> int:
        return sum([1 async for _ in self._scan(prefix)])

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def open_keystore(redis_url: str | None, prefix: str) -> KeyStore:
    return RedisKeyStore(redis_url, prefix) if redis_url else MemoryKeyStore()
