"""The statistics of the gate: Locust-compatible percentiles, their sampling spread, the between-run
spread, multiple-testing corrections and the run-wide shift of the noise model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from gate.judge.noise import metric_noise
from gate.judge.statistics import (
    adjust_p_values,
    between_run_variance,
    failure_ratio_p_value,
    percentile_log_variance,
    shrunk_spread,
)
from gate.read.histogram import (
    bucket_width,
    continuous_percentile,
    histogram_from_buckets,
    locust_buckets,
    percentile,
)
from gate.read.policy import Statistics
from gate.read.run import EndpointRecord


def locust_percentile(response_times: dict[float, int], num_requests: int, percent: float) -> float:
    """Locust 2.x stats.calculate_response_time_percentile, verbatim in substance."""
    num_of_request = int(num_requests * percent)
    processed_count = 0
    for response_time in sorted(response_times.keys(), reverse=True):
        processed_count += response_times[response_time]
        if num_requests - processed_count <= num_of_request:
            return response_time
    return 0


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 20000).map(float), st.integers(1, 500), min_size=1, max_size=40),
       st.sampled_from([0.5, 0.66, 0.9, 0.95, 0.99, 0.999]))
def test_percentile_matches_locusts_own_report(buckets, quantile):
    histogram = histogram_from_buckets(buckets)
    assert percentile(histogram, quantile) == locust_percentile(buckets, histogram.total, quantile)


def test_locust_buckets_keep_two_significant_digits():
    assert locust_buckets(np.array([47.4, 147.0, 3432.0, 12345.0])).tolist() == [47.0, 150.0, 3400.0, 12000.0]
    assert [bucket_width(v) for v in (41, 150, 3400, 12000)] == [1.0, 10.0, 100.0, 1000.0]


def _lognormal_histogram(n: int, seed: int = 1, median: float = 120.0, sigma: float = 0.3):
    samples = locust_buckets(median * np.exp(np.random.default_rng(seed).normal(0, sigma, n)))
    values, counts = np.unique(samples, return_counts=True)
    return histogram_from_buckets(dict(zip(values.tolist(), counts.tolist())))


def test_percentile_spread_shrinks_with_the_square_root_of_the_sample():
    small = np.mean([percentile_log_variance(_lognormal_histogram(400, seed), 0.95) for seed in range(10)])
    large = np.mean([percentile_log_variance(_lognormal_histogram(6400, seed), 0.95) for seed in range(10)])
    assert 3.0 < math.sqrt(small / large) < 5.0  # about 4 for 16x the requests


@pytest.mark.parametrize("requests", [40, 300, 3000])
@pytest.mark.parametrize("quantile", [0.5, 0.95, 0.99])
def test_percentile_spread_matches_the_spread_of_repeated_runs(requests, quantile):
    """The within-run model must neither over- nor under-state what repeated sampling shows."""
    runs = [_lognormal_histogram(requests, seed) for seed in range(300)]
    observed = np.var([math.log(continuous_percentile(run, quantile)) for run in runs])
    modelled = np.mean([percentile_log_variance(run, quantile) for run in runs])
    assert 0.8 < modelled / observed < 2.0


def test_interpolated_percentile_stays_inside_locusts_bucket():
    histogram = histogram_from_buckets({140.0: 50, 150.0: 50})
    assert continuous_percentile(histogram, 0.5) == pytest.approx(145.0)
    assert 145.0 <= continuous_percentile(histogram, 0.95) <= 155.0
    assert percentile(histogram, 0.95) == 150.0


def test_a_histogram_in_one_bucket_still_has_the_buckets_uncertainty():
    one_bucket = histogram_from_buckets({150.0: 10_000})
    assert percentile_log_variance(one_bucket, 0.95) >= (10 / 155 / 10) ** 2  # p95 lies near 155


def test_holm_controls_the_family_and_bh_is_scipys():
    assert adjust_p_values([0.01, 0.04, 0.03, 0.005], "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    values = [0.01, 0.04, 0.03, 0.005, 0.5]
    assert adjust_p_values(values, "bh") == pytest.approx(list(scipy_stats.false_discovery_control(values)))
    assert adjust_p_values([], "holm") == []


def test_between_run_variance_is_net_of_sampling_noise():
    logs = np.log([100.0, 110.0, 90.0])
    raw = float(np.var(logs, ddof=1))
    assert between_run_variance(logs, np.array([0.001] * 3)) == (pytest.approx(raw - 0.001), 2)
    assert between_run_variance(logs, np.array([1.0] * 3)) == (0.0, 2)
    assert between_run_variance(logs[:1], np.array([0.0])) == (0.0, 0)


def test_spread_of_a_single_run_baseline_is_assumed_and_says_so():
    spread = shrunk_spread((0.0, 0), (0.0, 0), prior_runs=10, assumed_cv=0.10, minimum_cv=0.02)
    assert not spread.measured and spread.variance == pytest.approx(math.log(1.1) ** 2)
    measured = shrunk_spread((0.04, 2), (0.01, 20), prior_runs=10, assumed_cv=0.10, minimum_cv=0.02)
    assert measured.measured and measured.dof == 12
    assert measured.variance == pytest.approx((10 * 0.01 + 2 * 0.04) / 12)
    steady = shrunk_spread((0.0, 2), (0.0, 20), prior_runs=10, assumed_cv=0.10, minimum_cv=0.02)
    assert steady.variance == pytest.approx(math.log(1.02) ** 2)


def test_failure_ratio_test_flags_a_real_rise_only():
    assert failure_ratio_p_value(0, 100, 0, 300) == 1.0
    assert failure_ratio_p_value(10, 100, 0, 300) < 1e-6
    assert failure_ratio_p_value(1, 100, 3, 300) > 0.3


def _records(factors: dict[str, float], seed: int) -> dict[str, EndpointRecord]:
    records = {}
    for index, (name, factor) in enumerate(factors.items()):
        histogram = _lognormal_histogram(400, seed * 100 + index, median=100.0 * (index + 1) * factor)
        records[name] = EndpointRecord(name, histogram.total, 0, 0, histogram)
    return records


def test_the_run_wide_shift_is_taken_out_and_a_lone_mover_stands_out():
    names = [f"GET /e{i}" for i in range(8)]
    # the baseline runs were made on a slow, a normal and a fast runner: every endpoint moved together
    history = [(_records(dict.fromkeys(names, factor), seed), 60.0) for seed, factor in enumerate((0.8, 1.0, 1.25))]
    slower = dict.fromkeys(names, 1.3)
    slower["GET /e3"] = 1.3 * 1.5
    current = _records(slower, 9)
    noise = metric_noise("p95", history, current, 60.0, Statistics())
    assert all(noise.endpoints[name].normalised for name in names)
    assert noise.run_shift == pytest.approx(math.log(1.3), abs=0.06)
    from gate.judge.noise import observe

    lone, _, _ = noise.deviation("GET /e3", observe("p95", current["GET /e3"], 60.0))
    others = [noise.deviation(n, observe("p95", current[n], 60.0))[0] for n in names if n != "GET /e3"]
    assert lone == pytest.approx(math.log(1.5), abs=0.1)
    assert max(abs(d) for d in others) < 0.1
    plain = metric_noise("p95", history, current, 60.0, Statistics(run_shift_normalisation=False))
    assert plain.run_shift == 0.0
    # a baseline recorded on a steady machine cannot tell who follows the machine: all are taken to, so a
    # slower runner is the run-wide shift and not eight regressions, and the lone mover still stands out
    steady = [(_records(dict.fromkeys(names, 1.0), seed), 60.0) for seed in range(3)]
    from_steady = metric_noise("p95", steady, current, 60.0, Statistics())
    assert from_steady.normalised and from_steady.run_shift == pytest.approx(math.log(1.3), abs=0.06)
    assert from_steady.deviation("GET /e3", observe("p95", current["GET /e3"], 60.0))[0] == pytest.approx(
        math.log(1.5), abs=0.1)
