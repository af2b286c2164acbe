"""The analysis-time benchmark: `python -m gate bench` synthesises a 60-minute, 25-endpoint soak
(stats.json with every second's counts, the full-history CSV, failures) and a 3-run baseline, then times
the gate on it: in-process (read -> compare -> render) and as the command the runner calls.
Figures are printed, not asserted: the machine decides them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.synthetic import VOICEASSIST_ENDPOINTS, EndpointShape, RunShape, write_run
from gate.judge.pipeline import judge
from gate.read.baseline import record_baseline, write_baseline
from gate.read.run import read_run
from gate.report.render import render_summary

REQUESTS_PER_SECOND_PER_ENDPOINT = 4.0  # 100 req/s in all: a 100-user soak


def soak_shape(endpoints: int, minutes: float, run_factor: float = 1.0) -> RunShape:
    names = list(VOICEASSIST_ENDPOINTS)
    names += [f"GET /api/admin/panel/extra-{n}" for n in range(max(endpoints - len(names), 0))]
    requests = int(REQUESTS_PER_SECOND_PER_ENDPOINT * minutes * 60)
    shapes = {
        name: EndpointShape(VOICEASSIST_ENDPOINTS.get(name, (100.0 + 10 * index, 0))[0], requests,
                            failures=requests // 500)
        for index, name in enumerate(names[:endpoints])
    }
    return RunShape(profile="soak", endpoints=shapes, duration_s=minutes * 60.0, users=100, run_factor=run_factor,
                    history=True)


def run_benchmark(endpoints: int = 25, minutes: float = 60.0, repeat: int = 3, folder: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(folder or scratch)
        started = time.perf_counter()
        runs = [write_run(root / f"baseline-{n}", soak_shape(endpoints, minutes, factor), seed=n)
                for n, factor in ((1, 1.0), (2, 1.05), (3, 0.97))]
        baseline = root / "soak.json"
        write_baseline(record_baseline([read_run(run) for run in runs], "soak", commit="bench"), baseline)
        run = write_run(root / "run", soak_shape(endpoints, minutes, 1.02), seed=9)
        synthesis = time.perf_counter() - started
        policy = Path(__file__).resolve().parent.parent / "baselines" / "policy.yml"
        sizes = {path.name: path.stat().st_size for path in run.iterdir()}

        in_process = []
        for _ in range(repeat):
            started = time.perf_counter()
            verdict = judge(str(run), "soak", str(baseline), str(policy))
            render_summary(verdict)
            in_process.append(time.perf_counter() - started)
        command = [sys.executable, "-m", "gate", "check", "--run", str(run), "--profile", "soak",
                   "--baseline", str(baseline), "--policy", str(policy), "--out", str(root / "out")]
        end_to_end = []
        for _ in range(repeat):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            end_to_end.append(time.perf_counter() - started)
    figures = {
        "endpoints": endpoints,
        "minutes": minutes,
        "requests": sum(e.requests for e in soak_shape(endpoints, minutes).endpoints.values()),
        "stats_json_bytes": sizes.get("stats.json"),
        "history_csv_bytes": sizes.get("locust_stats_history.csv"),
        "verdict": verdict["verdict"],
        "exit_code": done.returncode,
        "in_process_s": min(in_process),
        "end_to_end_s": min(end_to_end),
        "end_to_end_max_s": max(end_to_end),
        "synthesis_s": synthesis,
    }
    print(f"soak of {minutes:g} min, {endpoints} endpoints, {figures['requests']:,} requests; stats.json "
          f"{figures['stats_json_bytes'] / 1e6:.1f} MB, history CSV {figures['history_csv_bytes'] / 1e6:.1f} MB")
    print(f"verdict {figures['verdict']} (exit {figures['exit_code']})")
    print(f"analysis in-process (read + compare + render), best of {repeat}: {figures['in_process_s']:.2f} s")
    print(f"python -m gate check end to end (interpreter, imports, files), best of {repeat}: "
          f"{figures['end_to_end_s']:.2f} s (worst {figures['end_to_end_max_s']:.2f} s)")
    return figures


def run_noise_study(trials: int = 40, minutes: float = 2.0, machine_cv: float = 0.10, endpoint_cv: float = 0.05,
                    endpoint: str = "GET /api/auth/me", seed: int = 123, folder: str | None = None) -> dict:
    """How often the gate fails unchanged runs, and runs with one endpoint's latency x1.3 and x2,
    on synthetic smoke-shaped runs whose machine and endpoints swing log-normally by the given spreads;
    beside the naive rule "fail if any p95 > 1.2 x baseline p95". A quick in-process study of the
    noise model; the calibration benchmark on real runs is scripts' business."""
    import numpy as np

    from benchmarks.synthetic import smoke_shape

    policy = Path(__file__).resolve().parent.parent / "baselines" / "policy.yml"
    rng = np.random.default_rng(seed)
    effects = (1.0, 1.3, 2.0)
    gate_fails = dict.fromkeys(effects, 0)
    naive_fails = dict.fromkeys(effects, 0)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(folder or scratch)
        for trial in range(trials):
            factors = np.exp(rng.normal(0.0, machine_cv, 4))
            runs = [read_run(write_run(root / f"{trial}-b{n}",
                                       smoke_shape(minutes, run_factor=factors[n], endpoint_cv=endpoint_cv),
                                       seed=trial * 100 + n)) for n in range(3)]
            baseline = root / f"{trial}.json"
            write_baseline(record_baseline(runs, "smoke", commit="study"), baseline)
            for effect in effects:
                shape = smoke_shape(minutes, run_factor=factors[3], endpoint_cv=endpoint_cv)
                shape.endpoints[endpoint].median_ms *= effect
                run = write_run(root / f"{trial}-x{effect}", shape, seed=trial * 100 + 50)
                verdict = judge(str(run), "smoke", str(baseline), str(policy))
                gate_fails[effect] += verdict["exit_code"] == 1
                naive_fails[effect] += any(
                    (e["metrics"].get("p95") or {}).get("change_pct") is not None
                    and e["metrics"]["p95"]["change_pct"] > 20
                    for e in verdict["endpoints"] if e["endpoint"] != "Aggregated")
    print(f"{trials} trials of {minutes:g}-minute smoke runs, machine spread {machine_cv:.0%}, "
          f"per-endpoint spread {endpoint_cv:.0%}, change on {endpoint}:")
    for effect in effects:
        label = "unchanged" if effect == 1.0 else f"p95 x{effect:g}"
        print(f"  {label:10} gate fails {gate_fails[effect]}/{trials}, naive 1.2x rule fails "
              f"{naive_fails[effect]}/{trials}")
    return {"gate": gate_fails, "naive": naive_fails}
