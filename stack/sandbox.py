"""Throwaway stacks for tests and the bench: a fresh data dir, or a fresh PostgreSQL database and
Redis key prefix, started through the real CLI and removed with everything they created.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stack.server import free_port

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Variables of the caller's environment that would point a sandbox at someone else's storage.
FOREIGN_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "OPENAI_BASE_URL",
    "VOICEASSIST_DATA_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
)


class SandboxError(Exception):
    pass


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
    accounts_file: Path  # the seeded accounts, as `users seed --output` writes them (the suite reads it)
    accounts: dict[str, dict] = field(default_factory=dict)  # role → first seeded account of that role
    all_accounts: list[dict] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url[len("http") :]


def stack_command(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _postgres(server_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(server_url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def services_unavailable(postgres_url: str = DEFAULT_POSTGRES, redis_url: str = DEFAULT_REDIS) -> str | None:
    """Why PostgreSQL or Redis cannot host a sandbox, or None when both answer."""
    import redis

    try:
        asyncio.run(_postgres(postgres_url, "SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        return f"PostgreSQL at {postgres_url} does not answer: {type(exc).__name__}: {exc}"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} does not answer: {exc}"
    return None


@contextmanager
def service_storage(
    label: str, postgres_url: str = DEFAULT_POSTGRES, redis_url: str = DEFAULT_REDIS
) -> Iterator[dict[str, str]]:
    """A uniquely named database and Redis prefix; yields the environment that selects them."""
    import redis

    suffix = secrets.token_hex(6)
    database = f"voiceassist_{label}_{suffix}"
    prefix = f"voiceassist-{label}-{suffix}:"
    server_url = postgres_url.rsplit("/", 1)[0]
    asyncio.run(_postgres(postgres_url, f'CREATE DATABASE "{database}"'))
    try:
        yield {
            "DATABASE_URL": f"{server_url}/{database}",
            "REDIS_URL": redis_url,
            "VOICEASSIST_REDIS_PREFIX": prefix,
        }
    finally:
        asyncio.run(_postgres(postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        client = redis.Redis.from_url(redis_url)
        doomed = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(doomed), 500):
            client.delete(*doomed[start : start + 500])
        client.close()


@contextmanager
def running_stack(
    mode: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    seed: dict[str, int] | None = None,
    workers: int = 1,
    bcrypt_rounds: int | None = 4,
) -> Iterator[RunningStack]:
    """A stack started with `python -m stack start` on a free loopback port, seeded with accounts.

    bcrypt defaults to cost 4 here (the stack's own default stays 12); pass None for the real cost.
    """
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
    jwt_secret = secrets.token_hex(32)
    env.update(
        VOICEASSIST_DATA_DIR=str(workdir / "data"), VOICEASSIST_JWT_SECRET=jwt_secret, **(extra_env or {})
    )
    if bcrypt_rounds is not None:
        env["VOICEASSIST_BCRYPT_ROUNDS"] = str(bcrypt_rounds)
    password = "Sandbox-" + secrets.token_hex(6)
    accounts_file = workdir / "accounts.json"
    counts = seed or {"regular": 2, "power": 1, "viewer": 1, "admin": 1}
    seeded = stack_command(
        "users",
        "seed",
        "--prefix",
        f"sb{mode}",
        "--password",
        password,
        "--output",
        str(accounts_file),
        *[
            arg
            for kind, count in {"regular": 0, "power": 0, "admin": 0, **counts}.items()
            for arg in (f"--{kind}", str(count))
        ],
        env=env,
    )
    if seeded.returncode != 0:
        raise SandboxError(f"seeding accounts failed: {seeded.stderr.strip()}")
    all_accounts = json.loads(accounts_file.read_text())["accounts"]
    accounts: dict[str, dict] = {}
    for account in all_accounts:
        accounts.setdefault(account["role"], account)

    log_file, pid_file = workdir / "stack.log", workdir / "stack.pid"
    for _ in range(3):  # another process may take the free port between the probe and the bind
        started = stack_command(
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--workers",
            str(workers),
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
    if started.returncode != 0:
        raise SandboxError(f"the stack did not start: {started.stderr.strip()}")
    stack = RunningStack(
        mode=mode,
        base_url=started.stdout.strip(),
        data_dir=workdir / "data",
        log_file=log_file,
        pid_file=pid_file,
        env=env,
        jwt_secret=jwt_secret,
        password=password,
        accounts_file=accounts_file,
        accounts=accounts,
        all_accounts=all_accounts,
    )
    try:
        yield stack
    finally:
        stack_command("stop", "--pid-file", str(pid_file), env=env)
