"""Helpers for the gate's tests: the fixture folders and the real CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parents[2]
FIXTURES = BUNDLE / "tests" / "fixtures" / "gate"
POLICY = BUNDLE / "baselines" / "policy.yml"
BASELINE = FIXTURES / "baseline-smoke.json"


def gate_command(*args: str, cwd: Path = BUNDLE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def check(tmp_path):
    """Runs `python -m gate check` on a fixture folder; returns (process, verdict dict, summary text)."""
    import json

    def run(fixture: str, *extra: str, baseline: Path = BASELINE, policy: Path = POLICY, profile: str = "smoke"):
        out = tmp_path / "out"
        done = gate_command("check", "--run", str(FIXTURES / fixture), "--profile", profile,
                            "--baseline", str(baseline), "--policy", str(policy), "--out", str(out), *extra)
        verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").exists() else None
        summary = (out / "summary.md").read_text() if (out / "summary.md").exists() else None
        return done, verdict, summary

    return run
