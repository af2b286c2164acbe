"""Benchmark of the stack on this machine: throughput and p50/p95 per endpoint, per storage mode.

    python -m stack bench [--modes embedded,pg] [--clients 10] [--requests 300] [--seconds 20]

A script that prints figures, not a test. Each mode gets a fresh stack (and, for pg, a fresh
database and Redis prefix, dropped afterwards). Rate limits are off, because the bench measures
the service, not the limiter; bcrypt keeps its real cost, so login is measured at 4 clients, as
the contract's table does. The load generator shares the machine's cores with the stack.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket

from stack.sandbox import DEFAULT_POSTGRES, DEFAULT_REDIS, SandboxError, running_stack, service_storage

BENCH_POSTGRES = os.environ.get("VOICEASSIST_BENCH_POSTGRES", DEFAULT_POSTGRES)
BENCH_REDIS = os.environ.get("VOICEASSIST_BENCH_REDIS", DEFAULT_REDIS)
QUESTIONS = [
    "What is first-line treatment for hypertension?",
    "How is warfarin monitored?",
    "What are the symptoms of diabetic ketoacidosis?",
]
DOCUMENT = (
    "Hypertension is treated first with lifestyle change; thiazide diuretics, ACE inhibitors and calcium "
    "channel blockers are first-line drugs. Warfarin is monitored with the INR. Diabetic ketoacidosis presents "
    "with polyuria, vomiting, abdominal pain and Kussmaul breathing. "
) * 60


@dataclass
class Measurement:
    endpoint: str
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def row(self) -> list:
        ordered = sorted(self.latencies_ms)

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

        return [
            self.endpoint,
            self.clients,
            len(ordered),
            round(len(ordered) / self.wall_s, 1) if self.wall_s else 0,
            round(statistics.median(ordered), 1) if ordered else "-",
            round(pct(0.95), 1),
            sum(1 for s in self.statuses if s >= 400),
            sum(1 for s in self.statuses if s >= 500),
        ]


def measure(
    endpoint: str, clients: int, total: int, seconds: float, call: Callable[[int], int]
) -> Measurement:
    """`total` calls spread over `clients` threads, stopped early at `seconds`; `call(client)` → status."""
    result = Measurement(endpoint, clients)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    remaining = iter(range(total))

    def worker(client: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            try:
                status = call(client)
            except (requests.RequestException, websocket.WebSocketException, OSError):
                status = 599
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                result.latencies_ms.append(elapsed)
                result.statuses.append(status)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    result.wall_s = time.perf_counter() - started
    return result


class BenchClient:
    def __init__(self, base_url: str, number: int) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-Forwarded-For"] = f"127.77.{number // 250}.{1 + number % 250}"
        self.token = ""

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.session.request(method, self.base_url + path, headers=headers, timeout=60, **kwargs)

    def login(self, email: str, password: str) -> int:
        response = self.call("POST", "/api/auth/login", json={"email": email, "password": password})
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response.status_code


def ws_message(base_url: str, token: str, question: str) -> int:
    ws = websocket.create_connection(
        base_url.replace("http", "ws", 1) + f"/api/realtime/ws?token={token}", timeout=30
    )
    try:
        ws.recv()
        ws.send(json.dumps({"type": "message", "content": question}))
        while True:
            frame = json.loads(ws.recv())
            if frame["type"] == "message.done":
                return 200
            if frame["type"] == "error":
                return 502
    finally:
        ws.close()


def bench_stack(
    base_url: str, accounts: list[dict], password: str, clients: int, total: int, seconds: float
) -> list[Measurement]:
    admin_email = next(a["email"] for a in accounts if a["role"] == "admin")
    user_emails = [a["email"] for a in accounts if a["role"] == "user"]
    admin = BenchClient(base_url, 0)
    admin.login(admin_email, password)
    for number in range(3):
        admin.call(
            "POST",
            "/api/admin/kb/documents",
            params={"title": f"Bench guide {number}"},
            files={"file": (f"guide{number}.txt", DOCUMENT.encode())},
        )
    users = [BenchClient(base_url, 1 + n) for n in range(clients)]
    for n, user in enumerate(users):
        user.login(user_emails[n % len(user_emails)], password)
        user.call("POST", "/api/conversations", json={"title": "bench"})

    def get(path: str, as_admin: bool = False) -> Callable[[int], int]:
        return lambda c: (users[c] if not as_admin else admin_pool[c]).call("GET", path).status_code

    admin_pool = [BenchClient(base_url, 100 + n) for n in range(clients)]
    for client in admin_pool:
        client.token = admin.token

    plan = [
        ("GET /health", get("/health")),
        ("GET /health/detailed", get("/health/detailed")),
        ("GET /api/auth/me", get("/api/auth/me")),
        ("GET /api/admin/kb/documents", get("/api/admin/kb/documents", as_admin=True)),
        ("GET /api/conversations", get("/api/conversations")),
        ("GET /metrics", get("/metrics")),
    ]
    results = [measure(name, clients, total, seconds, call) for name, call in plan]
    logins = [BenchClient(base_url, 200 + n) for n in range(4)]
    results.append(
        measure(
            "POST /api/auth/login",
            4,
            max(8, total // 10),
            seconds,
            lambda c: logins[c].login(user_emails[c % len(user_emails)], password),
        )
    )
    results.append(
        measure(
            "WS message → message.done",
            clients,
            max(20, total // 3),
            seconds,
            lambda c: ws_message(base_url, users[c].token, QUESTIONS[c % len(QUESTIONS)]),
        )
    )
    return results


def _print_table(mode: str, results: list[Measurement]) -> None:
    header = ["endpoint", "clients", "requests", "req/s", "p50 ms", "p95 ms", "4xx+5xx", "5xx"]
    rows = [header] + [[str(cell) for cell in m.row()] for m in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"\n## {mode}")
    for index, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def run_mode(mode: str, clients: int, total: int, seconds: float, workers: int) -> list[Measurement]:
    seed = {"regular": clients, "admin": 1}
    with ExitStack() as cleanup:
        workdir = Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix=f"voiceassist-bench-{mode}-"))
        )
        env = {"VOICEASSIST_RATE_LIMITS": "off"}
        if mode == "pg":
            env |= cleanup.enter_context(service_storage("bench", BENCH_POSTGRES, BENCH_REDIS))
        stack = cleanup.enter_context(
            running_stack(mode, workdir, env, seed=seed, workers=workers, bcrypt_rounds=None)
        )
        return bench_stack(stack.base_url, stack.all_accounts, stack.password, clients, total, seconds)


def run_bench(modes: list[str], clients: int, total: int, seconds: float, workers: int = 1) -> int:
    unknown = set(modes) - {"embedded", "pg"}
    if unknown:
        print(f"stack: unknown bench mode(s) {', '.join(sorted(unknown))}; use embedded, pg", file=sys.stderr)
        return 2
    print(
        f"# VoiceAssist reference stack bench: {clients} clients, up to {total} requests or {seconds:g} s "
        f"per endpoint, {os.cpu_count()} CPUs, {workers} worker(s)"
    )
    for mode in modes:
        try:
            _print_table(mode, run_mode(mode, clients, total, seconds, workers))
        except SandboxError as exc:
            print(f"stack: {mode}: {exc}", file=sys.stderr)
            return 1
    return 0
