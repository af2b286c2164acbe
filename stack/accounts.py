"""User accounts in the database: lookups, creation, roles, and the bare user reply."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stack.database import users
from stack.timestamps import iso, utcnow

ROLES = ("user", "viewer", "admin")


def user_reply(user: dict) -> dict:
    return {
        "id": user["id"],
        "email": user["email"],
        "full_name": user["full_name"],
        "is_active": bool(user["is_active"]),
        "is_admin": user["role"] == "admin",
        "admin_role": user["role"],
        "created_at": iso(user["created_at"]),
        "last_login": iso(user["last_login"]),
    }


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_by_email(conn: AsyncConnection, email: str) -> dict | None:
    row = (
        (await conn.execute(select(users).where(users.c.email == normalise_email(email)))).mappings().first()
    )
    return dict(row) if row else None


async def find_by_id(conn: AsyncConnection, user_id: str) -> dict | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    return dict(row) if row else None


async def create(
    conn: AsyncConnection, email: str, password_hash: str, full_name: str | None, role: str = "user"
) -> dict:
    user = {
        "id": str(uuid.uuid4()),
        "email": normalise_email(email),
        "password_hash": password_hash,
        "full_name": full_name,
        "is_active": True,
        "role": role,
        "created_at": utcnow(),
        "last_login": None,
    }
    await conn.execute(users.insert().values(**user))
    return user


async def set_role(conn: AsyncConnection, email: str, role: str) -> bool:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    result = await conn.execute(
        update(users).where(users.c.email == normalise_email(email)).values(role=role)
    )
    return result.rowcount > 0


async def set_password_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


async def record_login(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(last_login=utcnow()))


async def counts(conn: AsyncConnection) -> dict:
    row = (
        await conn.execute(
            select(
                func.count(),
                func.count().filter(users.c.is_active.is_(True)),
                func.count().filter(users.c.role == "admin"),
            ).select_from(users)
        )
    ).one()
    return {"total_users": row[0], "active_users": row[1], "admin_users": row[2]}


async def page(conn: AsyncConnection, offset: int, limit: int) -> list[dict]:
    rows = await conn.execute(
        select(users).order_by(users.c.created_at, users.c.id).offset(offset).limit(limit)
    )
    return [dict(r) for r in rows.mappings()]
