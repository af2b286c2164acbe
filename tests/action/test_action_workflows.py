"""Jobs of the workflows run by the harness (no GitHub): the nightly history job against a local
bare repository, and the jobs' conditions. The fork-comment job is in test_fork_comment.py, the
baseline refresh in test_baseline_refresh.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.action import harness

BUNDLE = Path(__file__).resolve().parents[2]
WORKFLOWS = BUNDLE / ".github" / "workflows"


def test_the_nightly_soak_runs_at_full_scale_when_scheduled():
    assert harness.interpolate("${{ inputs.scale || '1' }}", {"inputs": {}}) == "1"
    assert harness.interpolate("${{ inputs.scale || '1' }}", {"inputs": {"scale": "0.25"}}) == "0.25"


def test_the_nightly_history_job_appends_each_night_to_the_history_branch(tmp_path):
    """Two nights through the history job: a local bare repository stands in for GitHub's remote."""
    if subprocess.run(["make", "-q", "venv"], cwd=BUNDLE, check=False).returncode != 0:
        pytest.skip(".venv is older than pyproject.toml: run `make venv` first (the job's make venv must be a no-op)")
    night_run = BUNDLE / "tests" / "fixtures" / "action" / "soak-night"
    remote = tmp_path / "remotes" / "octo" / "voiceassist.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for name in ("gate", "baselines", "Makefile", "pyproject.toml", "requirements-nodeps.txt", ".venv"):  # checkout
        (workspace / name).symlink_to(BUNDLE / name)

    def download(step: harness.StepResult) -> None:
        shutil.copytree(night_run, step.with_["path"])

    logs = []
    for night in ("2026-11-25", "2026-11-26"):
        job = harness.run_job(
            WORKFLOWS / "nightly-soak.yml", "history", workspace=workspace, runner_temp=tmp_path / f"tmp-{night}",
            github={"event_name": "schedule", "repository": "octo/voiceassist", "token": "t0ken",
                    "server_url": f"file://{tmp_path / 'remotes'}"},
            needs={"soak": {"result": "success", "outputs": {"night": night}}},
            env={"GITHUB_SHA": night.replace("-", "") * 5},  # another commit each night
            stubs={"actions/download-artifact@": download}, step_timeout_s=300)
        assert not job.skipped
        logs.append(job.log)
        assert not job.failed, job.log[-4000:]
    history = subprocess.run(["git", "--git-dir", str(remote), "show", "perf-history:soak.jsonl"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(history) == 2
    assert "no perf-history branch yet" in logs[0] and "no perf-history branch yet" not in logs[1]
    assert "t0ken" not in "".join(logs)
    assert "Soak history: change points over the nights" in job.steps[-2].summary
    skipped = harness.run_job(WORKFLOWS / "nightly-soak.yml", "history", workspace=workspace,
                              runner_temp=tmp_path / "tmp-cancelled", github={"event_name": "schedule"},
                              needs={"soak": {"result": "cancelled", "outputs": {"night": "2026-11-27"}}})
    assert skipped.skipped
