"""Jobs of the workflows run by the harness (no GitHub): the nightly history job against a local
bare repository, and the jobs' conditions. The fork-comment job is in test_fork_comment.py, the
baseline refresh in test_baseline_refresh.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.action import harness

BUNDLE = Path(__file__).resolve().parents[2]
WORKFLOWS = BUNDLE / ".github" / "workflows"
LOCKS = ("requirements.lock", "requirements-test.lock", "requirements-nodeps.lock")  # what `make venv` reads


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
            needs={"soak": {"result": "success", "outputs": {"night": night, "compare": "auto",
                                                             "comparison": "baseline", "verdict": "pass"}}},
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
    ({"profile": "stress", "users": "", "run-time": "", "fail-on": "regression"}, "auto"),
    ({"profile": "stress", "users": "50", "run-time": "", "fail-on": "regression"}, "none"),
    ({"profile": "spike", "users": "", "run-time": "2m", "fail-on": "never"}, "none"),
], ids=["as-recorded", "users", "run-time"])
def test_a_stress_or_spike_override_is_judged_without_the_baseline_and_says_so(tmp_path, inputs, compare):
    """users or run-time change the fingerprint: against the baseline such a run could only be exit 2. As
    recorded: auto, the baseline once baseline-refresh.yml has recorded it, the limits only before."""
    job, [gate] = dispatched_job(tmp_path, "stress-spike.yml", "load", inputs)
    assert gate["compare"] == compare and gate["profile"] == inputs["profile"]
    summary = job.step("compare").summary
    if compare == "none":
        assert "**Override**" in summary and "compare: none" in summary and inputs["profile"] in summary
    else:
        assert summary == ""


@pytest.mark.parametrize(("inputs", "compare"), [({}, "auto"), ({"scale": "1"}, "auto"),
                                                 ({"scale": "0.25"}, "none")],
                         ids=["scheduled", "dispatched-at-scale-1", "dispatched-scaled"])
def test_a_scaled_nightly_soak_is_judged_without_the_baseline_and_says_so(tmp_path, inputs, compare):
    job, [gate] = dispatched_job(tmp_path, "nightly-soak.yml", "soak", inputs)
    night = job.step("night")
    assert gate["compare"] == night.outputs["compare"] == compare
    assert gate["scale"] == inputs.get("scale", "1")
    assert ("not recorded in the nightly history" in night.summary) is (compare == "none")


@pytest.mark.parametrize(("result", "outputs"), [
    ("failure", {"compare": "auto", "comparison": "baseline", "verdict": "invalid"}),  # fail-on: invalid fails it
    ("failure", {"compare": "auto", "comparison": "", "verdict": ""}),  # the action stopped before a verdict
    ("success", {"compare": "none", "comparison": "none", "verdict": "pass"}),  # a scaled soak, limits only
    ("success", {"compare": "none", "comparison": "none", "verdict": "regression"}),
    ("success", {"compare": "auto", "comparison": "none", "verdict": "pass"}),  # no baseline recorded yet
    ("success", {"compare": "auto", "comparison": "none", "verdict": "regression"}),
    ("cancelled", {"compare": "auto", "comparison": "baseline", "verdict": "pass"}),
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
    needs = {"soak": {"result": "success", "outputs": {"night": "2026-11-27", "compare": "auto",
                                                       "comparison": "baseline", "verdict": verdict}}}
    assert harness.condition_holds(condition, {"needs": needs}, failed=False)



def test_the_pull_request_gate_compares_the_pull_request_with_its_base_commit_paired(tmp_path):
    """A pull request has a base: measured with it on the same runner (compare: base, base-ref left to its
    default, the pull request's base commit), it needs no baseline recorded on other machines, so none
    is named; pushes, nightly runs and stress/spike keep theirs."""
    gates = []
    job = harness.run_job(WORKFLOWS / "perf-gate.yml", "smoke", workspace=tmp_path / "ws",
                          runner_temp=tmp_path / "tmp", github={"event_name": "pull_request"},
                          stubs={"./": lambda step: gates.append(step.with_), "actions/": lambda step: None})
    assert not job.failed, job.log
    [gate] = gates
    assert gate["compare"] == "base"
    assert "base-ref" not in gate, "on a pull request the action takes github.event.pull_request.base.sha"
    assert "baseline" not in gate and "rounds" not in gate and "round-time" not in gate
    assert gate["profile"] == "smoke" and gate["fail-on"] == "regression" and gate["comment"] == "always"
    document = yaml.safe_load((WORKFLOWS / "perf-gate.yml").read_text())
    job = document["jobs"]["smoke"]
    assert list(document[True if True in document else "on"]) == ["pull_request"]
    [checkout] = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"]["persist-credentials"] is False
    # the smoke's 12 rounds of 20 s, each a fresh stack: about 6 minutes, the setup and a slow runner aside
    assert job["timeout-minutes"] >= 15
