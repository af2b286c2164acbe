"""A run folder's time series for the trend analyses: Locust's full-history CSV, the scraped memory
CSV, and the run's start, stop and phases from metrics.json. Malformed input raises Unjudgeable naming
the file and the field.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from gate import Unjudgeable
from gate.read.run import AGGREGATED, METRICS_FILE

HISTORY_FILE = "locust_stats_history.csv"
MEMORY_FILE = "memory.csv"
# Locust's history columns, under the names the analyses use
HISTORY_COLUMNS = {"Timestamp": "time", "User Count": "users", "Requests/s": "rps", "Failures/s": "fps",
                   "50%": "p50", "95%": "p95", "99%": "p99", "Total Request Count": "requests",
                   "Total Failure Count": "failures"}


def read_stats_history(folder: Path) -> pd.DataFrame:
    """Locust's --csv-full-history as rows of time, users, endpoint ("METHOD name" or "Aggregated"),
    rps, fps, p50, p95, p99 (ms, over Locust's sliding window; NaN before any request), requests, failures."""
    path = folder / HISTORY_FILE
    if not path.is_file():
        raise Unjudgeable(f"{path} is missing: run Locust with --csv PREFIX --csv-full-history")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise Unjudgeable(f"{path} cannot be read as Locust's history CSV: {error}") from None
    missing = set(HISTORY_COLUMNS) | {"Type", "Name"}
    missing -= set(raw.columns)
    if missing:
        raise Unjudgeable(f"{path} lacks the column(s) {', '.join(sorted(missing))} of Locust's history CSV")
    frame = pd.DataFrame({new: pd.to_numeric(raw[old], errors="coerce") for old, new in HISTORY_COLUMNS.items()})
    kind, name = raw["Type"].str.strip(), raw["Name"].str.strip()
    frame["endpoint"] = (kind + " " + name).where(kind != "", name)
    for column in ("p50", "p95", "p99"):  # Locust writes 0 for a window without requests: no value
        frame[column] = frame[column].mask(frame[column] <= 0)
    frame = frame.dropna(subset=["time"]).sort_values("time", kind="stable").reset_index(drop=True)
    if frame.empty or not (frame["endpoint"] == AGGREGATED).any():
        raise Unjudgeable(f"{path} has no Aggregated rows: the run recorded nothing")
    return frame


def read_memory(folder: Path) -> pd.DataFrame | None:
    """The scraper's memory.csv (time, rss_bytes, ...), or None when there is none."""
    path = folder / MEMORY_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise Unjudgeable(f"{path} cannot be read: {error}") from None
    if "time" not in frame.columns or "rss_bytes" not in frame.columns:
        raise Unjudgeable(f"{path} lacks the time or rss_bytes column (not written by `gate.trends scrape`?)")
    frame = frame.apply(pd.to_numeric, errors="coerce").dropna(subset=["time"])
    return frame.sort_values("time").reset_index(drop=True)


def read_run_facts(folder: Path) -> dict:
    """metrics.json's start, stop, spawn end and phases (Unix seconds); gate.read.run judges
    the rest of the file."""
    path = folder / METRICS_FILE
    if not path.is_file():
        raise Unjudgeable(f"{path} is missing: Locust did not finish cleanly (the suite writes it when Locust quits)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise Unjudgeable(f"{path} is not valid JSON: {error}") from None
    if not isinstance(metrics, dict):
        raise Unjudgeable(f"{path} should be an object")
    facts = {"profile": metrics.get("profile"), "settings": metrics.get("settings") or {},
             "cpu_warning": metrics.get("cpu_warning") is True}
    for key in ("started_at", "stopped_at", "spawn_complete_at"):
        value = metrics.get(key)
        facts[key] = _unix(value, f"{path}: {key}") if value else None
    if facts["started_at"] is None or facts["stopped_at"] is None:
        raise Unjudgeable(f"{path} lacks started_at or stopped_at")
    phases = metrics.get("phases") or []
    if not isinstance(phases, list):
        raise Unjudgeable(f"{path}: phases should be a list")
    clean = []
    for index, phase in enumerate(phases):
        try:
            start, users = float(phase["start"]), int(phase["users"])
            end = float(phase["end"]) if phase.get("end") is not None else facts["stopped_at"]
            name = str(phase["name"])
        except (KeyError, TypeError, ValueError):
            raise Unjudgeable(f"{path}: phases[{index}] should have name, users, start and end") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise Unjudgeable(f"{path}: phases[{index}] ends before it starts")
        clean.append({"name": name, "users": users, "start": start, "end": end})
    facts["phases"] = clean
    return facts


def _unix(value: object, where: str) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise Unjudgeable(f"{where} is not an ISO-8601 time: {value!r:.40}") from None


def aggregated(history: pd.DataFrame) -> pd.DataFrame:
    return history[history["endpoint"] == AGGREGATED].reset_index(drop=True)
