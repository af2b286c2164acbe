"""The gate's pipeline for one run: read -> compare -> decide. Returns the verdict document; only
the caller renders and publishes it. Every failure becomes an 'unjudgeable' verdict, never a pass.
"""

from __future__ import annotations

import os
from pathlib import Path

from gate import Unjudgeable
from gate.judge.compare import compare
from gate.judge.verdict import borderline_regressions, confirmed, decide, unjudgeable_verdict
from gate.read.baseline import baseline_runs, fingerprint_difference, read_baseline_document
from gate.read.policy import load_policy
from gate.read.run import check_judgeable, read_run

# What a verdict judged without a baseline says, in its reason (and so in the summary's first line).
NO_BASELINE = "no baseline comparison (--no-baseline): absolute limits only"


def judge(run_path: str, profile: str, baseline_path: str | None, policy_path: str,
          confirms: str | None = None) -> dict:
    """`baseline_path` None: absolute limits and run validity only (`--no-baseline`). `confirms`: the
    verdict.json of a first run that was a borderline regression; this run is its rerun."""
    verdict = _judge(run_path, profile, baseline_path, policy_path, confirms)
    if baseline_path is None:
        return absolute_limits_only(verdict)
    verdict["comparison"] = "baseline"
    return verdict


def absolute_limits_only(verdict: dict) -> dict:
    """Marks a verdict reached without a baseline (`comparison: none`), so no reader takes it for a
    comparison: its reason starts with NO_BASELINE."""
    verdict["comparison"] = "none"
    verdict["baseline"] = None
    if verdict["verdict"] == "pass":
        verdict["headline"] = verdict["headline"].replace(", no significant regression", "")
        if verdict["reason"].startswith("compared with "):  # decide()'s note of the baseline runs used
            verdict["reason"] = NO_BASELINE
            return verdict
    verdict["reason"] = f"{NO_BASELINE}; {verdict['reason']}"
    return verdict


def _judge(run_path: str, profile: str, baseline_path: str | None, policy_path: str,
           confirms: str | None) -> dict:
    run = None
    try:
        policy = load_policy(policy_path, profile)
        run = read_run(run_path)
        check_judgeable(run, profile, policy.statistics.min_duration_fraction)
        problems: list[str] = []
        baseline, history = None, None
        if baseline_path is None:
            pass  # --no-baseline: compared with nothing, only the policy's absolute limits apply
        elif Path(baseline_path).is_file():
            baseline = read_baseline_document(baseline_path, profile)
            difference = fingerprint_difference(baseline["fingerprint"], run.fingerprint)
            if difference:
                raise Unjudgeable(
                    f"this run is not comparable with the baseline {baseline_path} ({difference}): "
                    "run the profile as recorded, or re-record the baseline on the base branch"
                )
            history = baseline_runs(baseline, baseline_path)
            if set(history[0].counters) != set(run.counters):
                raise Unjudgeable(f"this run counts other custom metrics than the baseline {baseline_path} "
                                  f"({', '.join(sorted(set(history[0].counters) ^ set(run.counters)))}): "
                                  "the suite changed; re-record the baseline")
        else:
            try:  # only absolute limits can be checked; the verdict says how to record a baseline
                read_baseline_document(baseline_path, profile)
            except Unjudgeable as missing:
                problems.append(missing.reason)
        confirming = borderline_regressions(confirms) if confirms else None
        comparison = compare(run, history, policy, confirming)
        verdict = decide(run, comparison, policy, baseline, baseline_path, problems)
        return confirmed(verdict, confirms, confirming) if confirms else verdict
    except Unjudgeable as problem:
        return unjudgeable_verdict(problem.reason, profile, run, policy_path, baseline_path)
    except Exception as error:
        if os.environ.get("GATE_DEBUG"):
            raise
        reason = " ".join(str(error).split())[:300]
        return unjudgeable_verdict(f"the gate failed unexpectedly ({type(error).__name__}: {reason}); "
                                   "please report it", profile, run, policy_path, baseline_path)
