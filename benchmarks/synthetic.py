"""Synthetic run folders shaped exactly like the runner's (stats.json, metrics.json, failures and
history CSVs), for the gate's tests, its analysis-time benchmark and calibration studies.

Latencies are log-normal around each endpoint's median; a run-wide factor models a slower or faster
machine, as shared CI runners are.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gate.read.histogram import locust_buckets

SUITE_VERSION = "0.1.0"
LOCUST_VERSION = "2.47.0"
START = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)

# Orientation figures of docs/voiceassist-api.md (ms): median, and requests per minute at 10 users.
VOICEASSIST_ENDPOINTS = {
    "GET /health": (28.0, 120),
    "GET /health/detailed": (54.0, 30),
    "GET /api/auth/me": (79.0, 60),
    "GET /api/admin/kb/documents": (105.0, 20),
    "GET /api/conversations": (123.0, 30),
    "GET /metrics": (149.0, 10),
    "POST /api/auth/login": (420.0, 8),
    "WS /api/realtime/ws connect": (35.0, 20),
    "WS /api/realtime/ws first chunk": (120.0, 40),
    "WS /api/realtime/ws message.done": (201.0, 40),
}


@dataclass
class EndpointShape:
    median_ms: float
    requests: int
    sigma: float = 0.25  # log-normal shape: p95 is about 1.5x the median
    failures: int = 0
    error: str = "HTTPError('500 Server Error: Internal Server Error')"
    # a regression of the distribution's shape: a random share of the requests slowed by a factor (a
    # second mode), and the slowest share slowed by a factor (the tail alone; the median unchanged)
    mode_share: float = 0.0
    mode_factor: float = 1.0
    tail_share: float = 0.0
    tail_factor: float = 1.0
    # False: the machine's speed (RunShape.run_factor) does not touch it, as a fixed upstream wait would not
    follows_machine: bool = True


@dataclass
class RunShape:
    profile: str = "smoke"
    endpoints: dict[str, EndpointShape] = field(default_factory=dict)
    duration_s: float = 120.0
    users: int = 10
    run_factor: float = 1.0  # every latency multiplied by this (a slower or faster machine)
    endpoint_cv: float = 0.0  # and each endpoint's by its own log-normal factor of this spread
    cpu_warning: bool = False
    history: bool = False
    counters: dict[str, int] = field(default_factory=lambda: {
        "auth_failures": 0, "rate_limit_hits": 0, "ws_connections": 12, "ws_failures": 0,
        "document_uploads": 0, "document_upload_failures": 0, "queries_with_citations": 30,
        "queries_without_citations": 0})


def smoke_shape(minutes: float = 2.0, **overrides) -> RunShape:
    endpoints = {name: EndpointShape(median, max(int(per_minute * minutes), 1))
                 for name, (median, per_minute) in VOICEASSIST_ENDPOINTS.items()}
    return RunShape(endpoints=endpoints, duration_s=minutes * 60.0, **overrides)


def write_run(folder: str | Path, shape: RunShape, seed: int) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = START.timestamp()
    entries, failures = [], []
    for name, endpoint in shape.endpoints.items():
        method, path = name.split(" ", 1)
        machine = shape.run_factor if endpoint.follows_machine else 1.0
        factor = machine * float(np.exp(rng.normal(0.0, shape.endpoint_cv))) if shape.endpoint_cv else machine
        samples = endpoint.median_ms * factor * np.exp(rng.normal(0.0, endpoint.sigma, endpoint.requests))
        samples = _reshaped(samples, endpoint, rng)
        values, counts = np.unique(locust_buckets(samples), return_counts=True)
        seconds = np.sort(rng.uniform(0, shape.duration_s, endpoint.requests)).astype(int) + int(start)
        per_second_values, per_second_counts = np.unique(seconds, return_counts=True)
        entries.append({
            "name": path,
            "method": method,
            "last_request_timestamp": float(seconds[-1]) if len(seconds) else None,
            "start_time": start,
            "num_requests": int(endpoint.requests),
            "num_none_requests": 0,
            "num_failures": int(endpoint.failures),
            "total_response_time": float(samples.sum()),
            "max_response_time": float(samples.max()) if len(samples) else 0,
            "min_response_time": float(samples.min()) if len(samples) else None,
            "total_content_length": int(endpoint.requests) * 100,
            "response_times": {_key(v): int(c) for v, c in zip(values.tolist(), counts.tolist())},
            "num_reqs_per_sec": {str(s): int(c) for s, c in zip(per_second_values.tolist(),
                                                                  per_second_counts.tolist())},
            "num_fail_per_sec": _failures_per_second(per_second_values, per_second_counts, endpoint.failures),
        })
        if endpoint.failures:
            failures.append([method, path, endpoint.error, endpoint.failures])
    (folder / "stats.json").write_text(json.dumps(entries), encoding="utf-8")
    with open(folder / "locust_failures.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Method", "Name", "Error", "Occurrences"])
        writer.writerows(failures)
    if shape.history:
        _write_history(folder / "locust_stats_history.csv", shape, int(start))
    metrics = {
        "schema": 1, "profile": shape.profile, "locust_version": LOCUST_VERSION, "suite_version": SUITE_VERSION,
        "target": {"host": "http://127.0.0.1:8000", "chat_transport": "websocket", "stack_mode": "embedded"},
        "settings": {"users": shape.users, "spawn_rate": 2.0, "run_time_s": int(shape.duration_s), "scale": 1.0},
        "started_at": START.isoformat().replace("+00:00", "Z"),
        "stopped_at": (START + timedelta(seconds=shape.duration_s + 1)).isoformat().replace("+00:00", "Z"),
        "cpu_warning": shape.cpu_warning,
        "counters": shape.counters,
        "machine": {"cpu_count": 2, "platform": "Linux-x86_64"},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return folder


def _reshaped(samples: np.ndarray, endpoint: EndpointShape, rng: np.random.Generator) -> np.ndarray:
    samples = samples.copy()
    if endpoint.mode_share:
        samples[rng.random(len(samples)) < endpoint.mode_share] *= endpoint.mode_factor
    if endpoint.tail_share and len(samples):
        samples[samples >= np.quantile(samples, 1.0 - endpoint.tail_share)] *= endpoint.tail_factor
    return samples


def _failures_per_second(seconds: np.ndarray, counts: np.ndarray, failures: int) -> dict[str, int]:
    """Spreads the endpoint's failures over the seconds it had requests in, as Locust counts them."""
    spread: dict[str, int] = {}
    for second, count in zip(seconds.tolist(), counts.tolist()):
        taken = min(count, failures - sum(spread.values()))
        if taken <= 0:
            break
        spread[str(second)] = taken
    return spread


def _key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _write_history(path: Path, shape: RunShape, start: int) -> None:
    """Locust's --csv-full-history: one row per endpoint (and Aggregated) per second."""
    header = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "66%", "75%", "80%",
              "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%", "Total Request Count",
              "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
              "Total Min Response Time", "Total Max Response Time", "Total Average Content Size"]
    seconds = int(shape.duration_s)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        names = [*shape.endpoints, "Aggregated"]
        for second in range(seconds):
            for name in names:
                endpoint = shape.endpoints.get(name)
                method, path_name = name.split(" ", 1) if endpoint else ("", "Aggregated")
                median = endpoint.median_ms if endpoint else 100.0
                done = int((endpoint.requests if endpoint else 1000) * (second + 1) / seconds)
                writer.writerow([start + second, shape.users, method, path_name, 1.0, 0.0,
                                 *[int(median * f) for f in (1, 1.1, 1.2, 1.3, 1.5, 1.7, 2, 2.2, 3, 3.5, 4)],
                                 done, 0, int(median), median, int(median / 2), int(median * 4), 100])
