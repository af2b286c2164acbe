"""Run one profile end to end: start the stack, load it with Locust, gate the result.

    python -m scripts.run smoke                      # embedded reference stack, smoke profile
    python -m scripts.run smoke --stack external --host http://127.0.0.1:8000

Exit code is the gate's: 0 pass, 1 regression or threshold breach, 2 the run cannot be judged
(target down, Locust crashed or timed out, no requests, a missing baseline unless --compare auto,
...). Every artefact goes to results/<profile>/ (or --results), a folder CI can find without
guessing names.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts import layout, profiles
from scripts.profiles import Profile, ProfileError

PASS, REGRESSION, UNJUDGEABLE = 0, 1, 2

# Artefacts of one run; removed before a new run so a stale file is never judged.
ARTEFACTS = (
    "stats.json", "metrics.json", "report.html", "locust.log", "verdict.json", "summary.md",
    "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust_exceptions.csv",
    "accounts.json", "stack.log", "stack.pid", "memory.csv", "scrape.stop", "trends.json", "trends.md",
)
# Profiles whose question is not "slower than the baseline?" alone: the trend analysis of gate.trends
# (soak drift, spike recovery, stress capacity) judges them too.
TREND_PROFILES = ("soak", "spike", "stress")
SCRAPE_EVERY_S = 5.0
# Time Locust may take beyond the profile's run time: spawning, stopping users, writing reports.
LOCUST_GRACE_S = 90
STOP_TIMEOUT_S = 10
OVERRUN_QUIT_S = 15  # how long an overrunning Locust may take to quit on SIGTERM before it is killed
PROGRESS_EVERY_S = 15
FIRST_RUN = "first-run"  # where a borderline run's artefacts go while its confirmation rerun runs
# Test accounts seeded into the reference stack: the seed's ten (7 regular, 2 power, 1 admin) for
# up to ten users, as many more in proportion for bigger profiles, up to ten times as many.
# Beyond that virtual users share accounts (each signs in separately, from its own address).
SEED_ACCOUNTS = {"regular": 7, "power": 2, "admin": 1}
SEED_USERS, MAX_ACCOUNT_FACTOR = 10, 10
ACCOUNT_PASSWORD = "LoadTest-Passw0rd!"


class RunError(Exception):
    """The run cannot be judged; the message says why, in one line, for the user to act on."""


@dataclass
class Target:
    base_url: str
    stack_mode: str
    pid_file: Path | None = None  # set when this run started the stack and must stop it
    tree: Path = layout.BUNDLE  # whose `stack` package serves (paired A/B: the base commit's worktree)
    env: dict[str, str] | None = None  # the stack's own storage (paired A/B in services mode)


def python_module(*args: str) -> list[str]:
    """`python -P -m ...`: the bundle's modules through its install, never a same-named module in the
    working directory (in the action, the adopter's workspace; PYTHONSAFEPATH=1 there as well)."""
    return [sys.executable, "-P", "-m", *args]


# -- the target ------------------------------------------------------------------------------


def stack_env(tree: Path, env: dict[str, str] | None = None) -> dict[str, str] | None:
    """The environment a tree's stack commands run in: None (the caller's) for the bundle's own stack;
    else the caller's plus `env` (a paired round's own database and Redis prefix) and, for another
    tree (paired A/B: the base commit's worktree), that tree first on PYTHONPATH, so its `stack`
    package serves rather than the installed one (`-P` keeps the working directory off the path)."""
    if tree.resolve() == layout.BUNDLE and not env:
        return None
    merged = {**os.environ, **(env or {})}
    if tree.resolve() != layout.BUNDLE:
        merged["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tree), merged.get("PYTHONPATH"))))
    return merged


def start_reference_stack(results: Path, host: str, port: int, workers: int, tree: Path = layout.BUNDLE,
                          env: dict[str, str] | None = None) -> Target:
    environment = stack_env(tree, env)
    mode = "services" if (environment or os.environ).get("DATABASE_URL") else "embedded"
    pid_file = results / "stack.pid"
    command = python_module(
        "stack", "start", "--host", host, "--port", str(port), "--workers", str(workers),
        "--log-file", str(results / "stack.log"), "--pid-file", str(pid_file),
    )
    if mode == "embedded":
        command += ["--data-dir", str(results / "stack-data")]
    print(f"stack: starting the reference VoiceAssist stack ({mode}) on {host}:{port}", flush=True)
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=tree, env=environment)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise RunError(reason[-1] if reason else f"the stack did not start (exit {done.returncode})")
    return Target(f"http://{host}:{port}", mode, pid_file, tree, env)


def stop_reference_stack(target: Target) -> None:
    if target.pid_file is None:
        return
    subprocess.run(python_module("stack", "stop", "--pid-file", str(target.pid_file)), check=False,
                   cwd=target.tree, env=stack_env(target.tree, target.env))


def seed_accounts(profile: Profile, results: Path, target: Target | None = None) -> Path:
    """The seed's test accounts (7 regular, 2 power, 1 admin), more for bigger profiles, in the stack."""
    tree, env = (target.tree, target.env) if target else (layout.BUNDLE, None)
    environment = stack_env(tree, env)
    accounts = results / "accounts.json"
    factor = min(MAX_ACCOUNT_FACTOR, max(1.0, profile.users / SEED_USERS))
    counts = {kind: math.ceil(count * factor) for kind, count in SEED_ACCOUNTS.items()}
    command = python_module("stack", "users", "seed", "--prefix", "loadtest", "--password", ACCOUNT_PASSWORD,
                            "--output", str(accounts), *(f"--{role}={n}" for role, n in counts.items()))
    if not (environment or os.environ).get("DATABASE_URL"):
        command += ["--data-dir", str(results / "stack-data")]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=tree, env=environment)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise RunError(f"could not seed the test accounts: {reason[-1] if reason else done.returncode}")
    return accounts


def check_target(base_url: str) -> None:
    url = base_url.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as error:
        raise RunError(f"the target does not answer {url}: {type(error).__name__}") from None
    if response.status_code != 200:
        raise RunError(f"the target is not healthy: {url} answered HTTP {response.status_code}")


# -- the load ----------------------------------------------------------------------------------


def locust_command(
    profile: Profile,
    target: Target,
    results: Path,
    accounts: Path | None,
    think_scale: float | None = None,
    processes: int = 1,
) -> list[str]:
    command = python_module(
        "locust",
        "-f", ",".join(str(file) for file in profile.locustfiles),
        "--config", str(profile.path),
        "--headless", "--only-summary",
        "--host", target.base_url,
        "--users", str(profile.users),
        "--spawn-rate", str(profile.spawn_rate),
        "--run-time", f"{profile.run_time_s}s",
        "--stop-timeout", str(STOP_TIMEOUT_S),
        "--exit-code-on-error", "0",  # the gate gives the verdict, not Locust
        "--json-file", str(results / "stats"),
        "--csv", str(results / "locust"), "--csv-full-history",
        "--html", str(results / "report.html"),
        "--stack-mode", target.stack_mode,
        "--metrics-file", str(results / "metrics.json"),
        "--scale", str(profile.scale),
    )
    if think_scale is not None:  # else the profile's own (or 1)
        command += ["--think-scale", str(think_scale)]
    if profile.sample_target:  # the profile's, scaled with its run time
        command += ["--sample-target", str(profile.sample_target)]
        if profile.model_sample_target:  # chat at its own pace (paired rounds measuring denser)
            command += ["--model-sample-target", str(profile.model_sample_target)]
    if processes > 1:  # Locust forks this many workers under a master on this machine
        command += ["--processes", str(processes)]
    if accounts is not None:
        command += ["--accounts-file", str(accounts.resolve())]
    return command


def run_locust(command: list[str], profile: Profile, target: Target, results: Path) -> None:
    """Run Locust to the end of the profile, showing progress; bounded by the run time plus a grace."""
    limit_s = profile.run_time_s + LOCUST_GRACE_S
    print(f"locust: {profile.name}, {profile.users} users at {profile.spawn_rate:g}/s for "
          f"{profile.run_time_s} s against {target.base_url}", flush=True)
    with (results / "locust.log").open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=layout.SUITE, start_new_session=True,
        )
        started = time.monotonic()
        next_progress = started + PROGRESS_EVERY_S
        try:
            while process.poll() is None:
                now = time.monotonic()
                if now - started > limit_s:
                    stop_overrunning(process)
                    raise RunError(f"Locust did not finish within {limit_s} s; its greenlets' stacks are at "
                                   f"the end of {results / 'locust.log'}")
                if now >= next_progress:
                    print(progress_line(results, now - started, profile.run_time_s), flush=True)
                    next_progress += PROGRESS_EVERY_S
                time.sleep(0.5)
        finally:
            if process.poll() is None:  # timed out, interrupted or terminated: leave no load behind
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if process.returncode != 0:
        raise RunError(f"Locust exited with code {process.returncode}: {last_line(results / 'locust.log')}")


def stop_overrunning(process: subprocess.Popen) -> None:
    """Ask an overrunning Locust (and its workers) where it stands (the suite logs every greenlet's
    stack on SIGUSR1), then to quit (SIGTERM); the caller kills what is left."""
    for sig, wait_s in ((signal.SIGUSR1, 2.0), (signal.SIGTERM, OVERRUN_QUIT_S)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait_s)
        if process.poll() is not None:
            return


def progress_line(results: Path, elapsed_s: float, run_time_s: int) -> str:
    requests_sent = failures = 0
    try:
        with (results / "locust_stats.csv").open() as stats:
            for row in csv.DictReader(stats):
                if row.get("Name") == "Aggregated":
                    requests_sent, failures = int(row["Request Count"]), int(row["Failure Count"])
    except (OSError, ValueError, KeyError):
        pass
    return (f"locust: {min(elapsed_s, run_time_s):4.0f}/{run_time_s} s, "
            f"{requests_sent} requests, {failures} failures")


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "empty log"


# -- the verdict -------------------------------------------------------------------------------


def run_gate(profile: Profile, results: Path, baseline: Path | None, policy: Path,
             confirms: Path | None = None, compare: str = "baseline") -> int:
    """`baseline` None: `--compare none`, the gate judges the absolute limits only (--no-baseline);
    `compare` auto: the same when the baseline file is missing, said so in the verdict."""
    against = ["--no-baseline"] if baseline is None else ["--baseline", str(baseline.resolve()), "--compare", compare]
    command = python_module(
        "gate", "check", "--run", str(results), "--profile", profile.name, *against,
        "--policy", str(policy.resolve()),
    )
    if confirms is not None:
        command += ["--confirms", str(confirms)]
    done = subprocess.run(command, check=False)
    return done.returncode if done.returncode in (PASS, REGRESSION) else UNJUDGEABLE


@contextlib.contextmanager
def memory_scraped(profile: Profile, target: Target, results: Path):
    """During a soak, sample the target's memory from /metrics into memory.csv (for the drift test)."""
    if profile.name != "soak":
        yield
        return
    from gate.trends.scrape import scrape_metrics

    stop = results / "scrape.stop"
    scraper = threading.Thread(
        target=scrape_metrics, daemon=True,
        args=(f"{target.base_url}/metrics", results / "memory.csv", SCRAPE_EVERY_S,
              profile.run_time_s + LOCUST_GRACE_S, str(stop)),
    )
    scraper.start()
    try:
        yield
    finally:
        stop.touch()
        scraper.join(timeout=2 * SCRAPE_EVERY_S)


def judge_trends(profile: Profile, results: Path, policy: Path) -> int:
    """Soak drift, spike recovery or stress capacity; its report is appended to summary.md."""
    done = subprocess.run(python_module("gate.trends", profile.name, "--run", str(results),
                                        "--policy", str(policy.resolve())), check=False)
    trends, summary = results / "trends.md", results / "summary.md"
    if trends.is_file() and summary.is_file():
        with summary.open("a") as report:
            report.write("\n" + trends.read_text())
    return done.returncode if done.returncode in (PASS, REGRESSION) else UNJUDGEABLE


def worst(*verdicts: int) -> int:
    """A failure anywhere fails; otherwise anything that cannot be judged is not a pass."""
    return REGRESSION if REGRESSION in verdicts else UNJUDGEABLE if UNJUDGEABLE in verdicts else PASS


def report_unjudgeable(profile: str, results: Path, reason: str, baseline: Path | None, policy: Path,
                       compare: str = "baseline") -> None:
    """The same verdict.json and summary.md as the gate's, for a run that never reached the gate."""
    from gate.judge.pipeline import absolute_limits_only, skipped_comparison
    from gate.judge.verdict import unjudgeable_verdict
    from gate.publish.files import write_report
    from gate.report.render import render_summary

    verdict = unjudgeable_verdict(f"this run broke before the gate: {reason}", profile, None, str(policy),
                                  None if baseline is None else str(baseline))
    skipped = skipped_comparison(None if baseline is None else str(baseline.resolve()), profile, compare == "auto")
    if skipped:
        verdict = absolute_limits_only(verdict, skipped)
    write_report(verdict, render_summary(verdict), str(results))


def is_borderline(results: Path) -> bool:
    try:
        return json.loads((results / "verdict.json").read_text()).get("borderline") is True
    except (OSError, ValueError, AttributeError):
        return False


def print_summary(results: Path) -> None:
    summary = results / "summary.md"
    if summary.is_file():
        print("\n" + summary.read_text(), flush=True)


def prepare_results(results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:
        (results / name).unlink(missing_ok=True)
    for stale in [*results.glob("metrics.worker-*.json"), *results.glob("*.png")]:
        stale.unlink()
    shutil.rmtree(results / "stack-data", ignore_errors=True)  # every run starts from an empty stack


def load_and_gate(args: argparse.Namespace, profile: Profile, results: Path, confirms: Path | None = None) -> int:
    """One run: fresh stack, load, stop, gate. A run that breaks before the gate still gets a report."""
    baseline = None if args.compare == "none" else args.baseline or layout.baseline_for(profile.name)
    prepare_results(results)
    try:
        target = (start_reference_stack(results, args.bind, args.port, args.workers)
                  if args.stack == "reference" else Target(args.host, args.stack_mode))
        try:
            check_target(target.base_url)
            accounts = args.accounts or (seed_accounts(profile, results, target) if target.pid_file else None)
            command = locust_command(profile, target, results, accounts, args.think_scale, args.processes)
            with memory_scraped(profile, target, results):
                run_locust(command, profile, target, results)
        finally:
            stop_reference_stack(target)
    except RunError as error:
        print(f"perf-gate: cannot judge this run: {error}", file=sys.stderr, flush=True)
        if not args.no_gate:
            report_unjudgeable(profile.name, results, str(error), baseline, args.policy, args.compare)
        return UNJUDGEABLE
    if args.no_gate:
        return PASS
    verdict = run_gate(profile, results, baseline, args.policy, confirms, args.compare)
    if profile.name in TREND_PROFILES:
        verdict = worst(verdict, judge_trends(profile, results, args.policy))
    return verdict


def run_profile(args: argparse.Namespace) -> int:
    profile = profiles.load(args.profile).scaled(args.scale, args.users, args.run_time)
    results = (args.results or layout.RESULTS / profile.name).resolve()
    if args.compare_base is not None:
        from scripts import ab

        verdict = ab.run_paired(args, profile, results)
        if not args.no_gate:
            print_summary(results)
        return verdict
    verdict = load_and_gate(args, profile, results)
    if verdict == REGRESSION and args.confirm and is_borderline(results):
        # Shared machines swing; a borderline regression must reproduce before it fails anyone.
        first = results / FIRST_RUN
        shutil.rmtree(first, ignore_errors=True)
        first.mkdir()
        for artefact in list(results.iterdir()):
            if artefact.name != FIRST_RUN:
                shutil.move(str(artefact), first / artefact.name)
        print(f"perf-gate: borderline regression; rerunning {profile.name} once to confirm "
              f"(first run kept in {first})", flush=True)
        verdict = load_and_gate(args, profile, results, confirms=first / "verdict.json")
    if not args.no_gate:
        print_summary(results)
    return verdict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help=f"one of: {', '.join(profiles.available())}")
    parser.add_argument("--stack", choices=("reference", "external"), default="reference",
                        help="reference: start the bundled stack (PostgreSQL/Redis when DATABASE_URL/REDIS_URL "
                             "are set, else embedded); external: load an already running --host")
    parser.add_argument("--host", default="http://127.0.0.1:8000", help="base URL of an external target")
    parser.add_argument("--stack-mode", default="external",
                        help="what serves an external target, recorded so baselines compare like with like")
    parser.add_argument("--bind", default="127.0.0.1", help="address the reference stack listens on")
    parser.add_argument("--port", type=int, default=8000, help="port of the reference stack")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the reference stack")
    parser.add_argument("--scale", type=float, default=1.0, help="run the profile scaled (users and duration)")
    parser.add_argument("--users", type=int, help="override the profile's users (after scale)")
    parser.add_argument("--run-time", type=profiles.parse_timespan, help="override the run time, e.g. 30s")
    parser.add_argument("--processes", type=int, default=1,
                        help="fork N load-generator workers under a Locust master on this machine (2 cores: 2)")
    parser.add_argument("--think-scale", type=float,
                        help="multiply the users' wait times (e.g. 0.1 so a short run reaches every endpoint)")
    parser.add_argument("--accounts", type=Path,
                        help="accounts file for the suite (default: seeded into the reference stack; for an "
                             "external target without one, users register themselves and admin tasks fail)")
    parser.add_argument("--results", type=Path, help="results folder (default results/<profile>)")
    parser.add_argument("--baseline", type=Path, help="baseline file (default baselines/<profile>.json)")
    parser.add_argument("--compare", choices=("baseline", "auto", "none"), default="baseline",
                        help="what the run is compared with: baseline (default: --baseline's runs; a missing "
                             "file cannot be judged); auto: the baseline when its file exists, else absolute "
                             "limits only, the verdict saying where none was found and how to record one (a "
                             "repository without a baseline yet; a corrupt or mismatched one still cannot be "
                             "judged); none: absolute limits only (gate check --no-baseline), e.g. for a run with "
                             "overridden settings that no baseline describes; --baseline is then not read")
    parser.add_argument("--compare-base", metavar="REF",
                        help="paired A/B (scripts/ab.py): measure the commit REF (e.g. origin/main) and this "
                             "checkout in turn on this machine, in the profile's rounds (B H H B ...), each side's "
                             "own reference stack; the verdict is their paired difference, not the baseline's")
    parser.add_argument("--rounds", type=int, help="paired A/B: rounds (even, >= 4; default the profile's paired-rounds)")
    parser.add_argument("--round-time", type=profiles.parse_timespan,
                        help="paired A/B: each round's run time, e.g. 20s (default the profile's paired-round-time)")
    parser.add_argument("--max-rounds", type=int,
                        help="paired A/B: rounds a required endpoint left UNRESOLVED may extend the run to "
                             "(default the profile's paired-max-rounds)")
    parser.add_argument("--policy", type=Path, default=layout.POLICY, help="policy file")
    parser.add_argument("--no-gate", action="store_true", help="only run the load (e.g. to record a baseline)")
    parser.add_argument("--no-confirm", dest="confirm", action="store_false",
                        help="fail on a borderline regression at once instead of rerunning once to confirm it")
    args = parser.parse_args(argv)
    if args.compare_base is not None:
        clashes = [flag for flag, given in (("--stack external", args.stack != "reference"),
                                            ("--baseline", args.baseline is not None),
                                            ("--compare", args.compare != "baseline"),
                                            ("--accounts", args.accounts is not None)) if given]
        if clashes:
            parser.error(f"--compare-base measures two reference stacks against each other; it takes no "
                         f"{', '.join(clashes)}")
    elif args.rounds is not None or args.round_time is not None or args.max_rounds is not None:
        parser.error("--rounds, --round-time and --max-rounds are paired A/B settings: give --compare-base REF")
    return args


class Terminated(Exception):
    """SIGTERM (a CI timeout, a cancelled job): unwind like an interrupt so the stack is stopped."""


def _terminate(_signum, _frame) -> None:
    raise Terminated


def unwind_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread: `finally` blocks stop what was started."""
    signal.signal(signal.SIGTERM, _terminate)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unwind_on_sigterm()
    try:
        return run_profile(args)
    except (RunError, ProfileError) as error:
        print(f"perf-gate: cannot judge this run: {error}", file=sys.stderr, flush=True)
        return UNJUDGEABLE
    except (KeyboardInterrupt, Terminated):
        print("perf-gate: interrupted; the run cannot be judged", file=sys.stderr)
        return UNJUDGEABLE


if __name__ == "__main__":
    sys.exit(main())
