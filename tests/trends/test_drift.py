"""Soak drift on series with known slopes: a growing latency or memory is drifting, a flat one is not."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from trend_data import START, aggregated_frame, memory_frame

from gate.trends.drift import SoakLimits, latency_drift, parse_process_metrics, robust_trend, soak_drift, thin


@pytest.mark.parametrize("seed", range(5))
def test_known_slope_is_found_within_its_interval(seed):
    rng = np.random.default_rng(seed)
    times = np.arange(0, 3600, 10.0)
    values = 300 + 120.0 * times / 3600 + rng.normal(0, 15, len(times))
    trend = robust_trend(times, values, alpha=0.01)
    assert trend.low_per_hour <= 120.0 <= trend.high_per_hour
    assert trend.significant


def test_flat_noise_is_rarely_significant():
    false_alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        times = np.arange(0, 240, 10.0)
        false_alarms += robust_trend(times, 300 + rng.normal(0, 20, len(times)), alpha=0.01).significant
    assert false_alarms <= 4  # 1% expected


def test_constant_series_does_not_trend():
    trend = robust_trend(np.arange(20.0), np.full(20, 5.0))
    assert trend.slope_per_hour == 0 and not trend.significant


def test_thinning_keeps_one_row_per_window():
    frame = aggregated_frame(np.full(120, 300.0))
    thinned = thin(frame, "p95", every_s=10)
    assert len(thinned) == 12
    assert np.all(np.diff(thinned["time"]) >= 10)


def test_growing_latency_drifts_and_flat_latency_does_not():
    rng = np.random.default_rng(3)
    seconds = np.arange(240)
    growing = aggregated_frame(300 + 20.0 * seconds / 60 + rng.normal(0, 15, 240))  # +20 ms/min = 1200 ms/h
    flat = aggregated_frame(300 + rng.normal(0, 15, 240))
    limits = SoakLimits()
    assert latency_drift(growing, limits)["drifting"] is True
    assert latency_drift(flat, limits)["drifting"] is False


def test_soak_reports_latency_and_memory_sentences():
    rng = np.random.default_rng(1)
    frame = aggregated_frame(300 + rng.normal(0, 15, 240))
    leak = memory_frame(mb_per_hour=900.0)
    result = soak_drift(frame, leak, SoakLimits(), (START, START + 240))
    assert result["status"] == "fail"
    assert result["memory"]["drifting"] and not result["latency"]["drifting"]
    assert 880 < result["memory"]["slope_per_hour"] < 920
    assert result["memory"]["sentence"].startswith("RSS grew 89")
    assert "MB/hour (significant" in result["memory"]["sentence"]
    assert result["latency"]["sentence"].startswith("p95 ")


def test_warm_up_growth_is_not_judged():
    """Memory that climbs while the users log in and then stays flat is a warm-up, not a leak."""
    memory = memory_frame(mb_per_hour=0.0)
    memory.loc[memory["time"] < START + 30, "rss_bytes"] -= 20 * 1024 * 1024
    frame = aggregated_frame(np.full(240, 300.0))
    result = soak_drift(frame, memory, SoakLimits(), (START, START + 240), spawn_complete=START + 30)
    assert result["memory"]["drifting"] is False


def test_without_memory_the_soak_cannot_be_judged():
    frame = aggregated_frame(np.full(240, 300.0))
    result = soak_drift(frame, None, SoakLimits(), (START, START + 240))
    assert result["status"] == "unjudgeable"
    assert "memory.csv" in result["memory"]["sentence"]


def test_too_short_a_soak_cannot_be_judged():
    frame = aggregated_frame(np.full(40, 300.0))
    result = latency_drift(frame, SoakLimits())
    assert result["status"] == "unjudgeable"


def test_process_gauges_are_read_from_prometheus_text():
    registry = CollectorRegistry()
    Gauge("process_resident_memory_bytes", "rss", registry=registry).set(123456789)
    Gauge("process_open_fds", "fds", registry=registry).set(42)
    Gauge("http_requests_in_flight", "other", registry=registry).set(3)
    gauges = parse_process_metrics(generate_latest(registry).decode())
    assert gauges == {"rss_bytes": 123456789.0, "open_fds": 42.0}
