"""Record (or update) a profile's committed baseline from several fresh runs.

    python -m scripts.baseline smoke --runs 3            # make baseline PROFILE=smoke RUNS=3
    python -m scripts.baseline smoke --runs 2 --update   # add two runs to the existing baseline

Every option the runner takes (--scale, --users, --run-time, --stack, --host, ...) passes through,
so a baseline is recorded exactly as the gate's runs will be made. Several runs let the gate
measure run-to-run spread instead of guessing it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from scripts import layout, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--runs", type=int, default=3, help="fresh runs to record (default 3)")
    parser.add_argument("--update", action="store_true", help="merge the runs into the existing baseline")
    parser.add_argument("--out", help="baseline file (default baselines/<profile>.json)")
    args, runner_options = parser.parse_known_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    folders = []
    for number in range(1, args.runs + 1):
        folder = layout.RESULTS / args.profile / f"baseline-run-{number}"
        print(f"baseline: run {number} of {args.runs} -> {folder}", flush=True)
        code = run.main([args.profile, *runner_options, "--results", str(folder), "--no-gate"])
        if code != run.PASS:
            print(f"baseline: run {number} could not be completed; nothing recorded", file=sys.stderr)
            return run.UNJUDGEABLE
        folders.append(folder.resolve())

    out = str(Path(args.out).resolve()) if args.out else str(layout.baseline_for(args.profile))
    command = [sys.executable, "-m", "gate", "record", "--profile", args.profile, "--out", out]
    for folder in folders:
        command += ["--run", str(folder)]
    if args.update:
        command.append("--update")
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
