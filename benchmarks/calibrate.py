"""Calibration benchmark: how often the gate cries wolf, and which regressions it catches, per endpoint.

    python -m benchmarks.calibrate [--runs 20] [--sizes 30,100] [--size-runs 20,5]
        [--endpoints "POST /api/chat,GET /api/auth/me,..."] [--baseline baselines/smoke.json | --record 3]

On the reference stack, with the smoke profile as the pull-request gate runs it: gate N unchanged runs
(false alarms: any failing finding of the run, every endpoint together) and N runs for each injected
slowdown (the stack's VOICEASSIST_INJECT_LATENCY, "+30%" of each route's own time, into every listed
endpoint at once: each is judged on its own and counted apart). Prints, per endpoint and side by
side on the very same runs, the gate's detections, the naive rule "p95 > 1.2 x the baseline's" and
github-action-benchmark's default alert (current >= 2 x previous), with exact binomial 95% intervals,
and the slowdown each endpoint showed (the injection adds a share of the server's time, so a fast
endpoint whose time is mostly the client's and the network's shows less than the share).

Every run is bounded in time; runs already in --out are reused (--judge-only gates them again, e.g.
after a policy change). Run it on the machine class your gate runs on, before trusting the gate
with a required check.
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

from scipy.stats import binomtest

from benchmarks.processes import run_child
from gate.read.histogram import histogram_from_buckets, percentile
from gate.read.policy import DISTRIBUTION, load_policy
from scripts import layout, profiles
from scripts.run import unwind_on_sigterm

NAIVE_RATIO = 1.2  # the rule users write first: fail when p95 is 20% above the baseline's
BENCHMARK_ACTION_RATIO = 2.0  # github-action-benchmark's default alert-threshold, 200%
DEFAULT_ENDPOINTS = ("POST /api/chat", "GET /api/conversations", "GET /api/auth/me", "GET /health/detailed",
                     "GET /metrics", "GET /api/admin/kb/documents", "GET /api/admin/cache/stats")


@dataclass
class Outcome:
    condition: str
    folder: str
    gate_exit: int
    failing: list[tuple[str, str]]  # (endpoint, kind) of every failing finding
    p95: dict[str, float]
    requests: dict[str, int]
    analysis_s: float
    messages: list[str] = field(default_factory=list)


def endpoint_figures(stats_json: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Locust's p95 and request count of every endpoint of a run."""
    p95, requests = {}, {}
    for entry in json.loads(stats_json.read_text()):
        name = f"{entry['method']} {entry['name']}"
        histogram = histogram_from_buckets({float(ms): count for ms, count in entry["response_times"].items()})
        requests[name] = int(entry["num_requests"])
        if histogram.total:
            p95[name] = percentile(histogram, 0.95)
    return p95, requests


def gate(results: Path, baseline: Path, out: Path, confirms: Path | None = None) -> tuple[int, list[dict], float]:
    command = [sys.executable, "-m", "gate", "check", "--run", str(results), "--profile", "smoke",
               "--baseline", str(baseline), "--policy", str(layout.POLICY), "--out", str(out)]
    if confirms is not None:
        command += ["--confirms", str(confirms)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    findings = json.loads((out / "verdict.json").read_text()).get("findings", [])
    return done.returncode, findings, elapsed


def after_rerun(group: list[Outcome], out: Path, baseline: Path,
                injected: dict[str, list[str]]) -> list[list[tuple[str, str]]]:
    """What the runner does with a borderline failure: gate a rerun with --confirms and fail only if it
    reproduces. The rerun is the next run of the same condition with the same endpoints slowed (an
    independent run, as the rerun would be). Each run's failing (endpoint, kind) pairs as they stand after it."""
    standing = []
    for index, outcome in enumerate(group):
        verdict = json.loads((out / outcome.folder / "gate" / "verdict.json").read_text())
        if outcome.gate_exit != 1 or not verdict.get("borderline"):
            standing.append(outcome.failing)
            continue
        alike = [o for o in group[index + 1:] + group[:index + 1] if injected[o.folder] == injected[outcome.folder]]
        rerun = out / alike[0].folder
        code, findings, _ = gate(rerun, baseline, out / outcome.folder / "confirmation",
                                 confirms=out / outcome.folder / "gate" / "verdict.json")
        standing.append([(f["endpoint"], f["kind"]) for f in findings if f["severity"] == "fail"] if code == 1 else [])
    return standing


def load(folder: Path, args, inject: str | None) -> None:
    if all((folder / name).is_file() for name in ("stats.json", "metrics.json", "report.html")):
        return  # collected by an earlier calibration (the HTML report is written last): only verdicts redone
    if args.judge_only:
        raise SystemExit(f"--judge-only: no run in {folder}")
    env = dict(os.environ)
    env.pop("VOICEASSIST_INJECT_LATENCY", None)
    if inject:
        env["VOICEASSIST_INJECT_LATENCY"] = inject
    command = [sys.executable, "-m", "scripts.run", "smoke", "--port", str(args.port), "--results", str(folder),
               "--no-gate"]
    limit = profiles.load("smoke").run_time_s + 300
    done = run_child(command, env=env, capture_output=True, text=True, timeout=limit)
    if done.returncode != 0:
        raise SystemExit(f"calibration run {folder} failed: {done.stderr.strip()[-500:]}")


def record_baseline(out: Path, args) -> Path:
    folders = [out / f"baseline-{n}" for n in range(1, args.record + 1)]
    for folder in folders:
        load(folder, args, None)
    baseline = out / "baseline.json"
    command = [sys.executable, "-m", "gate", "record", "--profile", "smoke", "--out", str(baseline)]
    for folder in folders:
        command += ["--run", str(folder)]
    subprocess.run(command, check=True, capture_output=True)
    return baseline


def baseline_p95(baseline: Path) -> dict[str, float]:
    """The baseline's p95 per endpoint (mean over its runs), as the naive rules read a baseline."""
    runs = json.loads(baseline.read_text())["runs"]
    figures: dict[str, list[float]] = {}
    for entry in runs:
        for name, endpoint in entry["endpoints"].items():
            histogram = histogram_from_buckets({float(ms): n for ms, n in endpoint["response_times"].items()})
            if histogram.total:
                figures.setdefault(name, []).append(percentile(histogram, 0.95))
    return {name: statistics.fmean(values) for name, values in figures.items() if len(values) == len(runs)}


def rate(hits: int, runs: int) -> str:
    """'18/20 (68-99%)': the count and its exact (Clopper-Pearson) 95% interval."""
    if runs == 0:
        return "-"
    interval = binomtest(hits, runs).proportion_ci(0.95, method="exact")
    return f"{hits}/{runs} ({interval.low * 100:.0f}-{interval.high * 100:.0f}%)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="unchanged runs (false alarms)")
    parser.add_argument("--sizes", default="30,100", help="injected slowdowns, percent of each route's own time")
    parser.add_argument("--size-runs", default="20,5", help="runs per injected size, in the order of --sizes")
    parser.add_argument("--endpoints", default=",".join(DEFAULT_ENDPOINTS),
                        help="endpoints slowed at once in the injected runs (each judged and counted apart)")
    parser.add_argument("--in-turn", action="store_true",
                        help="slow one endpoint per injected run, in turn, instead of all at once (slowing many "
                             "endpoints together slows the whole server, which the gate takes for a busy machine)")
    parser.add_argument("--baseline", type=Path, default=layout.BASELINES / "smoke.json",
                        help="the baseline the gate compares with (default: the committed one)")
    parser.add_argument("--record", type=int, default=0, help="record a fresh baseline of this many runs instead")
    parser.add_argument("--port", type=int, default=8290)
    parser.add_argument("--out", type=Path, default=layout.RESULTS / "calibration")
    parser.add_argument("--judge-only", action="store_true",
                        help="gate the runs already in --out again (e.g. after changing the policy)")
    args = parser.parse_args(argv)
    unwind_on_sigterm()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    size_runs = [int(n) for n in args.size_runs.split(",") if n]
    if len(size_runs) != len(sizes):
        parser.error(f"--size-runs needs one count per size ({len(sizes)}), got {args.size_runs!r}")
    endpoints = [name.strip() for name in args.endpoints.split(",") if name.strip()]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    baseline = record_baseline(out, args) if args.record else args.baseline.resolve()
    if not baseline.is_file():
        raise SystemExit(f"no baseline {baseline}: record one (make baseline PROFILE=smoke) or pass --record 3")
    reference = baseline_p95(baseline)
    policy = load_policy(layout.POLICY, "smoke")
    # the naive rules are applied to the endpoints the gate compares with the baseline, no others
    judged = sorted(name for name in reference
                    if (test := policy.for_endpoint(name).metrics.get(DISTRIBUTION)) and test.relative)
    unknown = [name for name in endpoints if name not in reference]
    if unknown:
        raise SystemExit(f"not in the baseline: {', '.join(unknown)} (known: {', '.join(sorted(reference))})")

    conditions = [("unchanged", None, args.runs)] + [(f"+{size}%", size, runs) for size, runs in zip(sizes, size_runs)]
    outcomes: list[Outcome] = []
    injected: dict[str, list[str]] = {}  # run folder -> the endpoints slowed in it
    for condition, size, runs in conditions:
        for n in range(1, runs + 1):
            folder = out / f"{'unchanged' if size is None else f'{size}pct'}-{n}"
            slowed = [] if size is None else [endpoints[(n - 1) % len(endpoints)]] if args.in_turn else endpoints
            injected[folder.name] = slowed
            load(folder, args, ";".join(f"{name}=+{size}%" for name in slowed) or None)
            code, findings, elapsed = gate(folder, baseline, folder / "gate")
            p95, requests = endpoint_figures(folder / "stats.json")
            failing = [(f["endpoint"], f["kind"]) for f in findings if f["severity"] == "fail"]
            outcome = Outcome(condition, folder.name, code, failing, p95, requests, elapsed,
                              [f["message"] for f in findings if f["severity"] in ("fail", "unjudgeable")])
            outcomes.append(outcome)
            print(f"{condition:10} run {n:2}: gate exit {code} {'; '.join(outcome.messages)[:200]}", flush=True)

    unchanged = [o for o in outcomes if o.condition == "unchanged"]
    confirmed = {condition: after_rerun([o for o in outcomes if o.condition == condition], out, baseline, injected)
                 for condition, _, _ in conditions}
    print()
    print(f"calibration: smoke as committed, {len(outcomes)} runs, baseline {baseline} "
          f"({len(json.loads(baseline.read_text())['runs'])} runs), {(time.monotonic() - started) / 60:.0f} min; "
          f"artefacts in {out}")
    print()
    print("false alarms per unchanged run, every judged endpoint together:")
    print(f"  gate (any failing finding):            {rate(sum(o.gate_exit == 1 for o in unchanged), len(unchanged))}")
    print(f"  gate after its confirmation rerun:     {rate(sum(bool(f) for f in confirmed['unchanged']), len(unchanged))}"
          "   (the runner reruns a borderline failure once; it stands only if it reproduces)")
    print(f"  gate cannot judge (exit 2):            {rate(sum(o.gate_exit == 2 for o in unchanged), len(unchanged))}")
    for label, ratio in (("naive p95 > 1.2x baseline", NAIVE_RATIO), ("github-action-benchmark 2x", BENCHMARK_ACTION_RATIO)):
        hits = sum(any(o.p95.get(name, 0) > ratio * reference[name] for name in judged) for o in unchanged)
        print(f"  {label + ':':38} {rate(hits, len(unchanged))}")
    flagged = sorted({name for o in unchanged for name, _ in o.failing})
    if flagged:
        print(f"  endpoints the gate failed unchanged runs on: {', '.join(flagged)}")

    for condition, _, _ in conditions[1:]:
        group_all = [o for o in outcomes if o.condition == condition]
        print()
        print(f"{condition} injected into " + (f"one endpoint per run, in turn ({len(group_all)} runs):" if args.in_turn
              else f"{len(endpoints)} endpoints at once ({len(group_all)} runs); each endpoint counted apart:"))
        print(f"  {'endpoint':40} {'requests':>8} {'p95 shown':>9}  {'gate':>16}  {'after rerun':>16}  "
              f"{'cannot judge':>16}  {'naive 1.2x':>16}  {'2x rule':>16}")
        for name in endpoints:
            group = [o for o in group_all if name in injected[o.folder]]
            standings = [standing for o, standing in zip(group_all, confirmed[condition], strict=True)
                         if name in injected[o.folder]]
            if not group:
                continue
            shown = statistics.median(o.p95[name] / reference[name] - 1 for o in group if name in o.p95) * 100
            gate_hits = sum((name, "regression") in o.failing for o in group)
            rerun_hits = sum((name, "regression") in standing for standing in standings)
            naive = sum(o.p95.get(name, 0) > NAIVE_RATIO * reference[name] for o in group)
            double = sum(o.p95.get(name, 0) > BENCHMARK_ACTION_RATIO * reference[name] for o in group)
            requests = statistics.median(o.requests.get(name, 0) for o in group)
            unjudged = sum(o.gate_exit == 2 for o in group)
            print(f"  {name:40} {requests:>8.0f} {shown:>+8.0f}%  {rate(gate_hits, len(group)):>16}  "
                  f"{rate(rerun_hits, len(group)):>16}  {rate(unjudged, len(group)):>16}  {rate(naive, len(group)):>16}  "
                  f"{rate(double, len(group)):>16}")
    times = [o.analysis_s for o in outcomes]
    print()
    print(f"gate analysis time (whole command): median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    (out / "calibration.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
