"""The drift injections the acceptance runs rely on: a bounded leak, a latency that grows with time,
a slow recovery after a burst; read from the environment, refused when not numbers."""

from __future__ import annotations

import pytest

from stack.drift_injection import DriftInjection, DriftState, parse_drift_injection
from stack.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_leak_keeps_memory_per_request_up_to_its_cap():
    state = DriftState(DriftInjection(leak_kb_per_request=100, leak_max_mb=1))
    for _ in range(20):
        state.on_request()
        state.on_response()
    assert state.leaked_bytes == 10 * 100 * 1024  # ten fit under 1 MiB, the rest are refused
    assert all(chunk.count(1) == len(chunk) for chunk in state.leaked)  # touched, so resident


def test_latency_grows_with_minutes_since_the_first_request():
    clock = Clock()
    state = DriftState(DriftInjection(latency_growth_ms_per_min=20), clock)
    assert state.on_request() == 0.0
    clock.now += 180
    assert state.on_request() == pytest.approx(0.060)
    clock.now += 36000  # ten hours: 12 s uncapped
    assert state.on_request() == 5.0  # capped


def test_slow_recovery_fades_after_the_burst():
    clock = Clock()
    state = DriftState(DriftInjection(slow_recovery_s=100, slow_recovery_ms=400, slow_recovery_inflight=3), clock)
    assert state.on_request() == 0.0  # one in flight: no burst
    for _ in range(3):
        state.on_request()  # four in flight: a burst
    assert state.last_overload_at == clock.now
    for _ in range(4):
        state.on_response()
    clock.now += 50
    assert state.on_request() == pytest.approx(0.2)  # half way through the fade
    state.on_response()
    clock.now += 60
    assert state.on_request() == 0.0


def test_settings_read_the_injection_and_refuse_garbage(tmp_path):
    env = {"VOICEASSIST_DATA_DIR": str(tmp_path), "VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST": "50",
           "VOICEASSIST_INJECT_SLOW_RECOVERY_INFLIGHT": "8"}
    drift = Settings.from_env(env).injected_drift
    assert drift.leak_kb_per_request == 50 and drift.slow_recovery_inflight == 8 and drift.active
    assert not Settings.from_env({"VOICEASSIST_DATA_DIR": str(tmp_path)}).injected_drift.active
    with pytest.raises(ValueError, match="VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN"):
        parse_drift_injection({"VOICEASSIST_INJECT_LATENCY_GROWTH_MS_PER_MIN": "lots"})
    with pytest.raises(ValueError, match="zero or more"):
        parse_drift_injection({"VOICEASSIST_INJECT_SLOW_RECOVERY_S": "-1"})
