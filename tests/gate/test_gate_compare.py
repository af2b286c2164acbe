"""The comparison's judgement of endpoint counts: a drop makes the run unjudgeable, rarity only warns."""

from __future__ import annotations

import pytest
from conftest import POLICY

from benchmarks.synthetic import smoke_shape, write_run
from gate.judge.compare import compare
from gate.read.policy import load_policy
from gate.read.run import read_run


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    shapes = []
    for factor in (1.0, 1.05, 0.95):
        shape = smoke_shape(run_factor=factor)
        shape.endpoints["POST /api/admin/cache/clear"] = type(shape.endpoints["GET /health"])(30.0, 2)
        shapes.append(shape)
    return root, [read_run(write_run(root / f"b{n}", shape, seed=n)) for n, shape in enumerate(shapes)]


@pytest.mark.parametrize(("endpoint", "count", "severity"), [
    ("POST /api/admin/cache/clear", 0, "warn"),  # 2 per run in the baseline: 0 is chance
    ("GET /api/auth/me", 0, "unjudgeable"),  # 120 per run in the baseline: 0 is a broken run
    ("GET /api/auth/me", 15, "unjudgeable"),  # an eighth of its usual count
    ("GET /api/auth/me", 100, None),  # within chance of 120: judged
])
def test_a_drop_blocks_the_verdict_and_rarity_only_warns(history, endpoint, count, severity):
    root, baseline = history
    shape = smoke_shape()
    shape.endpoints["POST /api/admin/cache/clear"] = type(shape.endpoints["GET /health"])(30.0, 2)
    shape.endpoints[endpoint].requests = count
    if count == 0:
        del shape.endpoints[endpoint]
    run = read_run(write_run(root / f"run-{endpoint.split()[-1].replace('/', '_')}-{count}", shape, seed=7))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    counted = [f for f in comparison.findings if f.endpoint == endpoint and f.kind in ("too_few_requests",
                                                                                      "missing_endpoint")]
    assert [f.severity for f in counted] == ([severity] if severity else [])


@pytest.mark.parametrize(("machine", "upload", "flagged"), [
    (0.4, 0.85, False),  # the machine got 60% faster, the endpoint only 15%: still faster than its baseline
    (1.0, 1.8, True),  # same machine, the endpoint 80% slower: a regression (the rule can fail)
])
def test_the_run_wide_shift_may_excuse_a_change_but_never_accuse_one(tmp_path, machine, upload, flagged):
    # a baseline recorded on a machine whose speed swung from run to run: endpoints move together
    baseline = [read_run(write_run(tmp_path / f"b{n}", smoke_shape(run_factor=factor), seed=n))
                for n, factor in enumerate((0.6, 1.0, 1.6))]
    root = tmp_path
    shape = smoke_shape(run_factor=machine)
    endpoint = "GET /api/conversations"
    shape.endpoints[endpoint].median_ms *= upload / machine  # its own latency does not follow the machine
    run = read_run(write_run(root / f"shift-{machine}-{upload}", shape, seed=11))
    comparison = compare(run, baseline, load_policy(POLICY, "smoke"))
    regressions = [f for f in comparison.findings if f.kind == "regression" and f.endpoint == endpoint
                   and f.severity == "fail"]
    assert bool(regressions) is flagged
