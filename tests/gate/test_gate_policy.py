"""The policy file: the committed one encodes the seed's SLOs; mistakes are reported with their line."""

from __future__ import annotations

import pytest
from conftest import POLICY

from gate.read.policy import PolicyError, load_policy


@pytest.fixture
def smoke():
    return load_policy(POLICY, "smoke")


@pytest.mark.parametrize(
    ("endpoint", "limit"),
    [
        ("POST /api/auth/login", 1000),
        ("POST /api/chat", 3000),
        ("WS /api/realtime/ws first chunk", 3000),
        ("POST /api/admin/kb/documents", 10000),
        ("GET /health", 500),
        ("WS /api/realtime/ws message.done", 5000),
    ],
)
def test_the_seeds_slos_are_absolute_p95_limits_that_fail(smoke, endpoint, limit):
    p95 = smoke.for_endpoint(endpoint).metrics["p95"]
    assert (p95.limit, p95.severity) == (limit, "fail")
    # compared with the baseline inside the distribution test (median, p75, p90, p95), not alone
    assert not p95.relative
    shape = smoke.for_endpoint(endpoint).metrics["distribution"]
    if endpoint not in ("POST /api/auth/login", "GET /health"):
        assert shape.relative and (shape.relative_pct, shape.relative_floor, shape.severity) == (15, 0.25, "fail")


@pytest.mark.parametrize("endpoint", ["POST /api/auth/login", "POST /api/auth/logout"])
def test_burst_endpoints_are_not_compared_with_the_baseline(smoke, endpoint):
    # every user signs in as it spawns and out as the run stops: ramp-up and teardown contention
    assert not smoke.for_endpoint(endpoint).metrics["distribution"].relative
    assert smoke.for_endpoint("GET /api/auth/me").metrics["distribution"].relative


@pytest.mark.parametrize("endpoint", ["GET /health", "WS /api/realtime/ws ping"])
def test_endpoints_below_locusts_resolution_keep_only_their_absolute_limits(smoke, endpoint):
    # 0.5-1 ms on whole-millisecond buckets: most requests in one or two buckets, the tails all rounding
    assert not smoke.for_endpoint(endpoint).metrics["distribution"].relative
    assert smoke.for_endpoint("GET /health/detailed").metrics["distribution"].relative


def test_every_endpoint_and_the_total_have_the_5_percent_failure_budget(smoke):
    assert smoke.for_endpoint("GET /api/anything").metrics["failure_ratio"].limit == 0.05
    aggregated = smoke.for_endpoint("Aggregated")
    assert aggregated.metrics["failure_ratio"].limit == 0.05
    assert "p95" not in aggregated.metrics  # patterns never match the computed total


def test_profile_sections_override_the_global_rules():
    assert load_policy(POLICY, "smoke").for_endpoint("GET /health").metrics["p99"].severity == "warn"
    assert load_policy(POLICY, "soak").for_endpoint("GET /health").metrics["p99"].severity == "fail"
    assert load_policy(POLICY, "no-such-profile").for_endpoint("GET /health").metrics["p95"].limit == 500


def test_later_rules_override_field_by_field_and_quarantine_by_pattern(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "schema: 1\n"
        "rules:\n"
        "  - pattern: '*'\n"
        "    metrics: {p95: {limit: 100, relative: {pct: 10, floor_ms: 5}}}\n"
        "  - regex: '^GET /api/admin/'\n"
        "    quarantine: true\n"
        "    metrics: {p95: {limit: null, severity: warn}}\n"
    )
    loaded = load_policy(policy, "smoke")
    admin = loaded.for_endpoint("GET /api/admin/kb/documents")
    assert admin.quarantined and admin.metrics["p95"].limit is None and admin.metrics["p95"].relative_pct == 10
    assert admin.metrics["p95"].severity == "warn" and admin.rule_lines == (3, 5)
    assert not loaded.for_endpoint("GET /health").quarantined


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema: 1\nrules:\n  - pattern: '*'\n    metrics:\n      p96: {limit: 3}\n", ":5: unknown key 'p96'"),
        ("schema: 1\nrules:\n  - endpoint: a\n    pattern: b\n", ":3: a rule needs exactly one of"),
        ("schema: 1\nrules:\n  - endpoint: a\n    metrics: {p95: {severity: fatal}}\n", ":4: severity should be"),
        ("schema: 1\nrules:\n  - endpoint: a\n    metrics: {p95: {limit: -1}}\n", ":4: p95 limit should be"),
        ("schema: 1\nrules:\n  - endpoint: a\n    metrics: {failure_ratio: {limit: 5}}\n", ":4: failure_ratio limit"),
        ("schema: 1\nrules:\n  - endpoint: a\n    metrics: {p95: {relative: {floor_ms: 3}}}\n", ":4: p95 relative needs"),
        ("schema: 1\nrules:\n  - regex: '('\n", ":3: regex does not compile"),
        ("schema: 1\nstatistics:\n  false_alarm_rate: 2\n", ":3: false_alarm_rate should be between"),
        ("schema: 1\nstatistics:\n  correction: bonferroni\n", ":3: correction should be one of"),
        ("schema: 1\nschema: 1\n", ":2: 'schema' appears twice"),
        ("schema: 2\n", ":1: schema must be 1"),
        ("schema: 1\nrules: [\n", ":3: not valid YAML"),
        ("schema: 1\nrules: {a: 1}\n", ":2: rules should be a list"),
        ("- 1\n", ":1: policy should be a mapping"),
    ],
)
def test_mistakes_are_reported_with_file_and_line(tmp_path, text, message):
    policy = tmp_path / "policy.yml"
    policy.write_text(text)
    with pytest.raises(PolicyError) as raised:
        load_policy(policy, "smoke")
    assert raised.value.reason.startswith(str(policy))
    assert message in raised.value.reason


def test_an_empty_or_missing_policy_cannot_judge(tmp_path):
    with pytest.raises(PolicyError, match="missing"):
        load_policy(tmp_path / "absent.yml", "smoke")
    (tmp_path / "empty.yml").write_text("")
    with pytest.raises(PolicyError):
        load_policy(tmp_path / "empty.yml", "smoke")


@pytest.mark.parametrize("profile", ["stress", "spike"])
def test_stress_and_spike_drop_the_absolute_limits_but_keep_the_baseline_comparison(profile):
    health = load_policy(POLICY, profile).for_endpoint("GET /health").metrics
    assert health["p95"].limit is None
    me = load_policy(POLICY, profile).for_endpoint("GET /api/auth/me").metrics
    assert me["distribution"].relative and me["distribution"].severity == "fail"
    assert load_policy(POLICY, profile).for_endpoint("Aggregated").metrics["failure_ratio"].severity == "warn"


def test_the_trends_section_of_gate_trends_is_let_through(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("schema: 1\ntrends:\n  soak: {max_p95_slope_pct_per_hour: 10}\nrules: []\n")
    assert load_policy(policy, "soak").rules == ()
