"""The trend analyses of one run folder or of the nightly history, as plain calls: read the series,
analyse them (drift, recovery, capacity, changepoints), render the markdown and charts, write
trends.json and trends.md. `cli.py` is their command line; the runner calls `analyse_run` through it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gate import DEFAULT_POLICY, Unjudgeable
from gate.read.policy import load_trend_limits
from gate.read.run import METRICS_FILE
from gate.trends.series import aggregated, read_memory, read_run_facts, read_stats_history

TRENDS_JSON = "trends.json"
TRENDS_MD = "trends.md"


def write_report(out: Path, kind: str, result: dict, markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {"schema": 1, "kind": kind, **result}
    tmp = out / (TRENDS_JSON + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, out / TRENDS_JSON)
    (out / TRENDS_MD).write_text(markdown, encoding="utf-8")


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def analyse_run(kind: str, run: str | Path, policy_path: str | None = DEFAULT_POLICY, out: str | Path | None = None,
                baselines: list[str] | tuple[str, ...] = (), limits_path: str | None = None) -> dict:
    """The in-process entry point (for `gate check` or the runner): analyses a soak, spike or stress
    run folder, writes trends.json, trends.md and the PNGs into `out` (default the folder) and returns
    the result with its `status` (pass/fail/unjudgeable), `sentences` and `markdown`. Raises
    Unjudgeable when the folder cannot be analysed. The limits come from `limits_path`'s `trends:`
    section, else the policy file's, else the defaults; the SLOs from the policy's rules."""
    from gate.report import charts

    folder = Path(run)
    out = Path(out or folder)
    limits_path = limits_path or policy_path
    facts = read_run_facts(folder)
    if facts["cpu_warning"]:
        raise Unjudgeable(f"the load generator saturated its CPU during {folder} (Locust's CPU warning): its "
                          "latencies are untrustworthy; rerun with fewer users or more --processes")
    history = read_stats_history(folder)
    if kind in ("spike", "stress") and not facts["phases"]:
        raise Unjudgeable(f"{folder / METRICS_FILE} has no phases: not a run of the {kind} shape")
    if kind == "soak":
        from gate.trends.drift import SoakLimits, soak_drift

        memory = read_memory(folder)
        result = soak_drift(aggregated(history), memory, load_trend_limits(limits_path, "soak", SoakLimits()),
                            (facts["started_at"], facts["stopped_at"]), facts["spawn_complete_at"])
        result["sentences"] = [result["latency"]["sentence"], result["memory"]["sentence"]]
        pictures = charts.soak_charts(aggregated(history), memory, result, out, facts["started_at"])
        markdown = charts.soak_markdown(result, pictures)
    elif kind == "spike":
        from gate.trends.recovery import SpikeLimits, spike_recovery

        result = spike_recovery(aggregated(history), facts["phases"], load_trend_limits(limits_path, "spike", SpikeLimits()))
        pictures = charts.spike_charts(aggregated(history), facts["phases"], result, out, facts["started_at"])
        markdown = charts.spike_markdown(result, pictures)
    elif kind == "stress":
        from gate.trends.capacity import StressLimits, compare_capacity, stress_capacity

        limits = load_trend_limits(limits_path, "stress", StressLimits())
        slo_p95 = endpoint_p95_limits(policy_path, history["endpoint"].unique())
        result = stress_capacity(history, facts["phases"], limits, slo_p95)
        if baselines:
            result = compare_capacity(result, [_read_trends(path) for path in baselines], limits)
        pictures = charts.stress_charts(result, out)
        markdown = charts.stress_markdown(result, pictures)
    else:
        raise Unjudgeable(f"no trend analysis for {kind!r}: soak, spike or stress")
    write_report(out, kind, {**result, "run": str(folder), "charts": pictures["png"]}, markdown)
    return {**result, "markdown": markdown, "charts": pictures["png"]}


def _read_trends(path: str) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Unjudgeable(f"baseline {path} cannot be read: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != "stress":
        raise Unjudgeable(f"baseline {path} is not the trends.json of a stress run")
    return document


def endpoint_p95_limits(policy_path: str | None, endpoints) -> dict[str, float]:
    """The gate policy's absolute p95 limits (the seed's SLOs), per endpoint: its global rules. The
    stress profile's own section switches them off for the per-run verdict (a stress run breaches them
    by design); the capacity is exactly where they start to be breached."""
    if not policy_path or not Path(policy_path).is_file():
        return {}
    from gate.read.policy import load_policy

    policy = load_policy(policy_path, "")  # no profile section: the global rules only
    limits = {}
    for endpoint in endpoints:
        p95 = policy.for_endpoint(endpoint).metrics.get("p95")
        if p95 is not None and p95.limit is not None:
            limits[endpoint] = float(p95.limit)
    return limits


def analyse_history(history_path: str | Path, known_path: str | Path | None, out: str | Path,
                    limits_path: str | None) -> dict:
    """The nightly history's change points: which are new since `known_path` (a previous trends.json),
    judged, with charts, written as trends.json and trends.md into `out`; returns the result."""
    from gate.report import charts
    from gate.trends import history
    from gate.trends.changepoints import (
        ChangePointSettings,
        find_history_change_points,
        judge_new,
        new_change_points,
    )

    records = history.read_history(Path(history_path))
    result = find_history_change_points(records, load_trend_limits(limits_path, "history", ChangePointSettings()))
    known = json.loads(Path(known_path).read_text(encoding="utf-8")) if known_path and Path(known_path).is_file() \
        else {"change_points": []}
    result["new"] = new_change_points(result["change_points"], known.get("change_points", []))
    result = judge_new(result)
    out = Path(out)
    pictures = charts.history_charts(records, history.history_series(records), result, out)
    markdown = charts.history_markdown(result, pictures)
    write_report(out, "history", {**result, "history": str(history_path), "charts": pictures["png"]}, markdown)
    return result
