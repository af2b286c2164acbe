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
from dataclasses import dataclass, replace

import numpy as np

from gate.judge.statistics import (
    Spread,
    between_run_variance,
    percentile_log_variance,
    pooled_spread,
    shrunk_spread,
    throughput_log_variance,
    trimmed_log_mean,
)
from gate.read.histogram import continuous_percentile, log_ms
from gate.read.policy import LATENCY_METRICS, Statistics
from gate.read.run import AGGREGATED, EndpointRecord

LOG_METRICS = (*LATENCY_METRICS, "throughput")
# Every quantile with a noise model: the policy's percentiles and the distribution test's own.
QUANTILES = {**LATENCY_METRICS, "q75": 0.75, "q90": 0.90}
# The trimmed mean of log response time (statistics.trimmed_log_mean) has a noise model too.
TRIMMED_MEAN = "tmean"
# Fewer endpoints than this: no run-wide shift is estimated (a median of two is not robust).
MIN_ENDPOINTS_FOR_SHIFT = 3
# Only endpoints with at least this many requests in a run inform the run-wide shift and the pooled
# spread: a p95 of 6 requests says little about the machine.
MIN_REQUESTS_FOR_POOL = 20
# An endpoint is compared net of the run-wide shift only if that removes three quarters of its
# between-run spread (a looser margin misclassified a steady endpoint on real runs and blinded its test).
MOVER_MARGIN = 0.25
# A baseline whose runs' run-wide shifts spread less than this (log scale: about 5%) was recorded on a
# steady machine: it cannot tell which endpoints follow the machine. Then every endpoint is taken to
# follow it, as CPU-bound work does; judging them as they are would call a slower runner a regression
# of every CPU-bound endpoint.
STEADY_SHIFT_SPREAD = math.log(1.05)


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
    spread: Spread  # between-run variance (net of the run-wide shift when normalised)
    normalised: bool = False  # compared net of the run-wide shift


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
        shift, shift_variance = (self.run_shift, self.run_shift_variance) if noise.normalised else (0.0, 0.0)
        deviation = observation.log - shift - noise.centre
        variance = (noise.spread.variance * (1.0 + 1.0 / noise.runs) + observation.variance
                    + noise.within / noise.runs + shift_variance)
        return deviation, variance, noise.spread.dof

    def expected(self, endpoint: str) -> float | None:
        """What the baseline predicts for this run (ms or req/s), given the run-wide shift. Latencies are
        interpolated percentiles (see histogram.continuous_percentile), not Locust's bucket values."""
        noise = self.endpoints.get(endpoint)
        if noise is None:
            return None
        return math.exp(noise.centre + (self.run_shift if noise.normalised else 0.0))


def observe(metric: str, record: EndpointRecord, duration_s: float) -> Observation | None:
    if metric == TRIMMED_MEAN:
        return Observation(*trimmed_log_mean(record.histogram)) if record.histogram.total else None
    if metric in QUANTILES:
        if record.histogram.total == 0:
            return None
        quantile = QUANTILES[metric]
        return Observation(log_ms(continuous_percentile(record.histogram, quantile)),
                           percentile_log_variance(record.histogram, quantile))
    if record.num_requests == 0:
        return None
    return Observation(math.log(record.num_requests / duration_s), throughput_log_variance(record.num_requests))


def _observations(metric: str, history: list[tuple[dict[str, EndpointRecord], float]]
                  ) -> tuple[dict[str, list[tuple[int, Observation]]], dict[str, bool]]:
    """Each endpoint's observations over the baseline runs, and whether it may inform pooled figures
    (enough requests in every run)."""
    observed: dict[str, list[tuple[int, Observation]]] = {}
    informative: dict[str, bool] = {}
    for index, (records, seconds) in enumerate(history):
        for name, record in records.items():
            observation = observe(metric, record, seconds)
            if observation is not None:
                observed.setdefault(name, []).append((index, observation))
                informative[name] = informative.get(name, True) and record.num_requests >= MIN_REQUESTS_FOR_POOL
    informative = {name: flag and len(observed[name]) == len(history) and name != AGGREGATED
                   for name, flag in informative.items()}
    return observed, informative


def _spread_estimate(runs: list[tuple[int, Observation]], run_shifts: list[float]) -> tuple[float, int]:
    return between_run_variance(np.array([o.log - run_shifts[index] for index, o in runs]),
                                np.array([o.variance for _, o in runs]))


def _shifts(observed: dict[str, list[tuple[int, Observation]]], members: set[str], runs: int) -> list[float]:
    centres = {name: float(np.mean([o.log for _, o in observed[name]])) for name in members}
    return [_median_shift({name: observed[name] for name in members}, centres, index) for index in range(runs)]


def endpoints_that_move_together(history: list[tuple[dict[str, EndpointRecord], float]],
                                 statistics: Statistics) -> set[str]:
    """The endpoints whose baseline runs agree much better net of the run-wide shift than as they are.

    Not every endpoint moves with the machine: a CPU-bound one swings with the runner's load, one that
    waits on a fixed upstream delay hardly does. Decided once per endpoint on the baseline alone (never
    on the run being judged), over p50, p95 and p99 together so the choice rests on three times the
    evidence, and only when normalising removes three quarters of the spread: choosing the smaller of
    two noisy estimates would otherwise understate the noise. A baseline recorded on a steady machine
    (its runs' shifts within STEADY_SHIFT_SPREAD) cannot tell: then every endpoint follows the machine.
    """
    if not statistics.run_shift_normalisation or len(history) < 2:
        return set()
    raw: dict[str, float] = {}
    net: dict[str, float] = {}
    informative_all: dict[str, bool] = {}
    shift_spread = 0.0
    for metric in LATENCY_METRICS:
        observed, informative = _observations(metric, history)
        trial = _shifts(observed, {name for name, flag in informative.items() if flag}, len(history))
        shift_spread = max(shift_spread, float(np.std(trial, ddof=1)))
        zero = [0.0] * len(history)
        for name, runs in observed.items():
            raw[name] = raw.get(name, 0.0) + _spread_estimate(runs, zero)[0]
            net[name] = net.get(name, 0.0) + _spread_estimate(runs, trial)[0]
            informative_all[name] = informative_all.get(name, True) and informative[name]
    if shift_spread < STEADY_SHIFT_SPREAD and sum(informative_all.values()) >= MIN_ENDPOINTS_FOR_SHIFT:
        return {name for name in raw if name != AGGREGATED}  # a steady baseline: all follow the machine
    movers = {name for name in raw if net[name] <= MOVER_MARGIN * raw[name] and raw[name] > 0}
    informative_movers = {name for name in movers if informative_all.get(name)}
    if len(informative_movers) < MIN_ENDPOINTS_FOR_SHIFT:
        return set()
    # endpoints too thin to tell follow the majority of those that can
    majority = 2 * len(informative_movers) > sum(informative_all.values())
    return {name for name in raw if name != AGGREGATED
            and (name in movers if informative_all.get(name) else majority)}


def metric_noise(metric: str, history: list[tuple[dict[str, EndpointRecord], float]],
                 current: dict[str, EndpointRecord], duration_s: float, statistics: Statistics,
                 movers: set[str] | None = None) -> MetricNoise:
    """The noise model of one metric from the baseline runs (records, duration) and this run.

    `movers` (default: endpoints_that_move_together) are compared net of the run-wide shift, which is
    measured on them; the others as they are. Each group's spread is pooled within the group.
    """
    if movers is None:
        movers = endpoints_that_move_together(history, statistics)
    observed, informative = _observations(metric, history)
    raw_centres = {name: float(np.mean([o.log for _, o in runs])) for name, runs in observed.items()}
    normalised = {name for name in movers if name in observed}
    zero = [0.0] * len(history)
    if len({name for name in normalised if informative[name]}) < MIN_ENDPOINTS_FOR_SHIFT:
        normalised = set()
    baseline_shifts = _shifts(observed, {name for name in normalised if informative[name]}, len(history)) \
        if normalised else zero
    estimates = {name: _spread_estimate(runs, baseline_shifts if name in normalised else zero)
                 for name, runs in observed.items()}
    pools = {group: pooled_spread([estimates[name] for name in observed
                                   if informative[name] and (name in normalised) == group])
             for group in (True, False)}

    def spread_of(name: str, group: bool, estimate: tuple[float, int]) -> Spread:
        pool = pools[group] if pools[group][1] else pools[not group]  # a group of one borrows
        return shrunk_spread(estimate, pool, statistics.prior_runs, statistics.assumed_between_run_cv,
                             statistics.minimum_between_run_cv)

    endpoints: dict[str, EndpointNoise] = {}
    for name, runs in observed.items():
        run_shifts = baseline_shifts if name in normalised else zero
        endpoints[name] = EndpointNoise(
            centre=float(np.mean([o.log - run_shifts[index] for index, o in runs])),
            within=float(np.mean([o.variance for _, o in runs])),
            runs=len(runs),
            spread=spread_of(name, name in normalised, estimates[name]),
            normalised=name in normalised,
        )

    run_shift, run_shift_variance = 0.0, 0.0
    if normalised:
        deviations, variances = [], []
        for name, record in current.items():
            noise = endpoints.get(name)
            observation = observe(metric, record, duration_s)
            if (name not in normalised or not informative.get(name) or observation is None
                    or record.num_requests < MIN_REQUESTS_FOR_POOL):
                continue
            deviations.append(observation.log - noise.centre)
            variances.append(noise.spread.variance + observation.variance)
        if len(deviations) >= MIN_ENDPOINTS_FOR_SHIFT:
            run_shift = float(np.median(deviations))
            # the sampling variance of a median is about pi/2 times that of a mean
            run_shift_variance = math.pi / 2.0 * float(np.mean(variances)) / len(deviations)
        else:  # this run lacks the endpoints that measure the shift: compare everything as it is
            endpoints = {name: replace(noise, centre=raw_centres[name], normalised=False,
                                       spread=spread_of(name, False, _spread_estimate(observed[name], zero)))
                         for name, noise in endpoints.items()}
            baseline_shifts = zero
    return MetricNoise(metric, endpoints, run_shift, run_shift_variance, tuple(baseline_shifts),
                       any(noise.normalised for noise in endpoints.values()))


def _median_shift(observed: dict[str, list[tuple[int, Observation]]], centres: dict[str, float],
                  index: int) -> float:
    deviations = [o.log - centres[name] for name, runs in observed.items() if name != AGGREGATED
                  for run_index, o in runs if run_index == index]
    return float(np.median(deviations)) if len(deviations) >= MIN_ENDPOINTS_FOR_SHIFT else 0.0
