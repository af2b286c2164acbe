"""Compares one run with its baseline runs under the policy: absolute limits, relative limits
under the noise model, the run-wide shift, suspicious improvements, new error classes.
Pure: plain data in, plain data out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special

from gate.judge import distribution
from gate.judge.distribution import SHIFT_STATISTICS, ShiftTest, StatisticShift
from gate.judge.noise import (
    LOG_METRICS,
    TRIMMED_MEAN,
    MetricNoise,
    endpoints_that_move_together,
    metric_noise,
    observe,
)
from gate.judge.statistics import (
    adjust_p_values,
    detectable_log_shift,
    failure_ratio_p_value,
    failures_to_flag,
    upper_tail_p,
)
from gate.read.histogram import bucket_width, log_ms, merge_histograms, percentile
from gate.read.policy import (
    DISTRIBUTION,
    HIGHER_IS_WORSE,
    LATENCY_METRICS,
    METRICS,
    UNITS,
    MetricPolicy,
    Policy,
    Statistics,
    figure,
)
from gate.read.run import AGGREGATED, EndpointRecord, Run

QUARANTINED = " (quarantined: reported, never fails)"
# An endpoint's count is a drop (not chance) when Poisson odds of so few requests are below this.
DROP_CHANCE = 0.001


@dataclass
class MetricComparison:
    metric: str
    unit: str
    value: float | None
    baseline: float | None = None  # geometric mean of the baseline runs (pooled ratio for failures)
    baseline_runs: list[float] = field(default_factory=list)
    change_pct: float | None = None  # this run against the baseline
    expected: float | None = None  # the baseline moved by this run's run-wide shift (interpolated)
    net_change_pct: float | None = None  # this run against `expected`: what is tested
    limit: float | None = None
    threshold_pct: float | None = None  # the practical bar: policy percentage, floor, one bucket
    p_value: float | None = None
    p_adjusted: float | None = None
    detectable_pct: float | None = None  # smallest regression this run could have flagged
    spread_measured: bool | None = None
    severity: str = "fail"
    direction: str = HIGHER_IS_WORSE
    outcome: str = "ok"  # ok | breach | regression | breach+regression | suspicious_improvement
    # the distribution test only (metric "distribution"): value, baseline and change are those of the
    # decisive quantile; the shift function holds every quantile
    state: str | None = None  # same | different | unresolved
    quantile: str | None = None  # the statistic its figures are of: trimmed mean, p90, p95
    interval_pct: list[float] | None = None  # the decisive quantile's change, each bound one-sided at alpha
    reason: str | None = None  # for unresolved: what is open and what would resolve it
    shift_function: list[dict] = field(default_factory=list)


@dataclass
class EndpointComparison:
    endpoint: str
    num_requests: int
    num_failures: int
    baseline_requests: list[int]
    quarantined: bool
    min_requests: int
    status: str = "pass"  # pass | fail | warn | unjudgeable
    metrics: dict[str, MetricComparison] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Finding:
    severity: str  # fail | warn | unjudgeable
    kind: str
    endpoint: str
    metric: str | None
    message: str
    borderline: bool = False


@dataclass
class Comparison:
    endpoints: list[EndpointComparison]
    findings: list[Finding]
    baseline_runs: int
    tests: dict[str, int]  # family (fail / warn) -> number of relative tests in it
    run_shift_pct: dict[str, float] = field(default_factory=dict)  # metric -> run-wide shift
    # paired rounds: the change the whole run shared, head against base, judged as an endpoint's distribution
    # test is (state, quantile, change_pct, interval_pct, p_value, threshold_pct, reason)
    run_wide: dict | None = None


@dataclass
class _PendingTest:
    comparison: EndpointComparison
    result: MetricComparison
    standard_error: float
    dof: float
    bar: float  # practical bar, in the metric's unit
    estimate: float  # what is compared with `expected` (interpolated percentile, ratio, req/s)
    family: str = ""  # fail | warn: the multiple-testing family (the severity, unless confirming)
    shift: ShiftTest | None = None  # the distribution test's shift function
    unresolved: str = "warn"  # the policy's action on an UNRESOLVED distribution test


def with_aggregate(records: dict[str, EndpointRecord]) -> dict[str, EndpointRecord]:
    """The endpoints plus Locust's 'Aggregated' total, which stats.json does not carry."""
    endpoints = [r for name, r in records.items() if name != AGGREGATED]
    errors: dict[str, int] = {}
    for record in endpoints:
        for error, count in record.errors.items():
            errors[error] = errors.get(error, 0) + count
    total = EndpointRecord(
        endpoint=AGGREGATED,
        num_requests=sum(r.num_requests for r in endpoints),
        num_failures=sum(r.num_failures for r in endpoints),
        num_none_requests=sum(r.num_none_requests for r in endpoints),
        histogram=merge_histograms([r.histogram for r in endpoints]),
        errors=errors,
    )
    return {**records, AGGREGATED: total}


# Where an endpoint's distribution test comes from: (endpoint, this run's record, policy percentage, floor
# in ms) -> its shift function, or None when it cannot be compared. The default compares with the
# baseline's runs under the noise model; the paired mode (paired.py) with base rounds block by block.
ShiftTester = Callable[[str, EndpointRecord, float, float], ShiftTest | None]
# Where a policy metric's relative test comes from instead of the noise model (p50, p95, p99, throughput):
# (statistic, endpoint, policy percentage, floor) -> (its shift, whether its spread was measured), or
# None when it cannot be compared. The paired mode's: head rounds against base rounds, block by block.
MetricTester = Callable[[str, str, float, float], tuple[StatisticShift, bool] | None]


def compare(run: Run, baseline: list[Run] | None, policy: Policy,
            confirming: set[tuple[str, str]] | None = None, shift_tester: ShiftTester | None = None,
            metric_tester: MetricTester | None = None, reference: Run | None = None) -> Comparison:
    """`confirming`: the (endpoint, metric) regressions of a first, borderline run. This rerun then tests
    only those in the failing family (so its correction spans them alone); other regressions only warn.
    `shift_tester`: where the distribution tests come from (default: the baseline's runs, see ShiftTester);
    `metric_tester`: where the other relative tests come from (default: the noise model, see MetricTester).
    `reference`: the run this one's figures are shown against (default: the geometric mean of the
    baseline's runs, each as long as this run): the paired mode's base rounds, merged as the head's are."""
    statistics = policy.statistics
    current = with_aggregate(run.endpoints)
    shown_against = with_aggregate(reference.endpoints) if reference is not None else None
    history = [(with_aggregate(b.endpoints), b.duration_s) for b in baseline or []]
    movers = endpoints_that_move_together(history, statistics)
    noise = {metric: metric_noise(metric, history, current, run.duration_s, statistics, movers)
             for metric in dict.fromkeys((*LOG_METRICS, *SHIFT_STATISTICS))}
    contention = distribution.contention_variance(noise, statistics.shift_spread) if history else 0.0
    if shift_tester is None:
        def shift_tester(name: str, record: EndpointRecord, pct: float, floor_ms: float) -> ShiftTest | None:
            return distribution.shift_function(name, record, run.duration_s, noise, pct, floor_ms, contention)
    names = sorted(set(current) | {name for records, _ in history for name in records}, key=_endpoint_order)
    endpoints: list[EndpointComparison] = []
    findings: list[Finding] = []
    pending: list[_PendingTest] = []

    for name in names:
        endpoint_policy = policy.for_endpoint(name)
        record = current.get(name)
        past = [(records[name], seconds) for records, seconds in history
                if name in records and records[name].num_requests > 0]
        # the count is held against the baseline's runs, each as long as this run, or against the reference
        counted = past
        if shown_against is not None and past and name in shown_against:
            counted = [(shown_against[name], reference.duration_s)]
        needed = endpoint_policy.min_requests
        if counted:
            needed = max(needed, math.ceil(statistics.min_count_fraction * min(r.num_requests for r, _ in counted)))
        comparison = EndpointComparison(
            endpoint=name,
            num_requests=record.num_requests if record else 0,
            num_failures=record.num_failures if record else 0,
            baseline_requests=[r.num_requests for r, _ in past],
            quarantined=endpoint_policy.quarantined,
            min_requests=needed,
        )
        endpoints.append(comparison)
        note = QUARANTINED if endpoint_policy.quarantined else ""
        if not _judgeable(comparison, record, counted, needed, endpoint_policy.min_requests, baseline is not None,
                          note, findings, "the base's rounds" if shown_against is not None else "the baseline"):
            continue
        for metric in METRICS:
            metric_policy = endpoint_policy.metrics.get(metric, MetricPolicy(metric=metric, severity="warn"))
            if metric == DISTRIBUTION:
                test = _distribution_test(comparison, record, shift_tester, metric_policy) \
                    if past and metric_policy.relative else None
                if test is not None:
                    test.result.severity = "warn" if endpoint_policy.quarantined else metric_policy.severity
                    test.family = test.result.severity
                    if confirming is not None and (name, metric) not in confirming:
                        test.family = "warn"
                    comparison.metrics[metric] = test.result
                    pending.append(test)
                continue
            result = _measure(metric, record, run.duration_s, past)
            if result is not None and shown_against is not None:
                result = _shown_against(result, shown_against.get(name), reference.duration_s)
            if result is None:
                continue
            result.severity = "warn" if endpoint_policy.quarantined else metric_policy.severity
            result.direction = metric_policy.direction
            result.limit = metric_policy.limit
            comparison.metrics[metric] = result
            _check_limit(name, result, note, findings)
            if not past or result.baseline is None:
                continue
            _check_improvement(name, result, statistics.suspicious_improvement, findings)
            if not metric_policy.relative:
                continue
            if metric_tester is not None and metric in LOG_METRICS:
                test = _tested_by(comparison, result, metric_policy, metric_tester)
            else:
                test = _relative_test(comparison, result, metric_policy, record, past, noise.get(metric),
                                      run.duration_s)
            if test is not None:
                test.family = result.severity
                if confirming is not None and (name, metric) not in confirming:
                    test.family = "warn"
                pending.append(test)
        comparison.errors = _error_classes(record, [r for r, _ in past], baseline is not None)
        for error in comparison.errors:
            if error["new"] and name != AGGREGATED:
                findings.append(Finding("warn", "new_error", name, None,
                                        f"{name}: new error class ({error['occurrences']}x): {error['error']}"))

    family_sizes = _decide_regressions(pending, statistics, findings)
    run_shift_pct = {metric: (math.exp(model.run_shift) - 1.0) * 100.0 for metric, model in noise.items()
                     if model.normalised and history}
    _check_run_shift(run_shift_pct, statistics, findings)
    for comparison in endpoints:
        severities = {f.severity for f in findings if f.endpoint == comparison.endpoint}
        if comparison.status == "pass":
            comparison.status = "fail" if "fail" in severities else "warn" if "warn" in severities else "pass"
    return Comparison(endpoints=endpoints, findings=findings, baseline_runs=len(history), tests=family_sizes,
                      run_shift_pct=run_shift_pct)


def _endpoint_order(name: str) -> tuple:
    return (name == AGGREGATED, name.split(" ", 1)[-1], name)


def _judgeable(comparison: EndpointComparison, record: EndpointRecord | None, past: list, needed: int,
               min_requests: int, have_baseline: bool, note: str, findings: list[Finding],
               against: str = "the baseline") -> bool:
    """False (with a finding) when this endpoint cannot be compared in this run.

    An endpoint whose count dropped - fewer than `needed` (the policy's fraction of the baseline's
    smallest run) and fewer than Poisson chance allows even at the baseline's smallest count - makes
    the run unjudgeable: the suite broke or stopped reaching it. One that is merely too rare this time
    (a task of low weight; task counts of a few users vary more than Poisson) warns and is left out.
    """
    name = comparison.endpoint
    count = record.num_requests if record else 0
    expected = float(np.mean([r.num_requests for r, _ in past])) if past else 0.0
    smallest = min((r.num_requests for r, _ in past), default=0)
    dropped = bool(past) and count < needed and float(special.pdtr(count, smallest)) < DROP_CHANCE
    if dropped and not comparison.quarantined:
        findings.append(Finding("unjudgeable", "missing_endpoint" if count == 0 else "too_few_requests", name, None,
                                f"{name} made {count} requests where {against} made {expected:.0f}"
                                f"{' on average' if len(past) > 1 else ''}: "
                                "the suite no longer reaches it or it broke"))
        comparison.status = "unjudgeable"
        return False
    if count == 0 or count < min_requests:
        if count or past:
            findings.append(Finding("warn", "too_few_requests", name, None,
                                    f"{name} made {count} requests, fewer than the {min_requests} needed to judge "
                                    f"it ({against}: {expected:.0f}{' on average' if len(past) > 1 else ''}){note}"))
            comparison.status = "warn"
        return False
    if have_baseline and not past and name != AGGREGATED:
        comparison.notes.append("new endpoint: not in the baseline, absolute limits only")
        findings.append(Finding("warn", "new_endpoint", name, None,
                                f"{name} is not in the baseline: only absolute limits apply until the baseline "
                                "is re-recorded"))
    return True


def _measure(metric: str, record: EndpointRecord, duration_s: float,
             past: list[tuple[EndpointRecord, float]]) -> MetricComparison | None:
    if metric in LATENCY_METRICS:
        if record.histogram.total == 0:
            return None
        quantile = LATENCY_METRICS[metric]
        value = percentile(record.histogram, quantile)
        runs = [percentile(r.histogram, quantile) for r, _ in past if r.histogram.total > 0]
        baseline = float(np.exp(np.mean([log_ms(v) for v in runs]))) if runs else None
    elif metric == "throughput":
        value = record.num_requests / duration_s
        runs = [r.num_requests / seconds for r, seconds in past]
        baseline = float(np.exp(np.mean(np.log(runs)))) if runs else None
    else:
        value = record.num_failures / record.num_requests
        runs = [r.num_failures / r.num_requests for r, _ in past]
        baseline = (sum(r.num_failures for r, _ in past) / sum(r.num_requests for r, _ in past)) if past else None
    change = None if not baseline else (value / baseline - 1.0) * 100.0
    return MetricComparison(metric=metric, unit=UNITS[metric], value=value, baseline=baseline, baseline_runs=runs,
                            change_pct=change)


def _shown_against(result: MetricComparison, record: EndpointRecord | None, duration_s: float) -> MetricComparison:
    """`result` with the reference run's figure as its baseline (the paired mode: the base's rounds merged,
    as the head's are), and its change against that."""
    reference = _measure(result.metric, record, duration_s, []) if record is not None and record.num_requests else None
    baseline = reference.value if reference is not None else None
    change = (result.value / baseline - 1.0) * 100.0 if baseline and result.value is not None else None
    return replace(result, baseline=baseline, change_pct=change)


def _worse(value: float, reference: float, direction: str) -> float:
    """How much worse `value` is than `reference`, in the metric's unit (negative: better)."""
    return value - reference if direction == HIGHER_IS_WORSE else reference - value


def _check_limit(name: str, result: MetricComparison, note: str, findings: list[Finding]) -> None:
    if result.limit is None or result.value is None or _worse(result.value, result.limit, result.direction) < 0:
        return
    result.outcome = "breach"
    relation = "at or above" if result.direction == HIGHER_IS_WORSE else "at or below"
    findings.append(Finding(result.severity, "breach", name, result.metric,
                            f"{name} {result.metric} {figure(result.value, result.unit)} is {relation} its limit "
                            f"{figure(result.limit, result.unit)}{note}"))


def _check_improvement(name: str, result: MetricComparison, factor: float, findings: list[Finding]) -> None:
    if result.metric == "failure_ratio" or not result.value or not result.baseline:
        return
    better = (result.baseline / result.value if result.direction == HIGHER_IS_WORSE
              else result.value / result.baseline)
    if better >= factor:
        if result.outcome == "ok":
            result.outcome = "suspicious_improvement"
        findings.append(Finding("warn", "suspicious_improvement", name, result.metric,
                                f"{name} {result.metric} is {better:.1f}x better than the baseline "
                                f"({figure(result.baseline, result.unit)} -> {figure(result.value, result.unit)}): "
                                "did the test stop doing the work (cache, error page, skipped step)?"))


def _relative_test(comparison: EndpointComparison, result: MetricComparison, metric_policy: MetricPolicy,
                   record: EndpointRecord, past: list[tuple[EndpointRecord, float]],
                   noise: MetricNoise | None, duration_s: float) -> _PendingTest | None:
    """Sets the practical bar, the expected value and the p-value of one metric of one endpoint."""
    if result.metric == "failure_ratio":
        expected = result.baseline
        result.expected = expected
        bar = max(expected * metric_policy.relative_pct / 100.0, metric_policy.relative_floor)
        failures = sum(r.num_failures for r, _ in past)
        requests = sum(r.num_requests for r, _ in past)
        result.p_value = (failure_ratio_p_value(record.num_failures, record.num_requests, failures, requests)
                          if result.direction == HIGHER_IS_WORSE else 1.0)
        result.spread_measured = False
        result.threshold_pct = bar / expected * 100.0 if expected > 0 else None
        return _PendingTest(comparison, result, math.nan, math.nan, bar, result.value)
    observation = observe(result.metric, record, duration_s)
    model = noise.deviation(comparison.endpoint, observation) if noise and observation else None
    if model is None:
        return None
    deviation, variance, dof = model
    expected = noise.expected(comparison.endpoint)
    floor = metric_policy.relative_floor
    if result.metric in LATENCY_METRICS:
        floor = max(floor, bucket_width(expected))  # a tolerance finer than Locust's bucket is noise
    bar = max(expected * metric_policy.relative_pct / 100.0, floor)
    standard_error = math.sqrt(variance)
    statistic = deviation / standard_error if result.direction == HIGHER_IS_WORSE else -deviation / standard_error
    result.expected = expected
    result.net_change_pct = (math.exp(deviation) - 1.0) * 100.0
    result.threshold_pct = bar / expected * 100.0
    result.p_value = upper_tail_p(statistic, dof)
    result.spread_measured = noise.endpoints[comparison.endpoint].spread.measured
    return _PendingTest(comparison, result, standard_error, dof, bar, expected * math.exp(deviation))


def _tested_by(comparison: EndpointComparison, result: MetricComparison, metric_policy: MetricPolicy,
               metric_tester: MetricTester) -> _PendingTest | None:
    """One metric's relative test from `metric_tester` (the paired mode's rounds) rather than the noise
    model: its practical bar, expected value and p-value, as _relative_test sets them."""
    found = metric_tester(result.metric, comparison.endpoint, metric_policy.relative_pct, metric_policy.relative_floor)
    if found is None:
        return None
    shift, measured = found
    floor = metric_policy.relative_floor
    if result.metric in LATENCY_METRICS:
        floor = max(floor, bucket_width(shift.expected))  # a tolerance finer than Locust's bucket is noise
    bar = max(shift.expected * metric_policy.relative_pct / 100.0, floor)
    standard_error = shift.standard_error
    worse = shift.deviation if result.direction == HIGHER_IS_WORSE else -shift.deviation
    result.expected = shift.expected
    result.net_change_pct = shift.change_pct
    result.threshold_pct = bar / shift.expected * 100.0
    result.p_value = upper_tail_p(worse / standard_error, shift.dof)
    result.spread_measured = measured
    return _PendingTest(comparison, result, standard_error, shift.dof, bar, shift.expected * math.exp(shift.deviation))


def _distribution_test(comparison: EndpointComparison, record: EndpointRecord, shift_tester: ShiftTester,
                       metric_policy: MetricPolicy) -> _PendingTest | None:
    """The shift function of one endpoint as a pending test; its decisive statistic stands for it."""
    test = shift_tester(comparison.endpoint, record, metric_policy.relative_pct, metric_policy.relative_floor)
    if test is None:
        return None
    decisive = test.decisive
    result = MetricComparison(
        metric=DISTRIBUTION, unit="ms", value=decisive.value, p_value=test.p_worse,
        spread_measured=test.spread_measured,
        shift_function=[{"quantile": distribution.label(s), "value": s.value, "baseline": s.baseline,
                         "expected": s.expected, "change_pct": s.change_pct, "bar_pct": s.bar / s.expected * 100.0}
                        for s in test.shifts])
    _show_quantile(result, decisive)
    return _PendingTest(comparison, result, decisive.standard_error, decisive.dof, decisive.bar, decisive.value,
                        shift=test, unresolved=metric_policy.unresolved)


def _show_quantile(result: MetricComparison, shift: distribution.StatisticShift) -> None:
    """The distribution test's figures are those of one quantile of its shift function."""
    result.quantile = distribution.label(shift)
    result.value, result.baseline, result.expected = shift.value, shift.baseline, shift.expected
    result.change_pct = (shift.value / shift.baseline - 1.0) * 100.0
    result.net_change_pct = shift.change_pct
    result.threshold_pct = shift.bar / shift.expected * 100.0


def _decide_regressions(pending: list[_PendingTest], statistics: Statistics,
                        findings: list[Finding]) -> dict[str, int]:
    """Adjusts p-values per family (fail, warn) so the false-alarm rate holds across the run's endpoints,
    then flags what is both practically and statistically significant."""
    alpha = statistics.false_alarm_rate
    sizes = {}
    for family in ("fail", "warn"):
        members = [test for test in pending if test.family == family]
        sizes[family] = len(members)
        adjusted = adjust_p_values([test.result.p_value for test in members], statistics.correction)
        for test, p_adjusted in zip(members, adjusted):
            result, comparison = test.result, test.comparison
            result.p_adjusted = p_adjusted
            result.detectable_pct = _detectable_pct(test, alpha / len(members))
            regressed = _regressed(test, p_adjusted, alpha)
            if test.shift is not None:
                _settle_distribution(test, regressed, alpha, len(members), findings)
            if not regressed:
                continue
            result.outcome = "breach+regression" if result.outcome == "breach" else "regression"
            borderline = p_adjusted > statistics.borderline_p
            change = f"{figure(result.baseline, result.unit)} -> {figure(result.value, result.unit)}"
            if result.change_pct is not None:
                change += f" ({result.change_pct:+.0f}%"
                if result.net_change_pct is not None and abs(result.net_change_pct - result.change_pct) >= 1:
                    change += f", {result.net_change_pct:+.0f}% net of the run-wide shift"
                change += ")"
            what = result.metric if test.shift is None else f"{result.metric} ({result.quantile})"
            findings.append(Finding(family, "regression", comparison.endpoint, result.metric,
                                    f"{comparison.endpoint} {what} regressed {change}, "
                                    f"p={p_adjusted:.2g} after {statistics.correction} correction"
                                    f"{' (borderline)' if borderline else ''}"
                                    f"{QUARANTINED if comparison.quarantined else ''}",
                                    borderline=borderline))
    return sizes


def _regressed(test: _PendingTest, p_adjusted: float, alpha: float) -> bool:
    """Both practically and statistically significant, and worse than the baseline in absolute terms."""
    result = test.result
    if _worse(test.estimate, result.expected, result.direction) <= test.bar or p_adjusted > alpha:
        return False
    # The run-wide shift may excuse a change, never accuse one: when the whole machine got faster and
    # this endpoint did not keep pace (work that does not scale with CPU contention, e.g. indexing an
    # upload), it is no slower than its baseline in absolute terms, and that is no evidence of a regression.
    return result.baseline is None or _worse(result.value, result.baseline, result.direction) > test.bar


def _settle_distribution(test: _PendingTest, regressed: bool, alpha: float, family_size: int,
                         findings: list[Finding]) -> None:
    """SAME, DIFFERENT or UNRESOLVED, with the decisive quantile's interval and, when unresolved, the
    reason and the policy's action (pass, warn or fail)."""
    result, shift = test.result, test.shift
    # faster is reported, never failed (Bonferroni across endpoints); like a regression, only when it is
    # faster than the baseline as it is too, not merely against a run-wide shift it did not follow
    improved = shift.p_better * family_size <= alpha and \
        shift.decisive.value < shift.decisive.baseline - shift.decisive.bar
    result.state = distribution.state(shift, regressed=regressed, improved=improved, alpha=alpha)
    shown = shift.decisive if result.state == distribution.DIFFERENT else distribution.nearest_to_bar(shift, alpha)
    _show_quantile(result, shown)
    result.interval_pct = list(shown.bounds_pct(alpha))
    if result.state != distribution.UNRESOLVED:
        return
    result.reason = distribution.unresolved_reason(shift, alpha, alpha / family_size, test.comparison.num_requests)
    if test.unresolved != "pass":
        severity = "warn" if test.comparison.quarantined else test.unresolved
        findings.append(Finding(severity, "unresolved", test.comparison.endpoint, DISTRIBUTION,
                                f"{test.comparison.endpoint} UNRESOLVED: {result.reason}"))


def _detectable_pct(test: _PendingTest, alpha_per_test: float) -> float | None:
    """The smallest regression this run could have flagged: the larger of the practical bar and the
    statistical one (at the Bonferroni level, which bounds Holm's first step)."""
    result = test.result
    if test.shift is not None:
        return distribution.detectable_pct(test.shift, alpha_per_test)
    expected = result.expected
    if not expected:
        return None
    practical = test.bar / expected * 100.0
    if result.metric == "failure_ratio":
        requests = test.comparison.num_requests
        failures = failures_to_flag(alpha_per_test, requests, expected)
        return max(practical, (failures / requests / expected - 1.0) * 100.0)
    shift = detectable_log_shift(test.standard_error, test.dof, alpha_per_test)
    statistical = ((math.exp(shift) - 1.0) * 100.0 if result.direction == HIGHER_IS_WORSE
                   else (1.0 - math.exp(-shift)) * 100.0)
    return max(practical, statistical)


def _check_run_shift(shift_pct: dict[str, float], statistics: Statistics, findings: list[Finding]) -> None:
    """Warns, cannot judge or fails on how far the whole run moved: at the centre of its distributions (the
    trimmed mean), which a change that slows everything moves as much as the tail, while a busy machine
    moves the tail far more (unchanged runs here: p95 +135% where the centre moved +41%)."""
    centre = shift_pct.get(TRIMMED_MEAN, shift_pct.get("p95"))
    if centre is None or abs(centre) < statistics.run_shift_warn_pct:
        return
    direction = "slower" if centre > 0 else "faster"
    tail = f" (p95 {shift_pct['p95']:+.0f}%)" if "p95" in shift_pct and TRIMMED_MEAN in shift_pct else ""
    metric = TRIMMED_MEAN if TRIMMED_MEAN in shift_pct else "p95"
    moved = f"every endpoint moved together: this run is {abs(centre):.0f}% {direction} across the board{tail}"
    if centre >= statistics.run_shift_fail_pct:
        findings.append(Finding("fail", "run_shift", AGGREGATED, metric,
                                f"{moved}, beyond the policy's {statistics.run_shift_fail_pct:g}%"))
    elif centre >= statistics.run_shift_unjudgeable_pct:
        findings.append(Finding("unjudgeable", "run_shift", AGGREGATED, metric,
                                f"{moved}: a busy runner and a change that slows everything alike look the same "
                                "against a baseline recorded elsewhere; rerun on a quieter runner, and if it persists "
                                "it is the change (compare base and head paired)"))
    elif abs(centre) >= statistics.run_shift_unjudgeable_pct:
        findings.append(Finding("unjudgeable", "run_shift", AGGREGATED, metric,
                                f"{moved}: this machine is faster than the baseline's, by enough to hide a change that "
                                "slows everything alike; if it is not the machine the baseline was recorded on, record "
                                "one here (make baseline) or compare base and head paired (make ab)"))
    else:
        findings.append(Finding("warn", "run_shift", AGGREGATED, metric,
                                f"{moved} (a slower/faster runner, or a change that affects everything); "
                                "per-endpoint comparisons are made net of it"))


def _error_classes(record: EndpointRecord, past: list[EndpointRecord], have_baseline: bool) -> list[dict]:
    known = {error for r in past for error in r.errors}
    return [
        {"error": error, "occurrences": count, "new": have_baseline and error not in known}
        for error, count in sorted(record.errors.items(), key=lambda item: -item[1])
    ]
