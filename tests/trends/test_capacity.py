"""Stress capacity and knee on staged series with a known knee and a known SLO breach."""

from __future__ import annotations

import numpy as np
import pandas as pd
from trend_data import START, aggregated_frame

from gate.trends.capacity import StressLimits, compare_capacity, knee_users, stress_capacity

STAGE_S = 30
USERS = [10, 20, 30, 40, 50, 60, 70, 80]


def staged_history(knee: float = 40, slo_breach_at: int | None = 60, seed: int = 0) -> tuple[pd.DataFrame, list]:
    """p50 flat at 100 ms up to `knee` users, then +10 ms per user; login p95 over its 1000 ms SLO from
    `slo_breach_at` users on."""
    rng = np.random.default_rng(seed)
    p95, users, login = [], [], []
    phases = []
    for index, count in enumerate(USERS):
        level = 100 + max(0.0, count - knee) * 10
        p95 += list(level / 0.6 * (1 + rng.normal(0, 0.03, STAGE_S)))
        users += [count] * STAGE_S
        login += [1500.0 if slo_breach_at and count >= slo_breach_at else 400.0] * STAGE_S
        phases.append({"name": f"stage {index + 1}: {count} users", "users": count,
                       "start": START + index * STAGE_S, "end": START + (index + 1) * STAGE_S})
    total = aggregated_frame(np.array(p95), users=np.array(users), rps=np.array(users) * 0.8)
    logins = aggregated_frame(np.array(login), users=np.array(users), rps=1).assign(endpoint="POST /api/auth/login")
    # two more endpoints, three times apart, slowing alike: the knee compares each with itself
    health = aggregated_frame(np.array(p95) / 3, users=np.array(users), rps=1).assign(endpoint="GET /health")
    me = aggregated_frame(np.array(p95), users=np.array(users), rps=1).assign(endpoint="GET /api/auth/me")
    return pd.concat([total, logins, health, me], ignore_index=True), phases


def test_capacity_is_where_the_slos_break_between_the_last_stage_that_met_them_and_the_next():
    history, phases = staged_history(slo_breach_at=60)
    result = stress_capacity(history, phases, StressLimits(), {"POST /api/auth/login": 1000.0})
    assert result["capacity_stage_users"] == 50
    # login p95 at 40% of its limit at 50 users, 150% at 60: it reaches 100% at 50 + 10 * 0.6 / 1.1
    assert abs(result["capacity_users"] - 55.5) < 0.1
    assert result["capacity_reached"] is True
    assert "held at 50 users" in result["sentences"][0]
    assert "POST /api/auth/login p95 1500 ms > 1000 ms" in result["sentences"][0]


def test_capacity_moves_with_how_far_the_breaching_stage_is_over_its_limit():
    """Two runs breaking at the same stage, one barely and one far over: the one barely over had
    more capacity; a stage count alone would call them equal."""
    history, phases = staged_history(slo_breach_at=60)
    limits = StressLimits()
    barely = stress_capacity(history.assign(p95=lambda f: np.where(
        (f["endpoint"] == "POST /api/auth/login") & (f["users"] >= 60), 1050.0, f["p95"])), phases, limits,
        {"POST /api/auth/login": 1000.0})
    far = stress_capacity(history, phases, limits, {"POST /api/auth/login": 1000.0})
    assert barely["capacity_stage_users"] == far["capacity_stage_users"] == 50
    assert barely["capacity_users"] > far["capacity_users"] + 3


def test_an_endpoint_without_requests_in_the_judged_part_is_not_held_to_its_slo():
    """Locust's window keeps showing the spawn's login burst after the last login (rps 0): that stale
    p95 says how slow the logins of the spawn were, not what the stage's load does to logins."""
    history, phases = staged_history(slo_breach_at=60)
    logins = history["endpoint"] == "POST /api/auth/login"
    quiet = logins & (history["users"] >= 60)
    history.loc[quiet, "rps"] = 0.0  # no login after the spawn: the window only holds old ones
    history.loc[logins, "requests"] = np.cumsum(np.where(quiet[logins], 0.0, 1.0))
    result = stress_capacity(history, phases, StressLimits(), {"POST /api/auth/login": 1000.0})
    assert result["capacity_reached"] is False and result["capacity_users"] == 80
    few = stress_capacity(staged_history(slo_breach_at=60)[0], phases, StressLimits(min_endpoint_requests=100),
                          {"POST /api/auth/login": 1000.0})
    assert few["capacity_reached"] is False  # 15 logins per judged part: too few to hold to the SLO


def test_capacity_is_zero_when_the_first_stage_breaks():
    history, phases = staged_history(slo_breach_at=10)
    result = stress_capacity(history, phases, StressLimits(), {"POST /api/auth/login": 1000.0})
    assert result["capacity_users"] == 0 and result["status"] == "fail"
    assert result["sentences"][0].startswith("capacity 0 users: the SLOs broke in the first stage")


def test_knee_is_found_where_latency_climbs():
    history, phases = staged_history(knee=40, slo_breach_at=None)
    result = stress_capacity(history, phases, StressLimits(knee_pct=50), {})
    # p50 reaches 150 ms (100 + 50%) at 45 users: interpolated between the 40 and 50 user stages
    assert abs(result["knee_users"] - 45) <= 2
    assert result["capacity_users"] == 80 and result["capacity_reached"] is False


def test_knee_ignores_a_changing_request_mix():
    """The Aggregated median jumps when the mix moves between fast and slow endpoints; the knee does not."""
    history, phases = staged_history(knee=1000, slo_breach_at=None)  # no endpoint gets slower
    swing = (history["endpoint"] == "Aggregated") & (history["users"] == 30)
    history.loc[swing, "p50"] *= 3  # mostly slow endpoints in this stage's windows
    result = stress_capacity(history, phases, StressLimits(knee_pct=50), {})
    assert result["knee_users"] is None


def test_flat_latency_has_no_knee():
    assert knee_users([10, 20, 30], [100.0, 102.0, 99.0], 50) is None


def test_too_few_requests_cannot_be_judged():
    history, phases = staged_history()
    history = history.assign(requests=0)
    result = stress_capacity(history, phases, StressLimits(), {})
    assert result["status"] == "unjudgeable"


def test_capacity_compared_with_the_baseline():
    history, phases = staged_history(slo_breach_at=40)
    result = stress_capacity(history, phases, StressLimits(), {"POST /api/auth/login": 1000.0})
    assert result["capacity_stage_users"] == 30 and 30 < result["capacity_users"] < 40
    baselines = [{"capacity_users": 50, "knee_users": 45.0}, {"capacity_users": 50, "knee_users": 46.0}]
    compared = compare_capacity(result, baselines, StressLimits(capacity_drop_pct=20))
    assert compared["status"] == "fail"
    change = (result["capacity_users"] - 50) / 50 * 100
    assert compared["baseline"]["capacity_users"]["change_pct"] == round(change, 1) < -20
    same = compare_capacity(result, [{"capacity_users": 30, "knee_users": result["knee_users"]}], StressLimits())
    assert same["status"] == "pass"
