"""Benchmark: the load generator's CPU time per request, the suite against a bare FastHttpUser.

    python -m benchmarks.generator [--users 10] [--seconds 40] [--pairs 3]

Starts the embedded reference stack, runs the suite's smoke population, then a bare
FastHttpUser hitting /health at the same request rate, --pairs times alternated, and prints, side
by side in one run, the generator's CPU milliseconds per request for each, each pair's ratio and
their median (target: at most 1.5x).

The bare user runs twice a pair: with random think times like the suite's users (the yardstick
the target is judged against: same rate, same independent arrivals, so only the suite's own work
differs) and on a fixed beat (shown for scale: on a small VM a fixed beat alone halves Locust's CPU
per request, see bare_locustfile.py).
CPU time is the Locust process's own (time.process_time) from test start to test stop, so
neither start-up nor the stack's work on the same cores counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.processes import run_child
from scripts import layout, run
from scripts.profiles import Profile

BARE = Path(__file__).with_name("bare_locustfile.py")
# the bare user's pacings: the like-for-like yardstick first
PACINGS = {"random": "random think times like the suite's (the yardstick)",
           "constant": "fixed beat (for scale)"}


def run_locust(command: list[str], log: Path) -> None:
    with log.open("w") as out:
        if run_child(command, stdout=out, stderr=subprocess.STDOUT, cwd=layout.SUITE).returncode:
            raise SystemExit(f"locust failed; see {log}")


def cpu_while_loading(path: Path) -> tuple[float, float]:
    figures = json.loads(path.read_text())
    figures = figures.get("generator", figures)
    return figures["cpu_s"], figures["wall_s"]


def requests_in(stats_json: Path) -> int:
    return sum(entry["num_requests"] for entry in json.loads(stats_json.read_text()))


def suite_run(profile: Profile, target, accounts: Path, folder: Path) -> tuple[int, float, float]:
    folder.mkdir()
    run_locust(run.locust_command(profile, target, folder, accounts), folder.with_suffix(".log"))
    cpu, wall = cpu_while_loading(folder / "metrics.json")
    return requests_in(folder / "stats.json"), wall, cpu


def bare_run(args: argparse.Namespace, target, rate_per_user: float, pacing: str,
             folder: Path) -> tuple[int, float, float]:
    folder.mkdir()
    run_locust([
        sys.executable, "-m", "locust", "-f", str(BARE), "--headless", "--only-summary",
        "--host", target.base_url, "--users", str(args.users), "--spawn-rate", "5",
        "--run-time", f"{args.seconds}s", "--bare-rate", f"{rate_per_user:.3f}", "--bare-pacing", pacing,
        "--json-file", str(folder / "stats"), "--exit-code-on-error", "0",
        "--bare-cpu-file", str(folder / "cpu.json"),
    ], folder.with_suffix(".log"))
    cpu, wall = cpu_while_loading(folder / "cpu.json")
    return requests_in(folder / "stats.json"), wall, cpu


def cost_per_request(figures: tuple[int, float, float]) -> float:
    count, _wall, cpu = figures
    return 1000 * cpu / max(count, 1)


def print_row(pair: int, name: str, figures: tuple[int, float, float], ratio: str) -> None:
    count, wall, cpu = figures
    print(f"{pair:4d} {name:36} {count:9d} {count / wall:7.1f} {cpu:7.2f} {cost_per_request(figures):15.3f} "
          f"{ratio:>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=3,
                        help="suite and bare runs, alternated; the median ratio is the figure (a shared machine "
                             "moves a single pair by 20%%)")
    parser.add_argument("--port", type=int, default=8190)
    args = parser.parse_args(argv)
    run.unwind_on_sigterm()

    work = Path(tempfile.mkdtemp(prefix="bench-generator-"))
    target = run.start_reference_stack(work, "127.0.0.1", args.port, workers=1)
    rows = []
    try:
        profile = Profile("smoke", layout.PROFILES / "smoke.conf", args.users, 5.0, args.seconds,
                          (layout.LOCUSTFILE,))
        accounts = run.seed_accounts(profile, work)
        for pair in range(1, args.pairs + 1):
            suite = suite_run(profile, target, accounts, work / f"suite-{pair}")
            rate = suite[0] / args.seconds / args.users
            bares = {pacing: bare_run(args, target, rate, pacing, work / f"bare-{pacing}-{pair}") for pacing in PACINGS}
            rows.append((pair, suite, bares))
    finally:
        run.stop_reference_stack(target)

    print(f"{'pair':>4} {'generator':36} {'requests':>9} {'req/s':>7} {'CPU s':>7} {'CPU ms/request':>15} "
          f"{'suite/this':>10}")
    ratios: dict[str, list[float]] = {pacing: [] for pacing in PACINGS}
    for pair, suite, bares in rows:
        suite_cost = cost_per_request(suite)
        print_row(pair, "suite (smoke population)", suite, "")
        for pacing, bare in bares.items():
            ratios[pacing].append(suite_cost / cost_per_request(bare))
            print_row(pair, f"bare FastHttpUser /health, {pacing}", bare, f"{ratios[pacing][-1]:.2f}x")
    for pacing, label in PACINGS.items():
        print(f"suite/bare CPU per request, {label}, median of {len(rows)} pairs: "
              f"{statistics.median(ratios[pacing]):.2f}x (pairs {', '.join(f'{r:.2f}' for r in ratios[pacing])})"
              + ("; target <= 1.5x" if pacing == "random" else ""))
    print(f"artefacts: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
