"""CPU steal (the time the hypervisor gave this VM's CPUs to other VMs while the load ran): measured by the
suite from /proc/stat, read by the gate, shown in the summary when it is worth a reader's attention (a
shared runner's busy neighbours are what makes rounds swing); a malformed figure cannot be judged."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import POLICY

from benchmarks.synthetic import smoke_shape, write_run
from gate import Unjudgeable
from gate.judge.paired import merged
from gate.judge.pipeline import judge
from gate.read.run import read_run
from gate.report.render import render_summary
from scripts import layout

sys.path.insert(0, str(layout.SUITE))
import cpu_steal

# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
STAT = "cpu  {user} 0 100 {idle} 5 0 10 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"


def _stat(tmp_path, name, user, idle, steal):
    path = tmp_path / name
    path.write_text(STAT.format(user=user, idle=idle, steal=steal))
    return path


def test_steal_is_the_share_of_all_cpu_ticks_the_hypervisor_gave_away(tmp_path):
    before = cpu_steal.cpu_times(_stat(tmp_path, "before", user=1000, idle=5000, steal=100))
    after = cpu_steal.cpu_times(_stat(tmp_path, "after", user=1800, idle=6000, steal=300))
    assert before == (100, 6215)
    assert cpu_steal.steal_pct(before, after) == pytest.approx(200 / 2000 * 100, abs=0.05)


@pytest.mark.parametrize("text", ["", "intr 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n", "cpu 1 2 3\n"])
def test_no_readable_proc_stat_means_no_figure_not_a_broken_run(tmp_path, text):
    path = tmp_path / "stat"
    path.write_text(text)
    assert cpu_steal.cpu_times(path) is None and cpu_steal.cpu_times(tmp_path / "absent") is None
    assert cpu_steal.steal_pct(None, (1, 2)) is None and cpu_steal.steal_pct((1, 5), (1, 5)) is None


def _run_with(tmp_path, steal, name="run"):
    folder = write_run(tmp_path / name, smoke_shape(), seed=3)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["machine"]["cpu_steal_pct"] = steal
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_steal_reaches_the_verdict_and_the_summary_when_it_matters(tmp_path):
    busy = judge(str(_run_with(tmp_path, 9.4)), "smoke", None, str(POLICY))
    assert busy["run"]["cpu_steal_pct"] == pytest.approx(9.4)
    assert "other VMs took 9% of this machine's CPU time" in render_summary(busy)
    quiet = judge(str(_run_with(tmp_path, 0.3, "quiet")), "smoke", None, str(POLICY))
    assert "other VMs" not in render_summary(quiet)
    older = write_run(tmp_path / "older", smoke_shape(), seed=3)  # a run from before the figure existed
    assert read_run(older).cpu_steal_pct is None


def test_paired_rounds_report_the_worst_round(tmp_path):
    rounds = [read_run(_run_with(tmp_path, steal, f"round-{steal}")) for steal in (1.0, 12.5, None)]
    assert merged(rounds).cpu_steal_pct == pytest.approx(12.5)


@pytest.mark.parametrize("steal", [-1, 101, "9%", True])
def test_a_malformed_steal_figure_cannot_be_judged(tmp_path, steal):
    with pytest.raises(Unjudgeable) as raised:
        read_run(_run_with(tmp_path, steal))
    assert "machine.cpu_steal_pct" in raised.value.reason
