"""The generator benchmark's yardstick: a bare FastHttpUser on /health, at the rate it is asked for.

The benchmark divides the suite's CPU per request by this locustfile's, at the suite's request
rate; a yardstick that drifted off its rate or failed its requests would make that ratio a lie.
"""

import json
import subprocess
import sys

import pytest

from benchmarks import generator
from scripts import layout

USERS, RATE, SECONDS = 4, 2.0, 8


@pytest.mark.parametrize("pacing", list(generator.PACINGS))
def test_bare_user_keeps_its_rate_without_failures(embedded_stack, tmp_path, pacing):
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(generator.BARE), "--headless", "--only-summary",
         "--host", embedded_stack.base_url, "--users", str(USERS), "--spawn-rate", str(USERS),
         "--run-time", f"{SECONDS}s", "--bare-rate", str(RATE), "--bare-pacing", pacing,
         "--json-file", str(tmp_path / "stats"), "--bare-cpu-file", str(tmp_path / "cpu.json")],
        cwd=layout.SUITE, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert [entry["name"] for entry in stats] == ["/health"]
    assert stats[0]["num_failures"] == 0
    expected = USERS * RATE * SECONDS
    # random think times scatter the count (each user's ~16 waits are drawn from 0 to 1 s)
    assert 0.6 * expected <= stats[0]["num_requests"] <= 1.4 * expected, stats[0]["num_requests"]
    cpu = json.loads((tmp_path / "cpu.json").read_text())
    assert cpu["cpu_s"] > 0 and SECONDS - 1 <= cpu["wall_s"] <= SECONDS + 3, cpu


def test_the_yardstick_refuses_an_unknown_pacing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(generator.BARE), "--headless", "--host", "http://127.0.0.1:9",
         "--bare-pacing", "jittery", "--run-time", "1s"],
        cwd=layout.SUITE, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode != 0
    assert "--bare-pacing" in done.stderr and "jittery" in done.stderr
