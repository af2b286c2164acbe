"""The paired A/B mode calibrated on this machine, beside the committed-baseline mode on the same conditions.

    python -m benchmarks.calibrate_paired --unchanged 4 --inject-runs 2 --disturbed 1 --baseline-mode \\
        --out /work/calib/ab

Trials run in rotation (unchanged, each injected endpoint, disturbed, then again), so a machine that
drifts over the hour touches every condition alike. Base and head are this checkout's HEAD commit
(the base in a second worktree, as `--compare-base HEAD` would check it out), so any difference
between them is the one the trial makes:

- unchanged: nothing; a failing verdict is a false alarm;
- inject ENDPOINT: the head's stack slows that route by +PCT% as its client sees it (`--inject-as
  client`, the default): a fixed delay per request, sized on the trial's first base round so that the
  endpoint's centre (the gate's trimmed mean of log response time) comes out PCT% slower; its tail
  moves less. A delay does not show at the client one for one: the server hides part of a short one
  (while the request sleeps, work that would otherwise hold up the next request gets done: a 1.26-ms
  delay on /api/auth/me added 0.8 ms server-side, 0.7 ms at the client), and delays on several
  endpoints at once can add to each other (users that fall behind their timetable catch up in
  bursts). So each injected trial divides its delay by the endpoint's gain so far, the median over
  the earlier injected trials of the slowdown measured at the centre per millisecond injected (net of
  what every endpoint shared in the same rounds, as the gate judges it), and the table prints the
  slowdown as measured. `--inject-as server` adds PCT% of the route's own server
  time instead: on a 4-ms endpoint that is a fraction of what the client waits, so the client sees far less than PCT%. The
  base is not slowed (VOICEASSIST_INJECT_LATENCY). A failing finding on it is a detection (with
  --together, every endpoint at once in each injected trial, each judged apart: three detections a
  trial for the time of one; the base is untouched, so what the others' slowdown does to an endpoint
  is part of the head's change);
- disturbed: the second block's base round disturbed (by default its stack stopped half the time, in
  50-ms slices; --disturbance hog: a busy loop per core at a higher priority); the A/A control should
  find it, and the block runs again undisturbed (the smoke's paired-reruns): never a regression, and a
  pass only without the disturbed round (the verdict's `replaced` names it).

With --baseline-mode each trial also makes one ordinary smoke run with the head's condition, judged
against the committed baselines/smoke.json as a pull request is today (--baseline-trials N: only the
first N trials of each condition, when the paired trials' count is what the time buys). With
--sample-target N the rounds measure at another sample target than smoke.conf's paired-sample-target
(each round its share of N): what more (or fewer) requests a round buy. Every count is printed with
its exact binomial 95% interval. Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from scipy import optimize

from benchmarks import calibrate, round_noise
from gate.judge import paired as paired_judge
from gate.judge.distribution import SHIFT_STATISTICS
from gate.judge.noise import TRIMMED_MEAN
from gate.judge.statistics import trimmed_log_mean
from gate.read.histogram import Histogram
from gate.read.policy import DISTRIBUTION, Policy, Statistics, load_policy
from gate.read.run import AGGREGATED, read_run
from scripts import ab, layout, profiles
from scripts.run import unwind_on_sigterm

DEFAULT_ENDPOINTS = ("GET /api/auth/me", "GET /api/admin/kb/documents", "POST /api/chat")
DISTURBED_ROUND = 4  # B H H [B]: the second block's base round, against the first block's in the A/A control
HOG_LIMIT_S = 300
THROTTLE_STOP_S, THROTTLE_RUN_S = 0.05, 0.05  # the disturbed target runs half the time, in 50-ms slices
MAX_GAIN = 4.0  # a delay's measured effect per ms is trusted within a factor of 4 either way
HOG_NICE = -10  # root may raise a process's priority; others get their own, and the hog is weaker


@contextlib.contextmanager
def cpu_hog():
    """A busy loop on every core at a higher priority than the target's (nice -10, when allowed), bounded in
    time, stopped when the block ends: a noisy neighbour the scheduler favours. At the default priority
    the kernel's wake-up preference shields a mostly idle server: two plain busy loops slowed this
    machine's logins (CPU-bound) by 64% but the short endpoints by 9%, less than rounds differ anyway."""
    loop = (f"import os, time\ntry:\n    os.nice({HOG_NICE})\nexcept OSError:\n    pass\n"
            f"end = time.monotonic() + {HOG_LIMIT_S}\nwhile time.monotonic() < end: pass\n")
    hogs = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@contextlib.contextmanager
def throttled(round_folder: Path, stopped_s: float = THROTTLE_STOP_S, running_s: float = THROTTLE_RUN_S):
    """The round's target itself disturbed: its process group stopped (SIGSTOP) for `stopped_s` out of every
    `stopped_s + running_s`, from the moment its pid file appears until the block ends, then resumed."""
    done = threading.Event()

    def cycle() -> None:
        pid_file, deadline = round_folder / "stack.pid", time.monotonic() + HOG_LIMIT_S
        while not done.is_set() and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            try:
                os.killpg(pid, signal.SIGSTOP)
                time.sleep(stopped_s)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGCONT)
            time.sleep(running_s)

    worker = threading.Thread(target=cycle, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join(timeout=5)


def disturbance(args, round_folder: Path):
    if args.disturbance == "hog":
        return cpu_hog()
    return throttled(round_folder)


def conditions(args) -> list[tuple[str, str | None]]:
    """(kind, endpoint) of every trial, in rotation."""
    plan = []
    for turn in range(max(args.unchanged, args.inject_runs, args.disturbed)):
        if turn < args.unchanged:
            plan.append(("unchanged", None))
        if turn < args.inject_runs:
            plan += [("inject", ",".join(args.endpoints))] if args.together else \
                [("inject", endpoint) for endpoint in args.endpoints]
        if turn < args.disturbed:
            plan.append(("disturbed", None))
    return plan


def slug(kind: str, endpoint: str | None) -> str:
    if endpoint is None:
        return kind
    if "," in endpoint:
        return f"{kind}-{endpoint.count(',') + 1}-endpoints"
    return f"{kind}-{endpoint.replace(' ', '-').replace('/', '_').strip('_-')}"


def injected(endpoints: str, pct: float, delays_ms: dict[str, float] | None = None) -> str:
    """VOICEASSIST_INJECT_LATENCY for one endpoint or several (comma-separated): +pct% of the route's server
    time, or, given each endpoint's delay (ms), that fixed delay."""
    if delays_ms is None:
        return "; ".join(f"{endpoint}=+{pct:g}%" for endpoint in endpoints.split(","))
    return "; ".join(f"{endpoint}=+{delays_ms[endpoint]:.2f}ms" for endpoint in endpoints.split(","))


def centre_delay_ms(histogram: Histogram, pct: float) -> float:
    """The fixed delay (ms) that moves the histogram's centre, the gate's trimmed mean of log response time,
    by +pct%: every request x ms becomes x + delay, so the short ones slow by more than pct% and the tail
    by less."""
    centre, _ = trimmed_log_mean(histogram)
    goal = centre + math.log1p(pct / 100.0)

    def moved(delay_ms: float) -> float:
        return trimmed_log_mean(Histogram(values=histogram.values + delay_ms, counts=histogram.counts))[0] - goal
    return float(optimize.brentq(moved, 0.0, 10.0 * math.exp(centre) * pct / 100.0 + 10.0))


def client_delays(round_folder: Path, endpoints: str, pct: float, gains: dict[str, float]) -> dict[str, dict]:
    """{endpoint: {centre_ms, delay_ms, gain}}: each endpoint's centre as the client saw it in a finished round,
    and the delay for +pct% there, divided by how much of a delay the earlier trials saw at the client."""
    run = read_run(round_folder)
    sizes = {}
    for endpoint in endpoints.split(","):
        record = run.endpoints.get(endpoint)
        if record is None or not record.histogram.total:
            raise SystemExit(f"the base round {round_folder} has no requests of {endpoint}: nothing to size +% on")
        gain = gains.get(endpoint, 1.0)
        sizes[endpoint] = {"centre_ms": math.exp(trimmed_log_mean(record.histogram)[0]),
                           "delay_ms": centre_delay_ms(record.histogram, pct) / gain, "gain": gain}
    return sizes


def client_gains(rows: list[dict]) -> dict[str, float]:
    """Per endpoint, the median over the injected trials so far of the slowdown measured at the centre (ms)
    per millisecond injected, within [1/MAX_GAIN, MAX_GAIN]: below 1 the server hid part of the delay,
    above 1 the delay slowed the endpoint by more (the other slowed endpoints' bursts). Measured net of the
    change every endpoint shared in the same rounds (what the gate judges): a head that ran 18% slower as a
    whole once made a 2-ms delay on /api/auth/me look like 3.5 ms (gain 1.8), and the next trial's delay,
    shrunk by it, came to +5%. Rows of records written before the net change was kept use the raw one."""
    gains: dict[str, list[float]] = {}
    for row in rows:
        measured = row.get("paired_centre_net_change") or row.get("paired_centre_change") or {}
        for endpoint, size in (row.get("injection") or {}).items():
            change = measured.get(endpoint)
            if change is not None and size["delay_ms"] > 0:
                gains.setdefault(endpoint, []).append(size["centre_ms"] * change / 100.0 / size["delay_ms"])
    return {endpoint: min(max(statistics.median(values), 1.0 / MAX_GAIN), MAX_GAIN)
            for endpoint, values in gains.items()}


def ran(folder: Path) -> bool:
    """A round that finished: Locust writes its HTML report last."""
    return all((folder / name).is_file() for name in ("stats.json", "metrics.json", "report.html"))


def trial_blocks(folder: Path) -> list[paired_judge.Block] | None:
    """The trial's finished rounds, read once, as the paired verdict's blocks; None when any is missing."""
    rounds = sorted((folder / ab.ROUNDS).glob("[0-9][0-9]-*"))
    if not rounds or not all(map(ran, rounds)):
        return None
    return paired_judge.blocks([(path.name.split("-", 1)[1], read_run(path)) for path in rounds])


def control_reach(blocks: list[paired_judge.Block], statistics_: Statistics) -> float | None:
    """How far the trial's most departing round went toward the A/A control's bar: the lesser of its
    departure from the other rounds of its side and from the other round of its block, over the bar
    (paired.control_bar); above 1 the control fires. The margin an undisturbed run leaves; None when the
    rounds are too few or too thin to measure it."""
    if len(blocks) < paired_judge.MIN_BLOCKS_FOR_CONTROL:
        return None
    departures = paired_judge.round_departures(blocks)
    if not departures:
        return None
    _, bar = paired_judge.control_bar(departures, statistics_)
    # the control fires on a round beyond the bar from the other rounds of its side AND from its block's other
    return max(min(abs(a), abs(a - b)) for base, head in departures for a, b in ((base, head), (head, base))) / bar


def null_p_values(blocks: list[paired_judge.Block], policy: Policy) -> dict[str, list[float]]:
    """{endpoint: one-sided p-value of 'the head is slower', per statistic of the distribution test}, for
    every endpoint the policy judges, as the paired verdict models it (each endpoint net of what the run
    shared): on an unchanged trial, uniform between 0 and 1 if the noise model is right. Hundreds of
    tests a trial, where the run's verdict is one: the model's calibration, measured far finer than by
    counting false alarms."""
    same_machine = replace(policy, statistics=replace(policy.statistics, run_shift_normalisation=False))
    shifts = paired_judge.PairedShifts(paired_judge.unserved_by_base(blocks), same_machine)
    found = {}
    for endpoint in sorted(shifts.differences[TRIMMED_MEAN]):
        rule = policy.for_endpoint(endpoint)
        metric = rule.metrics.get(DISTRIBUTION)
        if rule.quarantined or metric is None or not metric.relative:
            continue
        test = shifts(endpoint, None, metric.relative_pct, metric.relative_floor)
        if test is not None:
            found[endpoint] = [round(shift.p_worse(), 5) for shift in test.shifts]
    return found


def calibration_lines(rows: list[dict]) -> list[str]:
    """How often the unchanged trials' p-values fell below 5% and 1%, each way, per statistic: what a right
    noise model gives is 5% and 1%."""
    per_statistic: dict[str, list[float]] = {}
    for row in rows:
        for values in (row.get("null_p_values") or {}).values():
            for name, value in zip(SHIFT_STATISTICS.values(), values, strict=True):
                per_statistic.setdefault(name, []).append(value)
    if not per_statistic:
        return []
    lines = ["\nthe noise model on the unchanged trials (every judged endpoint, each statistic; right: 5% and 1%):",
             "| statistic | tests | slower, p < 5% | slower, p < 1% | faster, p < 5% | faster, p < 1% |",
             "|---|---|---|---|---|---|"]
    for name, values in per_statistic.items():
        share = [100.0 * sum(test(v) for v in values) / len(values)
                 for test in (lambda v: v < 0.05, lambda v: v < 0.01, lambda v: v > 0.95, lambda v: v > 0.99)]
        lines.append(f"| {name} | {len(values)} | " + " | ".join(f"{x:.1f}%" for x in share) + " |")
    return lines


def injection(folder: Path, endpoint: str, first_base: Path, args, gains: dict[str, float]) -> str:
    """The head's VOICEASSIST_INJECT_LATENCY for an injected trial: sized on its first base round (client),
    written to the trial's folder (injected.txt, injection.json); a resumed trial reads it back."""
    setting_file = folder / "injected.txt"
    if setting_file.is_file():
        return setting_file.read_text().strip()
    sizes = client_delays(first_base, endpoint, args.pct, gains) if args.inject_as == "client" else None
    setting = injected(endpoint, args.pct, {e: size["delay_ms"] for e, size in (sizes or {}).items()} or None)
    setting_file.write_text(setting + "\n")
    if sizes:
        (folder / "injection.json").write_text(json.dumps(sizes, indent=1))
    return setting


def paired_trial(folder: Path, kind: str, endpoint: str | None, tree: Path, commit: str, args,
                 gains: dict[str, float]) -> dict:
    """One paired run of the trial's condition as the PR gate makes it (scripts/ab.measure): its rounds, the
    verdict, a disturbed round's block run again and two more blocks at a time while the verdict wants them,
    up to the profile's paired-reruns and the round budget. A trial already in `folder` is judged again
    (--judge-only) or read, with every round it ran (the blocks it ran again noted)."""
    profile = profiles.load("smoke")
    if args.sample_target:  # in place of smoke.conf's paired-sample-target: each round gets its share
        profile = replace(profile, paired_sample_target=args.sample_target)
    one_round, count = ab.round_profile(profile, args.rounds, args.round_time)
    budget = ab.round_budget(profile, count, args.max_rounds)
    present = sum(1 for found in (folder / ab.ROUNDS).glob("[0-9][0-9]-*") if found.is_dir())
    count = max(count, min(present - present % 2, budget))  # a trial that added rounds keeps them
    order = [(side, ab.round_folder(folder, number, side)) for number, side in enumerate(ab.round_order(count), 1)]
    complete = all(ran(round_folder) for _, round_folder in order)
    if args.judge_only and not complete:
        raise SystemExit(f"--judge-only: the rounds of {folder} are not all there")
    if complete and (args.judge_only or not (folder / "verdict.json").is_file()):
        ab.judge(profile, folder, order, args.policy)
    if not (folder / "verdict.json").is_file():  # a trial cut short runs again whole
        sides = {ab.BASE: ab.Side(ab.BASE, tree, args.port + 1, commit),
                 ab.HEAD: ab.Side(ab.HEAD, layout.BUNDLE, args.port, commit)}

        def around(number: int, side: str, round_folder: Path, again: bool):
            if kind == "inject" and side == ab.HEAD and sides[ab.HEAD].env is None:
                sides[ab.HEAD] = replace(sides[ab.HEAD], env={"VOICEASSIST_INJECT_LATENCY": injection(
                    folder, endpoint, ab.round_folder(folder, 1, ab.BASE), args, gains)})
            if kind == "disturbed" and number == DISTURBED_ROUND and not again:
                return disturbance(args, round_folder)
            return contextlib.nullcontext()

        options = argparse.Namespace(bind="127.0.0.1", workers=1, think_scale=None, processes=1, no_gate=False,
                                     policy=args.policy)
        ab.measure(options, profile, one_round, sides, count, budget, folder, around)
    return json.loads((folder / "verdict.json").read_text())


def trial_minutes(folder: Path, minutes: float, measured_now: bool) -> float:
    """The trial's wall time: this call's when it ran the trial's rounds (kept in the trial's minutes.txt),
    else the one kept when they ran (a trial judged again or resumed costs no time of its own)."""
    kept = folder / "minutes.txt"
    if measured_now or not kept.is_file():
        kept.write_text(f"{minutes:.1f}\n")
    return float(kept.read_text())


def baseline_trial(folder: Path, kind: str, endpoint: str | None, args, setting: str | None) -> dict:
    """One smoke run of the head's condition (`setting`: the paired trial's injected latency), judged against
    the committed baseline."""
    if not (folder / "gate" / "verdict.json").is_file():
        inject = setting if kind == "inject" else None
        load_args = argparse.Namespace(port=args.port, judge_only=False)
        hog = cpu_hog() if kind == "disturbed" else contextlib.nullcontext()
        with hog:  # the whole run disturbed: a baseline run has no base of its own to notice it
            calibrate.load(folder, load_args, inject)
        (folder / "gate").mkdir(exist_ok=True)
        calibrate.gate(folder, layout.baseline_for("smoke"), folder / "gate")
    return json.loads((folder / "gate" / "verdict.json").read_text())


def outcomes(verdict: dict, kind: str, endpoints: str | None) -> dict[str, str]:
    """{condition: outcome}: fail, pass or cannot judge; an injected trial, one per endpoint, detected when
    a failing finding names it."""
    if kind != "inject":
        state = "cannot judge" if verdict["exit_code"] == 2 else "fail" if verdict["exit_code"] == 1 else "pass"
        return {kind: state}
    failing = {f["endpoint"] for f in verdict.get("findings", []) if f["severity"] == "fail"}
    return {endpoint: "cannot judge" if verdict["exit_code"] == 2 else "detected" if endpoint in failing else "missed"
            for endpoint in endpoints.split(",")}


def failing_elsewhere(verdict: dict, endpoints: str) -> list[str]:
    """The endpoints not injected that a failing finding names: in an injected trial, every other endpoint
    is unchanged, so each trial is also a false-alarm trial for them. Not the Aggregated row: the head
    did change, and what every endpoint shared is counted apart (run_wide_table)."""
    injected_names = set(endpoints.split(","))
    return sorted({f["endpoint"] for f in verdict.get("findings", [])
                   if f["severity"] == "fail" and f["endpoint"] not in injected_names | {AGGREGATED}})


def distribution(verdict: dict, endpoint: str) -> dict:
    for entry in verdict.get("endpoints", []):
        if entry["endpoint"] == endpoint:
            return entry["metrics"].get("distribution") or {}
    return {}


def detectable(verdict: dict, endpoint: str) -> float | None:
    return distribution(verdict, endpoint).get("detectable_pct")


def detectable_everywhere(verdict: dict) -> dict[str, float]:
    """{endpoint: detectable %} for every endpoint the verdict compared (its distribution test)."""
    return {entry["endpoint"]: figure for entry in verdict.get("endpoints", [])
            if (figure := detectable(verdict, entry["endpoint"])) is not None}


def power_table(rows: list[dict], bar_pct: float) -> list[str]:
    """Per endpoint, over the unchanged trials: the smallest regression each run could have flagged (its
    median, range) and in how many runs that was at most `bar_pct`: where a pass meant something."""
    figures: dict[str, list[float]] = {}
    for row in rows:
        if "unchanged" in row["paired"] and row["paired"]["unchanged"] != "cannot judge":
            for endpoint, figure in (row.get("paired_detectable_all") or {}).items():
                figures.setdefault(endpoint, []).append(figure)
    lines = [f"| endpoint | detectable, median (range) | runs that could see +{bar_pct:g}% |", "|---|---|---|"]
    for endpoint, values in sorted(figures.items(), key=lambda item: statistics.median(item[1])):
        lines.append(f"| {endpoint} | +{statistics.median(values):.0f}% ({min(values):.0f} to {max(values):.0f}) | "
                     f"{sum(v <= bar_pct for v in values)}/{len(values)} |")
    return lines


def centre_change(verdict: dict, endpoint: str, net: bool = False) -> float | None:
    """The paired change of the endpoint's trimmed mean (%), head against base: as measured (what an injected
    slowdown came to), or with `net`, net of the change the whole run shared (what the gate judged)."""
    for shift in distribution(verdict, endpoint).get("shift_function", []):
        if shift["quantile"] == "trimmed mean" and shift.get("baseline"):
            return shift["change_pct"] if net else (shift["value"] / shift["baseline"] - 1.0) * 100.0
    return None


def run_wide_table(rows: list[dict]) -> list[str]:
    """Per kind of trial, how the change every endpoint shared was judged (the paired verdict's Aggregated
    row): SAME, UNRESOLVED (a warning), DIFFERENT (a failure when slower), or not judged."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        kind = next(iter(row["paired"])) if len(row["paired"]) == 1 else "injected"
        state = row.get("paired_run_wide") or "not judged"
        counts.setdefault(kind, {}).setdefault(state, 0)
        counts[kind][state] += 1
    lines = ["", "the change every endpoint shared (the Aggregated row), per kind of trial:",
             "| trials | same | unresolved | different | not judged |", "|---|---|---|---|---|"]
    for kind, states in counts.items():
        lines.append(f"| {kind} | " + " | ".join(str(states.get(state, 0))
                                                for state in ("same", "unresolved", "different", "not judged")) + " |")
    return lines


def by_slowdown_table(rows: list[dict], pct: float) -> list[str]:
    """Per injected endpoint, the judged trials split by what the injection came to at the client (the paired
    change of the trimmed mean): caught where it came out at pct - 5% or more, and where it came out
    below. A fixed delay does not always show one for one (in one trial the machine slowed by 40% after its
    first block, and a 0.8-ms delay on /api/auth/me stopped showing: +8% over the trial), and a miss of a
    slowdown that was not there is no miss of the verdict's."""
    split: dict[str, list[list[bool]]] = {}
    for row in rows:
        for endpoint, result in row["paired"].items():
            change = (row.get("paired_centre_change") or {}).get(endpoint)
            if endpoint in ("unchanged", "disturbed") or result == "cannot judge" or change is None:
                continue
            split.setdefault(endpoint, [[], []])[0 if change >= pct - 5.0 else 1].append(result == "detected")
    if not split:
        return []
    lines = [f"\n+{pct:g}% injected, by what it came to at the trimmed mean:",
             f"| endpoint | came out at +{pct - 5:g}% or more: caught | came out below: caught |", "|---|---|---|"]
    for endpoint, (came, short) in split.items():
        lines.append(f"| {endpoint} | {calibrate.rate(sum(came), len(came))} | {calibrate.rate(sum(short), len(short))} |")
    return lines


def table(rows: list[dict], mode: str, args) -> list[str]:
    lines = ["| condition | trials | failed (detected) | passed (missed) | cannot judge |", "|---|---|---|---|---|"]
    groups: dict[str, list[str]] = {}
    for row in rows:
        for condition, result in row.get(mode, {}).items():
            name = condition if condition in ("unchanged", "disturbed") else f"+{args.pct:g}% {condition}"
            groups.setdefault(name, []).append(result)
    for condition, results in groups.items():
        hits = sum(r in ("detected", "fail") for r in results)
        lines.append(f"| {condition} | {len(results)} | {calibrate.rate(hits, len(results))} | "
                     f"{sum(r in ('pass', 'missed') for r in results)} | {sum(r == 'cannot judge' for r in results)} |")
    return lines


def margin_line(rows: list[dict]) -> list[str]:
    """The A/A control on the undisturbed trials: how far their most departing round went toward its bar."""
    reach = [row["control_reach"] for row in rows
             if row.get("control_reach") is not None and "disturbed" not in row["paired"]]
    if not reach:
        return []
    line = (f"\nthe A/A control on the {len(reach)} undisturbed trials: the most departing round went "
            f"{statistics.median(reach):.0%} of the way to the control's bar (median; {min(reach):.0%} to "
            f"{max(reach):.0%}), {sum(r > 1 for r in reach)} beyond it")
    return [line]


def report(rows: list[dict], settings: argparse.Namespace) -> list[str]:
    """The tables and lines the benchmark prints over its trials (`settings`: pct, inject_as, endpoints,
    power_bar, policy)."""
    lines = ["\nPaired A/B (base and head in rounds on this machine):", *table(rows, "paired", settings)]
    judged = [row for row in rows if row["paired_failing_elsewhere"] is not None
              and "cannot judge" not in row["paired"].values()]
    if judged:
        alarms = sum(bool(row["paired_failing_elsewhere"]) for row in judged)
        lines.append(f"injected trials with a failing finding on an endpoint not injected (a false alarm there): "
                     f"{calibrate.rate(alarms, len(judged))}")
    lines += by_slowdown_table(rows, settings.pct) + run_wide_table(rows)
    if reran := [row["reruns"] for row in rows if row.get("reruns")]:
        lines.append(f"blocks run again after a disturbed round (paired-reruns): {sum(reran)}, in {len(reran)} of "
                     f"{len(rows)} trials")
    if any("baseline" in row for row in rows):
        lines += ["\nCommitted baseline (one smoke run, gate check against baselines/smoke.json):",
                  *table(rows, "baseline", settings)]
    for endpoint in settings.endpoints:  # on the trials that did not slow it: what the verdict could have seen
        figures = [row["paired_detectable"][endpoint] for row in rows if endpoint not in row["paired"]
                   and row["paired_detectable"].get(endpoint) is not None]
        if figures:
            lines.append(f"paired detectable on {endpoint}: median +{statistics.median(figures):.0f}% "
                         f"(min {min(figures):.0f}, max {max(figures):.0f})")
        # on the trials that slowed it: the slowdown as the paired verdict measured it, at the trimmed mean
        measured = [row["paired_centre_change"][endpoint] for row in rows if endpoint in row["paired"]
                    and row["paired_centre_change"].get(endpoint) is not None]
        if measured:
            lines.append(f"injected +{settings.pct:g}% ({settings.inject_as}) on {endpoint} measured at the trimmed "
                         f"mean: median {statistics.median(measured):+.0f}% (min {min(measured):+.0f}, "
                         f"max {max(measured):+.0f})")
    power = power_table(rows, settings.power_bar)
    if len(power) > 2:
        lines += [("\nWhat each unchanged paired run could have flagged, per endpoint (the distribution test's "
                   "detectable regression):"), *power]
    return lines + margin_line(rows) + calibration_lines(rows)


RECORDED = ("pct", "inject_as", "endpoints", "together", "disturbance")
# what a record's rounds measured: nights add up only when these agree (a missing model target: 0, one pace;
# a missing max_rounds: the rounds, fixed, as every record was before rounds were added for power). Not
# paired_reruns (a disturbed round's block run again): it changes only runs that were refused before; a
# judged run is the same, so records with and without it add up (their rows' `reruns` say which ran again).
MEASURED_ALIKE = ("rounds", "max_rounds", "round_time_s", "sample_target", "model_sample_target")


def write_record(path: Path, rows: list[dict], commit: str, args: argparse.Namespace) -> None:
    """The trials' rows and how they were run, as a file to keep (benchmarks/records/): nights of this
    benchmark add up with --combine, where one session's hours buy too few trials for a rate of 1 in 20."""
    profile = profiles.load("smoke")
    if args.sample_target:  # as paired_trial measures its rounds
        profile = replace(profile, paired_sample_target=args.sample_target)
    one_round, count = ab.round_profile(profile, args.rounds, args.round_time)
    measured = ab.measuring(profile)  # the rounds' sample targets, per the profile's run time
    meta = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"), "commit": commit,
            "rounds": count, "max_rounds": ab.round_budget(profile, count, args.max_rounds), "round_time_s": one_round.run_time_s,
            "sample_target": measured.sample_target, "model_sample_target": measured.model_sample_target,
            "paired_reruns": profile.paired_reruns,
            **{key: getattr(args, key) for key in RECORDED}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "trials": rows}, indent=1) + "\n")


def read_records(paths: list[Path]) -> tuple[list[dict], dict]:
    """Every record's trials, in order, and their shared settings; an error naming the file when a record
    is unreadable or was run at another injected size (its detections would not add up)."""
    rows, shared = [], None
    for path in paths:
        try:
            record = json.loads(path.read_text())
            meta, trials = record["meta"], record["trials"]
        except (OSError, ValueError, KeyError, TypeError) as problem:
            raise SystemExit(f"{path}: not a record of this benchmark ({problem})") from None
        if shared and (meta.get("pct"), meta.get("inject_as")) != (shared["pct"], shared["inject_as"]):
            raise SystemExit(f"{path}: injected +{meta.get('pct')}% ({meta.get('inject_as')}), the others "
                             f"+{shared['pct']}% ({shared['inject_as']}): records add up at one size only")
        meta = {"max_rounds": meta.get("rounds"), **meta}  # written before rounds were added: fixed
        differing = [key for key in MEASURED_ALIKE if shared and meta.get(key, 0) != shared.get(key, 0)]
        if differing:
            raise SystemExit(f"{path}: " + ", ".join(f"{key} {meta.get(key, 0)}" for key in differing)
                             + ", the others " + ", ".join(f"{shared.get(key, 0)}" for key in differing)
                             + ": records add up only when their rounds measured alike")
        shared = shared or meta
        rows += [{**row, "trial": f"{meta['date'][:10]} {row['trial']}"} for row in trials]
    endpoints = list(dict.fromkeys(e for row in rows for e in (row.get("paired_detectable") or {})))
    return rows, {**shared, "endpoints": endpoints}


def combine(paths: list[Path], args: argparse.Namespace) -> int:
    rows, meta = read_records(paths)
    settings = argparse.Namespace(pct=meta["pct"], inject_as=meta["inject_as"], endpoints=meta["endpoints"],
                                  power_bar=args.power_bar, policy=args.policy)
    print(f"{len(rows)} trials from {len(paths)} record(s): " + ", ".join(str(path) for path in paths))
    print("\n".join(report(rows, settings)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_paired", description=__doc__.split("\n\n")[0])
    parser.add_argument("--unchanged", type=int, default=4, help="unchanged trials (false alarms)")
    parser.add_argument("--inject-runs", type=int, default=2, help="trials per injected endpoint")
    parser.add_argument("--disturbed", type=int, default=1, help="trials with one base round disturbed")
    parser.add_argument("--disturbance", choices=("throttle", "hog"), default="throttle",
                        help="throttle: the base round's stack stopped half the time (SIGSTOP/SIGCONT, 50-ms "
                             "slices); hog: a busy loop per core at nice -10 (on this machine it slowed logins, "
                             "not the short endpoints: the stack mostly waits)")
    parser.add_argument("--endpoints", type=lambda text: [e.strip() for e in text.split(",") if e.strip()],
                        default=list(DEFAULT_ENDPOINTS), help="comma-separated endpoints to inject into, in turn")
    parser.add_argument("--together", action="store_true",
                        help="inject into every endpoint at once in each injected trial (each judged apart)")
    parser.add_argument("--pct", type=float, default=30.0, help="the injected slowdown (percent; see --inject-as)")
    parser.add_argument("--inject-as", choices=("client", "server"), default="client",
                        help="client: a fixed delay that slows the endpoint's centre (the gate's trimmed mean, in the "
                             "trial's first base round) by --pct; server: --pct of the route's own server time")
    parser.add_argument("--rounds", type=int, help="rounds per trial (default the smoke's paired-rounds)")
    parser.add_argument("--max-rounds", type=int,
                        help="the most rounds a trial may add, two blocks at a time, while its verdict wants them "
                             "(an endpoint short of the policy's detectable_goal_pct, a required one UNRESOLVED), as "
                             "the PR gate does (default the smoke's paired-max-rounds; --max-rounds N = --rounds N: fixed)")
    parser.add_argument("--round-time", type=profiles.parse_timespan, help="round time (default the smoke's)")
    parser.add_argument("--sample-target", type=int,
                        help="the rounds' sample target (requests of every endpoint per the smoke's run time; a "
                             "round gets its share), in place of smoke.conf's paired-sample-target")
    parser.add_argument("--baseline-mode", action="store_true",
                        help="also one smoke run per trial, judged against the committed baseline")
    parser.add_argument("--baseline-trials", type=int,
                        help="with --baseline-mode, only the first N trials of each condition (default: every trial)")
    parser.add_argument("--judge-only", action="store_true",
                        help="judge the trials' rounds already in --out again (e.g. with another --policy); run nothing")
    parser.add_argument("--power-bar", type=float, default=25.0,
                        help="count the unchanged runs whose detectable regression on an endpoint was at most this (%%)")
    parser.add_argument("--policy", type=Path, default=layout.POLICY, help="policy file for the paired verdicts")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--out", type=Path, help="trial folders (kept: a rerun judges what is there)")
    parser.add_argument("--record", type=Path,
                        help="also write the trials' rows and settings to this file (e.g. benchmarks/records/"
                             "paired-DATE.json) for --combine")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="RECORD",
                        help="run nothing: print the tables over the trials of these records together")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args)
    if args.out is None:
        parser.error("--out is required (or --combine RECORD...)")
    unwind_on_sigterm()
    os.environ.pop("VOICEASSIST_INJECT_LATENCY", None)
    args.out.mkdir(parents=True, exist_ok=True)
    commit = ab.resolve_commit("HEAD")
    policy = load_policy(args.policy, "smoke")
    rows, seen = [], {}
    with ab.base_worktree(commit) as tree:
        for number, (kind, endpoint) in enumerate(conditions(args), start=1):
            name = f"{number:02d}-{slug(kind, endpoint)}"
            started = time.monotonic()
            measured_now = not (args.out / name / "paired" / "verdict.json").is_file()
            paired = paired_trial(args.out / name / "paired", kind, endpoint, tree, commit, args, client_gains(rows))
            setting_file, sizes_file = (args.out / name / "paired" / file for file in ("injected.txt", "injection.json"))
            setting = setting_file.read_text().strip() if setting_file.is_file() else None
            blocks = trial_blocks(args.out / name / "paired")
            row = {"trial": name, "paired": outcomes(paired, kind, endpoint), "paired_reason": paired["reason"][:160],
                   "injected": setting, "injection": json.loads(sizes_file.read_text()) if sizes_file.is_file() else None,
                   "paired_detectable": {e: detectable(paired, e) for e in args.endpoints},
                   "paired_detectable_all": detectable_everywhere(paired),
                   "paired_centre_change": {e: centre_change(paired, e) for e in args.endpoints},
                   "paired_centre_net_change": {e: centre_change(paired, e, net=True) for e in args.endpoints},
                   "paired_failing_elsewhere": failing_elsewhere(paired, endpoint) if kind == "inject" else None,
                   "paired_run_wide": (paired.get("run_wide") or {}).get("state"),
                   "reruns": len(paired.get("replaced") or []),
                   "control_reach": control_reach(blocks, policy.statistics) if blocks else None,
                   "null_p_values": null_p_values(blocks, policy) if blocks and kind == "unchanged" else None}
            seen[kind] = seen.get(kind, 0) + 1
            if args.baseline_mode and (args.baseline_trials is None or seen[kind] <= args.baseline_trials):
                single = baseline_trial(args.out / name / "baseline-mode", kind, endpoint, args, setting)
                row.update(baseline=outcomes(single, kind, endpoint), baseline_reason=single["reason"][:160])
            row["minutes"] = trial_minutes(args.out / name, (time.monotonic() - started) / 60, measured_now)
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "trials.json").write_text(json.dumps(rows, indent=1))
    if args.record:
        write_record(args.record, rows, commit, args)
    print("\n".join(report(rows, args)))
    unchanged = [round_noise.rounds_of(args.out / row["trial"] / "paired" / ab.ROUNDS) for row in rows
                 if "unchanged" in row["paired"]]
    if sum(map(len, unchanged)) >= round_noise.MIN_ROUNDS:  # what limits the verdict: the rounds' own speed
        _, logs, variances, groups = round_noise.figures([found for trial in unchanged for found in trial])
        print("\nthe unchanged trials' rounds (python -m benchmarks.round_noise for every endpoint):")
        print("\n".join(round_noise.summary(logs, groups, round_noise.decompose(logs, variances, groups))))
    minutes = [row["minutes"] for row in rows]
    print(f"\n{len(rows)} trials, {sum(minutes):.0f} min; a paired trial's wall time is its rounds, stacks and gate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
