"""Soak drift: does latency or memory grow over the run? A robust slope with its confidence.

The slope is Theil–Sen's (median of pairwise slopes, with its confidence interval), its
significance Mann–Kendall's (Kendall's tau against time), both from scipy. Locust's history rows
come every second but each percentile covers a sliding ~10 s window, so neighbouring rows share
their requests; the series is thinned to one value per window first, else the test would count
the same requests ten times and call noise significant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats

SECONDS_PER_HOUR = 3600.0
MB = 1024.0 * 1024.0
# Locust's "current" percentiles cover about this many seconds of requests.
LOCUST_WINDOW_S = 10.0
# prometheus-client's process collector: what a memory scrape keeps (the CSV's columns)
PROCESS_GAUGES = {
    "process_resident_memory_bytes": "rss_bytes",
    "process_virtual_memory_bytes": "virtual_bytes",
    "process_open_fds": "open_fds",
}
MEMORY_COLUMNS = ("time", *PROCESS_GAUGES.values())


@dataclass(frozen=True)
class SoakLimits:
    """How much growth per hour a soak may show before it counts as drifting (significant growth only)."""

    # Measured on this bundle's reference stack (docs/trends.md): an unchanged 4-minute soak at 20 users
    # shows no significant p95 trend and ~80 MB/hour of RSS warm-up growth (caches filling); the
    # injected leak (20 KB/request) ~900 MB/hour, the injected latency growth (20 ms/min) 1200 ms/hour.
    p95_ms_per_hour: float = 300.0
    rss_mb_per_hour: float = 250.0
    alpha: float = 0.01  # Mann–Kendall significance level
    warmup_fraction: float = 0.15  # the start of the run (spawning, cold caches) is not judged
    min_points: int = 8  # fewer thinned points than this: cannot judge the trend


@dataclass(frozen=True)
class Trend:
    """A robust linear trend of one series: slope per hour with its confidence interval."""

    slope_per_hour: float
    low_per_hour: float
    high_per_hour: float
    p_value: float
    significant: bool
    points: int
    level: float  # the series' median, to put the slope in proportion

    def as_dict(self) -> dict:
        return {name: _plain(value) for name, value in asdict(self).items()}


def _plain(value):
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return None if not np.isfinite(value) else round(float(value), 4)


def robust_trend(times_s: np.ndarray, values: np.ndarray, alpha: float = 0.01) -> Trend:
    """Theil–Sen slope (per hour) with its 1 - alpha confidence interval, Mann–Kendall p-value."""
    times_h = np.asarray(times_s, dtype=float) / SECONDS_PER_HOUR
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(times_h) & np.isfinite(values)
    times_h, values = times_h[keep], values[keep]
    if len(values) < 3 or np.ptp(times_h) == 0:
        raise ValueError(f"a trend needs at least 3 points over time, got {len(values)}")
    slope, _intercept, low, high = stats.theilslopes(values, times_h, alpha=1.0 - alpha)
    if np.ptp(values) == 0:
        p_value = 1.0  # a constant series does not trend (Kendall's tau is undefined on it)
    else:
        p_value = float(stats.kendalltau(times_h, values).pvalue)
    return Trend(float(slope), float(low), float(high), p_value, bool(p_value < alpha), len(values),
                 float(np.median(values)))


def thin(frame: pd.DataFrame, column: str, every_s: float = LOCUST_WINDOW_S) -> pd.DataFrame:
    """One row per non-overlapping window of `every_s` seconds (its last value), so no two points
    share requests; rows without a value are dropped first."""
    frame = frame.dropna(subset=[column])
    if frame.empty:
        return frame
    bins = ((frame["time"] - frame["time"].iloc[0]) // every_s).astype(int)
    return frame.groupby(bins, sort=True).tail(1)


def judged_window(frame: pd.DataFrame, start: float, end: float, warmup_fraction: float,
                  spawn_complete: float | None = None) -> pd.DataFrame:
    """The rows after the warm-up: the later of the spawn's end and `warmup_fraction` of the run."""
    begin = start + warmup_fraction * (end - start)
    if spawn_complete is not None:
        begin = max(begin, spawn_complete)
    return frame[(frame["time"] >= begin) & (frame["time"] <= end)]


def latency_drift(aggregated: pd.DataFrame, limits: SoakLimits, column: str = "p95") -> dict:
    """The trend of the Aggregated row's windowed percentile; judged against the policy's limit."""
    points = thin(aggregated, column)
    if len(points) < limits.min_points:
        return _unjudged(f"only {len(points)} independent {column} values after the warm-up "
                         f"(need {limits.min_points}): run the soak longer")
    trend = robust_trend(points["time"].to_numpy(), points[column].to_numpy(), limits.alpha)
    return _judged(trend, limits.p95_ms_per_hour, "ms/hour", f"{column} ", 1.0 - limits.alpha)


def memory_drift(memory: pd.DataFrame, limits: SoakLimits) -> dict:
    """The trend of the server's resident memory (MB/hour); judged against the policy's limit."""
    points = memory.dropna(subset=["rss_bytes"])
    if len(points) < limits.min_points:
        return _unjudged(f"only {len(points)} memory samples after the warm-up (need {limits.min_points}): "
                         "was the /metrics scraper running, and does the target expose "
                         "process_resident_memory_bytes?")
    trend = robust_trend(points["time"].to_numpy(), points["rss_bytes"].to_numpy() / MB, limits.alpha)
    return _judged(trend, limits.rss_mb_per_hour, "MB/hour", "RSS ", 1.0 - limits.alpha)


def _judged(trend: Trend, limit: float, unit: str, label: str, confidence: float) -> dict:
    drifting = trend.significant and trend.slope_per_hour > limit
    significance = f"significant, p={trend.p_value:.2g}" if trend.significant else \
        f"not significant, p={trend.p_value:.2g}"
    verb = "grew" if trend.slope_per_hour >= 0 else "fell"
    sentence = (f"{label}{verb} {abs(trend.slope_per_hour):.0f} {unit} ({significance}; {confidence:.0%} CI "
                f"{trend.low_per_hour:.0f}..{trend.high_per_hour:.0f}; limit {limit:g} {unit})")
    return {"status": "fail" if drifting else "pass", "drifting": drifting, "limit": limit, "unit": unit,
            "sentence": sentence, **trend.as_dict()}


def _unjudged(reason: str) -> dict:
    return {"status": "unjudgeable", "drifting": None, "sentence": reason}


def soak_drift(aggregated: pd.DataFrame, memory: pd.DataFrame | None, limits: SoakLimits,
               run_window: tuple[float, float], spawn_complete: float | None = None) -> dict:
    """The soak's verdict on drift: latency (Aggregated p95) and memory (RSS), each with its trend."""
    start, end = run_window
    latency = latency_drift(judged_window(aggregated, start, end, limits.warmup_fraction, spawn_complete),
                            limits)
    if memory is None or memory.empty:
        rss = _unjudged("no memory.csv in the run folder: run `python -m gate.trends scrape` beside the load")
    else:
        rss = memory_drift(judged_window(memory, start, end, limits.warmup_fraction, spawn_complete), limits)
    statuses = {latency["status"], rss["status"]}
    status = "fail" if "fail" in statuses else "unjudgeable" if "unjudgeable" in statuses else "pass"
    return {"status": status, "latency": latency, "memory": rss, "limits": asdict(limits)}


def parse_process_metrics(text: str) -> dict[str, float]:
    """The process gauges of one /metrics scrape (Prometheus text); absent gauges are left out."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        column = PROCESS_GAUGES.get(family.name)
        if column and family.samples:
            found[column] = float(family.samples[0].value)
    return found
