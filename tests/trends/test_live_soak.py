"""For real: the runner's soak on the reference stack with a leak injected, the /metrics scraper
beside it, then `python -m gate.trends soak`: the leak is reported as drifting (~35 s).

25 s of load is plenty for the memory trend (it was 70 s, then 40 s): one sample a second, about 17
after the warm-up (the later of the 8 users' spawn and 15% of the run; 8 needed); at 40 s it measured
2,508 MB/hour (p=2e-19) against a limit of 250 MB/hour. The p95 trend, thinned to one point per 10-s
window, cannot be judged in so short a soak (8 points needed): the leak is what this test is for."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from trend_data import BUNDLE

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_leaking_soak_is_drifting(tmp_path):
    results, port = tmp_path / "soak", free_port()
    results.mkdir()
    stop = results / "scrape.stop"
    # 100 KB kept per request: ~1 MB/s at this load, far above the unchanged stack's warm-up growth
    env = {**os.environ, "VOICEASSIST_BCRYPT_ROUNDS": "10", "VOICEASSIST_INJECT_LEAK_KB_PER_REQUEST": "100",
           "VOICEASSIST_INJECT_LEAK_MAX_MB": "256"}
    scraper = subprocess.Popen([sys.executable, "-m", "gate.trends", "scrape", "--url",
                                f"http://127.0.0.1:{port}/metrics", "--out", str(results / "memory.csv"),
                                "--every", "1", "--until-file", str(stop), "--duration", "240"], cwd=BUNDLE)
    try:
        run = subprocess.run([sys.executable, "-m", "scripts.run", "soak", "--users", "8", "--run-time", "25s",
                              "--think-scale", "0.3", "--port", str(port), "--no-gate", "--results", str(results)],
                             cwd=BUNDLE, env=env, capture_output=True, text=True, timeout=240, check=False)
    finally:
        stop.touch()
        scraper.wait(timeout=30)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    done = subprocess.run([sys.executable, "-m", "gate.trends", "soak", "--run", str(results)], cwd=BUNDLE,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout
    trends = json.loads((results / "trends.json").read_text())
    assert trends["memory"]["drifting"] is True, trends["memory"]
    assert trends["memory"]["slope_per_hour"] > 1000, trends["memory"]
