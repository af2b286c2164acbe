"""The schema (SQLAlchemy Core) and its idempotent creation on PostgreSQL or SQLite.

Both modes share every table; only the full-text index over KB chunks differs: a generated
tsvector column with a GIN index on PostgreSQL, an FTS5 table kept in step by triggers on SQLite.
"""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateColumn

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("password_hash", String(100), nullable=False),
    Column("full_name", String(200)),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("role", String(16), nullable=False, default="user"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login", DateTime(timezone=True)),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_conversations_user_updated", "user_id", "updated_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("conversation_id", String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("citations", Text),  # JSON list
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_messages_conversation", "conversation_id", "created_at"),
)

kb_documents = Table(
    "kb_documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("title", Text, nullable=False),
    Column("source_type", String(64), nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", String(100)),
    Column("size_bytes", Integer, nullable=False),
    Column("chunks_indexed", Integer, nullable=False),
    Column("uploaded_by", String(36)),
    Column("upload_date", DateTime(timezone=True), nullable=False),
)

kb_chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(36), ForeignKey("kb_documents.id", ondelete="CASCADE"), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Index("ix_kb_chunks_document", "document_id"),
)

feature_flags = Table(
    "feature_flags",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("flag_type", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("value", Text),  # JSON
    Column("default_value", Text),  # JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row: bumped by every change of the indexed chunks, and part of every cached retrieval key,
# so that cached results of every worker and host go stale together.
kb_generation = Table(
    "kb_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
)

# Revoked token ids and sessions, when there is no Redis: in the database, so that every worker
# of an embedded stack refuses a token that any one of them revoked.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("expires_at", Float, nullable=False),  # epoch seconds
    Index("ix_revoked_tokens_expires", "expires_at"),
)

_POSTGRES_FULL_TEXT = [
    (
        "ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS tsv tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
    ),
    "CREATE INDEX IF NOT EXISTS ix_kb_chunks_tsv ON kb_chunks USING gin (tsv)",
]

_SQLITE_FULL_TEXT = [
    (
        "CREATE VIRTUAL TABLE IF NOT EXISTS kb_chunks_fts USING fts5("
        "content, content='kb_chunks', content_rowid='id', tokenize='porter unicode61')"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_insert AFTER INSERT ON kb_chunks BEGIN "
        "INSERT INTO kb_chunks_fts(rowid, content) VALUES (new.id, new.content); END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_delete AFTER DELETE ON kb_chunks BEGIN "
        "INSERT INTO kb_chunks_fts(kb_chunks_fts, rowid, content) VALUES ('delete', old.id, old.content); END"
    ),
]

# Any constant: serialises schema creation when several workers start at once on PostgreSQL.
_SCHEMA_LOCK_KEY = 7_410_203


# Switching a new file to WAL needs SQLite's exclusive lock; when two connections reach for it at
# once, one gets "database is locked" at once (SQLite skips the busy handler to avoid a deadlock).
_WAL_SWITCH_ATTEMPTS = 60
_WAL_SWITCH_PAUSE_S = 0.25


def _switch_to_wal(cursor) -> None:
    for attempt in range(_WAL_SWITCH_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(_WAL_SWITCH_PAUSE_S)


def open_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # WAL lets readers run while a writer commits; several workers share the file.
            cursor = dbapi_connection.cursor()
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def dialect_of(engine: AsyncEngine) -> str:
    return engine.dialect.name  # "postgresql" or "sqlite"


def _migrate(conn: Connection) -> None:
    """Create missing tables, then add missing columns to existing ones.

    The migration rule of this schema: a new column is nullable or has a server default, so that
    an older database gains it in place. Nothing is ever dropped or rewritten.
    """
    metadata.create_all(conn)
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                definition = CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {definition}"))


async def prepare_schema(engine: AsyncEngine) -> None:
    """Bring any database, empty or older, to the current schema; idempotent."""
    async with engine.begin() as conn:
        if dialect_of(engine) == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        else:
            # Take SQLite's write lock before looking at the schema, so that stacks starting on the
            # same file at once queue (busy_timeout) instead of both creating the same table.
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        await conn.run_sync(_migrate)
        statements = _POSTGRES_FULL_TEXT if dialect_of(engine) == "postgresql" else _SQLITE_FULL_TEXT
        for statement in statements:
            await conn.execute(text(statement))
