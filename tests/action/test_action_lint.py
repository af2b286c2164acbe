"""The action and the workflows pass the linters GitHub users trust, offline: zizmor (security)
and check-jsonschema (GitHub's own schemas); and the rules they do not check: every third-party
action pinned by commit SHA with its version in a comment, no runner expression inside `run:`,
least-privilege permissions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.action import harness

BUNDLE = Path(__file__).resolve().parents[2]
ACTION = BUNDLE / "action.yml"
WORKFLOWS = sorted((BUNDLE / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s+v\d+(?:\.\d+)*\s*$")


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], cwd=BUNDLE, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_offline_finds_nothing(persona):
    """Pedantic too (it adds unpinned service images, missing concurrency); what remains is ignored
    inline, with its reason."""
    done = tool("zizmor", "--offline", "--no-progress", f"--persona={persona}", "action.yml", ".github")
    assert done.returncode == 0, f"zizmor findings:\n{done.stdout}\n{done.stderr}"
    assert "No findings to report" in done.stdout + done.stderr


def test_every_inline_zizmor_ignore_gives_its_reason():
    for path in [ACTION, *WORKFLOWS]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(r"zizmor: ignore\[[\w,-]+\](.*)$", line):
                reason = match.group(1).strip()
                above = path.read_text().splitlines()[number - 2].strip() if number > 1 else ""
                assert reason or above.startswith("#"), f"{path.name}:{number}: an ignore without its reason"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_githubs_schema(workflow):
    done = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow))
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_matches_githubs_schema():
    done = tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dependabot_matches_its_schema():
    done = tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_expected_workflows_exist():
    assert {path.name for path in WORKFLOWS} >= {"perf-gate.yml", "perf-comment.yml", "nightly-soak.yml",
                                                 "stress-spike.yml", "baseline-refresh.yml", "ci.yml"}


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda path: path.name)
def test_every_third_party_action_is_pinned_by_sha_with_its_version(path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"^\s*(?:-\s+)?uses:", line) and not re.search(r"uses:\s+\./", line):
            assert PINNED.match(line), f"{path.name}:{number} not pinned as owner/repo@<sha> # vX.Y: {line.strip()}"


def uses_steps(path: Path) -> list[tuple[str, dict]]:
    """(where, step) for every `uses:` step of the action or of a workflow's jobs."""
    document = yaml.safe_load(path.read_text())
    if path == ACTION:
        return [(f"{path.name} step {n}", step) for n, step in enumerate(document["runs"]["steps"]) if "uses" in step]
    return [(f"{path.name} job {job_id} step {n}", step) for job_id, job in document["jobs"].items()
            for n, step in enumerate(job.get("steps", [])) if "uses" in step]


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda path: path.name)
def test_every_artifact_upload_survives_a_rerun(path):
    """A re-run of a job uploads under the same name: without overwrite, upload-artifact fails with 409."""
    for where, step in uses_steps(path):
        if step["uses"].startswith("actions/upload-artifact@"):
            assert str(step.get("with", {}).get("overwrite")).lower() == "true", f"{where}: no overwrite: true"


# The first release of each that runs on Node 24 (Node 20 is removed from the runners): checkout v5,
# setup-python v6, upload-artifact v6, download-artifact v7 (their v5/v6 still ran on Node 20).
NODE24_MAJOR = {"actions/checkout": 5, "actions/setup-python": 6, "actions/upload-artifact": 6,
                "actions/download-artifact": 7}


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS, BUNDLE / "docs" / "action.md"], ids=lambda path: path.name)
def test_pinned_actions_are_releases_that_run_on_node_24(path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"uses:\s+(actions/[\w-]+)@[0-9a-f]{40}\s+#\s+v(\d+)", line)
        if match and match.group(1) in NODE24_MAJOR:
            assert int(match.group(2)) >= NODE24_MAJOR[match.group(1)], f"{path.name}:{number}: {line.strip()}"


@pytest.mark.parametrize("path", [*WORKFLOWS, BUNDLE / "docs" / "action.md"], ids=lambda path: path.name)
def test_service_images_are_pinned_by_digest(path):
    images = re.findall(r"^\s*image:\s*(\S+)", path.read_text(), re.MULTILINE)
    for image in images:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{path.name}: {image} not pinned"


def test_no_runner_expression_inside_a_run_block_of_the_action():
    assert harness.expressions_in_run_blocks(harness.load_action(ACTION)) == []


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_no_runner_expression_inside_a_run_block_of_a_workflow(workflow):
    document = yaml.safe_load(workflow.read_text())
    for job_id, job in document["jobs"].items():
        for step in job.get("steps", []):
            assert "${{" not in str(step.get("run", "")), f"{workflow.name} job {job_id}: expression in run:"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_permissions_are_granted_per_job_and_nothing_by_default(workflow):
    document = yaml.safe_load(workflow.read_text())
    assert document.get("permissions") == {}, f"{workflow.name}: top-level permissions must be {{}}"
    for job_id, job in document["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{workflow.name} job {job_id}: no permissions block"
        assert "write-all" not in str(job["permissions"])


def test_only_the_jobs_that_publish_may_write():
    writers = {}
    for workflow in WORKFLOWS:
        for job_id, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            writes = sorted(scope for scope, level in job["permissions"].items() if level == "write")
            if writes:
                writers[f"{workflow.name}:{job_id}"] = writes
    assert writers == {
        "perf-gate.yml:smoke": ["pull-requests"],  # read-only anyway on a fork's pull request
        "perf-comment.yml:comment": ["pull-requests"],
        "nightly-soak.yml:history": ["contents", "issues"],  # perf-history branch, change-point issue
        "baseline-refresh.yml:record": ["contents"],  # the pull request: a person, or PERF_BASELINE_PR_TOKEN
    }


def test_the_pull_request_gate_cancels_superseded_runs_and_has_healthy_services():
    document = yaml.safe_load((BUNDLE / ".github/workflows/perf-gate.yml").read_text())
    assert document["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in document["concurrency"]["group"]
    job = document["jobs"]["smoke"]
    for service in ("postgres", "redis"):
        assert "--health-cmd" in job["services"][service]["options"]
    [gate] = [step for step in job["steps"] if step.get("uses") == "./"]
    assert gate["with"]["profile"] == "smoke"


def test_the_fork_comment_workflow_never_checks_out_the_pull_request():
    document = yaml.safe_load((BUNDLE / ".github/workflows/perf-comment.yml").read_text())
    assert list(document[True if True in document else "on"]) == ["workflow_run"]
    for step in document["jobs"]["comment"]["steps"]:
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert "ref" not in step.get("with", {}), "the comment job must check out the default branch only"
            assert step["with"]["persist-credentials"] is False


def test_the_action_finds_itself_through_the_environment_not_an_expression():
    assert "github.action_path" not in ACTION.read_text()


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda path: path.name)
def test_every_condition_and_expression_parses(path):
    """A typo in an `if:` shows up only when that branch runs on GitHub; parse them all here."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    conditions = re.findall(r"^\s*(?:-\s+)?if:\s*(.+)$", text, re.MULTILINE)
    folded = re.findall(r"^\s*if:\s*>-\n((?:\s{6,}.+\n)+)", text, re.MULTILINE)
    expressions = [match.strip() for match in re.findall(r"\$\{\{(.*?)\}\}", text)]
    assert conditions or expressions
    for condition in [c for c in conditions if c.strip() != ">-"] + [" ".join(f.split()) for f in folded]:
        harness.condition_holds(condition, {}, failed=False)
    for expression in expressions:
        harness.evaluate(expression, {})
