"""Distribution statistics over Locust's bucketed histograms, and the building blocks of the noise model.

Plain functions over plain data (numpy arrays and floats). Latency and throughput are compared on a
log scale: run-to-run swings on shared machines are multiplicative, and a ratio is what a user reads.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from math import log

import numpy as np
from scipy import special

from gate.read.histogram import SMALLEST_MS, Histogram, bucket_width, bucket_widths, continuous_percentile


@functools.lru_cache(maxsize=8192)
def percentile_log_variance(histogram: Histogram, quantile: float) -> float:
    """Sampling variance of log(percentile) within one run: the Maritz-Jarrett estimate.

    The rank of the order statistic that estimates a quantile is Beta-distributed; weighting the
    (interpolated) order statistics by that law gives the estimator's variance without assuming any
    shape for the latency distribution. Few requests in the tail (p99 of 40 requests is the maximum)
    make it optimistic, so it is inflated there; and it never goes below a tenth of a bucket.
    """
    n = histogram.total
    rank = min(max(int(quantile * n + 0.5), 1), n)
    reach = 10.0 * math.sqrt(n * quantile * (1.0 - quantile)) + 5.0
    low, high = max(int(rank - reach), 0), min(int(rank + reach), n)
    weights = np.diff(special.betainc(rank, n - rank + 1, np.arange(low, high + 1) / n))  # Beta CDF
    order_statistics = continuous_percentile(histogram, (np.arange(low, high) + 0.5) / n)
    logs = np.log(np.maximum(order_statistics, SMALLEST_MS))
    weights = weights / weights.sum()
    mean = float(weights @ logs)
    variance = max(float(weights @ (logs - mean) ** 2), 0.0)
    variance *= 1.0 + 2.0 / (1.0 + n * min(quantile, 1.0 - quantile))
    centre = max(math.exp(mean), SMALLEST_MS)
    return max(variance, (bucket_width(centre) / centre / 10.0) ** 2)


# The trimmed mean of log response time: a tenth of the requests cut at each end.
TRIM = 0.10


@functools.lru_cache(maxsize=8192)
def trimmed_log_mean(histogram: Histogram, trim: float = TRIM) -> tuple[float, float]:
    """The trimmed mean of log(response time) within one run, and its sampling variance.

    Where a run's whole distribution moved, its location is measured far better by a mean than by a
    median: on Locust's whole-millisecond buckets a 5-ms endpoint's median jumps a fifth at a time,
    while a mean of its requests moves smoothly. Trimming keeps one stray request from moving it.
    The variance is Tukey and McLaughlin's (the winsorized variance over n (1 - 2 trim)^2), never
    below what rounding to Locust's buckets adds (a uniform error of one bucket's width).
    """
    n = histogram.total
    logs = np.log(np.maximum(histogram.values, SMALLEST_MS))
    counts = histogram.counts.astype(float)
    above = np.cumsum(counts)
    below = above - counts
    low, high = trim * n, (1.0 - trim) * n
    kept = np.clip(np.minimum(above, high) - np.maximum(below, low), 0.0, None)
    if kept.sum() <= 0:  # too few requests to trim: the plain mean
        kept = counts
    mean = float(kept @ logs / kept.sum())
    edges = np.searchsorted(above, [low, high], side="right").clip(0, len(logs) - 1)
    winsorized = np.clip(logs, logs[edges[0]], logs[edges[1]])
    spread = float(counts @ (winsorized - counts @ winsorized / n) ** 2) / max(n - 1, 1)
    rounding = float(counts @ (bucket_widths(histogram.values) / np.maximum(histogram.values, SMALLEST_MS)) ** 2) \
        / (12.0 * n)
    return mean, max(spread / (n * (1.0 - 2.0 * trim) ** 2), rounding / n)


def throughput_log_variance(num_requests: int) -> float:
    """Poisson counting noise of log(requests per second)."""
    return 1.0 / max(num_requests, 1)


@dataclass(frozen=True)
class Spread:
    """Between-run variance of a metric (log scale) and the degrees of freedom it rests on."""

    variance: float
    dof: float
    measured: bool


def between_run_variance(run_logs: np.ndarray, within_variances: np.ndarray) -> tuple[float, int]:
    """Between-run variance of one endpoint's metric over the baseline runs, net of sampling noise.

    Returns (variance, degrees of freedom); with fewer than two runs nothing is measured (0, 0).
    """
    runs = len(run_logs)
    if runs < 2:
        return 0.0, 0
    observed = float(np.var(run_logs, ddof=1))
    return max(observed - float(np.mean(within_variances)), 0.0), runs - 1


def pooled_spread(estimates: list[tuple[float, int]]) -> tuple[float, int]:
    """Pools (variance, dof) estimates of several endpoints into one.

    Robust: the median of the estimates, scaled by the median of a chi-square with their degrees of
    freedom (so it estimates the mean); one endpoint whose runs differ wildly does not set the noise of
    all. With fewer than three estimates (or unequal dof), the dof-weighted mean.
    """
    estimates = [(v, d) for v, d in estimates if d > 0]
    dof = sum(d for _, d in estimates)
    if dof == 0:
        return 0.0, 0
    dofs = {d for _, d in estimates}
    if len(estimates) >= 3 and len(dofs) == 1:
        each = dofs.pop()
        median_of_chi_square = float(special.chdtri(each, 0.5)) / each
        return float(np.median([v for v, _ in estimates])) / median_of_chi_square, dof
    return sum(v * d for v, d in estimates) / dof, dof


def shrunk_spread(
    own: tuple[float, int],
    pooled: tuple[float, int],
    prior_runs: float,
    assumed_cv: float,
    minimum_cv: float,
) -> Spread:
    """One endpoint's between-run variance, shrunk toward the run-wide pooled estimate.

    Three baseline runs give two degrees of freedom: alone, that estimate is too often tiny by
    chance and would raise false alarms. Borrowing `prior_runs` pseudo-runs from the pooled
    estimate (measured on the same baseline) steadies it. With no measured spread at all (one-run
    baselines), `assumed_cv` stands in, and the verdict says so.
    """
    own_variance, own_dof = own
    pooled_variance, pooled_dof = pooled
    floor_variance = log(1.0 + minimum_cv) ** 2
    if pooled_dof == 0:
        return Spread(variance=max(log(1.0 + assumed_cv) ** 2, floor_variance), dof=4.0, measured=False)
    prior_dof = min(prior_runs, pooled_dof)
    dof = prior_dof + own_dof
    variance = (prior_dof * pooled_variance + own_dof * own_variance) / dof
    return Spread(variance=max(variance, floor_variance), dof=float(dof), measured=True)


def detectable_log_shift(standard_error: float, dof: float, alpha_per_test: float) -> float:
    """Smallest shift (log scale) that this comparison flags as significant at `alpha_per_test`."""
    return float(-special.stdtrit(dof, alpha_per_test) * standard_error)


def upper_tail_p(statistic: float, dof: float) -> float:
    """P(T >= statistic) for Student's t with `dof` degrees of freedom."""
    return float(special.stdtr(dof, -statistic))


def failures_to_flag(alpha: float, requests: int, rate: float) -> int:
    """The fewest failures in `requests` that a one-sided binomial test at `alpha` flags against `rate`."""
    counts = np.arange(requests + 1)
    at_least = np.where(counts > 0, special.bdtrc(np.maximum(counts - 1, 0), requests, rate), 1.0)
    flagged = np.nonzero(at_least <= alpha)[0]
    return int(flagged[0]) if len(flagged) else requests + 1


def failure_ratio_p_value(run_failures: int, run_requests: int, baseline_failures: int,
                          baseline_requests: int) -> float:
    """One-sided binomial test: does this run fail more often than the baseline runs did?

    The baseline rate gets half a failure of continuity so that a clean baseline is not a rate of 0.
    """
    if run_requests == 0:
        return 1.0
    rate = (baseline_failures + 0.5) / (baseline_requests + 1.0)
    if run_failures == 0:
        return 1.0
    return float(special.bdtrc(run_failures - 1, run_requests, rate))  # P(X >= run_failures)


def adjust_p_values(p_values: list[float], method: str) -> list[float]:
    """Adjusts a family of p-values so the false-alarm rate holds across the family.

    holm: family-wise error rate (the chance that an unchanged run raises any alarm) - what a
    required check needs. bh: false discovery rate (Benjamini-Hochberg, via scipy), more power
    when several endpoints really moved.
    """
    if not p_values:
        return []
    values = np.asarray(p_values, dtype=float)
    if method == "bh":
        from scipy.stats import false_discovery_control  # imported here: scipy.stats costs a second to load

        return [float(v) for v in false_discovery_control(values, method="bh")]
    order = np.argsort(values)
    count = len(values)
    stepped = np.maximum.accumulate(values[order] * (count - np.arange(count)))
    adjusted = np.empty(count)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]
