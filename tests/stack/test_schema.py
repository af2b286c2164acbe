"""The schema is created on an empty database and migrated in place on an older one, idempotently."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, text

from stack.database import open_engine, prepare_schema
from stack.sandbox import service_storage


async def _columns(engine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})


async def _older_database_is_migrated(url: str) -> None:
    engine = open_engine(url)
    try:
        async with engine.begin() as conn:  # a database from before `citations` and `last_login` existed
            await conn.execute(
                text(
                    "CREATE TABLE users (id VARCHAR(36) PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, "
                    "password_hash VARCHAR(100) NOT NULL, full_name VARCHAR(200), is_active BOOLEAN NOT NULL, "
                    "role VARCHAR(16) NOT NULL, created_at TIMESTAMP NOT NULL)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, is_active, role, created_at) "
                    "VALUES ('u1', 'old@example.com', 'x', TRUE, 'admin', CURRENT_TIMESTAMP)"
                )
            )
        for _ in range(2):
            await prepare_schema(engine)
        assert "last_login" in await _columns(engine, "users")
        assert "citations" in await _columns(engine, "messages")
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT email, role FROM users"))).all()
        assert [tuple(row) for row in kept] == [("old@example.com", "admin")]
    finally:
        await engine.dispose()


def test_sqlite_database_is_migrated_in_place(tmp_path):
    asyncio.run(_older_database_is_migrated(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"))


def test_postgres_database_is_migrated_in_place(services_env):
    with service_storage("schema", services_env["postgres"], services_env["redis"]) as env:
        url = env["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
        asyncio.run(_older_database_is_migrated(url))


def test_stacks_preparing_one_sqlite_file_at_once_do_not_collide(tmp_path):
    async def race() -> None:
        engines = [open_engine(f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}") for _ in range(8)]
        try:
            await asyncio.gather(*(prepare_schema(engine) for engine in engines))
        finally:
            for engine in engines:
                await engine.dispose()

    asyncio.run(race())
