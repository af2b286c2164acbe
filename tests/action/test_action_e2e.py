"""END TO END: action.yml run by the harness as a runner would, against the real reference stack.

Three runs of the real action on one pull request (a fake GitHub API takes the comments):
  A. no baseline yet (compare: baseline, the default) -> cannot be judged (exit 2), the step fails;
  B. a policy no run can meet  -> a real gate failure (exit 1), the step fails;
  C. a baseline recorded from A and a lenient policy -> pass.
Each time the summary, the comment, the upload and the stop steps must still run, and no stack
process may be left. About a minute: three 10-second smoke runs with 4 users on loopback.
Plus quick runs without load for the fail-on contract and the `command` stack.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.action import harness
from tests.action.fake_github import PR, REPO, TOKEN, FakeGitHub

BUNDLE = Path(__file__).resolve().parents[2]
ACTION = BUNDLE / "action.yml"
FIXTURES = BUNDLE / "tests" / "fixtures" / "action"
# what each run proves is the action's plumbing and verdicts, not the figures: 10 s of load will do
SHORT = {"profile": "smoke", "users": "4", "run-time": "10s"}
RESULT_FILES = ("stats.json", "metrics.json", "report.html", "locust.log", "verdict.json", "summary.md",
                "locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "stack.log",
                "run.log", "comment.json")

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain `text` (e.g. the stack's --port N)."""
    found = []
    needle = text.replace(" ", "\0").encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            raw = cmdline.read_bytes()
        except OSError:
            continue
        if needle in raw:
            found.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return found


class Runner:
    """One workspace and RUNNER_TEMP shared by several runs, as on one self-hosted runner; the
    action's venv step finds the bundle's .venv already built there."""

    def __init__(self, root: Path, api: str):
        self.workspace = root / "workspace"
        self.temp = root / "runner-temp"
        self.temp.mkdir(parents=True)
        (self.temp / "perf-gate-venv").symlink_to(sys.prefix)  # the bundle's .venv, not the system Python
        self.env = {"GITHUB_API_URL": api, "DATABASE_URL": "", "REDIS_URL": ""}
        self.uploads: list[dict] = []

    def upload(self, step: harness.StepResult) -> None:
        paths = step.with_["path"].splitlines()
        folder = Path(paths[0])
        self.uploads.append({"with": step.with_, "files": sorted(p.name for p in folder.iterdir())})

    def run(self, inputs: dict, pull_request: int | None = PR) -> harness.ActionRun:
        event = {"pull_request": {"number": pull_request, "head": {"sha": "c" * 40}}} if pull_request else {}
        run = harness.run_action(
            ACTION, {"token": TOKEN, **inputs}, workspace=self.workspace, runner_temp=self.temp,
            github={"event_name": "pull_request" if pull_request else "push", "event": event,
                    "repository": REPO, "token": TOKEN},
            env=self.env, stubs={"actions/upload-artifact@": self.upload}, step_timeout_s=300,
        )
        # minutes of pip install otherwise; and a sign the reuse check of the setup step works
        assert "reusing the virtual environment" in run.steps[0].log or run.steps[0].outcome == "failure", \
            run.steps[0].log
        return run


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, github):
    runner = Runner(tmp_path_factory.mktemp("action"), github.api)
    port = free_port()
    base = {**SHORT, "port": str(port), "baseline": "perf/smoke-baseline.json"}
    runs, snapshots = {}, {}
    results = runner.workspace / "results" / "smoke"

    runs["A"] = runner.run(base)
    snapshots["A"] = _snapshot(results, port, github)
    evidence = runner.workspace / "evidence-A"
    shutil.copytree(results, evidence)
    recorded = subprocess.run(
        [sys.executable, "-m", "gate", "record", "--profile", "smoke", "--run", str(evidence),
         "--out", str(runner.workspace / "perf" / "smoke-baseline.json")],
        cwd=runner.workspace, capture_output=True, text=True, timeout=120, check=False)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    runs["B"] = runner.run({**base, "policy": str(FIXTURES / "unreachable-policy.yml")})
    snapshots["B"] = _snapshot(results, port, github)
    runs["C"] = runner.run({**base, "policy": str(FIXTURES / "lenient-policy.yml")})
    snapshots["C"] = _snapshot(results, port, github)
    return runs, snapshots, runner, results


def _snapshot(results: Path, port: int, github: FakeGitHub) -> dict:
    return {"files": sorted(p.name for p in results.iterdir()),
            "summary": (results / "summary.md").read_text() if (results / "summary.md").exists() else "",
            "port_answers": port_answers(port), "leftovers": processes_mentioning(f"--port {port}"),
            "comments": [dict(c) for c in github.comments],
            "comment.json": json.loads((results / "comment.json").read_text())}


ALWAYS_STEPS = ("Write the job summary", "Comment on the pull request", "Upload the results", "Stop the stack")


@pytest.mark.parametrize(("name", "exit_code", "verdict"), [("A", "2", "invalid"), ("B", "1", "regression"),
                                                            ("C", "0", "pass")])
def test_each_run_sets_its_verdict_and_the_final_steps_always_run(three_runs, name, exit_code, verdict):
    runs, _, runner, results = three_runs
    run = runs[name]
    assert run.outputs["exit-code"] == exit_code, run.log[-6000:]
    assert run.outputs["verdict"] == verdict
    assert run.failed is (verdict != "pass")
    assert run.step("run").outcome == ("success" if verdict == "pass" else "failure")
    for step in ALWAYS_STEPS:
        assert run.step(step).outcome == "success", f"{step}: {run.step(step).log[-2000:]}"
    assert run.outputs["results"] == str(results)
    assert run.outputs["summary"] == str(results / "summary.md")
    assert run.outputs["python"] == str(runner.temp / "perf-gate-venv" / "bin" / "python")


@pytest.mark.parametrize("name", ["A", "B", "C"])
def test_the_stack_is_stopped_even_when_the_gate_fails(three_runs, name):
    _, snapshots, _, _ = three_runs
    assert not snapshots[name]["port_answers"], "the reference stack still answers after the action"
    assert snapshots[name]["leftovers"] == []


@pytest.mark.parametrize("name", ["A", "B", "C"])
def test_the_job_summary_is_the_gates_summary(three_runs, name):
    runs, snapshots, _, _ = three_runs
    summary = snapshots[name]["summary"]
    assert summary.startswith("<!-- voiceassist-perf-gate:smoke -->")
    assert runs[name].summary == summary
    headline = {"A": "CANNOT JUDGE", "B": "FAIL", "C": "PASS"}[name]
    assert headline in summary.splitlines()[1]


@pytest.mark.parametrize("name", ["A", "B", "C"])
def test_the_results_folder_is_complete_and_is_what_gets_uploaded(three_runs, name):
    _, snapshots, runner, results = three_runs
    for file in RESULT_FILES:
        assert file in snapshots[name]["files"], f"run {name}: {file} missing"
    upload = runner.uploads["ABC".index(name)]
    assert upload["with"]["name"] == "perf-smoke"
    assert upload["with"]["path"].splitlines() == [str(results), f"!{results}/stack-data",
                                                   f"!{results}/rounds/*/stack-data"]  # a paired run's rounds
    for file in RESULT_FILES:
        assert file in upload["files"], f"{file} was not there when the artifact was uploaded"
    verdict = {"A": "invalid", "B": "regression", "C": "pass"}[name]
    assert snapshots[name]["comment.json"] == {"pull_request": str(PR), "head_sha": "c" * 40,
                                               "profile": "smoke", "verdict": verdict}


def test_three_runs_on_one_pull_request_leave_one_comment_updated_in_place(three_runs, github):
    runs, snapshots, _, _ = three_runs
    assert [len(snapshots[name]["comments"]) for name in "ABC"] == [1, 1, 1]
    ids = {snapshots[name]["comments"][0]["id"] for name in "ABC"}
    assert len(ids) == 1
    bodies = [snapshots[name]["comments"][0]["body"] for name in "ABC"]
    assert "CANNOT JUDGE" in bodies[0] and "FAIL" in bodies[1] and "PASS" in bodies[2]
    assert bodies[2].rstrip("\n") == snapshots["C"]["summary"].rstrip("\n")
    assert "created" in runs["A"].step("Comment on the pull request").log
    assert "updated" in runs["C"].step("Comment on the pull request").log


def test_the_token_never_reaches_a_log_or_the_results(three_runs):
    runs, _, runner, _ = three_runs
    for run in runs.values():
        assert TOKEN not in run.log
        assert TOKEN not in run.summary
    for path in (runner.workspace).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"token in {path}"
    # only the comment step is given the token
    holders = [s.name for run in runs.values() for s in run.steps if TOKEN in s.env.values()]
    assert set(holders) == {"Comment on the pull request"}


# -- quick runs without load ------------------------------------------------------------------------


@pytest.fixture
def quick_runner(tmp_path, github):
    return Runner(tmp_path, github.api)


@pytest.mark.parametrize(("fail_on", "fails"), [("regression", True), ("invalid", True), ("never", False)])
def test_fail_on_decides_whether_a_run_that_cannot_be_judged_fails_the_job(quick_runner, fail_on, fails):
    closed = free_port()
    run = quick_runner.run({**SHORT, "stack": "external", "base-url": f"http://127.0.0.1:{closed}",
                            "fail-on": fail_on, "comment": "off"}, pull_request=None)
    assert run.failed is fails
    assert run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2"
    assert f"127.0.0.1:{closed}/health" in run.summary, "the summary must say why there is no verdict"
    assert run.step("Comment on the pull request").outcome == "skipped"


def test_a_wrong_input_value_stops_the_action_before_it_starts_anything(quick_runner):
    run = quick_runner.run({**SHORT, "stack": "kubernetes"}, pull_request=None)
    assert run.failed and "::error::perf gate: stack must be" in run.step("setup").log
    ran = [step.name for step in run.steps if step.outcome != "skipped"]
    assert ran == [run.steps[0].name, "Write the job summary"]
    assert "not run" in run.summary and "setting up" in run.summary


def test_the_command_stack_is_started_waited_for_and_stopped(quick_runner):
    port = free_port()
    serve = f"{sys.executable} -m stack serve --host 127.0.0.1 --port {port}"
    run = quick_runner.run({"profile": "smoke", "users": "2", "run-time": "5s", "stack": "command",
                            "start-command": serve, "base-url": f"http://127.0.0.1:{port}",
                            "fail-on": "never", "comment": "off"}, pull_request=None)
    assert run.step("target").outcome == "success", run.step("target").log
    results = Path(run.outputs["results"])
    stats = json.loads((results / "stats.json").read_text())
    assert sum(entry["num_requests"] for entry in stats) > 0, "no load reached the command's target"
    assert json.loads((results / "metrics.json").read_text())["target"]["stack_mode"] == "command"
    assert (results / "target.log").exists()
    assert not port_answers(port) and processes_mentioning(f"--port {port}") == []


def test_the_reference_stack_uses_the_jobs_postgresql_and_redis_when_the_job_provides_them(quick_runner):
    """As in perf-gate.yml: the job's env carries DATABASE_URL and REDIS_URL of its service containers."""
    sandbox = pytest.importorskip("stack.sandbox")
    postgres = os.environ.get("VOICEASSIST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("VOICEASSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")
    if not port_answers(5432) or not port_answers(6379):
        pytest.skip("no PostgreSQL/Redis on loopback (the CI job provides them as service containers)")
    port = free_port()
    with sandbox.service_storage("action", postgres, redis_url) as services:
        quick_runner.env.update(services)
        run = quick_runner.run({"profile": "smoke", "users": "2", "run-time": "5s", "port": str(port),
                                "fail-on": "never", "comment": "off"}, pull_request=None)
    results = Path(run.outputs["results"])
    assert json.loads((results / "metrics.json").read_text())["target"]["stack_mode"] == "services", run.log[-3000:]
    assert sum(entry["num_requests"] for entry in json.loads((results / "stats.json").read_text())) > 0
    assert "(services)" in (results / "run.log").read_text()
    assert not port_answers(port) and processes_mentioning(f"--port {port}") == []


def test_the_compose_stack_is_brought_up_waited_for_and_torn_down(quick_runner, tmp_path):
    """No Docker engine here: a stand-in `docker` on PATH records the calls and serves the stack."""
    port = free_port()
    state = tmp_path / "docker-state"
    state.mkdir()
    quick_runner.env.update({
        "PATH": f"{FIXTURES / 'fake-docker'}:{os.environ['PATH']}", "FAKE_DOCKER_STATE": str(state),
        "FAKE_DOCKER_PORT": str(port), "FAKE_DOCKER_PYTHON": sys.executable,
    })
    run = quick_runner.run({"profile": "smoke", "users": "2", "run-time": "5s", "stack": "compose",
                            "compose-file": "deploy/compose.yml", "base-url": f"http://127.0.0.1:{port}",
                            "fail-on": "never", "comment": "off"}, pull_request=None)
    assert run.step("target").outcome == "success", run.step("target").log
    assert (state / "calls").read_text().splitlines() == [
        "compose -f deploy/compose.yml up --detach",
        "compose -f deploy/compose.yml down --volumes --remove-orphans",
    ]
    results = Path(run.outputs["results"])
    assert json.loads((results / "metrics.json").read_text())["target"]["stack_mode"] == "compose"
    assert sum(entry["num_requests"] for entry in json.loads((results / "stats.json").read_text())) > 0
    assert not port_answers(port) and processes_mentioning(f"--port {port}") == []


def test_a_run_cut_short_by_timeout_minutes_is_invalid_and_leaves_nothing_running(quick_runner):
    port = free_port()
    run = quick_runner.run({"profile": "smoke", "users": "2", "run-time": "60s", "port": str(port),
                            "timeout-minutes": "0.2", "fail-on": "regression", "comment": "off"},
                           pull_request=None)
    assert run.failed and run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2"
    assert "took longer than 0.2 minutes" in run.step("run").log
    results = run.outputs["results"]
    time.sleep(1)  # SIGTERM is asynchronous
    assert not port_answers(port), "the reference stack still answers"
    assert processes_mentioning(f"{results}/") == [], "Locust left running"
    assert run.step("Stop the stack").outcome == "success"


def test_compare_none_judges_a_run_no_baseline_describes_on_its_absolute_limits(quick_runner):
    """What stress-spike.yml and nightly-soak.yml do for an override: SHORT's 4 users for 10 s match no
    baseline (with compare: baseline they are exit 2, run A above); compared with none they get a verdict."""
    run = quick_runner.run({**SHORT, "port": str(free_port()), "compare": "none", "comment": "off"},
                           pull_request=None)
    assert run.outputs["verdict"] == "pass" and run.outputs["exit-code"] == "0", run.log[-4000:]
    assert "> no baseline comparison (--no-baseline): absolute limits only" in run.summary
    verdict = json.loads((Path(run.outputs["results"]) / "verdict.json").read_text())
    assert verdict["comparison"] == "none" and verdict["baseline"] is None


def test_compare_auto_gives_a_first_pull_request_without_a_baseline_a_verdict_on_its_limits(quick_runner, github):
    """A new adopter's first pull request: the baseline it names is not recorded yet. compare: auto judges
    the absolute limits and the run's validity, green, and every place the verdict shows says that no
    comparison was made, where no baseline was found and how to record one (with compare: baseline
    the same run is exit 2, run A above)."""
    run = quick_runner.run({**SHORT, "port": str(free_port()), "compare": "auto",
                            "baseline": "perf/baselines/smoke.json"})
    assert not run.failed, run.log[-4000:]
    assert run.outputs["verdict"] == "pass" and run.outputs["exit-code"] == "0"
    assert run.outputs["comparison"] == "none"
    missing = quick_runner.workspace / "perf" / "baselines" / "smoke.json"
    headline, _, reason = run.summary.splitlines()[1:4]
    assert ": PASS: " in headline and headline.endswith(" (no baseline comparison)"), headline
    assert reason.startswith(f"> no baseline comparison (no baseline yet at {missing}): absolute limits only, "
                             "relative checks skipped; record one")
    assert "python -m gate record --profile smoke" in reason
    assert "::warning title=perf gate: no baseline comparison::no baseline file at perf/baselines/smoke.json" \
        in run.step("run").log
    [comment] = [c for c in github.comments if "voiceassist-perf-gate:smoke" in c["body"]]
    assert f"no baseline yet at {missing}" in comment["body"]
    verdict = json.loads((Path(run.outputs["results"]) / "verdict.json").read_text())
    assert verdict["comparison"] == "none" and verdict["baseline"] is None


def test_compare_auto_cannot_judge_against_a_baseline_file_that_is_there_but_corrupt(quick_runner):
    """Only a missing file is skipped: a broken baseline never turns the check green."""
    corrupt = quick_runner.workspace / "perf" / "smoke.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"schema": 1, "profile": "smoke", "runs": [')
    run = quick_runner.run({**SHORT, "port": str(free_port()), "compare": "auto", "baseline": "perf/smoke.json",
                            "comment": "off"}, pull_request=None)
    assert run.failed and run.outputs["verdict"] == "invalid" and run.outputs["exit-code"] == "2"
    assert run.outputs["comparison"] == "baseline"
    assert "::error::perf gate: this run cannot be judged" in run.step("run").log
    assert "not valid JSON" in run.summary and "no baseline yet" not in run.summary
    assert "::warning title=perf gate: no baseline comparison" not in run.step("run").log


def test_a_wrong_compare_value_stops_the_action_before_it_starts_anything(quick_runner):
    run = quick_runner.run({**SHORT, "compare": "bases"}, pull_request=None)
    assert run.failed and "::error::perf gate: compare must be baseline, auto, none or base, not 'bases'" in \
        run.step("setup").log
    assert [step.name for step in run.steps if step.outcome != "skipped"] == [run.steps[0].name,
                                                                              "Write the job summary"]


def test_an_adopters_own_scripts_gate_and_stack_packages_never_run_in_place_of_the_bundles(quick_runner,
                                                                                            github):
    """The steps run with the adopter's workspace as the working directory, and `python -m scripts.run`
    (or `-c 'import gate'`) would put it first on sys.path: its own scripts/run.py would run, with the
    token in the comment step's env. The action's Python runs isolated (PYTHONSAFEPATH)."""
    workspace = quick_runner.workspace
    impostor = "from pathlib import Path\nPath(__file__).with_suffix('.ran').touch()\n"
    for module in ("scripts/__init__.py", "scripts/run.py", "gate/__init__.py", "gate/publish/__init__.py",
                   "gate/publish/__main__.py", "stack/__init__.py", "stack/__main__.py", "requests.py",
                   "yaml.py"):
        (workspace / module).parent.mkdir(parents=True, exist_ok=True)
        (workspace / module).write_text(impostor)
    run = quick_runner.run({**SHORT, "port": str(free_port()), "compare": "none"})
    assert sorted(str(path.relative_to(workspace)) for path in workspace.rglob("*.ran")) == []
    assert run.outputs["verdict"] == "pass", run.log[-4000:]
    assert "reusing the virtual environment" in run.steps[0].log
    [comment] = [c for c in github.comments if "voiceassist-perf-gate:smoke" in c["body"]]
    assert "no baseline comparison" in comment["body"]
