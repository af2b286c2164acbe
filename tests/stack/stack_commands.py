"""Running `python -m stack ...` as a CI job does, in a subprocess with its own environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stack.sandbox import FOREIGN_SETTINGS, stack_command
from stack.server import free_port

__all__ = ["embedded_env", "free_port", "processes_mentioning", "run_stack", "start_stack"]


def run_stack(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return stack_command(*args, env=dict(os.environ) if env is None else env, timeout=timeout)


def start_stack(workdir: Path, port: int, env: dict, *options: str) -> subprocess.CompletedProcess:
    """`python -m stack start` on 127.0.0.1:port, with its log and pid files in `workdir`."""
    return run_stack(
        "start",
        "--port",
        str(port),
        "--log-file",
        str(workdir / "log"),
        "--pid-file",
        str(workdir / "pid"),
        *options,
        env=env,
    )


def embedded_env(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
    env.update(VOICEASSIST_DATA_DIR=str(data_dir), VOICEASSIST_BCRYPT_ROUNDS="4", **extra)
    return env


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes containing `marker` (how a test proves nothing was left running)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and "pytest" not in text:
            found.append(text)
    return found
