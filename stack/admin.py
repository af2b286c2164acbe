"""The admin panel: summary counts (and the seed's `/api/admin/dashboard` alias) and the user list."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from stack import accounts, envelope
from stack.auth import AdminReader
from stack.timestamps import iso, utcnow

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/panel/summary")
@router.get("/dashboard", include_in_schema=False)
async def summary(request: Request, _: AdminReader):
    async with request.app.state.engine.connect() as conn:
        counts = await accounts.counts(conn)
    return envelope.ok({**counts, "timestamp": iso(utcnow())})


@router.get("/panel/users")
@router.get("/users", include_in_schema=False)
async def users(
    request: Request,
    _: AdminReader,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
):
    async with request.app.state.engine.connect() as conn:
        rows = await accounts.page(conn, offset, limit)
        total = (await accounts.counts(conn))["total_users"]
    return envelope.ok(
        {"users": [accounts.user_reply(r) for r in rows], "total": total, "offset": offset, "limit": limit}
    )
