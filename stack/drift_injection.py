"""Deliberate drift, injected to prove that soak and spike analyses see what they are for.

Unlike `regression.py` (a fixed slowdown per route), these change over the life of the process:

- `VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST=N`: every HTTP request keeps N KiB alive for good (a leak),
  up to `VOICEASSIST_INJECT_LEAK_MAX_MB` (default 512) so that no test can exhaust the machine;
- `VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN=N`: every HTTP request waits N ms more for each
  minute since the first request (a growing queue), up to 5 s;
- `VOICEASSIST_INJECT_SLOW_RECOVERY_S=N`: once more than `VOICEASSIST_INJECT_SLOW_RECOVERY_INFLIGHT`
  (default 12) requests are in flight at once (a burst), every request waits up to
  `VOICEASSIST_INJECT_SLOW_RECOVERY_MS` (default 400) more, fading linearly to nothing over N seconds
  after the burst's last overloaded moment (a service that takes long to recover).

`/metrics` is never delayed: the scraper that watches a soak must not be what drifts.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

LATENCY_GROWTH_CAP_S = 5.0
UNDELAYED_PATHS = ("/metrics",)


@dataclass(frozen=True)
class DriftInjection:
    leak_kb_per_request: float = 0.0
    leak_max_mb: float = 512.0
    latency_growth_ms_per_min: float = 0.0
    slow_recovery_s: float = 0.0
    slow_recovery_ms: float = 400.0
    slow_recovery_inflight: int = 12

    @property
    def active(self) -> bool:
        return bool(self.leak_kb_per_request or self.latency_growth_ms_per_min or self.slow_recovery_s)


def parse_drift_injection(env) -> DriftInjection:
    """Reads the VOICEASSIST_INJECT_* drift variables; a value that is not a number stops the start."""
    names = {
        "leak_kb_per_request": "VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST",
        "leak_max_mb": "VOICEASSIST_INJECT_LEAK_MAX_MB",
        "latency_growth_ms_per_min": "VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN",
        "slow_recovery_s": "VOICEASSIST_INJECT_SLOW_RECOVERY_S",
        "slow_recovery_ms": "VOICEASSIST_INJECT_SLOW_RECOVERY_MS",
        "slow_recovery_inflight": "VOICEASSIST_INJECT_SLOW_RECOVERY_INFLIGHT",
    }
    values: dict[str, float] = {}
    for field_name, variable in names.items():
        raw = (env.get(variable) or "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{variable}: {raw!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{variable}: {raw!r} must be zero or more")
        values[field_name] = int(value) if field_name == "slow_recovery_inflight" else value
    return DriftInjection(**values)


class DriftState:
    """What the injection remembers between requests (one per process)."""

    def __init__(self, injection: DriftInjection, clock=time.monotonic) -> None:
        self.injection = injection
        self.clock = clock
        self.first_request_at: float | None = None
        self.leaked: list[bytes] = []
        self.leaked_bytes = 0
        self.inflight = 0
        self.last_overload_at: float | None = None

    def on_request(self) -> float:
        """Called as a request arrives; returns the delay (s) it must wait before it is served."""
        now = self.clock()
        injection = self.injection
        if self.first_request_at is None:
            self.first_request_at = now
        self.inflight += 1
        if injection.leak_kb_per_request:
            size = int(injection.leak_kb_per_request * 1024)
            if self.leaked_bytes + size <= injection.leak_max_mb * 1024 * 1024:
                # filled with a non-zero byte so the pages are really resident, as leaked objects are
                self.leaked.append(b"\x01" * size)
                self.leaked_bytes += size
        delay = 0.0
        if injection.latency_growth_ms_per_min:
            minutes = (now - self.first_request_at) / 60.0
            delay += min(LATENCY_GROWTH_CAP_S, injection.latency_growth_ms_per_min * minutes / 1000.0)
        if injection.slow_recovery_s:
            if self.inflight > injection.slow_recovery_inflight:
                self.last_overload_at = now
            if self.last_overload_at is not None:
                fading = 1.0 - (now - self.last_overload_at) / injection.slow_recovery_s
                delay += max(0.0, fading) * injection.slow_recovery_ms / 1000.0
        return delay

    def on_response(self) -> None:
        self.inflight -= 1


class DriftMiddleware:
    """Applies the drift injection to every HTTP request but /metrics."""

    def __init__(self, app, injection: DriftInjection) -> None:
        self.app = app
        self.state = DriftState(injection)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in UNDELAYED_PATHS:
            await self.app(scope, receive, send)
            return
        delay = self.state.on_request()
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            await self.app(scope, receive, send)
        finally:
            self.state.on_response()
