"""What one comparison cannot answer: `python -m gate.trends soak|spike|stress|history|scrape`.

Reads a run folder's time series (Locust's full-history CSV, the scraped memory CSV, the shape's
phases in metrics.json), hands them to the pure analyses (drift, recovery, capacity, changepoints)
and writes trends.json, trends.md and PNG charts into the run folder. Exit 0 pass, 1 fail,
2 cannot judge (never a traceback). `scrape` is the only command that touches the network.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pandas as pd

from gate import EXIT_FAIL, EXIT_PASS, EXIT_UNJUDGEABLE, Unjudgeable

HISTORY_FILE = "locust_stats_history.csv"
MEMORY_FILE = "memory.csv"
METRICS_FILE = "metrics.json"
TRENDS_JSON = "trends.json"
TRENDS_MD = "trends.md"
DEFAULT_POLICY = "baselines/policy.yml"
# Locust's history columns, under the names the analyses use
HISTORY_COLUMNS = {"Timestamp": "time", "User Count": "users", "Requests/s": "rps", "Failures/s": "fps",
                   "50%": "p50", "95%": "p95", "99%": "p99", "Total Request Count": "requests",
                   "Total Failure Count": "failures"}
# The scraper's hard ceiling, whatever it is asked: a forgotten scraper must end by itself.
SCRAPE_MAX_S = 6 * 3600.0
EXIT_BY_STATUS = {"pass": EXIT_PASS, "fail": EXIT_FAIL, "unjudgeable": EXIT_UNJUDGEABLE}


# -- reading a run folder ------------------------------------------------------------------------


def read_stats_history(folder: Path) -> pd.DataFrame:
    """Locust's --csv-full-history as rows of time, users, endpoint ("METHOD name" or "Aggregated"),
    rps, fps, p50, p95, p99 (ms, over Locust's sliding window; NaN before any request), requests, failures."""
    path = folder / HISTORY_FILE
    if not path.is_file():
        raise Unjudgeable(f"{path} is missing: run Locust with --csv PREFIX --csv-full-history")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise Unjudgeable(f"{path} cannot be read as Locust's history CSV: {error}") from None
    missing = set(HISTORY_COLUMNS) | {"Type", "Name"}
    missing -= set(raw.columns)
    if missing:
        raise Unjudgeable(f"{path} lacks the column(s) {', '.join(sorted(missing))} of Locust's history CSV")
    frame = pd.DataFrame({new: pd.to_numeric(raw[old], errors="coerce") for old, new in HISTORY_COLUMNS.items()})
    kind, name = raw["Type"].str.strip(), raw["Name"].str.strip()
    frame["endpoint"] = (kind + " " + name).where(kind != "", name)
    for column in ("p50", "p95", "p99"):  # Locust writes 0 for a window without requests: no value
        frame[column] = frame[column].mask(frame[column] <= 0)
    frame = frame.dropna(subset=["time"]).sort_values("time", kind="stable").reset_index(drop=True)
    if frame.empty or not (frame["endpoint"] == "Aggregated").any():
        raise Unjudgeable(f"{path} has no Aggregated rows: the run recorded nothing")
    return frame


def read_memory(folder: Path) -> pd.DataFrame | None:
    """The scraper's memory.csv (time, rss_bytes, ...), or None when there is none."""
    path = folder / MEMORY_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        raise Unjudgeable(f"{path} cannot be read: {error}") from None
    if "time" not in frame.columns or "rss_bytes" not in frame.columns:
        raise Unjudgeable(f"{path} lacks the time or rss_bytes column (not written by `gate.trends scrape`?)")
    frame = frame.apply(pd.to_numeric, errors="coerce").dropna(subset=["time"])
    return frame.sort_values("time").reset_index(drop=True)


def read_run_facts(folder: Path) -> dict:
    """metrics.json's start, stop, spawn end and phases (Unix seconds); the readers of gate.run judge
    the rest of the file."""
    path = folder / METRICS_FILE
    if not path.is_file():
        raise Unjudgeable(f"{path} is missing: Locust did not finish cleanly (the suite writes it when Locust quits)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise Unjudgeable(f"{path} is not valid JSON: {error}") from None
    if not isinstance(metrics, dict):
        raise Unjudgeable(f"{path} should be an object")
    facts = {"profile": metrics.get("profile"), "settings": metrics.get("settings") or {},
             "cpu_warning": metrics.get("cpu_warning") is True}
    for key in ("started_at", "stopped_at", "spawn_complete_at"):
        value = metrics.get(key)
        facts[key] = _unix(value, f"{path}: {key}") if value else None
    if facts["started_at"] is None or facts["stopped_at"] is None:
        raise Unjudgeable(f"{path} lacks started_at or stopped_at")
    phases = metrics.get("phases") or []
    if not isinstance(phases, list):
        raise Unjudgeable(f"{path}: phases should be a list")
    clean = []
    for index, phase in enumerate(phases):
        try:
            start, users = float(phase["start"]), int(phase["users"])
            end = float(phase["end"]) if phase.get("end") is not None else facts["stopped_at"]
            name = str(phase["name"])
        except (KeyError, TypeError, ValueError):
            raise Unjudgeable(f"{path}: phases[{index}] should have name, users, start and end") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise Unjudgeable(f"{path}: phases[{index}] ends before it starts")
        clean.append({"name": name, "users": users, "start": start, "end": end})
    facts["phases"] = clean
    return facts


def _unix(value: object, where: str) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise Unjudgeable(f"{where} is not an ISO-8601 time: {value!r:.40}") from None


def aggregated(history: pd.DataFrame) -> pd.DataFrame:
    return history[history["endpoint"] == "Aggregated"].reset_index(drop=True)


# -- limits ---------------------------------------------------------------------------------------


def load_limits(policy_path: str | None, section: str, defaults):
    """The `trends: <section>:` settings of the policy file over the defaults (a missing file or
    section keeps the defaults; an unknown key is an error, as in the gate's policy)."""
    if not policy_path or not Path(policy_path).is_file():
        return defaults
    import yaml

    try:
        document = yaml.safe_load(Path(policy_path).read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise Unjudgeable(f"{policy_path}: cannot be read: {error}") from None
    settings = ((document.get("trends") or {}) if isinstance(document, dict) else {}).get(section) or {}
    if not isinstance(settings, dict):
        raise Unjudgeable(f"{policy_path}: trends.{section} should be a mapping")
    known = set(asdict(defaults))
    unknown = set(settings) - known
    if unknown:
        raise Unjudgeable(f"{policy_path}: trends.{section} has unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    values = {}
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Unjudgeable(f"{policy_path}: trends.{section}.{key} should be a number, got {value!r:.30}")
        values[key] = type(getattr(defaults, key))(value)
    return type(defaults)(**{**asdict(defaults), **values})


# -- writing the report -----------------------------------------------------------------------------


def write_report(out: Path, kind: str, result: dict, markdown: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {"schema": 1, "kind": kind, **result}
    tmp = out / (TRENDS_JSON + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, out / TRENDS_JSON)
    (out / TRENDS_MD).write_text(markdown, encoding="utf-8")


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


# -- commands ---------------------------------------------------------------------------------------


def analyse_run(kind: str, run: str | Path, policy_path: str | None = DEFAULT_POLICY, out: str | Path | None = None,
                baselines: list[str] | tuple[str, ...] = (), limits_path: str | None = None) -> dict:
    """The in-process entry point (for `gate check` or the runner): analyses a soak, spike or stress
    run folder, writes trends.json, trends.md and the PNGs into `out` (default the folder) and returns
    the result with its `status` (pass/fail/unjudgeable), `sentences` and `markdown`. Raises
    Unjudgeable when the folder cannot be analysed. The limits come from `limits_path`'s `trends:`
    section, else the policy file's, else the defaults; the SLOs from the policy's rules."""
    from gate import charts

    folder = Path(run)
    out = Path(out or folder)
    limits_path = limits_path or policy_path
    facts = read_run_facts(folder)
    if facts["cpu_warning"]:
        raise Unjudgeable(f"the load generator saturated its CPU during {folder} (Locust's CPU warning): its "
                          "latencies are untrustworthy; rerun with fewer users or more --processes")
    history = read_stats_history(folder)
    if kind in ("spike", "stress") and not facts["phases"]:
        raise Unjudgeable(f"{folder / METRICS_FILE} has no phases: not a run of the {kind} shape")
    if kind == "soak":
        from gate.drift import SoakLimits, soak_drift

        memory = read_memory(folder)
        result = soak_drift(aggregated(history), memory, load_limits(limits_path, "soak", SoakLimits()),
                            (facts["started_at"], facts["stopped_at"]), facts["spawn_complete_at"])
        result["sentences"] = [result["latency"]["sentence"], result["memory"]["sentence"]]
        pictures = charts.soak_charts(aggregated(history), memory, result, out, facts["started_at"])
        markdown = charts.soak_markdown(result, pictures)
    elif kind == "spike":
        from gate.recovery import SpikeLimits, spike_recovery

        result = spike_recovery(aggregated(history), facts["phases"], load_limits(limits_path, "spike", SpikeLimits()))
        pictures = charts.spike_charts(aggregated(history), facts["phases"], result, out, facts["started_at"])
        markdown = charts.spike_markdown(result, pictures)
    elif kind == "stress":
        from gate.capacity import StressLimits, compare_capacity, stress_capacity

        limits = load_limits(limits_path, "stress", StressLimits())
        slo_p95 = endpoint_p95_limits(policy_path, history["endpoint"].unique())
        result = stress_capacity(history, facts["phases"], limits, slo_p95)
        if baselines:
            result = compare_capacity(result, [_read_trends(path) for path in baselines], limits)
        pictures = charts.stress_charts(result, out)
        markdown = charts.stress_markdown(result, pictures)
    else:
        raise Unjudgeable(f"no trend analysis for {kind!r}: soak, spike or stress")
    write_report(out, kind, {**result, "run": str(folder), "charts": pictures["png"]}, markdown)
    return {**result, "markdown": markdown, "charts": pictures["png"]}


def _read_trends(path: str) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Unjudgeable(f"baseline {path} cannot be read: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != "stress":
        raise Unjudgeable(f"baseline {path} is not the trends.json of a stress run")
    return document


def _analyse(args) -> int:
    result = analyse_run(args.command, args.run, args.policy, args.out, tuple(getattr(args, "baseline", None) or ()),
                         args.limits)
    _print(result["status"], result["sentences"])
    return EXIT_BY_STATUS[result["status"]]


def endpoint_p95_limits(policy_path: str | None, endpoints) -> dict[str, float]:
    """The gate policy's absolute p95 limits (the seed's SLOs), per endpoint: its global rules. The
    stress profile's own section switches them off for the per-run verdict (a stress run breaches them
    by design); the capacity is exactly where they start to be breached."""
    if not policy_path or not Path(policy_path).is_file():
        return {}
    from gate.policy import load_policy

    policy = load_policy(policy_path, "")  # no profile section: the global rules only
    limits = {}
    for endpoint in endpoints:
        p95 = policy.for_endpoint(endpoint).metrics.get("p95")
        if p95 is not None and p95.limit is not None:
            limits[endpoint] = float(p95.limit)
    return limits


def _history(args) -> int:
    from gate import charts, history
    from gate.changepoints import (
        ChangePointSettings,
        find_history_change_points,
        judge_new,
        new_change_points,
    )

    if args.action == "append":
        record = history.record_from_run(Path(args.run), commit=args.commit, date=args.date)
        count = history.append_record(Path(args.history), record)
        print(f"appended night {record['date']} ({record['commit'][:12]}) to {args.history}: {count} nights")
        return EXIT_PASS
    records = history.read_history(Path(args.history))
    settings = load_limits(args.limits or args.policy, "history", ChangePointSettings())
    result = find_history_change_points(records, settings)
    known = json.loads(Path(args.known).read_text(encoding="utf-8")) if args.known and Path(args.known).is_file() \
        else {"change_points": []}
    result["new"] = new_change_points(result["change_points"], known.get("change_points", []))
    result = judge_new(result)
    out = Path(args.out)
    pictures = charts.history_charts(records, result, out)
    markdown = charts.history_markdown(result, pictures)
    write_report(out, "history", {**result, "history": str(args.history), "charts": pictures["png"]}, markdown)
    _print(result["status"], result["sentences"])
    return EXIT_BY_STATUS[result["status"]]


def _scrape(args) -> int:
    rows = scrape_metrics(args.url, Path(args.out), args.every, args.duration, args.until_file)
    print(f"scraped {args.url} {rows} times into {args.out}")
    return EXIT_PASS


def scrape_metrics(url: str, out: Path, every_s: float = 5.0, duration_s: float | None = None,
                   until_file: str | None = None, clock=time.monotonic, sleep=time.sleep) -> int:
    """Samples the target's process gauges every `every_s` seconds into `out` (CSV, flushed per row)
    until `until_file` exists or `duration_s` has passed (never beyond SCRAPE_MAX_S). A scrape that
    fails (target not up yet, or gone) is skipped, not fatal. Returns the rows written."""
    import requests

    from gate.drift import MEMORY_COLUMNS, parse_process_metrics

    every_s = max(0.5, float(every_s))
    limit_s = min(SCRAPE_MAX_S, duration_s if duration_s is not None else SCRAPE_MAX_S)
    started = clock()
    rows = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MEMORY_COLUMNS)
        writer.writeheader()
        for tick in range(int(limit_s / every_s) + 1):  # bounded in count as well as in time
            if until_file and Path(until_file).exists():
                break
            try:
                response = requests.get(url, timeout=min(5.0, every_s))
                gauges = parse_process_metrics(response.text) if response.status_code == 200 else {}
            except (requests.RequestException, ValueError):
                gauges = {}
            if "rss_bytes" in gauges:
                writer.writerow({"time": round(time.time(), 3), **gauges})
                handle.flush()
                rows += 1
            next_at = started + (tick + 1) * every_s
            if next_at - started > limit_s:
                break
            sleep(max(0.0, next_at - clock()))
    return rows


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


if __name__ == "__main__":
    sys.exit(main())
