"""Running `python -m stack ...` as a CI job does, in a subprocess with its own environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

BUNDLE = Path(__file__).resolve().parents[2]


def run_stack(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=BUNDLE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def embedded_env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL")}
    env.update(VOICEASSIST_DATA_DIR=str(data_dir), VOICEASSIST_BCRYPT_ROUNDS="4", **extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_mentioning(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and "pytest" not in text:
            found.append(text)
    return found
