"""Prometheus metrics: request latency histograms per route template, chat timings, and `/metrics`.

With several uvicorn workers, `python -m stack serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
folder before the workers start, and `/metrics` aggregates every worker's files.
"""

from __future__ import annotations

import os
import time

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from stack.regression import InjectedLatency, wait_at_least

router = APIRouter(tags=["metrics"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from request to response start, by route template",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter("http_requests_total", "HTTP requests, by route template", ["method", "route", "status"])
CHAT_FIRST_CHUNK = Histogram(
    "chat_time_to_first_chunk_seconds",
    "Question received to first answer chunk",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
CHAT_ANSWER = Histogram(
    "chat_answer_duration_seconds",
    "Question received to complete answer",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
CHAT_ERRORS = Counter("chat_errors_total", "Chat answers that failed", ["channel", "code"])
RETRIEVED_CHUNKS = Histogram(
    "chat_retrieved_chunks", "KB chunks retrieved per question", buckets=(0, 1, 2, 3, 4, 6, 8, 12)
)


class RouteTimingMiddleware:
    """Times every HTTP request by route template (never the raw path: ids would explode the labels),
    and applies any slowdown injected for that route before the response starts."""

    def __init__(self, app, injected: InjectedLatency) -> None:
        self.app = app
        self.injected = injected

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]

        async def timed_send(message):
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None) or "<unmatched>"
                slowdown = self.injected.for_route(method, template) if route is not None else None
                if slowdown is not None:
                    await wait_at_least(slowdown.delay_s(time.perf_counter() - started))
                status = str(message["status"])
                REQUEST_LATENCY.labels(method, template, status).observe(time.perf_counter() - started)
                REQUESTS.labels(method, template, status).inc()
            await send(message)

        await self.app(scope, receive, timed_send)


@router.get("/metrics")
async def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
