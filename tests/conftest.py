"""Live reference stacks for the tests: `embedded_stack` (SQLite, in-process cache) and `pg_stack`
(a fresh PostgreSQL database and a private Redis key prefix), each started with
`python -m stack start` on a free loopback port and stopped, with everything it created, at the end.

Each stack has seeded accounts (`.accounts[role]`, password `.password`, all of them in
`.accounts_file` in the Locust suite's format) and signs tokens with a known `.jwt_secret`, so
tests can forge expired tokens. bcrypt runs at cost 4 here (the stack's
default stays 12) to keep logins cheap.
"""

from __future__ import annotations

import os

import pytest

from stack.sandbox import RunningStack, running_stack, service_storage, services_unavailable

TEST_POSTGRES = os.environ.get("VOICEASSIST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS = os.environ.get("VOICEASSIST_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory) -> RunningStack:
    with running_stack("embedded", tmp_path_factory.mktemp("embedded-stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def services_env() -> dict[str, str]:
    """Where PostgreSQL and Redis are; skips the test when either does not answer."""
    reason = services_unavailable(TEST_POSTGRES, TEST_REDIS)
    if reason:
        pytest.skip(reason)
    return {"postgres": TEST_POSTGRES, "redis": TEST_REDIS}


@pytest.fixture(scope="session")
def pg_stack(tmp_path_factory, services_env) -> RunningStack:
    with (
        service_storage("test", services_env["postgres"], services_env["redis"]) as storage,
        running_stack("pg", tmp_path_factory.mktemp("pg-stack"), storage) as stack,
    ):
        yield stack
