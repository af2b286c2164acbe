"""The baseline refresh's job (baseline-refresh.yml) run by the harness, its recording and judging
replaced by stand-ins (`make`, the workspace's `.venv/bin/python`) and GitHub by a local bare
repository: by default it pushes the baseline branch and links the pull request for a person to open,
so the repository needs no "Allow GitHub Actions to create and approve pull requests"; with the
PERF_BASELINE_PR_TOKEN secret it opens the pull request with that token, never with GITHUB_TOKEN."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.action import harness
from tests.action.fake_github import REPO

BUNDLE = Path(__file__).resolve().parents[2]
WORKFLOW = BUNDLE / ".github" / "workflows" / "baseline-refresh.yml"
JOB_TOKEN = "ghs_theJobsOwnTokenNeverPrinted"
PR_TOKEN = "github_pat_theAdoptersTokenNeverPrinted"
BRANCH = "perf/baseline-smoke-777"
COMPARE = (f"https://github.com/{REPO}/compare/main...{BRANCH}?expand=1"
           "&title=Refresh%20the%20smoke%20performance%20baseline")

STAND_INS = {
    # `make baseline PROFILE=... RUNS=... ARGS="--out FILE"`: the baseline and the run folders it leaves
    "bin/make": """#!/bin/bash
for arg in "$@"; do
  case "$arg" in PROFILE=*) profile="${arg#PROFILE=}" ;; RUNS=*) runs="${arg#RUNS=}" ;; ARGS=*) out="${arg#ARGS=--out }" ;; esac
done
mkdir -p "$(dirname "$out")"
printf '{"schema": 1, "profile": "%s"}\\n' "$profile" > "$out"
for n in $(seq 1 "$runs"); do mkdir -p "results/$profile/baseline-run-$n"; done
""",
    # `gh pr create ...`: records its arguments and the token it was given, answers with the URL
    "bin/gh": """#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_STATE/gh-calls"
printf '%s\\n' "$GH_TOKEN" >> "$FAKE_STATE/gh-tokens"
echo "https://github.com/octo/voiceassist/pull/99"
""",
    # the workspace's `.venv/bin/python -m gate check --run DIR ... --out DIR/check`
    "workspace/.venv/bin/python": """#!/bin/bash
while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
mkdir -p "$out"
printf '<!-- voiceassist-perf-gate:smoke -->\\n## ✅ Performance gate · smoke: PASS: 26 endpoints\\n\\nall fine\\n' \\
  > "$out/summary.md"
""",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def refresh(tmp_path):
    """(a function that runs the job, the remote's git dir, the stand-ins' state folder, RUNNER_TEMP)"""
    remote = tmp_path / "remote.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    _git("init", "--quiet", "--initial-branch=main", cwd=workspace)
    (workspace / "README.md").write_text("the adopter's repository\n")
    (workspace / ".gitignore").write_text(".venv/\nresults/\n")
    _git("add", ".", cwd=workspace)
    _git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", "start", cwd=workspace)
    _git("remote", "add", "origin", str(remote), cwd=workspace)
    _git("push", "--quiet", "origin", "main", cwd=workspace)
    for name, script in STAND_INS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
        path.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    uploads = []

    def run(secrets: dict[str, str] | None = None) -> harness.JobRun:
        event = {"event_name": "workflow_dispatch", "ref": "refs/heads/main", "repository": REPO,
                 "token": JOB_TOKEN, "run_id": "777", "event": {"repository": {"default_branch": "main"}}}
        env = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "FAKE_STATE": str(state),
               "GIT_CONFIG_GLOBAL": "/dev/null"}
        return harness.run_job(WORKFLOW, "record", workspace=workspace, runner_temp=tmp_path / "runner-temp",
                               github=event, inputs={"profile": "smoke", "runs": "2"}, env=env,
                               stubs={"actions/upload-artifact@": uploads.append}, secrets=secrets,
                               step_timeout_s=120)

    return run, remote, state, tmp_path / "runner-temp"


def test_by_default_the_branch_is_pushed_and_the_pull_request_linked_for_a_person_to_open(refresh):
    run, remote, state, _ = refresh
    job = run()
    assert not job.skipped and not job.failed, job.log
    assert _git("--git-dir", str(remote), "show", f"{BRANCH}:baselines/github/smoke.json").startswith('{"schema": 1')
    assert _git("--git-dir", str(remote), "log", "--format=%s", "main").strip() == "start"  # nothing lands on main
    assert not (state / "gh-calls").exists(), "the job's token must not open the pull request"
    summary = "".join(step.summary for step in job.steps)
    assert f"Open the pull request here: {COMPARE}" in summary
    assert "run 1: ✅ Performance gate · smoke: PASS" in summary  # the evidence to paste as its description
    assert f"::notice title=Baseline ready::open the pull request: {COMPARE}" in job.log
    assert JOB_TOKEN not in job.log


def test_with_the_adopters_token_the_job_opens_the_pull_request_with_it(refresh):
    run, remote, state, runner_temp = refresh
    job = run(secrets={"PERF_BASELINE_PR_TOKEN": PR_TOKEN})
    assert not job.failed, job.log
    assert (state / "gh-calls").read_text().splitlines() == [
        (f"pr create --repo {REPO} --base main --head {BRANCH} --title Refresh the smoke performance baseline "
         f"--body-file {runner_temp}/pr-body.md")]
    assert (state / "gh-tokens").read_text().splitlines() == [PR_TOKEN], "never the job's GITHUB_TOKEN"
    assert BRANCH in _git("--git-dir", str(remote), "branch", "--list", BRANCH)
    summary = "".join(step.summary for step in job.steps)
    assert "Opened https://github.com/octo/voiceassist/pull/99 with PERF_BASELINE_PR_TOKEN" in summary
    assert PR_TOKEN not in job.log and JOB_TOKEN not in job.log


def test_the_job_may_push_but_not_open_pull_requests_with_its_own_token():
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["record"]
    assert job["permissions"] == {"contents": "write"}
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert runs.count("gh pr create") == 1 and 'GH_TOKEN="$PR_TOKEN" gh pr create' in runs
    [opener] = [step for step in job["steps"] if "gh pr create" in step.get("run", "")]
    assert opener["env"]["PR_TOKEN"] == "${{ secrets.PERF_BASELINE_PR_TOKEN }}"
    assert "github.token" not in str(opener["env"])
    header = WORKFLOW.read_text().split("\nname:", 1)[0]
    assert "does not need \"Allow GitHub Actions to" in " ".join(header.replace("#", " ").split())


def test_the_baseline_refresh_runs_only_on_the_default_branch(tmp_path):
    event = {"event_name": "workflow_dispatch", "ref": "refs/heads/feature",
             "event": {"repository": {"default_branch": "main"}}}
    job = harness.run_job(WORKFLOW, "record", workspace=tmp_path / "ws", runner_temp=tmp_path / "tmp",
                          github=event, inputs={"profile": "smoke", "runs": "3"})
    assert job.skipped
