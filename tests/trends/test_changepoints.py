"""Change points over a nightly history (Apache Otava's E-divisive): injected shifts are found on
their nights, a history without shifts has none; the history file itself."""

from __future__ import annotations

import json

import pytest

from gate import Unjudgeable
from gate.trends.changepoints import (
    ChangePointSettings,
    find_change_points,
    find_history_change_points,
    judge_new,
    new_change_points,
)
from gate.trends.history import append_record, history_series, read_history, synthetic_history

pytest.importorskip("otava.analysis", reason="apache-otava is not installed (pip install --no-deps apache-otava)")

SHIFTS = ((40, 0.20), (85, 0.15))


@pytest.mark.parametrize("seed", range(5))
def test_two_injected_shifts_are_found_on_their_nights(seed):
    records = synthetic_history(120, SHIFTS, seed)
    result = find_history_change_points(records, ChangePointSettings())
    nights = {point["index"] for point in result["change_points"]}
    assert nights, result
    assert all(min(abs(night - 40), abs(night - 85)) <= 1 for night in nights), nights
    assert any(abs(night - 40) <= 1 for night in nights) and any(abs(night - 85) <= 1 for night in nights)
    latency = [p for p in result["change_points"] if p["series"] == "Aggregated p95"]
    assert [p["direction"] for p in latency] == ["worse", "worse"]
    first = latency[0]
    assert first["commit_range"] == [records[first["index"] - 1]["commit"], records[first["index"]]["commit"]]


@pytest.mark.parametrize("seed", range(5))
def test_a_history_without_shifts_has_no_change_point(seed):
    result = find_history_change_points(synthetic_history(120, (), seed), ChangePointSettings())
    assert result["change_points"] == []
    assert result["sentences"] == ["no change point in 120 nights"]


def test_throughput_falling_is_worse():
    result = find_history_change_points(synthetic_history(120, SHIFTS, 0), ChangePointSettings())
    throughput = [p for p in result["change_points"] if p["series"] == "Aggregated throughput"]
    assert throughput and all(p["direction"] == "worse" and p["change_pct"] < 0 for p in throughput)


def test_constant_and_missing_values():
    assert find_change_points([0.0] * 60, ChangePointSettings()) == []
    assert find_change_points([None] * 60, ChangePointSettings()) == []
    values = [100.0] * 30 + [None] * 5 + [150.0] * 30
    assert [p["index"] for p in find_change_points(values, ChangePointSettings())] in ([30], [35])


def test_only_new_worse_change_points_fail():
    result = find_history_change_points(synthetic_history(120, SHIFTS, 1), ChangePointSettings())
    result["new"] = new_change_points(result["change_points"], [])
    assert judge_new(result)["status"] == "fail"
    known = [{"series": p["series"], "index": p["index"] + 1} for p in result["change_points"]]  # moved by a night
    result["new"] = new_change_points(result["change_points"], known)
    assert result["new"] == [] and judge_new(result)["status"] == "pass"


def test_too_short_a_history_cannot_be_judged():
    result = find_history_change_points(synthetic_history(5), ChangePointSettings())
    assert result["status"] == "unjudgeable"


def test_history_file_round_trip(tmp_path):
    path = tmp_path / "soak.jsonl"
    records = synthetic_history(3)
    for record in records:
        append_record(path, record)
    assert append_record(path, records[1]) == 3  # the same night again replaces, not duplicates
    assert read_history(path) == records
    series = history_series(read_history(path))
    assert len(series["Aggregated p95"]) == 3 and "rss_mb_per_hour" in series


def test_a_corrupt_history_line_is_named(tmp_path):
    path = tmp_path / "soak.jsonl"
    path.write_text(json.dumps(synthetic_history(1)[0]) + "\n{truncated\n")
    with pytest.raises(Unjudgeable, match=r"soak.jsonl:2"):
        read_history(path)
