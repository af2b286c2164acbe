"""The response cache (retrieval results), on the same store as the limiter: Redis or in-process."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from stack import envelope
from stack.auth import AdminReader, AdminWriter
from stack.keystore import KeyStore

router = APIRouter(prefix="/api/admin/cache", tags=["cache"])

_ENTRIES = "cache:entry:"
_HITS = "cache:stat:hits"
_MISSES = "cache:stat:misses"


class ResponseCache:
    def __init__(self, keystore: KeyStore, max_entries: int, ttl_s: float) -> None:
        self._keystore = keystore
        self.max_entries = max_entries
        self.ttl_s = ttl_s

    async def get(self, namespace: str, key: str) -> Any | None:
        raw = await self._keystore.get(f"{_ENTRIES}{namespace}:{key}")
        await self._keystore.incr(_MISSES if raw is None else _HITS)
        return None if raw is None else json.loads(raw)

    async def put(self, namespace: str, key: str, value: Any) -> None:
        await self._keystore.put(f"{_ENTRIES}{namespace}:{key}", json.dumps(value), self.ttl_s)

    async def clear(self) -> int:
        return await self._keystore.delete_prefix(_ENTRIES)

    async def stats(self) -> dict:
        entries = await self._keystore.count_prefix(_ENTRIES)
        hits = int(await self._keystore.get(_HITS) or 0)
        misses = int(await self._keystore.get(_MISSES) or 0)
        lookups = hits + misses
        return {
            "backend": self._keystore.backend,
            "size": entries,
            "max_size": self.max_entries,
            "utilization": round(entries / self.max_entries, 4) if self.max_entries else 0.0,
            "hits": hits,
            "misses": misses,
            "hit_rate": round(hits / lookups, 4) if lookups else 0.0,
            "ttl_seconds": self.ttl_s,
        }


@router.get("/stats")
async def cache_stats(request: Request, _: AdminReader):
    return envelope.ok(await request.app.state.cache.stats())


@router.post("/clear")
async def cache_clear(request: Request, _: AdminWriter):
    removed = await request.app.state.cache.clear()
    return envelope.ok({"success": True, "message": f"Cache cleared ({removed} entries removed)"})
