"""A benchmark's load stops with it. Interrupted (Ctrl-C, SIGTERM, a timeout), a benchmark asks the load it
started (`scripts.run`, Locust) to stop as a CI timeout would, with SIGTERM, and waits for it: the runner then
stops Locust and its stack, so neither outlives the benchmark. `subprocess.run` would SIGKILL it instead, and
the stack it started would run on. A benchmark's own SIGTERM unwinds it like Ctrl-C once its main calls
`scripts.run.unwind_on_sigterm()`, as the runner's does."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence

STOP_GRACE_S = 60.0  # a terminated runner's own unwinding: Locust's quit, the stack's stop


def run_child(command: Sequence[str], *, timeout: float | None = None, **popen) -> subprocess.CompletedProcess:
    """`subprocess.run(command, timeout=timeout, **popen)` (no `check`), except that when it times out or the
    benchmark is interrupted, the child gets SIGTERM and up to STOP_GRACE_S to stop before it is killed."""
    if popen.pop("capture_output", False):
        popen.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with subprocess.Popen(command, **popen) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except BaseException:
            child.send_signal(signal.SIGTERM)
            try:
                child.communicate(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
            raise
    return subprocess.CompletedProcess(list(command), child.returncode, stdout, stderr)
