"""Liveness (`/health`) and component checks with their latency (`/health/detailed`)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from stack import __version__
from stack.database import dialect_of
from stack.ratelimit import limited
from stack.timestamps import iso, utcnow

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


async def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        details = await asyncio.wait_for(check(), CHECK_TIMEOUT_S) or {}
        status = "healthy"
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency is a reportable state, not a crash
        details = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        status = "unhealthy"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **details}


@router.get("/health", dependencies=[Depends(limited("health"))])
async def health() -> dict:
    return {"status": "healthy", "version": __version__, "timestamp": iso(utcnow())}


@router.get("/health/detailed", dependencies=[Depends(limited("health_detailed"))])
async def health_detailed(request: Request) -> JSONResponse:
    state = request.app.state
    dialect = dialect_of(state.engine)

    async def database() -> dict:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"backend": dialect}

    async def keystore() -> dict:
        await state.keystore.ping()
        return {"backend": state.keystore.backend}

    async def upstream() -> dict:
        response = await state.upstream_client.get(f"{state.settings.openai_base_url}/models")
        response.raise_for_status()
        return {"base_url": state.settings.openai_base_url}

    names = ["postgres" if dialect == "postgresql" else "sqlite", state.keystore.backend]
    checks = [database, keystore]
    if state.settings.openai_base_url:
        names.append("upstream_llm")
        checks.append(upstream)
    results = await asyncio.gather(*(_timed(check) for check in checks))
    components = dict(zip(names, results, strict=True))
    healthy = all(c["status"] == "healthy" for c in components.values())
    return JSONResponse(
        {
            "status": "healthy" if healthy else "degraded",
            "components": components,
            "version": __version__,
            "environment": state.settings.environment,
            "timestamp": iso(utcnow()),
        },
        status_code=200 if healthy else 503,
    )
