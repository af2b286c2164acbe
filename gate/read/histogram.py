"""Locust's response-time histogram, as Locust records it: response times rounded to about two
significant digits (`locust.stats.bucket_response_time`: 147 -> 150, 3432 -> 3400) and counted per
bucket. The facts every part of the bundle shares: bucket rounding and width, Locust's own
percentile (the figure report.html shows) and the percentile interpolated within buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import floor, log

import numpy as np

# Locust reports 0 ms for sub-millisecond responses; a log scale needs a positive value, and half
# the smallest bucket is the honest stand-in.
SMALLEST_MS = 0.5
# Locust's bucket widths: below each bound (ms), the width of a bucket; beyond the last, BEYOND_WIDTH_MS.
BUCKET_WIDTHS_MS = ((100.0, 1.0), (1000.0, 10.0), (10000.0, 100.0))
BEYOND_WIDTH_MS = 1000.0


def bucket_widths(ms: np.ndarray | float) -> np.ndarray:
    """Width of Locust's bucket around each response time (ms), element-wise."""
    ms = np.asarray(ms, dtype=float)
    return np.select([ms < bound for bound, _ in BUCKET_WIDTHS_MS], [width for _, width in BUCKET_WIDTHS_MS],
                     BEYOND_WIDTH_MS)


def bucket_width(ms: float) -> float:
    """Width of Locust's response-time bucket around `ms` (it keeps about two significant digits)."""
    return float(bucket_widths(ms))


def locust_buckets(ms: np.ndarray) -> np.ndarray:
    """Response times rounded as Locust rounds them into its histogram's keys."""
    width = bucket_widths(ms)
    return np.round(np.asarray(ms, dtype=float) / width) * width


def log_ms(ms: float) -> float:
    return log(max(ms, SMALLEST_MS))


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the noise model caches per histogram
class Histogram:
    """Response times (ms, bucket centres, ascending, unique) and how many requests fell in each."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def histogram_from_buckets(buckets: dict[float, int]) -> Histogram:
    """Builds a histogram from {response time ms: count}; empty buckets are dropped."""
    items = sorted((float(value), int(count)) for value, count in buckets.items() if count > 0)
    values = np.array([value for value, _ in items], dtype=float)
    counts = np.array([count for _, count in items], dtype=np.int64)
    return Histogram(values=values, counts=counts)


def merge_histograms(histograms: list[Histogram]) -> Histogram:
    buckets: dict[float, int] = {}
    for histogram in histograms:
        for value, count in zip(histogram.values.tolist(), histogram.counts.tolist()):
            buckets[value] = buckets.get(value, 0) + count
    return histogram_from_buckets(buckets)


def order_statistic(histogram: Histogram, rank: int) -> float:
    """The value of the `rank`-th smallest request (0-based), clipped to the histogram."""
    cumulative = np.cumsum(histogram.counts)
    rank = min(max(int(rank), 0), int(cumulative[-1]) - 1)
    return float(histogram.values[int(np.searchsorted(cumulative, rank, side="right"))])


def percentile(histogram: Histogram, quantile: float) -> float:
    """The percentile as Locust's own report computes it (so the numbers match report.html)."""
    if histogram.total == 0:
        raise ValueError("percentile of an empty histogram")
    return order_statistic(histogram, floor(histogram.total * quantile))


def bucket_edges(histogram: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges of each bucket: Locust's rounding interval, never overlapping the previous."""
    widths = bucket_widths(histogram.values)
    upper = histogram.values + widths / 2.0
    lower = np.maximum(histogram.values - widths / 2.0, 0.0)
    lower[1:] = np.maximum(lower[1:], upper[:-1])
    return lower, np.maximum(upper, lower)


def continuous_percentile(histogram: Histogram, quantile: float | np.ndarray) -> float | np.ndarray:
    """The percentile with requests spread evenly inside their buckets.

    Locust's own figure jumps a whole bucket (10 ms at 150 ms) when one request crosses it; the
    interpolated one moves smoothly, so the comparison is not dominated by rounding.
    """
    if histogram.total == 0:
        raise ValueError("percentile of an empty histogram")
    lower, upper = bucket_edges(histogram)
    cumulative = np.concatenate([[0], np.cumsum(histogram.counts)])
    rank = np.clip(np.asarray(quantile, dtype=float) * histogram.total, 0, histogram.total)
    index = np.clip(np.searchsorted(cumulative, rank, side="right") - 1, 0, len(histogram.counts) - 1)
    within = (rank - cumulative[index]) / histogram.counts[index]
    value = lower[index] + np.clip(within, 0.0, 1.0) * (upper[index] - lower[index])
    return float(value) if np.ndim(value) == 0 else value
