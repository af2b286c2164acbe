"""Synthetic data for the trend analyses' tests: time series shaped like Locust's full-history
CSV and the scraper's memory.csv, run folders built from them, and the real CLI as a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

BUNDLE = Path(__file__).resolve().parents[2]
FIXTURES = BUNDLE / "tests" / "fixtures" / "trends"
POLICY = BUNDLE / "baselines" / "policy.yml"
START = 1_795_680_000.0  # a whole second, as Locust's Timestamp column is
HISTORY_HEADER = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "66%", "75%",
                  "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%", "Total Request Count",
                  "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
                  "Total Min Response Time", "Total Max Response Time", "Total Average Content Size"]


def trends_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate.trends", *args], cwd=BUNDLE, capture_output=True,
                          text=True, timeout=180, check=False)


def aggregated_frame(p95, users=20, rps=10.0, failure_ratio=0.0, start=START) -> pd.DataFrame:
    """The Aggregated rows the analyses read: one a second, p95 as given (p50 at 60% of it)."""
    p95 = np.asarray(p95, dtype=float)
    seconds = np.arange(len(p95), dtype=float)
    users = np.broadcast_to(np.asarray(users), p95.shape).astype(float)
    rps = np.broadcast_to(np.asarray(rps, dtype=float), p95.shape)
    failure_ratio = np.broadcast_to(np.asarray(failure_ratio, dtype=float), p95.shape)
    requests = np.cumsum(rps)
    failures = np.cumsum(rps * failure_ratio)
    return pd.DataFrame({"time": start + seconds, "users": users, "rps": rps, "fps": rps * failure_ratio,
                         "p50": p95 * 0.6, "p95": p95, "p99": p95 * 1.3, "requests": np.round(requests),
                         "failures": np.round(failures), "endpoint": "Aggregated"})


def write_history_csv(path: Path, frames: list[pd.DataFrame]) -> None:
    """Locust's --csv-full-history file from analysis-shaped frames (one per endpoint)."""
    rows = pd.concat(frames).sort_values("time", kind="stable")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HISTORY_HEADER)
        for row in rows.itertuples(index=False):
            kind, _, name = row.endpoint.partition(" ") if row.endpoint != "Aggregated" else ("", "", "Aggregated")
            p50, p95, p99 = ("N/A" if np.isnan(v) else int(v) for v in (row.p50, row.p95, row.p99))
            writer.writerow([int(row.time), int(row.users), kind, name, row.rps, row.fps, p50, p50, p50, p95, p95,
                             p95, p99, p99, p99, p99, p99, int(row.requests), int(row.failures), 0, 0, 0, 0, 0])


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_run_folder(folder: Path, frames: list[pd.DataFrame], phases: list[dict] | None = None,
                     memory: pd.DataFrame | None = None, profile: str = "soak") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_history_csv(folder / "locust_stats_history.csv", frames)
    first = min(frame["time"].min() for frame in frames)
    last = max(frame["time"].max() for frame in frames)
    (folder / "metrics.json").write_text(json.dumps({
        "schema": 1, "profile": profile, "settings": {"users": 20, "spawn_rate": 2.0, "run_time_s": last - first},
        "phases": phases or [], "started_at": iso(first), "spawn_complete_at": iso(first + 10),
        "stopped_at": iso(last + 1)}))
    if memory is not None:
        memory.to_csv(folder / "memory.csv", index=False)
    return folder


def memory_frame(mb_per_hour: float, seconds: int = 240, every: float = 2.0, noise_mb: float = 0.5,
                 seed: int = 0, start=START) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = np.arange(0, seconds, every, dtype=float)
    rss_mb = 90.0 + mb_per_hour * times / 3600.0 + rng.normal(0.0, noise_mb, len(times))
    return pd.DataFrame({"time": start + times, "rss_bytes": rss_mb * 1024 * 1024,
                         "virtual_bytes": 5e8, "open_fds": 40})
