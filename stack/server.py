"""Running the API in the foreground: checks the storage, starts the upstream emulator, runs uvicorn."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import uvicorn

from stack.database import open_engine, prepare_schema
from stack.keystore import open_keystore
from stack.settings import Settings

# Seconds an idle keep-alive connection stays open: longer than any pause of the suite's users (15 s at
# most), as a load balancer's is (60-75 s). At uvicorn's default, 5 s, a client that reuses its connection
# just as the server closes it gets no reply; geventhttpclient retries only idempotent requests, so a
# POST after a ~5-s pause failed as "HTTP 0" (one logout in a spike run: reproduced with uvicorn and
# geventhttpclient alone, at 1 s, in a window of a fraction of a millisecond).
KEEP_ALIVE_S = 75


class StartupError(Exception):
    """A reason the stack cannot run, worded for one line on the terminal."""


async def check_storage(settings: Settings) -> None:
    """Reach the database and Redis and create the schema once, before any worker starts."""
    engine = open_engine(settings.database_url)
    try:
        await asyncio.wait_for(prepare_schema(engine), 30)
    except Exception as exc:
        target = settings.database_url.split("@")[-1]
        raise StartupError(
            f"database {target} is unreachable or unusable: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await engine.dispose()
    keystore = open_keystore(settings.redis_url, settings.redis_prefix)
    try:
        await asyncio.wait_for(keystore.ping(), 10)
    except Exception as exc:
        raise StartupError(f"redis {settings.redis_url} is unreachable: {type(exc).__name__}: {exc}") from exc
    finally:
        await keystore.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def start_emulator(host: str = "127.0.0.1", model_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """The upstream model emulator as a child process (`model_args`: its latency-model options);
    its output joins ours (the stack's log)."""
    port = free_port(host)
    child = subprocess.Popen(
        [sys.executable, "-m", "stack", "upstream", "--host", host, "--port", str(port), *model_args],
        stdin=subprocess.DEVNULL,
    )
    if not wait_for_http(f"http://{host}:{port}/health", 20, child):
        child.kill()
        raise StartupError("the upstream model emulator did not start")
    return child, f"http://{host}:{port}/v1"


def serve(host: str, port: int, workers: int, with_emulator: bool, access_log: bool) -> int:
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a setting that cannot be read
        print(f"stack: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        asyncio.run(check_storage(settings))
    except StartupError as exc:
        print(f"stack: {exc}", file=sys.stderr, flush=True)
        return 1
    emulator = None
    if with_emulator and not settings.openai_base_url:
        try:
            emulator, os.environ["OPENAI_BASE_URL"] = start_emulator()
        except StartupError as exc:
            print(f"stack: {exc}", file=sys.stderr, flush=True)
            return 1
    metrics_dir = None
    if workers > 1:
        # Each worker writes its metric samples here; /metrics merges them.
        metrics_dir = settings.data_dir / f"prometheus-{os.getpid()}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    mode = "postgresql+redis" if settings.uses_services else "embedded (sqlite + in-process)"
    print(
        f"stack: serving http://{host}:{port} ({mode}, {workers} worker(s), data {settings.data_dir}, "
        f"upstream {os.environ.get('OPENAI_BASE_URL', 'none')})",
        flush=True,
    )
    try:
        uvicorn.run(
            "stack.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,  # the stack reads X-Forwarded-For itself, from loopback peers only
            access_log=access_log,
            log_level="info",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    finally:
        if emulator is not None:
            emulator.terminate()
            try:
                emulator.wait(5)
            except subprocess.TimeoutExpired:
                emulator.kill()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
