"""bcrypt hashing, run in worker threads: a cost-12 hash is ~0.3 s of CPU and must not stall the loop."""

from __future__ import annotations

import functools

import bcrypt
from starlette.concurrency import run_in_threadpool


def hash_password_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode()


async def hash_password(password: str, rounds: int) -> str:
    return await run_in_threadpool(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str) -> bool:
    return await run_in_threadpool(bcrypt.checkpw, password.encode()[:72], password_hash.encode())


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return hash_password_sync("no-such-user-password", rounds)


async def burn_verification(password: str, rounds: int) -> None:
    """Checked when the email is unknown, so that a miss costs what a hit costs (no user probing)."""
    await run_in_threadpool(bcrypt.checkpw, password.encode()[:72], _dummy_hash(rounds).encode())
