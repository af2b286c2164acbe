"""Stress capacity: the most users at which the service still met its SLOs, and the knee where its
latency starts to climb, from the staged shape's phases; compared with a baseline's like any metric.

Each stage is judged on its second half (`settle_fraction`): the first half holds the new users'
logins and Locust's 10-second window still reaching back into the previous stage. Each stage's
"SLO load" is its worst figure as a share of its limit (failure ratio, each endpoint's p95): at most
1 the stage met its SLOs. The capacity is where that load crosses 1, interpolated between the last
stage that met the SLOs and the first that did not; the knee is where the median latency first rises
`knee_pct` above the lightest stage's, interpolated the same way. (A stage count alone would jump by
a whole step between runs of the same service: 72 users in one, 96 in the next.)
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gate.trends.drift import LOCUST_WINDOW_S


@dataclass(frozen=True)
class StressLimits:
    settle_fraction: float = 0.5
    failure_ratio: float = 0.05  # the SLO on failures, per stage, over all endpoints
    aggregated_p95_ms: float = 0.0  # an SLO on the Aggregated p95 (0: only the endpoints' own limits)
    # the knee: where the endpoints' median latencies have doubled (+100%) over the lightest stage's,
    # the textbook knee of a queue (a single server's response time doubles at 50% utilisation). At
    # +50% the crossing sat in the noise of the flat part: 40/49/48 users in three runs, 22% apart;
    # doubled: 49/52/52 users (docs/trends.md)
    knee_pct: float = 100.0
    capacity_drop_pct: float = 20.0  # against the baseline: a capacity lower by more than this fails
    min_requests: int = 20  # a stage with fewer requests in its judged half cannot be judged
    # an endpoint's p95 is held to its SLO in a stage only with this many of its requests in the judged
    # part: Locust's window keeps showing the spawn's login burst for seconds after the last login
    min_endpoint_requests: int = 10


def stage_figures(history: pd.DataFrame, phase: dict, limits: StressLimits, slo_p95: dict[str, float]) -> dict:
    """One stage's throughput, failures and latencies over its judged part, and its SLO breaches."""
    stage = history[(history["time"] >= phase["start"]) & (history["time"] < phase["end"])]  # end: the next's
    total = stage[stage["endpoint"] == "Aggregated"]
    # judged: once the stage's new users are in and Locust's window no longer holds their logins
    # (a login burst says how fast users arrive, not what load the service carries), and never
    # before settle_fraction of the stage
    spawned = total.loc[total["users"] >= phase["users"], "time"]
    begin = max(phase["start"] + limits.settle_fraction * (phase["end"] - phase["start"]),
                (spawned.iloc[0] if len(spawned) else phase["end"]) + LOCUST_WINDOW_S)
    rows = stage[stage["time"] >= begin]
    total = rows[rows["endpoint"] == "Aggregated"]
    span = float(total["time"].iloc[-1] - total["time"].iloc[0]) if len(total) >= 2 else 0.0
    requests = int(total["requests"].iloc[-1] - total["requests"].iloc[0]) if span else 0
    failures = int(total["failures"].iloc[-1] - total["failures"].iloc[0]) if span else 0
    endpoints = sampled_endpoints(rows, limits.min_endpoint_requests)
    figures = {
        "name": phase["name"], "users": phase["users"], "start": phase["start"], "end": phase["end"],
        "requests": requests,
        "throughput_rps": round(requests / span, 2) if span else None,
        "failure_ratio": round(failures / requests, 5) if requests else None,
        "p50_ms": _median(total["p50"]), "p95_ms": _median(total["p95"]),
        "judged_from": begin,
        # each endpoint's median latency: the knee compares endpoints with themselves, since the
        # Aggregated median jumps with the request mix between fast and slow endpoints
        "endpoint_p50_ms": {endpoint: value for endpoint, group in endpoints.items()
                            if (value := _median(group["p50"])) is not None},
    }
    breaches, loads = [], []
    if requests < limits.min_requests:
        breaches.append(f"only {requests} requests in the judged part of the stage")
        figures["judgeable"] = False
    else:
        figures["judgeable"] = True
        loads.append(figures["failure_ratio"] / limits.failure_ratio)
        if figures["failure_ratio"] > limits.failure_ratio:
            breaches.append(f"failure ratio {figures['failure_ratio']:.1%} > {limits.failure_ratio:.0%}")
        if limits.aggregated_p95_ms and figures["p95_ms"] is not None:
            loads.append(figures["p95_ms"] / limits.aggregated_p95_ms)
            if figures["p95_ms"] > limits.aggregated_p95_ms:
                breaches.append(f"Aggregated p95 {figures['p95_ms']:.0f} ms > {limits.aggregated_p95_ms:.0f} ms")
        for endpoint, limit in sorted(slo_p95.items()):
            value = _median(endpoints[endpoint]["p95"]) if endpoint in endpoints else None
            if value is not None:
                loads.append(value / limit)
                if value > limit:
                    breaches.append(f"{endpoint} p95 {value:.0f} ms > {limit:.0f} ms")
    figures["breaches"] = breaches
    # the worst figure as a share of its limit: at most 1 when the stage met every SLO
    figures["slo_load"] = round(max(loads), 4) if loads else None
    return figures


def interpolated_capacity(met: dict, broke: dict) -> float:
    """Users at which the SLO load crosses 1, between a stage that met the SLOs and the next, which
    broke them; the stage that met them when the one that broke cannot be judged."""
    if not broke["judgeable"] or met["slo_load"] is None or broke["slo_load"] is None:
        return float(met["users"])
    return float(np.interp(1.0, [met["slo_load"], broke["slo_load"]], [met["users"], broke["users"]]))


def sampled_endpoints(rows: pd.DataFrame, min_requests: int) -> dict[str, pd.DataFrame]:
    """Each endpoint's rows of the judged part whose window held requests of its own, for the endpoints
    with at least `min_requests` requests in that part: a window without any (rps 0) still shows
    the latencies of earlier ones, such as the login burst of the stage's spawn."""
    sampled = {}
    for endpoint, group in rows[rows["endpoint"] != "Aggregated"].groupby("endpoint"):
        made = group["requests"].iloc[-1] - group["requests"].iloc[0] if len(group) >= 2 else 0
        if made >= min_requests:
            sampled[endpoint] = group[group["rps"] > 0]
    return sampled


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.median()) if len(values) else None


def latency_index(stages: list[dict]) -> list[float | None]:
    """Per stage, the median over endpoints of each endpoint's median latency relative to its own in the
    lightest stage (1.0 there): how much slower the same requests got, whatever the mix."""
    reference = stages[0]["endpoint_p50_ms"] if stages else {}
    index = []
    for stage in stages:
        ratios = [value / reference[endpoint] for endpoint, value in stage["endpoint_p50_ms"].items()
                  if reference.get(endpoint)]
        index.append(float(np.median(ratios)) if ratios else None)
    return index


def knee_users(users: list[int], latency: list[float | None], knee_pct: float) -> float | None:
    """Users at which `latency` first exceeds the lightest stage's by knee_pct, interpolated linearly
    between the stages around the crossing; None when it never does."""
    points = [(u, v) for u, v in zip(users, latency, strict=True) if v is not None]
    if len(points) < 2:
        return None
    threshold = points[0][1] * (1.0 + knee_pct / 100.0)
    for (u0, v0), (u1, v1) in itertools.pairwise(points):
        if v1 > threshold:
            return float(np.interp(threshold, [v0, v1], [u0, u1])) if v1 > v0 else float(u1)
    return None


def stress_capacity(history: pd.DataFrame, phases: list[dict], limits: StressLimits,
                    slo_p95: dict[str, float]) -> dict:
    stages = [stage_figures(history, phase, limits, slo_p95) for phase in sorted(phases, key=lambda p: p["start"])]
    judged = [stage for stage in stages if stage["judgeable"]]
    if len(judged) < 2:
        return {"status": "unjudgeable", "stages": stages, "limits": asdict(limits), "slo_p95_ms": slo_p95,
                "sentences": [(f"only {len(judged)} stage(s) with at least {limits.min_requests} requests: "
                              "a capacity needs two or more")]}
    met, capacity_rps, first_breach = None, None, None
    for stage in stages:
        if not stage["judgeable"] or stage["breaches"]:
            first_breach = stage
            break
        met, capacity_rps = stage, stage["throughput_rps"]
    met_users = met["users"] if met else 0
    if met is None:
        capacity = 0.0
    elif first_breach is None:
        capacity = float(met_users)
    else:
        capacity = interpolated_capacity(met, first_breach)
    index = latency_index(judged)
    for stage, value in zip(judged, index, strict=True):
        stage["latency_index"] = None if value is None else round(value, 3)
    knee = knee_users([s["users"] for s in judged], index, limits.knee_pct)
    peak = max(stage["users"] for stage in stages)
    if first_breach is None:
        capacity_sentence = (f"capacity at least {met_users} users ({capacity_rps} req/s): every stage met the SLOs, "
                             "the limit is beyond the highest stage")
    elif met is None:
        capacity_sentence = (f"capacity 0 users: the SLOs broke in the first stage, at {first_breach['users']} users "
                             f"({'; '.join(first_breach['breaches'])})")
    else:
        capacity_sentence = (f"capacity {capacity:.0f} users: the SLOs held at {met_users} users ({capacity_rps} req/s) "
                             f"and broke at {first_breach['users']} users ({'; '.join(first_breach['breaches'])})"
                             + (", interpolated where the worst figure reaches its limit"
                                if capacity != met_users else ""))
    knee_sentence = (f"knee at {knee:.0f} users: the endpoints' median latencies rose {limits.knee_pct:.0f}% "
                     f"above the lightest stage's ({judged[0]['users']} users)" if knee is not None else
                     f"no knee up to {peak} users: the endpoints' median latencies stayed within "
                     f"{limits.knee_pct:.0f}% of the lightest stage's")
    status = "pass" if capacity > 0 else "fail"
    # the most the service delivered in any stage: where throughput stops growing with users
    max_rps = max((s["throughput_rps"] for s in judged if s["throughput_rps"] is not None), default=None)
    return {"status": status, "capacity_users": round(capacity, 1), "capacity_stage_users": met_users,
            "capacity_rps": capacity_rps, "max_throughput_rps": max_rps,
            "capacity_reached": first_breach is not None, "knee_users": None if knee is None else round(knee, 1),
            "peak_users": peak, "stages": stages, "slo_p95_ms": slo_p95, "limits": asdict(limits),
            "sentences": [capacity_sentence, knee_sentence,
                          f"highest throughput {max_rps} req/s (stage judged parts, after the spawn)"]}


def compare_capacity(result: dict, baselines: list[dict], limits: StressLimits) -> dict:
    """The run's capacity and knee against the baseline runs' medians: fewer users by more than
    capacity_drop_pct fails (an unreached capacity counts as the highest stage, so runs of a
    different peak are not compared)."""
    if result["status"] == "unjudgeable":
        return result
    comparisons, status, sentences = {}, result["status"], list(result["sentences"])
    for figure in ("capacity_users", "knee_users"):
        values = [b.get(figure) for b in baselines if isinstance(b.get(figure), int | float)]
        current = result.get(figure)
        if not values or current is None:
            comparisons[figure] = {"value": current, "baseline": None, "baseline_runs": len(values)}
            continue
        base = float(np.median(values))
        change = (current - base) / base * 100.0 if base else None
        worse = change is not None and change < -limits.capacity_drop_pct
        comparisons[figure] = {"value": current, "baseline": base, "baseline_runs": len(values),
                               "change_pct": None if change is None else round(change, 1), "outcome":
                               "fail" if worse else "pass"}
        if worse:
            status = "fail"
        sentences.append(f"{figure.replace('_', ' ')} {current:g} vs baseline {base:g} "
                         f"({change:+.0f}%; fails below -{limits.capacity_drop_pct:.0f}%)" if change is not None
                         else f"{figure.replace('_', ' ')} {current:g} vs baseline {base:g}")
    return {**result, "status": status, "baseline": comparisons, "sentences": sentences}
