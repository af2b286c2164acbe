"""The distribution test: did an endpoint's whole response-time distribution move against its baseline?

A shift function over the trimmed mean of log response time, p90 and p95 (after Wilcox's quantile
shift, on the histogram), each under the noise model of noise.py: the between-run
spread measured over the baseline's runs (the run, not the request, is the unit), net of the run-wide
shift, plus the within-run sampling variance of the statistic. A shift of the whole distribution shows
at the trimmed mean, where it is measured best (on whole-millisecond buckets far better than by the
median); a tail-only or bimodal regression shows at p90 and p95, where a test of the centre alone is
blind. Per endpoint, three outcomes, as in Chromium Pinpoint:

- DIFFERENT: some statistic moved beyond the policy's bar (percentage and floor) and the move is
  significant: Bonferroni over the endpoint's statistics, then Holm across the run's endpoints;
- SAME: for every statistic the upper confidence bound of the change is below the bar, so a regression
  of the policy's size is excluded (an intersection-union test: each bound at the false-alarm rate);
- UNRESOLVED: neither. The reason says which statistic stays open and what would resolve it: more
  requests (this run's sampling error) or a baseline of more runs (its spread and sampling error).

Plain functions over plain data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from gate.judge.noise import TRIMMED_MEAN, MetricNoise, observe
from gate.read.run import EndpointRecord

# The statistics of the shift function, by the name their noise model goes by (see noise.observe), and
# the name a reader is shown.
SHIFT_STATISTICS = {TRIMMED_MEAN: "trimmed mean", "q90": "p90", "p95": "p95"}
SAME, DIFFERENT, UNRESOLVED = "same", "different", "unresolved"
# More requests than this many times the run's are not offered as the way to resolve an endpoint.
MOST_REQUESTS_FACTOR = 20


@dataclass(frozen=True)
class StatisticShift:
    """One statistic (a quantile or the trimmed mean) of one endpoint: this run against what the baseline
    predicts for it."""

    name: str
    value: float  # this run's figure (ms): a quantile interpolated within Locust's buckets, or the trimmed mean
    baseline: float  # the baseline runs' (geometric mean, net of their run-wide shifts; ms)
    expected: float  # the baseline's, moved by the run-wide shift when the endpoint follows it (ms)
    deviation: float  # log(value / expected)
    between: float  # the baseline's part of the deviation's variance: its runs' spread and sampling (log scale)
    within: float  # this run's sampling variance of the statistic (log scale)
    dof: float
    bar: float  # the practical bar at this statistic (ms): the policy's percentage, at least its floor
    contention: float = 0.0  # the spread a busy machine adds, in proportion to the run-wide shift (log scale)

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.between + self.within + self.contention)

    @property
    def bar_log(self) -> float:
        return math.log1p(self.bar / self.expected)

    @property
    def change_pct(self) -> float:
        return math.expm1(self.deviation) * 100.0

    def p_worse(self) -> float:
        """One-sided p-value of 'slower than the baseline' (Student t on the noise model's dof)."""
        return float(special.stdtr(self.dof, -self.deviation / self.standard_error))

    def p_better(self) -> float:
        return float(special.stdtr(self.dof, self.deviation / self.standard_error))

    def bounds_pct(self, alpha: float) -> tuple[float, float]:
        """The change's (1 - 2 alpha) two-sided interval, i.e. each bound one-sided at `alpha` (percent)."""
        half = float(-special.stdtrit(self.dof, alpha)) * self.standard_error
        return math.expm1(self.deviation - half) * 100.0, math.expm1(self.deviation + half) * 100.0


@dataclass(frozen=True)
class ShiftTest:
    """The distribution test of one endpoint before the correction across endpoints."""

    shifts: tuple[StatisticShift, ...]
    p_worse: float  # Bonferroni over the quantiles that moved beyond their bar (1 when none did)
    p_better: float
    decisive: StatisticShift  # the quantile of the smallest p-value (a regression first, then an improvement)
    spread_measured: bool = True  # False: the run-to-run spread was assumed (a one-run baseline), not measured
    # what the run-to-run part of the error is, and what else than requests would narrow it
    spread_source: str = "the baseline's own uncertainty (its runs' spread and sampling)"
    more: str = "a baseline of more runs"
    rounds: int | None = None  # paired rounds (base and head): more of them narrow every part of the error


def contention_variance(noises: dict[str, MetricNoise], shift_spread: float) -> float:
    """The spread a busy machine adds to every endpoint's comparison: `shift_spread` times the run's largest
    run-wide shift over the shift function's statistics (log scale, squared), beyond what the shift's own
    estimate could be by chance (two standard errors). A busy runner slows endpoints unequally, the more
    so the more it slows them all."""
    shift = max((abs(noises[name].run_shift) - 2.0 * math.sqrt(noises[name].run_shift_variance)
                 for name in SHIFT_STATISTICS if name in noises), default=0.0)
    return (shift_spread * max(shift, 0.0)) ** 2


def shift_function(endpoint: str, record: EndpointRecord, duration_s: float, noises: dict[str, MetricNoise],
                   pct: float, floor_ms: float, contention: float = 0.0) -> ShiftTest | None:
    """The endpoint's shift function against its baseline, or None when a statistic has no noise model
    (not in the baseline, or no requests). `contention`: see contention_variance."""
    shifts, measured = [], True
    for name in SHIFT_STATISTICS:
        noise = noises.get(name)
        observation = observe(name, record, duration_s)
        model = noise.deviation(endpoint, observation) if noise and observation else None
        if model is None:
            return None
        deviation, variance, dof = model
        expected = noise.expected(endpoint)
        baseline = math.exp(noise.endpoints[endpoint].centre)
        measured = measured and noise.endpoints[endpoint].spread.measured
        within = min(observation.variance, variance)
        shifts.append(StatisticShift(
            name=name, value=math.exp(observation.log), baseline=baseline,
            expected=expected,
            deviation=deviation, between=variance - within, within=within, dof=dof,
            bar=max(expected * pct / 100.0, floor_ms), contention=contention))
    return combine(tuple(shifts), spread_measured=measured)


def combine(shifts: tuple[StatisticShift, ...], **facts) -> ShiftTest:
    """Bonferroni over the quantiles: the endpoint's p-value is the number of quantiles times the
    smallest p-value among those that moved beyond their bar. Restricting to those only removes
    candidates, so an unchanged endpoint still flags at most at the nominal rate."""
    count = len(shifts)
    worse = [s for s in shifts if s.deviation > s.bar_log]
    better = [s for s in shifts if -s.deviation > s.bar_log]
    p_worse = min((count * s.p_worse() for s in worse), default=1.0)
    p_better = min((count * s.p_better() for s in better), default=1.0)
    decisive = min(worse, key=StatisticShift.p_worse) if worse else min(shifts, key=StatisticShift.p_better)
    return ShiftTest(shifts, min(p_worse, 1.0), min(p_better, 1.0), decisive, **facts)


def _t(dof: float, alpha: float) -> float:
    """The one-sided critical value of Student's t at `alpha`."""
    return float(-special.stdtrit(dof, alpha))


def same(test: ShiftTest, alpha: float) -> bool:
    """Is a regression of the bar's size excluded at every quantile (upper bound below the bar)?"""
    return all(s.deviation + _t(s.dof, alpha) * s.standard_error < s.bar_log for s in test.shifts)


def state(test: ShiftTest, regressed: bool, improved: bool, alpha: float) -> str:
    if regressed or improved:
        return DIFFERENT
    return SAME if same(test, alpha) else UNRESOLVED


def nearest_to_bar(test: ShiftTest, alpha: float) -> StatisticShift:
    """The quantile whose upper bound comes closest to (or furthest past) its bar: the one that decides
    between SAME and UNRESOLVED, and the one a reader is shown for either."""
    return max(test.shifts, key=lambda s: s.deviation + _t(s.dof, alpha) * s.standard_error - s.bar_log)


def detectable_pct(test: ShiftTest, alpha_per_test: float) -> float:
    """The smallest slowdown of the whole distribution that this run would have flagged: the best
    quantile's statistical reach (Bonferroni over the quantiles), never below its practical bar."""
    per_quantile = alpha_per_test / len(test.shifts)
    return min(max(math.expm1(_t(s.dof, per_quantile) * s.standard_error), s.bar / s.expected) * 100.0
               for s in test.shifts)


def unresolved_reason(test: ShiftTest, alpha: float, alpha_per_test: float, num_requests: int) -> str:
    """One line: the quantile that keeps the endpoint open, its change and interval, and what would
    resolve it: more requests when this run's sampling dominates the error, else more baseline runs."""
    shift = nearest_to_bar(test, alpha)
    low, high = shift.bounds_pct(alpha)
    bar_pct = shift.bar / shift.expected * 100.0
    text = f"{label(shift)} {shift.change_pct:+.0f}% [{low:+.0f}%, {high:+.0f}%]"
    if shift.deviation < shift.bar_log:  # SAME needs the upper bound below the bar
        text += f" cannot exclude +{bar_pct:.0f}%"
        needed = ((shift.bar_log - shift.deviation) / _t(shift.dof, alpha)) ** 2
    else:  # DIFFERENT needs the move to be significant
        text += f" is beyond +{bar_pct:.0f}% but within the noise"
        needed = (shift.deviation / _t(shift.dof, alpha_per_test / len(test.shifts))) ** 2
    if test.rounds:  # paired: each block's difference carries both parts of the error, so blocks narrow both
        factor = (shift.between + shift.within + shift.contention) / needed
        if factor > MOST_REQUESTS_FACTOR:
            return text + f": it would take over {MOST_REQUESTS_FACTOR}x the rounds ({test.rounds} now)"
        return text + f": about {2 * math.ceil(factor * test.rounds / 2)} rounds ({test.rounds} now) would resolve it"
    fixed = shift.between + shift.contention  # what more requests in this run cannot reduce
    if fixed >= needed or shift.within <= 0:
        if shift.contention >= shift.between:
            spread = math.expm1(math.sqrt(shift.contention)) * 100.0
            return (text + f": the whole run moved (the machine was busy), which leaves ±{spread:.0f}% per endpoint; "
                    "a run on a quieter runner would resolve it")
        spread = math.expm1(math.sqrt(shift.between)) * 100.0
        return text + f": {test.spread_source}, ±{spread:.0f}%, is wider than that; {test.more} would resolve it"
    factor = shift.within / (needed - fixed)
    if factor > MOST_REQUESTS_FACTOR:
        return text + f": it would take over {MOST_REQUESTS_FACTOR}x the requests ({num_requests} now)"
    return text + f": about {math.ceil(factor * num_requests)} requests ({num_requests} now) would resolve it"


def label(shift: StatisticShift) -> str:
    return SHIFT_STATISTICS[shift.name]
