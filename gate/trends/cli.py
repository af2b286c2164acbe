"""`python -m gate.trends soak|spike|stress|history|scrape`: the trend analyses' command line.

Exit 0 pass, 1 fail, 2 cannot judge (never a traceback). `scrape` is the only command that touches
the network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gate import DEFAULT_POLICY, EXIT_FAIL, EXIT_PASS, EXIT_UNJUDGEABLE
from gate.trends.analysis import analyse_history, analyse_run
from gate.trends.scrape import SCRAPE_MAX_S, scrape_metrics

EXIT_BY_STATUS = {"pass": EXIT_PASS, "fail": EXIT_FAIL, "unjudgeable": EXIT_UNJUDGEABLE}


def _analyse(args) -> int:
    result = analyse_run(args.command, args.run, args.policy, args.out, tuple(getattr(args, "baseline", None) or ()),
                         args.limits)
    _print(result["status"], result["sentences"])
    return EXIT_BY_STATUS[result["status"]]


def _history(args) -> int:
    from gate.trends import history

    if args.action == "append":
        record = history.record_from_run(Path(args.run), commit=args.commit, date=args.date)
        count = history.append_record(Path(args.history), record)
        print(f"appended night {record['date']} ({record['commit'][:12]}) to {args.history}: {count} nights")
        return EXIT_PASS
    result = analyse_history(args.history, args.known, args.out, args.limits or args.policy)
    _print(result["status"], result["sentences"])
    return EXIT_BY_STATUS[result["status"]]


def _scrape(args) -> int:
    rows = scrape_metrics(args.url, Path(args.out), args.every, args.duration, args.until_file)
    print(f"scraped {args.url} {rows} times into {args.out}")
    return EXIT_PASS


def _print(status: str, sentences: list[str]) -> None:
    print({"pass": "PASS", "fail": "FAIL", "unjudgeable": "CANNOT JUDGE"}[status])
    for sentence in sentences:
        print(f"- {sentence}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate.trends", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("soak", "latency and memory drift over a soak run"),
        ("spike", "the spike's first minute and the time to recover"),
        ("stress", "capacity and knee of a staged stress run"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--run", required=True, help="run folder, e.g. results/soak")
        command.add_argument("--policy", default=DEFAULT_POLICY,
                             help=f"policy file; its `trends:` section overrides the defaults (default {DEFAULT_POLICY})")
        command.add_argument("--limits", help="a YAML file whose `trends:` section sets the limits (default: --policy's)")
        command.add_argument("--out", help="where to write trends.json, trends.md, PNGs (default: the run folder)")
        if name == "stress":
            command.add_argument("--baseline", action="append",
                                 help="trends.json of a baseline stress run; repeat for several")
        command.set_defaults(handler=_analyse)
    history = commands.add_parser("history", help="nightly history: append a night, or find change points")
    history.add_argument("action", choices=("append", "analyze"))
    history.add_argument("--history", required=True, help="the history file (JSON lines), e.g. soak.jsonl")
    history.add_argument("--run", help="append: the nightly soak's run folder")
    history.add_argument("--commit", help="append: the commit measured (default $GITHUB_SHA or git HEAD)")
    history.add_argument("--date", help="append: the night (default: the run's start, UTC)")
    history.add_argument("--known", help="analyze: change points already reported (a previous trends.json)")
    history.add_argument("--out", default=".", help="analyze: where to write trends.json, trends.md, PNGs")
    history.add_argument("--policy", default=DEFAULT_POLICY)
    history.add_argument("--limits", help="a YAML file whose `trends: history:` section sets the detection")
    history.set_defaults(handler=_history)
    scrape = commands.add_parser("scrape", help="sample the target's /metrics process memory into memory.csv")
    scrape.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000/metrics")
    scrape.add_argument("--out", required=True, help="CSV to write, e.g. results/soak/memory.csv")
    scrape.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    scrape.add_argument("--duration", type=float, help=f"stop after this many seconds (at most {SCRAPE_MAX_S:.0f})")
    scrape.add_argument("--until-file", help="stop as soon as this file exists")
    scrape.set_defaults(handler=_scrape)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # a usage error exits 2 with argparse's message
    if args.command == "history" and args.action == "append" and not args.run:
        print("CANNOT JUDGE: history append needs --run")
        return EXIT_UNJUDGEABLE
    from gate.cli import run_handler

    return run_handler(args, "the trend analysis")
