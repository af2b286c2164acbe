"""The trend analyses' acceptance measurements, scaled to fit a 2-core machine; prints the figures.

    python -m benchmarks.calibrate_trends [--only soak-unchanged,stress-1] [--out /tmp/trends-calibration]
                                       [--port 8011] [--analyze-only]

Each scenario is a real run of the lead's runner (`python -m scripts.run PROFILE ... --no-gate`) on
the reference stack, with drift injected through the stack's environment (stack/drift_injection.py),
then `python -m gate.trends soak|spike|stress` on its folder. Soaks run the /metrics scraper beside
the load. Runs are sequential: two runs at once on two cores would measure each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.processes import run_child
from scripts.run import unwind_on_sigterm

SOAK = ["soak", "--scale", "0.2", "--run-time", "240s", "--think-scale", "0.3"]
SPIKE = ["spike", "--scale", "0.5", "--users", "50", "--run-time", "130s", "--think-scale", "0.5"]
# The spike profile brings its base users in at 2/s for most of its warm-up, so no settled pre-spike
# level is left at any scale; these runs give the steady phase 20 base users and 40 s (Locust's own
# options, which the runner does not expose: the run is driven through the runner's functions).
SPIKE_LOCUST = ["--spike-base-users", "40", "--spike-warmup", "80s"]
# Stages of 24 users held 43 s up to 192 users, at a tenth of the think time, so the 2-core machine
# saturates from the second stage on and the SLOs break inside the run; bcrypt at cost 10 so each
# stage's login burst (a spawn-rate effect) does not decide the capacity by itself.
STRESS = ["stress", "--scale", "0.48", "--users", "192", "--run-time", "346s", "--think-scale", "0.1"]
STRESS_ENV = {"VOICEASSIST_BCRYPT_ROUNDS": "10"}
# name -> (analysis, runner arguments, injected environment, expected status, extra Locust options)
SCENARIOS = {
    "soak-unchanged": ("soak", SOAK, {}, "pass", []),
    "soak-leak": ("soak", SOAK, {"VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST": "20"}, "fail", []),
    "soak-latency": ("soak", SOAK, {"VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN": "20"}, "fail", []),
    "spike-natural": ("spike", SPIKE, {}, "pass", SPIKE_LOCUST),
    "spike-slow-recovery": ("spike", SPIKE, {"VOICEASSIST_INJECT_SLOW_RECOVERY_S": "120"}, "fail", SPIKE_LOCUST),
    "stress-1": ("stress", STRESS, STRESS_ENV, "pass", []),
    "stress-2": ("stress", STRESS, STRESS_ENV, "pass", []),
    "stress-3": ("stress", STRESS, STRESS_ENV, "pass", []),
}
RUN_LIMIT_S = 600  # a run that takes longer than this is stuck: stop it


def run_scenario(name: str, folder: Path, port: int) -> None:
    kind, arguments, injected, _expected, locust_extra = SCENARIOS[name]
    env = {**os.environ, **injected}
    folder.mkdir(parents=True, exist_ok=True)
    stop_file = folder / "scrape.stop"
    stop_file.unlink(missing_ok=True)
    scraper = None
    if kind == "soak":
        scraper = subprocess.Popen([sys.executable, "-m", "gate.trends", "scrape", "--url",
                                    f"http://127.0.0.1:{port}/metrics", "--out", str(folder / "memory.csv"),
                                    "--every", "2", "--until-file", str(stop_file), "--duration", str(RUN_LIMIT_S)])
    try:
        if locust_extra:
            run_with_locust_options(arguments, folder, port, injected, locust_extra)
        else:
            run_child([sys.executable, "-m", "scripts.run", *arguments, "--port", str(port), "--no-gate",
                       "--results", str(folder)], env=env, timeout=RUN_LIMIT_S)
    finally:
        stop_file.touch()
        if scraper is not None:
            scraper.wait(timeout=30)


def run_with_locust_options(arguments: list[str], folder: Path, port: int, injected: dict[str, str],
                            locust_extra: list[str]) -> None:
    """The runner's own steps (scripts.run), with Locust options it does not expose appended."""
    from scripts import layout, profiles
    from scripts import run as runner

    options = runner.parse_args([*arguments, "--port", str(port), "--results", str(folder), "--no-gate"])
    profile = profiles.load(options.profile).scaled(options.scale, options.users, options.run_time)
    results = folder.resolve()
    runner.prepare_results(results)
    saved = {key: os.environ.get(key) for key in injected}
    os.environ.update(injected)  # the stack the runner starts inherits it
    try:
        target = runner.start_reference_stack(results, options.bind, port, options.workers)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        runner.check_target(target.base_url)
        accounts = runner.seed_accounts(profile, results)
        command = runner.locust_command(profile, target, results, accounts, options.think_scale) + locust_extra
        with (results / "locust.log").open("w") as log:
            run_child(command, stdout=log, stderr=subprocess.STDOUT, cwd=layout.SUITE,
                      timeout=profile.run_time_s + runner.LOCUST_GRACE_S)
    finally:
        runner.stop_reference_stack(target)


def analyze(name: str, folder: Path) -> dict:
    kind = SCENARIOS[name][0]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gate.trends", kind, "--run", str(folder)],
                          capture_output=True, text=True, check=False, timeout=120)
    elapsed = time.monotonic() - started
    trends = folder / "trends.json"
    result = json.loads(trends.read_text()) if trends.is_file() and done.returncode in (0, 1) else {}
    return {"exit": done.returncode, "output": done.stdout.strip(), "seconds": round(elapsed, 2), "trends": result}


def changepoint_study(seeds: int, shifts: tuple[tuple[int, float], ...] = ((40, 0.20), (85, 0.15))) -> None:
    """Synthetic 120-night histories (3 endpoints x 5 metrics + the memory slope, 3% night-to-night
    noise): how often are exactly the injected nights found (+-1), and how often does a history
    without shifts raise any change point?"""
    from gate.trends.changepoints import ChangePointSettings, find_history_change_points
    from gate.trends.history import synthetic_history

    settings = ChangePointSettings()
    exact = false_alarms = 0
    started = time.monotonic()
    for seed in range(seeds):
        nights = {p["index"] for p in find_history_change_points(synthetic_history(120, shifts, seed),
                                                                 settings)["change_points"]}
        hits = all(any(abs(night - start) <= 1 for night in nights) for start, _ in shifts)
        stray = [night for night in nights if min(abs(night - start) for start, _ in shifts) > 1]
        exact += hits and not stray
        false_alarms += bool(find_history_change_points(synthetic_history(120, (), seed), settings)["change_points"])
    elapsed = (time.monotonic() - started) / (2 * seeds)
    print(f"change points ({settings}): shifts {shifts} found on their nights (+-1), nothing else, in "
          f"{exact}/{seeds} histories; shift-free histories with any change point: {false_alarms}/{seeds}; "
          f"{elapsed:.2f} s per 120-night history")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_trends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated scenarios (default all: {', '.join(SCENARIOS)})")
    parser.add_argument("--out", type=Path, default=Path("/tmp/trends-calibration"))
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--analyze-only", action="store_true", help="analyse the existing run folders again")
    parser.add_argument("--changepoints", type=int, metavar="SEEDS",
                        help="only the change-point study on this many synthetic histories (no load)")
    args = parser.parse_args(argv)
    unwind_on_sigterm()
    if args.changepoints:
        changepoint_study(args.changepoints)
        return 0
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}")
    outcomes = {}
    for name in names:
        folder = args.out / name
        if not args.analyze_only:
            print(f"== {name}: {' '.join(SCENARIOS[name][1])} {SCENARIOS[name][2] or ''}", flush=True)
            run_scenario(name, folder, args.port)
        outcomes[name] = analyze(name, folder)
        expected = SCENARIOS[name][3]
        status = outcomes[name]["trends"].get("status", "unjudgeable")
        print(f"== {name}: {status} (expected {expected}), exit {outcomes[name]['exit']}, "
              f"analysis {outcomes[name]['seconds']} s\n{outcomes[name]['output']}", flush=True)
    stress = [outcome["trends"] for name, outcome in outcomes.items() if name.startswith("stress-")]
    if len(stress) >= 2:
        for figure in ("capacity_users", "knee_users", "max_throughput_rps"):
            values = [trend.get(figure) for trend in stress]
            if all(isinstance(value, int | float) for value in values):
                spread = (max(values) - min(values)) / min(values) * 100 if min(values) else float("inf")
                print(f"stress {figure}: {values}; max/min - 1 = {spread:.0f}% (acceptance: within 20%)")
            else:
                print(f"stress {figure}: {values} (not all measured)")
    record = args.out / "calibration.json"  # merged with earlier invocations' scenarios
    earlier = json.loads(record.read_text()) if record.is_file() else {}
    record.write_text(json.dumps({**earlier, **outcomes}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
