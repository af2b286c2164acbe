"""The code is linted as part of `make test`: ruff over every Python file of the bundle."""

import subprocess
import sys

from scripts import layout


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=layout.BUNDLE,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
