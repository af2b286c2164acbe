"""Jobs of the workflows run by the harness (no GitHub): the fork-comment job end to end against
the fake GitHub API with an artifact as a fork's run would leave it, and the jobs' conditions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.action import harness
from tests.action.fake_github import PR, REPO, TOKEN, FakeGitHub

BUNDLE = Path(__file__).resolve().parents[2]
WORKFLOWS = BUNDLE / ".github" / "workflows"
EXAMPLE = BUNDLE / "tests" / "fixtures" / "action" / "comment-example.md"
LOCKS = ("requirements.lock", "requirements-test.lock", "requirements-nodeps.lock")  # what `make venv` reads


@pytest.fixture
def github(httpserver) -> FakeGitHub:
    return FakeGitHub(httpserver).install()


def workflow_run_event(github: FakeGitHub, head_repository: str = "forker/voiceassist") -> dict:
    return {"event_name": "workflow_run", "repository": REPO, "token": TOKEN, "event": {"workflow_run": {
        "id": 4242, "event": "pull_request", "conclusion": "failure", "head_sha": github.head_sha,
        "head_repository": {"full_name": head_repository},
        "html_url": f"https://github.com/{REPO}/actions/runs/4242"}}}


def comment_job(tmp_path: Path, github: FakeGitHub, artifact: dict[str, str], event: dict | None = None):
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "gate").symlink_to(BUNDLE / "gate")  # what the sparse checkout of the default branch gives
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "comment-venv").symlink_to(sys.prefix)  # has requests: the step must not pip install
    downloads = []

    def download(step: harness.StepResult) -> None:
        downloads.append(step.with_)
        target = Path(step.with_["path"])
        target.mkdir(parents=True)
        for name, text in artifact.items():
            (target / name).write_text(text)

    job = harness.run_job(WORKFLOWS / "perf-comment.yml", "comment", workspace=workspace, runner_temp=temp,
                          github=event or workflow_run_event(github), env={"GITHUB_API_URL": github.api},
                          stubs={"actions/download-artifact@": download}, step_timeout_s=120)
    return job, downloads


def fork_artifact(pr: object = PR, profile: str = "smoke", verdict: str = "regression") -> dict[str, str]:
    return {"summary.md": EXAMPLE.read_text(),
            "comment.json": json.dumps({"pull_request": str(pr), "head_sha": "c" * 40, "profile": profile,
                                        "verdict": verdict})}


def test_a_forks_summary_is_posted_from_the_base_repository(tmp_path, github):
    job, downloads = comment_job(tmp_path, github, fork_artifact())
    assert not job.skipped and not job.failed, job.log
    assert downloads == [{"name": "perf-smoke", "path": str(tmp_path / "runner-temp" / "perf-smoke"),
                          "run-id": "4242", "github-token": TOKEN}]
    [comment] = github.comments
    assert comment["body"].rstrip("\n") == EXAMPLE.read_text().rstrip("\n")
    assert "pip install" not in job.log and TOKEN not in job.log


def test_a_second_run_updates_the_same_comment(tmp_path, github):
    comment_job(tmp_path / "one", github, fork_artifact())
    second = {**fork_artifact(verdict="pass"), "summary.md": "## ✅ Performance gate · smoke: PASS\n"}
    job, _ = comment_job(tmp_path / "two", github, second)
    assert not job.failed and len(github.comments) == 1 and "updated" in job.log
    assert "PASS" in github.comments[0]["body"]


@pytest.mark.parametrize("artifact", [
    fork_artifact(pr="7; touch /tmp/pwned"),
    fork_artifact(pr="$(id)"),
    fork_artifact(profile="smoke --repo other/repo"),
    fork_artifact(verdict="pass\n--pr 1"),
    {"summary.md": "## hi\n", "comment.json": "not json"},
], ids=["pr-command", "pr-substitution", "profile-option", "verdict-newline", "not-json"])
def test_a_tampered_comment_json_is_refused_before_any_api_call(tmp_path, github, artifact):
    job, _ = comment_job(tmp_path, github, artifact)
    assert github.calls == [], job.log
    assert not (Path("/tmp/pwned")).exists()
    if artifact["comment.json"] != "not json":
        assert "::warning::perf comment: the run's comment.json is missing or malformed" in job.log


def test_a_pull_request_that_moved_on_gets_no_comment_from_an_old_run(tmp_path, github):
    tested = workflow_run_event(github)
    github.head_sha = "d" * 40  # a newer push since: the artifact's run tested the previous head
    job, _ = comment_job(tmp_path, github, fork_artifact(), event=tested)
    assert not job.failed and github.comments == [] and "not commenting" in job.log


def test_a_same_repository_pull_request_is_left_to_the_gate_job(tmp_path, github):
    job, downloads = comment_job(tmp_path, github, fork_artifact(),
                                 event=workflow_run_event(github, head_repository=REPO))
    assert job.skipped and downloads == [] and github.calls == []


def test_the_baseline_refresh_runs_only_on_the_default_branch(tmp_path):
    event = {"event_name": "workflow_dispatch", "ref": "refs/heads/feature",
             "event": {"repository": {"default_branch": "main"}}}
    job = harness.run_job(WORKFLOWS / "baseline-refresh.yml", "record", workspace=tmp_path / "ws",
                          runner_temp=tmp_path / "tmp", github=event, inputs={"profile": "smoke", "runs": "3"})
    assert job.skipped


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
    for name in ("gate", "baselines", "Makefile", "pyproject.toml", "requirements-nodeps.txt", *LOCKS, ".venv"):
        (workspace / name).symlink_to(BUNDLE / name)

    def download(step: harness.StepResult) -> None:
        shutil.copytree(night_run, step.with_["path"])

    logs = []
    for night in ("2026-11-25", "2026-11-26"):
        job = harness.run_job(
            WORKFLOWS / "nightly-soak.yml", "history", workspace=workspace, runner_temp=tmp_path / f"tmp-{night}",
            github={"event_name": "schedule", "repository": "octo/voiceassist", "token": "t0ken",
                    "server_url": f"file://{tmp_path / 'remotes'}"},
            needs={"soak": {"result": "success", "outputs": {"night": night, "compare": "baseline",
                                                             "verdict": "pass"}}},
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


def dispatched_job(tmp_path: Path, workflow: str, job_id: str, inputs: dict) -> tuple[harness.JobRun, list[dict]]:
    """The job's own steps, with the action (`uses: ./`) and the remote actions stubbed: what the job
    hands the action."""
    gates = []
    job = harness.run_job(WORKFLOWS / workflow, job_id, workspace=tmp_path / "ws", runner_temp=tmp_path / "tmp",
                          github={"event_name": "workflow_dispatch" if inputs else "schedule"}, inputs=inputs,
                          stubs={"./": lambda step: gates.append(step.with_), "actions/": lambda step: None})
    assert not job.failed, job.log
    return job, gates


@pytest.mark.parametrize(("inputs", "compare"), [
    ({"profile": "stress", "users": "", "run-time": "", "fail-on": "regression"}, "baseline"),
    ({"profile": "stress", "users": "50", "run-time": "", "fail-on": "regression"}, "none"),
    ({"profile": "spike", "users": "", "run-time": "2m", "fail-on": "never"}, "none"),
], ids=["as-recorded", "users", "run-time"])
def test_a_stress_or_spike_override_is_judged_without_the_baseline_and_says_so(tmp_path, inputs, compare):
    """users or run-time change the fingerprint: against the baseline such a run could only be exit 2."""
    job, [gate] = dispatched_job(tmp_path, "stress-spike.yml", "load", inputs)
    assert gate["compare"] == compare and gate["profile"] == inputs["profile"]
    summary = job.step("compare").summary
    if compare == "none":
        assert "**Override**" in summary and "compare: none" in summary and inputs["profile"] in summary
    else:
        assert summary == ""


@pytest.mark.parametrize(("inputs", "compare"), [({}, "baseline"), ({"scale": "1"}, "baseline"),
                                                 ({"scale": "0.25"}, "none")],
                         ids=["scheduled", "dispatched-at-scale-1", "dispatched-scaled"])
def test_a_scaled_nightly_soak_is_judged_without_the_baseline_and_says_so(tmp_path, inputs, compare):
    job, [gate] = dispatched_job(tmp_path, "nightly-soak.yml", "soak", inputs)
    night = job.step("night")
    assert gate["compare"] == night.outputs["compare"] == compare
    assert gate["scale"] == inputs.get("scale", "1")
    assert ("not recorded in the nightly history" in night.summary) is (compare == "none")


@pytest.mark.parametrize(("result", "outputs"), [
    ("failure", {"compare": "baseline", "verdict": "invalid"}),  # fail-on: invalid fails the soak job
    ("failure", {"compare": "baseline", "verdict": ""}),  # the action stopped before a verdict
    ("success", {"compare": "none", "verdict": "pass"}),  # a scaled soak, judged on its limits only
    ("success", {"compare": "none", "verdict": "regression"}),
    ("cancelled", {"compare": "baseline", "verdict": "pass"}),
])
def test_the_nightly_history_never_records_an_invalid_or_overridden_night(tmp_path, result, outputs):
    """The job's condition alone: a skipped job appends nothing and opens no change-point issue."""
    job = harness.run_job(WORKFLOWS / "nightly-soak.yml", "history", workspace=tmp_path / "ws",
                          runner_temp=tmp_path / "tmp", github={"event_name": "schedule"},
                          needs={"soak": {"result": result, "outputs": {"night": "2026-11-27", **outputs}}})
    assert job.skipped


@pytest.mark.parametrize("verdict", ["pass", "regression"])
def test_a_judged_night_at_full_scale_is_recorded(verdict):
    condition = yaml.safe_load((WORKFLOWS / "nightly-soak.yml").read_text())["jobs"]["history"]["if"]
    needs = {"soak": {"result": "success", "outputs": {"night": "2026-11-27", "compare": "baseline",
                                                       "verdict": verdict}}}
    assert harness.condition_holds(condition, {"needs": needs}, failed=False)
