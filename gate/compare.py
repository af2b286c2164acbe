"""Compares one run with its baseline runs under the policy: absolute limits, relative limits
with a noise model, suspicious improvements, new error classes. Pure: plain data in, plain data out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from gate.policy import HIGHER_IS_WORSE, LATENCY_METRICS, METRICS, UNITS, MetricPolicy, Policy
from gate.run import AGGREGATED, EndpointRecord, Run
from gate.statistics import (
    Spread,
    adjust_p_values,
    between_run_variance,
    bucket_width,
    detectable_log_shift,
    failure_ratio_p_value,
    log_ms,
    merge_histograms,
    percentile,
    percentile_log_variance,
    pooled_spread,
    shift_test,
    shrunk_spread,
    throughput_log_variance,
)


@dataclass
class MetricComparison:
    metric: str
    unit: str
    value: float | None
    baseline: float | None = None
    baseline_runs: list[float] = field(default_factory=list)
    change_pct: float | None = None
    limit: float | None = None
    threshold_pct: float | None = None  # the practical-significance bar (percentage, floor, bucket)
    p_value: float | None = None
    p_adjusted: float | None = None
    detectable_pct: float | None = None  # smallest change this run could have flagged
    spread_measured: bool | None = None
    severity: str = "fail"
    direction: str = HIGHER_IS_WORSE
    outcome: str = "ok"  # ok | breach | regression | suspicious_improvement | not_compared


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


def with_aggregate(run: Run) -> dict[str, EndpointRecord]:
    """The run's endpoints plus Locust's 'Aggregated' total, which stats.json does not carry."""
    records = list(run.endpoints.values())
    errors: dict[str, int] = {}
    for record in records:
        for error, count in record.errors.items():
            errors[error] = errors.get(error, 0) + count
    total = EndpointRecord(
        endpoint=AGGREGATED,
        num_requests=sum(r.num_requests for r in records),
        num_failures=sum(r.num_failures for r in records),
        num_none_requests=sum(r.num_none_requests for r in records),
        histogram=merge_histograms([r.histogram for r in records]),
        errors=errors,
    )
    return {**run.endpoints, AGGREGATED: total}


def compare(run: Run, baseline: list[Run] | None, policy: Policy) -> Comparison:
    statistics = policy.statistics
    current = with_aggregate(run)
    history = [with_aggregate(baseline_run) for baseline_run in baseline or []]
    names = sorted(set(current) | {name for runs in history for name in runs}, key=_endpoint_order)
    spreads = _spreads(history, baseline or [], statistics)
    endpoints: list[EndpointComparison] = []
    findings: list[Finding] = []
    tests: list[tuple[EndpointComparison, MetricComparison, float, float]] = []  # + (se, dof)

    for name in names:
        endpoint_policy = policy.for_endpoint(name)
        record = current.get(name)
        past = [(runs[name], baseline_run.duration_s) for runs, baseline_run in zip(history, baseline or [])
                if name in runs and runs[name].num_requests > 0]
        needed = endpoint_policy.min_requests
        if past:
            needed = max(needed, math.ceil(statistics.min_count_fraction * min(r.num_requests for r, _ in past)))
        comparison = EndpointComparison(
            endpoint=name,
            num_requests=record.num_requests if record else 0,
            num_failures=record.num_failures if record else 0,
            baseline_requests=[r.num_requests for r, _ in past],
            quarantined=endpoint_policy.quarantined,
            min_requests=needed,
        )
        endpoints.append(comparison)
        quarantine_note = " (quarantined: reported, never fails)" if endpoint_policy.quarantined else ""
        unjudged_severity = "warn" if endpoint_policy.quarantined else "unjudgeable"
        if record is None or record.num_requests == 0:
            if past:
                findings.append(Finding(unjudged_severity, "missing_endpoint", name, None,
                                        f"{name} is in the baseline but made no requests in this run: "
                                        f"the suite no longer reaches it or it broke{quarantine_note}"))
                comparison.status = "warn" if endpoint_policy.quarantined else "unjudgeable"
            continue
        if record.num_requests < needed:
            message = (f"{name} made {record.num_requests} requests, fewer than the {needed} needed to judge it"
                       f"{quarantine_note}")
            if past:
                findings.append(Finding(unjudged_severity, "too_few_requests", name, None, message))
                comparison.status = "warn" if endpoint_policy.quarantined else "unjudgeable"
            else:
                findings.append(Finding("warn", "too_few_requests", name, None, message))
                comparison.status = "warn"
            continue
        if baseline is not None and not past and name != AGGREGATED:
            comparison.notes.append("new endpoint: not in the baseline, absolute limits only")
            findings.append(Finding("warn", "new_endpoint", name, None,
                                    f"{name} is not in the baseline: only absolute limits apply until the "
                                    "baseline is re-recorded"))

        for metric in METRICS:
            metric_policy = endpoint_policy.metrics.get(metric, MetricPolicy(metric=metric, severity="warn"))
            severity = "warn" if endpoint_policy.quarantined else metric_policy.severity
            result = _measure(metric, record, run.duration_s, past)
            if result is None:
                continue
            result.severity = severity
            result.direction = metric_policy.direction
            result.limit = metric_policy.limit
            comparison.metrics[metric] = result
            if metric_policy.limit is not None and result.value is not None:
                breached = (result.value >= metric_policy.limit if metric_policy.direction == HIGHER_IS_WORSE
                            else result.value <= metric_policy.limit)
                if breached:
                    result.outcome = "breach"
                    relation = "at or above" if metric_policy.direction == HIGHER_IS_WORSE else "at or below"
                    findings.append(Finding(severity, "breach", name, metric,
                                            f"{name} {metric} {_figure(result.value, result.unit)} is {relation} "
                                            f"its limit {_figure(metric_policy.limit, result.unit)}"
                                            f"{quarantine_note}"))
            if past and result.baseline is not None:
                _suspicious_improvement(result, metric_policy, statistics.suspicious_improvement, name, findings)
                if metric_policy.relative:
                    test = _relative_test(metric, result, metric_policy, record, past, spreads)
                    if test is not None:
                        tests.append((comparison, result, *test))

        comparison.errors = _error_classes(record, [r for r, _ in past], baseline is not None)
        for error in comparison.errors:
            if error["new"] and name != AGGREGATED:
                findings.append(Finding("warn", "new_error", name, None,
                                        f"{name}: new error class ({error['occurrences']}x): {error['error']}"))

    family_sizes = _decide_regressions(tests, statistics, findings)
    for comparison in endpoints:
        comparison_findings = [f for f in findings if f.endpoint == comparison.endpoint]
        if comparison.status == "pass":
            if any(f.severity == "fail" for f in comparison_findings):
                comparison.status = "fail"
            elif any(f.severity == "warn" for f in comparison_findings):
                comparison.status = "warn"
    return Comparison(endpoints=endpoints, findings=findings, baseline_runs=len(baseline or []),
                      tests=family_sizes)


def _endpoint_order(name: str) -> tuple:
    return (name == AGGREGATED, name.split(" ", 1)[-1], name)


def _measure(metric: str, record: EndpointRecord, duration_s: float,
             past: list[tuple[EndpointRecord, float]]) -> MetricComparison | None:
    unit = UNITS[metric]
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
    return MetricComparison(metric=metric, unit=unit, value=value, baseline=baseline, baseline_runs=runs,
                            change_pct=change)


def _spreads(history: list[dict[str, EndpointRecord]], baseline: list[Run],
             statistics) -> dict[tuple[str, str], Spread]:
    """Per metric: the between-run spread of every endpoint, and the pooled one it is shrunk toward."""
    per_metric: dict[str, dict[str, tuple[float, int]]] = {}
    names = {name for runs in history for name in runs if name != AGGREGATED}
    for metric in (*LATENCY_METRICS, "throughput"):
        estimates = {}
        for name in names:
            logs, variances = _run_logs(metric, [(runs[name], run.duration_s) for runs, run in
                                                 zip(history, baseline) if name in runs])
            estimates[name] = between_run_variance(np.array(logs), np.array(variances))
        per_metric[metric] = estimates
    spreads: dict[str, Spread] = {}
    for metric, estimates in per_metric.items():
        pooled = pooled_spread(list(estimates.values()))
        for name, own in estimates.items():
            spreads[(metric, name)] = shrunk_spread(own, pooled, statistics.prior_runs,
                                                    statistics.assumed_between_run_cv,
                                                    statistics.minimum_between_run_cv)
        spreads[(metric, AGGREGATED)] = shrunk_spread((0.0, 0), pooled, statistics.prior_runs,
                                                      statistics.assumed_between_run_cv,
                                                      statistics.minimum_between_run_cv)
    return spreads


def _run_logs(metric: str, records: list[tuple[EndpointRecord, float]]) -> tuple[list[float], list[float]]:
    logs, variances = [], []
    for record, seconds in records:
        if metric in LATENCY_METRICS:
            if record.histogram.total == 0:
                continue
            quantile = LATENCY_METRICS[metric]
            logs.append(log_ms(percentile(record.histogram, quantile)))
            variances.append(percentile_log_variance(record.histogram, quantile))
        elif record.num_requests > 0:
            logs.append(math.log(record.num_requests / seconds))
            variances.append(throughput_log_variance(record.num_requests))
    return logs, variances


def _relative_test(metric: str, result: MetricComparison, metric_policy: MetricPolicy, record: EndpointRecord,
                   past: list[tuple[EndpointRecord, float]], spreads) -> tuple[float, float, float] | None:
    """Sets the practical bar and the p-value; returns (se, dof, practical bar as a ratio) for the MDE."""
    base = result.baseline
    worse_when_higher = metric_policy.direction == HIGHER_IS_WORSE
    floor = metric_policy.relative_floor
    if metric in LATENCY_METRICS:
        floor = max(floor, bucket_width(base))  # a tolerance finer than Locust's bucket is noise
    bar = max(base * metric_policy.relative_pct / 100.0, floor)
    result.threshold_pct = bar / base * 100.0 if base > 0 else None
    if metric == "failure_ratio":
        failures = sum(r.num_failures for r, _ in past)
        requests = sum(r.num_requests for r, _ in past)
        result.p_value = failure_ratio_p_value(record.num_failures, record.num_requests, failures, requests)
        result.spread_measured = False
        return None if not worse_when_higher else (math.nan, math.nan, bar)
    logs, variances = _run_logs(metric, past)
    if not logs:
        return None
    if metric in LATENCY_METRICS:
        run_log = log_ms(result.value)
        run_variance = percentile_log_variance(record.histogram, LATENCY_METRICS[metric])
    else:
        run_log = math.log(max(result.value, 1e-12))
        run_variance = throughput_log_variance(record.num_requests)
    spread = spreads.get((metric, record.endpoint))
    test = shift_test(run_log, run_variance, np.array(logs), np.array(variances), spread, worse_when_higher)
    result.p_value = test.p_value
    result.spread_measured = spread.measured
    return test.standard_error, test.dof, bar


def _practically_worse(result: MetricComparison, metric_policy_direction_higher: bool, bar: float) -> bool:
    if result.value is None or result.baseline is None:
        return False
    change = result.value - result.baseline
    return change > bar if metric_policy_direction_higher else -change > bar


def _decide_regressions(tests, statistics, findings: list[Finding]) -> dict[str, int]:
    """Adjusts p-values per family (fail, warn) so that the false-alarm rate holds across the run."""
    alpha = statistics.false_alarm_rate
    sizes = {}
    for family in ("fail", "warn"):
        members = [t for t in tests if t[1].severity == family]
        sizes[family] = len(members)
        adjusted = adjust_p_values([t[1].p_value for t in members], statistics.correction)
        for (comparison, result, standard_error, dof, bar), p_adjusted in zip(members, adjusted):
            result.p_adjusted = p_adjusted
            higher = result.direction == HIGHER_IS_WORSE
            result.detectable_pct = _detectable_pct(result, comparison, standard_error, dof, bar,
                                                    alpha / len(members))
            if not _practically_worse(result, higher, bar) or p_adjusted > alpha:
                continue
            result.outcome = "breach+regression" if result.outcome == "breach" else "regression"
            borderline = p_adjusted > statistics.borderline_p
            change = (f"{_figure(result.baseline, result.unit)} -> {_figure(result.value, result.unit)}"
                      + (f" ({result.change_pct:+.0f}%)" if result.change_pct is not None else ""))
            quarantine_note = " (quarantined: reported, never fails)" if comparison.quarantined else ""
            findings.append(Finding(family, "regression", comparison.endpoint, result.metric,
                                    f"{comparison.endpoint} {result.metric} regressed {change}, "
                                    f"p={p_adjusted:.2g} after {statistics.correction} correction"
                                    f"{' (borderline)' if borderline else ''}{quarantine_note}",
                                    borderline=borderline))
    return sizes


def _detectable_pct(result: MetricComparison, comparison: EndpointComparison, standard_error: float, dof: float,
                    bar: float, alpha_per_test: float) -> float | None:
    """The smallest regression this run could have flagged: the larger of the practical bar and the
    statistical one (at the Bonferroni level, which bounds the first step of Holm)."""
    base = result.baseline
    if not base:
        return None
    practical = bar / base * 100.0
    if result.metric == "failure_ratio":
        failures = int(scipy_stats.binom.isf(alpha_per_test, comparison.num_requests, base))
        statistical = ((failures + 1) / comparison.num_requests / base - 1.0) * 100.0
        return max(practical, statistical)
    shift = detectable_log_shift(standard_error, dof, alpha_per_test)
    statistical = ((math.exp(shift) - 1.0) * 100.0 if result.direction == HIGHER_IS_WORSE
                   else (1.0 - math.exp(-shift)) * 100.0)
    return max(practical, statistical)


def _suspicious_improvement(result: MetricComparison, metric_policy: MetricPolicy, factor: float, name: str,
                            findings: list[Finding]) -> None:
    if result.metric == "failure_ratio" or not result.value or not result.baseline:
        return
    better = (result.baseline / result.value if metric_policy.direction == HIGHER_IS_WORSE
              else result.value / result.baseline)
    if better >= factor:
        if result.outcome == "ok":
            result.outcome = "suspicious_improvement"
        findings.append(Finding("warn", "suspicious_improvement", name, result.metric,
                                f"{name} {result.metric} is {better:.1f}x better than the baseline "
                                f"({_figure(result.baseline, result.unit)} -> {_figure(result.value, result.unit)}): "
                                "did the test stop doing the work (cache, error page, skipped step)?"))


def _error_classes(record: EndpointRecord, past: list[EndpointRecord], have_baseline: bool) -> list[dict]:
    known = {error for r in past for error in r.errors}
    return [
        {"error": error, "occurrences": count, "new": have_baseline and error not in known}
        for error, count in sorted(record.errors.items(), key=lambda item: -item[1])
    ]


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:.2f} {unit}"
