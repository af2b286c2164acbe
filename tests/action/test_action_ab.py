"""compare: base, the action's paired A/B mode, run by the harness as a runner would.

END TO END (one run, about a minute): a pull request whose base commit is this repository's HEAD and
whose head is the working tree; base-ref left empty, so the action takes the pull request's base commit.
Both reference stacks run in 4 rounds of 8 s (B H H B) against a policy without absolute p95 limits,
so the verdict is the paired comparison's. Asserted: a judged verdict and its outputs, comparison
paired, the summary and the sticky comment ("base rounds → head rounds", SAME/UNRESOLVED per endpoint),
no stack and no worktree left behind.

Quick runs without load: the inputs compare: base refuses (another stack, no base-ref outside a pull
request, rounds without compare: base), a base-ref that does not exist (the runner's message in the job
summary), the fetch of a base commit a shallow checkout lacks (a stand-in `git` on PATH: this repository
is neither shallow nor has a remote to fetch from), and the stop step removing a base worktree that a
killed run left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.action import harness
from tests.action.fake_github import PR, REPO, TOKEN

BUNDLE = Path(__file__).resolve().parents[2]
ACTION = BUNDLE / "action.yml"
ROUNDS = {"rounds": "4", "round-time": "8s", "max-rounds": "4"}  # never more: the policy adds rounds for power
# the remote a fetch goes to: a path that is not there, so no test ever leaves this machine
NO_REMOTE = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "remote.origin.url",
             "GIT_CONFIG_VALUE_0": "/nonexistent/perf-gate-test-origin.git"}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(BUNDLE), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def base_worktrees(under: Path) -> set[str]:
    """Worktrees of this repository under `under`: the action has the runner check its base out under
    RUNNER_TEMP (other people's paired runs on this machine use /tmp, and come and go meanwhile)."""
    paths = re.findall(r"^worktree (.+)$", git("worktree", "list", "--porcelain"), re.MULTILINE)
    return {path for path in paths if Path(path).resolve().is_relative_to(under.resolve())}


def free_port() -> int:
    """A port whose successor is free too (the base side's stack listens on port + 1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65535 and not port_answers(port + 1):
            return port
    raise RuntimeError("no free pair of ports")


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    needle = text.encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            raw = cmdline.read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if needle in raw:
            found.append(raw.decode(errors="replace"))
    return found


class Runner:
    """A workspace and RUNNER_TEMP; the action's venv step finds the bundle's .venv already built."""

    def __init__(self, root: Path, api: str = "http://127.0.0.1:9"):
        self.workspace = root / "workspace"
        self.temp = root / "runner-temp"
        self.temp.mkdir(parents=True)
        (self.temp / "perf-gate-venv").symlink_to(sys.prefix)
        self.env = {"GITHUB_API_URL": api, "DATABASE_URL": "", "REDIS_URL": "", **NO_REMOTE}

    def run(self, inputs: dict, pull_request: dict | None = None) -> harness.ActionRun:
        github = {"event_name": "pull_request" if pull_request else "push", "event": {}, "repository": REPO,
                  "token": TOKEN}
        if pull_request:
            github["event"] = {"pull_request": pull_request}
        run = harness.run_action(ACTION, {"token": TOKEN, "profile": "smoke", "compare": "base", **inputs},
                                 workspace=self.workspace, runner_temp=self.temp, github=github, env=self.env,
                                 stubs={"actions/upload-artifact@": lambda step: None}, step_timeout_s=300)
        assert "reusing the virtual environment" in run.steps[0].log or run.steps[0].outcome == "failure", \
            run.steps[0].log
        return run


def stopped_in_setup(run: harness.ActionRun) -> bool:
    """Nothing but the setup step (failed) and the job summary's 'not run' ran."""
    ran = [step.name for step in run.steps if step.outcome != "skipped"]
    return (run.failed and run.step("setup").outcome == "failure" and ran == [run.steps[0].name, "Write the job summary"]
            and "not run" in run.summary)


# -- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory, github):
    root = tmp_path_factory.mktemp("ab")
    runner = Runner(root, github.api)
    # the real policy without its absolute p95 limits: on this shared machine 8-s rounds' logins queue
    # behind each other's password hashing beyond the 1-s SLO; the verdict is then the paired comparison's
    policy = yaml.safe_load((BUNDLE / "baselines" / "policy.yml").read_text())
    policy["profiles"]["smoke"]["rules"].append({"pattern": "*", "metrics": {"p95": {"limit": None}}})
    (runner.workspace / "perf").mkdir(parents=True)
    (runner.workspace / "perf" / "policy.yml").write_text(yaml.safe_dump(policy))
    port = free_port()
    base_sha = git("rev-parse", "HEAD").strip()
    seen, done = set(), threading.Event()

    def watch() -> None:  # the base worktree while the rounds run: under RUNNER_TEMP, where the stop step looks
        while not done.wait(0.5):
            seen.update(base_worktrees(runner.temp))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = runner.run({**ROUNDS, "port": str(port), "policy": "perf/policy.yml"},
                         pull_request={"number": PR, "head": {"sha": "c" * 40}, "base": {"sha": base_sha}})
    finally:
        done.set()
        watcher.join()
    results = Path(run.outputs["results"])
    return {"run": run, "results": results, "base_sha": base_sha, "runner": runner, "worktrees_seen": seen,
            "leftover_worktrees": base_worktrees(runner.temp),
            "ports_answer": [port_answers(port), port_answers(port + 1)],
            "leftover_processes": processes_mentioning(f"{results}/"),
            "comments": [dict(c) for c in github.comments]}


@pytest.mark.e2e
def test_a_pull_request_is_judged_against_its_base_commit_in_paired_rounds(paired_run):
    run, results = paired_run["run"], paired_run["results"]
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["comparison"] == "paired", run.log[-6000:]
    assert run.outputs["comparison"] == "paired"
    # judged either way: the same code on both sides passes, or (rarely) a false alarm fails it
    assert verdict["exit_code"] in (0, 1), verdict["reason"]
    assert run.outputs["exit-code"] == str(verdict["exit_code"])
    assert run.outputs["verdict"] == {0: "pass", 1: "regression"}[verdict["exit_code"]]
    assert run.failed is (verdict["exit_code"] != 0)
    # base-ref empty on a pull request: the pull request's base commit, already in this checkout
    log = run.step("run").log
    assert f"base {paired_run['base_sha']} ({paired_run['base_sha'][:12]})" in log
    assert "in 4 rounds of 8 s (B H H B)" in log
    assert "fetching" not in log
    assert sorted(p.name for p in (results / "rounds").iterdir()) == ["01-base", "02-head", "03-head", "04-base"]
    # max-rounds 4 held: 4 rounds of 8 s leave short endpoints far from the policy's goal, and the summary says so
    assert verdict["short_of_goal"] and "**Could not have seen +25%**" in (results / "summary.md").read_text()
    for step in ("Write the job summary", "Comment on the pull request", "Upload the results", "Stop the stack"):
        assert run.step(step).outcome == "success", f"{step}: {run.step(step).log[-2000:]}"


@pytest.mark.e2e
def test_the_summary_and_the_comment_show_base_rounds_against_head_rounds(paired_run):
    run, results = paired_run["run"], paired_run["results"]
    summary = (results / "summary.md").read_text()
    assert run.summary == summary
    assert summary.startswith("<!-- voiceassist-perf-gate:smoke -->")
    assert "### Endpoints (base rounds → head rounds)" in summary
    assert "paired with 2 base rounds on the same machine (paired rounds: B H H B" in summary
    states = re.findall(r"\|\s+(SAME|UNRESOLVED|DIFFERENT)\s+\|", summary)
    assert {"SAME", "UNRESOLVED"} & set(states), summary[:3000]
    [comment] = [c for c in paired_run["comments"] if "voiceassist-perf-gate:smoke" in c["body"]]
    assert comment["body"].rstrip("\n") == summary.rstrip("\n")
    assert json.loads((results / "comment.json").read_text())["verdict"] == run.outputs["verdict"]


@pytest.mark.e2e
def test_a_paired_run_leaves_no_stack_process_or_worktree(paired_run):
    assert [Path(path).parent.name for path in paired_run["worktrees_seen"]] == ["perf-gate-ab"], \
        "the base worktree was not under RUNNER_TEMP/perf-gate-ab while the rounds ran"
    assert paired_run["ports_answer"] == [False, False], "a round's stack still answers"
    assert paired_run["leftover_processes"] == []
    assert paired_run["leftover_worktrees"] == set(), git("worktree", "list")
    assert not (paired_run["runner"].temp / "perf-gate-ab").exists()
    # the runner removed its own: the stop step found nothing to remove
    assert "removed the base worktree" not in paired_run["run"].step("Stop the stack").log


# -- quick runs without load ------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)


def test_compare_base_refuses_a_stack_other_than_the_reference(runner):
    # (were it let through, the target step would stop at once: the command exits, nothing answers)
    run = runner.run({"stack": "command", "start-command": "false", "base-url": "http://127.0.0.1:9",
                      "base-ref": "HEAD"})
    assert stopped_in_setup(run)
    assert ("::error::perf gate: compare: base measures the reference stack of this action's own repository at "
            "two commits; stack: command is not supported with it") in run.step("setup").log


def test_compare_base_outside_a_pull_request_needs_a_base_ref(runner):
    run = runner.run({})
    assert stopped_in_setup(run)
    assert "::error::perf gate: compare: base needs base-ref" in run.step("setup").log


def test_compare_base_refuses_a_base_ref_that_could_be_an_option(runner):
    run = runner.run({"base-ref": "--upload-pack=false"})
    assert stopped_in_setup(run)
    assert "::error::perf gate: base-ref must be a commit, branch or tag name" in run.step("setup").log


def test_rounds_are_settings_of_compare_base_only(runner):
    # (were they let through, the run would end at once: nothing answers at base-url)
    run = runner.run({"compare": "baseline", "rounds": "4", "stack": "external", "base-url": "http://127.0.0.1:9"})
    assert stopped_in_setup(run)
    assert "::error::perf gate: rounds, round-time and max-rounds are settings of compare: base" in run.step("setup").log


def test_max_rounds_must_be_a_whole_number(runner):
    run = runner.run({"base-ref": "HEAD", "max-rounds": "20; rm -rf ~"})
    assert stopped_in_setup(run)
    assert "::error::perf gate: max-rounds must be a whole number (even, at least rounds), not '20; rm -rf ~'" \
        in run.step("setup").log


def test_a_base_ref_that_does_not_exist_cannot_be_judged_and_the_summary_says_why(runner):
    """Not in the checkout: the action tries to fetch it from origin (here a path that is not there),
    reports the failed fetch, and the runner's verdict says the ref does not exist."""
    run = runner.run({**ROUNDS, "base-ref": "no-such-branch-for-the-perf-gate"})
    assert run.failed and run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2"
    assert run.outputs["comparison"] == "paired"
    log = run.step("run").log
    assert "fetching it from origin" in log
    assert "::error::perf gate: could not fetch the base no-such-branch-for-the-perf-gate from origin" in log
    assert "CANNOT JUDGE" in run.summary
    assert "the base ref 'no-such-branch-for-the-perf-gate' does not exist in " in run.summary, run.summary
    assert base_worktrees(runner.temp) == set()


def fake_git(folder: Path, fetch_exit: int) -> dict[str, str]:
    """A `git` on PATH that records its calls, says no commit is in the checkout (a shallow clone),
    answers fetch with `fetch_exit`, resolves FETCH_HEAD as HEAD, refuses `worktree add` (so the run
    stops right after resolving its base, before any load), and passes everything else to git."""
    real = shutil.which("git")
    folder.mkdir()
    script = folder / "git"
    script.write_text(f"""#!/bin/bash
echo "$*" >> "{folder}/calls"
case " $* " in *" worktree add "*) echo "fatal: fake: no worktree here" >&2; exit 128 ;; esac
args=()
for arg in "$@"; do
  case "$arg" in
    cat-file) exit 1 ;;
    fetch) echo "fake fetch"; exit {fetch_exit} ;;
    'FETCH_HEAD^{{commit}}') arg='HEAD^{{commit}}' ;;
  esac
  args+=("$arg")
done
exec {real} "${{args[@]}}"
""")
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def test_a_base_commit_the_shallow_checkout_lacks_is_fetched_from_origin_first(runner, tmp_path):
    runner.env.update(fake_git(tmp_path / "bin", fetch_exit=0))
    head = git("rev-parse", "HEAD").strip()
    run = runner.run({**ROUNDS, "base-ref": "main-of-the-base"})
    calls = (tmp_path / "bin" / "calls").read_text().splitlines()
    assert f"-C {BUNDLE} fetch --no-tags --depth=1 origin main-of-the-base" in calls, calls
    # a branch fetched by name resolves as FETCH_HEAD: the runner is given that commit
    log = run.step("run").log
    assert f"base {head} ({head[:12]})" in log, log[-3000:]
    assert f"could not check the base {head[:12]} out in a worktree" in run.summary
    assert "could not fetch" not in log
    assert run.outputs["exit-code"] == "2" and run.outputs["comparison"] == "paired"


def test_a_base_commit_that_is_already_there_is_not_fetched(runner):
    run = runner.run({"rounds": "3", "base-ref": "HEAD"})  # an odd count: the runner stops before any round
    assert "fetching it from origin" not in run.step("run").log
    assert "even number of rounds" in run.step("run").log and run.outputs["exit-code"] == "2"


def test_a_failed_fetch_is_an_error_and_the_run_cannot_be_judged(runner, tmp_path):
    runner.env.update(fake_git(tmp_path / "bin", fetch_exit=128))
    run = runner.run({**ROUNDS, "base-ref": "0123456789abcdef0123456789abcdef01234567"})
    log = run.step("run").log
    assert "::error::perf gate: could not fetch the base 0123456789abcdef0123456789abcdef01234567 from origin; " \
           "a private repository needs the checkout's credentials" in log
    assert run.failed and run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2"
    assert "does not exist" in run.summary


def test_the_stop_step_removes_a_base_worktree_a_killed_run_left(runner):
    left = runner.temp / "perf-gate-ab" / "perf-gate-base-killed"
    left.parent.mkdir()
    git("worktree", "add", "--detach", "--quiet", str(left), "HEAD")
    try:
        run = runner.run({"rounds": "3", "base-ref": "HEAD"})
        assert "removed the base worktree" in run.step("Stop the stack").log
        assert str(left) not in git("worktree", "list")
        assert not left.parent.exists()
    finally:
        if left.exists():
            git("worktree", "remove", "--force", str(left))
