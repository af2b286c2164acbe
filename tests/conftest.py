"""Live reference stacks for the tests: `embedded_stack` (SQLite, in-process cache) and `pg_stack`
(a fresh PostgreSQL database and a private Redis key prefix), each started with
`python -m stack start` on a free loopback port and stopped, with everything it created, at the end.

Each stack has seeded accounts (`.accounts[role]`, password `.password`) and signs tokens with a
known `.jwt_secret`, so tests can forge expired tokens. bcrypt runs at cost 4 here (the stack's
default stays 12) to keep logins cheap.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parent.parent
TEST_POSTGRES = os.environ.get("VOICEASSIST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS = os.environ.get("VOICEASSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")
SEEDED = {"regular": 2, "power": 1, "viewer": 1, "admin": 1}


@dataclass
class RunningStack:
    mode: str  # "embedded" or "pg"
    base_url: str
    data_dir: Path
    log_file: Path
    pid_file: Path
    env: dict[str, str]
    jwt_secret: str
    password: str
    accounts: dict[str, dict] = field(default_factory=dict)  # role → first seeded account of it

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[len("http") :]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stack_command(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        env=env,
        cwd=BUNDLE,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _launch(mode: str, workdir: Path, extra_env: dict[str, str]) -> RunningStack:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL")}
    jwt_secret = secrets.token_hex(16)
    env.update(
        VOICEASSIST_DATA_DIR=str(workdir / "data"),
        VOICEASSIST_BCRYPT_ROUNDS="4",
        VOICEASSIST_JWT_SECRET=jwt_secret,
        **extra_env,
    )
    password = "Stack-Test-" + secrets.token_hex(4)
    accounts_file = workdir / "accounts.json"
    seeded = _stack_command(
        "users",
        "seed",
        "--prefix",
        f"t{mode}",
        "--password",
        password,
        "--output",
        str(accounts_file),
        *[arg for kind, count in SEEDED.items() for arg in (f"--{kind}", str(count))],
        env=env,
    )
    assert seeded.returncode == 0, seeded.stderr
    accounts: dict[str, dict] = {}
    for account in json.loads(accounts_file.read_text())["accounts"]:
        accounts.setdefault(account["role"], account)

    log_file, pid_file = workdir / "stack.log", workdir / "stack.pid"
    for _ in range(3):  # another process may take the free port between probe and bind
        port = _free_port()
        started = _stack_command(
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-file",
            str(log_file),
            "--pid-file",
            str(pid_file),
            "--timeout",
            "60",
            env=env,
        )
        if started.returncode == 0 or "already in use" not in started.stderr:
            break
    assert started.returncode == 0, f"stack did not start: {started.stderr.strip()}"
    return RunningStack(
        mode,
        started.stdout.strip(),
        workdir / "data",
        log_file,
        pid_file,
        env,
        jwt_secret,
        password,
        accounts,
    )


def _stop(stack: RunningStack) -> None:
    _stack_command("stop", "--pid-file", str(stack.pid_file), env=stack.env)


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory) -> RunningStack:
    stack = _launch("embedded", tmp_path_factory.mktemp("embedded-stack"), {})
    yield stack
    _stop(stack)


async def _postgres(statement: str, database_url: str = TEST_POSTGRES) -> None:
    import asyncpg

    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _services_or_skip():
    import redis

    try:
        asyncio.run(_postgres("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL for this run
        pytest.skip(f"PostgreSQL at {TEST_POSTGRES} does not answer: {type(exc).__name__}: {exc}")
    client = redis.Redis.from_url(TEST_REDIS, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {TEST_REDIS} does not answer: {exc}")
    return client


@pytest.fixture(scope="session")
def pg_stack(tmp_path_factory) -> RunningStack:
    redis_client = _services_or_skip()
    suffix = secrets.token_hex(6)
    database = f"voiceassist_test_{suffix}"
    prefix = f"voiceassist-test-{suffix}:"
    asyncio.run(_postgres(f'CREATE DATABASE "{database}"'))
    server_url = TEST_POSTGRES.rsplit("/", 1)[0]
    stack = None
    try:
        stack = _launch(
            "pg",
            tmp_path_factory.mktemp("pg-stack"),
            {
                "DATABASE_URL": f"{server_url}/{database}",
                "REDIS_URL": TEST_REDIS,
                "VOICEASSIST_REDIS_PREFIX": prefix,
            },
        )
        yield stack
    finally:
        if stack is not None:
            _stop(stack)
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        doomed = list(redis_client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(doomed), 500):
            redis_client.delete(*doomed[start : start + 500])
        redis_client.close()
