"""The gate's pipeline for one run: read -> compare -> decide. Returns the verdict document; only
the caller renders and publishes it. Every failure becomes an 'unjudgeable' verdict, never a pass.
"""

from __future__ import annotations

import os
from pathlib import Path

from gate import Unjudgeable
from gate.judge.compare import compare
from gate.judge.paired import MIN_BLOCKS_FOR_CONTROL, DisturbedRound, blocks, compare_paired
from gate.judge.verdict import borderline_regressions, confirmed, decide, unjudgeable_verdict
from gate.read.baseline import baseline_runs, fingerprint_difference, read_baseline_document
from gate.read.policy import load_policy
from gate.read.run import check_judgeable, read_run

# What a verdict judged without a baseline says, in its reason (and so in the summary's first line).
NO_BASELINE = "no baseline comparison (--no-baseline): absolute limits only"
# ... and in its headline, the verdict's first line, whatever the outcome.
NO_COMPARISON = " (no baseline comparison)"


def no_baseline_yet(baseline_path: str, profile: str) -> str:
    """The reason of a `--compare auto` verdict whose baseline file does not exist (yet)."""
    return (f"no baseline comparison (no baseline yet at {baseline_path}): absolute limits only, relative checks "
            f"skipped; record one from 3 runs with this run's settings: python -m gate record --profile {profile} "
            f"--run <run 1> --run <run 2> --run <run 3> --out {baseline_path} (on GitHub: the baseline workflow, "
            "docs/action.md step 4)")


def baseline_missing(baseline_path: str) -> bool:
    """No file at all at `baseline_path` (nor a dangling link): the one case `--compare auto` judges without
    it. A file that is there but unreadable, corrupt or of other settings is a reason not to judge."""
    try:
        os.lstat(baseline_path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def skipped_comparison(baseline_path: str | None, profile: str, missing_ok: bool = False) -> str | None:
    """Why the run is not compared with a baseline (what its verdict's reason starts with), or None when it
    is: `--no-baseline` (baseline_path None), or `--compare auto` (missing_ok) without a baseline file."""
    if baseline_path is None:
        return NO_BASELINE
    if missing_ok and baseline_missing(baseline_path):
        return no_baseline_yet(baseline_path, profile)
    return None


def judge(run_path: str, profile: str, baseline_path: str | None, policy_path: str,
          confirms: str | None = None, missing_ok: bool = False) -> dict:
    """`baseline_path` None: absolute limits and run validity only (`--no-baseline`). `missing_ok`
    (`--compare auto`): the same when no file is at baseline_path, the reason saying where none was found
    and how to record one. `confirms`: the verdict.json of a first run that was a borderline regression;
    this run is its rerun (against a baseline, so never without one)."""
    skipped = skipped_comparison(baseline_path, profile, missing_ok and confirms is None)
    if skipped:
        return absolute_limits_only(_judge(run_path, profile, None, policy_path, confirms), skipped)
    verdict = _judge(run_path, profile, baseline_path, policy_path, confirms)
    verdict["comparison"] = "baseline"
    return verdict


def judge_paired(rounds: list[tuple[str, str]], profile: str, policy_path: str,
                 replaced: list[str] | None = None) -> dict:
    """Base and head rounds (side, folder), in the order they ran on one machine: the verdict of their
    paired difference (judge/paired.py). Every failure is an 'unjudgeable' verdict, never a pass.
    `replaced`: the blocks the runner ran again, and why (shown with the verdict). A round the A/A
    control found disturbed is named in `disturbed_round`, for the runner to run its block again."""
    verdict = _judge_paired(rounds, profile, policy_path)
    verdict["replaced"] = list(replaced or [])
    return verdict


def _judge_paired(rounds: list[tuple[str, str]], profile: str, policy_path: str) -> dict:
    run = None
    try:
        policy = load_policy(policy_path, profile)
        blocks([(side, None) for side, _ in rounds])  # the order first: a wrong one needs no round read
        runs = []
        for side, folder in rounds:
            round_run = read_run(folder)
            check_judgeable(round_run, profile, policy.statistics.min_duration_fraction)
            runs.append((side, round_run))
        first = runs[0][1]
        for side, round_run in runs[1:]:
            difference = fingerprint_difference(first.fingerprint, round_run.fingerprint)
            if difference:
                raise Unjudgeable(f"the rounds were not run alike ({round_run.path}: {difference}): every round of "
                                  "base and head needs the same profile and settings")
        comparison, run, bases, base = compare_paired(runs, policy)
        paired_with = {"runs": [{"counters": one.counters} for one in bases], "counters": base.counters,
                       "fingerprint": first.fingerprint,
                       "provenance": {"command": "paired rounds: " + " ".join(side[0].upper() for side, _ in rounds)
                                      + ("" if len(rounds) >= 2 * MIN_BLOCKS_FOR_CONTROL else
                                         f"; no A/A control: it needs {2 * MIN_BLOCKS_FOR_CONTROL} rounds")}}
        verdict = decide(run, comparison, policy, paired_with, "base rounds", [])
        if verdict["reason"].startswith("compared with "):
            control = ("after an A/A control of the base against itself" if len(bases) >= MIN_BLOCKS_FOR_CONTROL
                       else f"without an A/A control of the base against itself (it needs {2 * MIN_BLOCKS_FOR_CONTROL} "
                            "rounds)")
            verdict["reason"] = (f"paired with {len(bases)} base rounds, block by block (B H H B ...), {control}, at a "
                                 f"false-alarm rate of {policy.statistics.false_alarm_rate:g} "
                                 f"({policy.statistics.correction})")
        verdict["comparison"] = "paired"
        return verdict
    except Unjudgeable as problem:
        verdict = unjudgeable_verdict(problem.reason, profile, run, policy_path, None)
        if isinstance(problem, DisturbedRound):
            verdict["disturbed_round"] = {"round": problem.round, "what": problem.what}
    except Exception as error:
        if os.environ.get("GATE_DEBUG"):
            raise
        reason = " ".join(str(error).split())[:300]
        verdict = unjudgeable_verdict(f"the gate failed unexpectedly ({type(error).__name__}: {reason}); "
                                      "please report it", profile, run, policy_path, None)
    verdict["comparison"] = "paired"
    return verdict


def absolute_limits_only(verdict: dict, why: str = NO_BASELINE) -> dict:
    """Marks a verdict reached without a baseline (`comparison: none`), so no reader takes it for a
    comparison: its headline ends with NO_COMPARISON, its reason starts with `why`."""
    verdict["comparison"] = "none"
    verdict["baseline"] = None
    verdict["headline"] = verdict["headline"].replace(", no significant regression", "") + NO_COMPARISON
    if verdict["verdict"] == "pass" and verdict["reason"].startswith("compared with "):
        verdict["reason"] = why  # decide()'s note of the baseline runs used
        return verdict
    verdict["reason"] = f"{why}; {verdict['reason']}"
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
                problems.append(missing.reason + ("; until one is merged, --compare auto (the action's compare: "
                                                  "auto) judges the absolute limits alone"
                                                  if baseline_missing(baseline_path) else ""))
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
