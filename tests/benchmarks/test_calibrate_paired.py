"""The paired calibration's arithmetic, on data with known answers: the delay that moves an endpoint's
centre by +30%, the gain that resizes the next trial's delay, the rotation of conditions and the
per-endpoint power table. The trials themselves are real runs (a benchmark, not a test)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math

import pytest

from benchmarks import calibrate_paired as calibration
from gate.judge.statistics import trimmed_log_mean
from gate.read.histogram import Histogram, histogram_from_buckets
from scripts import layout

SHORT_ENDPOINT = histogram_from_buckets({3: 10, 4: 40, 5: 60, 6: 40, 8: 20, 12: 10, 30: 5})


def centre(histogram: Histogram) -> float:
    return math.exp(trimmed_log_mean(histogram)[0])


@pytest.mark.parametrize("pct", [10.0, 30.0, 100.0])
def test_the_delay_moves_the_centre_by_the_percentage(pct):
    delay = calibration.centre_delay_ms(SHORT_ENDPOINT, pct)
    slowed = Histogram(values=SHORT_ENDPOINT.values + delay, counts=SHORT_ENDPOINT.counts)
    assert centre(slowed) / centre(SHORT_ENDPOINT) == pytest.approx(1 + pct / 100, rel=1e-6)


def test_a_fixed_delay_slows_the_short_requests_more_than_the_tail():
    delay = calibration.centre_delay_ms(SHORT_ENDPOINT, 30.0)
    assert 1.3 < (3 + delay) / 3 and (30 + delay) / 30 < 1.3


def injected_row(centre_ms: float, delay_ms: float, change_pct: float | None) -> dict:
    return {"injection": {"GET /api/auth/me": {"centre_ms": centre_ms, "delay_ms": delay_ms}},
            "paired_centre_change": {"GET /api/auth/me": change_pct}}


def test_the_gain_is_the_median_slowdown_per_injected_millisecond():
    rows = [injected_row(10.0, 2.0, 10.0),   # 1 ms seen of 2: 0.5
            injected_row(10.0, 2.0, 30.0),   # 3 of 2: 1.5
            injected_row(10.0, 4.0, 28.0),   # 2.8 of 4: 0.7
            {"injection": None, "paired_centre_change": {}}]  # an unchanged trial: no say
    assert calibration.client_gains(rows) == {"GET /api/auth/me": pytest.approx(0.7)}


def test_the_gain_is_trusted_within_bounds_and_ignores_unmeasured_trials():
    assert calibration.client_gains([injected_row(10.0, 1.0, 100.0)]) == {"GET /api/auth/me": calibration.MAX_GAIN}
    assert calibration.client_gains([injected_row(10.0, 1.0, -50.0)]) == \
        {"GET /api/auth/me": 1 / calibration.MAX_GAIN}
    assert calibration.client_gains([injected_row(10.0, 1.0, None)]) == {}


def test_the_gain_is_learnt_net_of_what_the_whole_head_shared():
    # a head 18% slower as a whole: +51% as measured, +30% net; the gain is the net one's
    row = injected_row(7.0, 2.1, 51.0) | {"paired_centre_net_change": {"GET /api/auth/me": 30.0}}
    assert calibration.client_gains([row]) == {"GET /api/auth/me": pytest.approx(1.0)}
    # an earlier record's row, without the net change: the measured one
    assert calibration.client_gains([injected_row(7.0, 2.1, 51.0)]) == {"GET /api/auth/me": pytest.approx(1.7)}


def test_the_centre_change_as_measured_and_net():
    verdict = {"endpoints": [{"endpoint": "GET /a", "metrics": {"distribution": {"shift_function": [
        {"quantile": "p95", "value": 30.0, "baseline": 20.0, "change_pct": 40.0},
        {"quantile": "trimmed mean", "value": 6.0, "baseline": 4.0, "expected": 4.8, "change_pct": 25.0}]}}}]}
    assert calibration.centre_change(verdict, "GET /a") == pytest.approx(50.0)
    assert calibration.centre_change(verdict, "GET /a", net=True) == pytest.approx(25.0)
    assert calibration.centre_change(verdict, "GET /b") is None


def test_conditions_rotate_so_a_drifting_machine_touches_each_alike():
    args = argparse.Namespace(unchanged=3, inject_runs=2, disturbed=1, together=True, endpoints=["A", "B"])
    assert calibration.conditions(args) == [("unchanged", None), ("inject", "A,B"), ("disturbed", None),
                                            ("unchanged", None), ("inject", "A,B"), ("unchanged", None)]
    args.together = False
    assert calibration.conditions(args)[:4] == [("unchanged", None), ("inject", "A"), ("inject", "B"),
                                                ("disturbed", None)]


def test_the_power_table_counts_only_judged_unchanged_runs():
    rows = [{"paired": {"unchanged": "pass"}, "paired_detectable_all": {"GET /a": 20.0, "GET /b": 40.0}},
            {"paired": {"unchanged": "fail"}, "paired_detectable_all": {"GET /a": 24.0, "GET /b": 30.0}},
            {"paired": {"unchanged": "cannot judge"}, "paired_detectable_all": {"GET /a": 90.0}},
            {"paired": {"GET /a": "detected"}, "paired_detectable_all": {"GET /b": 10.0}}]
    table = calibration.power_table(rows, bar_pct=25.0)
    assert table[2:] == ["| GET /a | +22% (20 to 24) | 2/2 |", "| GET /b | +35% (30 to 40) | 0/2 |"]


def test_the_shared_change_is_counted_per_kind_of_trial():
    rows = [{"paired": {"unchanged": "pass"}, "paired_run_wide": "same"},
            {"paired": {"unchanged": "pass"}, "paired_run_wide": "unresolved"},
            {"paired": {"unchanged": "cannot judge"}, "paired_run_wide": None},
            {"paired": {"A": "detected", "B": "missed"}, "paired_run_wide": "different"}]
    lines = calibration.run_wide_table(rows)
    assert "| unchanged | 1 | 1 | 0 | 1 |" in lines and "| injected | 0 | 0 | 1 | 0 |" in lines


def record(tmp_path, name: str, trials: list[dict], pct: float = 30.0, sample_target: int | None = None,
           max_rounds: int | None = None):
    path = tmp_path / name
    calibration_args = argparse.Namespace(rounds=None, round_time=None, max_rounds=max_rounds,
                                          sample_target=sample_target, pct=pct,
                                          inject_as="client", endpoints=["GET /a"], together=True,
                                          disturbance="throttle")
    calibration.write_record(path, trials, "abc123", calibration_args)
    return path


def trial(kind: str, outcome: str, reach: float | None = 0.3) -> dict:
    injected = kind == "inject"
    return {"trial": f"01-{kind}", "paired": {"GET /a" if injected else kind: outcome},
            "paired_detectable": {"GET /a": 20.0}, "paired_detectable_all": {"GET /a": 20.0},
            "paired_centre_change": {"GET /a": 31.0 if injected else None},
            "paired_failing_elsewhere": [] if injected else None, "paired_run_wide": "same",
            "control_reach": reach}


def test_records_of_several_nights_add_up(tmp_path, capsys):
    first = record(tmp_path, "one.json", [trial("unchanged", "pass"), trial("inject", "detected", 0.5)])
    second = record(tmp_path, "two.json", [trial("unchanged", "fail", 1.2), trial("inject", "missed", None)])
    rows, meta = calibration.read_records([first, second])
    assert len(rows) == 4 and meta["endpoints"] == ["GET /a"] and meta["rounds"] == 12
    assert calibration.main(["--combine", str(first), str(second)]) == 0
    printed = capsys.readouterr().out
    assert "| unchanged | 2 | 1/2 (1-99%) | 1 | 0 |" in printed
    assert "| +30% GET /a | 2 | 1/2 (1-99%) | 1 | 0 |" in printed
    assert ("3 undisturbed trials: the most departing round went 50% of the way to the control's bar (median; "
            "30% to 120%), 1 beyond it") in printed


def test_records_at_another_size_or_unreadable_are_refused_by_name(tmp_path):
    first = record(tmp_path, "one.json", [trial("unchanged", "pass")])
    other = record(tmp_path, "other.json", [trial("unchanged", "pass")], pct=100.0)
    with pytest.raises(SystemExit, match="other.json: injected \\+100.0% .* records add up at one size only"):
        calibration.read_records([first, other])
    denser = record(tmp_path, "denser.json", [trial("unchanged", "pass")], sample_target=400)
    assert json.loads(denser.read_text())["meta"]["model_sample_target"] == 200  # chat at the profile's pace
    with pytest.raises(SystemExit, match="denser.json: sample_target 400, model_sample_target 200, the others "
                                         "200, 0: records add up only when their rounds measured alike"):
        calibration.read_records([first, denser])
    fixed = record(tmp_path, "fixed.json", [trial("unchanged", "pass")], max_rounds=12)
    assert json.loads(first.read_text())["meta"]["max_rounds"] == 20  # the smoke's paired-max-rounds
    with pytest.raises(SystemExit, match="fixed.json: max_rounds 12, the others 20: records add up only when"):
        calibration.read_records([first, fixed])
    # a record written before rounds were added for power ran its rounds, fixed
    older = json.loads(fixed.read_text())
    del older["meta"]["max_rounds"]
    (tmp_path / "older.json").write_text(json.dumps(older))
    assert len(calibration.read_records([fixed, tmp_path / "older.json"])[0]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text('{"trials": []}')
    with pytest.raises(SystemExit, match="broken.json: not a record of this benchmark"):
        calibration.read_records([first, broken])


def test_the_noise_models_calibration_counts_small_p_values_each_way_per_statistic():
    rows = [{"null_p_values": {"GET /a": [0.004, 0.5, 0.97], "GET /b": [0.03, 0.995, 0.6]}},
            {"null_p_values": {"GET /a": [0.2, 0.3, 0.4], "GET /b": [0.7, 0.8, 0.9]}},
            {"null_p_values": None}]  # an injected trial: not a null
    lines = calibration.calibration_lines(rows)
    assert "| trimmed mean | 4 | 50.0% | 25.0% | 0.0% | 0.0% |" in lines
    assert "| p90 | 4 | 0.0% | 0.0% | 25.0% | 25.0% |" in lines
    assert "| p95 | 4 | 0.0% | 0.0% | 25.0% | 0.0% |" in lines
    assert calibration.calibration_lines([{"null_p_values": None}]) == []


def test_detection_is_split_by_what_the_injection_came_to():
    rows = [{"paired": {"GET /a": "detected"}, "paired_centre_change": {"GET /a": 31.0}},
            {"paired": {"GET /a": "missed"}, "paired_centre_change": {"GET /a": 26.0}},
            {"paired": {"GET /a": "missed"}, "paired_centre_change": {"GET /a": 8.0}},
            {"paired": {"GET /a": "cannot judge"}, "paired_centre_change": {"GET /a": 40.0}},
            {"paired": {"unchanged": "pass"}, "paired_centre_change": {"GET /a": 1.0}}]
    lines = calibration.by_slowdown_table(rows, 30.0)
    assert lines[-1] == "| GET /a | 1/2 (1-99%) | 0/1 (0-98%) |"


@pytest.mark.parametrize("goal, rounds", [(1, 12), (0, 8)])
def test_a_trial_adds_rounds_as_the_pr_gate_does_and_is_judged_again_on_all_of_them(tmp_path, monkeypatch, goal,
                                                                                    rounds):
    """Synthetic rounds in place of stacks: short of the policy's goal (+1%: beyond any endpoint's reach), a
    trial adds two blocks up to --max-rounds; a goal that is off adds none. --judge-only reads them all."""
    from benchmarks.synthetic import smoke_shape, write_run
    from scripts import ab
    from scripts.layout import BUNDLE

    ran: list[str] = []

    def synthetic_round(options, one_round, side, folder):
        ran.append(side.name)
        write_run(folder, smoke_shape(minutes=0.5), seed=len(ran))
        (folder / "report.html").write_text("<html></html>")  # what Locust writes last

    monkeypatch.setattr(ab, "run_round", synthetic_round)
    policy = tmp_path / "policy.yml"
    policy.write_text((BUNDLE / "baselines" / "policy.yml").read_text().replace(
        "detectable_goal_pct: 25\n", f"detectable_goal_pct: {goal}\n"))
    args = argparse.Namespace(rounds=8, max_rounds=12, round_time=None, sample_target=None, judge_only=False,
                              policy=policy, port=8200, pct=30.0, inject_as="client")
    folder = tmp_path / "01-unchanged" / "paired"
    verdict = calibration.paired_trial(folder, "unchanged", None, tmp_path, "abc123", args, {})
    assert len(ran) == rounds and "".join(side[0].upper() for side in ran) == ("BHHB" * 3)[:rounds]
    assert f"paired with {rounds // 2} base rounds" in (folder / "summary.md").read_text()
    assert verdict["exit_code"] == 0 and bool(verdict["short_of_goal"]) is (goal == 1)
    args.judge_only = True
    again = calibration.paired_trial(folder, "unchanged", None, tmp_path, "abc123", args, {})
    assert len(ran) == rounds and again["run"]["path"] == verdict["run"]["path"]


def test_a_disturbed_trial_runs_its_block_again_undisturbed_as_the_pr_gate_does(tmp_path, monkeypatch):
    """The disturbed trial's round (the second block's base round) is disturbed the first time it runs: the
    A/A control finds it, its block runs again as scripts/ab.measure does, undisturbed, and the trial is
    judged without it."""
    from benchmarks.synthetic import smoke_shape, write_run
    from scripts import ab

    ran: list[str] = []
    disturbing: list[bool] = []

    @contextlib.contextmanager
    def disturbance(args, round_folder):
        disturbing.append(True)
        yield
        disturbing.clear()

    def synthetic_round(options, one_round, side, folder):
        ran.append(side.name)
        write_run(folder, smoke_shape(minutes=0.5, run_factor=2.5 if disturbing else 1.0), seed=len(ran))
        (folder / "report.html").write_text("<html></html>")

    monkeypatch.setattr(ab, "run_round", synthetic_round)
    monkeypatch.setattr(calibration, "disturbance", disturbance)
    args = argparse.Namespace(rounds=8, max_rounds=8, round_time=None, sample_target=None, judge_only=False,
                              policy=layout.POLICY, port=8200, pct=30.0, inject_as="client")
    folder = tmp_path / "01-disturbed" / "paired"
    verdict = calibration.paired_trial(folder, "disturbed", None, tmp_path, "abc123", args, {})
    assert "".join(side[0].upper() for side in ran) == "BHHBBHHB" + "HB"
    assert verdict["exit_code"] == 0, verdict["reason"]
    [note] = verdict["replaced"]
    assert note.startswith(f"rounds 03-head and {calibration.DISTURBED_ROUND:02d}-base (block 2) ran again: "
                           f"round {calibration.DISTURBED_ROUND:02d}-base ran +"), note
    assert calibration.outcomes(verdict, "disturbed", None) == {"disturbed": "pass"}


def test_a_trial_judged_again_keeps_the_minutes_it_took_to_run(tmp_path):
    assert calibration.trial_minutes(tmp_path, 8.44, measured_now=True) == 8.4
    assert calibration.trial_minutes(tmp_path, 0.01, measured_now=False) == 8.4  # --judge-only: no rounds ran
    assert calibration.trial_minutes(tmp_path, 9.0, measured_now=True) == 9.0  # measured again: the new time
    (tmp_path / "other").mkdir()
    assert calibration.trial_minutes(tmp_path / "other", 0.2, measured_now=False) == 0.2  # nothing kept: this call's
