"""Creating the first admin and the load-test accounts, straight in the database (no API may do it)."""

from __future__ import annotations

import asyncio

from stack import accounts
from stack.database import open_engine, prepare_schema
from stack.passwords import hash_password_sync
from stack.settings import Settings

# The seed's population: regular and power users are plain `user`s that the suite drives differently.
KIND_ROLES = {"regular": "user", "power": "user", "viewer": "viewer", "admin": "admin"}


def account_email(prefix: str, kind: str, number: int) -> str:
    return f"{prefix}-{kind}-{number}@example.com"


async def seed_accounts(settings: Settings, prefix: str, counts: dict[str, int], password: str) -> list[dict]:
    """Create or reset each account (password and role), so a rerun ends in the same state."""
    engine = open_engine(settings.database_url)
    wanted = [(kind, n) for kind, count in counts.items() for n in range(1, count + 1)]
    # Hash once: one bcrypt cost for the whole population, not one per account.
    password_hash = await asyncio.to_thread(hash_password_sync, password, settings.bcrypt_rounds)
    seeded = []
    try:
        await prepare_schema(engine)
        async with engine.begin() as conn:
            for kind, number in wanted:
                email = account_email(prefix, kind, number)
                role = KIND_ROLES[kind]
                user = await accounts.find_by_email(conn, email)
                if user is None:
                    await accounts.create(conn, email, password_hash, f"{prefix} {kind} {number}", role)
                else:
                    await accounts.set_password_hash(conn, user["id"], password_hash)
                    await accounts.set_role(conn, email, role)
                seeded.append({"email": email, "password": password, "role": role, "kind": kind})
    finally:
        await engine.dispose()
    return seeded


async def promote(settings: Settings, email: str, role: str) -> bool:
    engine = open_engine(settings.database_url)
    try:
        await prepare_schema(engine)
        async with engine.begin() as conn:
            return await accounts.set_role(conn, email, role)
    finally:
        await engine.dispose()
