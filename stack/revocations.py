"""Where revoked tokens and sessions are remembered until they would have expired anyway.

Redis when there is one (shared by every worker and host); otherwise the database, which every
worker of an embedded stack shares too. An in-process set would let worker B accept a token that
worker A revoked.
"""

from __future__ import annotations

import time
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from stack.database import revoked_tokens


class Revocations(Protocol):
    async def any_exists(self, keys: list[str]) -> bool: ...
    async def put(self, key: str, value: str, ttl_s: float) -> None: ...


class DatabaseRevocations:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def any_exists(self, keys: list[str]) -> bool:
        query = (
            select(revoked_tokens.c.key)
            .where(revoked_tokens.c.key.in_(keys), revoked_tokens.c.expires_at > time.time())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        del value  # presence is the whole record
        now = time.time()
        try:
            async with self._engine.begin() as conn:
                # Revocations are rare (logout, refresh): the moment to forget the expired ones.
                await conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now))
                await conn.execute(revoked_tokens.insert().values(key=key, expires_at=now + ttl_s))
        except IntegrityError:  # already revoked
            pass
