"""Deliberate slowdowns, injected to prove that the gate detects a regression of a known size.

VOICEASSIST_INJECT_LATENCY="GET /api/auth/me=+30%; chat=+150ms"
- `METHOD /route/template=+N%` delays the response by N% of the time the route took;
- `METHOD /route/template=+Nms` delays it by N milliseconds;
- `chat=...` applies to the chat path (WebSocket messages and POST /api/chat): `+Nms` before
  the first chunk, `+N%` of the answer's duration before `message.done`.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

_RULE = re.compile(
    r"^\s*(?P<target>chat|[A-Z]+ /\S*)\s*=\s*\+?(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>%|ms)\s*$"
)


@dataclass(frozen=True)
class Slowdown:
    amount: float
    unit: str  # "%" or "ms"

    def delay_s(self, elapsed_s: float) -> float:
        return elapsed_s * self.amount / 100 if self.unit == "%" else self.amount / 1000


# uvloop's timers count whole milliseconds (rounded) from the loop's cached time
TIMER_S = 0.001


async def wait_at_least(seconds: float) -> None:
    """Sleep `seconds` of real time: not less, and not a millisecond more. Under uvloop a timer counts
    whole milliseconds from the loop's cached time: one asyncio.sleep(0.00126) lasted 1.1 ms, and one
    asyncio.sleep(0.00064) lasted 1.07 ms, so a 0.64-ms injection slowed a route by 1.1 ms. So timers
    only while more than two of their milliseconds remain, each a millisecond short of the deadline
    (rounding cannot carry it past); then the loop goes round (other requests go on) until the deadline."""
    deadline = time.perf_counter() + seconds
    while (remaining := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(remaining - TIMER_S if remaining > 2 * TIMER_S else 0)


@dataclass(frozen=True)
class InjectedLatency:
    routes: dict[str, Slowdown] = field(default_factory=dict)  # "GET /api/auth/me" → slowdown
    chat: Slowdown | None = None

    def for_route(self, method: str, template: str) -> Slowdown | None:
        return self.routes.get(f"{method} {template}") if self.routes else None


def parse_injected_latency(spec: str) -> InjectedLatency:
    routes: dict[str, Slowdown] = {}
    chat = None
    for item in filter(None, (part.strip() for part in re.split(r"[;\n]", spec))):
        match = _RULE.match(item)
        if not match:
            raise ValueError(
                f"VOICEASSIST_INJECT_LATENCY: cannot read {item!r}; "
                "expected 'GET /api/auth/me=+30%' or 'chat=+150ms'"
            )
        slowdown = Slowdown(float(match["amount"]), match["unit"])
        if match["target"] == "chat":
            chat = slowdown
        else:
            routes[match["target"]] = slowdown
    return InjectedLatency(routes, chat)
