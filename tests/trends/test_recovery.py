"""Spike recovery on series with known recovery times."""

from __future__ import annotations

import numpy as np
from trend_data import START, aggregated_frame

from gate.trends.recovery import SpikeLimits, recovery_time, spike_recovery

PHASES = [
    {"name": "steady", "users": 50, "start": START, "end": START + 60},
    {"name": "spike", "users": 100, "start": START + 60, "end": START + 90},
    {"name": "recovery", "users": 50, "start": START + 90, "end": START + 180},
]


SECONDS = np.arange(180)
USERS = np.where((SECONDS >= 60) & (SECONDS < 90), 100, 50)


def frame(p95, **overrides):
    return aggregated_frame(p95, users=USERS, **overrides)


def spike_series(recover_after_s: float | None, seed: int = 0, spike_ms: float = 900.0) -> np.ndarray:
    """p95 at 200 ms (+-5%), spike_ms during the spike, back at 200 ms recover_after_s after its end."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(180)
    p95 = 200 * (1 + rng.normal(0, 0.05, 180))
    back = np.inf if recover_after_s is None else 90 + recover_after_s
    p95[(seconds >= 60) & (seconds < back)] = spike_ms
    return p95


def test_recovery_time_is_measured():
    for seed, after in ((0, 5), (1, 20), (2, 35)):
        result = spike_recovery(frame(spike_series(after, seed)), PHASES, SpikeLimits())
        assert result["recovered"]
        assert abs(result["recovery_s"] - after) <= 1, result
        assert result["status"] == "pass"
        assert abs(result["pre_spike_p95_ms"] - 200) < 15


def test_never_recovering_fails():
    result = spike_recovery(frame(spike_series(None)), PHASES, SpikeLimits())
    assert result["status"] == "fail"
    assert not result["recovered"]
    assert any(sentence.startswith("never recovered") for sentence in result["sentences"])


def test_recovering_later_than_the_limit_fails():
    result = spike_recovery(frame(spike_series(60)), PHASES, SpikeLimits(max_recovery_s=45))
    assert result["recovered"] and result["recovery_s"] >= 59
    assert result["status"] == "fail"


def test_a_brief_dip_is_not_a_recovery():
    p95 = spike_series(40)
    p95[100:103] = 200  # three good seconds inside a still-slow stretch
    result = spike_recovery(frame(p95), PHASES, SpikeLimits(stable_s=10))
    assert abs(result["recovery_s"] - 40) <= 1


def test_first_minute_failures_fail_the_spike():
    failure_ratio = np.where((np.arange(180) >= 60) & (np.arange(180) < 90), 0.2, 0.0)
    result = spike_recovery(frame(spike_series(5), failure_ratio=failure_ratio), PHASES, SpikeLimits())
    assert result["status"] == "fail"
    assert 0.15 < result["first_minute"]["failure_ratio"] < 0.25


def test_not_a_spike_shape_cannot_be_judged():
    result = spike_recovery(frame(spike_series(5)), [{"name": "stage 1: 10 users", "users": 10,
                                                                "start": START, "end": START + 180}], SpikeLimits())
    assert result["status"] == "unjudgeable"


def test_recovery_time_function_on_plain_arrays():
    times = np.arange(100.0)
    values = np.where(times < 50, 1000.0, 100.0)
    assert recovery_time(times, values, since=30, ceiling=150, stable_s=10) == 20
    assert recovery_time(times, np.full(100, 1000.0), since=30, ceiling=150, stable_s=10) is None


def test_pre_spike_level_waits_for_the_spawn_and_the_window():
    """Logins while the base users arrive are slow; the level is the steady state after them."""
    users = np.minimum(50, 2 * (SECONDS + 1)).astype(float)  # all in at 24 s
    users[(SECONDS >= 60) & (SECONDS < 90)] = 100
    p95 = spike_series(10)
    p95[:34] = 2000.0  # slow while they log in, and while the 10-s window still holds those logins
    result = spike_recovery(aggregated_frame(p95, users=users), PHASES, SpikeLimits())
    assert abs(result["pre_spike_p95_ms"] - 200) < 15
    users[:60] = np.minimum(50, SECONDS[:60])  # all in only at 50 s: no settled steady state left
    result = spike_recovery(aggregated_frame(p95, users=users), PHASES, SpikeLimits())
    assert result["status"] == "unjudgeable" and "lengthen spike-warmup" in result["sentences"][0]
