"""Conversations and their messages: list, create, markdown export, and what the chat path stores."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stack import envelope
from stack.auth import CurrentUser
from stack.database import conversations, messages
from stack.timestamps import iso, utcnow

router = APIRouter(tags=["conversations"])


class NewConversation(BaseModel):
    title: str = Field(default="New conversation", max_length=500)


def conversation_reply(row: dict, message_count: int) -> dict:
    return {
        "id": row["id"],
        "title": row["title"],
        "userId": row["user_id"],
        "messageCount": message_count,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


async def owned(conn: AsyncConnection, conversation_id: str, user_id: str) -> dict | None:
    row = (
        (
            await conn.execute(
                select(conversations).where(
                    conversations.c.id == conversation_id, conversations.c.user_id == user_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def owned_or_404(conn: AsyncConnection, conversation_id: str, user_id: str) -> dict:
    """Another user's conversation is reported exactly like a missing one: ids leak nothing."""
    row = await owned(conn, conversation_id, user_id)
    if row is None:
        raise envelope.not_found("Conversation", conversation_id)
    return row


async def add_message(
    conn: AsyncConnection, conversation_id: str, role: str, content: str, citations: list | None = None
) -> dict:
    now = utcnow()
    message = {
        "id": str(uuid.uuid4()),
        "conversation_id": conversation_id,
        "role": role,
        "content": content,
        "citations": json.dumps(citations) if citations is not None else None,
        "created_at": now,
    }
    await conn.execute(messages.insert().values(**message))
    await conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now)
    )
    return message


@router.get("/api/conversations")
async def list_conversations(
    request: Request,
    user: CurrentUser,
    page: int = Query(1, ge=1),
    page_size: int = Query(20, ge=1, le=100, alias="pageSize"),
):
    # Counted per listed conversation (index on conversation_id), not over every message stored:
    # a long soak test must not make the list slower as the table grows.
    message_count = (
        select(func.count()).where(messages.c.conversation_id == conversations.c.id).scalar_subquery()
    )
    async with request.app.state.engine.connect() as conn:
        total = (
            await conn.execute(
                select(func.count()).select_from(conversations).where(conversations.c.user_id == user["id"])
            )
        ).scalar_one()
        rows = await conn.execute(
            select(conversations, message_count.label("message_count"))
            .where(conversations.c.user_id == user["id"])
            .order_by(conversations.c.updated_at.desc(), conversations.c.id)
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
        items = [conversation_reply(dict(r), r["message_count"]) for r in rows.mappings()]
    return envelope.ok({"items": items, "total": total, "page": page, "pageSize": page_size})


@router.post("/api/conversations", status_code=201)
async def create_conversation(body: NewConversation, request: Request, user: CurrentUser):
    now = utcnow()
    row = {
        "id": str(uuid.uuid4()),
        "user_id": user["id"],
        "title": body.title,
        "created_at": now,
        "updated_at": now,
    }
    async with request.app.state.engine.begin() as conn:
        await conn.execute(conversations.insert().values(**row))
    return envelope.ok(conversation_reply(row, 0), status_code=201)


@router.get("/api/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, request: Request, user: CurrentUser):
    async with request.app.state.engine.connect() as conn:
        row = await owned_or_404(conn, conversation_id, user["id"])
        count = (
            await conn.execute(select(func.count()).where(messages.c.conversation_id == conversation_id))
        ).scalar_one()
    return envelope.ok(conversation_reply(row, count))


@router.get("/api/sessions/{conversation_id}/export/markdown")
async def export_markdown(conversation_id: str, request: Request, user: CurrentUser):
    async with request.app.state.engine.connect() as conn:
        row = await owned_or_404(conn, conversation_id, user["id"])
        history = (
            (
                await conn.execute(
                    select(messages)
                    .where(messages.c.conversation_id == conversation_id)
                    .order_by(messages.c.created_at, messages.c.id)
                )
            )
            .mappings()
            .all()
        )
    lines = [f"# {row['title']}", "", f"*Exported {iso(utcnow())}; created {iso(row['created_at'])}*", ""]
    for message in history:
        lines += [
            f"## {message['role'].capitalize()} ({iso(message['created_at'])})",
            "",
            message["content"],
            "",
        ]
        for citation in json.loads(message["citations"] or "[]"):
            lines.append(f"- Source: {citation.get('title')} ({citation.get('document_id')})")
        if message["citations"]:
            lines.append("")
    filename = f"conversation-{conversation_id}.md"
    return Response(
        "\n".join(lines),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
