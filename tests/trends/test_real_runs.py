"""The analyses on real scaled runs of the reference stack (tests/fixtures/trends, made by
benchmarks/calibrate_trends.py and tests/fixtures/trends/build.py): what docs/trends.md reports."""

from __future__ import annotations

import json
import shutil

from trend_data import FIXTURES, trends_command


def analyse(tmp_path, fixture: str, kind: str):
    folder = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, folder)
    done = trends_command(kind, "--run", str(folder))
    return done, json.loads((folder / "trends.json").read_text())


def test_unchanged_soak_is_not_drifting(tmp_path):
    done, trends = analyse(tmp_path, "soak-unchanged", "soak")
    assert done.returncode == 0, done.stdout
    assert trends["latency"]["drifting"] is False and trends["memory"]["drifting"] is False


def test_soak_with_an_injected_leak_is_drifting(tmp_path):
    done, trends = analyse(tmp_path, "soak-leak", "soak")
    assert done.returncode == 1, done.stdout
    assert trends["memory"]["drifting"] is True
    assert trends["memory"]["slope_per_hour"] > 500  # 20 KB x ~13 req/s is ~900 MB/hour


def test_soak_with_latency_growing_over_time_is_drifting(tmp_path):
    done, trends = analyse(tmp_path, "soak-latency", "soak")
    assert done.returncode == 1, done.stdout
    assert trends["latency"]["drifting"] is True
    assert trends["latency"]["slope_per_hour"] > 600  # 20 ms/min injected is 1200 ms/hour


def test_spike_on_the_reference_stack_recovers(tmp_path):
    done, trends = analyse(tmp_path, "spike-natural", "spike")
    assert done.returncode == 0, done.stdout
    assert trends["recovered"] and trends["recovery_s"] <= 15
    assert any(sentence.startswith("recovered ") for sentence in trends["sentences"])


def test_spike_with_injected_slow_recovery_fails(tmp_path):
    done, trends = analyse(tmp_path, "spike-slow-recovery", "spike")
    assert done.returncode == 1, done.stdout
    assert trends["recovered"] is False


def test_stress_on_the_reference_stack_reports_capacity_and_knee(tmp_path):
    done, trends = analyse(tmp_path, "stress-1", "stress")
    assert done.returncode == 0, done.stdout
    stages = [stage["users"] for stage in trends["stages"]]
    assert stages == [24, 48, 72, 96, 120, 144, 168, 192]
    # measured (docs/trends.md): the machine saturates near 110-130 req/s from 72 users on; every
    # endpoint's p95 climbs with the users, the chat's reaches its 3-s SLO at 168 users and breaks it
    # at 192; the endpoints' median latencies double between 48 and 72 users
    loads = [stage["slo_load"] for stage in trends["stages"]]
    assert loads == sorted(loads) and loads[-2] <= 1 < loads[-1]
    assert trends["capacity_stage_users"] == 168 and trends["capacity_reached"] is True
    assert 168 <= trends["capacity_users"] < 192
    assert "POST /api/chat p95" in trends["sentences"][0]
    assert 48 < trends["knee_users"] < 72
    assert 100 < trends["max_throughput_rps"] < 150
    assert (tmp_path / "stress-1" / "stress-capacity.png").is_file()
