"""The distribution test on synthetic runs with known answers: an unchanged endpoint is SAME, a shift of
the whole distribution, a tail-only regression and a second, slow mode are DIFFERENT (a tail-only one
where a test of the centre alone is blind), and a run that cannot tell is UNRESOLVED with its reason."""

from __future__ import annotations

import pytest
from conftest import POLICY

from benchmarks.synthetic import EndpointShape, RunShape, write_run
from gate.judge import distribution
from gate.judge.compare import compare
from gate.judge.pipeline import judge
from gate.read.baseline import record_baseline, write_baseline
from gate.read.policy import load_policy
from gate.read.run import read_run
from gate.report.render import render_summary

TARGET = "GET /api/auth/me"
# enough endpoints of enough requests that the run-wide shift and the pooled spread are measured
OTHERS = {"GET /health": 4.0, "GET /api/conversations": 9.0, "POST /api/chat": 260.0, "GET /metrics": 12.0}


def shape(requests: int, sigma: float = 0.3, **target) -> RunShape:
    endpoints = {name: EndpointShape(median, requests, sigma=0.3) for name, median in OTHERS.items()}
    endpoints[TARGET] = EndpointShape(30.0, requests, sigma=sigma, **target)
    return RunShape(endpoints=endpoints, endpoint_cv=0.02)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribution-baseline")
    return [read_run(write_run(root / f"b{n}", shape(600), seed=100 + n)) for n in range(5)]


@pytest.fixture(scope="module")
def wide_baseline(tmp_path_factory):
    """An endpoint whose latency spreads widely (p95 about 2.3x the median), 300 requests a run."""
    root = tmp_path_factory.mktemp("distribution-wide-baseline")
    return [read_run(write_run(root / f"b{n}", shape(300, sigma=0.5), seed=200 + n)) for n in range(5)]


def judged(tmp_path, baseline, requests: int = 600, seed: int = 7, **target):
    run = read_run(write_run(tmp_path / "run", shape(requests, **target), seed=seed))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    endpoint = next(e for e in comparison.endpoints if e.endpoint == TARGET)
    return endpoint.metrics["distribution"], comparison


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_an_unchanged_endpoint_is_same_and_nothing_fails(tmp_path, baseline, seed):
    result, comparison = judged(tmp_path, baseline, seed=seed)
    assert result.state == distribution.SAME
    assert result.interval_pct[1] < result.threshold_pct  # the upper bound excludes a regression of the bar
    assert not [f for f in comparison.findings if f.severity == "fail"]


def test_a_whole_distribution_30_percent_slower_is_different_at_its_centre(tmp_path, baseline):
    slower = shape(600).endpoints[TARGET].median_ms * 1.3
    run = read_run(write_run(tmp_path / "run", _with_median(shape(600), slower), seed=7))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    result = next(e for e in comparison.endpoints if e.endpoint == TARGET).metrics["distribution"]
    assert result.state == distribution.DIFFERENT and result.outcome == "regression"
    assert result.quantile == "trimmed mean"
    assert result.interval_pct[0] > 10 and result.interval_pct[1] > 30 > result.interval_pct[0]
    assert result.detectable_pct < 30
    assert [(f.endpoint, f.metric) for f in comparison.findings if f.severity == "fail"] == [(TARGET, "distribution")]


def test_a_tail_only_regression_is_different_where_the_median_is_blind(tmp_path, baseline):
    # the slowest 10% of requests take twice as long; the median does not move, nor does the trimmed mean
    # much (it keeps a tenth of each end out)
    result, comparison = judged(tmp_path, baseline, tail_share=0.10, tail_factor=2.0)
    centre = next(q for q in result.shift_function if q["quantile"] == "trimmed mean")
    assert abs(centre["change_pct"]) < 8
    assert result.state == distribution.DIFFERENT and result.quantile in ("p90", "p95")
    assert (TARGET, "distribution") in [(f.endpoint, f.metric) for f in comparison.findings if f.severity == "fail"]


def test_a_second_slow_mode_is_different(tmp_path, baseline):
    # a fifth of the requests (a cache that stopped hitting, say) take three times as long
    result, comparison = judged(tmp_path, baseline, mode_share=0.2, mode_factor=3.0)
    assert result.state == distribution.DIFFERENT and result.quantile in ("trimmed mean", "p90", "p95")
    assert (TARGET, "distribution") in [(f.endpoint, f.metric) for f in comparison.findings if f.severity == "fail"]


def test_too_few_requests_leave_an_endpoint_unresolved_and_say_how_many_would_resolve_it(tmp_path, wide_baseline):
    # unchanged, but 70 requests of a wide distribution cannot exclude +15% at p95
    run_shape = shape(300, sigma=0.5)
    run_shape.endpoints[TARGET].requests = 70
    run = read_run(write_run(tmp_path / "run", run_shape, seed=7))
    comparison = compare(run, wide_baseline, load_policy(POLICY, "smoke"))
    result = next(e for e in comparison.endpoints if e.endpoint == TARGET).metrics["distribution"]
    assert result.state == distribution.UNRESOLVED
    assert "cannot exclude +15%" in result.reason and "requests (70 now) would resolve it" in result.reason
    needed = int(result.reason.split("about ")[1].split(" requests")[0])
    assert 70 < needed < 70 * distribution.MOST_REQUESTS_FACTOR
    unresolved = [f.severity for f in comparison.findings if f.kind == "unresolved" and f.endpoint == TARGET]
    assert unresolved == ["warn"]  # the policy's default


def test_a_small_change_on_a_steady_baseline_is_unresolved_by_the_baselines_own_uncertainty(tmp_path, baseline):
    # +12%: below the bar, but the baseline's own spread leaves +15% possible; more requests would not help
    run = read_run(write_run(tmp_path / "run", _with_median(shape(600), 30.0 * 1.12), seed=7))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    result = next(e for e in comparison.endpoints if e.endpoint == TARGET).metrics["distribution"]
    assert result.state == distribution.UNRESOLVED and result.outcome == "ok"
    assert "a baseline of more runs would resolve it" in result.reason


def test_an_improvement_is_different_and_never_fails(tmp_path, baseline):
    faster = shape(600).endpoints[TARGET].median_ms * 0.6
    run = read_run(write_run(tmp_path / "run", _with_median(shape(600), faster), seed=7))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    result = next(e for e in comparison.endpoints if e.endpoint == TARGET).metrics["distribution"]
    assert result.state == distribution.DIFFERENT and result.outcome == "ok" and result.net_change_pct < -30
    assert not [f for f in comparison.findings if f.severity == "fail"]


def test_unresolved_fails_the_run_where_the_policy_requires_the_endpoint(tmp_path, wide_baseline):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY.read_text().replace(
        "  # The seed's failure budget over the whole run.",
        f"  - endpoint: '{TARGET}'\n    metrics:\n      distribution: {{unresolved: fail}}\n\n"
        "  # The seed's failure budget over the whole run."))
    run_shape = shape(300, sigma=0.5)
    run_shape.endpoints[TARGET].requests = 70
    run = read_run(write_run(tmp_path / "run", run_shape, seed=7))
    comparison = compare(run, wide_baseline, load_policy(policy, "smoke"))
    assert [(f.kind, f.severity) for f in comparison.findings if f.endpoint == TARGET and f.kind == "unresolved"] == [
        ("unresolved", "fail")]


def _with_median(run_shape: RunShape, median_ms: float) -> RunShape:
    run_shape.endpoints[TARGET].median_ms = median_ms
    return run_shape


def test_the_summary_shows_each_endpoints_outcome_and_explains_unresolved_in_one_line(tmp_path, wide_baseline):
    baseline_file = tmp_path / "baseline.json"
    write_baseline(record_baseline(wide_baseline, "smoke", commit="fixture"), baseline_file)
    run_shape = shape(300, sigma=0.5)
    run_shape.endpoints[TARGET].requests = 70  # unresolved, as above
    run_shape.endpoints["GET /metrics"].median_ms *= 1.5  # different
    folder = write_run(tmp_path / "run", run_shape, seed=7)
    verdict = judge(str(folder), "smoke", str(baseline_file), str(POLICY))
    summary = render_summary(verdict)
    table = summary.split("### Endpoints")[1].split("_vs baseline_")[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| `")}
    assert "UNRESOLVED" in rows[f"`{TARGET}`"] and "DIFFERENT ✱" in rows["`GET /metrics`"]
    states = {row.split("|")[6].strip() for row in rows.values()}
    assert "SAME" in states and states <= {"SAME", "DIFFERENT", "DIFFERENT ✱", "UNRESOLVED", "–"}
    explained = [line for line in summary.splitlines() if line.startswith(f"- `{TARGET}`: ")]
    assert len(explained) == 1 and "would resolve it" in explained[0]
    assert "**Not compared with the baseline**" in summary and "`GET /health`" in summary.split(
        "**Not compared with the baseline**")[1].split("\n")[0]


@pytest.mark.parametrize(("machine", "state"), [(1.0, distribution.DIFFERENT), (1.7, distribution.UNRESOLVED)])
def test_a_busy_machine_leaves_an_endpoint_that_moved_against_it_unresolved_not_failed(tmp_path, baseline, machine,
                                                                                       state):
    # The same +30% of one endpoint beyond the others: on a quiet machine a regression; on one 70% slower
    # across the board, no more than a busy machine's unequal slowdowns (shift_spread), so not a failure.
    run_shape = shape(600)
    run_shape.run_factor = machine
    run_shape.endpoints[TARGET].median_ms *= 1.3
    run = read_run(write_run(tmp_path / "run", run_shape, seed=7))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    result = next(e for e in comparison.endpoints if e.endpoint == TARGET).metrics["distribution"]
    assert result.state == state
    assert bool([f for f in comparison.findings if f.severity == "fail" and f.endpoint == TARGET]) is (machine == 1.0)
    if state == distribution.UNRESOLVED:
        assert "the whole run moved" in result.reason


@pytest.mark.parametrize(("slower", "verdict"), [("tail", "pass"), (1.4, "unjudgeable"), (0.5, "unjudgeable"),
                                                (2.2, "fail")])
def test_the_run_wide_limits_are_on_the_centre_which_a_busy_machine_moves_less_than_the_tail(tmp_path, baseline,
                                                                                            slower, verdict):
    baseline_file = tmp_path / "baseline.json"
    write_baseline(record_baseline(baseline, "smoke", commit="fixture"), baseline_file)
    run_shape = shape(600)
    for endpoint in run_shape.endpoints.values():
        if slower == "tail":  # a busy machine: every endpoint's slowest fifth three times as slow
            endpoint.tail_share, endpoint.tail_factor = 0.2, 3.0
        else:  # a change that slows everything
            endpoint.median_ms *= slower
    result = judge(str(write_run(tmp_path / "run", run_shape, seed=7)), "smoke", str(baseline_file), str(POLICY))
    shift = [f for f in result["findings"] if f["kind"] == "run_shift"]
    assert result["verdict"] == verdict and len(shift) == 1
    if slower == "tail":  # the tail tripled, the centre moved a little: a warning, named first
        assert result["run_shift_pct"]["p95"] > 100 and 10 < result["run_shift_pct"]["tmean"] < 25
        assert shift[0]["severity"] == "warn" and result["reason"] == shift[0]["message"]
    elif verdict == "unjudgeable" and slower > 1:  # 40% slower across the board: a busy runner or the change? not a pass
        assert "look the same against a baseline recorded elsewhere" in result["reason"]
    elif verdict == "unjudgeable":  # twice as fast: another machine, which would hide a slowdown of everything
        assert "faster across the board" in result["reason"] and "record one here (make baseline)" in result["reason"]
    else:
        assert result["headline"] == "FAIL: the whole run slower beyond the policy's run-wide limit"
