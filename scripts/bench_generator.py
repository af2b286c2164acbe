"""Benchmark: the load generator's CPU time per request, the suite against a bare FastHttpUser.

    python -m scripts.bench_generator [--users 10] [--seconds 40]

Starts the embedded reference stack, runs the suite's smoke population, then a bare
FastHttpUser hitting /health at the same request rate, and prints, side by side in one run,
the generator's CPU milliseconds per request for each and their ratio (target: at most 1.5x).
CPU time is the Locust process's own (time.process_time) from test start to test stop, so
neither start-up nor the stack's work on the same cores counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts import layout, run
from scripts.profiles import Profile

BARE = Path(__file__).with_name("bare_locustfile.py")


def run_locust(command: list[str], log: Path) -> None:
    with log.open("w") as out:
        if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=layout.SUITE, check=False).returncode:
            raise SystemExit(f"locust failed; see {log}")


def cpu_while_loading(path: Path) -> tuple[float, float]:
    figures = json.loads(path.read_text())
    figures = figures.get("generator", figures)
    return figures["cpu_s"], figures["wall_s"]


def requests_in(stats_json: Path) -> int:
    return sum(entry["num_requests"] for entry in json.loads(stats_json.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--port", type=int, default=8190)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-generator-"))
    target = run.start_reference_stack(work, "127.0.0.1", args.port, workers=1)
    try:
        profile = Profile("smoke", layout.PROFILES / "smoke.conf", args.users, 5.0, args.seconds,
                          (layout.LOCUSTFILE,))
        accounts = run.seed_accounts(profile, work)
        (work / "suite").mkdir()
        run_locust(run.locust_command(profile, target, work / "suite", accounts), work / "suite.log")
        suite_cpu, suite_wall = cpu_while_loading(work / "suite" / "metrics.json")
        suite_requests = requests_in(work / "suite" / "stats.json")
        rate_per_user = suite_requests / args.seconds / args.users

        bare_cmd = [
            sys.executable, "-m", "locust", "-f", str(BARE), "--headless", "--only-summary",
            "--host", target.base_url, "--users", str(args.users), "--spawn-rate", "5",
            "--run-time", f"{args.seconds}s", "--bare-rate", f"{rate_per_user:.3f}",
            "--json-file", str(work / "bare"), "--exit-code-on-error", "0",
            "--bare-cpu-file", str(work / "bare-cpu.json"),
        ]
        run_locust(bare_cmd, work / "bare.log")
        bare_cpu, bare_wall = cpu_while_loading(work / "bare-cpu.json")
        bare_requests = requests_in(work / "bare.json")
    finally:
        run.stop_reference_stack(target)

    rows = [("suite (smoke population)", suite_requests, suite_wall, suite_cpu),
            ("bare FastHttpUser /health", bare_requests, bare_wall, bare_cpu)]
    print(f"{'generator':28} {'requests':>9} {'req/s':>7} {'CPU s':>7} {'CPU ms/request':>15}")
    for name, count, wall, cpu in rows:
        print(f"{name:28} {count:9d} {count / wall:7.1f} {cpu:7.2f} {1000 * cpu / max(count, 1):15.3f}")
    ratio = (suite_cpu / max(suite_requests, 1)) / (bare_cpu / max(bare_requests, 1))
    print(f"ratio suite/bare CPU per request: {ratio:.2f}x (target <= 1.5x)")
    print(f"artefacts: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
