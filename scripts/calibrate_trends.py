"""The trend analyses' acceptance measurements, scaled to fit a 2-core machine; prints the figures.

    python -m scripts.calibrate_trends [--only soak-unchanged,stress-1] [--out /tmp/trends-calibration]
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

SOAK = ["soak", "--scale", "0.2", "--run-time", "240s", "--think-scale", "0.3"]
SPIKE = ["spike", "--scale", "0.5", "--users", "100", "--run-time", "120s", "--think-scale", "0.5"]
STRESS = ["stress", "--scale", "0.33", "--users", "96", "--run-time", "180s", "--think-scale", "0.3"]
# name -> (analysis, runner arguments, injected environment, expected status)
SCENARIOS = {
    "soak-unchanged": ("soak", SOAK, {}, "pass"),
    "soak-leak": ("soak", SOAK, {"VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST": "20"}, "fail"),
    "soak-latency": ("soak", SOAK, {"VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN": "20"}, "fail"),
    "spike-natural": ("spike", SPIKE, {}, "pass"),
    "spike-slow-recovery": ("spike", SPIKE, {"VOICEASSIST_INJECT_SLOW_RECOVERY_S": "120"}, "fail"),
    "stress-1": ("stress", STRESS, {}, "pass"),
    "stress-2": ("stress", STRESS, {}, "pass"),
    "stress-3": ("stress", STRESS, {}, "pass"),
}
RUN_LIMIT_S = 600  # a run that takes longer than this is stuck: stop it


def run_scenario(name: str, folder: Path, port: int) -> None:
    kind, arguments, injected, _expected = SCENARIOS[name]
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
        subprocess.run([sys.executable, "-m", "scripts.run", *arguments, "--port", str(port), "--no-gate",
                        "--results", str(folder)], env=env, check=False, timeout=RUN_LIMIT_S)
    finally:
        stop_file.touch()
        if scraper is not None:
            scraper.wait(timeout=30)


def analyze(name: str, folder: Path) -> dict:
    kind = SCENARIOS[name][0]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gate.trends", kind, "--run", str(folder)],
                          capture_output=True, text=True, check=False, timeout=120)
    elapsed = time.monotonic() - started
    trends = folder / "trends.json"
    result = json.loads(trends.read_text()) if trends.is_file() and done.returncode in (0, 1) else {}
    return {"exit": done.returncode, "output": done.stdout.strip(), "seconds": round(elapsed, 2), "trends": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.calibrate_trends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help=f"comma-separated scenarios (default all: {', '.join(SCENARIOS)})")
    parser.add_argument("--out", type=Path, default=Path("/tmp/trends-calibration"))
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--analyze-only", action="store_true", help="analyse the existing run folders again")
    args = parser.parse_args(argv)
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
        for figure in ("capacity_users", "knee_users"):
            values = [trend.get(figure) for trend in stress]
            if all(isinstance(value, int | float) for value in values):
                spread = (max(values) - min(values)) / min(values) * 100 if min(values) else float("inf")
                print(f"stress {figure}: {values}; max/min - 1 = {spread:.0f}% (acceptance: within 20%)")
            else:
                print(f"stress {figure}: {values} (not all measured)")
    (args.out / "calibration.json").write_text(json.dumps(outcomes, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
