"""The load generator's CPU, from metrics.json, is in the verdict and the summary (is the server, not the
generator, the bottleneck?); a malformed figure is a run that cannot be judged, named as such."""

from __future__ import annotations

import json

import pytest
from conftest import POLICY

from benchmarks.synthetic import smoke_shape, write_run
from gate import Unjudgeable
from gate.judge.pipeline import judge
from gate.read.run import read_run
from gate.report.render import render_summary


def _run_with(tmp_path, generator):
    folder = write_run(tmp_path / "run", smoke_shape(), seed=3)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["generator"] = generator
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_the_generators_cpu_share_reaches_the_summary(tmp_path):
    folder = _run_with(tmp_path, {"cpu_s": 6.0, "wall_s": 120.0})
    assert read_run(folder).generator_cpu_pct == pytest.approx(5.0)
    verdict = judge(str(folder), "smoke", None, str(POLICY))
    assert verdict["run"]["generator_cpu_pct"] == pytest.approx(5.0)
    assert "load generator at 5% of a core" in render_summary(verdict)


@pytest.mark.parametrize(("generator", "message"), [
    ("busy", "generator"),
    ({"cpu_s": 6.0}, "generator"),
    ({"cpu_s": -1.0, "wall_s": 120.0}, "generator.cpu_s"),
    ({"cpu_s": 6.0, "wall_s": 0}, "generator.wall_s"),
    ({"cpu_s": "6", "wall_s": 120.0}, "generator.cpu_s"),
])
def test_a_malformed_generator_figure_cannot_be_judged(tmp_path, generator, message):
    with pytest.raises(Unjudgeable) as raised:
        read_run(_run_with(tmp_path, generator))
    assert message in raised.value.reason
