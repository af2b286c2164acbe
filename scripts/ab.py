"""Paired A/B: the base and the head of a change measured in turn on this machine, judged by their paired difference.

    python -m scripts.run smoke --compare-base origin/main      # make ab BASE=origin/main

A committed baseline was recorded on other machines at other times; here both sides run in the same
job. The head is this checkout; the base is the commit `--compare-base` names, checked out in a
second worktree of the same repository (`git worktree add`, no clone) and removed afterwards. Each
side's reference stack is its own tree's `stack` package, on its own port, with its own storage (an
embedded data folder, or a fresh PostgreSQL database and Redis prefix when DATABASE_URL is set).

The profile's `paired-rounds` rounds run in balanced order, B H H B B H H B ...: each round a fresh
stack of one side (so neither sees the other's or an earlier round's state), the accounts seeded the
same way, the head's suite and the profile's load for `paired-round-time`, then the stack stopped.
Only one target is up, and under load, at a time. `python -m gate paired` then judges the rounds
(gate/judge/paired.py): the block of one base and one head round, not the request, is the unit, and
an A/A control of the base against itself makes a noisy runner "cannot judge", never a pass. A round
the control finds disturbed (unlike the other rounds of its side and its block's other round) has its
block run again, up to the profile's `paired-reruns`, before the run is refused; the verdict says so.

Every round's artefacts stay in <results>/rounds/NN-side/ (a block run again keeps the rounds it replaced
in <results>/rounds/replaced/); the verdict and summary in <results>.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from scripts import layout
from scripts import run as runner
from scripts.profiles import Profile, ProfileError

BASE, HEAD = "base", "head"
ROUNDS = "rounds"  # the rounds' folders, under the results folder
REPLACED = "replaced"  # under ROUNDS: each block run again, NN-rounds-A-B, its two rounds and WHY
WHY = "why.txt"
MIN_ROUNDS = 4  # two blocks of one base and one head round: the least the gate judges
EXTRA_ROUNDS = 4  # two more blocks, keeping the order balanced, while the verdict wants rounds (wanting_rounds)
GIT_TIMEOUT_S = 120


@dataclass(frozen=True)
class Side:
    name: str  # base or head
    tree: Path  # whose stack serves it
    port: int
    commit: str  # what the tree holds, for the log and the report
    env: dict[str, str] | None = None  # more of the stack's environment (the calibration's injected latency)


def round_order(rounds: int) -> list[str]:
    """B H H B B H H B ...: blocks of one base and one head round, the order reversed every other block,
    so a machine that drifts steadily slows both sides alike."""
    if rounds < MIN_ROUNDS or rounds % 2:
        raise ProfileError(f"paired A/B needs an even number of rounds, at least {MIN_ROUNDS} (blocks of one base "
                           f"and one head round), not {rounds}")
    return [side for block in range(rounds // 2) for side in ((BASE, HEAD) if block % 2 == 0 else (HEAD, BASE))]


def measuring(profile: Profile) -> Profile:
    """The profile at the rounds' sample targets, over its own run time: its paired-sample-target if it has
    one (else its sample-target), the tasks that ask the model kept at the sample-target's pace (chat is
    the server's heaviest work, and several tasks sample it already)."""
    return replace(profile, sample_target=profile.paired_sample_target or profile.sample_target,
                   model_sample_target=profile.sample_target if profile.paired_sample_target else 0)


def round_profile(profile: Profile, rounds: int | None = None, round_time_s: int | None = None) -> tuple[Profile, int]:
    """(the profile one round runs, the number of rounds): the profile's paired settings unless given.
    A round measures at the profile's sample targets (`measuring`), its share for the round's time. It
    ramps its users up at the profile's paired-spawn-rate (else its spawn rate): at the smoke's 1/s a
    20-s round would spend half itself ramping, and all at once the users' logins would queue behind
    each other's password hashing, past the login SLO."""
    rounds = rounds or profile.paired_rounds
    round_time_s = round_time_s or profile.paired_round_time_s
    if not rounds or not round_time_s:
        raise ProfileError(f"profile {profile.name} has no paired A/B settings (paired-rounds, paired-round-time in "
                           f"{profile.path.name}); give --rounds and --round-time")
    one_round = measuring(profile).scaled(1.0, profile.users, round_time_s)
    spawn_rate = min(float(one_round.users), profile.paired_spawn_rate or profile.spawn_rate)
    return replace(one_round, spawn_rate=spawn_rate), rounds


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], check=False, capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S)


def resolve_commit(ref: str, repo: Path = layout.BUNDLE) -> str:
    """The commit `ref` names in the repository, or a RunError saying why there is none."""
    if not ref or ref.startswith("-"):
        raise runner.RunError(f"--compare-base {ref!r}: give a branch, tag or commit of {repo}")
    inside = git(repo, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0:
        raise runner.RunError(f"--compare-base needs a git checkout of the bundle; {repo} is not one "
                              f"({inside.stderr.strip() or 'git rev-parse failed'})")
    found = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise runner.RunError(f"the base ref {ref!r} does not exist in {repo} (a branch, tag or commit; a CI "
                              f"checkout may need it fetched first: git fetch origin {ref})")
    return found.stdout.strip()


@contextlib.contextmanager
def base_worktree(commit: str, repo: Path = layout.BUNDLE) -> Iterator[Path]:
    """The commit checked out, detached, in a second worktree of the repository; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="perf-gate-base-"))
    added = git(repo, "worktree", "add", "--detach", "--quiet", str(folder), commit)
    if added.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise runner.RunError(f"could not check the base {commit[:12]} out in a worktree: "
                              f"{added.stderr.strip().splitlines()[-1] if added.stderr.strip() else added.returncode}")
    try:
        yield folder
    finally:
        git(repo, "worktree", "remove", "--force", str(folder))
        shutil.rmtree(folder, ignore_errors=True)
        git(repo, "worktree", "prune")


@contextlib.contextmanager
def round_storage(side: str) -> Iterator[dict[str, str] | None]:
    """A round's own storage: with DATABASE_URL (the job's PostgreSQL and Redis) a fresh database and Redis
    key prefix, dropped afterwards; else None (the embedded stack's data folder is the round's own)."""
    database = os.environ.get("DATABASE_URL")
    if not database:
        yield None
        return
    from stack.sandbox import service_storage

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    with contextlib.ExitStack() as cleanup:
        try:
            env = cleanup.enter_context(service_storage(f"ab_{side}", postgres_url=database, redis_url=redis_url))
        except Exception as error:  # noqa: BLE001 - any failure: this round has no storage of its own
            raise runner.RunError(f"could not create the {side} round's own database and Redis prefix from "
                                  f"DATABASE_URL and REDIS_URL: {type(error).__name__}: {error}") from None
        yield env


def run_round(args: argparse.Namespace, profile: Profile, side: Side, folder: Path) -> None:
    """One round: a fresh stack of one side, seeded, loaded with the head's suite, stopped."""
    runner.prepare_results(folder)
    try:
        with round_storage(side.name) as storage:
            env = {**(storage or {}), **(side.env or {})} or None
            target = runner.start_reference_stack(folder, args.bind, side.port, args.workers, side.tree, env)
            try:
                runner.check_target(target.base_url)
                accounts = runner.seed_accounts(profile, folder, target)
                command = runner.locust_command(profile, target, folder, accounts, args.think_scale, args.processes)
                runner.run_locust(command, profile, target, folder)
            finally:
                runner.stop_reference_stack(target)
    except runner.RunError as error:
        raise runner.RunError(f"the {side.name} round {folder.name} ({side.commit[:12]}): {error}") from None


def judge(profile: Profile, results: Path, rounds: list[tuple[str, Path]], policy: Path) -> int:
    """`python -m gate paired` on the rounds, in the order they ran, with the blocks run again noted."""
    command = runner.python_module("gate", "paired", "--profile", profile.name, "--out", str(results),
                                   "--policy", str(policy.resolve()))
    for side, folder in rounds:
        command += ["--round", f"{side}:{folder}"]
    for note in replaced_notes(results):
        command += ["--replaced", note]
    done = subprocess.run(command, check=False)
    return done.returncode if done.returncode in (runner.PASS, runner.REGRESSION) else runner.UNJUDGEABLE


def report_unjudgeable(profile: str, results: Path, reason: str, policy: Path) -> None:
    """The gate's verdict.json and summary.md for a paired run that never reached the gate."""
    from gate.judge.verdict import unjudgeable_verdict
    from gate.publish.files import write_report
    from gate.report.render import render_summary

    verdict = unjudgeable_verdict(f"this paired run broke before the gate: {reason}", profile, None, str(policy), None)
    verdict["comparison"] = "paired"
    write_report(verdict, render_summary(verdict), str(results))


def round_folder(results: Path, number: int, side: str) -> Path:
    """Where round `number` (from 1) of `side` keeps its artefacts: <results>/rounds/NN-side."""
    return results / ROUNDS / f"{number:02d}-{side}"


# Around each round: (its number from 1, its side, its folder, whether it runs again) -> a context the round
# runs in. The calibration sizes its injection and disturbs a round here; a pull request's run has none.
RoundHook = Callable[[int, str, Path, bool], contextlib.AbstractContextManager]


def plain_round(number: int, side: str, folder: Path, again: bool) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def run_rounds(args: argparse.Namespace, one_round: Profile, sides: dict[str, Side], order: list[str],
               results: Path, done: list[tuple[str, Path]] | None = None,
               around: RoundHook = plain_round) -> list[tuple[str, Path]]:
    """Every round of `order` not yet in `done`, each in <results>/rounds/NN-side: (side, folder) of all
    the rounds, in the order they ran."""
    done = list(done or [])
    if not done:
        shutil.rmtree(results / ROUNDS, ignore_errors=True)
    for number, name in enumerate(order[len(done):], start=len(done) + 1):
        folder = round_folder(results, number, name)
        print(f"ab: round {number}/{len(order)}, {name}", flush=True)
        with around(number, name, folder, False):
            run_round(args, one_round, sides[name], folder)
        done.append((name, folder))
    return done


def disturbed_block(results: Path, done: list[tuple[str, Path]]) -> int | None:
    """The index in `done` of the first round of the block whose round the A/A control found disturbed
    (the verdict's disturbed_round), or None: the run was judged, or refused for another reason."""
    verdict = _verdict(results)
    disturbed = verdict.get("disturbed_round") or {}
    if verdict.get("exit_code") != runner.UNJUDGEABLE or not disturbed.get("round"):
        return None
    for index, (_, folder) in enumerate(done):
        if Path(folder).resolve() == Path(disturbed["round"]).resolve():
            return index - index % 2
    return None


def replaced_notes(results: Path) -> list[str]:
    """Why each block was run again, in the order they were."""
    return [(block / WHY).read_text().strip() for block in sorted((results / ROUNDS / REPLACED).glob("[0-9][0-9]-*"))
            if (block / WHY).is_file()]


def rerun_block(args: argparse.Namespace, one_round: Profile, sides: dict[str, Side], results: Path,
                done: list[tuple[str, Path]], first: int, around: RoundHook = plain_round) -> None:
    """The block of rounds done[first] and done[first + 1] run again, in the same order and folders. The
    rounds they replace move to <results>/rounds/replaced/NN-rounds-A-B, with why (the A/A control's words)."""
    block = done[first:first + 2]
    store = results / ROUNDS / REPLACED
    kept = store / f"{len(replaced_notes(results)) + 1:02d}-rounds-{first + 1:02d}-{first + 2:02d}"
    kept.mkdir(parents=True)  # numbered anew each time; a fresh run clears rounds/ first (run_rounds)
    for _, folder in block:
        shutil.move(str(folder), str(kept / folder.name))
    what = (_verdict(results).get("disturbed_round") or {}).get("what", "a round the A/A control found disturbed")
    (kept / WHY).write_text(f"rounds {block[0][1].name} and {block[1][1].name} (block {first // 2 + 1}) ran again: "
                            f"{what}\n")
    for number, (name, folder) in enumerate(block, start=first + 1):
        print(f"ab: round {number}/{len(done)} again, {name}", flush=True)
        with around(number, name, folder, True):
            run_round(args, one_round, sides[name], folder)


def _verdict(results: Path) -> dict:
    try:
        return json.loads((results / "verdict.json").read_text())
    except (OSError, ValueError):
        return {}


def open_required(results: Path) -> list[str]:
    """The endpoints a failing verdict failed for being UNRESOLVED only (the policy's `unresolved: fail`):
    [] when anything else failed it, or nothing did."""
    return _open_required(_verdict(results))


def _open_required(verdict: dict) -> list[str]:
    failing = [finding for finding in verdict.get("findings", []) if finding.get("severity") == "fail"]
    if verdict.get("exit_code") != runner.REGRESSION or any(f.get("kind") != "unresolved" for f in failing):
        return []
    return sorted({f["endpoint"] for f in failing})


def short_of_goal(results: Path) -> list[str]:
    """The endpoints a judged verdict could not have seen the policy's detectable_goal_pct on ("GET /x +31%"):
    read off the rounds' spread, never their change, so judging again on more rounds keeps the false-alarm
    rate. [] when the run could not be judged (more rounds do not mend that) or the goal is off."""
    return _short_of_goal(_verdict(results))


def _short_of_goal(verdict: dict) -> list[str]:
    if verdict.get("exit_code") not in (runner.PASS, runner.REGRESSION):
        return []
    return [f"{entry['endpoint']} +{entry['detectable_pct']:.0f}%" for entry in verdict.get("short_of_goal") or []]


def wanting_rounds(results: Path) -> str | None:
    """Why the judged rounds want two more blocks, or None: required endpoints UNRESOLVED, or endpoints
    whose detectable regression is above the policy's goal."""
    verdict = _verdict(results)
    if required := _open_required(verdict):
        return f"{len(required)} required endpoint(s) UNRESOLVED ({', '.join(required)})"
    if short := _short_of_goal(verdict):
        goal = verdict.get("policy", {}).get("detectable_goal_pct", 0)
        return f"{len(short)} endpoint(s) could not have seen +{goal:g}% ({', '.join(short)})"
    return None


def round_budget(profile: Profile, count: int, max_rounds: int | None = None) -> int:
    """The most rounds a paired run may reach by adding blocks: `max_rounds`, else the profile's
    paired-max-rounds, never fewer than the `count` it starts with."""
    return max(count, max_rounds or profile.paired_max_rounds or count)


def measure(args: argparse.Namespace, profile: Profile, one_round: Profile, sides: dict[str, Side], count: int,
            budget: int, results: Path, around: RoundHook = plain_round) -> int:
    """`count` rounds in balanced order, the verdict, and then, while it wants them: the block of a round the
    A/A control found disturbed run again (up to the profile's paired-reruns, then the run stays
    unjudged), or two more blocks (up to `budget` rounds). The verdict's exit code."""
    done = run_rounds(args, one_round, sides, round_order(count), results, around=around)
    if args.no_gate:
        return runner.PASS
    verdict = judge(profile, results, done, args.policy)
    again = 0
    while True:
        first = disturbed_block(results, done)
        if first is not None and again < profile.paired_reruns:
            again += 1
            print(f"ab: a disturbed round, {done[first][1].name} or {done[first + 1][1].name}: their block runs "
                  f"again ({again} of paired-reruns {profile.paired_reruns})", flush=True)
            rerun_block(args, one_round, sides, results, done, first, around)
        elif first is None and len(done) < budget and (why := wanting_rounds(results)):
            order = round_order(min(len(done) + EXTRA_ROUNDS, budget))
            print(f"ab: {why}: {len(order) - len(done)} more rounds (paired-max-rounds {budget})", flush=True)
            done = run_rounds(args, one_round, sides, order, results, done, around)
        else:
            return verdict
        verdict = judge(profile, results, done, args.policy)


def run_paired(args: argparse.Namespace, profile: Profile, results: Path) -> int:
    """Base and head in rounds on this machine, then the paired verdict. Exit 0 pass, 1 fail, 2 cannot judge.

    When the only failures are required endpoints left UNRESOLVED, or an endpoint could not have seen the
    policy's detectable_goal_pct, two more blocks of rounds are run and everything judged again, up to the
    profile's paired-max-rounds; past it the verdict stands, reported. A block whose round the A/A control
    found disturbed runs again, up to the profile's paired-reruns (measure)."""
    one_round, count = round_profile(profile, args.rounds, args.round_time)
    budget = round_budget(profile, count, args.max_rounds)
    round_order(budget)  # an odd budget is refused before any round runs
    runner.prepare_results(results)
    try:
        commit = resolve_commit(args.compare_base)
        head_commit = git(layout.BUNDLE, "rev-parse", "HEAD").stdout.strip() or "this checkout"
        order = round_order(count)
        print(f"ab: {profile.name} in {count} rounds of {one_round.run_time_s} s ({' '.join(s[0].upper() for s in order)}): "
              f"base {args.compare_base} ({commit[:12]}) against head {head_commit[:12]} (this checkout)", flush=True)
        with base_worktree(commit) as tree:
            sides = {BASE: Side(BASE, tree, args.port + 1, commit), HEAD: Side(HEAD, layout.BUNDLE, args.port, head_commit)}
            return measure(args, profile, one_round, sides, count, budget, results)
    except runner.RunError as error:
        print(f"perf-gate: cannot judge this run: {error}", file=sys.stderr, flush=True)
        if not args.no_gate:
            report_unjudgeable(profile.name, results, str(error), args.policy)
        return runner.UNJUDGEABLE
