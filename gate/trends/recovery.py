"""Spike recovery: the spike's first minute judged on its own, and how long the service takes to come
back to its pre-spike latency once the spike is over.

Input is the Aggregated row of Locust's history (one row a second, percentiles over a sliding ~10 s
window) and the shape's phases (steady, spike, recovery). Because of the window, p95 can only be
back within the band about 10 s after the spike's end even for a service that recovers at once: the
recovery time includes that lag, and is comparable between runs, not an absolute figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gate.trends.drift import LOCUST_WINDOW_S


@dataclass(frozen=True)
class SpikeLimits:
    band_pct: float = 50.0  # recovered: p95 at most this much above the pre-spike level ...
    band_floor_ms: float = 50.0  # ... or this many ms, whichever is larger
    stable_s: float = 10.0  # ... and staying there this long
    max_recovery_s: float = 45.0  # recovering later than this fails; never recovering always fails
    first_minute_s: float = 60.0
    first_minute_failure_ratio: float = 0.05
    # a spike may be slow, not broken: beyond this a user's request has as good as timed out
    first_minute_p95_ms: float = 10000.0


def _phase(phases: list[dict], name: str) -> dict | None:
    return next((phase for phase in phases if phase["name"] == name), None)


def _counts(rows: pd.DataFrame) -> tuple[int, int]:
    """Requests and failures sent within the rows' span, from Locust's running totals."""
    if len(rows) < 2:
        return 0, 0
    requests = int(rows["requests"].iloc[-1] - rows["requests"].iloc[0])
    failures = int(rows["failures"].iloc[-1] - rows["failures"].iloc[0])
    return max(requests, 0), max(failures, 0)


def recovery_time(times: np.ndarray, values: np.ndarray, since: float, ceiling: float,
                  stable_s: float) -> float | None:
    """Seconds from `since` to the first moment from which the series stays at or under `ceiling`
    for `stable_s` (or to the series' end, if that comes first after at least one value); None if never."""
    after = times >= since
    times, values = times[after], values[after]
    start = None
    for moment, value in zip(times, values, strict=True):
        if np.isnan(value):
            continue
        if value <= ceiling:
            if start is None:
                start = moment
            if moment - start >= stable_s:
                return float(start - since)
        else:
            start = None
    if start is not None and times[-1] - start >= min(stable_s, LOCUST_WINDOW_S / 2):
        return float(start - since)
    return None


def spike_recovery(aggregated: pd.DataFrame, phases: list[dict], limits: SpikeLimits) -> dict:
    steady, spike = _phase(phases, "steady"), _phase(phases, "spike")
    if steady is None or spike is None:
        return {"status": "unjudgeable", "sentences": [
            f"the phases are {[phase['name'] for phase in phases]}, not the spike shape's steady/spike/recovery"],
            "limits": asdict(limits)}
    frame = aggregated.dropna(subset=["p95"])
    times, p95 = frame["time"].to_numpy(float), frame["p95"].to_numpy(float)
    # the pre-spike level: the steady phase once all its users are in and Locust's window no longer
    # reaches back into their logins (at the shape's gentle 2 users/s that can be most of the phase)
    spawned = frame[(frame["time"] >= steady["start"]) & (frame["users"] >= steady["users"])]["time"]
    settled = (spawned.iloc[0] if len(spawned) else steady["end"]) + LOCUST_WINDOW_S
    pre = frame[(times >= settled) & (times <= steady["end"])]
    if len(pre) < 3:
        return {"status": "unjudgeable", "sentences": [
            (f"only {len(pre)} latency values in the steady phase after its users were in and the "
            f"{LOCUST_WINDOW_S:.0f}-s window had settled: lengthen spike-warmup (it must exceed the base users' "
            f"spawn time + {LOCUST_WINDOW_S + 3:.0f} s)")], "limits": asdict(limits)}
    level = float(pre["p95"].median())
    ceiling = level + max(level * limits.band_pct / 100.0, limits.band_floor_ms)
    first_end = min(spike["start"] + limits.first_minute_s, spike["end"])
    rows = aggregated[(aggregated["time"] >= spike["start"]) & (aggregated["time"] <= first_end)]
    requests, failures = _counts(rows)
    ratio = failures / requests if requests else None
    window = rows.dropna(subset=["p95"])
    worst = float(window["p95"].max()) if len(window) else None
    first_minute = {"seconds": round(first_end - spike["start"], 1), "users": spike["users"],
                    "requests": requests, "failures": failures,
                    "failure_ratio": None if ratio is None else round(ratio, 5),
                    "p95_worst_window_ms": worst,
                    "p95_median_window_ms": float(window["p95"].median()) if len(window) else None}
    recovered_after = recovery_time(times, p95, spike["end"], ceiling, limits.stable_s)
    observed_s = float(times[-1] - spike["end"]) if len(times) else 0.0
    problems, sentences = [], []
    if requests == 0:
        problems.append("unjudgeable")
        sentences.append("no requests in the spike's first minute")
    else:
        sentences.append(f"first {first_minute['seconds']:.0f} s of the spike ({spike['users']} users): "
                         f"{failures} of {requests} requests failed ({ratio:.1%}, limit "
                         f"{limits.first_minute_failure_ratio:.0%}), worst 10-s p95 {worst or 0:.0f} ms "
                         f"(limit {limits.first_minute_p95_ms:.0f} ms)")
        if ratio > limits.first_minute_failure_ratio or (worst or 0) > limits.first_minute_p95_ms:
            problems.append("fail")
    if recovered_after is None:
        problems.append("fail")
        sentences.append(f"never recovered: p95 did not come back under {ceiling:.0f} ms (pre-spike {level:.0f} ms "
                         f"+ band) in the {observed_s:.0f} s observed after the spike")
    else:
        late = recovered_after > limits.max_recovery_s
        problems.append("fail" if late else "pass")
        sentences.append(f"recovered {recovered_after:.0f} s after the spike ended (p95 back under {ceiling:.0f} ms = "
                         f"pre-spike {level:.0f} ms + band; limit {limits.max_recovery_s:.0f} s)")
    status = "unjudgeable" if "unjudgeable" in problems else "fail" if "fail" in problems else "pass"
    return {"status": status, "sentences": sentences, "pre_spike_p95_ms": level, "band_ceiling_ms": ceiling,
            "spike_start": spike["start"], "spike_end": spike["end"],
            "recovered": recovered_after is not None,
            "recovery_s": None if recovered_after is None else round(recovered_after, 1),
            "observed_after_spike_s": round(observed_s, 1),
            "first_minute": first_minute, "limits": asdict(limits)}
