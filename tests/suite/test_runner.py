"""The runner's decisions that need no load: confirmation reruns, reports for broken runs."""

import json
from pathlib import Path

from scripts import run


def fake_run(results: Path, exit_code: int, borderline: bool) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "verdict.json").write_text(json.dumps({"exit_code": exit_code, "borderline": borderline}))
    (results / "summary.md").write_text(f"## run with exit {exit_code}\n")


def test_a_borderline_regression_is_rerun_once_and_the_rerun_decides(tmp_path, monkeypatch):
    calls = []

    def load_and_gate(args, profile, results, confirms=None):
        calls.append(confirms)
        if confirms is None:
            fake_run(results, run.REGRESSION, borderline=True)
            return run.REGRESSION
        assert json.loads(confirms.read_text())["borderline"] is True  # the first verdict was kept
        fake_run(results, run.PASS, borderline=False)
        return run.PASS

    monkeypatch.setattr(run, "load_and_gate", load_and_gate)
    code = run.run_profile(run.parse_args(["smoke", "--results", str(tmp_path / "smoke")]))
    assert code == run.PASS
    assert calls == [None, tmp_path / "smoke" / run.FIRST_RUN / "verdict.json"]
    assert (tmp_path / "smoke" / "summary.md").read_text().startswith("## run with exit 0")


def test_a_clear_regression_is_not_rerun_and_no_confirm_turns_reruns_off(tmp_path, monkeypatch):
    calls = []

    def load_and_gate(args, profile, results, confirms=None):
        calls.append(confirms)
        fake_run(results, run.REGRESSION, borderline="borderline" in str(results))
        return run.REGRESSION

    monkeypatch.setattr(run, "load_and_gate", load_and_gate)
    assert run.run_profile(run.parse_args(["smoke", "--results", str(tmp_path / "clear")])) == run.REGRESSION
    assert run.run_profile(run.parse_args(["smoke", "--no-confirm", "--results",
                                           str(tmp_path / "borderline")])) == run.REGRESSION
    assert calls == [None, None]


def test_a_run_that_breaks_before_the_gate_still_gets_a_report(tmp_path):
    code = run.main(["smoke", "--stack", "external", "--host", "http://127.0.0.1:9", "--results", str(tmp_path)])
    assert code == run.UNJUDGEABLE
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["exit_code"] == 2 and "127.0.0.1:9/health" in verdict["reason"]
    assert "CANNOT JUDGE" in (tmp_path / "summary.md").read_text()


def test_compare_none_gates_a_run_on_its_absolute_limits_through_the_real_gate(tmp_path):
    """--compare none (a dispatch override): the runner asks the gate for --no-baseline, so a run that
    no baseline describes (20 users where the baseline has 10) gets a verdict instead of exit 2."""
    import shutil

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "gate"
    folder = tmp_path / "other-users"
    shutil.copytree(fixtures / "other-users", folder)
    profile = run.profiles.load("smoke")
    assert run.parse_args(["smoke"]).compare == "baseline"
    assert run.run_gate(profile, folder, fixtures / "baseline-smoke.json", run.layout.POLICY) == run.UNJUDGEABLE
    assert run.run_gate(profile, folder, None, run.layout.POLICY) == run.PASS
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["comparison"] == "none" and verdict["reason"].startswith("no baseline comparison")


def test_compare_auto_gates_a_run_without_a_baseline_yet_on_its_absolute_limits(tmp_path):
    """--compare auto (a repository's first pull request): no baseline file, a clean run is a pass that
    says no comparison was made, where no baseline was found and how to record one; a baseline file that
    is there but corrupt still cannot be judged."""
    import shutil

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "gate"
    folder = tmp_path / "pass"
    shutil.copytree(fixtures / "pass", folder)
    profile = run.profiles.load("smoke")
    missing = tmp_path / "baselines" / "github" / "smoke.json"
    assert run.parse_args(["smoke", "--compare", "auto"]).compare == "auto"
    assert run.run_gate(profile, folder, missing, run.layout.POLICY) == run.UNJUDGEABLE  # the default: baseline
    assert run.run_gate(profile, folder, missing, run.layout.POLICY, compare="auto") == run.PASS
    verdict = json.loads((folder / "verdict.json").read_text())
    summary = (folder / "summary.md").read_text().splitlines()
    assert verdict["comparison"] == "none" and verdict["headline"].endswith("(no baseline comparison)")
    assert verdict["reason"].startswith(f"no baseline comparison (no baseline yet at {missing}): absolute limits "
                                        "only, relative checks skipped; record one")
    assert summary[1].endswith("(no baseline comparison)") and summary[3] == f"> {verdict['reason']}".replace(
        "<", "&lt;")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{")
    assert run.run_gate(profile, folder, corrupt, run.layout.POLICY, compare="auto") == run.UNJUDGEABLE
    assert run.run_gate(profile, folder, fixtures / "baseline-smoke.json", run.layout.POLICY,
                        compare="auto") == run.PASS
    assert json.loads((folder / "verdict.json").read_text())["comparison"] == "baseline"


def test_compare_auto_says_no_baseline_yet_even_for_a_run_that_broke_before_the_gate(tmp_path):
    missing = tmp_path / "nowhere.json"
    code = run.main(["smoke", "--stack", "external", "--host", "http://127.0.0.1:9", "--results",
                     str(tmp_path / "run"), "--compare", "auto", "--baseline", str(missing)])
    assert code == run.UNJUDGEABLE
    verdict = json.loads((tmp_path / "run" / "verdict.json").read_text())
    assert verdict["comparison"] == "none" and verdict["headline"].endswith("(no baseline comparison)")
    assert verdict["reason"].startswith(f"no baseline comparison (no baseline yet at {missing})")
    assert "127.0.0.1:9/health" in verdict["reason"]


def test_the_runners_own_children_never_import_a_same_named_module_of_the_working_directory(
        tmp_path, monkeypatch):
    """The runner starts `python -m gate` (and stack, locust, gate.trends) from wherever it was called:
    in the action, the adopter's workspace. Their own gate/ must not run in place of the bundle's."""
    import shutil

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "gate"
    workspace = tmp_path / "workspace"
    (workspace / "gate").mkdir(parents=True)
    (workspace / "gate" / "__init__.py").write_text("open(__file__ + '.ran', 'w').close()\n")
    shutil.copytree(fixtures / "pass", tmp_path / "run")
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("PYTHONSAFEPATH", raising=False)
    assert run.run_gate(run.profiles.load("smoke"), tmp_path / "run", fixtures / "baseline-smoke.json",
                        run.layout.POLICY) == run.PASS
    assert not (workspace / "gate" / "__init__.py.ran").exists()


def test_compare_none_reads_no_baseline_even_for_a_run_that_broke_before_the_gate(tmp_path):
    code = run.main(["smoke", "--stack", "external", "--host", "http://127.0.0.1:9", "--results", str(tmp_path),
                     "--compare", "none", "--baseline", str(tmp_path / "nowhere.json")])
    assert code == run.UNJUDGEABLE
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["comparison"] == "none" and verdict["baseline"] is None
    assert "127.0.0.1:9/health" in verdict["reason"]


def test_a_terminated_runner_stops_locust_and_the_stack(tmp_path):
    """A CI timeout sends SIGTERM: no load generator and no stack may outlive the runner."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    results = tmp_path / "smoke"
    runner = subprocess.Popen([sys.executable, "-m", "scripts.run", "smoke", "--run-time", "60s", "--users", "2",
                               "--port", str(port), "--results", str(results), "--no-gate"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not (results / "locust_stats.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (results / "locust_stats.csv").exists(), "the load never started"
    stack_pid = int((results / "stack.pid").read_text().split()[0])
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == run.UNJUDGEABLE and "interrupted" in stderr
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-f", str(results)], capture_output=True, text=True, check=False).stdout
    assert not leftovers.strip(), f"processes left running: {leftovers}"
    assert not _running(stack_pid), "the stack outlived the runner"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited and only awaits its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_the_worst_of_gate_and_trend_analysis_decides():
    assert run.worst(run.PASS, run.PASS) == run.PASS
    assert run.worst(run.PASS, run.UNJUDGEABLE) == run.UNJUDGEABLE
    assert run.worst(run.UNJUDGEABLE, run.REGRESSION) == run.REGRESSION
    assert run.worst(run.REGRESSION, run.PASS) == run.REGRESSION


STUBBORN_LOCUSTFILE = '''
import sys
sys.path.insert(0, {suite!r})
import suite  # noqa: F401  (the suite's listeners: its SIGUSR1 handler among them)
import gevent
from locust import User, constant, task


class Stubborn(User):
    """Never finishes stopping: its on_stop swallows every kill, as a broken client library can."""

    wait_time = constant(0.2)

    @task
    def idle(self):
        pass

    def on_stop(self):
        while True:
            try:
                gevent.sleep(0.2)
            except gevent.GreenletExit:
                pass
'''


def test_a_locust_that_does_not_finish_is_stopped_with_its_greenlet_stacks_logged(tmp_path, monkeypatch):
    locustfile = tmp_path / "stubborn.py"
    locustfile.write_text(STUBBORN_LOCUSTFILE.format(suite=str(run.layout.SUITE)))
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(run, "LOCUST_GRACE_S", 6)
    monkeypatch.setattr(run, "OVERRUN_QUIT_S", 3)
    profile = run.Profile("smoke", locustfile, 1, 1.0, 2, (locustfile,))
    command = run.python_module("locust", "-f", str(locustfile), "--headless", "--only-summary",
                                "--host", "http://127.0.0.1:9", "--users", "1", "--spawn-rate", "1",
                                "--run-time", "2s", "--stop-timeout", "1")
    target = run.Target("http://127.0.0.1:9", "embedded")
    try:
        run.run_locust(command, profile, target, results)
    except run.RunError as error:
        assert "did not finish within 8 s" in str(error) and "greenlets' stacks" in str(error)
    else:
        raise AssertionError("an overrunning Locust was not reported")
    log = (results / "locust.log").read_text()
    assert "greenlets on SIGUSR1" in log
    assert "in on_stop" in log  # the stubborn user's stack, where it hangs
    assert "--run-time limit reached" in log
