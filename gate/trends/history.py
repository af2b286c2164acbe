"""The nightly history: one compact record per nightly soak (per-endpoint p50/p95/p99, failure ratio,
throughput, drift slopes; commit and date), kept as JSON lines on a dedicated branch.

A record is small (a few KB for 25 endpoints) so a year of nights stays a file git handles well.
The percentiles come from the run's histograms through the gate's own readers (gate.read.run,
gate.judge.statistics), so a night's p95 is the same figure the gate would report for that run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from gate import Unjudgeable
from gate.read.histogram import merge_histograms, percentile
from gate.read.policy import DEFAULT_DIRECTION, LATENCY_METRICS, LOWER_IS_WORSE, METRICS
from gate.read.run import AGGREGATED, read_run

SCHEMA = 1
DRIFT_METRICS = ("p95_ms_per_hour", "rss_mb_per_hour")


def record_from_run(folder: Path, commit: str | None = None, date: str | None = None) -> dict:
    """The night's record from a soak's run folder (and its trends.json, for the drift slopes)."""
    run = read_run(folder)
    if run.total_requests == 0:
        raise Unjudgeable(f"{folder} recorded zero requests: nothing to add to the history")
    endpoints = {name: (record.num_requests, record.num_failures, record.histogram)
                 for name, record in run.endpoints.items()}
    endpoints[AGGREGATED] = (run.total_requests, sum(r.num_failures for r in run.endpoints.values()),
                             merge_histograms([record.histogram for record in run.endpoints.values()]))
    metrics = {}
    for name, (requests, failures, histogram) in sorted(endpoints.items()):
        figures = {metric: (round(float(percentile(histogram, quantile)), 1) if histogram.total else None)
                   for metric, quantile in LATENCY_METRICS.items()}
        figures["failure_ratio"] = round(failures / requests, 6) if requests else None
        figures["throughput"] = round(requests / run.duration_s, 4)
        metrics[name] = figures
    drift = {}
    trends = folder / "trends.json"
    if trends.is_file():
        try:
            document = json.loads(trends.read_text(encoding="utf-8"))
        except ValueError:
            raise Unjudgeable(f"{trends} is not valid JSON") from None
        if document.get("kind") == "soak":
            for key, section in (("p95_ms_per_hour", "latency"), ("rss_mb_per_hour", "memory")):
                drift[key] = (document.get(section) or {}).get("slope_per_hour")
    return {"schema": SCHEMA, "date": date or run.started_at, "commit": commit or current_commit(),
            "profile": run.profile, "duration_s": round(run.duration_s, 1), "metrics": metrics,
            "drift": drift}


def current_commit() -> str:
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def append_record(path: Path, record: dict) -> int:
    """Adds the night (replacing a record of the same date and commit: a rerun of the same night);
    returns the number of nights."""
    records = read_history(path) if path.is_file() else []
    records = [r for r in records if (r["date"], r["commit"]) != (record["date"], record["commit"])]
    records.append(record)
    records.sort(key=lambda r: r["date"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)
    return len(records)


def read_history(path: Path) -> list[dict]:
    if not path.is_file():
        raise Unjudgeable(f"history {path} does not exist (no night appended yet?)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise Unjudgeable(f"{path}:{number}: not a JSON record (truncated or merged by hand?)") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA or not isinstance(record.get("metrics"), dict) \
                or not isinstance(record.get("date"), str) or not isinstance(record.get("commit"), str):
            raise Unjudgeable(f"{path}:{number}: not a schema-{SCHEMA} night (date, commit, metrics)")
        records.append(record)
    return sorted(records, key=lambda r: r["date"])


def history_series(records: list[dict]) -> dict[str, list[float | None]]:
    """Every metric of every endpoint (and each drift slope) as one series over the nights, in order;
    a night without the figure has None there."""
    names = sorted({f"{endpoint} {metric}" for record in records for endpoint, figures in record["metrics"].items()
                    for metric in figures if metric in METRICS}
                   | {name for record in records for name in (record.get("drift") or {}) if name in DRIFT_METRICS})
    series: dict[str, list[float | None]] = {name: [] for name in names}
    for record in records:
        for name in names:
            endpoint, _, metric = name.rpartition(" ")
            value = (record.get("drift") or {}).get(name) if name in DRIFT_METRICS else \
                (record["metrics"].get(endpoint) or {}).get(metric)
            series[name].append(float(value) if isinstance(value, int | float) and np.isfinite(value) else None)
    return series


def worse_direction(series_name: str) -> int:
    """+1 when a higher value is worse for this series, -1 when a lower one is."""
    return -1 if DEFAULT_DIRECTION.get(series_name.rpartition(" ")[2]) == LOWER_IS_WORSE else 1


def synthetic_history(nights: int = 120, shifts: tuple[tuple[int, float], ...] = (), seed: int = 0,
                      noise_cv: float = 0.03, endpoints: dict[str, float] | None = None) -> list[dict]:
    """Nights of a soak with log-normal night-to-night noise and step shifts: (night index, relative
    change) applied from that night on to every latency (and inversely to throughput). For tests and
    calibration of the change-point detection."""
    rng = np.random.default_rng(seed)
    endpoints = endpoints or {"Aggregated": 180.0, "GET /api/auth/me": 80.0, "WS /api/realtime/ws first chunk": 120.0}
    records = []
    for night in range(nights):
        factor = float(np.prod([1.0 + change for start, change in shifts if night >= start] or [1.0]))
        metrics = {}
        for endpoint, median in endpoints.items():
            noise = rng.lognormal(0.0, noise_cv, 3)
            metrics[endpoint] = {
                "p50": round(median * factor * noise[0], 1),
                "p95": round(1.6 * median * factor * noise[1], 1),
                "p99": round(2.2 * median * factor * noise[2], 1),
                "failure_ratio": 0.0,
                "throughput": round(20.0 / factor * rng.lognormal(0.0, noise_cv), 3),
            }
        records.append({"schema": SCHEMA, "date": f"2026-{1 + night // 28:02d}-{1 + night % 28:02d}T02:00:00+00:00",
                        "commit": f"{night:04d}" + "a" * 36, "profile": "soak", "duration_s": 3600.0,
                        "metrics": metrics, "drift": {"rss_mb_per_hour": round(float(rng.normal(0, 2)), 2)}})
    return records
