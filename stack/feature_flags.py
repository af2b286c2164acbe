"""Feature flags, keyed by name, seeded at start-up; an unknown name answers HTTP 200 with success false."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from stack import envelope
from stack.auth import AdminReader, AdminWriter
from stack.database import feature_flags
from stack.timestamps import iso, utcnow

router = APIRouter(prefix="/api/admin/feature-flags", tags=["feature-flags"])

# (name, description, flag_type, enabled, default value): what the gateway ships with.
SEED_FLAGS = [
    ("rag_enabled", "Retrieve KB passages for chat answers", "boolean", True, True),
    ("streaming_responses", "Stream chat answers chunk by chunk", "boolean", True, True),
    ("citations_required", "Attach document citations to answers", "boolean", True, True),
    ("voice_mode", "Realtime voice sessions", "boolean", False, False),
    ("max_context_chunks", "KB passages given to the model per question", "number", True, 4),
    ("chat_model", "Model name sent upstream", "string", True, "voiceassist-emulated"),
    ("beta_admin_panel", "New admin dashboard", "boolean", False, False),
]


def flag_reply(row: dict) -> dict:
    return {
        "name": row["name"],
        "description": row["description"],
        "flag_type": row["flag_type"],
        "enabled": bool(row["enabled"]),
        "value": json.loads(row["value"]) if row["value"] is not None else None,
        "default_value": json.loads(row["default_value"]) if row["default_value"] is not None else None,
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


async def seed(engine: AsyncEngine) -> None:
    """Insert the flags that are missing; a flag changed by an admin keeps its state across restarts."""
    async with engine.begin() as conn:
        existing = set((await conn.execute(select(feature_flags.c.name))).scalars())
    now = utcnow()
    for name, description, flag_type, enabled, default in SEED_FLAGS:
        if name in existing:
            continue
        row = {
            "name": name,
            "description": description,
            "flag_type": flag_type,
            "enabled": enabled,
            "value": json.dumps(default),
            "default_value": json.dumps(default),
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with engine.begin() as conn:
                await conn.execute(feature_flags.insert().values(**row))
        except IntegrityError:  # another worker seeded it first
            pass


class FlagUpdate(BaseModel):
    enabled: bool | None = None
    value: Any = None
    description: str | None = Field(default=None, max_length=1000)


def _unknown(name: str):
    # The gateway's quirk, kept on purpose: HTTP 200 with success false.
    return envelope.error_response(
        envelope.EnvelopeError(200, "NOT_FOUND", f"Feature flag {name!r} not found")
    )


async def _load(conn, name: str) -> dict | None:
    row = (await conn.execute(select(feature_flags).where(feature_flags.c.name == name))).mappings().first()
    return dict(row) if row else None


@router.get("")
async def list_flags(request: Request, _: AdminReader):
    async with request.app.state.engine.connect() as conn:
        rows = (await conn.execute(select(feature_flags).order_by(feature_flags.c.name))).mappings().all()
        total = (await conn.execute(select(func.count()).select_from(feature_flags))).scalar_one()
    return envelope.ok({"flags": [flag_reply(dict(r)) for r in rows], "total": total})


@router.get("/{flag_name}")
async def get_flag(flag_name: str, request: Request, _: AdminReader):
    async with request.app.state.engine.connect() as conn:
        row = await _load(conn, flag_name)
    return _unknown(flag_name) if row is None else envelope.ok(flag_reply(row))


@router.patch("/{flag_name}")
async def patch_flag(flag_name: str, change: FlagUpdate, request: Request, _: AdminWriter):
    values: dict[str, Any] = {}
    if change.enabled is not None:
        values["enabled"] = change.enabled
    if "value" in change.model_fields_set:
        values["value"] = json.dumps(change.value)
    if change.description is not None:
        values["description"] = change.description
    async with request.app.state.engine.begin() as conn:
        if values:
            values["updated_at"] = utcnow()
            await conn.execute(
                update(feature_flags).where(feature_flags.c.name == flag_name).values(**values)
            )
        row = await _load(conn, flag_name)
    return _unknown(flag_name) if row is None else envelope.ok(flag_reply(row))
