"""Where a paired run's error comes from: each round's own speed, shared by every endpoint, or the endpoint.

    python -m benchmarks.round_noise results/smoke/rounds [more rounds folders ...]

Reads finished rounds (`NN-base`, `NN-head` folders, as `make ab` and benchmarks.calibrate_paired leave
them) and prints, per endpoint, how far a round's trimmed mean of log response time strays (sd over
rounds, each folder's sides centred apart, so a change between base and head does not count):

- raw: what the paired verdict's block differences carry today;
- net: after the round's common factor, the median over the *other* endpoints of their deviation, times
  the endpoint's loading on it (a regression over the rounds: ~1 for short routes that wait on the CPU,
  ~0 for chat, which mostly waits on the upstream model);
- sampling: what the histogram says a round's requests alone would give (iid requests).

Then the common factor itself: its sd per round and its lag-1 autocorrelation from one round to the next.
On this project's 2-core machine the factor is most of a short endpoint's error and changes from one
round to the next (the host's speed per vCPU, measured apart at +-8-15% over 5-s windows, independent
between the two vCPUs): blocks of adjacent rounds do not cancel it. Nothing here is a test: it prints
figures.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

from gate.judge.noise import TRIMMED_MEAN, observe
from gate.read.run import AGGREGATED, read_run

# Endpoints left out as the verdict leaves them (policy: no comparison of their distribution)
NOT_COMPARED = {"POST /api/auth/login", "POST /api/auth/logout", "GET /health", "WS /api/realtime/ws ping", AGGREGATED}
MIN_ROUNDS = 6


def rounds_of(folder: Path) -> list[tuple[str, Path]]:
    """(group, round folder) of every finished round under `folder`: the group is the folder and the side."""
    found = []
    for round_folder in sorted(folder.glob("[0-9][0-9]-*")):
        if (round_folder / "stats.json").is_file():
            found.append((f"{folder}:{round_folder.name.split('-', 1)[1]}", round_folder))
    return found


def figures(rounds: list[tuple[str, Path]]) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """(endpoints, log trimmed means [round, endpoint] centred per group, sampling variances, groups)."""
    runs = [(group, read_run(folder)) for group, folder in rounds]
    names = sorted(set.intersection(*(set(run.endpoints) for _, run in runs)) - NOT_COMPARED)
    observed = [[observe(TRIMMED_MEAN, run.endpoints[name], run.duration_s) for name in names] for _, run in runs]
    logs = np.array([[o.log for o in row] for row in observed])
    variances = np.array([[o.variance for o in row] for row in observed])
    groups = [group for group, _ in runs]
    for group in set(groups):
        members = [index for index, g in enumerate(groups) if g == group]
        logs[members] -= logs[members].mean(axis=0)
    return names, logs, variances, groups


def decompose(logs: np.ndarray, variances: np.ndarray, groups: list[str]) -> list[dict[str, float]]:
    """Per endpoint: raw, net and sampling sd of a round's figure, and its loading on the common factor."""
    rounds, endpoints = logs.shape
    dof = rounds - len(set(groups))  # one mean per group taken out
    rows = []
    for index in range(endpoints):
        common = np.median(np.delete(logs, index, axis=1), axis=1)
        raw = logs[:, index]
        loading = float(common @ raw / (common @ common)) if common @ common > 0 else 0.0
        rows.append({"raw": math.sqrt(float(raw @ raw) / dof),
                     "net": math.sqrt(float((raw - loading * common) @ (raw - loading * common)) / (dof - 1)),
                     "sampling": math.sqrt(float(variances[:, index].mean())), "loading": loading})
    return rows


def common_factor(logs: np.ndarray, groups: list[str]) -> tuple[float, float]:
    """(sd per round, lag-1 autocorrelation within each group's rounds in order) of the rounds' median
    deviation over endpoints."""
    common = np.median(logs, axis=1)
    pairs = [(common[i], common[i + 1]) for i in range(len(common) - 1) if groups[i] == groups[i + 1]]
    dof = len(common) - len(set(groups))
    lag = float(np.corrcoef(np.array(pairs).T)[0, 1]) if len(pairs) > 2 else float("nan")
    return math.sqrt(float(common @ common) / dof), lag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.round_noise", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path,
                        help="folders of rounds (NN-base, NN-head), e.g. results/smoke/rounds or a calibration "
                             "trial's paired/rounds")
    args = parser.parse_args(argv)
    rounds = [found for folder in args.folders for found in rounds_of(folder)]
    if len(rounds) < MIN_ROUNDS:
        parser.error(f"{len(rounds)} finished rounds in {', '.join(map(str, args.folders))}: at least {MIN_ROUNDS} "
                     "are needed (folders NN-base or NN-head holding stats.json)")
    names, logs, variances, groups = figures(rounds)
    rows = decompose(logs, variances, groups)
    print(f"{len(rounds)} rounds in {len(set(groups))} groups (folder and side), {len(names)} endpoints; "
          "sd of a round's trimmed mean of log response time:\n")
    print("| endpoint | raw | net of the round's speed | loading | sampling (iid requests) |\n|---|---|---|---|---|")
    for name, row in zip(names, rows):
        print(f"| {name} | {row['raw']:.3f} | {row['net']:.3f} | {row['loading']:.2f} | {row['sampling']:.3f} |")
    print()
    print("\n".join(summary(logs, groups, rows)))
    return 0


def summary(logs: np.ndarray, groups: list[str], rows: list[dict[str, float]]) -> list[str]:
    """The common factor's spread and carry-over, and the share of the endpoints' variance it explains."""
    spread, lag = common_factor(logs, groups)
    lines = [f"the rounds' common factor: sd {spread:.3f} per round, lag-1 autocorrelation {lag:+.2f}"]
    shared = [1 - (row["net"] / row["raw"]) ** 2 for row in rows if row["loading"] > 0.5]
    if shared:
        lines.append(f"share of a round's variance it explains on the {len(shared)} endpoints that follow it "
                     f"(loading > 0.5): median {statistics.median(shared):.0%} ({min(shared):.0%} to {max(shared):.0%})")
    return lines


if __name__ == "__main__":
    sys.exit(main())
