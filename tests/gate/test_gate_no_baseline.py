"""`python -m gate check --no-baseline` (`--compare none`) and `--compare auto`: absolute limits and run
validity only, through the real CLI on the fixture runs. For a run whose settings differ from any baseline
(a dispatch override), or a repository that has none yet (auto, only when the file is missing): relative
checks are skipped and the verdict says so in its first line (the headline) and its reason."""

from __future__ import annotations

import json

import pytest
from conftest import BASELINE, FIXTURES, POLICY, gate_command

NO_BASELINE = "no baseline comparison (--no-baseline): absolute limits only"
NO_COMPARISON = " (no baseline comparison)"


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
    assert verdict["headline"].endswith(NO_COMPARISON)
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


def check_auto(tmp_path, fixture: str, baseline, *extra: str, cwd=None):
    out = tmp_path / "out"
    done = gate_command("check", "--run", str(FIXTURES / fixture), "--profile", "smoke", "--compare", "auto",
                        "--baseline", str(baseline), "--policy", str(POLICY), "--out", str(out), *extra,
                        **({"cwd": cwd} if cwd else {}))
    verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").exists() else None
    summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else ""
    return done, verdict, summary


def test_auto_without_a_baseline_file_judges_the_limits_and_says_where_none_was_found(tmp_path):
    """A new repository's first pull request: a verdict, not exit 2, that names the missing file and how
    to record one, in the headline (first line) and the summary."""
    missing = tmp_path / "perf" / "baselines" / "smoke.json"
    done, verdict, summary = check_auto(tmp_path, "regression", missing)
    assert done.returncode == 0, done.stdout
    headline, reason = done.stdout.splitlines()
    assert headline == verdict["headline"] and headline.startswith("PASS") and headline.endswith(NO_COMPARISON)
    assert reason == verdict["reason"]
    assert reason.startswith(f"no baseline comparison (no baseline yet at {missing}): absolute limits only, "
                             "relative checks skipped; record one")
    assert "python -m gate record --profile smoke" in reason and f"--out {missing}" in reason
    assert verdict["comparison"] == "none" and verdict["baseline"] is None
    assert not [f for f in verdict["findings"] if f["kind"] == "regression"]  # the doubled p95: not checked
    lines = summary.splitlines()
    assert lines[1].endswith(NO_COMPARISON) and lines[3].startswith("> no baseline comparison (no baseline yet at ")


def test_auto_without_a_baseline_file_still_fails_on_a_limit_and_cannot_pass_an_invalid_run(tmp_path):
    missing = tmp_path / "none.json"
    done, verdict, _ = check_auto(tmp_path, "breach", missing)
    assert done.returncode == 1 and verdict["headline"].startswith("FAIL") and verdict["comparison"] == "none"
    assert verdict["headline"].endswith(NO_COMPARISON) and "no baseline yet at" in verdict["reason"]
    done, verdict, _ = check_auto(tmp_path, "zero-requests", missing)
    assert done.returncode == 2 and verdict["verdict"] == "unjudgeable" and "zero requests" in verdict["reason"]
    assert verdict["headline"].endswith(NO_COMPARISON) and verdict["reason"].startswith("no baseline comparison")


def test_auto_with_a_baseline_file_compares_as_always(tmp_path):
    done, verdict, _ = check_auto(tmp_path, "regression", BASELINE)
    assert done.returncode == 1 and verdict["comparison"] == "baseline"
    assert [f for f in verdict["findings"] if f["kind"] == "regression"]


def corrupt(tmp_path):
    path = tmp_path / "corrupt.json"
    path.write_text('{"schema": 1, "profile": "smoke", "runs": [')
    return path


def unreadable(tmp_path):
    path = tmp_path / "unreadable.json"
    path.write_text(BASELINE.read_text())
    path.chmod(0)
    return path


def dangling_link(tmp_path):
    path = tmp_path / "link.json"
    path.symlink_to(tmp_path / "gone.json")
    return path


def a_folder(tmp_path):
    path = tmp_path / "smoke.json"
    path.mkdir()
    return path


@pytest.mark.parametrize("make", [corrupt, unreadable, dangling_link, a_folder])
def test_auto_judges_nothing_from_a_baseline_that_is_there_but_broken(tmp_path, make):
    """Only a missing file is skipped: a broken one would otherwise turn a required check into a pass."""
    done, verdict, _ = check_auto(tmp_path, "pass", make(tmp_path))
    if make is unreadable and verdict and verdict["verdict"] == "pass":
        pytest.skip("running as root: a mode-0 file is still readable")
    assert done.returncode == 2, done.stdout
    assert verdict["verdict"] == "unjudgeable" and "no baseline yet" not in verdict["reason"]


def test_auto_with_a_baseline_of_other_settings_cannot_be_judged(tmp_path):
    done, verdict, _ = check_auto(tmp_path, "other-users", BASELINE)
    assert done.returncode == 2 and "users: 10 -> 20" in verdict["reason"] and verdict["comparison"] == "baseline"


def test_a_missing_baseline_without_auto_cannot_be_judged_and_names_auto(tmp_path):
    done = gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--baseline",
                        str(tmp_path / "none.json"), "--policy", str(POLICY), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "no baseline for profile 'smoke'" in done.stdout and "--compare auto" in done.stdout


@pytest.mark.parametrize("extra", [("--no-baseline", "--compare", "auto"), ("--compare", "none", "--baseline", "b"),
                                   ("--compare", "none", "--confirms", "first/verdict.json")],
                         ids=["no-baseline-and-auto", "none-with-baseline", "none-with-confirms"])
def test_compare_refuses_contradictions(tmp_path, extra):
    done = gate_command("check", "--run", str(FIXTURES / "pass"), "--profile", "smoke", "--policy", str(POLICY),
                        "--out", str(tmp_path / "out"), *extra)
    assert done.returncode == 2 and done.stdout.startswith("CANNOT JUDGE: --")
