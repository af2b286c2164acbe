"""The noise decomposition's arithmetic on synthetic rounds with a known structure: every endpoint follows the
round's speed with its own loading, plus its own noise; the decomposition must find the loadings and what is
left once the speed is taken out."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import round_noise

ROUNDS, LOADINGS, OWN_SD, SPEED_SD = 400, [1.0] * 12 + [2.0, 0.0], 0.05, 0.15


@pytest.fixture(scope="module")
def synthetic():
    generator = np.random.default_rng(7)
    speed = generator.normal(0.0, SPEED_SD, ROUNDS)
    logs = np.outer(speed, LOADINGS) + generator.normal(0.0, OWN_SD, (ROUNDS, len(LOADINGS)))
    groups = ["a:base"] * (ROUNDS // 2) + ["a:head"] * (ROUNDS // 2)
    for group in set(groups):  # as figures() leaves them: each group centred
        members = [index for index, g in enumerate(groups) if g == group]
        logs[members] -= logs[members].mean(axis=0)
    return logs, np.full(logs.shape, OWN_SD ** 2), groups


def test_the_loadings_and_the_endpoints_own_noise_are_found(synthetic):
    logs, variances, groups = synthetic
    rows = round_noise.decompose(logs, variances, groups)
    assert [row["loading"] for row in rows] == pytest.approx(LOADINGS, abs=0.1)
    for row, loading in zip(rows, LOADINGS):
        assert row["net"] == pytest.approx(OWN_SD, rel=0.15)  # the speed taken out, the endpoint's own noise left
        assert row["raw"] == pytest.approx(np.hypot(loading * SPEED_SD, OWN_SD), rel=0.15)


def test_an_endpoint_that_ignores_the_speed_is_not_made_noisier(synthetic):
    logs, variances, groups = synthetic
    chat_like = round_noise.decompose(logs, variances, groups)[-1]
    assert chat_like["net"] <= chat_like["raw"] * 1.05


def test_the_common_factor_is_the_speed_and_does_not_carry_over(synthetic):
    logs, _, groups = synthetic
    spread, lag = round_noise.common_factor(logs, groups)
    assert spread == pytest.approx(SPEED_SD, rel=0.2)
    assert abs(lag) < 0.15


def test_too_few_rounds_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        round_noise.main([str(tmp_path)])
    assert "0 finished rounds" in capsys.readouterr().err
