"""`python -m gate check --no-baseline`: absolute limits and run validity only, through the real CLI on
the fixture runs. For a run whose settings differ from any baseline (a dispatch override) or a
repository that has none yet: relative checks are skipped and the verdict says so in its first line."""

from __future__ import annotations

import json

import pytest
from conftest import BASELINE, FIXTURES, POLICY, gate_command

NO_BASELINE = "no baseline comparison (--no-baseline): absolute limits only"


def check_without_baseline(tmp_path, fixture: str, *extra: str):
    out = tmp_path / "out"
    done = gate_command("check", "--run", str(FIXTURES / fixture), "--profile", "smoke", "--no-baseline",
                        "--policy", str(POLICY), "--out", str(out), *extra)
    verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").exists() else None
    summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else ""
    return done, verdict, summary


def test_a_run_with_other_settings_than_the_baseline_is_judged_on_its_absolute_limits(tmp_path):
    """other-users (20 users where the baseline has 10) cannot be compared: with a baseline, exit 2."""
    done, verdict, summary = check_without_baseline(tmp_path, "other-users")
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines() == [verdict["headline"], NO_BASELINE]
    assert verdict["verdict"] == "pass" and verdict["comparison"] == "none" and verdict["baseline"] is None
    assert "no significant regression" not in verdict["headline"]
    assert f"> {NO_BASELINE}" in summary.splitlines()
    compared = gate_command("check", "--run", str(FIXTURES / "other-users"), "--profile", "smoke",
                            "--baseline", str(BASELINE), "--policy", str(POLICY), "--out", str(tmp_path / "b"))
    assert compared.returncode == 2 and "users: 10 -> 20" in compared.stdout


def test_relative_regressions_are_not_checked(tmp_path):
    """The doubled p95 of the regression fixture is within the absolute limits: no baseline, no regression."""
    done, verdict, _ = check_without_baseline(tmp_path, "regression")
    assert done.returncode == 0, done.stdout
    assert not [f for f in verdict["findings"] if f["kind"] == "regression"]
    assert all(metric.get("baseline") is None for endpoint in verdict["endpoints"]
               for metric in endpoint["metrics"].values())


def test_an_absolute_limit_still_fails_the_run_and_says_how_it_was_judged(tmp_path):
    done, verdict, summary = check_without_baseline(tmp_path, "breach")
    assert done.returncode == 1, done.stdout
    assert {("GET /health", "p95"), ("GET /api/conversations", "failure_ratio")} <= {
        (f["endpoint"], f["metric"]) for f in verdict["findings"] if f["kind"] == "breach"}
    assert verdict["reason"].startswith(NO_BASELINE + "; ") and done.stdout.splitlines()[1] == verdict["reason"]
    assert summary.splitlines()[3].startswith(f"> {NO_BASELINE}; ")


@pytest.mark.parametrize(("fixture", "reason"), [
    ("zero-requests", "zero requests"),
    ("cpu-warning", "CPU warning"),
    ("locust-crash", "metrics.json is missing"),
    ("unreported-worker", "1 Locust worker(s)"),
    ("no-such-folder", "does not exist"),
])
def test_a_run_that_cannot_be_judged_is_still_exit_2(tmp_path, fixture, reason):
    done, verdict, _ = check_without_baseline(tmp_path, fixture)
    assert done.returncode == 2, done.stdout
    assert verdict["verdict"] == "unjudgeable" and reason in verdict["reason"]
    assert verdict["reason"].startswith(NO_BASELINE) and verdict["comparison"] == "none"


def test_no_baseline_is_not_read_even_when_none_exists(tmp_path):
    """A repository without a baseline yet: no 'no baseline for profile' problem, a verdict on the limits."""
    out = tmp_path / "out"
    done = gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--no-baseline",
                        "--policy", str(POLICY), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "no baseline for profile" not in done.stdout


def test_a_comparison_with_a_baseline_says_so_in_the_verdict(tmp_path):
    out = tmp_path / "out"
    done = gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--baseline",
                        str(BASELINE), "--policy", str(POLICY), "--out", str(out))
    assert done.returncode == 0
    assert json.loads((out / "verdict.json").read_text())["comparison"] == "baseline"


@pytest.mark.parametrize("extra", [("--baseline", str(BASELINE)), ("--confirms", "first/verdict.json")],
                         ids=["with-baseline", "with-confirms"])
def test_no_baseline_refuses_what_needs_one(tmp_path, extra):
    done, _, _ = check_without_baseline(tmp_path, "pass", *extra)
    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr or "--confirms reruns" in done.stdout
