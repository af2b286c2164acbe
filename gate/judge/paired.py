"""Base and head measured in rounds on one machine: the verdict is their paired difference.

A committed baseline was recorded on other machines at other times, and shared runners differ by far
more than most regressions. Measured in the same job instead, in rounds of balanced order
(B H | H B | B H | H B ...), the rounds pair into blocks of one base and one head round, adjacent in
time: a block's difference cancels what the machine did between blocks, and the order, reversed
every other block, cancels a steady drift within them. The block, not the request, is the unit of
replication:

- per endpoint and statistic of the distribution test (trimmed mean, p90, p95): the head round's
  log figure minus the base round's, one difference per block; the estimate is their mean;
- its variance: the blocks' spread beyond their sampling variance (from the histograms), pooled over
  the endpoints and shrunk toward the pool as the committed-baseline mode does (a few blocks alone
  give a few degrees of freedom), plus the sampling variance; a Student t on those dof;
- the A/A control: the base rounds compared with each other the same way (blocks of two base
  rounds, the order reversed every other block). If the base differs from itself, the runner was
  too noisy to judge and the run is not judged (never a pass, never a regression).

The rest of the verdict (SAME/DIFFERENT/UNRESOLVED, Holm across endpoints, limits on the head's
rounds) is compare.py's, fed with these shift functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gate import Unjudgeable
from gate.judge import distribution
from gate.judge.compare import Comparison, compare
from gate.judge.distribution import SHIFT_STATISTICS, ShiftTest, StatisticShift
from gate.judge.noise import MIN_REQUESTS_FOR_POOL, TRIMMED_MEAN, observe
from gate.judge.statistics import pooled_spread, shrunk_spread
from gate.read.histogram import merge_histograms
from gate.read.policy import DISTRIBUTION, Policy
from gate.read.run import AGGREGATED, EndpointRecord, Run

BASE, HEAD = "base", "head"
MIN_BLOCKS = 2
# The A/A control needs two blocks of base rounds: four blocks of base and head.
MIN_BLOCKS_FOR_CONTROL = 4


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
                   generator_cpu_pct=max(cpu) if cpu else None)


def _paths(runs: list[Run]) -> str:
    """'results/smoke/rounds/{02-head,03-head}': the rounds' folders, their common parent once."""
    folders = [Path(run.path) for run in runs]
    parent = folders[0].parent
    if len(folders) > 1 and all(folder.parent == parent for folder in folders):
        return f"{parent}/{{{','.join(folder.name for folder in folders)}}}"
    return ", ".join(run.path for run in runs)


@dataclass(frozen=True)
class _Differences:
    """One statistic of one endpoint: the head-minus-base log differences of the blocks, and the
    sampling variance of each difference."""

    logs_head: np.ndarray
    logs_base: np.ndarray
    sampling: np.ndarray
    informative: bool

    @property
    def values(self) -> np.ndarray:
        return self.logs_head - self.logs_base

    def beyond_sampling(self) -> tuple[float, int]:
        """(variance of a block's difference beyond its sampling variance, degrees of freedom)."""
        count = len(self.values)
        if count < 2:
            return 0.0, 0
        return max(float(np.var(self.values, ddof=1)) - float(np.mean(self.sampling)), 0.0), count - 1


class PairedShifts:
    """The distribution tests of paired blocks, for compare(shift_tester=...)."""

    def __init__(self, paired: list[Block], policy: Policy):
        statistics = policy.statistics
        self.blocks = len(paired)
        self.differences: dict[str, dict[str, _Differences]] = {}
        self.spreads = {}
        for name in SHIFT_STATISTICS:
            per_endpoint = {}
            for endpoint in sorted({e for block in paired for e in block.base.endpoints} - {AGGREGATED}):
                observed = [(observe(name, block.head.endpoints[endpoint], block.head.duration_s),
                             observe(name, block.base.endpoints[endpoint], block.base.duration_s),
                             min(block.head.endpoints[endpoint].num_requests,
                                 block.base.endpoints[endpoint].num_requests))
                            for block in paired if endpoint in block.head.endpoints and endpoint in block.base.endpoints]
                observed = [(head, base, count) for head, base, count in observed if head and base]
                if len(observed) < MIN_BLOCKS:
                    continue
                per_endpoint[endpoint] = _Differences(
                    logs_head=np.array([head.log for head, _, _ in observed]),
                    logs_base=np.array([base.log for _, base, _ in observed]),
                    sampling=np.array([head.variance + base.variance for head, base, _ in observed]),
                    informative=len(observed) == len(paired)
                    and all(count >= MIN_REQUESTS_FOR_POOL for _, _, count in observed))
            pooled = pooled_spread([d.beyond_sampling() for d in per_endpoint.values() if d.informative])
            self.differences[name] = per_endpoint
            self.spreads[name] = {
                endpoint: shrunk_spread(d.beyond_sampling(), pooled, statistics.prior_runs,
                                        statistics.assumed_between_run_cv, statistics.minimum_between_run_cv)
                for endpoint, d in per_endpoint.items()}

    def __call__(self, endpoint: str, record: EndpointRecord, pct: float, floor_ms: float) -> ShiftTest | None:
        shifts, measured = [], True
        for name in SHIFT_STATISTICS:
            differences = self.differences[name].get(endpoint)
            if differences is None:
                return None
            spread = self.spreads[name][endpoint]
            count = len(differences.values)
            baseline = math.exp(float(np.mean(differences.logs_base)))
            measured = measured and spread.measured
            shifts.append(StatisticShift(
                name=name, value=math.exp(float(np.mean(differences.logs_head))), baseline=baseline,
                expected=baseline, deviation=float(np.mean(differences.values)),
                between=spread.variance / count, within=float(np.mean(differences.sampling)) / count,
                dof=spread.dof, bar=max(baseline * pct / 100.0, floor_ms)))
        return distribution.combine(tuple(shifts), spread_measured=measured,
                                    spread_source="the spread between rounds",
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


def compare_paired(rounds: list[tuple[str, Run]], policy: Policy) -> tuple[Comparison, Run, list[Run]]:
    """The head's rounds against the base's, block by block, after the A/A control: (the comparison, the
    head's rounds merged, the base's rounds). Raises Unjudgeable when the base disagreed with itself."""
    paired = unserved_by_base(blocks(rounds))
    head, bases = merged([block.head for block in paired]), [block.base for block in paired]
    # base and head ran on one machine, one after the other: the difference is the change, not a shift to
    # take out (and a machine too busy to tell is the A/A control's to catch)
    same_machine = replace(policy, statistics=replace(policy.statistics, run_shift_normalisation=False))
    if len(paired) >= MIN_BLOCKS_FOR_CONTROL:
        control_rounds = control_blocks(paired)
        _check_control_shift(control_rounds, policy.statistics.control_shift_pct)
        control = compare(merged([block.head for block in control_rounds]), [block.base for block in control_rounds],
                          same_machine, shift_tester=PairedShifts(control_rounds, same_machine))
        _check_control(control)
    comparison = compare(head, bases, same_machine, shift_tester=PairedShifts(paired, same_machine))
    return comparison, head, bases


def _check_control_shift(control_rounds: list[Block], limit_pct: float) -> None:
    """Base rounds whose whole run moved apart (a CPU hog in one of them, a noisy neighbour): per endpoint,
    the mean over the control's blocks of the trimmed means' difference, then the median over endpoints.
    The mean, not each block: the control's blocks run in reversed order (B1 against B4, then B8 against
    B5), so a machine that drifts steadily (measured here: -35% over one paired run's three minutes) cancels
    out of it, as it does out of the head-minus-base comparison, while one disturbed round does not."""
    differences = []
    for name in control_rounds[0].base.endpoints:
        per_block = [observe(TRIMMED_MEAN, block.head.endpoints[name], 0.0).log
                     - observe(TRIMMED_MEAN, block.base.endpoints[name], 0.0).log
                     for block in control_rounds if name in block.head.endpoints and name in block.base.endpoints
                     and min(block.base.endpoints[name].num_requests,
                             block.head.endpoints[name].num_requests) >= MIN_REQUESTS_FOR_POOL]
        if name != AGGREGATED and len(per_block) == len(control_rounds):
            differences.append(float(np.mean(per_block)))
    if not differences:
        return
    shift = math.expm1(float(np.median(differences))) * 100.0
    if abs(shift) > limit_pct:
        rounds = ", ".join(f"{Path(block.base.path).name} against {Path(block.head.path).name}" for block in control_rounds)
        raise Unjudgeable(f"the runner was too noisy to judge: the base disagreed with itself by {shift:+.0f}% across "
                          f"its endpoints (base rounds {rounds}; the policy's control_shift_pct is {limit_pct:g}%); "
                          "rerun on a quieter runner")


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
