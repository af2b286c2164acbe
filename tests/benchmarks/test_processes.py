"""A benchmark's load stops with it: interrupted, the benchmark sends its runner SIGTERM (the runner then
stops Locust and the stack) and waits, instead of SIGKILL, which would leave the runner's stack running.

The children here are small Python programs that record the signal they got; the runner's own unwinding
on SIGTERM is tested in tests/suite/test_runner.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import processes
from scripts import layout

WAIT_S = 30  # how long the tests wait for a child to start; never reached unless something is wrong


def trapping_child(ready: Path, stopped: Path, *, ignore_sigterm: bool = False) -> list[str]:
    """A child that says it is ready, then sleeps; on SIGTERM it writes `stopped` and exits 0 (or ignores it)."""
    handler = "signal.SIG_IGN" if ignore_sigterm else \
        f"lambda *_: (pathlib.Path({str(stopped)!r}).write_text('SIGTERM'), sys.exit(0))"
    return [sys.executable, "-c",
            ("import pathlib, signal, sys, time\n"
            f"signal.signal(signal.SIGTERM, {handler})\n"
            f"pathlib.Path({str(ready)!r}).write_text('ready')\n"
            "time.sleep(120)\n")]


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path.name} never appeared"


def test_a_child_that_finishes_gives_its_output_and_code():
    done = processes.run_child([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"],
                               capture_output=True, text=True, timeout=WAIT_S)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (3, "out", "")


def test_a_timed_out_child_gets_sigterm_not_sigkill(tmp_path):
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run_child(trapping_child(ready, stopped), timeout=1.0)
    assert stopped.read_text() == "SIGTERM"


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "STOP_GRACE_S", 0.5)
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    command = trapping_child(ready, stopped, ignore_sigterm=True)
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run_child(command, timeout=1.0)
    assert ready.exists() and not stopped.exists()
    leftovers = subprocess.run(["pgrep", "-f", str(ready)], capture_output=True, text=True, check=False).stdout
    assert not leftovers.strip(), f"the child outlived run_child: {leftovers}"


def test_a_terminated_benchmark_passes_sigterm_on_to_its_load(tmp_path):
    """SIGTERM to the benchmark (a CI timeout, `kill`) reaches the load it runs, which gets to unwind."""
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    benchmark = subprocess.Popen(
        [sys.executable, "-c",
         ("import sys\n"
         "from benchmarks.processes import run_child\n"
          "from scripts.run import unwind_on_sigterm\n"
         "unwind_on_sigterm()\n"
         f"run_child({trapping_child(ready, stopped)!r}, timeout=120)\n")],
        cwd=layout.BUNDLE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(ready)
        benchmark.send_signal(signal.SIGTERM)
        _, stderr = benchmark.communicate(timeout=WAIT_S)
    finally:
        benchmark.kill()
    assert stopped.read_text() == "SIGTERM"
    assert benchmark.returncode != 0 and "Terminated" in stderr
