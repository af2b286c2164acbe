"""Change points over the nightly history: the night a metric shifted, and the commits in between.

The detection is Apache Otava's (ex-Hunter, `otava.analysis.compute_change_points`): E-divisive
(Matteson & James) in sliding windows, then weak points merged away until every remaining one
splits the series into significantly different parts (t-test, `max_pvalue`) by at least
`min_magnitude_pct`. Only Otava's analysis module is used (it needs numpy and scipy alone); its
command line, storage back-ends and report are not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gate import Unjudgeable
from gate.trends.history import history_series, worse_direction


@dataclass(frozen=True)
class ChangePointSettings:
    # Otava's default is 0.001 per series; a history holds a family of series (3 metrics x every
    # endpoint) and the split picks the best cut of each window, so 0.001 raised false change points
    # in 6 of 20 shift-free synthetic histories; 1e-5 raised none in 40 (benchmarks/calibrate_trends.py).
    max_pvalue: float = 1e-5
    window: int = 50  # Otava's default window, in nights
    min_magnitude_pct: float = 10.0  # smaller steps are not worth an issue, however significant
    min_nights: int = 10  # fewer nights than this: cannot judge


def find_change_points(values: list[float | None], settings: ChangePointSettings) -> list[dict]:
    """Change points of one series: index (the first night after the shift), p-value, the means before
    and after, and the relative change."""
    try:
        from otava.analysis import compute_change_points, fill_missing
    except ImportError:
        raise Unjudgeable("Apache Otava is not installed: pip install --no-deps apache-otava==0.8.0 "
                          "(its analysis needs only numpy and scipy; docs/trends.md says why --no-deps)") from None

    series = list(values)
    if all(value is None for value in series):
        return []
    fill_missing(series)  # a night without the figure takes its neighbour's, as Otava does
    if np.ptp(series) == 0:
        return []  # a constant series has no change point (and Otava's split cannot cut it)
    # a list, as Otava's own Series passes it: its split step mis-slices a numpy array
    points, _weak = compute_change_points([float(value) for value in series], window_len=settings.window,
                                          max_pvalue=settings.max_pvalue,
                                          min_magnitude=settings.min_magnitude_pct / 100.0)
    found = []
    for point in points:
        stats = point.stats
        found.append({"index": int(point.index), "p_value": float(stats.pvalue),
                      "mean_before": float(stats.mean_1), "mean_after": float(stats.mean_2),
                      "change_pct": round(float(stats.forward_change_percent()), 2)})
    return found


def find_history_change_points(records: list[dict], settings: ChangePointSettings) -> dict:
    """Every series of the history searched for change points; each one named with its night and the
    commit range that holds the cause (the previous night's commit .. this night's)."""
    if len(records) < settings.min_nights:
        return {"status": "unjudgeable", "nights": len(records), "change_points": [], "settings": asdict(settings),
                "sentences": [f"only {len(records)} nights in the history (need {settings.min_nights})"]}
    change_points = []
    for name, values in history_series(records).items():
        for point in find_change_points(values, settings):
            index = point["index"]
            direction = worse_direction(name)
            worse = (point["mean_after"] - point["mean_before"]) * direction > 0
            change_points.append({
                "series": name, **point, "night": records[index]["date"],
                "commit_range": [records[index - 1]["commit"], records[index]["commit"]],
                "direction": "worse" if worse else "better",
            })
    change_points.sort(key=lambda c: (c["index"], c["series"]))
    sentences = night_sentences(change_points) or [f"no change point in {len(records)} nights"]
    return {"status": "pass", "nights": len(records), "change_points": change_points,
            "settings": asdict(settings), "sentences": sentences}


def night_sentences(change_points: list[dict], shown: int = 3) -> list[str]:
    """One line per night with change points (a regression moves many series at once): the night,
    the commit range, the Aggregated series first, then how many more."""
    lines = []
    for index in sorted({point["index"] for point in change_points}):
        points = sorted((p for p in change_points if p["index"] == index),
                        key=lambda p: (not p["series"].startswith("Aggregated"), p["series"]))
        first, last = points[0]["commit_range"]
        worse = sum(p["direction"] == "worse" for p in points)
        named = ", ".join(f"{p['series']} {p['change_pct']:+.1f}%" for p in points[:shown])
        more = f" and {len(points) - shown} more series" if len(points) > shown else ""
        lines.append(f"night {points[0]['night'][:10]} (commits {first[:12]}..{last[:12]}): {named}{more}; "
                     f"{worse} of {len(points)} for the worse")
    return lines


def new_change_points(found: list[dict], known: list[dict], tolerance: int = 1) -> list[dict]:
    """The change points not reported before: a known one of the same series within `tolerance` nights
    is the same shift (a later night may move the estimate by one)."""
    return [point for point in found
            if not any(point["series"] == old.get("series") and abs(point["index"] - int(old.get("index", -99)))
                       <= tolerance for old in known)]


def judge_new(result: dict) -> dict:
    """Fails (so the nightly workflow opens or updates its issue) when a new change point is worse."""
    if result["status"] == "unjudgeable":
        return result
    worse = [point for point in result.get("new", []) if point["direction"] == "worse"]
    sentences = list(result["sentences"])
    if result.get("new"):
        sentences.append(f"{len(result['new'])} new change point(s), {len(worse)} for the worse")
    return {**result, "status": "fail" if worse else "pass", "sentences": sentences}
