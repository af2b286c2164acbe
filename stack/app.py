"""The FastAPI application: wiring of settings, storage, routes and error replies."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from stack import (
    __version__,
    admin,
    auth,
    cache,
    chat,
    conversations,
    drift_injection,
    feature_flags,
    health,
    knowledge_base,
    metrics,
    realtime,
    retrieval,
)
from stack.database import open_engine, prepare_schema
from stack.envelope import EnvelopeError, error_response
from stack.keystore import open_keystore
from stack.ratelimit import RateLimitExceeded, rate_limit_response
from stack.revocations import DatabaseRevocations
from stack.settings import Settings
from stack.tokens import TokenService

log = logging.getLogger("stack")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = open_engine(settings.database_url)
        await prepare_schema(engine)
        await feature_flags.seed(engine)
        await retrieval.ensure_generation(engine)
        keystore = open_keystore(settings.redis_url, settings.redis_prefix)
        state = app.state
        state.settings = settings
        state.engine = engine
        state.keystore = keystore
        # Revocations must reach every worker: Redis when present, else the shared database.
        revocations = keystore if settings.redis_url else DatabaseRevocations(engine)
        state.tokens = TokenService(
            settings.jwt_secret, revocations, settings.access_ttl_s, settings.refresh_ttl_s
        )
        state.cache = cache.ResponseCache(keystore, max_entries=10_000, ttl_s=300)
        # Generous pool: every streaming chat answer holds one connection for its whole duration.
        state.upstream_client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        try:
            yield
        finally:
            await state.upstream_client.aclose()
            await keystore.close()
            await engine.dispose()

    app = FastAPI(title="VoiceAssist reference stack", version=__version__, lifespan=lifespan)
    if settings.injected_drift.active:  # inside the route timing, so /metrics shows the drift too
        app.add_middleware(drift_injection.DriftMiddleware, injection=settings.injected_drift)
    app.add_middleware(metrics.RouteTimingMiddleware, injected=settings.injected_latency)

    @app.exception_handler(EnvelopeError)
    async def _envelope_error(_: Request, exc: EnvelopeError):
        return error_response(exc)

    @app.exception_handler(RateLimitExceeded)
    async def _rate_limited(_: Request, exc: RateLimitExceeded):
        return rate_limit_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    for module in (
        health,
        metrics,
        auth,
        conversations,
        chat,
        realtime,
        knowledge_base,
        admin,
        cache,
        feature_flags,
    ):
        if module is chat and not settings.rest_chat:
            continue
        app.include_router(module.router)
    return app
