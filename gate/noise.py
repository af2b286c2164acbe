"""The noise model of latency and throughput: how far a metric moves, for unchanged code, within a
run (sampling, from the histograms) and between runs (from the baseline's runs), net of the run-wide
shift that a faster or slower machine gives every endpoint at once.

Shared runners swing 10-50% from run to run, mostly for every endpoint together. Each run's
run-wide shift is the median, over its endpoints, of their log deviation from the baseline; per-endpoint
comparisons are made net of it, so a slower runner does not look like thirty regressions while one
endpoint that moved against the others still stands out. The shift itself is reported (and fails
the run only beyond the policy's run_shift_fail_pct).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gate.policy import LATENCY_METRICS, Statistics
from gate.run import AGGREGATED, EndpointRecord
from gate.statistics import (
    Spread,
    between_run_variance,
    continuous_percentile,
    log_ms,
    percentile_log_variance,
    pooled_spread,
    shrunk_spread,
    throughput_log_variance,
)

LOG_METRICS = (*LATENCY_METRICS, "throughput")
# Fewer endpoints than this: no run-wide shift is estimated (a median of two is not robust).
MIN_ENDPOINTS_FOR_SHIFT = 3


@dataclass(frozen=True)
class Observation:
    """One metric of one endpoint in one run, on a log scale, with its sampling variance."""

    log: float
    variance: float


@dataclass(frozen=True)
class EndpointNoise:
    centre: float  # the baseline runs' mean, net of each run's run-wide shift
    within: float  # mean sampling variance of the baseline runs
    runs: int
    spread: Spread  # between-run variance, net of the run-wide shift


@dataclass(frozen=True)
class MetricNoise:
    metric: str
    endpoints: dict[str, EndpointNoise]
    run_shift: float  # this run's run-wide shift (log scale); 0 when not estimated
    run_shift_variance: float
    baseline_shifts: tuple[float, ...]
    normalised: bool

    def deviation(self, endpoint: str, observation: Observation) -> tuple[float, float, float] | None:
        """(log deviation from the baseline net of the run-wide shift, its variance, degrees of freedom)."""
        noise = self.endpoints.get(endpoint)
        if noise is None:
            return None
        deviation = observation.log - self.run_shift - noise.centre
        variance = (noise.spread.variance * (1.0 + 1.0 / noise.runs) + observation.variance
                    + noise.within / noise.runs + self.run_shift_variance)
        return deviation, variance, noise.spread.dof

    def expected(self, endpoint: str) -> float | None:
        """What the baseline predicts for this run (ms or req/s), given the run-wide shift. Latencies are
        interpolated percentiles (see statistics.continuous_percentile), not Locust's bucket values."""
        noise = self.endpoints.get(endpoint)
        return None if noise is None else math.exp(noise.centre + self.run_shift)


def observe(metric: str, record: EndpointRecord, duration_s: float) -> Observation | None:
    if metric in LATENCY_METRICS:
        if record.histogram.total == 0:
            return None
        quantile = LATENCY_METRICS[metric]
        return Observation(log_ms(continuous_percentile(record.histogram, quantile)),
                           percentile_log_variance(record.histogram, quantile))
    if record.num_requests == 0:
        return None
    return Observation(math.log(record.num_requests / duration_s), throughput_log_variance(record.num_requests))


def metric_noise(metric: str, history: list[tuple[dict[str, EndpointRecord], float]],
                 current: dict[str, EndpointRecord], duration_s: float, statistics: Statistics) -> MetricNoise:
    """The noise model of one metric from the baseline runs (records, duration) and this run."""
    observed: dict[str, list[tuple[int, Observation]]] = {}
    for index, (records, seconds) in enumerate(history):
        for name, record in records.items():
            observation = observe(metric, record, seconds)
            if observation is not None:
                observed.setdefault(name, []).append((index, observation))
    raw_centres = {name: float(np.mean([o.log for _, o in runs])) for name, runs in observed.items()}
    normalise = statistics.run_shift_normalisation
    baseline_shifts = [
        _median_shift({name: runs for name, runs in observed.items()}, raw_centres, index) if normalise else 0.0
        for index in range(len(history))
    ]
    endpoints: dict[str, EndpointNoise] = {}
    estimates: dict[str, tuple[float, int]] = {}
    for name, runs in observed.items():
        logs = np.array([o.log - baseline_shifts[index] for index, o in runs])
        variances = np.array([o.variance for _, o in runs])
        estimates[name] = between_run_variance(logs, variances)
        endpoints[name] = EndpointNoise(float(np.mean(logs)), float(np.mean(variances)), len(runs),
                                        Spread(0.0, 0.0, False))
    pooled = pooled_spread([estimate for name, estimate in estimates.items() if name != AGGREGATED])
    for name, noise in endpoints.items():
        spread = shrunk_spread(estimates[name], pooled, statistics.prior_runs, statistics.assumed_between_run_cv,
                               statistics.minimum_between_run_cv)
        endpoints[name] = EndpointNoise(noise.centre, noise.within, noise.runs, spread)

    run_shift, run_shift_variance = 0.0, 0.0
    if normalise:
        deviations, variances = [], []
        for name, record in current.items():
            noise = endpoints.get(name)
            observation = observe(metric, record, duration_s)
            if name == AGGREGATED or noise is None or observation is None:
                continue
            deviations.append(observation.log - noise.centre)
            variances.append(noise.spread.variance + observation.variance)
        if len(deviations) >= MIN_ENDPOINTS_FOR_SHIFT:
            run_shift = float(np.median(deviations))
            # the sampling variance of a median is about pi/2 times that of a mean
            run_shift_variance = math.pi / 2.0 * float(np.mean(variances)) / len(deviations)
    return MetricNoise(metric, endpoints, run_shift, run_shift_variance, tuple(baseline_shifts), normalise)


def _median_shift(observed: dict[str, list[tuple[int, Observation]]], centres: dict[str, float],
                  index: int) -> float:
    deviations = [o.log - centres[name] for name, runs in observed.items() if name != AGGREGATED
                  for run_index, o in runs if run_index == index]
    return float(np.median(deviations)) if len(deviations) >= MIN_ENDPOINTS_FOR_SHIFT else 0.0
