"""Base and head measured in rounds on one machine: the verdict is their paired difference.

A committed baseline was recorded on other machines at other times, and shared runners differ by far
more than most regressions. Measured in the same job instead, in rounds of balanced order
(B H | H B | B H | H B ...), the rounds pair into blocks of one base and one head round, adjacent in
time: a block's difference cancels what the machine did between blocks, and the order, reversed
every other block, cancels a steady drift within them. The block, not the request, is the unit of
replication:

- per endpoint and statistic of the distribution test (trimmed mean, p90, p95): the head round's
  log figure minus the base round's, one difference per block;
- split in two: the part every endpoint shared in that block (the other endpoints' median
  difference, times the endpoint's loading on the machine's speed) and the endpoint's own change,
  the rest. The estimate is the mean own change; its variance, the spread of the blocks' own
  differences, relative to their sampling variance (from the histograms), shrunk toward that ratio
  pooled over the endpoints (never below the endpoint's own); a Student t on those dof;
- the shared change, once per run: the blocks' median differences at the trimmed mean, their mean
  and spread (the Aggregated row);
- the A/A control, first: no round unlike the other rounds of its side and the other round of its
  block across its endpoints, by the measure of how much this run's rounds swing (a disturbed round:
  _check_rounds_agree), and no endpoint DIFFERENT between base rounds compared with each other the
  way base and head are (blocks of two base rounds, the order reversed every other block). Else the
  runner was too noisy to judge and the run is not judged (never a pass, never a regression).

The rest of the verdict (SAME/DIFFERENT/UNRESOLVED, Holm across endpoints, limits on the head's
rounds) is compare.py's, fed with these shift functions; half the false-alarm budget goes to the
endpoints, half to the shared change.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gate import Unjudgeable
from gate.judge import distribution
from gate.judge.compare import Comparison, EndpointComparison, Finding, compare
from gate.judge.distribution import SHIFT_STATISTICS, ShiftTest, StatisticShift
from gate.judge.noise import (
    LOG_METRICS,
    MIN_ENDPOINTS_FOR_SHIFT,
    MIN_REQUESTS_FOR_POOL,
    STEADY_SHIFT_SPREAD,
    TRIMMED_MEAN,
    observe,
)
from gate.judge.statistics import Spread, pooled_spread
from gate.read.histogram import merge_histograms
from gate.read.policy import DISTRIBUTION, HIGHER_IS_WORSE, MetricPolicy, Policy, Statistics, figure
from gate.read.run import AGGREGATED, EndpointRecord, Run

BASE, HEAD = "base", "head"
MIN_BLOCKS = 2
# The A/A control needs two blocks of base rounds: four blocks of base and head.
MIN_BLOCKS_FOR_CONTROL = 4
# An endpoint follows the machine's speed at most twice over (its loading on the run-wide change).
MAX_LOADING = 2.0


class DisturbedRound(Unjudgeable):
    """The A/A control found one round unlike the others (_check_rounds_agree); `round` is its folder, so a
    runner may run its block again (scripts/ab.py) instead of refusing the whole run."""

    def __init__(self, reason: str, round_path: str, what: str):
        super().__init__(reason)
        self.round = round_path
        self.what = what  # the departure, in one phrase: "round 11-head ran +121% against ..."


@dataclass(frozen=True)
class Block:
    """Two rounds adjacent in time, one of each side (in the A/A control, two base rounds)."""

    base: Run
    head: Run


def blocks(rounds: list[tuple[str, Run]]) -> list[Block]:
    """The rounds, in the order they ran, as blocks of one base and one head round."""
    if len(rounds) % 2 or len(rounds) < 2 * MIN_BLOCKS:
        raise Unjudgeable(f"paired rounds come in blocks of one base and one head round, at least {MIN_BLOCKS} "
                          f"blocks; got {len(rounds)} round(s)")
    paired = []
    for index in range(0, len(rounds), 2):
        (first_side, first), (second_side, second) = rounds[index], rounds[index + 1]
        if {first_side, second_side} != {BASE, HEAD}:
            raise Unjudgeable(f"rounds {index + 1} and {index + 2} are {first_side} and {second_side}: each block of "
                              "two rounds is one base and one head round, in balanced order (B H H B B H H B ...)")
        paired.append(Block(base=first if first_side == BASE else second,
                            head=second if first_side == BASE else first))
    return paired


def control_blocks(paired: list[Block]) -> list[Block]:
    """The A/A control: the base rounds of consecutive blocks paired with each other, the order reversed
    every other pair, as the main comparison's is (B H H B B H H B: base rounds 1 and 4 against 5 and 8)."""
    bases = [block.base for block in paired]
    return [Block(base=bases[i], head=bases[i + 1]) if (i // 2) % 2 == 0 else Block(base=bases[i + 1], head=bases[i])
            for i in range(0, len(bases) - 1, 2)]


def merged(runs: list[Run]) -> Run:
    """The rounds of one side as one run: histograms, counts and errors summed, durations added."""
    names = sorted({name for run in runs for name in run.endpoints})
    endpoints = {}
    for name in names:
        records = [run.endpoints[name] for run in runs if name in run.endpoints]
        errors: dict[str, int] = {}
        for record in records:
            for error, count in record.errors.items():
                errors[error] = errors.get(error, 0) + count
        endpoints[name] = EndpointRecord(
            endpoint=name, num_requests=sum(r.num_requests for r in records),
            num_failures=sum(r.num_failures for r in records),
            num_none_requests=sum(r.num_none_requests for r in records),
            histogram=merge_histograms([r.histogram for r in records]), errors=errors)
    counters = {name: sum(run.counters.get(name, 0) for run in runs) for name in runs[0].counters}
    cpu = [run.generator_cpu_pct for run in runs if run.generator_cpu_pct is not None]
    return replace(runs[0], path=_paths(runs), endpoints=endpoints, counters=counters,
                   duration_s=sum(run.duration_s for run in runs),
                   planned_run_time_s=sum(run.planned_run_time_s or run.duration_s for run in runs),
                   cpu_warning=any(run.cpu_warning for run in runs),
                   errors_known=all(run.errors_known for run in runs),
                   workers_unreported=sum(run.workers_unreported for run in runs),
                   generator_cpu_pct=max(cpu) if cpu else None,
                   cpu_steal_pct=max(steal) if (steal := [run.cpu_steal_pct for run in runs
                                                          if run.cpu_steal_pct is not None]) else None)


def _paths(runs: list[Run]) -> str:
    """'results/smoke/rounds/{02-head,03-head}': the rounds' folders, their common parent once."""
    folders = [Path(run.path) for run in runs]
    parent = folders[0].parent
    if len(folders) > 1 and all(folder.parent == parent for folder in folders):
        return f"{parent}/{{{','.join(folder.name for folder in folders)}}}"
    return ", ".join(run.path for run in runs)


@dataclass(frozen=True)
class _Differences:
    """One statistic of one endpoint: the head-minus-base log differences of the blocks, the sampling
    variance of each, and the part of each that the whole run shared (the other endpoints' median
    difference in that block, times how closely this endpoint follows the machine)."""

    logs_head: np.ndarray
    logs_base: np.ndarray
    sampling: np.ndarray
    informative: bool
    run: np.ndarray  # per block, the other endpoints' median difference (zeros: not compared net of the run)
    loading: float = 0.0  # how much of the run's change this endpoint follows (0 to MAX_LOADING)
    fitted: bool = False  # the loading was estimated from this endpoint's own rounds (one degree of freedom)

    @property
    def values(self) -> np.ndarray:
        return self.logs_head - self.logs_base

    @property
    def own(self) -> np.ndarray:
        """Each block's difference net of the run-wide change this endpoint shares."""
        return self.values - self.loading * self.run

    def own_spread(self) -> tuple[float, int]:
        """(variance of a block's own difference, as measured over the blocks; degrees of freedom)."""
        dof = len(self.values) - 1 - int(self.fitted)
        if dof < 1:
            return 0.0, 0
        own = self.own
        return float(np.sum((own - np.mean(own)) ** 2)) / dof, dof

    def relative_spread(self) -> tuple[float, int]:
        """(the own difference's variance over what sampling alone would give it, degrees of freedom)."""
        variance, dof = self.own_spread()
        sampling = float(np.mean(self.sampling))
        return (variance / sampling, dof) if sampling > 0 and dof else (0.0, 0)


def _loading(endpoint: np.ndarray, machine: np.ndarray) -> float:
    """How closely an endpoint follows the machine's speed from round to round: the slope of its
    rounds' figures (each side centred on its own mean, so the change under test does not enter) on the
    other endpoints' median in the same rounds; 0 for work the machine's speed does not touch (a fixed
    upstream wait), about 1 for CPU-bound work. A steady machine cannot tell: the slope starts at 1, as
    though each round had swung by STEADY_SHIFT_SPREAD, and the rounds' own swings outweigh that the more
    they swing (the committed-baseline mode takes every endpoint to follow a steady machine likewise)."""
    prior = len(machine) * STEADY_SHIFT_SPREAD ** 2
    slope = (float(np.dot(endpoint, machine)) + prior) / (float(np.dot(machine, machine)) + prior)
    return min(max(slope, 0.0), MAX_LOADING)


class PairedShifts:
    """The distribution tests of paired blocks, for compare(shift_tester=...), each endpoint net of the
    change the whole run shared; and that run-wide change as a test of its own (run_wide_test).

    On one machine, one round runs faster than the next for every endpoint at once (measured here: the
    round's own speed was 72% of a short endpoint's variance between rounds, with no carry-over from
    one round to the next). A block's difference of one endpoint is its own change plus that shared
    part; the other endpoints' median difference in the same block measures the shared part, so each
    endpoint is tested on what is left, its own change, and the run-wide change is tested once, on the
    blocks' medians. A change that slows everything alike shows there; one that slows one endpoint
    shows on it, no longer drowned by the machine's swings. Each endpoint follows the run in proportion
    to its loading (measured on its rounds, each side apart): a chat reply that waits on the upstream
    model hardly moves with the machine, a 4-ms lookup moves with it one for one."""

    def __init__(self, paired: list[Block], policy: Policy, loadings: dict[str, dict[str, float]] | None = None):
        """`loadings` (statistic -> endpoint -> loading): measured elsewhere, e.g. the A/A control's, on all
        the run's rounds (its own few blocks would spend their only degrees of freedom on them)."""
        statistics = policy.statistics
        self.given_loadings = loadings
        self.blocks = len(paired)
        self.differences: dict[str, dict[str, _Differences]] = {}
        self.spreads = {}
        self.run_changes: dict[str, np.ndarray] = {}
        self.loadings: dict[str, dict[str, float]] = {}
        self.minimum_variance = math.log1p(statistics.minimum_between_run_cv) ** 2
        endpoints = sorted({e for block in paired for e in block.base.endpoints} - {AGGREGATED})
        for name in (*SHIFT_STATISTICS, *(metric for metric in LOG_METRICS if metric not in SHIFT_STATISTICS)):
            observed = {endpoint: self._observed(name, endpoint, paired) for endpoint in endpoints}
            observed = {endpoint: found for endpoint, found in observed.items() if len(found[0]) >= MIN_BLOCKS}
            per_endpoint = self._net_of_run(name, observed, len(paired))
            pooled = pooled_spread([d.relative_spread() for d in per_endpoint.values() if d.informative])
            self.differences[name] = per_endpoint
            self.spreads[name] = {endpoint: self._spread(d, pooled, statistics.prior_runs)
                                  for endpoint, d in per_endpoint.items()}

    def _spread(self, differences: _Differences, pooled: tuple[float, int], prior_runs: float) -> Spread:
        """The variance of one block's own difference: measured over the blocks, where the histograms'
        sampling variance would mislead (measured here, net of the round's speed, a short endpoint's
        trimmed mean varied about half as much as the sampling formula says; chat's, twice as much), and
        steadied by the other endpoints: each endpoint's measured variance relative to its sampling
        variance, shrunk toward that ratio pooled over the endpoints (`prior_runs` pseudo-blocks) - but
        never below the endpoint's own measurement: an endpoint that really varies more than the others
        (a rate-limited refresh) keeps its spread, and raises no alarm on the others' steadiness."""
        own, dof = differences.relative_spread()
        sampling = float(np.mean(differences.sampling))
        floor = self.minimum_variance
        if not pooled[1]:  # nothing to pool: an endpoint alone, or too few blocks
            if not dof:
                return Spread(variance=max(sampling, floor), dof=float(max(len(differences.values) - 1, 1)),
                              measured=False)
            return Spread(variance=max(own * sampling, floor), dof=float(dof), measured=True)
        prior = min(prior_runs, pooled[1])
        ratio = max((prior * pooled[0] + dof * own) / (prior + dof), own)
        return Spread(variance=max(ratio * sampling, floor), dof=float(prior + dof), measured=True)

    @staticmethod
    def _observed(name: str, endpoint: str, paired: list[Block]) -> tuple[list[int], list, bool]:
        """(the blocks that observed the endpoint, their (head, base) observations, informative)."""
        indices, pairs, enough = [], [], True
        for index, block in enumerate(paired):
            if endpoint not in block.head.endpoints or endpoint not in block.base.endpoints:
                continue
            head_record, base_record = block.head.endpoints[endpoint], block.base.endpoints[endpoint]
            head, base = observe(name, head_record, block.head.duration_s), observe(name, base_record, block.base.duration_s)
            if head and base:
                indices.append(index)
                pairs.append((head, base))
                enough = enough and min(head_record.num_requests, base_record.num_requests) >= MIN_REQUESTS_FOR_POOL
        return indices, pairs, enough and len(indices) == len(paired)

    def _net_of_run(self, name: str, observed: dict[str, tuple[list[int], list, bool]],
                    count: int) -> dict[str, _Differences]:
        """Each endpoint's differences with the run's shared part beside them, and the run-wide change per
        block (the median over the informative endpoints; none with fewer than MIN_ENDPOINTS_FOR_SHIFT)."""
        informative = sorted(endpoint for endpoint, (_, _, flag) in observed.items() if flag)
        head = {e: np.array([h.log for h, _ in observed[e][1]]) for e in informative}
        base = {e: np.array([b.log for _, b in observed[e][1]]) for e in informative}
        differences = np.array([head[e] - base[e] for e in informative]) if informative else np.zeros((0, count))
        centred = {e: (head[e] - head[e].mean(), base[e] - base[e].mean()) for e in informative}
        normalised = len(informative) > MIN_ENDPOINTS_FOR_SHIFT
        if normalised:
            self.run_changes[name] = np.median(differences, axis=0)
        loadings = {}
        per_endpoint = {}
        for endpoint, (indices, pairs, flag) in observed.items():
            logs_head = np.array([h.log for h, _ in pairs])
            logs_base = np.array([b.log for _, b in pairs])
            sampling = np.array([h.variance + b.variance for h, b in pairs])
            others = [i for i, e in enumerate(informative) if e != endpoint]
            run = np.zeros(len(indices))
            fitted = False
            if normalised and len(others) >= MIN_ENDPOINTS_FOR_SHIFT:
                run = np.median(differences[others][:, indices], axis=0)
                if self.given_loadings is not None:
                    if endpoint in self.given_loadings.get(name, {}):
                        loadings[endpoint] = self.given_loadings[name][endpoint]
                elif flag:
                    machine_head = np.median(np.array([centred[informative[i]][0] for i in others]), axis=0)
                    machine_base = np.median(np.array([centred[informative[i]][1] for i in others]), axis=0)
                    loadings[endpoint] = _loading(np.concatenate(centred[endpoint]),
                                                  np.concatenate([machine_head, machine_base]))
                    fitted = True
            per_endpoint[endpoint] = _Differences(logs_head=logs_head, logs_base=logs_base, sampling=sampling,
                                                  informative=flag, run=run, fitted=fitted)
        # an endpoint too thin to measure its own loading follows the machine as the typical endpoint does
        typical = float(np.median(list(loadings.values()))) if loadings else 0.0
        self.loadings[name] = {endpoint: loadings.get(endpoint, typical) for endpoint in per_endpoint}
        return {endpoint: replace(d, loading=loadings.get(endpoint, typical if d.run.any() else 0.0))
                for endpoint, d in per_endpoint.items()}

    def __call__(self, endpoint: str, record: EndpointRecord, pct: float, floor_ms: float) -> ShiftTest | None:
        shifts = [self.shift(name, endpoint, pct, floor_ms) for name in SHIFT_STATISTICS]
        if None in shifts:
            return None
        return distribution.combine(tuple(shift for shift, _ in shifts),
                                    spread_measured=all(measured for _, measured in shifts),
                                    spread_source="the spread between rounds",
                                    more=f"more rounds ({2 * self.blocks} now)", rounds=2 * self.blocks)

    def shift(self, name: str, endpoint: str, pct: float, floor: float) -> tuple[StatisticShift, bool] | None:
        """One statistic of one endpoint (a SHIFT_STATISTICS one, or a policy metric: p50, p95, p99,
        throughput), head rounds against base rounds block by block, net of what the run shared: (the
        shift, whether its spread was measured), for compare(shift_tester=..., metric_tester=...). Its
        figures are the rounds' geometric means, each side's alike: a quantile of the head's rounds merged
        is not comparable with one base round's (of 10 logins a round, p99 is a round's slowest; of 80
        merged, one slow login in 80)."""
        differences = self.differences.get(name, {}).get(endpoint)
        if differences is None:
            return None
        spread = self.spreads[name][endpoint]
        count = len(differences.values)
        baseline = math.exp(float(np.mean(differences.logs_base)))
        own = float(np.mean(differences.own))
        # what the base predicts for the head's rounds: the base moved by the run-wide change it shares
        expected = baseline * math.exp(float(np.mean(differences.values)) - own)
        return StatisticShift(name=name, value=math.exp(float(np.mean(differences.logs_head))), baseline=baseline,
                              expected=expected, deviation=own, between=spread.variance / count, within=0.0,
                              dof=spread.dof, bar=max(expected * pct / 100.0, floor)), spread.measured

    def run_wide_test(self, pct: float) -> ShiftTest | None:
        """The change every endpoint shared, head against base, at the centre of their distributions: per
        block the median over the informative endpoints of their trimmed means' differences, then the mean
        over the blocks, with the blocks' spread (the block is the unit). None when too few endpoints
        measure it. The centre alone: a change that slows everything moves it as much as the tails, a busy
        round moves the tails far more, and each more statistic would cost the test power (a t on few
        blocks' degrees of freedom, Bonferroni over them). The price: a change that moved every endpoint's
        tail alike and none of their centres would be taken out of every endpoint as the run's."""
        changes = self.run_changes.get(TRIMMED_MEAN)
        if changes is None or len(changes) < MIN_BLOCKS:
            return None
        variance = max(float(np.var(changes, ddof=1)), self.minimum_variance) / len(changes)
        deviation = float(np.mean(changes))
        shift = StatisticShift(name=TRIMMED_MEAN, value=math.exp(deviation), baseline=1.0, expected=1.0,
                               deviation=deviation, between=variance, within=0.0, dof=float(len(changes) - 1),
                               bar=pct / 100.0)
        return distribution.combine((shift,), spread_source="the spread between rounds",
                                    more=f"more rounds ({2 * self.blocks} now)", rounds=2 * self.blocks)


def unserved_by_base(paired: list[Block]) -> list[Block]:
    """The blocks without the endpoints the base does not serve: the head's suite drives both sides, so an
    endpoint the change adds is asked of the base too, which fails every request of it (404, 405). With no
    base latency to compare, it is new in the head (absolute limits only), not a comparison with failures."""
    unserved = {name for name in paired[0].base.endpoints
                if name != AGGREGATED and all(name in block.base.endpoints and block.base.endpoints[name].num_requests
                                              and block.base.endpoints[name].num_failures
                                              == block.base.endpoints[name].num_requests for block in paired)}
    if not unserved:
        return paired
    return [replace(block, base=replace(block.base, endpoints={name: record for name, record in block.base.endpoints.items()
                                                               if name not in unserved})) for block in paired]


def compare_paired(rounds: list[tuple[str, Run]], policy: Policy) -> tuple[Comparison, Run, list[Run], Run]:
    """The head's rounds against the base's, block by block, after the A/A control: (the comparison, the
    head's rounds merged, the base's rounds, the base's rounds merged). Raises Unjudgeable when a round stood apart from the others
    of its side, or the base disagreed with itself.

    The false-alarm budget is spent in halves: one on the endpoints' own changes (Holm across them), one
    on the change the whole run shared (a single test)."""
    paired = unserved_by_base(blocks(rounds))
    head, bases = merged([block.head for block in paired]), [block.base for block in paired]
    base = merged(bases)
    # base and head ran on one machine, one after the other: there is no committed baseline's shift to take
    # out; the run-wide change is measured block by block instead (PairedShifts)
    half = policy.statistics.false_alarm_rate / 2.0
    same_machine = replace(policy, statistics=replace(policy.statistics, run_shift_normalisation=False,
                                                      false_alarm_rate=half))
    shifts = PairedShifts(paired, same_machine)
    if len(paired) >= MIN_BLOCKS_FOR_CONTROL:
        _check_rounds_agree(paired, policy.statistics)
        control_rounds = control_blocks(paired)
        control_shifts = PairedShifts(control_rounds, same_machine, shifts.loadings)
        control = compare(merged([block.head for block in control_rounds]), [block.base for block in control_rounds],
                          same_machine, shift_tester=control_shifts, metric_tester=control_shifts.shift,
                          reference=merged([block.base for block in control_rounds]))
        _check_control(control)
    comparison = compare(head, bases, same_machine, shift_tester=shifts, metric_tester=shifts.shift,
                         reference=base)
    rule = _run_wide_policy(comparison, policy)
    _judge_run_wide(comparison, shifts, rule, half)
    _excuse_breaches_the_base_shares(comparison, base, same_machine, rule)
    return comparison, head, bases, base


def _excuse_breaches_the_base_shares(comparison: Comparison, base: Run, policy: Policy,
                                     rule: MetricPolicy | None) -> None:
    """An absolute limit that the base's rounds breach as well, or come within the policy's bar of (its
    percentage: a change smaller than that is no regression), is not the change's doing: it warns, said
    so, instead of failing the pull request. The limits were set for the profile's own load, and the
    rounds load differently (users start twice as fast, each round a cold stack): on this 2-core machine
    an unchanged head's login p95 over 12 rounds ranged 510 to 1,200 ms against its 1-s limit, the
    base's 500 to 1,400 ms. The limits themselves are the committed-baseline runs' to hold (pushes, the
    nightly); a breach the base stays clear of still fails. `rule`: the endpoints' distribution rule."""
    bar = (rule.relative_pct if rule else 0.0) / 100.0
    base_side = {e.endpoint: e for e in compare(base, None, policy).endpoints}
    touched = set()
    for index, finding in enumerate(comparison.findings):
        if finding.kind != "breach" or finding.severity != "fail":
            continue
        result = base_side.get(finding.endpoint)
        result = result.metrics.get(finding.metric) if result else None
        if result is None or result.value is None or result.limit is None:
            continue
        near = (result.value * (1.0 + bar) >= result.limit if result.direction == HIGHER_IS_WORSE
                else result.value <= result.limit * (1.0 + bar))
        if near:
            how = "breach it too" if result.outcome == "breach" else f"come within {bar * 100:g}% of it"
            comparison.findings[index] = replace(
                finding, severity="warn",
                message=f"{finding.message}; the base's rounds {how} ({figure(result.value, result.unit)}), so it is "
                        "not this change's doing")
            touched.add(finding.endpoint)
    for endpoint in comparison.endpoints:
        if endpoint.endpoint in touched:
            severities = {f.severity for f in comparison.findings if f.endpoint == endpoint.endpoint}
            endpoint.status = "fail" if "fail" in severities else "warn"


def _run_wide_policy(comparison: Comparison, policy: Policy) -> MetricPolicy | None:
    """The distribution rule most of the compared endpoints share: the run-wide change is judged by it."""
    rules = [policy.for_endpoint(e.endpoint).metrics.get(DISTRIBUTION) for e in comparison.endpoints
             if DISTRIBUTION in e.metrics and not e.quarantined]
    rules = [rule for rule in rules if rule is not None and rule.relative]
    if not rules:
        return None
    return Counter(rules).most_common(1)[0][0]


def _judge_run_wide(comparison: Comparison, shifts: PairedShifts, rule: MetricPolicy | None, alpha: float) -> None:
    """SAME, DIFFERENT or UNRESOLVED for the change the whole run shared, into the comparison (run_wide,
    run_shift_pct) and its findings: a significant slowdown beyond the bar fails (or warns) as the
    endpoints' rule says (`rule`: _run_wide_policy's); an unresolved one is reported as its `unresolved` says."""
    test = shifts.run_wide_test(rule.relative_pct) if rule else None
    if test is None:
        return
    comparison.run_shift_pct = {name: math.expm1(float(np.mean(changes))) * 100.0
                                for name, changes in shifts.run_changes.items() if name in SHIFT_STATISTICS}
    regressed = test.p_worse <= alpha
    improved = test.p_better <= alpha
    state = distribution.state(test, regressed=regressed, improved=improved, alpha=alpha)
    shown = test.decisive if state == distribution.DIFFERENT else distribution.nearest_to_bar(test, alpha)
    low, high = shown.bounds_pct(alpha)
    comparison.run_wide = {"state": state, "quantile": distribution.label(shown), "change_pct": shown.change_pct,
                           "net_change_pct": shown.change_pct, "interval_pct": [low, high],
                           "p_value": test.p_worse, "threshold_pct": rule.relative_pct,
                           "detectable_pct": distribution.detectable_pct(test, alpha),
                           "outcome": "regression" if regressed else "ok", "reason": None}
    moved = (f"the whole head moved {shown.change_pct:+.0f}% against the base across its endpoints "
             f"({distribution.label(shown)}, [{low:+.0f}%, {high:+.0f}%])")
    total = next((e for e in comparison.endpoints if e.endpoint == AGGREGATED), None)
    if regressed:
        _raise_status(total, rule.severity)
        comparison.findings.append(Finding(rule.severity, "run_shift", AGGREGATED, DISTRIBUTION,
                                           f"{moved}, beyond the policy's +{rule.relative_pct:g}%, "
                                           f"p={test.p_worse:.2g}: a change that slows every endpoint alike"))
    elif state == distribution.UNRESOLVED:
        reason = distribution.unresolved_reason(test, alpha, alpha, 0)
        comparison.run_wide["reason"] = reason
        if rule.unresolved != "pass":
            _raise_status(total, rule.unresolved)
            comparison.findings.append(Finding(rule.unresolved, "unresolved", AGGREGATED, DISTRIBUTION,
                                               f"the run-wide change UNRESOLVED: {reason}"))


def _raise_status(endpoint: EndpointComparison | None, severity: str) -> None:
    """A finding of `severity` (warn, fail) added after compare() settled the endpoint's status."""
    if endpoint is not None and endpoint.status in ("pass", "warn"):
        endpoint.status = severity if endpoint.status == "pass" or severity == "fail" else endpoint.status


def round_departures(paired: list[Block]) -> list[tuple[float, float]]:
    """Each block's two rounds' own speeds, shared by their endpoints, against the other rounds of their
    side: (the base round's log departure, the head round's), per block. Per endpoint measured in every
    round, its trimmed mean's log less the median of its side's rounds; per round the median over those
    endpoints, less the median of its side's rounds again. Each side apart, so the change under test does
    not enter. Empty when fewer than MIN_ENDPOINTS_FOR_SHIFT endpoints are measured in every round."""
    every = [run for block in paired for run in (block.base, block.head)]
    names = [name for name in every[0].endpoints if name != AGGREGATED
             and all(name in run.endpoints and run.endpoints[name].num_requests >= MIN_REQUESTS_FOR_POOL
                     for run in every)]
    if len(names) < MIN_ENDPOINTS_FOR_SHIFT:
        return []
    levels = []
    for runs in ([block.base for block in paired], [block.head for block in paired]):
        logs = np.array([[observe(TRIMMED_MEAN, run.endpoints[name], run.duration_s).log for run in runs]
                         for name in names])
        level = np.median(logs - np.median(logs, axis=1, keepdims=True), axis=0)
        levels.append(level - np.median(level))
    return [(float(base), float(head)) for base, head in zip(*levels, strict=True)]


def control_bar(departures: list[tuple[float, float]], statistics: Statistics) -> tuple[float, float]:
    """(the rounds' typical swing, the A/A control's bar), log scale. The swing: the root mean square of
    their departures (round_departures) with the most departing round left out, never below the policy's
    minimum_between_run_cv; the bar: beyond control_shift_pct and control_swings times that swing."""
    ranked = sorted(abs(d) for pair in departures for d in pair)
    typical = max(math.sqrt(float(np.mean(np.square(ranked[:-1])))), math.log1p(statistics.minimum_between_run_cv))
    return typical, max(math.log1p(statistics.control_shift_pct / 100.0), statistics.control_swings * typical)


def _check_rounds_agree(paired: list[Block], statistics: Statistics) -> None:
    """The A/A control's first half: a round unlike the other rounds of its side across its endpoints, and
    unlike the other round of its block, by more than the rounds' own swing (a CPU hog, a noisy
    neighbour, a stalled stack during it) means the runner was too noisy to judge. Unlike: a departure
    beyond `control_shift_pct` and beyond `control_swings` times the rounds' typical swing, the root
    mean square of their departures with the most departing round left out (a disturbed round does not
    widen it; the median absolute departure, as robust, misjudged twelve rounds' swing by half on
    synthetic rounds of a known spread). Its block's other round must not share it: a slowdown that hits
    both rounds of a block (measured: the machine 24% and 31% slower for a run's last two rounds)
    cancels out of the verdict, as the order of the rounds is chosen for. A machine whose rounds all
    swing widely is no disturbance either: the verdict's intervals widen with the spread between blocks,
    and each endpoint is judged net of what they shared. Measured on this 2-core machine: a round's own
    speed swung by sd 12% on a quiet night and 36% on a noisy one; a base round whose stack was stopped
    half the time ran +204% against the other base rounds, 9 times that run's typical swing of ±13%."""
    departures = round_departures(paired)
    if not departures:
        return
    typical, bar = control_bar(departures, statistics)
    apart = [(departure, partner, run, side, other)
             for block, (base, head) in zip(paired, departures, strict=True)
             for departure, partner, run, side, other in ((base, head, block.base, BASE, block.head),
                                                          (head, base, block.head, HEAD, block.base))
             if abs(departure) > bar and abs(departure - partner) > bar]
    if apart:
        departure, partner, run, side, other = max(apart, key=lambda item: abs(item[0]))
        what = (f"round {Path(run.path).name} ran {math.expm1(departure) * 100.0:+.0f}% against the other {side} "
                f"rounds across its endpoints (their centre; {Path(other.path).name}, the other round of its block, "
                f"{math.expm1(partner) * 100.0:+.0f}%), {abs(departure) / typical:.0f} times the rounds' typical "
                f"swing of ±{math.expm1(typical) * 100.0:.0f}% (the policy's bar: beyond "
                f"{statistics.control_shift_pct:g}% and {statistics.control_swings:g} swings)")
        raise DisturbedRound(f"the runner was too noisy to judge: {what}: something else ran on the machine then; "
                             "rerun on a quieter runner", str(run.path), what)


def _check_control(control: Comparison) -> None:
    """The base against itself: any endpoint DIFFERENT there (after the correction across endpoints) means
    this runner cannot tell base from head at the policy's size; the run cannot be judged."""
    moved = []
    for endpoint in control.endpoints:
        result = endpoint.metrics.get(DISTRIBUTION)
        if result is not None and result.state == distribution.DIFFERENT:
            moved.append((endpoint.endpoint, result))
    if moved:
        name, result = max(moved, key=lambda item: abs(item[1].net_change_pct or 0.0))
        others = f" (and {len(moved) - 1} more endpoint{'s' if len(moved) > 2 else ''})" if len(moved) > 1 else ""
        raise Unjudgeable(f"the runner was too noisy to judge: the base disagreed with itself by "
                          f"{result.net_change_pct:+.0f}% on {name} ({result.quantile}){others}, where the policy "
                          "flags a change; rerun on a quieter runner or with more rounds")
