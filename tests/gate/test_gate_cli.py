"""The gate's command line on fixture run folders: exit 0 pass, 1 fail, 2 cannot judge - and always a
one-line reason, a verdict.json and a summary.md, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import BASELINE, FIXTURES, POLICY, gate_command


def test_an_unchanged_run_passes(check):
    done, verdict, summary = check("pass")
    assert done.returncode == 0, done.stdout
    assert verdict["verdict"] == "pass" and verdict["exit_code"] == 0 and verdict["borderline"] is False
    assert done.stdout.splitlines()[0].startswith("PASS")
    assert "PASS" in summary.splitlines()[1]


def test_a_doubled_p95_fails_as_a_regression_of_that_endpoint(check):
    done, verdict, _ = check("regression")
    assert done.returncode == 1, done.stdout
    failing = [f for f in verdict["findings"] if f["severity"] == "fail"]
    assert [(f["kind"], f["endpoint"], f["metric"]) for f in failing] == [
        ("regression", "GET /api/auth/me", "distribution")]
    assert "GET /api/auth/me distribution (trimmed mean) regressed" in done.stdout


def test_absolute_limits_fail_the_run(check):
    done, verdict, _ = check("breach")
    assert done.returncode == 1
    breaches = {(f["endpoint"], f["metric"]) for f in verdict["findings"] if f["kind"] == "breach"}
    assert ("GET /health", "p95") in breaches  # seed's health < 500 ms
    assert ("GET /api/conversations", "failure_ratio") in breaches  # seed's failure rate < 5%


def test_a_suspicious_improvement_warns_without_failing(check):
    done, verdict, _ = check("suspicious-improvement")
    assert done.returncode == 0
    kinds = {(f["kind"], f["endpoint"], f["severity"]) for f in verdict["findings"]}
    assert ("suspicious_improvement", "WS /api/realtime/ws message.done", "warn") in kinds


def test_a_new_error_class_is_called_out(check):
    done, verdict, summary = check("new-error")
    assert done.returncode == 0
    assert any(f["kind"] == "new_error" and "ConnectionResetError" in f["message"] for f in verdict["findings"])
    assert "🆕 new" in summary


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("zero-requests", "zero requests"),
        ("corrupt-json", "not valid JSON"),
        ("locust-crash", "metrics.json is missing"),
        ("cpu-warning", "CPU warning"),
        ("unreported-worker", "1 Locust worker(s)"),
        ("other-users", "users: 10 -> 20"),
        ("missing-endpoint", "GET /metrics made 0 requests where the baseline made 20 on average"),
        ("too-few-requests", "GET /api/auth/me made 10 requests where the baseline made 120 on average"),
        ("load-profile", "profile 'load', not 'smoke'"),
        ("no-such-folder", "does not exist"),
    ],
)
def test_runs_that_cannot_be_judged_exit_2_with_one_line_reason(check, fixture, reason):
    done, verdict, summary = check(fixture)
    assert done.returncode == 2, done.stdout
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("CANNOT JUDGE") and reason in lines[1]
    assert "Traceback" not in done.stdout + done.stderr
    assert verdict["verdict"] == "unjudgeable" and verdict["exit_code"] == 2 and reason in verdict["reason"]
    assert "CANNOT JUDGE" in summary


@pytest.mark.parametrize(("workers", "code", "reason"), [
    ({"count": 2, "final_reports": 2}, 0, "PASS"),
    ({"count": 2, "final_reports": 3}, 2, "workers.final_reports (3) exceeds workers.count (2)"),
    ({"count": 2}, 2, "workers lacks final_reports"),
    ({"count": "2", "final_reports": 2}, 2, "workers.count"),
])
def test_a_distributed_run_is_judged_only_with_every_worker_final_report(tmp_path, workers, code, reason):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "pass", run)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "workers": workers}))
    done = gate_command("check", "--run", str(run), "--profile", "smoke", "--baseline", str(BASELINE),
                        "--policy", str(POLICY), "--out", str(tmp_path / "out"))
    assert done.returncode == code and reason in done.stdout, done.stdout


def test_a_missing_baseline_is_not_a_pass_and_offers_the_record_command(check, tmp_path):
    done, verdict, _ = check("pass", baseline=tmp_path / "nowhere.json")
    assert done.returncode == 2
    assert "python -m gate record --profile smoke" in done.stdout
    # the absolute limits were still checked and are in the verdict
    assert verdict["endpoints"] and verdict["verdict"] == "unjudgeable"


def test_a_corrupt_baseline_cannot_judge(check, tmp_path):
    broken = tmp_path / "smoke.json"
    broken.write_text(BASELINE.read_text()[:500])
    done, _, _ = check("pass", baseline=broken)
    assert done.returncode == 2 and "not valid JSON" in done.stdout


def test_a_policy_error_names_the_line(check, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("schema: 1\nrules:\n  - pattern: '*'\n    metrics:\n      p96: {limit: 3}\n")
    done, _, _ = check("pass", policy=policy)
    assert done.returncode == 2
    assert f"{policy}:5: unknown key 'p96'" in done.stdout


def test_defaults_resolve_baseline_and_policy_from_the_current_folder(tmp_path):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "policy.yml").write_text(POLICY.read_text())
    (tmp_path / "baselines" / "smoke.json").write_text(BASELINE.read_text())
    done = gate_command("check", "--run", str(FIXTURES / "regression"), "--profile", "smoke",
                        "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout


def test_record_builds_a_baseline_that_judges_runs(tmp_path):
    out = tmp_path / "smoke.json"
    runs = [arg for n in (1, 2, 3) for arg in ("--run", str(FIXTURES / f"baseline-{n}"))]
    done = gate_command("record", "--profile", "smoke", *runs, "--out", str(out))
    assert done.returncode == 0, done.stdout
    document = json.loads(out.read_text())
    assert len(document["runs"]) == 3
    assert document["fingerprint"]["users"] == 10 and document["fingerprint"]["locust_version"] == "2.47"
    assert {"recorded_at", "commit"} <= set(document["provenance"])
    assert set(document["runs"][0]["endpoints"]["GET /health"]) >= {"num_requests", "num_failures",
                                                                      "response_times", "errors"}
    judged = gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--baseline", str(out),
                          "--policy", str(POLICY), "--out", str(tmp_path / "verdict"))
    assert judged.returncode == 0, judged.stdout


def test_record_refuses_runs_that_cannot_be_judged_or_compared(tmp_path):
    out = tmp_path / "smoke.json"
    zero = gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "baseline-1"),
                        "--run", str(FIXTURES / "zero-requests"), "--out", str(out))
    assert zero.returncode == 2 and "zero requests" in zero.stdout
    mixed = gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "baseline-1"),
                         "--run", str(FIXTURES / "other-users"), "--out", str(out))
    assert mixed.returncode == 2 and "users: 10 -> 20" in mixed.stdout
    assert not out.exists()


def test_record_update_keeps_the_newest_runs(tmp_path):
    out = tmp_path / "smoke.json"
    out.write_text(BASELINE.read_text())
    done = gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "pass"), "--update",
                        "--keep", "3", "--out", str(out))
    assert done.returncode == 0, done.stdout
    document = json.loads(out.read_text())
    assert [run["source"].rsplit("/", 1)[-1] for run in document["runs"]] == ["baseline-2", "baseline-3", "pass"]
    missing = gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "pass"), "--update",
                           "--out", str(tmp_path / "absent.json"))
    assert missing.returncode == 2 and "python -m gate record" in missing.stdout


def test_a_borderline_regression_asks_for_a_confirmation_rerun(check):
    done, verdict, summary = check("borderline")
    assert done.returncode == 1
    assert verdict["borderline"] is True and "(borderline)" in verdict["reason"]
    assert "confirmation rerun" in summary
    _, strong, _ = check("regression")
    assert strong["borderline"] is False  # p ~ 1e-5 is not borderline


@pytest.mark.parametrize(("rerun", "code", "reproduced"),
                         [("pass", 0, []), ("regression", 1, [["GET /api/auth/me", "distribution"]])])
def test_the_confirmation_rerun_fails_only_if_the_regression_reproduces(check, tmp_path, rerun, code, reproduced):
    first = tmp_path / "first"
    gate_command("check", "--run", str(FIXTURES / "borderline"), "--profile", "smoke", "--baseline",
                 str(BASELINE), "--policy", str(POLICY), "--out", str(first))
    done, verdict, _ = check(rerun, "--confirms", str(first / "verdict.json"))
    assert done.returncode == code, done.stdout
    assert verdict["confirmation"]["regressions"] == [["GET /api/auth/me", "distribution"]]
    assert verdict["confirmation"]["reproduced"] == reproduced and verdict["borderline"] is False
    if code == 0:
        assert "did not reproduce" in done.stdout


def test_confirming_a_verdict_without_regressions_cannot_judge(check, tmp_path):
    first = tmp_path / "first"
    gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--baseline", str(BASELINE),
                 "--policy", str(POLICY), "--out", str(first))
    done, _, _ = check("pass", "--confirms", str(first / "verdict.json"))
    assert done.returncode == 2 and "no failing regression to confirm" in done.stdout


def test_record_update_refuses_runs_of_another_fingerprint(tmp_path):
    out = tmp_path / "smoke.json"
    out.write_text(BASELINE.read_text())
    done = gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "other-users"), "--update",
                        "--out", str(out))
    assert done.returncode == 2 and "users: 10 -> 20" in done.stdout
    assert out.read_text() == BASELINE.read_text()


def test_usage_errors_exit_2_and_help_exits_0():
    assert gate_command("check", "--run", "x").returncode == 2  # --profile missing
    assert gate_command("--help").returncode == 0


def test_a_quarantined_endpoint_is_reported_but_never_fails(check, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY.read_text().replace(
        "  # The seed's failure budget over the whole run.",
        "  - endpoint: 'GET /api/auth/me'\n    quarantine: true\n\n  # The seed's failure budget over the whole run."))
    done, verdict, summary = check("regression", policy=policy)
    assert done.returncode == 0, done.stdout
    regression = [f for f in verdict["findings"] if f["kind"] == "regression" and f["metric"] == "distribution"]
    assert regression and regression[0]["severity"] == "warn" and "quarantined" in regression[0]["message"]
    assert "(quarantined)" in summary


def test_a_one_run_baseline_says_its_spread_is_assumed(check, tmp_path):
    out = tmp_path / "one.json"
    assert gate_command("record", "--profile", "smoke", "--run", str(FIXTURES / "baseline-1"),
                        "--out", str(out)).returncode == 0
    done, _, summary = check("pass", baseline=out)
    assert done.returncode == 0, done.stdout
    assert "spread is assumed, not measured" in summary


def test_record_refuses_a_run_that_locust_did_not_finish(tmp_path):
    """A SIGTERM'd Locust still writes stats.json and metrics.json, but not its failures CSV."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    source = Path(__file__).parent.parent / "fixtures" / "gate"
    candidates = [p for p in source.iterdir() if (p / "locust_failures.csv").is_file() and (p / "stats.json").is_file()]
    run = tmp_path / "cut-short"
    shutil.copytree(candidates[0], run)
    (run / "locust_failures.csv").unlink()
    done = subprocess.run([sys.executable, "-m", "gate", "record", "--profile", "smoke", "--run", str(run),
                           "--out", str(tmp_path / "baseline.json")], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "locust_failures.csv" in done.stdout + done.stderr
    assert not (tmp_path / "baseline.json").exists()
