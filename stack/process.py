"""Start, stop and wait for a stack running in the background, in its own process group.

`start` returns only once `/health` answers, or fails with one line and leaves nothing running.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from stack.server import wait_for_http


class ProcessError(Exception):
    """One line for the terminal, prefixed `stack: ` by the CLI."""


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise ProcessError(f"cannot bind {host}:{port}: {exc.strerror}") from exc
    return False


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process of the group remains (zombies await a reaper, not us)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _terminate_group(pgid: int, grace_s: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.1)


def _last_lines(log_file: Path, count: int = 5) -> str:
    try:
        lines = [line.strip() for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-count:]) or "(empty log)"


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def start(
    host: str,
    port: int,
    log_file: Path,
    pid_file: Path,
    workers: int,
    timeout_s: float,
    serve_args: list[str],
) -> str:
    running = _read_pid(pid_file)
    if running is not None and _group_alive(running):
        raise ProcessError(f"already running with pid {running} (pid file {pid_file}); stop it first")
    if port_in_use(host, port):
        raise ProcessError(f"port {port} on {host} is already in use")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "stack",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *serve_args,
    ]
    with open(log_file, "ab") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file.write_text(f"{server.pid}\n")
    base_url = f"http://{host}:{port}"
    try:
        answered = wait_for_http(f"{base_url}/health", timeout_s, server)
    except BaseException:  # interrupted while waiting: leave nothing behind
        _terminate_group(server.pid, grace_s=5)
        pid_file.unlink(missing_ok=True)
        raise
    if answered:
        return base_url
    code = server.poll()
    _terminate_group(server.pid, grace_s=5)
    server.wait()
    pid_file.unlink(missing_ok=True)
    if code is not None:
        raise ProcessError(
            f"server exited with code {code} before answering /health; last log lines: "
            f"{_last_lines(log_file)}"
        )
    raise ProcessError(
        f"did not answer /health within {timeout_s:g} s; last log lines: {_last_lines(log_file)}"
    )


def stop(pid_file: Path, grace_s: float) -> str:
    pid = _read_pid(pid_file)
    if pid is None:
        return f"not running (no pid file {pid_file})"
    try:
        is_leader = os.getpgid(pid) == pid
    except ProcessLookupError:
        is_leader = False
    if is_leader:
        _terminate_group(pid, grace_s)
    pid_file.unlink(missing_ok=True)
    return f"stopped (pid {pid})" if is_leader else f"not running (stale pid {pid} removed)"


def wait(url: str, timeout_s: float) -> None:
    health = url.rstrip("/") + "/health"
    if not wait_for_http(health, timeout_s):
        raise ProcessError(f"{health} did not answer 200 within {timeout_s:g} s")
