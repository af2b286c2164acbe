"""Per-client-IP rate limits with the gateway's numbers and its 429 body.

The client IP is the peer address, or the first X-Forwarded-For entry when the peer is loopback:
a load generator on the same host gives each virtual user its own 127.x.y.z, as distinct real
clients would be. A remote peer cannot choose its bucket that way.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class RateLimit:
    count: int
    period: str  # "minute", "hour", ...

    @property
    def seconds(self) -> int:
        return PERIOD_SECONDS[self.period]

    def describe(self) -> str:
        return f"{self.count} per 1 {self.period}"


DEFAULT_LIMITS = {
    "register": RateLimit(5, "hour"),
    "login": RateLimit(10, "minute"),
    "refresh": RateLimit(20, "minute"),
    "health": RateLimit(100, "minute"),
    "health_detailed": RateLimit(50, "minute"),
}


def parse_rate_limits(spec: str) -> dict[str, RateLimit]:
    """`""` → the contract's limits; `off` → none; `login=1000/minute,health=off` → overrides."""
    spec = spec.strip()
    if spec == "off":
        return {}
    limits = dict(DEFAULT_LIMITS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"unknown rate limit {name!r}; known: {', '.join(DEFAULT_LIMITS)}")
        if value.strip() == "off":
            limits.pop(name, None)
            continue
        count, _, period = value.partition("/")
        if period not in PERIOD_SECONDS:
            raise ValueError(f"rate limit {item!r}: period must be one of {', '.join(PERIOD_SECONDS)}")
        limits[name] = RateLimit(int(count), period)
    return limits


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_ip(peer_host: str | None, forwarded_for: str | None) -> str:
    if forwarded_for and _is_loopback(peer_host):
        first = forwarded_for.split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(first))
        except ValueError:
            pass
    return peer_host or "unknown"


def request_ip(request: Request) -> str:
    return client_ip(request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


class RateLimitExceeded(Exception):
    def __init__(self, limit: RateLimit) -> None:
        super().__init__(limit.describe())
        self.limit = limit


def rate_limit_response(exc: RateLimitExceeded) -> JSONResponse:
    return JSONResponse(
        {"error": f"Rate limit exceeded: {exc.limit.describe()}"},
        status_code=429,
        headers={"Retry-After": str(exc.limit.seconds)},
    )


def limited(name: str):
    """A FastAPI dependency counting the request in the named limit's fixed window."""

    async def check(request: Request) -> None:
        limit = request.app.state.settings.rate_limits.get(name)
        if limit is None:
            return
        window = int(time.time() // limit.seconds)
        key = f"rl:{name}:{request_ip(request)}:{window}"
        if await request.app.state.keystore.incr_window(key, limit.seconds) > limit.count:
            raise RateLimitExceeded(limit)

    return check
