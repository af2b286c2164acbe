"""The command line: `python -m gate check|paired|record|bench`. Exit 0 pass, 1 fail, 2 cannot judge.

Whatever goes wrong, the user gets one line and exit 2: never a traceback, never exit 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gate import DEFAULT_POLICY, EXIT_PASS, EXIT_UNJUDGEABLE, Unjudgeable


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # a usage error exits 2 with argparse's message
    return run_handler(args, "the gate")


def run_handler(args, what: str) -> int:
    """Runs a command's handler; whatever goes wrong is one line and exit 2, never a traceback."""
    try:
        return args.handler(args)
    except Unjudgeable as problem:
        print(f"CANNOT JUDGE: {problem.reason}")
        return EXIT_UNJUDGEABLE
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return EXIT_UNJUDGEABLE
    except Exception as error:
        if os.environ.get("GATE_DEBUG"):
            raise
        print(f"CANNOT JUDGE: {what} failed unexpectedly ({type(error).__name__}: {_one_line(error)}); "
              "please report it")
        return EXIT_UNJUDGEABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="judge a run folder against its baseline and the policy")
    check.add_argument("--run", required=True, help="run folder, e.g. results/smoke")
    check.add_argument("--profile", required=True, help="load profile, e.g. smoke")
    against = check.add_mutually_exclusive_group()
    against.add_argument("--baseline", help="baseline file (default baselines/<profile>.json)")
    against.add_argument("--no-baseline", action="store_true",
                         help="absolute limits and run validity only: no baseline is read, relative checks "
                              "are skipped (a run with overridden settings); the same as --compare none")
    check.add_argument("--compare", choices=("baseline", "auto", "none"),
                       help="baseline (default): with the baseline, a missing one cannot be judged; auto: with "
                            "the baseline when its file exists, else absolute limits only, saying where none "
                            "was found and how to record one (a repository without a baseline yet); a file "
                            "that is there but corrupt or of other settings still cannot be judged; none: "
                            "--no-baseline")
    check.add_argument("--policy", default=DEFAULT_POLICY, help=f"policy file (default {DEFAULT_POLICY})")
    check.add_argument("--out", help="where to write verdict.json and summary.md (default: the run folder)")
    check.add_argument("--confirms", metavar="VERDICT_JSON",
                       help="this run reruns a borderline first run: fail only if its regressions reproduce")
    check.set_defaults(handler=_check)

    paired = commands.add_parser("paired", help="judge head rounds against base rounds run on one machine in "
                                                "balanced order (B H H B ...), block by block, after an A/A control")
    paired.add_argument("--profile", required=True)
    paired.add_argument("--round", action="append", required=True, metavar="SIDE:FOLDER",
                        help="base:FOLDER or head:FOLDER, one per round, in the order they ran")
    paired.add_argument("--policy", default=DEFAULT_POLICY, help=f"policy file (default {DEFAULT_POLICY})")
    paired.add_argument("--out", required=True, help="where to write verdict.json and summary.md")
    paired.add_argument("--replaced", action="append", default=[], metavar="NOTE",
                        help="a block of rounds run again, and why (scripts/ab.py gives these); shown with the verdict")
    paired.set_defaults(handler=_paired)

    record = commands.add_parser("record", help="build a baseline from one or more run folders (default 3)")
    record.add_argument("--profile", required=True)
    record.add_argument("--run", action="append", required=True, help="a run folder; repeat for several runs")
    record.add_argument("--out", help="baseline file (default baselines/<profile>.json)")
    record.add_argument("--update", action="store_true", help="add the runs to the existing baseline")
    record.add_argument("--keep", type=int, default=5, help="runs an updated baseline keeps (newest; default 5)")
    record.set_defaults(handler=_record)

    bench = commands.add_parser("bench", help="time the analysis of a synthetic 60-minute, 25-endpoint soak")
    bench.add_argument("--endpoints", type=int, default=25)
    bench.add_argument("--minutes", type=float, default=60.0)
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument("--dir", help="keep the synthetic folders here (default: a temporary folder)")
    bench.add_argument("--study", type=int, metavar="TRIALS",
                       help="instead: false alarms and detections over TRIALS synthetic smoke runs")
    bench.add_argument("--machine-cv", type=float, default=0.10, help="study: run-to-run spread of the machine")
    bench.add_argument("--endpoint-cv", type=float, default=0.05, help="study: per-endpoint run-to-run spread")
    bench.set_defaults(handler=_bench)
    return parser


def _check(args) -> int:
    from gate.judge.pipeline import judge

    compare = args.compare or ("none" if args.no_baseline else "baseline")
    if args.no_baseline and compare != "none":
        raise Unjudgeable(f"--no-baseline is --compare none, not --compare {compare}")
    if compare == "none" and args.baseline:
        raise Unjudgeable("--compare none reads no baseline: drop --baseline")
    if compare == "none" and args.confirms:
        raise Unjudgeable("--confirms reruns a borderline regression against the baseline; --no-baseline has none")
    baseline_path = None if compare == "none" else args.baseline or f"baselines/{args.profile}.json"
    verdict = judge(args.run, args.profile, baseline_path, args.policy, args.confirms,
                    missing_ok=compare == "auto")
    return _report(verdict, args.out or args.run)


def _paired(args) -> int:
    from gate.judge.paired import BASE, HEAD
    from gate.judge.pipeline import judge_paired

    rounds = []
    for spec in args.round:
        side, _, folder = spec.partition(":")
        if side not in (BASE, HEAD) or not folder:
            raise Unjudgeable(f"--round {spec!r}: expected {BASE}:FOLDER or {HEAD}:FOLDER")
        rounds.append((side, folder))
    return _report(judge_paired(rounds, args.profile, args.policy, args.replaced), args.out)


def _report(verdict: dict, out: str) -> int:
    """Writes verdict.json and summary.md, prints the two lines; the exit code is the verdict's."""
    from gate.publish.files import write_report
    from gate.report.render import render_summary

    try:
        summary = render_summary(verdict)
    except Exception as error:  # noqa: BLE001 - a broken report must not hide the verdict
        summary = f"## {verdict['headline']}\n\n> {verdict['reason']}\n\n(report failed: {_one_line(error)})\n"
    try:
        write_report(verdict, summary, out)
    except OSError as error:
        print(f"{verdict['headline']}\n{verdict['reason']}\n(could not write the report to {out}: {error})")
        return EXIT_UNJUDGEABLE if verdict["exit_code"] == EXIT_PASS else verdict["exit_code"]
    print(verdict["headline"])
    print(verdict["reason"])
    return verdict["exit_code"]


def _record(args) -> int:
    from gate.read.baseline import (
        read_baseline_document,
        record_baseline,
        update_baseline,
        write_baseline,
    )
    from gate.read.run import check_judgeable, read_run

    out = Path(args.out or f"baselines/{args.profile}.json")
    runs = []
    for folder in args.run:
        run = read_run(folder)
        check_judgeable(run, args.profile)
        if not run.errors_known:
            # Locust writes its failures CSV when it finishes; without it the run was cut short, and
            # a baseline must know its error classes (new ones are called out against it)
            raise Unjudgeable(f"{folder} has no locust_failures.csv: Locust did not finish this run; "
                              "record from complete runs")
        runs.append(run)
    if args.keep < 1:
        raise Unjudgeable("--keep must be at least 1")
    if args.update:
        document = update_baseline(read_baseline_document(out, args.profile), runs, keep=args.keep)
    else:
        document = record_baseline(runs, args.profile)
    write_baseline(document, out)
    count = len(document["runs"])
    print(f"recorded {out}: {count} run{'s' if count != 1 else ''} of profile {args.profile}")
    if count < 2:
        print("note: with one run the between-run spread is assumed, not measured; record 3 runs")
    return EXIT_PASS


def _bench(args) -> int:
    from benchmarks.gate_analysis import run_benchmark, run_noise_study

    if args.study:
        minutes = 2.0 if args.minutes == 60.0 else args.minutes
        run_noise_study(args.study, minutes, args.machine_cv, args.endpoint_cv, folder=args.dir)
    else:
        run_benchmark(args.endpoints, args.minutes, args.repeat, args.dir)
    return EXIT_PASS


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]
