"""The verdict: one JSON document (verdict.json) from which the summary is rendered and the exit code read.

verdict is "pass" (exit 0), "fail" (exit 1: a breach or a regression of severity fail) or
"unjudgeable" (exit 2: the run or its baseline cannot be trusted - never a pass).
`borderline` is true when the run fails only through relative regressions whose adjusted p-value is
above the policy's borderline_p: the runner may rerun the profile once and gate the rerun with
`--confirms <first verdict.json>`; the rerun tests only those regressions in its failing family, so
it fails only if they reproduce (or on a limit breach, or if it cannot be judged).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from gate import EXIT_FAIL, EXIT_PASS, EXIT_UNJUDGEABLE, Unjudgeable
from gate.judge.compare import Comparison
from gate.read.policy import Policy
from gate.read.run import AGGREGATED, Run

VERDICT_SCHEMA = 1
GATE_VERSION = "0.1.0"
# what verdict.json's "run" says of the run, besides its total failures
RUN_FACTS = ("path", "started_at", "duration_s", "total_requests", "cpu_warning", "generator_cpu_pct", "cpu_steal_pct",
             "errors_known", "fingerprint", "counters")
OUTCOMES = {"pass": EXIT_PASS, "fail": EXIT_FAIL, "unjudgeable": EXIT_UNJUDGEABLE}


def decide(run: Run, comparison: Comparison, policy: Policy, baseline: dict | None, baseline_path: str,
           problems: list[str]) -> dict:
    """The verdict of a run that was read; `problems` are reasons it cannot be judged (e.g. no baseline)."""
    findings = comparison.findings
    failing = [f for f in findings if f.severity == "fail"]
    warnings = [f for f in findings if f.severity == "warn"]
    unjudgeable = problems + [f.message for f in findings if f.severity == "unjudgeable"]
    judged = [e for e in comparison.endpoints if e.endpoint != AGGREGATED]
    if unjudgeable:
        outcome = "unjudgeable"
        reason = unjudgeable[0] + (f" (and {len(unjudgeable) - 1} more)" if len(unjudgeable) > 1 else "")
        headline = "CANNOT JUDGE: this run is not a pass"
    elif failing:
        outcome = "fail"
        breaches = sum(1 for f in failing if f.kind == "breach")
        regressions = sum(1 for f in failing if f.kind == "regression")
        unresolved = sum(1 for f in failing if f.kind == "unresolved")
        parts = [f"{breaches} limit breach{'es' if breaches != 1 else ''}" if breaches else "",
                 f"{regressions} regression{'s' if regressions != 1 else ''}" if regressions else "",
                 f"{unresolved} required endpoint{'s' if unresolved != 1 else ''} UNRESOLVED" if unresolved else "",
                 "the whole run slower beyond the policy's run-wide limit"
                 if any(f.kind == "run_shift" for f in failing) else ""]
        headline = "FAIL: " + " and ".join(p for p in parts if p)
        reason = failing[0].message + (f" (and {len(failing) - 1} more)" if len(failing) > 1 else "")
    else:
        outcome = "pass"
        headline = f"PASS: {len(judged)} endpoints within limits, no significant regression"
        states = _distribution_states(judged)
        if states:
            headline += " (" + ", ".join(f"{count} {state}" for state, count in states.items()) + ")"
        if warnings:
            headline += f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})"
        # the run-wide shift first: it says how far every comparison could be trusted; UNRESOLVED endpoints last
        warnings = sorted(warnings, key=lambda f: (f.kind != "run_shift", f.kind == "unresolved"))
        reason = warnings[0].message if warnings else (
            f"compared with {comparison.baseline_runs} baseline run(s) at a false-alarm rate of "
            f"{policy.statistics.false_alarm_rate:g} ({policy.statistics.correction})"
        )
    borderline = outcome == "fail" and all(f.kind == "regression" and f.borderline for f in failing)
    return _finite({
        "schema": VERDICT_SCHEMA,
        "gate_version": GATE_VERSION,
        "verdict": outcome,
        "exit_code": OUTCOMES[outcome],
        "headline": headline,
        "reason": reason,
        "problems": unjudgeable,
        "borderline": borderline,
        "profile": run.profile,
        "run": _run_facts(run),
        "baseline": None if baseline is None else {
            "path": baseline_path,
            "runs": len(baseline["runs"]),
            "provenance": baseline.get("provenance", {}),
            "fingerprint": baseline["fingerprint"],
            # the paired mode gives the base rounds' counters summed, as the head's rounds are
            "counters": baseline.get("counters") or _mean_counters([entry.get("counters", {})
                                                                    for entry in baseline["runs"]]),
        },
        "policy": {"path": policy.path, **asdict(policy.statistics)},
        "tests": comparison.tests,
        "run_shift_pct": comparison.run_shift_pct,
        "run_wide": comparison.run_wide,
        "short_of_goal": short_of_goal(judged, policy.statistics.detectable_goal_pct),
        "endpoints": [asdict(endpoint) for endpoint in comparison.endpoints],
        "findings": [asdict(finding) for finding in findings],
    })


def short_of_goal(endpoints: list, goal_pct: float) -> list[dict]:
    """The endpoints judged (not quarantined) whose distribution test could not have flagged the policy's
    detectable_goal_pct: [{endpoint, detectable_pct}], worst first; [] when the goal is off (0)."""
    short = [{"endpoint": e.endpoint, "detectable_pct": round(result.detectable_pct, 1)} for e in endpoints
             if goal_pct and not e.quarantined and (result := e.metrics.get("distribution")) is not None
             and result.detectable_pct is not None and result.detectable_pct > goal_pct]
    return sorted(short, key=lambda entry: -entry["detectable_pct"])


def borderline_regressions(first_verdict_path: str) -> set[tuple[str, str]]:
    """The failing regressions (endpoint, metric) of a first run's verdict.json, for its confirmation rerun."""
    try:
        first = json.loads(Path(first_verdict_path).read_text(encoding="utf-8"))
        regressions = {(f["endpoint"], f["metric"]) for f in first["findings"]
                       if f["severity"] == "fail" and f["kind"] == "regression"}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Unjudgeable(f"cannot read the first run's verdict {first_verdict_path} to confirm: {error}") from None
    if not regressions:
        raise Unjudgeable(f"{first_verdict_path} has no failing regression to confirm; gate the run without "
                          "--confirms")
    return regressions


def confirmed(verdict: dict, first_verdict_path: str, regressions: set[tuple[str, str]]) -> dict:
    """Marks a rerun's verdict as the confirmation of the first run's borderline regressions."""
    reproduced = sorted({(f["endpoint"], f["metric"]) for f in verdict["findings"]
                         if f["severity"] == "fail" and f["kind"] == "regression"} & regressions)
    verdict["borderline"] = False  # one confirmation rerun, never a chain of them
    verdict["confirmation"] = {
        "of": first_verdict_path,
        "regressions": [list(pair) for pair in sorted(regressions)],
        "reproduced": [list(pair) for pair in reproduced],
    }
    if verdict["verdict"] == "pass":
        verdict["headline"] = "PASS: the first run's borderline regression did not reproduce"
    elif verdict["verdict"] == "fail" and reproduced:
        verdict["headline"] += " (confirmed by a rerun)"
    return verdict


def unjudgeable_verdict(reason: str, profile: str, run: Run | None = None, policy_path: str | None = None,
                        baseline_path: str | None = None) -> dict:
    """The verdict when the pipeline stopped before a comparison: exit 2 with one actionable reason."""
    return _finite({
        "schema": VERDICT_SCHEMA,
        "gate_version": GATE_VERSION,
        "verdict": "unjudgeable",
        "exit_code": EXIT_UNJUDGEABLE,
        "headline": "CANNOT JUDGE: this run is not a pass",
        "reason": reason,
        "problems": [reason],
        "borderline": False,
        "profile": profile,
        "run": _run_facts(run) if run is not None else None,
        "baseline": {"path": baseline_path} if baseline_path else None,
        "policy": {"path": policy_path} if policy_path else None,
        "tests": {},
        "run_shift_pct": {},
        "endpoints": [],
        "findings": [],
    })


def _run_facts(run: Run) -> dict:
    facts = {name: getattr(run, name) for name in RUN_FACTS}
    facts["total_failures"] = sum(record.num_failures for record in run.endpoints.values())
    return facts


def _mean_counters(counters: list[dict]) -> dict[str, float]:
    names = sorted({name for entry in counters for name in entry})
    return {name: sum(entry.get(name, 0) for entry in counters) / len(counters) for name in names}


def _distribution_states(endpoints: list) -> dict[str, int]:
    """How many endpoints the distribution test found SAME, DIFFERENT and UNRESOLVED (those it judged)."""
    states = [e.metrics["distribution"].state for e in endpoints
              if "distribution" in e.metrics and e.metrics["distribution"].state]
    return {state.upper(): states.count(state) for state in ("same", "different", "unresolved") if state in states}


def _finite(value):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
