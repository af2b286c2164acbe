"""Calibration benchmark: how often the gate cries wolf, and how often it catches a real regression.

    python -m benchmarks.calibrate [--runs 20] [--sizes 30,100] [--endpoint "POST /api/chat"]

On the reference stack: record a baseline from fresh unchanged runs, then gate N more unchanged
runs (false alarms) and N runs for each injected regression size on one endpoint (detections),
and print the rates side by side with the naive rule "fail if any p95 > 1.2 x baseline p95"
on the very same runs, plus the gate's analysis time. Run it on the machine class your gate runs
on, before trusting the gate with a required check. Every run is bounded in time; the stack is
stopped between conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gate.read.histogram import histogram_from_buckets, percentile
from scripts import layout, profiles, run

NAIVE_RATIO = 1.2


@dataclass
class Outcome:
    condition: str
    gate_exit: int
    gate_flagged: bool  # unchanged: a failing relative regression; injected: one on the endpoint's p95
    breached: bool  # an absolute limit (an SLO) was crossed: real, but not the noise model's doing
    naive_flagged: bool
    analysis_s: float
    findings: list[str] = field(default_factory=list)


def p95_by_endpoint(stats_json: Path) -> dict[str, float]:
    figures = {}
    for entry in json.loads(stats_json.read_text()):
        histogram = histogram_from_buckets({float(ms): count for ms, count in entry["response_times"].items()})
        if histogram.total:
            figures[f"{entry['method']} {entry['name']}"] = percentile(histogram, 0.95)
    return figures


def naive_flags(run_p95: dict[str, float], baseline_p95: dict[str, float]) -> bool:
    return any(run_p95[name] > NAIVE_RATIO * base for name, base in baseline_p95.items() if name in run_p95)


def gate(results: Path, baseline: Path, confirms: Path | None = None,
         out: Path | None = None) -> tuple[int, list[dict], float]:
    command = [sys.executable, "-m", "gate", "check", "--run", str(results), "--profile", "smoke",
               "--baseline", str(baseline), "--policy", str(layout.POLICY)]
    if confirms is not None:
        command += ["--confirms", str(confirms)]
    if out is not None:
        command += ["--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    findings = json.loads(((out or results) / "verdict.json").read_text()).get("findings", [])
    return done.returncode, findings, elapsed


def confirmed_by_rerun(folders: list[Path], baseline: Path) -> list[bool]:
    """What the runner does with a borderline failure: gate the next run of the same condition as its
    confirmation rerun (an independent run, as the rerun would be); True where the failure stands."""
    stands = []
    for index, folder in enumerate(folders):
        verdict = json.loads((folder / "verdict.json").read_text())
        if verdict["exit_code"] != run.REGRESSION or not verdict.get("borderline"):
            stands.append(verdict["exit_code"] == run.REGRESSION)
            continue
        rerun = folders[(index + 1) % len(folders)]
        code, _, _ = gate(rerun, baseline, confirms=folder / "verdict.json", out=folder / "confirmation")
        stands.append(code == run.REGRESSION)
    return stands


def load(folder: Path, args, inject: str | None) -> None:
    if all((folder / name).is_file() for name in ("stats.json", "metrics.json", "report.html")):
        return  # collected by an earlier calibration (the HTML report is written last): only verdicts redone
    if args.judge_only:
        raise SystemExit(f"--judge-only: no run in {folder}")
    env = dict(os.environ)
    env.pop("VOICEASSIST_INJECT_LATENCY", None)
    if inject:
        env["VOICEASSIST_INJECT_LATENCY"] = inject
    command = [sys.executable, "-m", "scripts.run", "smoke", "--run-time", args.run_time, "--port", str(args.port),
               "--results", str(folder), "--no-gate"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"calibration run {folder} failed: {done.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="gated runs per condition")
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--sizes", default="30,100", help="injected p95 regressions, percent")
    parser.add_argument("--endpoint", default="POST /api/chat", help="the endpoint the regression is injected into")
    parser.add_argument("--run-time", default="30s")
    parser.add_argument("--port", type=int, default=8290)
    parser.add_argument("--out", type=Path, default=layout.RESULTS / "calibration")
    parser.add_argument("--judge-only", action="store_true",
                        help="gate the runs already in --out again (e.g. after changing the policy)")
    args = parser.parse_args(argv)
    profiles.parse_timespan(args.run_time)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    baseline_runs = [out / f"baseline-{n}" for n in range(1, args.baseline_runs + 1)]
    for folder in baseline_runs:
        load(folder, args, None)
    baseline = out / "baseline.json"
    record = [sys.executable, "-m", "gate", "record", "--profile", "smoke", "--out", str(baseline)]
    for folder in baseline_runs:
        record += ["--run", str(folder)]
    subprocess.run(record, check=True, capture_output=True)
    per_run = [p95_by_endpoint(folder / "stats.json") for folder in baseline_runs]
    baseline_p95 = {name: statistics.fmean(run_p95[name] for run_p95 in per_run)
                    for name in per_run[0] if all(name in run_p95 for run_p95 in per_run)}

    conditions = [("unchanged", None)] + [
        (f"+{size}% on {args.endpoint}", f"{args.endpoint}=+{size}%") for size in args.sizes.split(",")
    ]
    outcomes: list[Outcome] = []
    folders_of: dict[str, list[Path]] = {}
    for condition, inject in conditions:
        for n in range(1, args.runs + 1):
            folder = out / f"{'unchanged' if inject is None else inject.split('=+')[1].rstrip('%') + 'pct'}-{n}"
            load(folder, args, inject)
            code, findings, elapsed = gate(folder, baseline)
            failing = [f for f in findings if f["severity"] == "fail"]
            regressions = [f for f in failing if f["kind"] != "breach"]
            # unchanged: any failing relative finding is a false alarm; injected: the gate must name
            # the endpoint's p95. Absolute breaches are counted apart: the SLO says what it says.
            flagged = bool(regressions) if inject is None else any(
                f["endpoint"] == args.endpoint and f.get("metric") == "p95" for f in regressions)
            outcome = Outcome(condition, code, flagged, any(f["kind"] == "breach" for f in failing),
                              naive_flags(p95_by_endpoint(folder / "stats.json"), baseline_p95), elapsed,
                              [f["message"] for f in findings if f["severity"] in ("fail", "unjudgeable")])
            outcomes.append(outcome)
            folders_of.setdefault(condition, []).append(folder)
            print(f"{condition:28} run {n:2}: gate exit {code} flagged={flagged!s:5} naive={outcome.naive_flagged!s:5} "
                  f"analysis {elapsed:.2f}s {'; '.join(outcome.findings)[:160]}", flush=True)

    print()
    print(f"calibration: smoke, {args.run_time} runs, baseline of {args.baseline_runs} runs, "
          f"{(time.monotonic() - started) / 60:.0f} min in all; artefacts in {out}")
    print(f"{'condition':32} {'gate flagged':>13} {'after rerun':>12} {'SLO breach':>11} {'cannot judge':>13} "
          f"{'naive 1.2x':>11}")
    for condition, _ in conditions:
        group = [o for o in outcomes if o.condition == condition]
        stands = confirmed_by_rerun(folders_of[condition], baseline)
        after_rerun = sum(o.gate_flagged and standing for o, standing in zip(group, stands, strict=True))
        print(f"{condition:32} {sum(o.gate_flagged for o in group):>6} of {len(group):<4} "
              f"{after_rerun:>5} of {len(group):<4} "
              f"{sum(o.breached for o in group):>4} of {len(group):<4} "
              f"{sum(o.gate_exit == 2 for o in group):>6} of {len(group):<4} "
              f"{sum(o.naive_flagged for o in group):>4} of {len(group):<4}")
    times = [o.analysis_s for o in outcomes]
    print(f"gate analysis time (whole command): median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    (out / "calibration.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
